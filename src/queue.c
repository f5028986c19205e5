// SPDX-License-Identifier: MIT
/*
 * Data paths: SPSC, MPSC and MPMC push/pop, single and burst, and the public
 * try/blocking/timed calls that dispatch to them.
 *
 * Concurrency rules:
 *  - SPSC: one producer handle writes head and the slots ahead of it; one
 *    consumer handle writes tail. Each keeps a private copy of the other's
 *    index and re-reads the shared one only when the copy says full/empty.
 *  - MPSC/MPMC (Vyukov): every slot carries a sequence number. A producer at
 *    position p may write slot p when seq == p, claims p by moving head with a
 *    CAS, and publishes with seq = p + 1. A consumer takes it when seq == p + 1
 *    and frees it, after copying out, with seq = p + lap (the position the
 *    slot serves next lap). A producer pre-empted between claim and publish
 *    holds up only its own slot: other producers keep claiming and publishing.
 *    The single consumer of MPSC keeps its position private; MPMC consumers
 *    claim positions with a CAS on tail.
 *  - Every internal op returns 0 or a negative errno and never touches errno;
 *    the public wrappers set errno on failure only.
 *  - A position read from shared memory is bounded (index < capacity) before
 *    it addresses a slot: a corrupt segment gives EPROTO or wrong data, never
 *    an access outside the mapping.
 */
#include "ring.h"
#include "probes.h"

/* ---- copying runs of slots ----------------------------------------------- */

/* Copies N elements between BUF and the slots from position P on (SPSC slots
 * only: no sequence words), as one or two memcpy when slots are packed. */
static void spsc_copy(struct shmring *r, uint64_t p, void *buf, size_t n, bool in)
{
	unsigned char *b = buf;

	while (n) {
		uint64_t idx = p & r->mask;
		size_t run = (size_t)(r->cap - idx) < n ? (size_t)(r->cap - idx) : n;
		unsigned char *s = slot_at(r, p);

		if (r->slot_size == r->elem_size) {
			if (in)
				memcpy(s, b, run * r->elem_size);
			else
				memcpy(b, s, run * r->elem_size);
		} else {
			for (size_t i = 0; i < run; i++) {
				if (in)
					memcpy(s + i * r->slot_size, b + i * r->elem_size,
					       r->elem_size);
				else
					memcpy(b + i * r->elem_size, s + i * r->slot_size,
					       r->elem_size);
			}
		}
		b += run * r->elem_size;
		n -= run;
		p = pos_add(r, p, run);
	}
}

/* ---- SPSC ------------------------------------------------------------------ */

/* Free slots as the producer sees them, refreshing its copy of tail only when
 * the cached value shows fewer than WANT. */
static inline uint64_t spsc_free(struct shmring *r, uint64_t want)
{
	uint64_t free = r->cap - pos_count(r, r->pos, r->cached);

	if (free < want) {
		/* acquire: pairs with the consumer's release store of tail; the
		 * consumer is done reading the slots we are about to overwrite. */
		r->cached = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
		free = r->cap - pos_count(r, r->pos, r->cached);
	}
	return free;
}

static inline uint64_t spsc_ready(struct shmring *r, uint64_t want)
{
	uint64_t ready = pos_count(r, r->cached, r->pos);

	if (ready < want) {
		/* acquire: pairs with the producer's release store of head; the
		 * elements before head are written. */
		r->cached = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
		ready = pos_count(r, r->cached, r->pos);
	}
	return ready;
}

static inline int spsc_push(struct shmring *r, const void *elem)
{
	uint64_t pos = r->pos;

	if (unlikely(pos == r->cached + r->lap)) {
		/* acquire: pairs with the consumer's release store of tail. */
		r->cached = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
		if (pos == r->cached + r->lap)
			return -EAGAIN;
	}
	memcpy(slot_at(r, pos), elem, r->elem_size);
	r->pos = pos_next(r, pos);
	/* release: the element is written before head says it exists (pairs
	 * with the consumer's acquire load of head). */
	atomic_store_explicit(&r->hdr->head, r->pos, memory_order_release);
	shmring__ec_signal(r, &r->hdr->not_empty);
	return 0;
}

static inline int spsc_pop(struct shmring *r, void *elem)
{
	uint64_t pos = r->pos;

	if (unlikely(pos == r->cached)) {
		/* acquire: pairs with the producer's release store of head. */
		r->cached = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
		if (pos == r->cached)
			return -EAGAIN;
	}
	memcpy(elem, slot_at(r, pos), r->elem_size);
	r->pos = pos_next(r, pos);
	/* release: our copy-out is done before the producer may reuse the slot
	 * (pairs with the producer's acquire load of tail). */
	atomic_store_explicit(&r->hdr->tail, r->pos, memory_order_release);
	shmring__ec_signal(r, &r->hdr->not_full);
	return 0;
}

static size_t spsc_push_burst(struct shmring *r, const void *elems, size_t n)
{
	uint64_t m = spsc_free(r, n);

	if (m > n)
		m = n;
	if (!m)
		return 0;
	spsc_copy(r, r->pos, (void *)elems, m, true);
	r->pos = pos_add(r, r->pos, m);
	/* release: pairs with the consumer's acquire load of head. */
	atomic_store_explicit(&r->hdr->head, r->pos, memory_order_release);
	shmring__ec_signal(r, &r->hdr->not_empty);
	return m;
}

static size_t spsc_pop_burst(struct shmring *r, void *elems, size_t n)
{
	uint64_t m = spsc_ready(r, n);

	if (m > n)
		m = n;
	if (!m)
		return 0;
	spsc_copy(r, r->pos, elems, m, false);
	r->pos = pos_add(r, r->pos, m);
	/* release: pairs with the producer's acquire load of tail. */
	atomic_store_explicit(&r->hdr->tail, r->pos, memory_order_release);
	shmring__ec_signal(r, &r->hdr->not_full);
	return m;
}

/* ---- Vyukov slots ---------------------------------------------------------- */

/* The slot at shared position P, or NULL if P's index is out of bounds (a
 * corrupt head or tail). */
static inline struct shmring__mslot *mslot(const struct shmring *r, uint64_t p)
{
	if (unlikely((p & r->mask) >= r->cap))
		return NULL;
	return slot_at(r, p);
}

/* How many positions from *POS on are ready for the caller (a producer when
 * BIAS is 0: seq == p; a consumer when BIAS is 1: seq == p + 1), up to N.
 * Reloads *POS from SHARED when it was stale. Returns the count, or a
 * negative errno: -EAGAIN (nothing ready: full or empty), -EPROTO. */
static long mp_ready(struct shmring *r, _Atomic uint64_t *shared, uint64_t *pos, size_t n,
		     uint64_t bias)
{
	for (;;) {
		uint64_t p = *pos;
		size_t m = 0;

		while (m < n) {
			struct shmring__mslot *s = mslot(r, p);
			int64_t diff;

			if (!s)
				return -EPROTO;
			/* acquire: pairs with the release store of seq by the
			 * side that handed the slot over (a consumer freeing it,
			 * or a producer publishing it). */
			diff = (int64_t)(atomic_load_explicit(&s->seq,
							      memory_order_acquire) -
					 (p + bias));
			if (diff != 0) {
				if (m || diff < 0)
					return m ? (long)m : -EAGAIN;
				/* diff > 0: someone took *pos already. */
				uint64_t now = atomic_load_explicit(shared,
								    memory_order_relaxed);

				if (now == *pos)
					return -EPROTO; /* slot ahead of the index */
				*pos = now;
				break;
			}
			m++;
			p = pos_next(r, p);
		}
		if (m)
			return (long)m;
	}
}

/* Claims up to *N positions from the shared counter SHARED (head for
 * producers, tail for MPMC consumers): the first goes to *FIRST, *N shrinks
 * to what was ready. Returns 0 or a negative errno. */
static inline int mp_claim(struct shmring *r, _Atomic uint64_t *shared, size_t *n,
			   uint64_t bias, uint64_t *first)
{
	uint64_t pos = atomic_load_explicit(shared, memory_order_relaxed);

	for (;;) {
		long m = mp_ready(r, shared, &pos, *n, bias);

		if (m < 0)
			return (int)m;
		/* relaxed: the CAS only arbitrates between claimants; the data
		 * is ordered by the slot's seq (acquire in mp_ready, release by
		 * our caller after copying). */
		if (atomic_compare_exchange_weak_explicit(
			    shared, &pos, pos_add(r, pos, (uint64_t)m),
			    memory_order_relaxed, memory_order_relaxed)) {
			*n = (size_t)m;
			*first = pos;
			return 0;
		}
	}
}

static size_t mp_push_n(struct shmring *r, const void *elems, size_t n, int *err)
{
	uint64_t p = 0;
	int rc = mp_claim(r, &r->hdr->head, &n, 0, &p);
	const unsigned char *b = elems;

	if (rc) {
		*err = rc;
		return 0;
	}
	for (size_t i = 0; i < n; i++, p = pos_next(r, p)) {
		struct shmring__mslot *s = slot_at(r, p);

		memcpy(s->data, b + i * r->elem_size, r->elem_size);
		/* release: the element is written before seq hands the slot to
		 * consumers (pairs with their acquire load in mp_ready). */
		atomic_store_explicit(&s->seq, p + 1, memory_order_release);
	}
	shmring__ec_signal(r, &r->hdr->not_empty);
	return n;
}

/* Copies out N claimed elements from P on and frees their slots. */
static void mc_take(struct shmring *r, uint64_t p, void *elems, size_t n)
{
	unsigned char *b = elems;

	for (size_t i = 0; i < n; i++, p = pos_next(r, p)) {
		struct shmring__mslot *s = slot_at(r, p);

		memcpy(b + i * r->elem_size, s->data, r->elem_size);
		/* release: our copy-out is done before the slot goes back to
		 * producers (pairs with their acquire load in mp_ready). */
		atomic_store_explicit(&s->seq, p + r->lap, memory_order_release);
	}
}

static size_t mpmc_pop_n(struct shmring *r, void *elems, size_t n, int *err)
{
	uint64_t p = 0;
	int rc = mp_claim(r, &r->hdr->tail, &n, 1, &p);

	if (rc) {
		*err = rc;
		return 0;
	}
	mc_take(r, p, elems, n);
	shmring__ec_signal(r, &r->hdr->not_full);
	return n;
}

/* MPSC consumer: its position is private, no CAS needed. */
static size_t mpsc_pop_n(struct shmring *r, void *elems, size_t n, int *err)
{
	uint64_t p = r->pos;
	long m = mp_ready(r, &r->hdr->tail, &p, n, 1);

	if (m < 0) {
		*err = (int)m;
		return 0;
	}
	mc_take(r, r->pos, elems, (size_t)m);
	r->pos = pos_add(r, r->pos, (uint64_t)m);
	/* release: for observers (pending()); producers never read tail. */
	atomic_store_explicit(&r->hdr->tail, r->pos, memory_order_release);
	shmring__ec_signal(r, &r->hdr->not_full);
	return (size_t)m;
}

/* ---- dispatch -------------------------------------------------------------- */

int shmring__try_push(struct shmring *r, void *elem)
{
	int err = -EINVAL;

	switch (r->kind) {
	case K_SPSC_PROD:
		return spsc_push(r, elem);
	case K_MPSC_PROD:
	case K_MPMC_PROD:
		return mp_push_n(r, elem, 1, &err) ? 0 : err;
	default:
		return -EINVAL;
	}
}

int shmring__try_pop(struct shmring *r, void *elem)
{
	int err = -EINVAL;

	switch (r->kind) {
	case K_SPSC_CONS:
		return spsc_pop(r, elem);
	case K_MPSC_CONS:
		return mpsc_pop_n(r, elem, 1, &err) ? 0 : err;
	case K_MPMC_CONS:
		return mpmc_pop_n(r, elem, 1, &err) ? 0 : err;
	default:
		return -EINVAL;
	}
}

bool shmring__can_progress(struct shmring *r)
{
	uint64_t p;

	switch (r->kind) {
	case K_SPSC_PROD:
		return spsc_free(r, 1) > 0;
	case K_SPSC_CONS:
		return spsc_ready(r, 1) > 0;
	case K_MPSC_CONS:
		p = r->pos;
		return mp_ready(r, &r->hdr->tail, &p, 1, 1) != -EAGAIN;
	case K_MPMC_CONS:
		p = atomic_load_explicit(&r->hdr->tail, memory_order_relaxed);
		return mp_ready(r, &r->hdr->tail, &p, 1, 1) != -EAGAIN;
	default: /* MP producers */
		p = atomic_load_explicit(&r->hdr->head, memory_order_relaxed);
		return mp_ready(r, &r->hdr->head, &p, 1, 0) != -EAGAIN;
	}
}

static inline uint64_t occupancy(const struct shmring *r)
{
	return shmring_pending(r);
}

/* A failed try: an EAGAIN re-arms the pollable fd (its convention); errno. */
static int op_failed(struct shmring *r, int rc)
{
	if (rc == -EAGAIN && r->waitfd)
		shmring__waitfd_rearm(r);
	return shmring__err(-rc);
}

static inline int op_result(struct shmring *r, int rc, bool push)
{
	if (likely(rc == 0)) {
		if (push)
			SHMRING_PROBE(push, r, r->name, occupancy(r), r->cap, 1);
		else
			SHMRING_PROBE(pop, r, r->name, occupancy(r), r->cap, 1);
		return 0;
	}
	if (rc == -EAGAIN) {
		if (push)
			SHMRING_PROBE(full, r, r->name, r->cap);
		else
			SHMRING_PROBE(empty, r, r->name);
	}
	return op_failed(r, rc);
}

/* Whether a tracer listens to what a try_push (try_pop) can report. Asked
 * before the operation, and the traced call made out of line, so that with
 * no tracer the handle need not survive the call for the probes' arguments:
 * the untraced path pays two loads and a branch over a build without probes
 * (bench/usdt_cost.c measures it). */
#define PUSH_TRACED() unlikely(SHMRING_PROBE_ON(push) | SHMRING_PROBE_ON(full))
#define POP_TRACED()  unlikely(SHMRING_PROBE_ON(pop) | SHMRING_PROBE_ON(empty))

static __attribute__((noinline, cold)) int try_push_traced(struct shmring *r,
							   const void *elem)
{
	return op_result(r, shmring__try_push(r, (void *)elem), true);
}

static __attribute__((noinline, cold)) int try_pop_traced(struct shmring *r, void *elem)
{
	return op_result(r, shmring__try_pop(r, elem), false);
}

int shmring_try_push(struct shmring *r, const void *elem)
{
	int rc;

	if (unlikely(!r || !elem))
		return shmring__err(EINVAL);
	if (PUSH_TRACED())
		return try_push_traced(r, elem);
	rc = shmring__try_push(r, (void *)elem);
	return likely(rc == 0) ? 0 : op_failed(r, rc);
}

int shmring_try_pop(struct shmring *r, void *elem)
{
	int rc;

	if (unlikely(!r || !elem))
		return shmring__err(EINVAL);
	if (POP_TRACED())
		return try_pop_traced(r, elem);
	rc = shmring__try_pop(r, elem);
	return likely(rc == 0) ? 0 : op_failed(r, rc);
}

/* Deadline for a relative timeout, saturating instead of wrapping. */
static uint64_t deadline_after(uint64_t timeout_ns)
{
	uint64_t now = shmring__now_ns();

	return timeout_ns > UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + timeout_ns;
}

static int push_wait(struct shmring *r, const void *elem, uint64_t deadline)
{
	int rc;

	if (unlikely(!r || !elem))
		return shmring__err(EINVAL);
	rc = shmring__try_push(r, (void *)elem);
	if (rc == -EAGAIN) {
		SHMRING_PROBE(full, r, r->name, r->cap);
		rc = shmring__wait_op(r, &r->hdr->not_full, shmring__try_push,
				      (void *)elem, deadline);
	}
	return op_result(r, rc, true);
}

static int pop_wait(struct shmring *r, void *elem, uint64_t deadline)
{
	int rc;

	if (unlikely(!r || !elem))
		return shmring__err(EINVAL);
	rc = shmring__try_pop(r, elem);
	if (rc == -EAGAIN) {
		SHMRING_PROBE(empty, r, r->name);
		rc = shmring__wait_op(r, &r->hdr->not_empty, shmring__try_pop, elem,
				      deadline);
	}
	return op_result(r, rc, false);
}

int shmring_push(struct shmring *r, const void *elem)
{
	return push_wait(r, elem, UINT64_MAX);
}

int shmring_timed_push(struct shmring *r, const void *elem, uint64_t timeout_ns)
{
	return push_wait(r, elem, deadline_after(timeout_ns));
}

int shmring_pop(struct shmring *r, void *elem)
{
	return pop_wait(r, elem, UINT64_MAX);
}

int shmring_timed_pop(struct shmring *r, void *elem, uint64_t timeout_ns)
{
	return pop_wait(r, elem, deadline_after(timeout_ns));
}

ssize_t shmring_push_burst(struct shmring *r, const void *elems, size_t n)
{
	int err = 0;
	size_t m;

	if (unlikely(!r || (!elems && n)))
		return shmring__err(EINVAL);
	if (n > r->cap)
		n = r->cap;
	if (!n)
		return 0;
	switch (r->kind) {
	case K_SPSC_PROD:
		m = spsc_push_burst(r, elems, n);
		break;
	case K_MPSC_PROD:
	case K_MPMC_PROD:
		m = mp_push_n(r, elems, n, &err);
		break;
	default:
		return shmring__err(EINVAL);
	}
	if (err && err != -EAGAIN)
		return shmring__err(-err);
	if (m) {
		SHMRING_PROBE(push, r, r->name, occupancy(r), r->cap, m);
	} else {
		SHMRING_PROBE(full, r, r->name, r->cap);
		if (r->waitfd)
			shmring__waitfd_rearm(r);
	}
	return (ssize_t)m;
}

ssize_t shmring_pop_burst(struct shmring *r, void *elems, size_t n)
{
	int err = 0;
	size_t m;

	if (unlikely(!r || (!elems && n)))
		return shmring__err(EINVAL);
	if (n > r->cap)
		n = r->cap;
	if (!n)
		return 0;
	switch (r->kind) {
	case K_SPSC_CONS:
		m = spsc_pop_burst(r, elems, n);
		break;
	case K_MPSC_CONS:
		m = mpsc_pop_n(r, elems, n, &err);
		break;
	case K_MPMC_CONS:
		m = mpmc_pop_n(r, elems, n, &err);
		break;
	default:
		return shmring__err(EINVAL);
	}
	if (err && err != -EAGAIN)
		return shmring__err(-err);
	if (m) {
		SHMRING_PROBE(pop, r, r->name, occupancy(r), r->cap, m);
	} else {
		SHMRING_PROBE(empty, r, r->name);
		if (r->waitfd)
			shmring__waitfd_rearm(r);
	}
	return (ssize_t)m;
}
