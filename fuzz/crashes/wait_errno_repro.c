// SPDX-License-Identifier: MIT
/*
 * Reproducer for fuzz/crashes/README.md "wait-errno": a blocking or timed
 * call that sleeps and then succeeds returns 0 with errno changed, though
 * shmring.h says the data path never touches errno on success.
 *
 * An MPSC consumer's timed_pop waits behind a producer's reservation (a
 * claim): it sleeps in 10 ms slices (repair.c) and each slice's futex wait
 * times out with ETIMEDOUT. When the producer commits, the pop succeeds and
 * returns 0 with errno still ETIMEDOUT.
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude fuzz/crashes/wait_errno_repro.c \
 *      build/libshmring.a -pthread -lnuma -luring && ./a.out
 */
#include "shmring.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static struct shmring *cons;

static void *pop_thread(void *arg)
{
	char e[8];
	int rc;

	errno = 0;
	rc = shmring_timed_pop(cons, e, 2000000000ull);
	*(int *)arg = errno;
	printf("timed_pop: %d, errno %d (%s)\n", rc, errno, strerror(errno));
	return NULL;
}

int main(void)
{
	struct shmring_mem *mem = shmring_mem_local(shmring_memsize(SHMRING_MPSC, 8, 4));
	struct shmring *prod =
		shmring_attach(mem, 0, SHMRING_MPSC, SHMRING_PRODUCER, 8, 4, NULL);
	struct timespec nap = { .tv_nsec = 50000000 };
	pthread_t t;
	void *first;
	size_t stride;
	int err = -1;

	cons = shmring_attach(mem, 0, SHMRING_MPSC, SHMRING_CONSUMER, 8, 4, NULL);
	if (!prod || !cons || shmring_reserve(prod, 1, &first, &stride) != 1)
		return 2;
	memset(first, 'x', 8);
	pthread_create(&t, NULL, pop_thread, &err);
	nanosleep(&nap, NULL); /* the consumer sleeps behind the claim */
	shmring_commit(prod, 1);
	pthread_join(t, NULL);
	shmring_close(prod);
	shmring_close(cons);
	shmring_mem_close(mem);
	return err == 0 ? 0 : 1;
}
