// SPDX-License-Identifier: MIT
/*
 * A known workload for the tracing tests, linked against the shared library
 * as programs traced in production are.
 *
 *   ring_workload NAME CAPACITY COUNT STALL_MS
 *
 * A producer (this process) pushes COUNT 64-byte messages into the SPSC ring
 * NAME with blocking pushes; a consumer (a forked child) opens the ring,
 * waits until min(COUNT, CAPACITY) messages are queued, stalls STALL_MS more
 * so that the producer finds the ring full and goes to sleep, then pops
 * COUNT messages with blocking pops, checking each. Exits 0 when every
 * message arrived intact and in order, and prints what it did.
 */
#include "shmring.h"
#include "msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ELEM 64

static int consume(const char *name, size_t cap, uint64_t count, long stall_ms)
{
	struct shmring *c = shmring_consumer(SHMRING_SPSC, name, ELEM, cap, NULL);
	size_t want = count < cap ? (size_t)count : cap;
	struct timespec stall = { stall_ms / 1000, (stall_ms % 1000) * 1000000 };
	unsigned char m[ELEM];

	if (!c) {
		fprintf(stderr, "ring_workload: consumer: %s\n", strerror(errno));
		return 1;
	}
	while (shmring_pending(c) < want)
		usleep(1000);
	nanosleep(&stall, NULL);
	for (uint64_t i = 0; i < count; i++) {
		uint32_t producer;
		uint64_t seq;

		if (shmring_pop(c, m) || msg_check(m, ELEM, &producer, &seq) ||
		    seq != i) {
			fprintf(stderr, "ring_workload: message %llu wrong\n",
				(unsigned long long)i);
			return 1;
		}
	}
	shmring_close(c);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned char m[ELEM];
	struct shmring *p;
	uint64_t count;
	size_t cap;
	long stall_ms;
	pid_t child;
	int st;

	if (argc != 5) {
		fprintf(stderr, "usage: ring_workload NAME CAPACITY COUNT STALL_MS\n");
		return 2;
	}
	cap = strtoul(argv[2], NULL, 10);
	count = strtoull(argv[3], NULL, 10);
	stall_ms = strtol(argv[4], NULL, 10);
	p = shmring_producer(SHMRING_SPSC, argv[1], ELEM, cap, NULL);
	if (!p) {
		fprintf(stderr, "ring_workload: producer: %s\n", strerror(errno));
		return 1;
	}
	child = fork();
	if (child == 0)
		_exit(consume(argv[1], cap, count, stall_ms));
	for (uint64_t i = 0; i < count; i++) {
		msg_fill(m, ELEM, 0, i);
		if (shmring_push(p, m)) {
			fprintf(stderr, "ring_workload: push: %s\n", strerror(errno));
			return 1;
		}
	}
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "ring_workload: consumer failed\n");
		return 1;
	}
	shmring_close(p);
	printf("pushed=%llu popped=%llu\n", (unsigned long long)count,
	       (unsigned long long)count);
	return 0;
}
