/* SPDX-License-Identifier: MIT */
/*
 * shmring-bench: shmring against its peers, measured in one run.
 *
 * A transport (struct xp_ops) is anything that moves fixed-size messages from
 * producer processes to consumer processes: shmring, DPDK rte_ring, ck_ring,
 * a pipe, an AF_UNIX SOCK_SEQPACKET pair, eventfd-signalled shared memory.
 * Every transport lives in the same kind of shared segment, is driven by the
 * same producer and consumer loops (tp.c, lat.c) in processes forked and
 * pinned the same way (trial.c), and is checked message by message (verify.h).
 * suite.c says what to measure, report.c turns medians into ratios.
 */
#ifndef SHMRING_BENCH_H
#define SHMRING_BENCH_H

#include "shmring.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BENCH_MAX_PROCS 4  /* MPMC 2x2 */
#define BENCH_MAX_BURST 32 /* the bursts the targets name */
#define BENCH_MAX_REPS	15

enum wait_mode {
	WAIT_BUSY,  /* try calls in a loop: the harness spins */
	WAIT_BLOCK, /* blocking calls: the library's spin budget, then a futex */
	WAIT_SLEEP, /* blocking calls with no spin budget: every wait sleeps */
	WAIT_FD,    /* try calls, and poll(shmring_fd()) on EAGAIN; no spin budget */
	WAIT_ZC,    /* zero-copy: messages written and checked in place (busy) */
	WAIT_MODES
};

/* What one trial moves, and how. */
struct xp_cfg {
	enum shmring_policy policy;
	size_t elem;	/* bytes per message */
	size_t cap;	/* messages the transport holds */
	unsigned burst; /* 1: single-message calls; else burst calls of this many */
	enum wait_mode mode;
	unsigned producers, consumers;
};

/* One channel (one ring, pipe, socket pair ...) inside the trial's segment. */
struct xp_chan {
	struct shmring_mem *seg; /* the whole segment (shmring_attach needs it) */
	size_t offset;		 /* where this channel starts in it */
	void *base;		 /* seg + offset */
	int fd[2];		 /* OS transports: made before fork, inherited */
};

struct xp_ops {
	const char *name;
	unsigned policies; /* 1u << SHMRING_SPSC ... it supports */
	unsigned modes;	   /* 1u << WAIT_BUSY ... it supports */
	bool bursts;	   /* has push_burst/pop_burst */
	/* Short description of the variant CFG selects ("sp/sc", "spsc"). */
	const char *(*variant)(const struct xp_cfg *c);
	/* Bytes of shared memory one channel needs. */
	size_t (*memsize)(const struct xp_cfg *c);
	/* Parent, before fork: make the channel. 0, or -1 with errno. */
	int (*setup)(struct xp_chan *ch, const struct xp_cfg *c);
	void (*teardown)(struct xp_chan *ch);
	/* Child: a handle on CH for ROLE, or NULL with errno. */
	void *(*open)(struct xp_chan *ch, const struct xp_cfg *c, enum shmring_role role);
	void (*close)(void *h);
	/* WAIT_BUSY: 1 moved, 0 full or empty (the caller spins and retries),
	 * -1 error with errno. NULL when the transport cannot be polled. */
	int (*push)(void *h, const void *elem);
	int (*pop)(void *h, void *elem);
	/* WAIT_BLOCK, WAIT_SLEEP: wait until moved; 1, or -1 with errno. */
	int (*push_wait)(void *h, const void *elem);
	int (*pop_wait)(void *h, void *elem);
	/* Messages moved (0 when full or empty), or -1 with errno. */
	long (*push_burst)(void *h, const void *elems, size_t n);
	long (*pop_burst)(void *h, void *elems, size_t n);
	/* WAIT_ZC: one element lent in place (NULL when full or empty, or on an
	 * error with errno set), then handed on. */
	void *(*reserve)(void *h);
	int (*commit)(void *h);
	const void *(*peek)(void *h);
	int (*release)(void *h);
};

extern const struct xp_ops xp_shmring, xp_rte_ring, xp_rte_ring_rts, xp_ck_ring, xp_pipe,
	xp_seqpacket, xp_eventfd, xp_mqueue;

const char *policy_name(enum shmring_policy p);
const char *mode_name(enum wait_mode m);
/* "shmring busy x32", "rte_ring sp/sc", "pipe" */
void xp_label(const struct xp_ops *ops, const struct xp_cfg *c, char *buf, size_t len);
/* Whether OPS can run CFG at all. */
bool xp_supports(const struct xp_ops *ops, const struct xp_cfg *c);

/* ---- trials: a segment, a control block, forked pinned processes ---------- */

/* What each process leaves behind for the parent. */
struct proc_out {
	uint64_t sent;			   /* producer: data messages pushed */
	uint64_t recv[BENCH_MAX_PROCS];	   /* consumer: messages from producer i */
	uint64_t seq_sum[BENCH_MAX_PROCS]; /* consumer: sum of their seqs */
};

/* A counter its process stores to after every message (or batch), on a line
 * of its own: the store stays in that core's cache until the parent reads
 * it, twice per trial. */
struct progress {
	_Atomic uint64_t n;
	char pad[120];
} __attribute__((aligned(128)));

/* Shared by the parent and the trial's processes (MAP_SHARED anonymous). */
struct ctl {
	_Atomic uint32_t ready; /* processes set up and waiting for go */
	_Atomic uint32_t go;	/* futex word */
	uint64_t t_warm, t_end; /* CLOCK_MONOTONIC: measure from, stop at */
	_Atomic uint32_t stop;	/* throughput: the parent's "stop producing" */
	_Atomic uint32_t solo;	/* draining is slow: consumers but the first leave */
	_Atomic uint32_t producers_done, consumers_done;
	struct progress progress[BENCH_MAX_PROCS]; /* consumers' message counts */
	_Atomic uint32_t error_claimed;
	char error[240];
	struct proc_out out[BENCH_MAX_PROCS];
	uint64_t samples[]; /* latency trials: round trips in TSC ticks */
};

struct trial {
	const struct xp_ops *ops; /* NULL for the machine-limit trials */
	struct xp_cfg cfg;
	struct shmring_mem *seg;
	struct xp_chan ch[2];
	unsigned nchan;
	struct ctl *ctl;
	size_t ctl_len, max_samples;
	pid_t pid[BENCH_MAX_PROCS];
	unsigned nproc;
};

/* Process body: returns the exit status (0 = ok). */
typedef int (*proc_fn)(struct trial *t, unsigned index);

/* A segment holding NCHAN channels (SEG_BYTES each when OPS is NULL), set up
 * by OPS; room for MAX_SAMPLES latency samples. 0, or -1 with errno. */
int trial_open(struct trial *t, const struct xp_ops *ops, const struct xp_cfg *c,
	       unsigned nchan, size_t seg_bytes, size_t max_samples);
/* Forks a process pinned to CPU that runs FN(t, INDEX). */
int trial_spawn(struct trial *t, int cpu, proc_fn fn, unsigned index);
/* What happened between the parent's two snapshots: messages the consumers
 * took, and the time the trial's processes spent runnable but waiting for a
 * CPU (run_delay in /proc/PID/schedstat), summed. */
struct window {
	uint64_t count, ns, waited_ns;
	unsigned nproc;
};

/* Share of the processes' time in the window spent waiting for a CPU. */
double window_waited(const struct window *w);

/* Releases the processes once all are ready, with the window
 * [now + WARM_NS, now + DUR_NS), and reaps them. The parent snapshots the
 * progress counters and run-queue waits at both ends of the window into WIN,
 * then sets ctl->stop. 0 when all exited with 0; else -1 and the reason in ERR. */
int trial_run(struct trial *t, uint64_t warm_ns, uint64_t dur_ns, struct window *win,
	      char *err, size_t len);
/* Kills and reaps the processes still running (after a failed spawn). */
void trial_kill(struct trial *t);
void trial_close(struct trial *t);

/* In a process: announce readiness and wait for go. */
void proc_ready_wait(struct trial *t);
/* In a process: record the trial's first error; returns the exit status 1. */
int proc_fail(struct trial *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* CPU for a process: producers on the first CPU, consumers on the second
 * when there are fewer CPUs than processes (the 2-core case). */
int cpu_for(const struct xp_cfg *c, enum shmring_role role, unsigned index);
int bench_ncpus(void);

/* ---- measurements ----------------------------------------------------------- */

struct run_opts {
	uint64_t dur_ns, warm_ns;
	size_t lat_samples; /* latency: at most this many round trips */
};

struct tp_result {
	double msgs_per_s, bytes_per_s;
	uint64_t moved; /* messages checked, whole trial */
	double waited;	/* window_waited(): how much the neighbours disturbed it */
};

struct lat_result {
	double p50, p99, p999, min, max; /* ns */
	size_t n;
	double waited;	/* as in tp_result */
	double *sorted; /* all round trips, ns, ascending (malloc'd; caller frees) */
};

int tp_run(const struct xp_ops *ops, const struct xp_cfg *c, const struct run_opts *o,
	   struct tp_result *res, char *err, size_t len);
/* Machine limit: one process copies elem-sized blocks into a cap-slot buffer. */
int tp_memcpy(const struct xp_cfg *c, const struct run_opts *o, struct tp_result *res,
	      char *err, size_t len);
/* Machine limit: the region handed between the two CPUs half by half. */
int tp_c2c(const struct xp_cfg *c, const struct run_opts *o, struct tp_result *res,
	   char *err, size_t len);
/* Latency trials return 0, -1 on failure, or 1 when the window held no
 * round trip at all (the neighbours took it): worth running again. */
int lat_run(const struct xp_ops *ops, const struct xp_cfg *c, const struct run_opts *o,
	    struct lat_result *res, char *err, size_t len);
/* Machine limit: round trip of one cache line each way between the two CPUs
 * (LINES 1), or of a flag line and a data line each way (LINES 2). */
int lat_cacheline(unsigned lines, const struct run_opts *o, struct lat_result *res,
		  char *err, size_t len);

/* Both ends in one process: ns per message (push + pop), or -1. */
double cost_run(const struct xp_ops *ops, const struct xp_cfg *c, uint64_t messages);

/* ---- time --------------------------------------------------------------------- */

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Round trips are timed with the TSC where there is one: it costs half of a
 * clock_gettime here, and that overhead lands in every sample. */
#if defined(__x86_64__)
#include <x86intrin.h>
static inline uint64_t ticks(void)
{
	return __rdtsc();
}
#else
static inline uint64_t ticks(void)
{
	return now_ns();
}
#endif
double ticks_per_ns(void); /* calibrated once */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif /* SHMRING_BENCH_H */
