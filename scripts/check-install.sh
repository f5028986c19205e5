#!/usr/bin/env bash
# Installs into a scratch DESTDIR with PREFIX=/usr after a plain build (whose
# .pc files said /usr/local: the install must not ship them stale), checks
# what the installed .pc files say, builds programs against the install with
# nothing but pkg-config, runs them, and checks that uninstall removes every
# file it installed.
#   scripts/check-install.sh EXAMPLE.c...
# Each EXAMPLE links with `pkg-config --cflags --libs shmring`; the io_uring
# example (examples/uring_server.c, include/shmring/uring.h) with
# shmring-uring, as the README says; examples/memory.c once more against
# libshmring.a with `pkg-config --static`.
set -euo pipefail
cd "$(dirname "$0")/.."
make=${MAKE:-make}
prefix=/usr
dest=$(mktemp -d)
bin=$(mktemp -d)
trap 'rm -rf "$dest" "$bin"' EXIT
fail() {
	echo "check-install: $*" >&2
	exit 1
}

$make -j2 >/dev/null # a plain build: .pc files for /usr/local
$make install DESTDIR="$dest" PREFIX=$prefix >/dev/null
pcdir=$dest$prefix/lib/pkgconfig
[ -f "$pcdir/shmring.pc" ] || fail "no $pcdir/shmring.pc"

# What the installed files say, without a sysroot: the real paths.
for var in prefix:$prefix libdir:$prefix/lib includedir:$prefix/include; do
	got=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable="${var%%:*}" shmring)
	[ "$got" = "${var#*:}" ] || fail "installed shmring.pc says ${var%%:*}=$got, want ${var#*:}"
done
inc=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=includedir shmring)
lib=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=libdir shmring)
[ -f "$dest$inc/shmring.h" ] && [ -f "$dest$inc/shmring/uring.h" ] ||
	fail "headers are not where shmring.pc says ($inc)"
[ -e "$dest$lib/libshmring.so" ] || fail "libshmring.so is not where shmring.pc says ($lib)"
if grep -q '^CONFIG_IO_URING ?= y' config.mk && [ "${CONFIG_IO_URING:-y}" = y ]; then
	PKG_CONFIG_PATH=$pcdir pkg-config --print-requires-private shmring | grep -x liburing >/dev/null ||
		fail "shmring.pc lacks Requires.private: liburing"
fi
echo "installed shmring.pc: prefix=$prefix, includedir=$inc, libdir=$lib"

# Build against the staged files: the sysroot maps /usr to $dest/usr.
export PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH=$pcdir
export LD_LIBRARY_PATH=$dest$lib
flags=$(pkg-config --cflags --libs shmring)
echo "pkg-config --cflags --libs shmring: $flags"
for ex in "$@"; do
	out=$bin/$(basename "$ex" .c)
	cc -std=c11 -Wall -Wextra -Werror -o "$out" "$ex" $flags
	"$out"
done

# The README's io_uring snippet: include/shmring/uring.h calls liburing, so
# such programs link with shmring-uring.pc.
uflags=$(pkg-config --cflags --libs shmring-uring)
echo "pkg-config --cflags --libs shmring-uring: $uflags"
cc -std=c11 -Wall -Wextra -Werror -o "$bin/uring_server" examples/uring_server.c $uflags
"$bin/uring_server" 2 2000

# Static: libshmring.a needs what Libs.private and Requires.private name.
sflags=$(pkg-config --static --cflags --libs shmring)
echo "pkg-config --static --cflags --libs shmring: $sflags"
cc -std=c11 -Wall -Wextra -Werror -o "$bin/memory-static" examples/memory.c \
	${sflags/-lshmring/-l:libshmring.a}
ldd "$bin/memory-static" | grep libshmring >/dev/null && fail "memory-static links libshmring.so"
"$bin/memory-static" >/dev/null

$make uninstall DESTDIR="$dest" PREFIX=$prefix >/dev/null
left=$(find "$dest" ! -type d | wc -l)
[ "$left" -eq 0 ] || {
	echo "uninstall left $left files:"
	find "$dest" ! -type d
	exit 1
}
echo "install check: ok"
