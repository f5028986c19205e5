// SPDX-License-Identifier: MIT
/*
 * Trials: one shared segment per trial, the transport's channels in it, a
 * control block, and forked processes pinned to CPUs.
 *
 * Every transport gets the same kind of memory: a POSIX shm segment made by
 * shmring_mem_shm and unlinked at once (the mapping and fd live on, so a
 * trial that dies leaves nothing in /dev/shm), pre-faulted by the parent and
 * again by each process (MADV_POPULATE_WRITE), so no page fault lands in a
 * measuring window. A fresh segment per trial: no transport inherits another's
 * cache or page state.
 */
#include "bench.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* A trial that takes this much longer than its window has hung. */
#define TRIAL_SLACK_S 30
/* Draining the transport after the window should take milliseconds. */
#define DRAIN_GRACE_S 2

static void futex_wait(_Atomic uint32_t *word, uint32_t val)
{
	syscall(SYS_futex, word, FUTEX_WAIT, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* ---- CPUs ------------------------------------------------------------------ */

static int cpus[64];
static int ncpus;

int bench_ncpus(void)
{
	cpu_set_t set;

	if (ncpus)
		return ncpus;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int i = 0; i < CPU_SETSIZE && ncpus < 64; i++)
			if (CPU_ISSET(i, &set))
				cpus[ncpus++] = i;
	if (!ncpus)
		cpus[ncpus++] = 0;
	return ncpus;
}

int cpu_for(const struct xp_cfg *c, enum shmring_role role, unsigned index)
{
	int n = bench_ncpus();
	unsigned producers = c->producers ? c->producers : 1;

	if (producers + (c->consumers ? c->consumers : 1) <= (unsigned)n)
		return cpus[role == SHMRING_PRODUCER ? index : producers + index];
	return cpus[role == SHMRING_PRODUCER ? 0 : 1 % n];
}

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* ---- segment and control block ------------------------------------------- */

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

static struct shmring_mem *segment_new(size_t size)
{
	static unsigned counter;
	struct shmring_mem *seg;
	char name[64];

	snprintf(name, sizeof(name), "shmring-bench-%d-%u", (int)getpid(), counter++);
	seg = shmring_mem_shm(name, size);
	if (seg)
		shmring_mem_unlink(name);
	return seg;
}

static int channels_setup(struct trial *t, size_t each)
{
	for (unsigned i = 0; i < t->nchan; i++) {
		struct xp_chan *ch = &t->ch[i];

		ch->seg = t->seg;
		ch->offset = i * each;
		ch->base = shmring_mem_get(t->seg, ch->offset);
		if (t->ops && t->ops->setup(ch, &t->cfg))
			return -1;
	}
	return 0;
}

int trial_open(struct trial *t, const struct xp_ops *ops, const struct xp_cfg *c,
	       unsigned nchan, size_t seg_bytes, size_t max_samples)
{
	/* Page-aligned channels; transports without shared memory get a page. */
	size_t each = round_up((ops ? ops->memsize(c) : seg_bytes) | 1, 4096);

	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < 2; i++)
		t->ch[i].fd[0] = t->ch[i].fd[1] = -1; /* teardown closes only these */
	t->ops = ops;
	t->cfg = *c;
	t->nchan = nchan;
	t->max_samples = max_samples;
	t->ctl_len = sizeof(struct ctl) + max_samples * sizeof(uint64_t);
	t->ctl = mmap(NULL, t->ctl_len, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (t->ctl == MAP_FAILED) {
		t->ctl = NULL;
		return -1;
	}
	t->seg = segment_new(each * nchan);
	if (!t->seg)
		return -1;
	/* Allocate every page now, not in the window (ENOMEM shows here). */
	if (madvise(shmring_mem_get(t->seg, 0), shmring_mem_size(t->seg),
		    MADV_POPULATE_WRITE))
		return -1;
	return channels_setup(t, each);
}

void trial_close(struct trial *t)
{
	for (unsigned i = 0; i < t->nchan && t->ops && t->seg; i++)
		t->ops->teardown(&t->ch[i]);
	shmring_mem_close(t->seg);
	if (t->ctl)
		munmap(t->ctl, t->ctl_len);
	t->seg = NULL;
	t->ctl = NULL;
}

/* ---- processes --------------------------------------------------------------- */

int trial_spawn(struct trial *t, int cpu, proc_fn fn, unsigned index)
{
	pid_t pid;

	fflush(NULL); /* or the child flushes the parent's buffered output again */
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (pin(cpu))
			_exit(proc_fail(t, "sched_setaffinity(%d): %s", cpu,
					strerror(errno)));
		/* The parent's page table entries do not come along with fork
		 * for a shared mapping: fault them in here, before the window. */
		madvise(shmring_mem_get(t->seg, 0), shmring_mem_size(t->seg),
			MADV_POPULATE_WRITE);
		_exit(fn(t, index));
	}
	t->pid[t->nproc++] = pid;
	return 0;
}

void proc_ready_wait(struct trial *t)
{
	atomic_fetch_add_explicit(&t->ctl->ready, 1, memory_order_release);
	while (!atomic_load_explicit(&t->ctl->go, memory_order_acquire))
		futex_wait(&t->ctl->go, 0);
}

int proc_fail(struct trial *t, const char *fmt, ...)
{
	va_list ap;

	if (!atomic_exchange(&t->ctl->error_claimed, 1)) {
		va_start(ap, fmt);
		vsnprintf(t->ctl->error, sizeof(t->ctl->error), fmt, ap);
		va_end(ap);
	}
	return 1;
}

static void on_alarm(int sig)
{
	(void)sig; /* only here to interrupt waitpid */
}

static void kill_all(struct trial *t)
{
	for (unsigned i = 0; i < t->nproc; i++)
		if (t->pid[i] > 0)
			kill(t->pid[i], SIGKILL);
}

static void forget(struct trial *t, pid_t pid)
{
	for (unsigned i = 0; i < t->nproc; i++)
		if (t->pid[i] == pid)
			t->pid[i] = 0;
}

/* Reaps every process; the first failure kills the others, because a
 * consumer that found a bad message leaves its producer blocked forever.
 * After GRACE_S (0: never) the consumers are asked to let the first of them
 * drain the rest alone: two consumers of a ring whose consumers wait for each
 * other (rte_ring and ck_ring MC) on one CPU can take minutes to drain 65536
 * messages, one time slice per message; one consumer takes milliseconds. */
static int reap(struct trial *t, unsigned grace_s, unsigned timeout_s, char *err,
		size_t len)
{
	struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */
	int failed = 0;

	sigaction(SIGALRM, &sa, NULL);
	alarm(grace_s ? grace_s : timeout_s);
	for (unsigned left = t->nproc; left;) {
		int st;
		pid_t pid = waitpid(-1, &st, 0);

		if (pid < 0 && errno == EINTR && grace_s) {
			atomic_store_explicit(&t->ctl->solo, 1, memory_order_relaxed);
			grace_s = 0;
			alarm(timeout_s);
			continue;
		}
		if (pid < 0) {
			if (errno != EINTR)
				break;
			snprintf(err, len, "timed out after %u s", timeout_s);
			kill_all(t);
			alarm(timeout_s);
			failed = 1;
			continue;
		}
		forget(t, pid);
		left--;
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			if (!failed && !t->ctl->error[0])
				snprintf(err, len, "process %d: %s %d", (int)pid,
					 WIFEXITED(st) ? "exit" : "signal",
					 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			failed = 1;
			kill_all(t);
		}
	}
	alarm(0);
	t->nproc = 0;
	if (failed && t->ctl->error[0])
		snprintf(err, len, "%s", t->ctl->error);
	return failed ? -1 : 0;
}

void trial_kill(struct trial *t)
{
	char ignore[8];

	if (t->nproc) {
		kill_all(t);
		reap(t, 0, TRIAL_SLACK_S, ignore, sizeof(ignore));
	}
}

static int wait_ready(struct trial *t, char *err, size_t len)
{
	struct timespec nap = { 0, 200000 };

	while (atomic_load_explicit(&t->ctl->ready, memory_order_acquire) < t->nproc) {
		if (waitpid(-1, NULL, WNOHANG) > 0 || t->ctl->error[0]) {
			snprintf(err, len, "setup: %s",
				 t->ctl->error[0] ? t->ctl->error : "a process died");
			kill_all(t);
			reap(t, 0, TRIAL_SLACK_S, err, len);
			return -1;
		}
		nanosleep(&nap, NULL);
	}
	return 0;
}

static void sleep_until(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Nanoseconds PID has spent runnable but not running (0 if unknown). */
static uint64_t run_delay(pid_t pid)
{
	unsigned long long run, wait = 0;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%llu %llu", &run, &wait) != 2)
			wait = 0;
		fclose(f);
	}
	return wait;
}

/* The consumers' total, when it was read (the middle of the reads), and how
 * long the processes have waited for a CPU so far. */
static void snapshot(struct trial *t, struct window *at)
{
	uint64_t t0 = now_ns(), n = 0;

	for (unsigned i = 0; i < BENCH_MAX_PROCS; i++)
		n += atomic_load_explicit(&t->ctl->progress[i].n, memory_order_relaxed);
	at->count = n;
	at->ns = t0 + (now_ns() - t0) / 2;
	at->waited_ns = 0;
	for (unsigned i = 0; i < t->nproc; i++)
		at->waited_ns += run_delay(t->pid[i]);
}

/* The parent keeps the time, so the hot loops never read a clock: it wakes
 * at both ends of the window, wherever the scheduler lets it, and what it
 * reads is what happened between its two reads. A parent that wakes late
 * still gets a full-length window: producers run until it says stop. */
static void measure(struct trial *t, struct window *win)
{
	uint64_t len = t->ctl->t_end - t->ctl->t_warm;
	struct window a, b;

	sleep_until(t->ctl->t_warm);
	snapshot(t, &a);
	sleep_until(a.ns + len > t->ctl->t_end ? a.ns + len : t->ctl->t_end);
	snapshot(t, &b);
	atomic_store_explicit(&t->ctl->stop, 1, memory_order_relaxed);
	win->count = b.count - a.count;
	win->ns = b.ns - a.ns;
	win->waited_ns = b.waited_ns - a.waited_ns;
	win->nproc = t->nproc;
}

double window_waited(const struct window *w)
{
	return w->ns && w->nproc ? (double)w->waited_ns / ((double)w->ns * w->nproc) : 0;
}

int trial_run(struct trial *t, uint64_t warm_ns, uint64_t dur_ns, struct window *win,
	      char *err, size_t len)
{
	uint64_t now;

	if (wait_ready(t, err, len))
		return -1;
	now = now_ns();
	t->ctl->t_warm = now + warm_ns;
	t->ctl->t_end = now + dur_ns;
	atomic_store_explicit(&t->ctl->go, 1, memory_order_release);
	futex_wake(&t->ctl->go);
	measure(t, win);
	return reap(t, DRAIN_GRACE_S, (unsigned)(dur_ns / 1000000000ull) + TRIAL_SLACK_S,
		    err, len);
}
