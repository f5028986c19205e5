/* SPDX-License-Identifier: MIT */
/*
 * USDT probes, provider "shmring" (sys/sdt.h from systemtap-sdt-dev).
 *
 * Every probe has a semaphore that a tracer (bpftrace, libbpf, perf)
 * increments while it is attached, so SHMRING_PROBE costs one load and one
 * untaken branch when nobody listens, and computes its arguments only when
 * somebody does. Arguments (all probes start with the handle and the name):
 *
 *   open   (ring, name, policy, role, elem_size, capacity)
 *   close  (ring, name, policy, role)
 *   push   (ring, name, occupancy after, capacity, count)   occupancy: pending()
 *   pop    (ring, name, occupancy after, capacity, count)   count: elements moved
 *   full   (ring, name, capacity)        a push found the ring full
 *   empty  (ring, name)                  a pop found the ring empty
 *   sleep  (ring, name, role)            a blocking call goes to sleep
 *   wake   (ring, name, role, slept_ns)  it woke up
 *   notify (ring, name, side)            a publisher woke sleepers (futex_wake);
 *                                        side 1 = consumers, 2 = producers
 *   repair (ring, name, position, role, stood_ns)
 *                                        a dead claimer's slot was freed;
 *                                        role of the dead (1 producer, 2
 *                                        consumer), how long the claim stood
 *
 * The name is "" for rings attached to caller memory (shmring_attach). A burst
 * fires one push or pop with the number of elements it moved, so tracers
 * count elements, not calls.
 * The BPF program and bpftrace scripts in bpf/ read these argument positions.
 */
#ifndef SHMRING_PROBES_H
#define SHMRING_PROBES_H

#include "config.h"

#if CONFIG_USDT
#define _SDT_HAS_SEMAPHORES 1
#define SDT_USE_VARIADIC    1
#include <sys/sdt.h>

#define SHMRING_PROBES(X) \
	X(open)           \
	X(close) X(push) X(pop) X(full) X(empty) X(sleep) X(wake) X(notify) X(repair)
#define SHMRING_SEMAPHORE_DECL(name)                     \
	extern unsigned short shmring_##name##_semaphore \
		__attribute__((visibility("hidden")));
SHMRING_PROBES(SHMRING_SEMAPHORE_DECL)
#undef SHMRING_SEMAPHORE_DECL

/* True while a tracer is attached to probe NAME. */
#define SHMRING_PROBE_ON(name) \
	__builtin_expect(*(volatile unsigned short *)&shmring_##name##_semaphore != 0, 0)
#define SHMRING_PROBE(name, ...)                                 \
	do {                                                     \
		if (SHMRING_PROBE_ON(name))                      \
			STAP_PROBEV(shmring, name, __VA_ARGS__); \
	} while (0)
#else
/* Without probes the arguments still count as used (no unused-variable
 * warnings where a value exists only for a probe), but are never evaluated. */
static inline void shmring__probe_args(int unused, ...)
{
	(void)unused;
}
#define SHMRING_PROBE_ON(name) 0
#define SHMRING_PROBE(name, ...)                             \
	do {                                                 \
		if (0)                                       \
			shmring__probe_args(0, __VA_ARGS__); \
	} while (0)
#endif

#endif /* SHMRING_PROBES_H */
