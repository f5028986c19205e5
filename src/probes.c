// SPDX-License-Identifier: MIT
/* The probes' semaphores: a tracer that attaches writes to these. */
#include "probes.h"

#if CONFIG_USDT
#define SHMRING_SEMAPHORE_DEF(name) \
	unsigned short shmring_##name##_semaphore __attribute__((section(".probes")));
SHMRING_PROBES(SHMRING_SEMAPHORE_DEF)
#endif
