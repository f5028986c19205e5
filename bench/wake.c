// SPDX-License-Identifier: MIT
/*
 * Wake latency: how long from a push until a *sleeping* consumer runs, for
 * each way shmring can wait, beside the raw kernel mechanisms it builds on,
 * measured in one run between the same two pinned processes.
 *
 * Every variant is a ping-pong in which each side sleeps until the other
 * wakes it (no spinning), so half a round trip is one wakeup:
 *   futex          raw FUTEX_WAIT / FUTEX_WAKE on shared words   (the floor)
 *   eventfd+epoll  raw: write the partner's eventfd, epoll_wait on ours
 *   blocking       shmring_pop/push with spin_ns < 0 (futex eventcount)
 *   fd io_uring    epoll on shmring_fd(), io_uring FUTEX_WAIT backend
 *   fd thread      epoll on shmring_fd(), eventfd + waiter thread backend
 * Ratios: blocking / futex, fd backends / eventfd+epoll. Every message is
 * checked (tests/msg.h). Medians of REPS runs of ROUNDS round trips each.
 *
 *   wake [-r ROUNDS] [-n REPS] [-c CSV]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"
#include "msg.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ELEM 64

enum variant { V_FUTEX, V_EVENTFD, V_BLOCKING, V_FD_URING, V_FD_THREAD, V_COUNT };
static const char *const names[] = { "futex", "eventfd+epoll", "blocking", "fd io_uring",
				     "fd thread" };

struct shared {
	_Atomic uint32_t word[2]; /* raw futex: turn counters */
	_Atomic int ready;
	_Atomic uint64_t errors;
	int efd[2]; /* raw eventfds, created before fork */
	uint64_t samples[];
};

static struct shared *sh;
static long rounds = 20000;
static char base[64];

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % (int)sysconf(_SC_NPROCESSORS_ONLN), &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void die(const char *what)
{
	fprintf(stderr, "wake: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- raw mechanisms ------------------------------------------------------ */

static void futex_side(int me, long n)
{
	_Atomic uint32_t *mine = &sh->word[me], *theirs = &sh->word[1 - me];

	for (long i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		if (me == 0) {
			atomic_fetch_add(theirs, 1);
			syscall(SYS_futex, theirs, FUTEX_WAKE, 1, NULL, NULL, 0);
		}
		while (atomic_load(mine) == (uint32_t)i)
			syscall(SYS_futex, mine, FUTEX_WAIT, (uint32_t)i, NULL, NULL, 0);
		if (me == 1) {
			atomic_fetch_add(theirs, 1);
			syscall(SYS_futex, theirs, FUTEX_WAKE, 1, NULL, NULL, 0);
		} else {
			sh->samples[i] = now_ns() - t0;
		}
	}
}

static void eventfd_side(int me, long n)
{
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };
	uint64_t one = 1, got;

	epoll_ctl(ep, EPOLL_CTL_ADD, sh->efd[me], &ev);
	for (long i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		if (me == 0 && write(sh->efd[1], &one, 8) != 8)
			die("write");
		while (epoll_wait(ep, &ev, 1, -1) < 1)
			;
		if (read(sh->efd[me], &got, 8) != 8)
			die("read");
		if (me == 1 && write(sh->efd[0], &one, 8) != 8)
			die("write");
		if (me == 0)
			sh->samples[i] = now_ns() - t0;
	}
	close(ep);
}

/* ---- shmring ------------------------------------------------------------- */

/* Side ME sends on ring "base-ME" and receives on "base-(1-ME)". */
static void open_pair(int me, enum variant v, struct shmring **tx, struct shmring **rx)
{
	char tname[96], rname[96];
	SHMRING_OPTS(o, .spin_ns = -1,
		     .fd_backend =
			     v == V_FD_URING ? SHMRING_FD_URING : SHMRING_FD_THREAD);

	snprintf(tname, sizeof(tname), "%s-%d", base, me);
	snprintf(rname, sizeof(rname), "%s-%d", base, 1 - me);
	*tx = shmring_producer(SHMRING_SPSC, tname, ELEM, 16, &o);
	*rx = shmring_consumer(SHMRING_SPSC, rname, ELEM, 16, &o);
	if (!*tx || !*rx)
		die("open rings");
	if (v != V_BLOCKING && shmring_fd(*rx) < 0)
		die("shmring_fd");
}

static void receive(enum variant v, struct shmring *rx, int ep, unsigned char *m)
{
	struct epoll_event ev;

	if (v == V_BLOCKING) {
		if (shmring_pop(rx, m))
			die("pop");
		return;
	}
	while (shmring_try_pop(rx, m)) { /* EAGAIN re-arms the fd */
		if (errno != EAGAIN)
			die("try_pop");
		while (epoll_wait(ep, &ev, 1, -1) < 1)
			; /* EINTR: io_uring task work */
	}
}

static void shmring_side(int me, enum variant v, long n)
{
	struct shmring *tx, *rx;
	struct epoll_event ev = { .events = EPOLLIN };
	unsigned char m[ELEM];
	int ep = -1;

	open_pair(me, v, &tx, &rx);
	if (v != V_BLOCKING) {
		ep = epoll_create1(0);
		epoll_ctl(ep, EPOLL_CTL_ADD, shmring_fd(rx), &ev);
	}
	atomic_fetch_add(&sh->ready, 1);
	while (atomic_load(&sh->ready) < 2)
		sched_yield();
	for (long i = 0; i < n; i++) {
		uint64_t t0 = now_ns(), seq;
		uint32_t prod;

		if (me == 0) {
			msg_fill(m, ELEM, 0, (uint64_t)i);
			if (shmring_push(tx, m))
				die("push");
		}
		receive(v, rx, ep, m);
		if (msg_check(m, ELEM, &prod, &seq) || prod != 1u - (uint32_t)me ||
		    seq != (uint64_t)i)
			atomic_fetch_add(&sh->errors, 1);
		if (me == 1) {
			msg_fill(m, ELEM, 1, (uint64_t)i);
			if (shmring_push(tx, m))
				die("push");
		} else {
			sh->samples[i] = now_ns() - t0;
		}
	}
	if (ep >= 0)
		close(ep);
	shmring_close(tx);
	shmring_close(rx);
}

/* ---- driver -------------------------------------------------------------- */

static void side(int me, enum variant v)
{
	pin(me);
	if (v == V_FUTEX)
		futex_side(me, rounds);
	else if (v == V_EVENTFD)
		eventfd_side(me, rounds);
	else
		shmring_side(me, v, rounds);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One run of variant V: the median and p99 of one-way wake latency (ns). */
static void run(enum variant v, double *p50, double *p99)
{
	pid_t pid;
	char n0[96], n1[96];

	memset(sh->word, 0, sizeof(sh->word));
	sh->ready = 0;
	pid = fork();
	if (pid == 0) {
		side(1, v);
		_exit(0);
	}
	side(0, v);
	waitpid(pid, NULL, 0);
	snprintf(n0, sizeof(n0), "%s-0", base);
	snprintf(n1, sizeof(n1), "%s-1", base);
	shmring_unlink(n0);
	shmring_unlink(n1);
	qsort(sh->samples, (size_t)rounds, sizeof(uint64_t), cmp_u64);
	*p50 = (double)sh->samples[rounds / 2] / 2;
	*p99 = (double)sh->samples[rounds * 99 / 100] / 2;
}

static double median(double *v, int n)
{
	for (int i = 1; i < n; i++) /* insertion sort: n is small */
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	int reps = 5, opt;
	const char *csv = NULL;
	double p50[V_COUNT][32], p99[V_COUNT][32], m50[V_COUNT], m99[V_COUNT];
	FILE *out;

	while ((opt = getopt(argc, argv, "r:n:c:")) != -1) {
		if (opt == 'r')
			rounds = atol(optarg);
		else if (opt == 'n')
			reps = atoi(optarg);
		else if (opt == 'c')
			csv = optarg;
		else
			return fprintf(stderr,
				       "usage: wake [-r rounds] [-n reps] [-c csv]\n"),
			       2;
	}
	if (rounds < 100 || reps < 1 || reps > 32)
		return fprintf(stderr, "wake: -r >= 100, 1 <= -n <= 32\n"), 2;
	sh = mmap(NULL, sizeof(*sh) + (size_t)rounds * sizeof(uint64_t),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap");
	sh->efd[0] = eventfd(0, 0);
	sh->efd[1] = eventfd(0, 0);
	snprintf(base, sizeof(base), "shmring-bench-wake-%d", (int)getpid());
	/* Interleave the variants within each repetition: drift on a shared
	 * machine then hits them alike. */
	for (int r = 0; r < reps; r++)
		for (int v = 0; v < V_COUNT; v++)
			run((enum variant)v, &p50[v][r], &p99[v][r]);
	printf("wake latency, one way (half a sleeping ping-pong), %ld round trips x %d runs,\n"
	       "medians over runs; processes pinned to CPUs 0 and 1\n\n",
	       rounds, reps);
	printf("%-14s %10s %10s %12s\n", "variant", "p50 us", "p99 us", "p50 ratio");
	for (int v = 0; v < V_COUNT; v++) {
		m50[v] = median(p50[v], reps);
		m99[v] = median(p99[v], reps);
	}
	for (int v = 0; v < V_COUNT; v++) {
		int peer = v == V_BLOCKING ? V_FUTEX : v >= V_FD_URING ? V_EVENTFD : -1;
		char ratio[48] = "";

		if (peer >= 0)
			snprintf(ratio, sizeof(ratio), "%.2fx %s", m50[v] / m50[peer],
				 names[peer]);
		printf("%-14s %10.2f %10.2f   %s\n", names[v], m50[v] / 1000,
		       m99[v] / 1000, ratio);
	}
	if (csv && (out = fopen(csv, "w"))) {
		fprintf(out, "variant,p50_ns,p99_ns\n");
		for (int v = 0; v < V_COUNT; v++)
			fprintf(out, "%s,%.0f,%.0f\n", names[v], m50[v], m99[v]);
		fclose(out);
	}
	if (sh->errors) {
		fprintf(stderr, "wake: %llu bad messages\n",
			(unsigned long long)sh->errors);
		return 1;
	}
	return 0;
}
