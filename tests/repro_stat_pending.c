// SPDX-License-Identifier: MIT
/*
 * Reproducer (found by make crash): shmring_stat() reports elements pending
 * on an empty MPMC ring, and keeps reporting them until some consumer pops
 * again.
 *
 * shmring_info.pending is documented as "occupancy: queued items, as
 * shmring_pending()". For MPSC/MPMC rings head and tail are hints that can
 * lag (mp.h); shmring_pending() refines them by walking the slots
 * (mp_refine in ring.c), but shmring_stat() (inspect.c) reads only the
 * header and computes pos_count(head, tail) from the raw hints. A tail hint
 * that lags behind slots already consumed makes stat (and `shmring ls`)
 * show them as queued. Two ways it lags, both seen in the crash campaign:
 *  - here: a consumer releases a slot while another consumer's peek of an
 *    earlier slot is outstanding (the hint may not pass the TAKING slot),
 *    and the earlier one's release then moves the hint only past its own;
 *  - a consumer killed between mpmc_untake() and mpmc_hint().
 * Consumers that find the ring empty move only their private hint, so the
 * shared one stays behind for good: the crash campaign's drain waited on
 * stat's pending (6 on an empty ring) until its 10 s stall watchdog fired.
 *
 *   make repro && build/tests/repro_stat_pending      exit 1: reproduced
 */
#include <shmring.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	char name[64];
	unsigned char m[64] = { 0 };
	struct shmring *p, *c1, *c2;
	size_t stride;
	void *f1, *f2;
	SHMRING_INFO(info);
	int bug;

	snprintf(name, sizeof(name), "shmring-repro-stat-%d", (int)getpid());
	p = shmring_producer(SHMRING_MPMC, name, sizeof(m), 8, NULL);
	c1 = shmring_consumer(SHMRING_MPMC, name, sizeof(m), 8, NULL);
	c2 = shmring_consumer(SHMRING_MPMC, name, sizeof(m), 8, NULL);
	if (!p || !c1 || !c2 || shmring_try_push(p, m) || shmring_try_push(p, m) ||
	    shmring_peek(c1, 1, &f1, &stride) != 1 ||
	    shmring_peek(c2, 1, &f2, &stride) != 1 || shmring_release(c2, 1) ||
	    shmring_release(c1, 1) || shmring_stat(name, &info)) {
		fprintf(stderr, "setup failed: %s\n", strerror(errno));
		shmring_unlink(name);
		return 2;
	}
	bug = info.pending != shmring_pending(p);
	printf("empty ring: shmring_empty %d, shmring_pending %zu, shmring_stat pending %zu: %s\n",
	       shmring_empty(c1), shmring_pending(p), info.pending,
	       bug ? "REPRODUCED (stat disagrees)" : "fixed");
	shmring_close(c1);
	shmring_close(c2);
	shmring_close(p);
	shmring_unlink(name);
	return bug;
}
