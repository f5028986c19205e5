// SPDX-License-Identifier: MIT
/*
 * Concurrency Kit ck_ring (libck-dev 0.7) as a transport. Its control block
 * holds no pointers, so it works across processes: the ring at the start of
 * the channel, the slots on the next 128-byte line.
 *
 * Messages go in by value through the typed interface (CK_RING_PROTOTYPE), one
 * instance per element size, so the copy has a constant size as it would in
 * an application. ck_ring sizes are powers of two and hold one less: a ring
 * for capacity C has the power of two at or above C slots (C - 1 messages
 * when C is a power of two).
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>

#include <ck_ring.h>

#define CK_SIZES(X) \
	X(8) X(16) X(32) X(64) X(128) X(256) X(512) X(1024) X(1472) X(2048) X(4096)

#define CK_TYPE(n)                  \
	struct ckm##n {             \
		unsigned char b[n]; \
	};                          \
	CK_RING_PROTOTYPE(m##n, ckm##n)
CK_SIZES(CK_TYPE)

#define CK_BUF_OFFSET 256 /* slots start past the control block, line aligned */

struct ck_h {
	struct ck_ring *ring;
	void *buf;
	size_t elem;
	enum shmring_policy policy;
};

/* One push and one pop per size; the policy picks ck's variant. */
#define CK_OPS(n)                                                             \
	static int ck_push_##n(struct ck_h *h, const void *e)                 \
	{                                                                     \
		struct ckm##n *m = (struct ckm##n *)e;                        \
                                                                              \
		switch (h->policy) {                                          \
		case SHMRING_SPSC:                                            \
			return ck_ring_enqueue_spsc_m##n(h->ring, h->buf, m); \
		case SHMRING_MPSC:                                            \
			return ck_ring_enqueue_mpsc_m##n(h->ring, h->buf, m); \
		default:                                                      \
			return ck_ring_enqueue_mpmc_m##n(h->ring, h->buf, m); \
		}                                                             \
	}                                                                     \
	static int ck_pop_##n(struct ck_h *h, void *e)                        \
	{                                                                     \
		switch (h->policy) {                                          \
		case SHMRING_SPSC:                                            \
			return ck_ring_dequeue_spsc_m##n(h->ring, h->buf, e); \
		case SHMRING_MPSC:                                            \
			return ck_ring_dequeue_mpsc_m##n(h->ring, h->buf, e); \
		default:                                                      \
			return ck_ring_dequeue_mpmc_m##n(h->ring, h->buf, e); \
		}                                                             \
	}
CK_SIZES(CK_OPS)

#define CK_PUSH_CASE(n) \
	case n:         \
		return ck_push_##n(h, e);
#define CK_POP_CASE(n) \
	case n:        \
		return ck_pop_##n(h, e);
#define CK_SIZE_CASE(n) \
	case n:         \
		return true;

static bool ck_size_ok(size_t elem)
{
	switch (elem) {
		CK_SIZES(CK_SIZE_CASE)
	default:
		return false;
	}
}

static unsigned ck_slots(const struct xp_cfg *c)
{
	unsigned n = 2;

	while (n < c->cap)
		n <<= 1;
	return n;
}

static const char *ck_variant(const struct xp_cfg *c)
{
	switch (c->policy) {
	case SHMRING_SPSC:
		return "spsc";
	case SHMRING_MPSC:
		return "mpsc";
	default:
		return "mpmc";
	}
}

static size_t ck_memsize(const struct xp_cfg *c)
{
	return CK_BUF_OFFSET + (size_t)ck_slots(c) * c->elem;
}

static int ck_setup(struct xp_chan *ch, const struct xp_cfg *c)
{
	if (!ck_size_ok(c->elem)) {
		errno = EINVAL; /* no CK_RING_PROTOTYPE for this size */
		return -1;
	}
	ck_ring_init(ch->base, ck_slots(c));
	return 0;
}

static void ck_teardown(struct xp_chan *ch)
{
	(void)ch;
}

static void *ck_open(struct xp_chan *ch, const struct xp_cfg *c, enum shmring_role role)
{
	struct ck_h *h = malloc(sizeof(*h));

	(void)role;
	if (!h)
		return NULL;
	h->ring = ch->base;
	h->buf = (char *)ch->base + CK_BUF_OFFSET;
	h->elem = c->elem;
	h->policy = c->policy;
	return h;
}

static void ck_close(void *h)
{
	free(h);
}

static int ck_push(void *hp, const void *e)
{
	struct ck_h *h = hp;

	switch (h->elem) {
		CK_SIZES(CK_PUSH_CASE)
	default:
		errno = EINVAL;
		return -1;
	}
}

static int ck_pop(void *hp, void *e)
{
	struct ck_h *h = hp;

	switch (h->elem) {
		CK_SIZES(CK_POP_CASE)
	default:
		errno = EINVAL;
		return -1;
	}
}

const struct xp_ops xp_ck_ring = {
	.name = "ck_ring",
	.policies = 1u << SHMRING_SPSC | 1u << SHMRING_MPSC | 1u << SHMRING_MPMC,
	.modes = 1u << WAIT_BUSY,
	.bursts = false,
	.variant = ck_variant,
	.memsize = ck_memsize,
	.setup = ck_setup,
	.teardown = ck_teardown,
	.open = ck_open,
	.close = ck_close,
	.push = ck_push,
	.pop = ck_pop,
};
