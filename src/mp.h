/* SPDX-License-Identifier: MIT */
/*
 * The multi-producer (MPSC, MPMC) and multi-consumer (MPMC) data path
 * (included by queue.c only). Slot states are in ring.h:
 *
 *   FREE(L) --producer CAS--> CLAIMED(L, token) --store--> READY(L)
 *     --consumer--> FREE(L + 1)          (MPMC: via CAS to TAKING(L, token))
 *
 * Rules:
 *  - A producer claims a position by a CAS of its slot from FREE to CLAIMED
 *    with its token: the claim and the claimer's name are one atomic step,
 *    so no state exists in which a slot is taken and nobody knows by whom
 *    (what makes dead claimers repairable: repair.c). It then copies the
 *    element in and publishes READY (release).
 *  - The MPSC consumer keeps its position private and frees a slot, after
 *    copying out, with FREE of the next lap (release). MPMC consumers claim
 *    a READY slot by CAS to TAKING with their token, then free it the same
 *    way.
 *  - head and tail are hints where to start looking, kept by plain stores
 *    (one that lands late can move a hint back, even by laps); each handle
 *    starts at the later of the shared hint and its own last position, then
 *    walks forward: producers jump over whole laps the slot's word shows
 *    were claimed, consumers give up after two laps (EAGAIN) and go on from
 *    there next time. Producers never skip a FREE slot of
 *    their lap (claims are made in position order), and nothing ever goes
 *    back to FREE of the same lap, so producers may walk over anything else.
 *    Consumers walk over slots that are done (a later lap) or being taken
 *    by another consumer, but move their hint only over slots that are done:
 *    a TAKING slot can go back to READY (a peek gives it back), and a hint
 *    past it would strand it.
 *  - A slot of a later lap where we expected ours was skipped: given back
 *    by commit or repaired. A skipped slot serves the next lap at once, so
 *    producers may run laps ahead of consumers on such slots; the elements
 *    published and not consumed never exceed the capacity (one per slot).
 *  - A producer pre-empted between claim and publish holds up only its own
 *    slot: others keep claiming the following ones.
 *  - Positions come from hints in shared memory: each is bounded before it
 *    addresses a slot (EPROTO).
 */
#ifndef SHMRING_MP_H
#define SHMRING_MP_H

#include "copy.h"
#include "ring.h"

/* How far a handle walks from its hint before it gives up (-EAGAIN): two
 * laps is more than any honest state needs. */
#define MP_WALK_MAX(r) (2 * (r)->cap + 2)

static inline bool pos_before(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) < 0;
}

/* Where a handle starts: the later of the shared hint and its own last
 * position; -EPROTO for a hint that cannot be a position. */
static inline int mp_start(const struct shmring *r, _Atomic uint64_t *hint, uint64_t *p)
{
	uint64_t h = atomic_load_explicit(hint, memory_order_relaxed);

	if (unlikely((h & r->mask) >= r->cap))
		return -EPROTO;
	*p = pos_before(h, r->pos) ? r->pos : h;
	return 0;
}

/* A walk ended at MP_WALK_MAX before it found its slot or the end: keep where
 * it got to (P: everything before it is behind us for good) and say so, so
 * that waits do not sleep on it (wait.c: attempt) and arms report progress:
 * a slot may be ready further on. */
static inline int mp_walk_cut(struct shmring *r, uint64_t p)
{
	r->pos = p;
	r->walk_cut = true;
	return -EAGAIN;
}

/* ---- producers -------------------------------------------------------------- */

/* The first position from the hint on whose slot is FREE for it, in *P, and
 * that slot's word in *W. -EAGAIN when the ring is full (the slot is still
 * in its previous lap), -EPROTO. A claim of the previous lap that stands in
 * the way is offered to repair (repair.c); a repaired slot is looked at
 * again. */
static inline int mp_find_free(struct shmring *r, uint64_t *pp, uint64_t *wp)
{
	uint64_t p;
	int rc = mp_start(r, &r->hdr->head, &p);

	if (rc)
		return rc;
	for (uint64_t walked = 0; walked < MP_WALK_MAX(r); walked++) {
		/* relaxed: a FREE word is acted on only through the CAS in
		 * mp_claim, which acquires. */
		uint64_t w = atomic_load_explicit(seq_at(r, p), memory_order_relaxed);
		int64_t d;

		if (w == mp_word(r, p, MP_FREE)) {
			*pp = p;
			*wp = w;
			return 0;
		}
		d = mp_lapdiff(r, w, p);
		if (d == 0) { /* taken this lap */
			p = pos_next(r, p);
			continue;
		}
		if (d > 0) {
			/* A later lap: our hint is stale (a hint store can land
			 * late). The slot's word says position p + d laps was
			 * claimed (or, FREE, p + (d - 1) laps was), so every
			 * position up to it was: claims are made in order. */
			p += (uint64_t)(mp_state(w) == MP_FREE ? d - 1 : d) << r->shift;
			p = pos_next(r, p);
			continue;
		}
		if (d != -1)
			return -EPROTO;
		/* The previous lap is still here: full. */
		if (mp_state(w) != MP_READY &&
		    shmring__repair_claim(r, p - r->lap, w, true))
			continue;
		r->pos = p;
		return -EAGAIN;
	}
	return mp_walk_cut(r, p);
}

/* Claims up to N free slots from the first free one on (stopping at the
 * first it cannot get, and at the wrap when RUN): the first in *FIRST.
 * Returns the count, or -EAGAIN (full), -EPROTO. */
static inline long mp_claim(struct shmring *r, size_t n, bool run, uint64_t *first)
{
	uint64_t p, w;
	size_t m = 0;
	int rc;

	for (;;) {
		rc = mp_find_free(r, &p, &w);
		if (rc)
			return rc;
		/* acquire: pairs with the release by which a consumer freed the
		 * slot after copying out: our writes come after its reads. */
		if (atomic_compare_exchange_strong_explicit(
			    seq_at(r, p), &w, mp_word(r, p, MP_CLAIMED) | r->token,
			    memory_order_acquire, memory_order_relaxed))
			break;
		/* Another producer took it: look again from there. */
		r->pos = p;
	}
	*first = p;
	if (run && n > pos_to_wrap(r, p))
		n = (size_t)pos_to_wrap(r, p);
	for (m = 1; m < n; m++) {
		uint64_t q = pos_next(r, p);

		w = mp_word(r, q, MP_FREE);
		if (!atomic_compare_exchange_strong_explicit(
			    seq_at(r, q), &w, mp_word(r, q, MP_CLAIMED) | r->token,
			    memory_order_acquire, memory_order_relaxed))
			break;
		p = q;
	}
	r->pos = pos_next(r, p);
	/* A hint for the next claimer, ours or another's. */
	atomic_store_explicit(&r->hdr->head, r->pos, memory_order_relaxed);
	return (long)m;
}

/* Publishes K claimed slots from P on (READY) and gives back the N - K
 * after them (skipped: FREE of the next lap), then wakes consumers. */
static inline void mp_publish(struct shmring *r, uint64_t p, size_t k, size_t n)
{
	for (size_t i = 0; i < n; i++, p = pos_next(r, p))
		/* release: the element is written before READY hands it to
		 * consumers (pairs with their acquire loads of the word). A
		 * skipped slot carries nothing, but its release keeps the
		 * claimers' order for the next lap's producer. */
		atomic_store_explicit(seq_at(r, p),
				      i < k ? mp_word(r, p, MP_READY) :
					      mp_word(r, p + r->lap, MP_FREE),
				      memory_order_release);
	shmring__ec_signal(r, &r->hdr->not_empty);
}

static inline long mp_push_n(struct shmring *r, const void *elems, size_t n)
{
	const unsigned char *b = elems;
	uint64_t first, p;
	long m = mp_claim(r, n, false, &first);

	if (m < 0)
		return m;
	p = first;
	for (long i = 0; i < m; i++, p = pos_next(r, p), b += r->elem_size)
		shmring__copy(slot_at(r, p), b, r->elem_size);
	mp_publish(r, first, (size_t)m, (size_t)m);
	return m;
}

/* The general paths as one-element calls, out of line: the single-element
 * fast paths below fall back on them. */
static __attribute__((noinline)) long mp_push_slow(struct shmring *r, const void *elem)
{
	long m = mp_push_n(r, elem, 1);

	return m < 0 ? m : 0;
}

/* One element: the slot at the later of our hint and the shared one is
 * usually free for us; anything else (another producer was there first,
 * full, a claim in the way) takes the general path. */
static ALWAYS_INLINE long mp_push(struct shmring *r, const void *elem)
{
	uint64_t h = atomic_load_explicit(&r->hdr->head, memory_order_relaxed);
	uint64_t p = pos_before(h, r->pos) ? r->pos : h;
	_Atomic uint64_t *sq;
	uint64_t w, fw;

	if (unlikely((p & r->mask) >= r->cap))
		return -EPROTO;
	sq = seq_at(r, p);
	fw = mp_word(r, p, MP_FREE);
	w = fw;
	/* acquire: as in mp_claim. */
	if (unlikely(!atomic_compare_exchange_strong_explicit(
		    sq, &w, fw | MP_CLAIMED | r->token, memory_order_acquire,
		    memory_order_relaxed)))
		return mp_push_slow(r, elem);
	r->pos = pos_next(r, p);
	atomic_store_explicit(&r->hdr->head, r->pos, memory_order_relaxed);
	shmring__copy(slot_at(r, p), elem, r->elem_size);
	/* release: as in mp_publish. READY of the same lap is FREE | READY. */
	atomic_store_explicit(sq, fw | MP_READY, memory_order_release);
	shmring__ec_signal(r, &r->hdr->not_empty);
	return 0;
}

/* ---- the MPSC consumer ----------------------------------------------------- */

/* Ready elements from the consumer's position on (after stepping over
 * skipped slots), up to N and not past the wrap when RUN. -EAGAIN when
 * empty (a claim in the way is offered to repair), -EPROTO. */
static inline long mpsc_ready(struct shmring *r, size_t n, bool run)
{
	uint64_t p = r->pos;
	size_t m = 0;

	for (uint64_t walked = 0;; walked++) {
		/* acquire: pairs with the producer's release of READY. */
		uint64_t w = atomic_load_explicit(seq_at(r, p), memory_order_acquire);
		int64_t d;

		if (w == mp_word(r, p, MP_READY))
			break;
		if (w == mp_word(r, p, MP_FREE))
			return -EAGAIN;
		if (walked >= MP_WALK_MAX(r))
			return mp_walk_cut(r, p); /* r->pos is p already */
		d = mp_lapdiff(r, w, p);
		if (d >= 1) {
			/* Skipped: only we consume, so the slot moved on
			 * without us because its position was given back or
			 * repaired (a skipped slot serves the next lap at once,
			 * so it may be laps ahead). Step over it, for good. */
			p = pos_next(r, p);
			r->pos = p;
			atomic_store_explicit(&r->hdr->tail, p, memory_order_release);
			continue;
		}
		if (d != 0 || mp_state(w) != MP_CLAIMED)
			return -EPROTO;
		if (!shmring__repair_claim(r, p, w, true))
			return -EAGAIN;
	}
	if (run && n > pos_to_wrap(r, p))
		n = (size_t)pos_to_wrap(r, p);
	for (m = 1; m < n; m++) {
		p = pos_next(r, p);
		if (atomic_load_explicit(seq_at(r, p), memory_order_acquire) !=
		    mp_word(r, p, MP_READY))
			break;
	}
	return (long)m;
}

/* Frees N consumed slots from the consumer's position on. */
static inline void mpsc_free(struct shmring *r, size_t n)
{
	uint64_t p = r->pos;

	for (size_t i = 0; i < n; i++, p = pos_next(r, p))
		/* release: our copy-out is done before the slot goes back to
		 * producers (pairs with the acquire of their claim CAS). */
		atomic_store_explicit(seq_at(r, p), mp_word(r, p + r->lap, MP_FREE),
				      memory_order_release);
	r->pos = p;
	/* For observers (pending); producers never read tail. */
	atomic_store_explicit(&r->hdr->tail, p, memory_order_release);
	shmring__ec_signal(r, &r->hdr->not_full);
}

static inline long mpsc_pop_n(struct shmring *r, void *elems, size_t n)
{
	unsigned char *b = elems;
	long m = mpsc_ready(r, n, false);
	uint64_t p = r->pos;

	if (m < 0)
		return m;
	for (long i = 0; i < m; i++, p = pos_next(r, p), b += r->elem_size)
		shmring__copy(b, slot_at(r, p), r->elem_size);
	mpsc_free(r, (size_t)m);
	return m;
}

/* ---- MPMC consumers -------------------------------------------------------- */

/* The first READY slot from the hint on, in *P. *DONE gets the position
 * up to which every slot walked over was done, where the hint may move.
 * -EAGAIN when empty (a claim in the way is offered to repair), -EPROTO. */
static inline int mpmc_find(struct shmring *r, uint64_t *pp, uint64_t *done)
{
	bool all_done = true;
	uint64_t p;
	int rc = mp_start(r, &r->hdr->tail, &p);

	if (rc)
		return rc;
	*done = p;
	for (uint64_t walked = 0;; walked++) {
		/* relaxed: a READY word is acted on only through the CAS in
		 * mpmc_take, which acquires. */
		uint64_t w = atomic_load_explicit(seq_at(r, p), memory_order_relaxed);
		int64_t d;

		if (w == mp_word(r, p, MP_READY)) {
			*pp = p;
			return 0;
		}
		if (w == mp_word(r, p, MP_FREE))
			break;
		/* Cut short only over done slots, which the hint keeps: a walk
		 * past a TAKING slot ends within a lap (at d == -1 below). */
		if (walked >= MP_WALK_MAX(r) && all_done)
			return mp_walk_cut(r, p);
		if (walked >= 2 * MP_WALK_MAX(r))
			break;
		d = mp_lapdiff(r, w, p);
		if (d == 0 && mp_state(w) == MP_CLAIMED) {
			if (shmring__repair_claim(r, p, w, all_done))
				continue;
			break;
		}
		if (d == 0 && mp_state(w) == MP_TAKING) {
			/* Another consumer's: walk past it, but keep the hint
			 * before it (a peek may give it back). */
			if (shmring__repair_claim(r, p, w, all_done))
				continue;
			all_done = false;
		} else if (d == -1) {
			/* A lap behind: we walked a whole lap (over slots being
			 * taken, or done) back to a slot whose previous lap is
			 * still being taken (or was given back): nothing is
			 * ready from here on. */
			break;
		} else if (d < 1) {
			return -EPROTO;
		}
		/* A later lap (d > 1 too: a hint store landed late) is done. */
		p = pos_next(r, p);
		if (all_done)
			*done = p;
	}
	r->pos = *done;
	return -EAGAIN;
}

/* Takes up to N READY slots (TAKING, with our token) from the first one on,
 * stopping at the first it cannot get and at the wrap when RUN: the first
 * in *FIRST, the hint bound in *DONE (mpmc_find). Returns the count,
 * -EAGAIN (empty), -EPROTO. */
static inline long mpmc_take(struct shmring *r, size_t n, bool run, uint64_t *first,
			     uint64_t *done)
{
	uint64_t p, w;
	size_t m;
	int rc;

	for (;;) {
		rc = mpmc_find(r, &p, done);
		if (rc)
			return rc;
		w = mp_word(r, p, MP_READY);
		/* acquire: pairs with the producer's release of READY: our
		 * reads of the element come after its writes. */
		if (atomic_compare_exchange_strong_explicit(
			    seq_at(r, p), &w, mp_word(r, p, MP_TAKING) | r->token,
			    memory_order_acquire, memory_order_relaxed))
			break;
		r->pos = *done; /* another consumer took it: look again */
	}
	*first = p;
	if (run && n > pos_to_wrap(r, p))
		n = (size_t)pos_to_wrap(r, p);
	for (m = 1; m < n; m++) {
		p = pos_next(r, p);
		w = mp_word(r, p, MP_READY);
		if (!atomic_compare_exchange_strong_explicit(
			    seq_at(r, p), &w, mp_word(r, p, MP_TAKING) | r->token,
			    memory_order_acquire, memory_order_relaxed))
			break;
	}
	return (long)m;
}

/* Moves the hints to HINT (our own; the shared one only forward). */
static inline void mpmc_hint(struct shmring *r, uint64_t hint)
{
	r->pos = hint;
	if (pos_before(atomic_load_explicit(&r->hdr->tail, memory_order_relaxed), hint))
		atomic_store_explicit(&r->hdr->tail, hint, memory_order_relaxed);
}

/* Frees the first K of N taken slots from P on (FREE of the next lap) and
 * gives the rest back (READY), then wakes producers. */
static inline void mpmc_untake(struct shmring *r, uint64_t p, size_t k, size_t n)
{
	for (size_t i = 0; i < n; i++, p = pos_next(r, p))
		/* release: our copy-out is done before the slot goes back to
		 * producers (or, given back, to other consumers). */
		atomic_store_explicit(seq_at(r, p),
				      i < k ? mp_word(r, p + r->lap, MP_FREE) :
					      mp_word(r, p, MP_READY),
				      memory_order_release);
	if (k)
		shmring__ec_signal(r, &r->hdr->not_full);
	if (k < n)
		shmring__ec_signal(r, &r->hdr->not_empty);
}

static inline long mpmc_pop_n(struct shmring *r, void *elems, size_t n)
{
	unsigned char *b = elems;
	uint64_t first = 0, done = 0, p;
	long m = mpmc_take(r, n, false, &first, &done);

	if (m < 0)
		return m;
	p = first;
	for (long i = 0; i < m; i++, p = pos_next(r, p), b += r->elem_size)
		shmring__copy(b, slot_at(r, p), r->elem_size);
	mpmc_untake(r, first, (size_t)m, (size_t)m);
	/* Our slots are done now: the hint may pass them if nothing before
	 * them was in the way. */
	mpmc_hint(r, done == first ? p : done);
	return m;
}

/* ---- one element, fast ------------------------------------------------------ */

static __attribute__((noinline)) long mpsc_pop_slow(struct shmring *r, void *elem)
{
	long m = mpsc_pop_n(r, elem, 1);

	return m < 0 ? m : 0;
}

/* The MPSC consumer's next slot is READY (take it) or FREE (empty); steps
 * over skipped slots and claims in the way take the general path. */
static ALWAYS_INLINE long mpsc_pop(struct shmring *r, void *elem)
{
	uint64_t p = r->pos;
	_Atomic uint64_t *sq = seq_at(r, p);
	/* acquire: pairs with the producer's release of READY. */
	uint64_t w = atomic_load_explicit(sq, memory_order_acquire);

	if (unlikely(w != mp_word(r, p, MP_READY)))
		return w == mp_word(r, p, MP_FREE) ? -EAGAIN : mpsc_pop_slow(r, elem);
	shmring__copy(elem, slot_at(r, p), r->elem_size);
	/* release: as in mpsc_free. */
	atomic_store_explicit(sq, mp_word(r, p + r->lap, MP_FREE), memory_order_release);
	r->pos = pos_next(r, p);
	atomic_store_explicit(&r->hdr->tail, r->pos, memory_order_release);
	shmring__ec_signal(r, &r->hdr->not_full);
	return 0;
}

static __attribute__((noinline)) long mpmc_pop_slow(struct shmring *r, void *elem)
{
	long m = mpmc_pop_n(r, elem, 1);

	return m < 0 ? m : 0;
}

/* An MPMC consumer takes the slot at the later of the hints when it is
 * READY; FREE there is empty; anything else takes the general path. */
static ALWAYS_INLINE long mpmc_pop(struct shmring *r, void *elem)
{
	uint64_t t = atomic_load_explicit(&r->hdr->tail, memory_order_relaxed);
	uint64_t p = pos_before(t, r->pos) ? r->pos : t;
	_Atomic uint64_t *sq;
	uint64_t w, rw;

	if (unlikely((p & r->mask) >= r->cap))
		return -EPROTO;
	sq = seq_at(r, p);
	rw = mp_word(r, p, MP_READY);
	w = rw;
	/* acquire: as in mpmc_take. */
	if (unlikely(!atomic_compare_exchange_strong_explicit(
		    sq, &w, (rw ^ MP_READY) | MP_TAKING | r->token, memory_order_acquire,
		    memory_order_relaxed)))
		return w == (rw ^ MP_READY) ? -EAGAIN : mpmc_pop_slow(r, elem);
	shmring__copy(elem, slot_at(r, p), r->elem_size);
	/* release: as in mpmc_untake. */
	atomic_store_explicit(sq, mp_word(r, p + r->lap, MP_FREE), memory_order_release);
	r->pos = pos_next(r, p);
	if (pos_before(t, r->pos))
		atomic_store_explicit(&r->hdr->tail, r->pos, memory_order_relaxed);
	shmring__ec_signal(r, &r->hdr->not_full);
	return 0;
}

#endif /* SHMRING_MP_H */
