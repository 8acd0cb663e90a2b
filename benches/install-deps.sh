#!/usr/bin/env bash
# Install of a package with 100 dependencies from a local depot (issue 4): times
# `hab pkg install` with parallel downloads (the default, 8 at once) against one at a time
# (HAB_DOWNLOAD_CONCURRENCY=1), each into an empty FS_ROOT with an empty key cache, best of
# RUNS, and prints both with their ratio (target: at most 0.5); then the same with
# `hab pkg download` (fetching only, no verifying or unpacking). Each is measured over
# loopback and through latency-proxy, which delays every byte by some milliseconds each way,
# as a depot on a network would (bandwidth is not limited).
#
# Usage: benches/install-deps.sh
# Environment:
#   DEPS=100        dependencies of the installed package
#   DEP_KIB=512     size of each dependency's payload (random, so it does not compress)
#   RUNS=3          runs of each mode; the best counts
#   LATENCIES_MS="0 5"  one-way delays to measure with (0: straight over loopback)
#   SKIP_BUILD=1    do not run cargo build
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
DEPS=${DEPS:-100}
DEP_KIB=${DEP_KIB:-512}
RUNS=${RUNS:-3}
LATENCIES_MS=${LATENCIES_MS:-0 5}

if [[ -z ${SKIP_BUILD:-} ]]; then
    echo "== building release binaries" >&2
    (cd "$root" && cargo build --release --locked -p habitat-bins -p habitat-benches --bin hab \
        --bin hab-depot --bin latency-proxy) >&2
fi
HAB=$root/target/release/hab
HAB_DEPOT=$root/target/release/hab-depot
PROXY=$root/target/release/latency-proxy

work=$(mktemp -d)
depot_pid=
proxies=()
cleanup() {
    for pid in "${proxies[@]}" $depot_pid; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# The author's machine: a key, the packages packed and installed locally (pack resolves
# --dep against installed packages).
export HOME=$work/home FS_ROOT=$work/author HAB_CACHE_KEY_PATH=$work/author-keys
mkdir -p "$HOME" "$work/harts"
"$HAB" origin key generate bench 2>/dev/null
echo "== packing $DEPS dependencies of $DEP_KIB KiB and the package that needs them" >&2
deps=()
for i in $(seq -w 1 "$DEPS"); do
    src=$work/src/dep$i
    mkdir -p "$src/bin"
    head -c $((DEP_KIB * 1024)) /dev/urandom >"$src/bin/data"
    "$HAB" pkg pack "$src" --ident "bench/dep$i/1.0.0/20260101000000" -o "$work/harts" >/dev/null 2>&1
    deps+=(--dep "bench/dep$i")
done
"$HAB" pkg install "$work"/harts/*.hart >/dev/null 2>&1
mkdir -p "$work/src/app/bin"
echo app >"$work/src/app/bin/app"
"$HAB" pkg pack "$work/src/app" --ident bench/app/1.0.0/20260101000000 "${deps[@]}" \
    -o "$work/app" >/dev/null 2>&1
# Upload finds the dependencies it lacks beside the package.
mv "$work"/app/*.hart "$work/harts/"

# The depot, with the origin, its key and all the packages.
"$HAB_DEPOT" user create bench --data-dir "$work/depot" >"$work/token"
export HAB_AUTH_TOKEN
HAB_AUTH_TOKEN=$(cat "$work/token")
port_file=$work/port
"$HAB_DEPOT" start --listen 127.0.0.1:0 --data-dir "$work/depot" >/dev/null 2>"$work/depot.log" &
depot_pid=$!
for _ in $(seq 100); do
    port=$(grep -o 'listening on http://[0-9.:]*' "$work/depot.log" | head -1 | sed 's/.*://') || true
    [[ -n ${port:-} ]] && break
    sleep 0.1
done
[[ -n ${port:-} ]] || { echo "error: the depot did not start:" >&2; cat "$work/depot.log" >&2; exit 1; }
export HAB_BLDR_URL=http://127.0.0.1:$port
"$HAB" origin create bench 2>/dev/null
"$HAB" origin key upload bench 2>/dev/null
"$HAB" pkg upload "$work"/harts/bench-app-*.hart -c stable >/dev/null 2>&1

# One install into an empty machine; prints the seconds it took.
install_once() {
    local concurrency=$1 dir
    dir=$(mktemp -d "$work/machine.XXXX")
    local start end
    start=$(date +%s.%N)
    HAB_DOWNLOAD_CONCURRENCY=$concurrency FS_ROOT=$dir/root HAB_CACHE_KEY_PATH=$dir/keys \
        "$HAB" pkg install bench/app 2>"$dir/log" || { cat "$dir/log" >&2; exit 1; }
    end=$(date +%s.%N)
    local installed
    installed=$(FS_ROOT=$dir/root "$HAB" pkg list | wc -l)
    [[ $installed == $((DEPS + 1)) ]] || { echo "error: $installed packages installed" >&2; exit 1; }
    rm -rf "$dir"
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

# One download of the same closure into an empty directory (no install); prints the seconds.
download_once() {
    local concurrency=$1 dir
    dir=$(mktemp -d "$work/machine.XXXX")
    local start end
    start=$(date +%s.%N)
    HAB_DOWNLOAD_CONCURRENCY=$concurrency FS_ROOT=$dir/root HAB_CACHE_KEY_PATH=$dir/keys \
        "$HAB" pkg download bench/app --download-directory "$dir/artifacts" >/dev/null \
        2>"$dir/log" || { cat "$dir/log" >&2; exit 1; }
    end=$(date +%s.%N)
    rm -rf "$dir"
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

best() {
    local what=$1 concurrency=$2 best= t
    for _ in $(seq "$RUNS"); do
        t=$("$what" "$concurrency")
        if [[ -z $best ]] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$t; fi
    done
    echo "$best"
}

echo "== machine: $(nproc) CPUs; load:$(uptime | sed 's/.*load average:/ /')"
depot_url=$HAB_BLDR_URL
printf '%-34s %10s %10s %7s\n' "hab pkg install, $DEPS deps of $DEP_KIB KiB" "1 at once" "8 at once" ratio
for latency in $LATENCIES_MS; do
    if ((latency == 0)); then
        label="loopback"
        export HAB_BLDR_URL=$depot_url
    else
        label="$latency ms each way"
        "$PROXY" "127.0.0.1:$port" "$latency" >"$work/proxy-$latency" &
        proxies+=($!)
        for _ in $(seq 50); do
            proxy_addr=$(sed -n 's/^listening on //p' "$work/proxy-$latency")
            [[ -n $proxy_addr ]] && break
            sleep 0.1
        done
        export HAB_BLDR_URL=http://$proxy_addr
    fi
    sequential=$(best install_once 1)
    parallel=$(best install_once 8)
    ratio=$(awk -v p="$parallel" -v s="$sequential" 'BEGIN { printf "%.2f", p / s }')
    verdict=MISS
    awk -v r="$ratio" 'BEGIN { exit !(r <= 0.5) }' && verdict=PASS
    printf '%-34s %10.2f %10.2f %7s   %s (target <= 0.50)\n' \
        "install, $label" "$sequential" "$parallel" "$ratio" "$verdict"
    sequential=$(best download_once 1)
    parallel=$(best download_once 8)
    ratio=$(awk -v p="$parallel" -v s="$sequential" 'BEGIN { printf "%.2f", p / s }')
    printf '%-34s %10.2f %10.2f %7s\n' "download only, $label" "$sequential" "$parallel" "$ratio"
done
