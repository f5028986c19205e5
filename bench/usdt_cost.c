// SPDX-License-Identifier: MIT
/*
 * What the USDT probes cost while no tracer is attached (DESIGN.md §6: at
 * most 3% of SPSC 64-byte throughput).
 *
 *   usdt_cost run pair|single [MESSAGES]  one measurement, prints messages/s
 *   usdt_cost compare BIN_Y BIN_N [RUNS]  BIN_Y and BIN_N alternately
 *
 * `make bench-usdt` builds this program twice, against the library with
 * CONFIG_USDT=y and with CONFIG_USDT=n, and runs `compare`: RUNS rounds,
 * each running both (in alternating order, so neither always runs on a
 * warmer machine), then the medians and their ratio. The machine is noisy:
 * the ratio of medians measured in one run is the figure, not the rates.
 *
 * Two workloads, both through an SPSC ring of 144 64-byte slots in local
 * memory with try_push/try_pop, so every call passes a probe site (push/pop
 * on success, full/empty on EAGAIN):
 *  - pair: the throughput the budget is about. A producer and a consumer
 *    thread, pinned to CPUs 0 and 1, move MESSAGES messages, retrying on
 *    EAGAIN. Cache-line transfers dominate, and so does the noise of a
 *    shared machine.
 *  - single: one thread fills the ring (until EAGAIN) and drains it (until
 *    EAGAIN), over and over, timed in thread CPU time. No cross-core
 *    traffic and no preemption in the figure, so the per-call cost of the
 *    probe sites shows at its largest relative size, with little noise.
 */
#include "config.h"
#include "shmring.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ELEM 64
#define CAP  SHMRING_DEFAULT_CAPACITY

struct side {
	struct shmring *ring;
	uint64_t messages;
	int cpu;
	uint64_t sum; /* consumer: checks every message arrived, in order */
};

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % CPU_SETSIZE, &set);
	/* Best effort: fewer CPUs than two just means a slower, fairer run. */
	sched_setaffinity(0, sizeof(set), &set);
}

static void *produce(void *arg)
{
	struct side *s = arg;
	unsigned char m[ELEM] = { 0 };

	pin(s->cpu);
	for (uint64_t i = 0; i < s->messages; i++) {
		memcpy(m, &i, sizeof(i));
		while (shmring_try_push(s->ring, m))
			;
	}
	return NULL;
}

static void *consume(void *arg)
{
	struct side *s = arg;
	unsigned char m[ELEM];

	pin(s->cpu);
	for (uint64_t i = 0; i < s->messages; i++) {
		uint64_t v;

		while (shmring_try_pop(s->ring, m))
			;
		memcpy(&v, m, sizeof(v));
		s->sum += v ^ i; /* 0 unless a message is wrong */
	}
	return NULL;
}

static double clock_s(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* One thread: fill, drain, repeat; MESSAGES pushed and popped in all. */
static double run_single(struct shmring *prod, struct shmring *cons, uint64_t messages)
{
	unsigned char m[ELEM] = { 0 };
	uint64_t sum = 0, in = 0, out = 0;
	/* CPU time, not wall time: on a shared machine the thread is
	 * preempted now and then, and that is not what we measure. */
	double t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);

	while (out < messages) {
		while (in < messages) {
			memcpy(m, &in, sizeof(in));
			if (shmring_try_push(prod, m))
				break;
			in++;
		}
		while (!shmring_try_pop(cons, m)) {
			uint64_t v;

			memcpy(&v, m, sizeof(v));
			sum += v ^ out++;
		}
	}
	return sum ? -1 : (double)messages / (clock_s(CLOCK_THREAD_CPUTIME_ID) - t0);
}

/* Two threads on two CPUs. */
static double run_pair(struct shmring *p, struct shmring *c, uint64_t messages)
{
	struct side prod = { .ring = p, .messages = messages, .cpu = 0 };
	struct side cons = { .ring = c, .messages = messages, .cpu = 1 };
	pthread_t tp, tc;
	double t0 = now_s(), t1;

	pthread_create(&tc, NULL, consume, &cons);
	pthread_create(&tp, NULL, produce, &prod);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	t1 = now_s();
	return cons.sum ? -1 : (double)messages / (t1 - t0);
}

static int run(const char *mode, uint64_t messages)
{
	size_t size = shmring_memsize(SHMRING_SPSC, ELEM, CAP);
	struct shmring_mem *mem = shmring_mem_local(size);
	struct shmring *prod, *cons;
	double rate;

	if (!mem)
		return 1;
	prod = shmring_attach(mem, 0, SHMRING_SPSC, SHMRING_PRODUCER, ELEM, CAP, NULL);
	cons = shmring_attach(mem, 0, SHMRING_SPSC, SHMRING_CONSUMER, ELEM, CAP, NULL);
	if (!prod || !cons) {
		fprintf(stderr, "usdt_cost: attach: %s\n", strerror(errno));
		return 1;
	}
	rate = strcmp(mode, "single") ? run_pair(prod, cons, messages) :
					run_single(prod, cons, messages);
	if (rate < 0) {
		fprintf(stderr, "usdt_cost: messages arrived wrong\n");
		return 1;
	}
	printf("usdt=%s mode=%s msgs_per_s=%.0f\n", CONFIG_USDT ? "y" : "n", mode, rate);
	shmring_close(prod);
	shmring_close(cons);
	shmring_mem_close(mem);
	return 0;
}

/* Runs `BIN run MODE` and returns its messages per second, or -1. */
static double measure(const char *bin, const char *mode)
{
	char cmd[4200], line[256];
	double rate = -1;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "'%s' run %s %s", bin, mode,
		 strcmp(mode, "single") ? "2000000" : "50000000");
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *s = strstr(line, "msgs_per_s=");

		if (s)
			rate = strtod(s + 11, NULL);
	}
	return pclose(f) == 0 ? rate : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct series {
	const char *mode;
	double *y, *n;
};

static int compare(const char *bin_y, const char *bin_n, int runs)
{
	struct series ser[2] = { { .mode = "pair" }, { .mode = "single" } };

	printf("SPSC, %d-byte messages, capacity %d, try_push/try_pop; messages/s\n",
	       ELEM, CAP);
	printf("%-5s %14s %14s %14s %14s\n", "round", "pair USDT=y", "pair USDT=n",
	       "single USDT=y", "single USDT=n");
	for (int k = 0; k < 2; k++) {
		ser[k].y = calloc((size_t)runs, sizeof(double));
		ser[k].n = calloc((size_t)runs, sizeof(double));
		if (!ser[k].y || !ser[k].n)
			return 1;
	}
	for (int r = 0; r < runs; r++) {
		for (int k = 0; k < 2; k++) {
			struct series *s = &ser[k];

			/* Alternate who goes first: drift (thermal, neighbours)
			 * then hits both sides alike. */
			if (r % 2) {
				s->n[r] = measure(bin_n, s->mode);
				s->y[r] = measure(bin_y, s->mode);
			} else {
				s->y[r] = measure(bin_y, s->mode);
				s->n[r] = measure(bin_n, s->mode);
			}
			if (s->y[r] < 0 || s->n[r] < 0) {
				fprintf(stderr, "usdt_cost: a run failed\n");
				return 1;
			}
		}
		printf("%-5d %14.0f %14.0f %14.0f %14.0f\n", r + 1, ser[0].y[r],
		       ser[0].n[r], ser[1].y[r], ser[1].n[r]);
		fflush(stdout);
	}
	for (int k = 0; k < 2; k++) {
		double my = median(ser[k].y, runs), mn = median(ser[k].n, runs);

		printf("%-6s medians: USDT=y %.0f, USDT=n %.0f, ratio y/n %.3f "
		       "(probes cost %.1f%%; budget 3%%)\n",
		       ser[k].mode, my, mn, my / mn, (1 - my / mn) * 100);
		free(ser[k].y);
		free(ser[k].n);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "run"))
		return run(argv[2], argc > 3 ? strtoull(argv[3], NULL, 10) : 2000000ull);
	if (argc >= 4 && !strcmp(argv[1], "compare"))
		return compare(argv[2], argv[3], argc > 4 ? atoi(argv[4]) : 7);
	fprintf(stderr,
		"usage: usdt_cost run pair|single [MESSAGES] | compare BIN_Y BIN_N [RUNS]\n");
	return 2;
}
