#!/usr/bin/env bash
# find_package(shmring CONFIG) against an install staged in a DESTDIR: a tiny
# CMake project (a C program on shmring::shmring, a C++ one using
# shmring.hpp, a static one on shmring::static) configures with
# CMAKE_FIND_ROOT_PATH pointing into the DESTDIR, builds and runs; a version
# the install does not satisfy is refused; uninstall removes the package files.
#   scripts/check-cmake.sh
set -euo pipefail
cd "$(dirname "$0")/.."
make=${MAKE:-make}
scripts/install-deps.sh -q cmake
repo=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
fail() {
	echo "check-cmake: FAILED: $*" >&2
	exit 1
}
n=0

$make -j2 >/dev/null
$make install DESTDIR="$dest" PREFIX=/usr >/dev/null
[ -f "$dest/usr/lib/cmake/shmring/shmring-config.cmake" ] || fail "no shmring-config.cmake in lib/cmake/shmring"
[ -f "$dest/usr/lib/pkgconfig/shmring.pc" ] || fail "the .pc is not beside it"

mkdir "$tmp/proj"
cat >"$tmp/proj/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.13)
project(uses_shmring C CXX)
find_package(shmring ${WANT} CONFIG REQUIRED)
message(STATUS "shmring_DIR=${shmring_DIR} version ${shmring_VERSION}")
add_executable(memory_c ${EXAMPLE})
target_link_libraries(memory_c PRIVATE shmring::shmring)
add_executable(wrapper_cpp wrapper.cpp)
target_compile_features(wrapper_cpp PRIVATE cxx_std_17)
target_link_libraries(wrapper_cpp PRIVATE shmring::shmring)
add_executable(memory_static ${EXAMPLE})
target_link_libraries(memory_static PRIVATE shmring::static)
CMAKE
cat >"$tmp/proj/wrapper.cpp" <<'CPP'
#include <shmring.hpp>
#include <cstdio>
int main()
{
	shmr::LocalMem mem(shmr::Spsc::memsize(8, 16));
	shmr::LocalMem::Spsc::Producer p(mem, 0, 8, 16);
	shmr::LocalMem::Spsc::Consumer c(mem, 0, 8, 16);
	unsigned long v = 7, out = 0;
	if (p.open() || c.open() || p.push(&v) || c.pop(&out) || out != 7)
		return std::fprintf(stderr, "%s\n", shmr::lastError().message().c_str()), 1;
	std::printf("C++ wrapper on shmring %s: ok\n", shmr::version().c_str());
	return 0;
}
CPP

configure() { # BUILD_DIR WANT
	cmake -S "$tmp/proj" -B "$1" -DWANT="$2" -DEXAMPLE="$repo/examples/memory.c" \
		-DCMAKE_PREFIX_PATH=/usr -DCMAKE_FIND_ROOT_PATH="$dest" \
		-DCMAKE_FIND_ROOT_PATH_MODE_PACKAGE=ONLY -DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY \
		-DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY
}

version=$($make -s print-version)
configure "$tmp/b" "${version%.*}" >"$tmp/configure.log" 2>&1 || {
	cat "$tmp/configure.log"
	fail "configure"
}
grep -q "shmring_DIR=$dest/usr/lib/cmake/shmring version $version" "$tmp/configure.log" ||
	fail "found another shmring: $(grep shmring_DIR "$tmp/configure.log")"
n=$((n + 1))
cmake --build "$tmp/b" >"$tmp/build.log" 2>&1 || {
	cat "$tmp/build.log"
	fail "build"
}
n=$((n + 1))
export LD_LIBRARY_PATH=$dest/usr/lib
"$tmp/b/memory_c" >/dev/null || fail "memory_c"
"$tmp/b/wrapper_cpp" || fail "wrapper_cpp"
ldd "$tmp/b/memory_c" | grep "libshmring.so.0 => $dest/usr/lib/" >/dev/null || fail "memory_c does not use the staged library"
ldd "$tmp/b/memory_static" | grep libshmring >/dev/null && fail "memory_static links libshmring.so"
"$tmp/b/memory_static" >/dev/null || fail "memory_static"
n=$((n + 1))

# Versions: a newer minor (0.x) or major is refused, an older patch accepted.
major=${version%%.*}
minor=${version#*.}
minor=${minor%%.*}
if configure "$tmp/b2" "$major.$((minor + 1))" >"$tmp/c2.log" 2>&1; then
	fail "find_package(shmring $major.$((minor + 1))) accepted $version"
fi
grep -q 'version: '"$version" "$tmp/c2.log" || grep -q "$version" "$tmp/c2.log" || fail "no reason given: $(cat "$tmp/c2.log")"
if configure "$tmp/b3" "$((major + 1)).0" >/dev/null 2>&1; then
	fail "find_package(shmring $((major + 1)).0) accepted $version"
fi
configure "$tmp/b4" "$major.$minor.0" >/dev/null 2>&1 || fail "find_package(shmring $major.$minor.0) refused $version"
n=$((n + 1))

$make uninstall DESTDIR="$dest" PREFIX=/usr >/dev/null
[ ! -e "$dest/usr/lib/cmake/shmring" ] || fail "uninstall left lib/cmake/shmring"
n=$((n + 1))
echo "check-cmake: $n passed, 0 failed"
