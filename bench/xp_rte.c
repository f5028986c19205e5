// SPDX-License-Identifier: MIT
/*
 * DPDK rte_ring (22.11, libdpdk-dev) as a transport, on the trial's shared
 * segment without EAL: rte_ring_get_memsize_elem + rte_ring_init on caller
 * memory need neither hugepages nor rte_eal_init. RING_F_EXACT_SZ gives the
 * same capacity as the other transports (the slot array rounds up to a power
 * of two past it). Calls are the explicit sp/mp, sc/mc _elem variants that an
 * application which knows its threading uses.
 *
 * For the oversubscribed MPSC and MPMC runs there is also rte_ring's RTS mode
 * (relaxed tail sync, RING_F_MP_RTS_ENQ / RING_F_MC_RTS_DEQ), which DPDK
 * offers for producers and consumers that may be preempted: a preempted
 * MP/MC producer stalls every other producer until it runs again.
 *
 * Bursts use the _burst_elem calls (as many as fit, like
 * shmring_push_burst). rte_ring's _bulk_ calls run the same code with
 * RTE_RING_QUEUE_FIXED, which only changes what happens when fewer than n
 * fit; with bulk, a consumer could never take the last few messages of a trial.
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

struct rte_h {
	struct rte_ring *r;
	unsigned esize;
	bool multi; /* MP enqueue (producer) or MC dequeue (consumer) */
};

static unsigned rts_flags(const struct xp_cfg *c)
{
	return RING_F_EXACT_SZ | RING_F_MP_RTS_ENQ |
	       (c->policy == SHMRING_MPMC ? RING_F_MC_RTS_DEQ : RING_F_SC_DEQ);
}

static const char *rte_variant(const struct xp_cfg *c)
{
	switch (c->policy) {
	case SHMRING_SPSC:
		return "sp/sc";
	case SHMRING_MPSC:
		return "mp/sc";
	default:
		return "mp/mc";
	}
}

static unsigned rte_flags(const struct xp_cfg *c)
{
	unsigned f = RING_F_EXACT_SZ;

	if (c->policy == SHMRING_SPSC)
		f |= RING_F_SP_ENQ;
	if (c->policy != SHMRING_MPMC)
		f |= RING_F_SC_DEQ;
	return f;
}

static size_t rte_memsize(const struct xp_cfg *c)
{
	/* EXACT_SZ: the slot array is the power of two above the capacity. */
	ssize_t n = rte_ring_get_memsize_elem((unsigned)c->elem,
					      rte_align32pow2((uint32_t)c->cap + 1));

	return n < 0 ? 0 : (size_t)n;
}

static int ring_init(struct xp_chan *ch, const struct xp_cfg *c, unsigned flags)
{
	int rc;

	if (c->elem % 4 || !rte_memsize(c)) {
		errno = EINVAL; /* rte_ring elements are multiples of 4 bytes */
		return -1;
	}
	rc = rte_ring_init(ch->base, "bench", (unsigned)c->cap, flags);
	if (rc) {
		errno = -rc;
		return -1;
	}
	return 0;
}

static int rte_setup(struct xp_chan *ch, const struct xp_cfg *c)
{
	return ring_init(ch, c, rte_flags(c));
}

static int rts_setup(struct xp_chan *ch, const struct xp_cfg *c)
{
	return ring_init(ch, c, rts_flags(c));
}

static void rte_teardown(struct xp_chan *ch)
{
	(void)ch;
}

static void *rte_open(struct xp_chan *ch, const struct xp_cfg *c, enum shmring_role role)
{
	struct rte_h *h = malloc(sizeof(*h));

	if (!h)
		return NULL;
	h->r = ch->base;
	h->esize = (unsigned)c->elem;
	h->multi = role == SHMRING_PRODUCER ? c->policy != SHMRING_SPSC :
					      c->policy == SHMRING_MPMC;
	return h;
}

static void rte_close(void *h)
{
	free(h);
}

static int rte_push(void *hp, const void *elem)
{
	struct rte_h *h = hp;

	if (h->multi)
		return rte_ring_mp_enqueue_elem(h->r, (void *)elem, h->esize) == 0;
	return rte_ring_sp_enqueue_elem(h->r, (void *)elem, h->esize) == 0;
}

static int rte_pop(void *hp, void *elem)
{
	struct rte_h *h = hp;

	if (h->multi)
		return rte_ring_mc_dequeue_elem(h->r, elem, h->esize) == 0;
	return rte_ring_sc_dequeue_elem(h->r, elem, h->esize) == 0;
}

static long rte_push_burst(void *hp, const void *elems, size_t n)
{
	struct rte_h *h = hp;

	if (h->multi)
		return rte_ring_mp_enqueue_burst_elem(h->r, elems, h->esize, (unsigned)n,
						      NULL);
	return rte_ring_sp_enqueue_burst_elem(h->r, elems, h->esize, (unsigned)n, NULL);
}

static long rte_pop_burst(void *hp, void *elems, size_t n)
{
	struct rte_h *h = hp;

	if (h->multi)
		return rte_ring_mc_dequeue_burst_elem(h->r, elems, h->esize, (unsigned)n,
						      NULL);
	return rte_ring_sc_dequeue_burst_elem(h->r, elems, h->esize, (unsigned)n, NULL);
}

const struct xp_ops xp_rte_ring = {
	.name = "rte_ring",
	.policies = 1u << SHMRING_SPSC | 1u << SHMRING_MPSC | 1u << SHMRING_MPMC,
	.modes = 1u << WAIT_BUSY,
	.bursts = true,
	.variant = rte_variant,
	.memsize = rte_memsize,
	.setup = rte_setup,
	.teardown = rte_teardown,
	.open = rte_open,
	.close = rte_close,
	.push = rte_push,
	.pop = rte_pop,
	.push_burst = rte_push_burst,
	.pop_burst = rte_pop_burst,
};

/* RTS: the generic calls, which dispatch on the sync mode the ring was made
 * with (there are no rts-named _elem calls). */
static int rts_push(void *hp, const void *elem)
{
	struct rte_h *h = hp;

	return rte_ring_enqueue_elem(h->r, (void *)elem, h->esize) == 0;
}

static int rts_pop(void *hp, void *elem)
{
	struct rte_h *h = hp;

	return rte_ring_dequeue_elem(h->r, elem, h->esize) == 0;
}

static long rts_push_burst(void *hp, const void *elems, size_t n)
{
	struct rte_h *h = hp;

	return rte_ring_enqueue_burst_elem(h->r, elems, h->esize, (unsigned)n, NULL);
}

static long rts_pop_burst(void *hp, void *elems, size_t n)
{
	struct rte_h *h = hp;

	return rte_ring_dequeue_burst_elem(h->r, elems, h->esize, (unsigned)n, NULL);
}

const struct xp_ops xp_rte_ring_rts = {
	.name = "rte_ring-rts",
	.policies = 1u << SHMRING_MPSC | 1u << SHMRING_MPMC,
	.modes = 1u << WAIT_BUSY,
	.bursts = true,
	.variant = rte_variant,
	.memsize = rte_memsize,
	.setup = rts_setup,
	.teardown = rte_teardown,
	.open = rte_open,
	.close = rte_close,
	.push = rts_push,
	.pop = rts_pop,
	.push_burst = rts_push_burst,
	.pop_burst = rts_pop_burst,
};
