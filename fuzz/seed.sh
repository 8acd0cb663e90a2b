#!/usr/bin/env bash
# Builds seed corpora for the fuzz targets under fuzz/corpus/<target>/ (gitignored), from the
# real Habitat fixtures and from small packages made here with GNU tar. Idempotent.
#
#   fuzz/seed.sh                       # fixtures from ../shared/fixtures/habitat
#   HABITAT_FIXTURES=/path fuzz/seed.sh
#   cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run safe_install -- -max_total_time=240
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
fixtures=${HABITAT_FIXTURES:-$here/../../shared/fixtures/habitat}
corpus=$here/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for target in ident version_order key_file hart_header archive_metadata safe_install; do
    mkdir -p "$corpus/$target"
done

# ident: one ident, or two separated by a newline.
seed() { printf '%b' "$2" >"$corpus/$1/$3"; }
seed ident 'core/redis/4.0.14/20190319155852' fq
seed ident 'core/redis' partial
seed ident '0xdeadbeef/foo_bar/1.0-rc1+build.5' version
seed ident 'core/redis/1.2/20160427165340\ncore/redis/1.2.0/20160427165340' pair
seed ident 'stable' channel

# version_order: up to three versions separated by NUL.
seed version_order '1.10\0001.9\0001.2.0' numbers
seed version_order '1.2.3\0001.2.3-rc1\0001.2.3-rc10' extensions
seed version_order 'v1.2\0001.2\0001.2.' prefix_and_unparsed
seed version_order '1.2.3+build5\0001.2.3~beta\00018446744073709551616' quirks
seed version_order 'master\0001..2\00020150521131347' fallback

# key_file and hart_header: the real files.
if [[ -d $fixtures ]]; then
    for key in "$fixtures"/*.pub "$fixtures"/*.sig.key; do
        install -m 644 "$key" "$corpus/key_file/$(basename "$key")"
    done
    for hart in "$fixtures"/*.hart; do
        head -c 1024 "$hart" >"$corpus/hart_header/$(basename "$hart")"
    done
    # The payload of the real artifact: everything after its five header lines.
    possums=$fixtures/happyhumans-possums-8.1.4-20160427165340-x86_64-linux.hart
    offset=$(($(head -n 5 "$possums" | wc -c) + 1))
    tail -c +"$offset" "$possums" | xz -dc >"$work/possums.tar"
    cp "$work/possums.tar" "$corpus/archive_metadata/possums.tar"
    cp "$work/possums.tar" "$corpus/safe_install/possums.tar"
else
    echo "seed.sh: no fixtures at $fixtures; skipping the real files" >&2
fi

# Small packages exercising parent entries, links, modes and the tar flavours.
release=fuzz/pkg/1.0.0/20200101000000
pkg=$work/tree/hab/pkgs/$release
mkdir -p "$pkg/bin" "$pkg/lib" "$pkg/hooks"
printf '%s\n' "$release" >"$pkg/IDENT"
printf 'x86_64-linux\n' >"$pkg/TARGET"
printf 'core/glibc/2.22/20160612063629\n' | tee "$pkg/DEPS" >"$pkg/TDEPS"
printf '80 443\n' >"$pkg/EXPOSES"
printf 'hab\n' >"$pkg/SVC_USER"
printf 'port = 80\n' >"$pkg/default.toml"
printf 'PATH=/bin\n' >"$pkg/RUNTIME_ENVIRONMENT"
printf '#!/bin/sh\necho hi\n' >"$pkg/bin/hello"
chmod 755 "$pkg/bin/hello"
printf '#!/bin/sh\nexec hello\n' >"$pkg/hooks/run"
ln -s ../bin/hello "$pkg/lib/hello-link"
ln -s lib/hello-link "$pkg/entry"
ln -s "/hab/pkgs/$release/bin/hello" "$pkg/lib/absolute-own-link"
touch "$pkg/lib/a-file-whose-name-is-long-enough-to-need-a-gnu-longname-or-a-pax-path-header-0123456789"

make_tar() { # name, extra tar options...
    local name=$1
    shift
    tar -C "$work/tree" -b 1 --owner=0 --group=0 --sort=name --mtime=@1577836800 "$@" \
        -cf "$work/$name.tar" hab
    cp "$work/$name.tar" "$corpus/archive_metadata/$name.tar"
    cp "$work/$name.tar" "$corpus/safe_install/$name.tar"
}
make_tar gnu --format=gnu
make_tar pax --format=pax
make_tar ustar-no-dirs --format=ustar --no-recursion \
    "hab/pkgs/$release/IDENT" "hab/pkgs/$release/TARGET" "hab/pkgs/$release/bin/hello" \
    "hab/pkgs/$release/entry" "hab/pkgs/$release/lib/hello-link"
make_tar leading-slash --format=gnu --transform 's,^hab,/hab,' -P

echo "seeded $(find "$corpus" -type f | wc -l) inputs under $corpus"
