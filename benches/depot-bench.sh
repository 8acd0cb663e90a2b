#!/usr/bin/env bash
# The depot benchmark (issue): uploads and downloads a 1 GiB artifact over loopback, printing
# the throughput and the server's peak RSS (target: below 100 MiB whatever the artifact size),
# and measures `latest` lookups per second with 100,000 packages stored against `/v1/status` at
# the same concurrency (target: at least half). Prints a table with PASS/MISS.
#
# Usage: benches/depot-bench.sh [depot-bench options]      (from anywhere; --help lists them)
# Environment:
#   SIZE_MIB=1024   artifact size (the artifact is made once and cached under benches/data/)
#   SKIP_BUILD=1    do not run cargo build
#   HAB_DEPOT=...   the server binary (default: target/release/hab-depot, built by this script)
#
# The benchmark waits (up to 10 minutes) for a 1-minute load average of at most 1.5 before it
# measures (--max-load, --max-wait-secs), and prints the load with the numbers either way.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
SIZE_MIB=${SIZE_MIB:-1024}
# Fuzzers share this 2-core machine; their load is reported with the numbers.
fuzzer_pattern='fuzz/target|fuzz/artifacts|libfuzzer|cargo-fuzz|cargo fuzz|-max_total_time='

if [[ -z ${SKIP_BUILD:-} ]]; then
    echo "== building release binaries" >&2
    (cd "$root" && cargo build --release --locked -p habitat-bins -p habitat-benches) >&2
fi
HAB_DEPOT=${HAB_DEPOT:-$root/target/release/hab-depot}
BENCH=$root/target/release/depot-bench
[[ -x $HAB_DEPOT ]] || { echo "error: no hab-depot binary at $HAB_DEPOT" >&2; exit 1; }
[[ -x $BENCH ]] || { echo "error: no depot-bench binary at $BENCH" >&2; exit 1; }

# Space: the cached artifact (made via a payload file of the same size), the server's copy,
# and the upload's temp file, which the server moves into place.
data=$root/benches/data
mkdir -p "$data"
need_mib=$((SIZE_MIB * 3 + 512))
free_mib=$(df -Pm "$data" | awk 'NR == 2 { print $4 }')
if ((free_mib < need_mib)); then
    echo "error: $data has $free_mib MiB free; the benchmark needs about $need_mib MiB" >&2
    exit 1
fi

fuzzers=$(pgrep -f "$fuzzer_pattern" | wc -l || true)
echo "== machine: $(nproc) CPUs; load before:$(uptime | sed 's/.*load average:/ /'); fuzzer processes: $fuzzers"
"$BENCH" --hab-depot "$HAB_DEPOT" --data-dir "$data" --size-mib "$SIZE_MIB" "$@"
fuzzers=$(pgrep -f "$fuzzer_pattern" | wc -l || true)
echo "== load after:$(uptime | sed 's/.*load average:/ /'); fuzzer processes: $fuzzers"
