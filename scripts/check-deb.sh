#!/usr/bin/env bash
# The Debian packages: builds libshmring0, libshmring-dev and shmring-tools
# with `dpkg-buildpackage -us -uc -b` in a copy of the tree (it writes to the
# parent directory, so the repository stays clean), runs lintian on them
# (no errors allowed), installs them with apt, then builds programs against
# the installed library as a user would (pkg-config, CMake, the C++ wrapper),
# runs them, checks the tool, its manual and its lack of RUNPATH, and
# removes the packages again.
#   scripts/check-deb.sh [--keep]   (--keep: leave the packages installed)
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
[ "${1:-}" = --keep ] && keep=1
scripts/install-deps.sh -q deb build cmake
repo=$(pwd)
tmp=$(mktemp -d)
pkgs=(libshmring0 libshmring-dev shmring-tools)
installed=0
cleanup() {
	if [ $installed -eq 1 ] && [ $keep -eq 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${pkgs[@]}" >/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "check-deb: FAILED: $*" >&2
	exit 1
}
n=0

for p in "${pkgs[@]}"; do
	if dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -x installed >/dev/null; then
		fail "$p is installed already: this check installs and removes it (apt-get purge ${pkgs[*]})"
	fi
done

# One version: debian/changelog's upstream part is the header's.
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
[ "${version%-*}" = "$(make -s print-version)" ] ||
	fail "debian/changelog says ${version%-*}, include/shmring.h $(make -s print-version)"

# The tree as git sees it (tracked and new files, not build/ or ignored ones).
src=$tmp/shmring-${version%-*}
mkdir "$src"
git ls-files -z -co --exclude-standard | tar -c --null -T - | tar -x -C "$src"
(
	cd "$src"
	DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -us -uc -b
) >"$tmp/build.log" 2>&1 || {
	tail -40 "$tmp/build.log"
	fail "dpkg-buildpackage"
}
for p in "${pkgs[@]}"; do
	ls "$tmp/${p}_${version}_"*.deb >/dev/null 2>&1 || fail "no $p package"
done
[ -z "$(git status --porcelain)" ] || [ -n "${CHECK_DEB_DIRTY_OK:-}" ] ||
	echo "check-deb: note: the work tree has changes (they were packaged too)"
n=$((n + 1))

changes=$(ls "$tmp"/shmring_*.changes)
lintian --fail-on error --info "$changes" >"$tmp/lintian.log" 2>&1 || {
	cat "$tmp/lintian.log"
	fail "lintian reports errors"
}
echo "lintian: $(grep -c '^E:' "$tmp/lintian.log" || true) errors, $(grep -c '^W:' "$tmp/lintian.log" || true) warnings"
grep '^[EW]:' "$tmp/lintian.log" || true
n=$((n + 1))

DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tmp"/*.deb >"$tmp/apt.log" 2>&1 || {
	cat "$tmp/apt.log"
	fail "apt-get install"
}
installed=1
n=$((n + 1))

# A user's view: no build tree, only the installed packages.
work=$tmp/user
mkdir "$work"
cp examples/memory.c examples/pingpong.c "$work/"
(
	cd "$work"
	# shellcheck disable=SC2046
	cc -std=c11 -Wall -Wextra -Werror -o memory memory.c $(pkg-config --cflags --libs shmring)
	cc -std=c11 -Wall -Wextra -Werror -o pingpong pingpong.c $(pkg-config --cflags --libs shmring)
	./memory >/dev/null
	./pingpong >/dev/null
	ldd memory | grep -E "libshmring.so.0 => (/usr)?/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/" >/dev/null || {
		ldd memory
		exit 1
	}
) || fail "a program built with pkg-config against the installed library"
n=$((n + 1))

mkdir "$work/cmake"
cat >"$work/cmake/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.13)
project(user CXX)
find_package(shmring CONFIG REQUIRED)
add_executable(hello hello.cpp)
target_compile_features(hello PRIVATE cxx_std_17)
target_link_libraries(hello PRIVATE shmring::shmring)
CMAKE
cat >"$work/cmake/hello.cpp" <<'CPP'
#include <shmring.hpp>
#include <iostream>
int main()
{
	shmr::Spsc::Producer p("check-deb-hello", 64, 16);
	shmr::Spsc::Consumer c("check-deb-hello", 64, 16);
	char in[64] = "hello from the packaged shmring", out[64] = {};
	if (p.open() || c.open() || p.push(in) || c.timedPop(out, std::chrono::seconds(1))) {
		std::cerr << shmr::lastError().message() << "\n";
		return 1;
	}
	std::cout << out << " " << shmr::version() << "\n";
	shmr::SharedMemory::unlink("check-deb-hello");
	return 0;
}
CPP
(
	cd "$work/cmake"
	cmake -S . -B b >/dev/null && cmake --build b >/dev/null && ./b/hello
) || fail "a CMake C++ program against the installed package"
n=$((n + 1))

command -v shmring >/dev/null || fail "no shmring in PATH"
[ "$(command -v shmring)" = /usr/bin/shmring ] || fail "shmring is $(command -v shmring)"
readelf -d /usr/bin/shmring | grep -E 'RUNPATH|RPATH' >/dev/null && fail "/usr/bin/shmring has a RUNPATH"
shmring --version | grep -x "shmring ${version%-*} (libshmring ${version%-*})" >/dev/null || fail "shmring --version: $(shmring --version)"
for page in shmring.1 shmring_push.3 shmring_try_push.3 shmring.7; do
	man -w "${page%.*}" >/dev/null 2>&1 || man -w "${page##*.}" "${page%.*}" >/dev/null ||
		fail "man ${page%.*}: not installed"
done
MANWIDTH=200 man 3 shmring_try_push 2>/dev/null | grep -E '^ +shmring_try_push, +shmring_push, +shmring_timed_push' >/dev/null ||
	fail "man shmring_try_push does not show the push page"
[ -f /usr/share/bash-completion/completions/shmring ] || fail "no bash completion"
[ -f /usr/share/shmring/waits.bt ] || fail "no bpftrace scripts"
n=$((n + 1))

if [ $keep -eq 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${pkgs[@]}" >/dev/null
	installed=0
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -x installed >/dev/null &&
			fail "$p still installed"
	done
	[ ! -e /usr/bin/shmring ] || fail "/usr/bin/shmring left behind"
	n=$((n + 1))
fi
echo "check-deb: $n passed, 0 failed"
