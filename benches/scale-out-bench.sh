#!/usr/bin/env bash
# The depot benchmark on both configurations: the embedded default (SQLite + files) and the
# scale-out one (PostgreSQL + an S3-compatible store), printed side by side.
#
# Starts a private PostgreSQL (Debian's postgresql package, or HAB_TEST_PG_BINDIR; as the
# `postgres` user when run as root) and s3s-fs (installed by .ci/s3-server) on 127.0.0.1, both
# removed at the end. The scale-out run uses a fresh database and bucket for the transfer and
# another pair for the `latest` lookups. Both servers run on this machine, so the scale-out
# numbers include their CPU use: they compare the code paths, not a real network deployment.
#
# Usage: benches/scale-out-bench.sh [depot-bench options, for both runs]
# Environment:
#   SIZE_MIB=256    artifact size (smaller than depot-bench.sh's 1 GiB: s3s-fs on the same two
#                   cores makes a 1 GiB round trip slow; set SIZE_MIB=1024 for the full size)
#   SKIP_BUILD=1    do not run cargo build
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
SIZE_MIB=${SIZE_MIB:-256}

if [[ -z ${SKIP_BUILD:-} ]]; then
    echo "== building release binaries" >&2
    (cd "$root" && cargo build --release --locked -p habitat-bins -p habitat-benches) >&2
fi
HAB_DEPOT=$root/target/release/hab-depot
BENCH=$root/target/release/depot-bench

bindir=${HAB_TEST_PG_BINDIR:-}
if [[ -z $bindir ]]; then
    bindir=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
fi
[[ -x $bindir/initdb ]] || { echo "error: PostgreSQL not found (install postgresql or set HAB_TEST_PG_BINDIR)" >&2; exit 1; }
s3s=${HAB_TEST_S3_SERVER:-$(command -v s3s-fs || echo "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs")}
[[ -x $s3s ]] || { echo "error: s3s-fs not found (run .ci/s3-server)" >&2; exit 1; }

data=$root/benches/data
mkdir -p "$data"
work=$(mktemp -d "$data/scale-out.XXXXXX")
# PostgreSQL's own directory: somewhere its (unprivileged, when run as root) user can reach.
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/hab-scale-pg.XXXXXX")
pg_pid= s3_pid=
cleanup() {
    set +e
    # s3s-fs waits for idle keep-alive connections on SIGTERM; its data is scratch.
    [[ -n $s3_pid ]] && kill -KILL "$s3_pid" 2>/dev/null && wait "$s3_pid" 2>/dev/null
    # The postmaster itself (runuser does not pass SIGINT on), then its wrapper.
    if [[ -f $pgdir/data/postmaster.pid ]]; then
        kill -INT "$(head -1 "$pgdir/data/postmaster.pid")" 2>/dev/null || true
    fi
    [[ -n $pg_pid ]] && wait "$pg_pid" 2>/dev/null
    rm -rf "$work" "$pgdir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# PostgreSQL, fsync on (as in production) but on this machine's disk.
as_pg=()
if [[ $(id -u) == 0 ]]; then
    chown postgres: "$pgdir" 2>/dev/null || chown nobody: "$pgdir"
    as_pg=(runuser -u "$(stat -c %U "$pgdir")" --)
fi
"${as_pg[@]}" "$bindir/initdb" -D "$pgdir/data" -U hab -A trust -E UTF8 --no-locale >/dev/null
pg_port=$(free_port)
"${as_pg[@]}" "$bindir/postgres" -D "$pgdir/data" -k "$pgdir" -h 127.0.0.1 -p "$pg_port" \
    -c max_connections=200 >"$pgdir/log" 2>&1 &
pg_pid=$!
for _ in $(seq 600); do grep -q "ready to accept connections" "$pgdir/log" && break; sleep 0.1; done
for db in transfer latest; do
    "$bindir/createdb" -h 127.0.0.1 -p "$pg_port" -U hab -E UTF8 -T template0 "$db"
done

# s3s-fs: buckets are directories of its root.
s3_port=$(free_port)
mkdir -p "$work/s3/transfer" "$work/s3/latest"
"$s3s" --host 127.0.0.1 --port "$s3_port" --access-key bench --secret-key bench-secret \
    "$work/s3" >"$work/s3.log" 2>&1 &
s3_pid=$!
for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null && break; sleep 0.1; done

echo bench-secret >"$work/s3-secret"
"$HAB_DEPOT" server-key create --to "$work/server.key" 2>/dev/null
for name in transfer latest; do
    cat >"$work/$name.toml" <<EOF
server_key_file = "$work/server.key"

[metadata]
url = "postgres://hab@127.0.0.1:$pg_port/$name"

[artifacts]
url = "s3://$name/depot"
endpoint = "http://127.0.0.1:$s3_port"
access_key_id = "bench"
secret_access_key_file = "$work/s3-secret"
EOF
done

run() { # LABEL ARGS...
    local label=$1
    shift
    echo "== $label" >&2
    "$BENCH" --hab-depot "$HAB_DEPOT" --data-dir "$data" --size-mib "$SIZE_MIB" "$@" \
        >"$work/$label.out" 2>"$work/$label.err" || {
        cat "$work/$label.err" >&2
        echo "($label: some targets missed or the run failed; its report follows)" >&2
    }
    cat "$work/$label.out" >&2
}
run embedded "$@"
run scale-transfer --config "$work/transfer.toml" --skip-latest "$@"
run scale-latest --config "$work/latest.toml" --skip-transfer "$@"

echo
echo "== side by side (artifact: $SIZE_MIB MiB; embedded = SQLite + files, scale-out = PostgreSQL + s3s-fs)"
# The report's rows: the measure in columns 1-52, the value in 53-71.
rows() { sed -n '/^measure /,$p' "$@" | tail -n +2 | awk '{ l = substr($0, 1, 52); v = substr($0, 53, 19); gsub(/^ +| +$/, "", l); gsub(/^ +| +$/, "", v); if (l != "") print l "\t" v }'; }
rows "$work/embedded.out" >"$work/embedded.rows"
{ rows "$work/scale-transfer.out"; rows "$work/scale-latest.out"; } >"$work/scale.rows"
printf '%-52s %18s %18s\n' "measure" "embedded" "scale-out"
awk -F'\t' 'NR == FNR { scale[$1] = $2; next } { printf "%-52s %18s %18s\n", $1, $2, ($1 in scale ? scale[$1] : "-") }' \
    "$work/scale.rows" "$work/embedded.rows"
