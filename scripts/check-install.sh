#!/usr/bin/env bash
# Installs into a scratch DESTDIR and builds a one-file program against it with
# nothing but `pkg-config --cflags --libs shmring`, then runs it.
set -euo pipefail
make=${MAKE:-make}
dest=$(mktemp -d)
bin=$(mktemp -d)
trap 'rm -rf "$dest" "$bin"' EXIT
$make install DESTDIR="$dest" PREFIX=/usr/local >/dev/null
export PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH=$dest/usr/local/lib/pkgconfig
flags=$(pkg-config --cflags --libs shmring)
echo "pkg-config --cflags --libs shmring: $flags"
for ex in "$@"; do
	out=$bin/$(basename "$ex" .c)
	cc -std=c11 -Wall -Wextra -Werror -o "$out" "$ex" $flags
	LD_LIBRARY_PATH=$dest/usr/local/lib "$out"
done
$make uninstall DESTDIR="$dest" PREFIX=/usr/local >/dev/null
left=$(find "$dest" ! -type d | wc -l)
[ "$left" -eq 0 ] || { echo "uninstall left $left files:"; find "$dest" ! -type d; exit 1; }
echo "install check: ok"
