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

/* Re-reads the other side's shared position (tail for the producer, head for
 * the consumer) into r->cached. acquire: pairs with the other side's release
 * store: the consumer is done reading the slots before tail, the producer
 * has written the elements before head. An index out of range means the
 * segment was scribbled on: -EPROTO, the old copy kept. */
static inline int spsc_refresh(struct shmring *r, _Atomic uint64_t *other)
{
	uint64_t v = atomic_load_explicit(other, memory_order_acquire);

	if (unlikely((v & r->mask) >= r->cap))
		return -EPROTO;
	r->cached = v;
	return 0;
}

/* Free slots (producer) or ready elements (consumer), refreshing the cached
 * position only when the copy shows fewer than WANT; or -EPROTO. */
static inline int64_t spsc_room(struct shmring *r, uint64_t want)
{
	bool prod = r->kind == K_SPSC_PROD;
	uint64_t n = prod ? r->cap - pos_count(r, r->pos, r->cached) :
			    pos_count(r, r->cached, r->pos);

	if (n >= want)
		return (int64_t)n;
	if (spsc_refresh(r, prod ? &r->hdr->tail : &r->hdr->head))
		return -EPROTO;
	return (int64_t)(prod ? r->cap - pos_count(r, r->pos, r->cached) :
				pos_count(r, r->cached, r->pos));
}

static inline int spsc_push(struct shmring *r, const void *elem)
{
	uint64_t pos = r->pos;

	if (unlikely(pos == r->cached + r->lap)) {
		if (spsc_refresh(r, &r->hdr->tail))
			return -EPROTO;
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
		if (spsc_refresh(r, &r->hdr->head))
			return -EPROTO;
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

/* Moves up to N elements in (producer) or out (consumer) with one index
 * store and one signal. */
static size_t spsc_burst(struct shmring *r, void *elems, size_t n, int *err)
{
	bool prod = r->kind == K_SPSC_PROD;
	int64_t m = spsc_room(r, n);

	if (m < 0)
		*err = (int)m;
	if (m <= 0)
		return 0;
	if ((uint64_t)m > n)
		m = (int64_t)n;
	spsc_copy(r, r->pos, elems, (size_t)m, prod);
	r->pos = pos_add(r, r->pos, (uint64_t)m);
	/* release: as in spsc_push (head) and spsc_pop (tail). */
	atomic_store_explicit(prod ? &r->hdr->head : &r->hdr->tail, r->pos,
			      memory_order_release);
	shmring__ec_signal(r, prod ? &r->hdr->not_empty : &r->hdr->not_full);
	return (size_t)m;
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
 * Reloads *POS from SHARED when it was stale (NULL: *POS is private, so it
 * cannot be). Returns the count, or a negative errno: -EAGAIN (nothing
 * ready: full or empty), -EPROTO. */
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
				/* diff > 0: someone took *pos already. A private
				 * position (SHARED NULL) cannot be stale. */
				uint64_t now =
					shared ? atomic_load_explicit(
							 shared, memory_order_relaxed) :
						 *pos;

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
	long m = mp_ready(r, NULL, &p, n, 1);

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

/* Up to N elements moved; *ERR gets a negative errno when none moved. */
static size_t push_n(struct shmring *r, const void *elems, size_t n, int *err)
{
	switch (r->kind) {
	case K_SPSC_PROD:
		return spsc_burst(r, (void *)elems, n, err);
	case K_MPSC_PROD:
	case K_MPMC_PROD:
		return mp_push_n(r, elems, n, err);
	default:
		*err = -EINVAL;
		return 0;
	}
}

static size_t pop_n(struct shmring *r, void *elems, size_t n, int *err)
{
	switch (r->kind) {
	case K_SPSC_CONS:
		return spsc_burst(r, elems, n, err);
	case K_MPSC_CONS:
		return mpsc_pop_n(r, elems, n, err);
	case K_MPMC_CONS:
		return mpmc_pop_n(r, elems, n, err);
	default:
		*err = -EINVAL;
		return 0;
	}
}

bool shmring__can_progress(struct shmring *r)
{
	uint64_t p;

	switch (r->kind) {
	case K_SPSC_PROD:
	case K_SPSC_CONS:
		return spsc_room(r, 1) != 0; /* -EPROTO too: let the call report it */
	case K_MPSC_CONS:
		p = r->pos;
		return mp_ready(r, NULL, &p, 1, 1) != -EAGAIN;
	case K_MPMC_CONS:
		p = atomic_load_explicit(&r->hdr->tail, memory_order_relaxed);
		return mp_ready(r, &r->hdr->tail, &p, 1, 1) != -EAGAIN;
	default: /* MP producers */
		p = atomic_load_explicit(&r->hdr->head, memory_order_relaxed);
		return mp_ready(r, &r->hdr->head, &p, 1, 0) != -EAGAIN;
	}
}

/* ---- public calls ----------------------------------------------------------- */

/* Probes for COUNT elements moved (0: the ring was full / empty). */
static inline void probe_moved(struct shmring *r, size_t count, bool push)
{
	if (count && push)
		SHMRING_PROBE(push, r, r->name, shmring_pending(r), r->cap, count);
	else if (count)
		SHMRING_PROBE(pop, r, r->name, shmring_pending(r), r->cap, count);
	else if (push)
		SHMRING_PROBE(full, r, r->name, r->cap);
	else
		SHMRING_PROBE(empty, r, r->name);
}

/* A call that found nothing to do re-arms the pollable fd: the fd's
 * convention. 0, or why the fd could not be armed (negative errno). */
static inline int rearm(struct shmring *r)
{
	return r->waitfd ? shmring__waitfd_rearm(r) : 0;
}

/* A failed call: errno, after re-arming the fd on EAGAIN (a failed arm is
 * what the caller is told then, or it would wait for a wake never coming). */
static int op_failed(struct shmring *r, int rc)
{
	int e = rc == -EAGAIN ? rearm(r) : 0;

	return shmring__err(e ? -e : -rc);
}

static inline int op_result(struct shmring *r, int rc, bool push)
{
	if (rc == 0 || rc == -EAGAIN)
		probe_moved(r, rc == 0, push);
	return rc == 0 ? 0 : op_failed(r, rc);
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

/* push (PUSH) or pop that waits until DEADLINE (UINT64_MAX: forever). */
static int op_wait(struct shmring *r, void *buf, uint64_t deadline, bool push)
{
	shmring__op_fn op = push ? shmring__try_push : shmring__try_pop;
	int rc;

	if (unlikely(!r || !buf))
		return shmring__err(EINVAL);
	rc = op(r, buf);
	if (rc == -EAGAIN) {
		probe_moved(r, 0, push);
		rc = shmring__wait_op(r, push ? &r->hdr->not_full : &r->hdr->not_empty,
				      op, buf, deadline);
	}
	if (rc == 0)
		probe_moved(r, 1, push);
	return rc == 0 ? 0 : shmring__err(-rc);
}

int shmring_push(struct shmring *r, const void *elem)
{
	return op_wait(r, (void *)elem, UINT64_MAX, true);
}

int shmring_timed_push(struct shmring *r, const void *elem, uint64_t timeout_ns)
{
	return op_wait(r, (void *)elem, deadline_after(timeout_ns), true);
}

int shmring_pop(struct shmring *r, void *elem)
{
	return op_wait(r, elem, UINT64_MAX, false);
}

int shmring_timed_pop(struct shmring *r, void *elem, uint64_t timeout_ns)
{
	return op_wait(r, elem, deadline_after(timeout_ns), false);
}

/* A burst's outcome: the count, or -1 with errno. */
static ssize_t burst_result(struct shmring *r, size_t moved, int err, bool push)
{
	if (err && err != -EAGAIN)
		return shmring__err(-err);
	probe_moved(r, moved, push);
	if (!moved && (err = rearm(r)))
		return shmring__err(-err);
	return (ssize_t)moved;
}

/* Up to N elements in (PUSH) or out, without blocking. */
static ssize_t burst(struct shmring *r, void *elems, size_t n, bool push)
{
	size_t moved;
	int err = 0;

	if (unlikely(!r || (!elems && n)))
		return shmring__err(EINVAL);
	if (!n)
		return 0;
	n = n > r->cap ? (size_t)r->cap : n;
	moved = push ? push_n(r, elems, n, &err) : pop_n(r, elems, n, &err);
	return burst_result(r, moved, err, push);
}

ssize_t shmring_push_burst(struct shmring *r, const void *elems, size_t n)
{
	return burst(r, (void *)elems, n, true);
}

ssize_t shmring_pop_burst(struct shmring *r, void *elems, size_t n)
{
	return burst(r, elems, n, false);
}
