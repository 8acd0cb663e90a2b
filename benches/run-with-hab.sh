# Sourced by the benchmarks that drive real `hab-depot` and `hab` processes (mirror-bench.sh,
# tuf-bench.sh): `run_with_hab BENCH ARGS...` builds the release binaries (unless SKIP_BUILD
# is set), checks them, prints the machine and its load, and runs target/release/BENCH with
# --hab-depot, --hab, --data-dir benches/data and ARGS. HAB_DEPOT and HAB name other binaries.
run_with_hab() {
    local bench=$1
    shift
    local root target
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    target=${CARGO_TARGET_DIR:-$root/target}
    if [[ -z ${SKIP_BUILD:-} ]]; then
        echo "== building release binaries" >&2
        (cd "$root" && cargo build --release --locked -p habitat-bins -p habitat-benches \
            --bin hab --bin hab-depot --bin "$bench") >&2
    fi
    local hab_depot=${HAB_DEPOT:-$target/release/hab-depot}
    local hab=${HAB:-$target/release/hab}
    local binary=$target/release/$bench
    for bin in "$hab_depot" "$hab" "$binary"; do
        [[ -x $bin ]] || { echo "error: no binary at $bin" >&2; return 1; }
    done
    local data=$root/benches/data
    mkdir -p "$data"
    echo "== machine: $(nproc) CPUs; load before:$(uptime | sed 's/.*load average:/ /')"
    "$binary" --hab-depot "$hab_depot" --hab "$hab" --data-dir "$data" "$@"
    echo "== load after:$(uptime | sed 's/.*load average:/ /')"
}
