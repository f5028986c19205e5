// SPDX-License-Identifier: MIT
/*
 * The cost of the calls themselves: one process holds both ends of a
 * channel and pushes a batch, then pops it, so nothing crosses a core and no
 * cache line moves. What remains is instructions, fences and copies: the part
 * of a transport's time its code decides. Run it under
 *   valgrind --tool=callgrind --collect-atstart=no --toggle-collect=cost_rounds
 * for instruction counts per message; without valgrind it prints ns per
 * message (push + pop).
 */
#include "bench.h"
#include "side.h"
#include "verify.h"

#include <stdio.h>

#define COST_BATCH 16 /* messages pushed before they are popped */

/* Kept out of line so callgrind can toggle collection on it. */
__attribute__((noinline)) int cost_rounds(struct side *tx, struct side *rx,
					  uint64_t rounds);

int cost_rounds(struct side *tx, struct side *rx, uint64_t rounds)
{
	uint64_t seq = 0, got;
	uint32_t p;

	for (uint64_t r = 0; r < rounds; r++) {
		for (int i = 0; i < COST_BATCH; i++) {
			vmsg_stamp(tx->buf, tx->elem, 0, seq + (uint64_t)i);
			if (put(tx, tx->buf))
				return -1;
		}
		for (int i = 0; i < COST_BATCH; i++)
			if (get(rx, rx->buf) || vmsg_check(rx->buf, rx->elem, &p, &got) ||
			    got != seq++)
				return -1;
	}
	return 0;
}

/* One process, both ends; returns ns per message, or -1. */
double cost_run(const struct xp_ops *ops, const struct xp_cfg *c, uint64_t messages)
{
	struct xp_cfg one = *c;
	struct side tx = { 0 }, rx = { 0 };
	struct trial t;
	uint64_t rounds = messages / COST_BATCH + 1, t0;
	double ns = -1;

	one.producers = one.consumers = 1;
	one.burst = 1;
	if (one.cap < COST_BATCH || trial_open(&t, ops, &one, 1, 0, 0))
		return -1;
	if (!side_open(&tx, &t, 0, SHMRING_PRODUCER) &&
	    !side_open(&rx, &t, 0, SHMRING_CONSUMER) && !cost_rounds(&tx, &rx, 100)) {
		t0 = now_ns();
		if (!cost_rounds(&tx, &rx, rounds))
			ns = (double)(now_ns() - t0) / (double)(rounds * COST_BATCH);
	}
	side_close(&tx);
	side_close(&rx);
	trial_close(&t);
	return ns;
}
