// SPDX-License-Identifier: MIT
/* Threads on a ring in local memory: the test ThreadSanitizer runs
 * (make check SANITIZE=thread). Every message is checked. */
#include "testutil.h"
#include "msg.h"

#include <pthread.h>

#define ELEM 48

struct trun {
	struct shmring_mem *mem;
	enum shmring_policy policy;
	size_t cap, producers, consumers;
	uint64_t per_producer;
	_Atomic uint64_t received, errors;
	_Atomic uint64_t *seen; /* producers * per_producer flags */
};

struct targ {
	struct trun *run;
	uint32_t id;
};

static void *producer_thread(void *a)
{
	struct targ *t = a;
	struct trun *run = t->run;
	struct shmring *r = shmring_attach(run->mem, 0, run->policy, SHMRING_PRODUCER,
					   ELEM, run->cap, NULL);
	unsigned char m[4][ELEM];

	if (!r) {
		atomic_fetch_add(&run->errors, 1);
		return NULL;
	}
	for (uint64_t seq = 0; seq < run->per_producer;) {
		if (seq % 3 == 0 && seq + 4 <= run->per_producer) {
			for (int i = 0; i < 4; i++)
				msg_fill(m[i], ELEM, t->id, seq + (uint64_t)i);
			ssize_t n = shmring_push_burst(r, m, 4);
			if (n > 0) {
				seq += (uint64_t)n;
				continue;
			}
		}
		msg_fill(m[0], ELEM, t->id, seq);
		if (shmring_push(r, m[0]) == 0)
			seq++;
		else
			atomic_fetch_add(&run->errors, 1);
	}
	shmring_close(r);
	return NULL;
}

static void *consumer_thread(void *a)
{
	struct targ *t = a;
	struct trun *run = t->run;
	struct shmring *r = shmring_attach(run->mem, 0, run->policy, SHMRING_CONSUMER,
					   ELEM, run->cap, NULL);
	const uint64_t total = run->producers * run->per_producer;
	unsigned char m[ELEM];
	uint64_t last[4] = { UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX };

	if (!r) {
		atomic_fetch_add(&run->errors, 1);
		return NULL;
	}
	while (atomic_load(&run->received) < total) {
		uint32_t prod;
		uint64_t seq;

		if (shmring_timed_pop(r, m, 10 * 1000000ull))
			continue;
		if (msg_check(m, ELEM, &prod, &seq) || prod >= run->producers ||
		    seq >= run->per_producer ||
		    (last[prod] != UINT64_MAX && seq <= last[prod]) ||
		    atomic_fetch_add(&run->seen[prod * run->per_producer + seq], 1) != 0)
			atomic_fetch_add(&run->errors, 1);
		else
			last[prod] = seq;
		atomic_fetch_add(&run->received, 1);
	}
	shmring_close(r);
	return NULL;
}

static void run_threads(enum shmring_policy policy, size_t producers, size_t consumers,
			uint64_t per_producer, size_t cap)
{
	struct trun run = {
		.policy = policy,
		.cap = cap,
		.producers = producers,
		.consumers = consumers,
		.per_producer = per_producer,
	};
	pthread_t th[8];
	struct targ args[8];
	size_t n = 0;

	run.mem = shmring_mem_local(shmring_memsize(policy, ELEM, cap));
	run.seen = calloc(producers * per_producer, sizeof(*run.seen));
	cr_assert(run.mem && run.seen);
	for (size_t i = 0; i < consumers; i++, n++) {
		args[n] = (struct targ){ &run, (uint32_t)i };
		cr_assert_eq(pthread_create(&th[n], NULL, consumer_thread, &args[n]), 0);
	}
	for (size_t i = 0; i < producers; i++, n++) {
		args[n] = (struct targ){ &run, (uint32_t)i };
		cr_assert_eq(pthread_create(&th[n], NULL, producer_thread, &args[n]), 0);
	}
	for (size_t i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	cr_expect_eq(atomic_load(&run.errors), 0);
	cr_expect_eq(atomic_load(&run.received), producers * per_producer);
	for (uint64_t i = 0; i < producers * per_producer; i++)
		cr_assert_eq(atomic_load(&run.seen[i]), 1, "message %llu seen %llu times",
			     (unsigned long long)i,
			     (unsigned long long)atomic_load(&run.seen[i]));
	free(run.seen);
	shmring_mem_close(run.mem);
}

Test(threads, spsc_local_ring, .timeout = 120)
{
	run_threads(SHMRING_SPSC, 1, 1, 200000, 37);
}

Test(threads, mpsc_local_ring, .timeout = 120)
{
	run_threads(SHMRING_MPSC, 3, 1, 60000, 37);
}

Test(threads, mpmc_local_ring, .timeout = 120)
{
	run_threads(SHMRING_MPMC, 2, 2, 100000, 37);
}

/* Threads that open their first rings at the same moment each decide what
 * the process may do with membarrier (wait.c): that decision is shared
 * state. A fresh child process, so the decision is not made yet; under
 * ThreadSanitizer a race there ends the child with TSan's exit code. */
#define FIRST_OPENERS 6

static pthread_barrier_t first_open_barrier;

static void *first_open_thread(void *a)
{
	struct shmring_mem *mem = a;
	struct shmring *r;

	pthread_barrier_wait(&first_open_barrier);
	r = shmring_attach(mem, 0, SHMRING_MPMC, SHMRING_PRODUCER, ELEM, 8, NULL);
	if (!r)
		return (void *)1;
	shmring_close(r);
	return NULL;
}

Test(threads, first_opens_race_free, .timeout = 60)
{
	for (int round = 0; round < 20; round++) {
		pid_t pid = fork();
		int status;

		cr_assert_neq(pid, -1);
		if (pid == 0) {
			struct shmring_mem *mem =
				shmring_mem_local(shmring_memsize(SHMRING_MPMC, ELEM, 8));
			pthread_t th[FIRST_OPENERS];
			int bad = !mem;

			pthread_barrier_init(&first_open_barrier, NULL, FIRST_OPENERS);
			for (int i = 0; i < FIRST_OPENERS && !bad; i++)
				bad = pthread_create(&th[i], NULL, first_open_thread,
						     mem);
			for (int i = 0; i < FIRST_OPENERS && !bad; i++) {
				void *rv;

				pthread_join(th[i], &rv);
				bad |= rv != NULL;
			}
			_exit(bad);
		}
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "round %d: child status %#x", round, status);
	}
}
