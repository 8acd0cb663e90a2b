#!/usr/bin/env bash
# The TUF benchmark (issue 13): a depot of 100,000 packages on the embedded store, a real
# `hab-depot` and `hab` on 127.0.0.1. Measures promote time before and after `hab-depot tuf
# init` (goal: at most 1.5x), the metadata bytes `hab` downloads for a first and a later
# install (goal: the later one under 64 KiB), and `hab pkg install` time with verification
# against without. Prints a table with PASS/MISS.
#
# Usage: benches/tuf-bench.sh [tuf-bench options]     (from anywhere; --help lists them)
# Environment:
#   SKIP_BUILD=1    do not run cargo build
#   HAB_DEPOT=...   the server binary (default: target/release/hab-depot, built by this script)
#   HAB=...         the client binary (default: target/release/hab, built by this script)
#
# The scratch directory (under benches/data/, about 0.5 GB with the catalog) is removed at the
# end unless --keep is given. The load average is printed before each phase; the benchmark
# waits up to two minutes for a 1-minute load of at most 1.5 (--max-load, --max-wait-secs).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}

if [[ -z ${SKIP_BUILD:-} ]]; then
    echo "== building release binaries" >&2
    (cd "$root" && cargo build --release --locked -p habitat-bins -p habitat-benches --bin hab \
        --bin hab-depot --bin tuf-bench) >&2
fi
HAB_DEPOT=${HAB_DEPOT:-$target/release/hab-depot}
HAB=${HAB:-$target/release/hab}
BENCH=$target/release/tuf-bench
for bin in "$HAB_DEPOT" "$HAB" "$BENCH"; do
    [[ -x $bin ]] || { echo "error: no binary at $bin" >&2; exit 1; }
done

data=$root/benches/data
mkdir -p "$data"
echo "== machine: $(nproc) CPUs; load before:$(uptime | sed 's/.*load average:/ /')"
"$BENCH" --hab-depot "$HAB_DEPOT" --hab "$HAB" --data-dir "$data" "$@"
echo "== load after:$(uptime | sed 's/.*load average:/ /')"
