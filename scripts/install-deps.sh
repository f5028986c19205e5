#!/usr/bin/env bash
# Installs the Debian packages shmring's build, tests, BPF tracer and
# benchmarks need: only those missing, so it is idempotent and fast when
# everything is there. Runs apt-get as root, or through sudo.
#   scripts/install-deps.sh [-q]
set -euo pipefail
quiet=0
[ "${1:-}" = "-q" ] && quiet=1

pkgs=(
	gcc make pkg-config
	libcriterion-dev          # tests
	liburing-dev              # CONFIG_IO_URING
	libnuma-dev               # CONFIG_NUMA
	systemtap-sdt-dev         # CONFIG_USDT (sys/sdt.h)
	libbpf-dev bpftool clang libelf-dev zlib1g-dev # CONFIG_BPF
	bpftrace                  # bpf/*.bt scripts and their tests
	libdpdk-dev libck-dev     # benchmark peers
	gnuplot-nox               # benchmark plots
	kconfig-frontends-nox     # make menuconfig / defconfig
	spin                      # make model: the wakeup protocol
	libnats-dev nats-server   # CONFIG_NATS: shmring bridge and its tests
)

missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	[ $quiet -eq 1 ] || echo "install-deps: all ${#pkgs[@]} packages present"
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null; then
	sudo=(sudo)
else
	echo "install-deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
