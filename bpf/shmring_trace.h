/* SPDX-License-Identifier: MIT */
/*
 * What the BPF program (shmring.bpf.c) and `shmring trace` (tools/trace.c)
 * share: the key and value of the per-ring statistics map. Included by both
 * sides, so it uses only the kernel's fixed-width types (from vmlinux.h in
 * the BPF program, from linux/types.h in user space).
 *
 * Histograms are log2: slot 0 counts the value 0, slot k >= 1 counts values
 * in [2^(k-1), 2^k), as bpftrace's hist() does.
 */
#ifndef SHMRING_TRACE_H
#define SHMRING_TRACE_H

#define SHMRING_TRACE_NAME_LEN 256 /* NAME_MAX + 1: ring names are never cut */
#define SHMRING_TRACE_SLOTS    64
#define SHMRING_TRACE_RINGS    1024 /* rings tracked at once */

/* Probe hits, one counter each (see src/probes.h for the probes). */
enum shmring_trace_event {
	SHMRING_EV_OPEN,
	SHMRING_EV_CLOSE,
	SHMRING_EV_PUSH,
	SHMRING_EV_POP,
	SHMRING_EV_FULL,
	SHMRING_EV_EMPTY,
	SHMRING_EV_SLEEP,
	SHMRING_EV_WAKE,
	SHMRING_EV_NOTIFY,
	SHMRING_EV_COUNT,
};

/* A ring: its name, the same in every process that uses it. Rings in caller
 * memory have no name (""): those are told apart by process and handle. */
struct shmring_trace_key {
	__u32 tgid;   /* 0 for named rings */
	__u32 unused; /* zero, so the key has no padding holes */
	__u64 handle; /* 0 for named rings */
	char name[SHMRING_TRACE_NAME_LEN];
};

/* Per ring and per CPU (the map is per-CPU, so the probes never contend for
 * a cache line); user space sums the CPUs. Indices into the two-element
 * arrays are role - 1: [0] producers, [1] consumers. */
struct shmring_trace_stats {
	__u64 capacity;
	__u64 events[SHMRING_EV_COUNT];
	__u64 moved[2];			      /* elements pushed, popped */
	__u64 occupancy[SHMRING_TRACE_SLOTS]; /* after each push and pop */
	__u64 slept[2][SHMRING_TRACE_SLOTS];  /* time asleep, ns */
	__u64 slept_ns[2];		      /* total time asleep */
};

#endif /* SHMRING_TRACE_H */
