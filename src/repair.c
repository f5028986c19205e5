// SPDX-License-Identifier: MIT
/*
 * Repair: unblocking a ring after a claimer died.
 *
 * A producer of an MPSC/MPMC ring that dies between claiming a slot and
 * publishing it, or an MPMC consumer between taking a slot and freeing it,
 * leaves that slot CLAIMED (or TAKING) for good. Consumers stop at a claimed
 * slot (FIFO), producers stop at a slot still in its previous lap (full), so
 * without repair the ring would stop for everyone, now and after restarts.
 *
 * How death is observed: the claim word carries the claimer's token, and the
 * claimer holds the OFD lock of that token's byte for as long as its process
 * lives (roles.c). The kernel drops the lock when the last reference to the
 * claimer's private open file goes: at exit or death, after every thread of
 * the process has left user space, so a dead claimer can write no more. One
 * F_OFD_GETLK tells whether the token is still held. A claimer that is alive
 * but slow (pre-empted, stopped, stuck in a page fault) keeps its token:
 * it is waited for, never repaired, so it can never write into a slot that
 * was given to someone else.
 *
 * When: a handle that finds a claim in its way (the first one its walk
 * meets) remembers the slot (position and word) and when it first saw it. Once the same claim has stood for
 * REPAIR_GRACE_NS (claims normally last a copy's time), it asks whether the
 * token is alive, and asks again every REPAIR_EVERY_NS; blocking waits and
 * pollable fds wake up that often while a claim stands in their way. So a
 * dead claim is repaired within about REPAIR_EVERY_NS of the claimer's death
 * by any handle that waits behind it, a new process included. A token found
 * dead stays known as dead for a second, so that the rest of its claims (a
 * reservation or a peek of several slots) are repaired in the same walk.
 *
 * What, with one CAS from the exact word seen, so that a claim that changed
 * meanwhile is left alone:
 *  - an abandoned CLAIMED slot becomes FREE for its next lap: consumers
 *    step over it, producers reuse it next lap. It held no published
 *    element, so nothing a live producer sent is lost, and the dead
 *    producer's unfinished element is never delivered.
 *  - an abandoned TAKING slot goes back to READY: the element its dead
 *    consumer was copying out (or had peeked) is delivered again, to the
 *    next consumer that comes by (consumers never move their hint past a
 *    TAKING slot, mp.h, so one comes by). It may arrive after later
 *    elements of the same producer that other consumers took meanwhile.
 * Each repair counts in the header's `abandoned` (shmring_info, `shmring
 * stat`) and fires the `repair` probe.
 *
 * Rings in local memory have no tokens (one process, alive while we run):
 * their claims are never repaired.
 */
#include "ring.h"
#include "probes.h"

#define REPAIR_GRACE_NS 1000000ull    /* a claim stands this long before we ask */
#define REPAIR_EVERY_NS 10000000ull   /* then we ask this often */
#define DEAD_FOR_NS	1000000000ull /* a token found dead stays so this long */

bool shmring__repair_claim(struct shmring *r, uint64_t p, uint64_t w, bool first)
{
	struct shmring__stuck *s = &r->stuck;
	uint32_t token = mp_token(w);
	uint64_t now = shmring__now_ns();
	uint64_t expect = w;

	r->claim_wait = true;
	/* A token found dead a moment ago: its other claims (a reservation or
	 * a peek of several slots) go at once. Tokens come back only after
	 * 2^21 opens of a role (roles.c), not within DEAD_FOR_NS. */
	if (token != s->dead_token || now > s->dead_until) {
		/* Only the first claim in a walk is watched: one record, or
		 * several claims would keep replacing each other in it. */
		if (!first)
			return false;
		if (!s->polls || s->pos != p || s->val != w) {
			*s = (struct shmring__stuck){ .pos = p,
						      .val = w,
						      .since = now,
						      .next_check = now + REPAIR_GRACE_NS,
						      .polls = 1,
						      .dead_token = s->dead_token,
						      .dead_until = s->dead_until };
			return false;
		}
		s->polls++;
		if (now < s->next_check)
			return false;
		s->next_check = now + REPAIR_EVERY_NS;
		if (shmring__token_alive(r, token))
			return false;
		s->dead_token = token;
		s->dead_until = now + DEAD_FOR_NS;
	}
	/* release: hands the slot on like its claimer would have (a FREE of
	 * the next lap as a consumer frees, READY as a producer publishes: the
	 * element in it was published by a live producer and read by nobody
	 * since); nothing the dead claimer wrote is ever read as an element. */
	if (atomic_compare_exchange_strong_explicit(
		    seq_at(r, p), &expect,
		    mp_state(w) == MP_CLAIMED ? mp_word(r, p + r->lap, MP_FREE) :
						mp_word(r, p, MP_READY),
		    memory_order_release, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&r->hdr->abandoned, 1, memory_order_relaxed);
		SHMRING_PROBE(repair, r, r->name, p,
			      mp_state(w) == MP_CLAIMED ? SHMRING_PRODUCER :
							  SHMRING_CONSUMER,
			      s->polls && s->pos == p ? now - s->since : 0);
		/* Wake the other side: a producer's repair frees a slot for
		 * producers too, a consumer's lets consumers step past it. */
		shmring__ec_signal(r, &r->hdr->not_full);
		shmring__ec_signal(r, &r->hdr->not_empty);
	}
	s->polls = 0;
	return true;
}

uint64_t shmring__wait_until(const struct shmring *r, uint64_t now, uint64_t deadline)
{
	uint64_t slice = r->claim_wait ? REPAIR_EVERY_NS :
			 r->sliced     ? SHMRING_ARM_POLL_NS :
					 0;

	if ((r->sliced || r->walk_cut) && (!slice || slice > SHMRING_ARM_POLL_NS))
		slice = SHMRING_ARM_POLL_NS;
	return slice && deadline - now > slice ? now + slice : deadline;
}
