// SPDX-License-Identifier: MIT
/*
 * Reproducer for fuzz/crashes/README.md "walk-limit". Given-back slots
 * serve the next lap, so each reserve + commit(0) lets producers run a lap
 * further ahead of an idle consumer, whose attempts walk at most
 * 2 * capacity + 2 positions (mp.h):
 *  1. four give-backs, one push: try_pop says EAGAIN ("empty") once before
 *     it returns the element; pending() and full() say full meanwhile;
 *  2. twenty give-backs, one push: a timed_pop of 1 s (no spin) sleeps on
 *     the ready element and times out; a blocking pop would sleep until
 *     some later publish.
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude fuzz/crashes/walk_limit_repro.c \
 *      build/libshmring.a -pthread -lnuma -luring && ./a.out [mpsc]
 * Exit 0 once both behave.
 */
#include "shmring.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static enum shmring_policy pol = SHMRING_MPMC;

/* A ring of capacity 2 whose producers gave back LAPS reservations of a
 * whole lap, then pushed one element. */
static struct shmring_mem *setup(int laps, struct shmring **p, struct shmring **c)
{
	SHMRING_OPTS(opts, .spin_ns = -1);
	struct shmring_mem *mem = shmring_mem_local(shmring_memsize(pol, 8, 2));
	char e[8] = "element";
	void *first;
	size_t stride;

	*p = shmring_attach(mem, 0, pol, SHMRING_PRODUCER, 8, 2, &opts);
	*c = shmring_attach(mem, 0, pol, SHMRING_CONSUMER, 8, 2, &opts);
	if (!*p || !*c)
		return NULL;
	for (int i = 0; i < laps; i++)
		if (shmring_reserve(*p, 2, &first, &stride) != 2 || shmring_commit(*p, 0))
			return NULL;
	return shmring_try_push(*p, e) ? NULL : mem;
}

int main(int argc, char **argv)
{
	struct shmring *p, *c;
	struct shmring_mem *mem;
	char e[8];
	int rc, tries = 1, bad = 0;

	if (argc > 1 && !strcmp(argv[1], "mpsc"))
		pol = SHMRING_MPSC;
	mem = setup(4, &p, &c);
	if (!mem)
		return 2;
	printf("4 give-backs, 1 push: pending %zu, full %d\n", shmring_pending(c),
	       shmring_full(c));
	while ((rc = shmring_try_pop(c, e)) && errno == EAGAIN && tries < 10) {
		printf("  try_pop %d: EAGAIN with an element ready\n", tries);
		tries++;
	}
	printf("  try_pop %d: %s\n", tries, rc ? strerror(errno) : "the element");
	bad |= rc || tries > 1;
	shmring_close(p);
	shmring_close(c);
	shmring_mem_close(mem);

	mem = setup(20, &p, &c);
	if (!mem)
		return 2;
	rc = shmring_timed_pop(c, e, 1000000000ull);
	printf("20 give-backs, 1 push: timed_pop(1 s): %s\n",
	       rc ? strerror(errno) : "the element");
	bad |= rc != 0;
	shmring_close(p);
	shmring_close(c);
	shmring_mem_close(mem);
	return bad;
}
