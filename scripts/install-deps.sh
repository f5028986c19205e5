#!/usr/bin/env bash
# Installs what one part of shmring needs, and nothing else: the Debian
# packages of the groups asked for (all of them when none is named), only
# those missing, so it is idempotent and fast when everything is there.
#
#   scripts/install-deps.sh [-q] [GROUP...]
#   scripts/install-deps.sh --list [GROUP...]   the packages, one a line
#
#   build   compiler, make, pkg-config and the libraries the switches in
#           config.mk ask for (CONFIG_IO_URING, _NUMA, _USDT, _BPF)
#   demo    what `make demo` builds and runs: build
#   check   what `make check` builds and runs: build, Criterion, bpftrace,
#           g++ (the C++ wrapper's test), libuv (examples/libuv.c), the
#           Prometheus client's parsers (the tool's OpenMetrics output)
#   bench   the benchmark peers and plots: DPDK, ck, gnuplot; valgrind
#   model   spin, for the wakeup protocol model
#   metrics node_exporter, for scripts/check-metrics.sh
#   config  kconfig-frontends, for make menuconfig / defconfig
#   man     mandoc, for make man-lint
#   cmake   cmake, for scripts/check-cmake.sh
#   deb     dpkg-dev, debhelper, lintian, for scripts/check-deb.sh
#   format  clang-format
#   fuzz    clang and its libFuzzer and sanitizer runtimes, for make fuzz
#   all     every group (the default; what CI installs)
#
# The CONFIG_* switches are read from the environment (the Makefile passes its
# own), so `make demo CONFIG_BPF=n` needs no clang. With apt-get and dpkg it
# installs the missing packages as root (or through sudo). Without them (or
# with APT_GET pointing to no program) it looks for the headers and programs
# itself: silent (with -q) when all are there, otherwise it names what is
# missing and stops before anything is built. -q: say nothing when there is
# nothing to do.
set -euo pipefail
quiet=0
list=0
case ${1:-} in
-q)
	quiet=1
	shift
	;;
--list)
	list=1
	shift
	;;
esac
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(all)
APT_GET=${APT_GET-apt-get}
CC=${CC:-cc}

on() { [ "${!1:-y}" = y ]; } # a switch is on unless set to something else

# Packages of each group, as "package:probe" where the probe says how to
# tell, without dpkg, that what we use of the package is there:
# h=HEADER (compiles #include <HEADER>), b=PROGRAM (in PATH), p=PKG (pkg-config),
# m=MODULE (Debian's /usr/bin/python3 imports it), z=fuzzer (clang links a
# libFuzzer target).
group_pkgs() {
	case $1 in
	build)
		echo gcc:b=cc make:b=make pkg-config:b=pkg-config
		if on CONFIG_IO_URING; then echo liburing-dev:h=liburing.h; fi
		if on CONFIG_NUMA; then echo libnuma-dev:h=numa.h; fi
		if on CONFIG_USDT; then echo systemtap-sdt-dev:h=sys/sdt.h; fi
		if on CONFIG_USDT && on CONFIG_BPF; then
			echo libbpf-dev:h=bpf/libbpf.h bpftool:b=bpftool clang:b=clang \
				libelf-dev:h=libelf.h zlib1g-dev:h=zlib.h
		fi
		if on CONFIG_NATS; then echo libnats-dev:h=nats/nats.h; fi
		;;
	demo) group_pkgs build ;;
	check)
		group_pkgs build
		echo libcriterion-dev:h=criterion/criterion.h g++:b=g++ libuv1-dev:h=uv.h \
			python3-prometheus-client:m=prometheus_client
		if on CONFIG_USDT; then echo bpftrace:b=bpftrace; fi
		if on CONFIG_NATS; then echo nats-server:b=nats-server; fi
		;;
	bench)
		group_pkgs build
		echo libdpdk-dev:p=libdpdk libck-dev:h=ck_ring.h gnuplot-nox:b=gnuplot \
			valgrind:b=valgrind
		if on CONFIG_NATS; then echo nats-server:b=nats-server; fi
		;;
	model) echo gcc:b=cc spin:b=spin ;;
	metrics)
		group_pkgs build
		echo python3-prometheus-client:m=prometheus_client \
			prometheus-node-exporter:b=prometheus-node-exporter
		;;
	config) echo kconfig-frontends-nox:b=kconfig-conf ;;
	man) echo mandoc:b=mandoc ;;
	cmake) echo cmake:b=cmake ;;
	deb)
		echo dpkg-dev:b=dpkg-buildpackage debhelper:b=dh lintian:b=lintian \
			fakeroot:b=fakeroot
		;;
	format) echo clang-format:b=clang-format ;;
	fuzz)
		group_pkgs build # the library again, with the same switches
		echo clang:b=clang libclang-rt-14-dev:z=fuzzer
		;;
	all)
		for g in check bench model metrics config man cmake deb format fuzz; do
			group_pkgs $g
		done
		;;
	*)
		echo "install-deps: unknown group '$1' (build demo check bench model metrics config man cmake deb format fuzz all)" >&2
		exit 2
		;;
	esac
}

# Every package once, in order.
entries=()
declare -A seen=()
for g in "${groups[@]}"; do
	pkgs=$(group_pkgs "$g")
	for e in $pkgs; do
		[ -n "${seen[${e%%:*}]:-}" ] && continue
		seen[${e%%:*}]=1
		entries+=("$e")
	done
done

if [ $list -eq 1 ]; then
	for e in "${entries[@]}"; do
		echo "${e%%:*}"
	done
	exit 0
fi

# Is what the probe names there?
probe() {
	local what=${1#?=}
	case $1 in
	h=*) printf '#include <%s>\n' "$what" | "$CC" -E -x c - >/dev/null 2>&1 ;;
	b=*) command -v "$what" >/dev/null 2>&1 ;;
	p=*) pkg-config --exists "$what" 2>/dev/null ;;
	m=*) /usr/bin/python3 -c "import $what" 2>/dev/null ;;
	z=*)
		printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return !d && n; }\n' |
			clang -fsanitize=fuzzer -x c - -o /dev/null >/dev/null 2>&1
		;;
	esac
}

describe() {
	local what=${1#?=}
	case $1 in
	h=*) echo "header <$what>" ;;
	b=*) echo "program $what" ;;
	p=*) echo "pkg-config module $what" ;;
	m=*) echo "python3 module $what" ;;
	z=*) echo "clang's libFuzzer runtime" ;;
	esac
}

if ! command -v "$APT_GET" >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
	missing=()
	for e in "${entries[@]}"; do
		probe "${e#*:}" || missing+=("$e")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		[ $quiet -eq 1 ] || echo "install-deps: no apt-get; everything ${groups[*]} needs is there"
		exit 0
	fi
	{
		echo "install-deps: no apt-get here to install what ${groups[*]} needs; missing:"
		for e in "${missing[@]}"; do
			printf '  %-32s (Debian package %s)\n' "$(describe "${e#*:}")" "${e%%:*}"
		done
		echo "Install them with this system's package manager, or turn off the"
		echo "switches that need them (make CONFIG_BPF=n ...; see config.mk)."
	} >&2
	exit 1
fi

missing=()
for e in "${entries[@]}"; do
	p=${e%%:*}
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	[ $quiet -eq 1 ] || echo "install-deps: all ${#entries[@]} packages for ${groups[*]} present"
	exit 0
fi

echo "install-deps: installing for ${groups[*]}: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null; then
	sudo=(sudo)
else
	echo "install-deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" "$APT_GET" update -qq
"${sudo[@]}" "$APT_GET" install -y -qq --no-install-recommends "${missing[@]}"
