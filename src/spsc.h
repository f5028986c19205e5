/* SPDX-License-Identifier: MIT */
/*
 * The single-producer single-consumer data path (included by queue.c only).
 *
 * Rules:
 *  - One producer handle writes the slots ahead of the consumer, each
 *    element then its sequence word = position + 1 (release), and stores
 *    head for observers. One consumer handle reads a slot when its word says
 *    position + 1 (acquire), copies the element out, and stores tail
 *    (release).
 *  - The consumer learns that the ring is empty from the slot it is about to
 *    read, never from head: polling an empty ring reads only the line the
 *    producer writes next, so a message costs about one line transfer when
 *    it fits a line with its word (FastForward, B-Queue).
 *  - The producer keeps a private copy of tail and re-reads the shared one
 *    only when the copy says full (once per lap when the ring runs near
 *    empty). Capacity stays exact: full means capacity elements the consumer
 *    has not freed.
 *  - A stale word can only say "not ready": a slot's word is p + 1 for the
 *    position it last served, and the one it serves next is a lap later.
 *  - Every position we use is private and bounded (index < capacity); a
 *    shared value that addresses memory (tail) is checked first (EPROTO).
 */
#ifndef SHMRING_SPSC_H
#define SHMRING_SPSC_H

#include "copy.h"
#include "ring.h"

/* Re-reads tail into r->cached. acquire: pairs with the consumer's release
 * store of tail: it is done reading the slots before tail. */
static inline int spsc_refresh_tail(struct shmring *r)
{
	uint64_t v = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);

	if (unlikely((v & r->mask) >= r->cap))
		return -EPROTO;
	r->cached = v;
	return 0;
}

/* Free slots for the producer, refreshing the copy of tail only when it
 * shows fewer than WANT; or -EPROTO. */
static inline int64_t spsc_room(struct shmring *r, uint64_t want)
{
	uint64_t n = r->cap - pos_count(r, r->pos, r->cached);

	if (n >= want)
		return (int64_t)n;
	if (spsc_refresh_tail(r))
		return -EPROTO;
	return (int64_t)(r->cap - pos_count(r, r->pos, r->cached));
}

/* Ready elements from the consumer's position on, up to N and not past the
 * wrap when RUN (zero-copy wants one stretch of memory). */
static inline size_t spsc_ready(struct shmring *r, size_t n, bool run)
{
	uint64_t p = r->pos;
	size_t m = 0;

	if (run && n > pos_to_wrap(r, p))
		n = (size_t)pos_to_wrap(r, p);
	/* acquire: pairs with the producer's release store of the word. */
	while (m < n &&
	       atomic_load_explicit(seq_at(r, p), memory_order_acquire) == p + 1) {
		m++;
		p = pos_next(r, p);
	}
	return m;
}

/* Publishes N written slots from the producer's position on. */
static inline void spsc_publish(struct shmring *r, size_t n)
{
	uint64_t p = r->pos;

	for (size_t i = 0; i < n; i++, p = pos_next(r, p))
		/* release: the element is written before its word says so
		 * (pairs with the consumer's acquire load in spsc_ready). */
		atomic_store_explicit(seq_at(r, p), p + 1, memory_order_release);
	r->pos = p;
	/* For observers (pending, stat): the consumer never reads head. */
	atomic_store_explicit(&r->hdr->head, p, memory_order_release);
	shmring__ec_signal(r, &r->hdr->not_empty);
}

/* Frees N consumed slots from the consumer's position on. */
static inline void spsc_free(struct shmring *r, size_t n)
{
	r->pos = pos_add(r, r->pos, n);
	/* release: our reads of the slots are done before the producer may
	 * reuse them (pairs with the acquire in spsc_refresh_tail). */
	atomic_store_explicit(&r->hdr->tail, r->pos, memory_order_release);
	shmring__ec_signal(r, &r->hdr->not_full);
}

static ALWAYS_INLINE long spsc_push(struct shmring *r, const void *elem)
{
	uint64_t pos = r->pos;
	unsigned char *s;

	if (unlikely(pos == r->cached + r->lap)) {
		if (spsc_refresh_tail(r))
			return -EPROTO;
		if (pos == r->cached + r->lap)
			return -EAGAIN;
	}
	s = slot_at(r, pos);
	shmring__copy(s, elem, r->elem_size);
	/* release: as in spsc_publish. */
	atomic_store_explicit((_Atomic uint64_t *)(s + r->seq_off), pos + 1,
			      memory_order_release);
	r->pos = pos_next(r, pos);
	atomic_store_explicit(&r->hdr->head, r->pos, memory_order_release);
	shmring__ec_signal(r, &r->hdr->not_empty);
	return 0;
}

static ALWAYS_INLINE long spsc_pop(struct shmring *r, void *elem)
{
	uint64_t pos = r->pos;
	unsigned char *s = slot_at(r, pos);

	/* acquire: as in spsc_ready. */
	if (atomic_load_explicit((_Atomic uint64_t *)(s + r->seq_off),
				 memory_order_acquire) != pos + 1)
		return -EAGAIN;
	shmring__copy(elem, s, r->elem_size);
	r->pos = pos_next(r, pos);
	/* release: as in spsc_free. */
	atomic_store_explicit(&r->hdr->tail, r->pos, memory_order_release);
	shmring__ec_signal(r, &r->hdr->not_full);
	return 0;
}

/* Copies N elements between BUF (packed) and the slots from P on. */
static inline void spsc_copy_run(struct shmring *r, uint64_t p, void *buf, size_t n,
				 bool in)
{
	unsigned char *b = buf;

	for (size_t i = 0; i < n; i++, p = pos_next(r, p), b += r->elem_size) {
		if (in)
			shmring__copy(slot_at(r, p), b, r->elem_size);
		else
			shmring__copy(b, slot_at(r, p), r->elem_size);
	}
}

static inline long spsc_push_n(struct shmring *r, const void *elems, size_t n)
{
	int64_t m = spsc_room(r, n);

	if (m <= 0)
		return m ? m : -EAGAIN;
	if ((uint64_t)m > n)
		m = (int64_t)n;
	spsc_copy_run(r, r->pos, (void *)elems, (size_t)m, true);
	spsc_publish(r, (size_t)m);
	return m;
}

static inline long spsc_pop_n(struct shmring *r, void *elems, size_t n)
{
	size_t m = spsc_ready(r, n, false);

	if (!m)
		return -EAGAIN;
	spsc_copy_run(r, r->pos, elems, m, false);
	spsc_free(r, m);
	return (long)m;
}

/* Zero-copy: how many slots from the handle's position can be lent. */
static inline long spsc_reserve(struct shmring *r, size_t n)
{
	int64_t m;

	if (n > pos_to_wrap(r, r->pos))
		n = (size_t)pos_to_wrap(r, r->pos);
	m = spsc_room(r, n);
	if (m <= 0)
		return m ? m : -EAGAIN;
	return (uint64_t)m > n ? (long)n : m;
}

static inline long spsc_peek(struct shmring *r, size_t n)
{
	size_t m = spsc_ready(r, n, true);

	return m ? (long)m : -EAGAIN;
}

#endif /* SHMRING_SPSC_H */
