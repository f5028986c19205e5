// SPDX-License-Identifier: MIT
/*
 * Reproducer for fuzz/crashes/README.md "walk-limit": try_pop says EAGAIN
 * ("empty") while an element is ready, after a producer gave reservations
 * back (commit 0) a few times: given-back slots serve the next lap, so
 * producers run laps ahead of the consumer, and a consumer's attempt walks
 * at most 2 * capacity + 2 positions (mp.h) before it gives up.
 * Meanwhile pending() and full() say the ring is full and try_push works.
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude fuzz/crashes/walk_limit_repro.c \
 *      build/libshmring.a -pthread -lnuma -luring && ./a.out
 */
#include "shmring.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	enum shmring_policy pol =
		argc > 1 && !strcmp(argv[1], "mpsc") ? SHMRING_MPSC : SHMRING_MPMC;
	struct shmring_mem *mem = shmring_mem_local(shmring_memsize(pol, 8, 2));
	struct shmring *p = shmring_attach(mem, 0, pol, SHMRING_PRODUCER, 8, 2, NULL);
	struct shmring *c = shmring_attach(mem, 0, pol, SHMRING_CONSUMER, 8, 2, NULL);
	char e[8] = "element";
	void *first;
	size_t stride;
	int rc, tries = 1;

	if (!p || !c)
		return 2;
	for (int lap = 0; lap < 4; lap++) { /* reserve a lap, give it back */
		if (shmring_reserve(p, 2, &first, &stride) != 2 || shmring_commit(p, 0))
			return 2;
	}
	if (shmring_try_push(p, e))
		return 2;
	printf("pushed 1: pending %zu, full %d\n", shmring_pending(c), shmring_full(c));
	while ((rc = shmring_try_pop(c, e)) && errno == EAGAIN && tries < 10) {
		printf("try_pop %d: EAGAIN with an element ready\n", tries);
		tries++;
	}
	printf("try_pop %d: %d (%s)\n", tries, rc, rc ? strerror(errno) : "the element");
	shmring_close(p);
	shmring_close(c);
	shmring_mem_close(mem);
	return rc == 0 && tries == 1 ? 0 : 1;
}
