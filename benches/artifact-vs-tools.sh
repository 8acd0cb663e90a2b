#!/usr/bin/env bash
# Times `hab pkg verify` against `b2sum -l 256` and `hab pkg install` against
# `xz -dc payload | tar -x` on the same 256 MiB benchmark artifact, in one run, and prints the
# ratios. Target (issue): each ratio within 1.10.
#
# Usage: benches/artifact-vs-tools.sh            (from anywhere)
# Environment:
#   RUNS=3          runs per measurement; the best is compared, all are printed
#   SIZE_MIB=256    size of the generated package (a smaller one is handy for profiling)
#   SEED=1          seed of the generated package
#   HAB=...         the hab binary (default: target/release/hab, built by this script)
#   SKIP_BUILD=1    do not run cargo build
#
# The page cache cannot be dropped here, so every run is warm-cache instead: the artifact is
# read once (cat > /dev/null) and dirty pages are flushed (sync) before each timed run.
# Runs of the commands being compared are interleaved, so drift affects both alike.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
RUNS=${RUNS:-3}
SIZE_MIB=${SIZE_MIB:-256}
SEED=${SEED:-1}
TARGET_RATIO=1.10
# Fuzzers share this 2-core machine; their load is reported with the numbers.
fuzzer_pattern='fuzz/target|fuzz/artifacts|libfuzzer|cargo-fuzz|cargo fuzz|-max_total_time='

if [[ -z ${SKIP_BUILD:-} ]]; then
    echo "== building release binaries" >&2
    (cd "$root" && cargo build --release --locked -p habitat-bins -p habitat-benches) >&2
fi
HAB=${HAB:-$root/target/release/hab}
[[ -x $HAB ]] || { echo "error: no hab binary at $HAB" >&2; exit 1; }
for tool in b2sum xz tar; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done

echo "== making (or reusing) the ${SIZE_MIB} MiB artifact" >&2
hart=$("$root/target/release/make-artifact" --size-mib "$SIZE_MIB" --seed "$SEED")
keys=$(dirname "$hart")/keys
header_len=$(head -n 5 "$hart" | wc -c)

scratch=$(mktemp -d "$root/benches/data/run.XXXXXX")
cleanup() {
    chmod -R u+w "$scratch" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT

# The payload alone, once, to describe it (size, xz blocks); not used by any timed command.
tail -c +$((header_len + 1)) "$hart" >"$scratch/payload.xz"
payload_bytes=$(stat -c %s "$scratch/payload.xz")
blocks=$(xz --robot -l "$scratch/payload.xz" | awk -F'\t' '$1 == "totals" { print $3 }')
unpacked=$(xz --robot -l "$scratch/payload.xz" | awk -F'\t' '$1 == "totals" { print $5 }')
rm -f "$scratch/payload.xz"

warm() {
    cat "$hart" >/dev/null
    sync
}

# The commands. Each takes a fresh, empty directory (used by the install-like ones only).
hab_verify() { HAB_CACHE_KEY_PATH=$keys "$HAB" pkg verify "$hart"; }
b2sum_file() { b2sum -l 256 "$hart"; }
hab_install() { FS_ROOT=$1 HAB_CACHE_KEY_PATH=$keys "$HAB" pkg install "$hart"; }
xz_tar() { tail -c +$((header_len + 1)) "$hart" | xz -dc | tar -x -C "$1"; }
xz_mt_tar() { tail -c +$((header_len + 1)) "$hart" | xz -dc -T0 | tar -x -C "$1"; }

# time_run NAME: runs NAME once in a fresh directory, appends the seconds to times[NAME].
declare -A times
time_run() {
    local name=$1 dir start end
    dir=$(mktemp -d "$scratch/root.XXXXXX")
    warm
    start=$EPOCHREALTIME
    if ! "$name" "$dir" >"$scratch/out" 2>&1; then
        echo "error: $name failed:" >&2
        cat "$scratch/out" >&2
        exit 1
    fi
    end=$EPOCHREALTIME
    chmod -R u+w "$dir" 2>/dev/null || true
    rm -rf "$dir"
    times[$name]+="$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }') "
}

best() { tr ' ' '\n' <<<"${times[$1]}" | grep . | sort -n | head -1; }

fuzzers=$(pgrep -f "$fuzzer_pattern" | wc -l || true)
echo "== machine: $(nproc) CPUs; load before:$(uptime | sed 's/.*load average:/ /'); fuzzer processes: $fuzzers"
echo "== artifact: $hart"
echo "   file $(stat -c %s "$hart") B, header $header_len B, payload $payload_bytes B" \
    "in $blocks xz blocks, unpacked tar $unpacked B"

for ((i = 1; i <= RUNS; i++)); do
    echo "-- round $i/$RUNS" >&2
    for name in hab_verify b2sum_file hab_install xz_tar xz_mt_tar; do
        time_run "$name"
    done
done

printf '\n%-34s' "command (seconds, warm cache)"
for ((i = 1; i <= RUNS; i++)); do printf '%8s' "run$i"; done
printf '%8s\n' best
row() {
    local name=$1 label=$2
    printf '%-34s' "$label"
    for t in ${times[$name]}; do printf '%8s' "$t"; done
    printf '%8s\n' "$(best "$name")"
}
row hab_verify "hab pkg verify"
row b2sum_file "b2sum -l 256"
row hab_install "hab pkg install"
row xz_tar "xz -dc | tar -x"
row xz_mt_tar "xz -dc -T0 | tar -x (information)"

verdict() {
    awk -v a="$2" -v b="$3" -v t="$TARGET_RATIO" -v what="$1" 'BEGIN {
        r = a / b
        printf "%-44s %.2f  %s (target <= %.2f)\n", what, r, (r <= t ? "PASS" : "MISS"), t
    }'
}
echo
verdict "verify:  hab pkg verify / b2sum -l 256" "$(best hab_verify)" "$(best b2sum_file)"
verdict "install: hab pkg install / xz -dc | tar -x" "$(best hab_install)" "$(best xz_tar)"
verdict "(info) install / xz -dc -T0 | tar -x" "$(best hab_install)" "$(best xz_mt_tar)"
fuzzers=$(pgrep -f "$fuzzer_pattern" | wc -l || true)
echo "== load after:$(uptime | sed 's/.*load average:/ /'); fuzzer processes: $fuzzers"
