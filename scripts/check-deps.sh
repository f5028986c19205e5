#!/usr/bin/env bash
# Tests scripts/install-deps.sh after everything was installed (CI runs it
# after `scripts/install-deps.sh`): groups hold what their make target needs
# and no more; without apt-get it finds what is there by itself, stays silent
# with -q, and names what is missing and fails before any build starts.
set -euo pipefail
cd "$(dirname "$0")/.."
deps=scripts/install-deps.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fail() {
	echo "check-deps: FAILED: $*" >&2
	exit 1
}
ok() { n=$((n + 1)); }

has() { grep -qx "$2" <<<"$1"; }

# What each group brings.
demo=$($deps --list demo)
for p in gcc make liburing-dev libnuma-dev; do has "$demo" $p || fail "demo lacks $p"; done
for p in libdpdk-dev libck-dev gnuplot-nox spin bpftrace libcriterion-dev kconfig-frontends-nox; do
	has "$demo" $p && fail "demo installs $p"
done
ok
check=$($deps --list check)
for p in libcriterion-dev bpftrace g++ libuv1-dev liburing-dev; do has "$check" $p || fail "check lacks $p"; done
for p in libdpdk-dev libck-dev gnuplot-nox spin; do has "$check" $p && fail "check installs $p"; done
ok
bench=$($deps --list bench)
for p in libdpdk-dev libck-dev gnuplot-nox; do has "$bench" $p || fail "bench lacks $p"; done
ok
# Switches that are off need nothing.
nobpf=$(CONFIG_BPF=n CONFIG_IO_URING=n $deps --list demo)
for p in clang bpftool libbpf-dev liburing-dev; do has "$nobpf" $p && fail "CONFIG_*=n demo installs $p"; done
ok
all=$($deps --list)
for g in check bench model metrics config man cmake deb format fuzz; do
	while read -r p; do has "$all" "$p" || fail "all lacks $p of $g"; done < <($deps --list $g)
done
ok

# With apt-get: everything is installed, so -q says nothing.
out=$($deps -q check 2>&1) || fail "install-deps -q check failed: $out"
[ -z "$out" ] || fail "install-deps -q check printed: $out"
ok

# Without apt-get (APT_GET names no program): the script probes by itself.
out=$(APT_GET=/nonexistent $deps -q check 2>&1) || fail "no apt, all there, failed: $out"
[ -z "$out" ] || fail "no apt, all there, -q printed: $out"
ok
# A compiler that cannot find liburing.h: missing, named, exit 1.
cat >"$tmp/cc" <<'CC'
#!/bin/sh
src=$(cat)
case $src in *liburing.h*) echo "fatal error: liburing.h: No such file" >&2; exit 1 ;; esac
printf '%s\n' "$src" | exec cc "$@"
CC
chmod +x "$tmp/cc"
rc=0
out=$(APT_GET=/nonexistent CC=$tmp/cc $deps -q demo 2>&1) || rc=$?
[ $rc -eq 1 ] || fail "missing header: exit $rc, want 1: $out"
grep -q 'header <liburing.h>.*liburing-dev' <<<"$out" || fail "missing header not named: $out"
[ "$(grep -c '(Debian package' <<<"$out")" -eq 1 ] || fail "names more than what is missing: $out"
ok
# ... unless the switch that needs it is off.
out=$(CONFIG_IO_URING=n APT_GET=/nonexistent CC=$tmp/cc $deps -q demo 2>&1) ||
	fail "CONFIG_IO_URING=n still needs liburing.h: $out"
ok
# A program missing from PATH.
mkdir "$tmp/bin"
for p in bash cc make pkg-config cat; do ln -s "$(command -v $p)" "$tmp/bin/$p"; done
rc=0
out=$(PATH=$tmp/bin APT_GET=/nonexistent $deps -q model 2>&1) || rc=$?
[ $rc -eq 1 ] && grep -q 'program spin.*(Debian package spin)' <<<"$out" ||
	fail "missing spin: exit $rc: $out"
ok
# make demo stops at the dependency step, before compiling anything.
rc=0
out=$(APT_GET=/nonexistent CC=$tmp/cc make --no-print-directory BUILD="$tmp/build" demo 2>&1) || rc=$?
[ $rc -ne 0 ] && grep -q 'liburing-dev' <<<"$out" && [ ! -e "$tmp/build/obj" ] ||
	fail "make demo without liburing: exit $rc, built anyway or no message: $out"
ok
# Unknown groups are refused.
rc=0
$deps --list frobnicate >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "unknown group: exit $rc"
ok
echo "check-deps: $n passed, 0 failed"
