# shmring build switches (Kconfig-style). `make menuconfig` / `make defconfig`
# write .config, which overrides these defaults; a variable on the make command
# line (make CONFIG_NUMA=n) overrides both. The build turns the final values
# into build/config.h, so the C code and the Makefile read the same truth.
CONFIG_IO_URING ?= y
CONFIG_NUMA ?= y
CONFIG_USDT ?= y
CONFIG_BPF ?= y
CONFIG_HUGEPAGES ?= y
CONFIG_NATS ?= y
