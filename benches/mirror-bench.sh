#!/usr/bin/env bash
# The mirroring benchmark (issue 12): 500 small packages with dependencies, over several
# origins, mirrored between two real `hab-depot` processes on 127.0.0.1 by `hab-depot sync`,
# against the same set moved the stock way (`hab pkg download` one artifact at a time,
# `hab pkg bulkupload`, `hab pkg promote` of each member) in the same run, best of 3 rounds,
# interleaved; then a re-run of the sync with nothing new. Targets: the sync at most a quarter
# of the stock sequence's time, the re-run under one second. Prints a table with PASS/MISS.
#
# Usage: benches/mirror-bench.sh [mirror-bench options]     (from anywhere; --help lists them)
# Environment:
#   SKIP_BUILD=1    do not run cargo build
#   HAB_DEPOT=...   the server binary (default: target/release/hab-depot, built by this script)
#   HAB=...         the client binary (default: target/release/hab, built by this script)
#
# The set is made once (about a minute) and cached under benches/data/. The machine is shared:
# the load average is printed before and after, and the benchmark waits up to a minute for a
# 1-minute load of at most 1.5 before measuring (--max-load, --max-wait-secs).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/run-with-hab.sh"
run_with_hab mirror-bench "$@"
