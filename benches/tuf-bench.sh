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

source "$(dirname "${BASH_SOURCE[0]}")/run-with-hab.sh"
run_with_hab tuf-bench "$@"
