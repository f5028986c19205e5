/* SPDX-License-Identifier: MIT */
/*
 * What the crash campaign (tests/crash.c, `make crash`) and the soak
 * (tests/soak.c, `make soak`) share: a seeded random source, shared memory
 * for the books the processes keep, child processes that die with their
 * parent, buffers whose end is a PROT_NONE page (deaths mid-copy), signal
 * handlers without SA_RESTART, and a log of violations that any process
 * appends to and the supervisor prints.
 *
 * Plain C11 + POSIX, no Criterion: these are programs of their own; the
 * Criterion test tests/test_crash.c runs their short forms.
 */
#ifndef SHMRING_TEST_HARNESS_H
#define SHMRING_TEST_HARNESS_H

#include <shmring.h>

#include "msg.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- time and randomness -------------------------------------------------- */

static inline uint64_t h_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct h_rng {
	uint64_t s;
};

static inline struct h_rng h_rng_seed(uint64_t a, uint64_t b)
{
	return (struct h_rng){ msg_mix(a * 0x2545f4914f6cdd1dull ^ msg_mix(b)) };
}

static inline uint64_t h_rand(struct h_rng *r)
{
	r->s += 0x9e3779b97f4a7c15ull;
	return msg_mix(r->s);
}

/* Uniform in [0, n) (n > 0). */
static inline uint64_t h_below(struct h_rng *r, uint64_t n)
{
	return h_rand(r) % n;
}

/* True with probability 1/n. */
static inline bool h_one_in(struct h_rng *r, uint64_t n)
{
	return h_below(r, n) == 0;
}

static inline void h_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Sleeps NS nanoseconds, through signals (EINTR resumes the rest). */
static inline void h_sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- shared memory -------------------------------------------------------- */

/* Zeroed memory shared with the children forked after it: reserved lazily
 * (MAP_NORESERVE), so a large table costs only the pages that are used. */
static inline void *h_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap shared");
		exit(2);
	}
	return p;
}

/* ---- violations ------------------------------------------------------------ */

#define H_LOG_LINES 48
#define H_LOG_LINE  320

/* Violations any process reports; the supervisor prints them. count goes on
 * after the lines are full. */
struct h_log {
	_Atomic uint64_t count;
	_Atomic uint32_t used;
	_Atomic uint32_t done[H_LOG_LINES]; /* line i is complete */
	char line[H_LOG_LINES][H_LOG_LINE];
};

static inline void h_vreport(struct h_log *log, const char *fmt, va_list ap)
{
	uint32_t i;

	atomic_fetch_add(&log->count, 1);
	i = atomic_fetch_add(&log->used, 1);
	if (i >= H_LOG_LINES)
		return;
	vsnprintf(log->line[i], H_LOG_LINE, fmt, ap);
	atomic_store(&log->done[i], 1);
}

static inline __attribute__((format(printf, 2, 3))) void h_report(struct h_log *log,
								  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	h_vreport(log, fmt, ap);
	va_end(ap);
}

/* Prints the lines not printed yet (from *SHOWN on) with PREFIX. */
static inline void h_log_print(struct h_log *log, uint32_t *shown, const char *prefix)
{
	uint32_t used = atomic_load(&log->used);

	if (used > H_LOG_LINES)
		used = H_LOG_LINES;
	for (; *shown < used; ++*shown)
		printf("%s%s\n", prefix,
		       atomic_load(&log->done[*shown]) ?
			       log->line[*shown] :
			       "(a process died while reporting)");
	fflush(stdout);
}

/* ---- processes ------------------------------------------------------------- */

/* fork() for a worker: it is SIGKILLed when the supervisor dies, so nothing
 * is left running or holding a ring. */
static inline pid_t h_spawn(int (*fn)(void *), void *arg)
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(99);
		_exit(fn(arg));
	}
	return pid;
}

/* What a wait status says, for reports. */
static inline const char *h_status_str(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "status 0x%x", st);
	return buf;
}

/* A call given TIMEOUT ns that took longer than that plus H_SLACK_NS (the
 * scheduling slack of a loaded 2-CPU machine) is reported to LOG. */
#define H_SLACK_NS 2000000000ull

static inline void h_timed_check(struct h_log *log, uint64_t t0, uint64_t timeout,
				 const char *what)
{
	uint64_t dt = h_now() - t0;

	if (dt > timeout + H_SLACK_NS)
		h_report(log,
			 "%s with a timeout of %" PRIu64 " ns returned after %" PRIu64
			 " ns",
			 what, timeout, dt);
}

/* ---- deaths mid-copy --------------------------------------------------------- */

/* A buffer of LEN accessible bytes followed by PROT_NONE pages, enough for
 * TAIL bytes: element J of a packed array placed with h_guard_array
 * straddles the boundary, so a copy of it faults half-way (SIGSEGV inside
 * whoever copies). TAIL is the most a copy may run past the boundary (a
 * burst: every element after J too): AddressSanitizer checks a memcpy's
 * whole range against its shadow before copying, and a range running on
 * into the next mapping (the left redzone of a large malloc chunk) is
 * reported, and exits 1, instead of faulting. */
struct h_guard {
	unsigned char *base;
	size_t len; /* accessible bytes before the PROT_NONE pages */
};

static inline struct h_guard h_guard_new(size_t len, size_t tail)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t none = (tail + page - 1) / page * page;
	struct h_guard g;

	len = (len + page - 1) / page * page;
	g.base = mmap(NULL, len + none, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g.base == MAP_FAILED || mprotect(g.base + len, none, PROT_NONE)) {
		perror("guard buffer");
		exit(2);
	}
	g.len = len;
	return g;
}

/* The start of a packed array of ELEM-byte elements whose element J has
 * its first half before the PROT_NONE page and its second half in it. */
static inline unsigned char *h_guard_array(const struct h_guard *g, size_t elem, size_t j)
{
	size_t before = j * elem + elem / 2;

	if (before > g->len)
		abort();
	return g->base + g->len - before;
}

/* Bytes of an element at P that are accessible (before the guard page). */
static inline size_t h_guard_room(const struct h_guard *g, const unsigned char *p,
				  size_t elem)
{
	size_t room = (size_t)(g->base + g->len - p);

	return room < elem ? room : elem;
}

/* Writes message (PRODUCER, SEQ) at P, only as far as the guard allows:
 * an element that straddles gets its first half (torn if ever delivered). */
static inline void h_guard_fill(const struct h_guard *g, unsigned char *p, size_t elem,
				uint32_t producer, uint64_t seq, unsigned char *scratch)
{
	msg_fill(scratch, elem, producer, seq);
	memcpy(p, scratch, h_guard_room(g, p, elem));
}

/* Signals this process may die of on purpose: the default action, even in
 * sanitizer builds that install handlers of their own. */
static inline void h_die_of_segv_plainly(void)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

/* ---- signals without SA_RESTART ---------------------------------------------- */

static volatile sig_atomic_t h_signals_seen;

static inline void h_on_signal(int sig)
{
	int e = errno; /* a handler must not change errno under its caller */

	(void)sig;
	h_signals_seen++;
	errno = e;
}

/* SIGUSR1 and SIGALRM interrupt blocking system calls (no SA_RESTART);
 * SIGALRM comes every INTERVAL_US microseconds (0: none). */
static inline void h_signals_install(long interval_us)
{
	struct sigaction sa = { .sa_handler = h_on_signal, .sa_flags = 0 };
	struct itimerval it = { { 0, interval_us }, { 0, interval_us } };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	if (interval_us > 0)
		setitimer(ITIMER_REAL, &it, NULL);
}

/* Before a worker opens its first ring: now and then publish with fences
 * (SHMRING_BARRIER=fence) or act as if membarrier were forbidden (=none,
 * sliced waits), so that processes of every kind share the rings. */
static inline void h_pick_barrier(struct h_rng *g)
{
	uint64_t r = h_below(g, 8);

	if (r == 0)
		setenv("SHMRING_BARRIER", "fence", 1);
	else if (r == 1)
		setenv("SHMRING_BARRIER", "none", 1);
	else
		unsetenv("SHMRING_BARRIER");
}

/* ---- names ------------------------------------------------------------------- */

static const char *const h_policy_name[] = { "?", "spsc", "mpsc", "mpmc" };

/* A ring name unique to this run: TAG, our pid, an index. */
static inline const char *h_ring_name(char *buf, size_t len, const char *tag, int idx)
{
	snprintf(buf, len, "shmring-%s-%d-%d", tag, (int)getpid(), idx);
	return buf;
}

/* Producer ids in messages (16 bits) that are not producers' incarnations. */
/* One direction's copying calls, push or pop, behind one signature, so
 * that a worker's retry logic is written once for both. */
struct h_dir {
	const char *try_name, *block_name, *timed_name, *burst_name, *zc_name;
	int (*try_)(struct shmring *r, unsigned char *buf);
	int (*block)(struct shmring *r, unsigned char *buf);
	int (*timed)(struct shmring *r, unsigned char *buf, uint64_t ns);
	ssize_t (*burst)(struct shmring *r, unsigned char *buf, size_t n);
};

static inline int h_try_push(struct shmring *r, unsigned char *b)
{
	return shmring_try_push(r, b);
}
static inline int h_push_(struct shmring *r, unsigned char *b)
{
	return shmring_push(r, b);
}
static inline int h_timed_push(struct shmring *r, unsigned char *b, uint64_t ns)
{
	return shmring_timed_push(r, b, ns);
}
static inline ssize_t h_push_burst(struct shmring *r, unsigned char *b, size_t n)
{
	return shmring_push_burst(r, b, n);
}
static inline int h_try_pop(struct shmring *r, unsigned char *b)
{
	return shmring_try_pop(r, b);
}
static inline int h_pop_(struct shmring *r, unsigned char *b)
{
	return shmring_pop(r, b);
}
static inline int h_timed_pop(struct shmring *r, unsigned char *b, uint64_t ns)
{
	return shmring_timed_pop(r, b, ns);
}
static inline ssize_t h_pop_burst(struct shmring *r, unsigned char *b, size_t n)
{
	return shmring_pop_burst(r, b, n);
}

static const struct h_dir h_push = {
	"try_push", "push",  "timed_push", "push_burst", "reserve",
	h_try_push, h_push_, h_timed_push, h_push_burst,
};
static const struct h_dir h_pop = {
	"try_pop", "pop",  "timed_pop", "pop_burst", "peek",
	h_try_pop, h_pop_, h_timed_pop, h_pop_burst,
};

#define H_ID_PILL   0xfffeu /* "stop": one per consumer at the end */
#define H_ID_POISON 0xfffdu /* written into slots given back by a commit */
#define H_ID_FINAL  0xfffcu /* the supervisor's last check of the ring */
#define H_ID_MAX    0xfff0u /* incarnations are 1 .. H_ID_MAX - 1 */

#endif /* SHMRING_TEST_HARNESS_H */
