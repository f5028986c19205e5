// SPDX-License-Identifier: MIT
/*
 * The main demo (`make demo`): real producer and consumer processes that open
 * rings by name, move self-checking messages (tests/msg.h: producer id,
 * sequence number, checksum; every one verified, per-producer order checked),
 * and report throughput and round-trip latency, beside a pipe() between the
 * same two processes in the same run.
 *
 *   build/demo [-n MESSAGES] [-r ROUND_TRIPS]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, sched_setaffinity with plain -std=c11 */
#endif
#include <shmring.h>

#include "msg.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 8
#define MAX_ELEM  1472

struct board {
	_Atomic int ready, go;
	_Atomic uint64_t received, errors, t_end;
	uint64_t rtt[]; /* round-trip samples, ns */
};

struct run {
	const char *label;
	enum shmring_policy policy; /* 0: pipe() */
	int producers, consumers;
	size_t elem, cap;
	uint64_t messages, round_trips;
	double msgs_per_s, gb_per_s, p50_us, p99_us;
};

static struct board *board;
static char ring_name[64];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One process per CPU where we can: producer on 0, consumer on 1. */
static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % (int)sysconf(_SC_NPROCESSORS_ONLN), &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void fail(const char *what)
{
	fprintf(stderr, "demo: %s: %s\n", what, strerror(errno));
	atomic_fetch_add(&board->errors, 1);
	_exit(1);
}

static void start_line(void)
{
	atomic_fetch_add(&board->ready, 1);
	while (!atomic_load(&board->go))
		sched_yield();
}

/* ---- throughput ---------------------------------------------------------- */

static void producer(const struct run *r, uint32_t id, int fd)
{
	struct shmring *ring = NULL;
	unsigned char m[MAX_ELEM];
	uint64_t n = r->messages / (uint64_t)r->producers;

	if (r->policy &&
	    !(ring = shmring_producer(r->policy, ring_name, r->elem, r->cap, NULL)))
		fail("open producer");
	start_line();
	for (uint64_t seq = 0; seq < n; seq++) {
		msg_fill(m, r->elem, id, seq);
		if (ring ? shmring_push(ring, m) != 0 :
			   write(fd, m, r->elem) != (ssize_t)r->elem)
			fail("push");
	}
	shmring_close(ring);
	_exit(0);
}

static bool read_full(int fd, unsigned char *m, size_t len)
{
	for (size_t got = 0; got < len;) {
		ssize_t k = read(fd, m + got, len - got);

		if (k <= 0)
			return false;
		got += (size_t)k;
	}
	return true;
}

static void consumer(const struct run *r, int fd)
{
	struct shmring *ring = NULL;
	unsigned char m[MAX_ELEM];
	uint64_t last[MAX_PROCS], per = r->messages / (uint64_t)r->producers;
	const uint64_t total = per * (uint64_t)r->producers;

	if (r->policy &&
	    !(ring = shmring_consumer(r->policy, ring_name, r->elem, r->cap, NULL)))
		fail("open consumer");
	for (int i = 0; i < MAX_PROCS; i++)
		last[i] = UINT64_MAX;
	start_line();
	while (atomic_load_explicit(&board->received, memory_order_relaxed) < total) {
		uint32_t prod;
		uint64_t seq;

		if (ring ? shmring_timed_pop(ring, m, 100000000) != 0 :
			   !read_full(fd, m, r->elem))
			continue; /* another consumer took the last ones */
		if (msg_check(m, r->elem, &prod, &seq) ||
		    prod >= (uint32_t)r->producers ||
		    (last[prod] != UINT64_MAX && seq <= last[prod]) ||
		    (r->consumers == 1 && seq != last[prod] + 1)) {
			fprintf(stderr, "demo: bad message (producer %u, seq %llu)\n",
				prod, (unsigned long long)seq);
			atomic_fetch_add(&board->errors, 1);
		}
		last[prod] = seq;
		if (atomic_fetch_add(&board->received, 1) + 1 == total)
			atomic_store(&board->t_end, now_ns());
	}
	shmring_close(ring);
	_exit(0);
}

static void run_throughput(struct run *r)
{
	int pfd[2] = { -1, -1 }, procs = r->producers + r->consumers;
	pid_t pids[MAX_PROCS];
	uint64_t t0;

	if (!r->policy && pipe(pfd))
		fail("pipe");
	board->ready = board->go = 0;
	board->received = board->t_end = 0;
	for (int i = 0; i < procs; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			pin(i < r->consumers ? 1 : 0);
			if (i < r->consumers)
				consumer(r, pfd[0]);
			producer(r, (uint32_t)(i - r->consumers), pfd[1]);
		}
	}
	while (atomic_load(&board->ready) < procs)
		usleep(100);
	t0 = now_ns();
	atomic_store(&board->go, 1);
	for (int i = 0; i < procs; i++)
		waitpid(pids[i], NULL, 0);
	if (pfd[0] >= 0) {
		close(pfd[0]);
		close(pfd[1]);
	}
	shmring_unlink(ring_name);
	double secs = (double)(board->t_end - t0) * 1e-9;
	r->msgs_per_s = (double)board->received / secs;
	r->gb_per_s = r->msgs_per_s * (double)r->elem * 1e-9;
}

/* ---- round trips --------------------------------------------------------- */

/* Endpoint ping-pong with the run's policy (or two pipes): side A times each
 * round trip, side B verifies and answers. Both check every message. */
static void play(const struct run *r, enum shmring_side side, int in, int out)
{
	struct shmring_endpoint *ep = NULL;
	unsigned char m[MAX_ELEM];
	const uint32_t me = side == SHMRING_SIDE_A ? 0 : 1;

	if (r->policy && !(ep = shmring_endpoint_open(r->policy, side, ring_name, r->elem,
						      r->cap, NULL)))
		fail("open endpoint");
	start_line();
	/* 1000 warm-up rounds, then the timed ones. */
	for (uint64_t i = 0; i < r->round_trips + 1000; i++) {
		uint64_t t0 = now_ns(), seq;
		uint32_t prod;

		if (me == 0) {
			msg_fill(m, r->elem, me, i);
			if (ep ? shmring_send(ep, m) :
				 write(out, m, r->elem) != (ssize_t)r->elem)
				fail("send");
		}
		if (ep ? shmring_receive(ep, m) != 0 : !read_full(in, m, r->elem))
			fail("receive");
		if (msg_check(m, r->elem, &prod, &seq) || prod != 1 - me || seq != i)
			atomic_fetch_add(&board->errors, 1);
		if (me == 1) {
			msg_fill(m, r->elem, me, i);
			if (ep ? shmring_send(ep, m) :
				 write(out, m, r->elem) != (ssize_t)r->elem)
				fail("send");
		} else if (i >= 1000) {
			board->rtt[i - 1000] = now_ns() - t0;
		}
	}
	shmring_endpoint_close(ep);
	_exit(0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void run_latency(struct run *r)
{
	int ab[2] = { -1, -1 }, ba[2] = { -1, -1 };
	pid_t a, b;

	if (!r->policy && (pipe(ab) || pipe(ba)))
		fail("pipe");
	board->ready = board->go = 0;
	if ((a = fork()) == 0) {
		pin(1);
		play(r, SHMRING_SIDE_B, ab[0], ba[1]);
	}
	if ((b = fork()) == 0) {
		pin(0);
		play(r, SHMRING_SIDE_A, ba[0], ab[1]);
	}
	while (atomic_load(&board->ready) < 2)
		usleep(100);
	atomic_store(&board->go, 1);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
	for (int i = 0; i < 2 && ab[0] >= 0; i++) {
		close(ab[i]);
		close(ba[i]);
	}
	shmring_endpoint_unlink(ring_name);
	qsort(board->rtt, r->round_trips, sizeof(uint64_t), cmp_u64);
	r->p50_us = (double)board->rtt[r->round_trips / 2] * 1e-3;
	r->p99_us = (double)board->rtt[r->round_trips * 99 / 100] * 1e-3;
}

int main(int argc, char **argv)
{
	uint64_t messages = 2000000, round_trips = 100000;
	struct run runs[] = {
		{ "spsc", SHMRING_SPSC, 1, 1, 64, 1024, 0, 0, 0, 0, 0, 0 },
		{ "mpsc", SHMRING_MPSC, 2, 1, 64, 1024, 0, 0, 0, 0, 0, 0 },
		{ "mpmc", SHMRING_MPMC, 2, 2, 64, 1024, 0, 0, 0, 0, 0, 0 },
		{ "spsc 1472 B", SHMRING_SPSC, 1, 1, 1472, 144, 0, 0, 0, 0, 0, 0 },
		{ "pipe()", 0, 1, 1, 64, 0, 0, 0, 0, 0, 0, 0 },
	};
	const size_t nruns = sizeof(runs) / sizeof(runs[0]);
	int opt;

	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		if (opt == 'n')
			messages = strtoull(optarg, NULL, 0);
		else if (opt == 'r')
			round_trips = strtoull(optarg, NULL, 0);
		else
			return fprintf(stderr,
				       "usage: %s [-n messages] [-r round_trips]\n",
				       argv[0]),
			       2;
	}
	if (messages < 4 || round_trips < 100)
		return fprintf(stderr, "demo: need -n >= 4 and -r >= 100\n"), 2;
	board = mmap(NULL, sizeof(*board) + round_trips * sizeof(uint64_t),
		     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (board == MAP_FAILED)
		return perror("mmap"), 1;
	snprintf(ring_name, sizeof(ring_name), "shmring-demo-%d", (int)getpid());

	printf("shmring demo: real processes open rings by name; every message is checked\n"
	       "(producer id, sequence, checksum, per-producer order). %d CPUs.\n\n",
	       (int)sysconf(_SC_NPROCESSORS_ONLN));
	printf("Throughput: producers x consumers, blocking push/pop. Round trip: an\n"
	       "endpoint (two rings of the same policy) ping-pong between two processes.\n\n");
	printf("%-12s %-6s %5s %9s %12s %8s %10s %10s\n", "ring", "procs", "elem",
	       "messages", "msgs/s", "GB/s", "rtt p50", "rtt p99");
	for (size_t i = 0; i < nruns; i++) {
		struct run *r = &runs[i];

		r->messages = r->elem > 64 ? messages / 4 : messages;
		r->round_trips = round_trips;
		run_throughput(r);
		run_latency(r);
		printf("%-12s %dx%-4d %5zu %9llu %12.0f %8.3f %8.2f us %7.2f us\n",
		       r->label, r->producers, r->consumers, r->elem,
		       (unsigned long long)board->received, r->msgs_per_s, r->gb_per_s,
		       r->p50_us, r->p99_us);
		fflush(stdout);
	}
	printf("\nSPSC 64 B throughput is %.1fx a pipe() between the same two processes;\n"
	       "its round trip p50 is %.1fx shorter.\n",
	       runs[0].msgs_per_s / runs[nruns - 1].msgs_per_s,
	       runs[nruns - 1].p50_us / runs[0].p50_us);
	if (board->errors) {
		printf("FAILED: %llu bad or missing messages\n",
		       (unsigned long long)board->errors);
		return 1;
	}
	printf("All messages verified.\n");
	return 0;
}
