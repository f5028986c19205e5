// SPDX-License-Identifier: MIT
/*
 * shmring as a transport: a ring attached to the trial's segment
 * (shmring_attach), the same data path shmring_producer/consumer give, in the
 * same memory every peer gets. The first process to attach initialises it.
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>

static const char *shm_variant(const struct xp_cfg *c)
{
	return mode_name(c->mode);
}

static size_t shm_memsize(const struct xp_cfg *c)
{
	return shmring_memsize(c->policy, c->elem, c->cap);
}

static int shm_setup(struct xp_chan *ch, const struct xp_cfg *c)
{
	(void)ch;
	(void)c;
	return 0;
}

static void shm_teardown(struct xp_chan *ch)
{
	(void)ch;
}

static void *shm_open(struct xp_chan *ch, const struct xp_cfg *c, enum shmring_role role)
{
	/* WAIT_SLEEP: no spin budget, so each wait shows the futex path. */
	SHMRING_OPTS(o, .spin_ns = c->mode == WAIT_SLEEP ? -1 : 0);

	return shmring_attach(ch->seg, ch->offset, c->policy, role, c->elem, c->cap, &o);
}

static void shm_close(void *h)
{
	shmring_close(h);
}

static int try_result(int rc)
{
	if (rc == 0)
		return 1;
	return errno == EAGAIN ? 0 : -1;
}

static int shm_try_push(void *h, const void *elem)
{
	return try_result(shmring_try_push(h, elem));
}

static int shm_try_pop(void *h, void *elem)
{
	return try_result(shmring_try_pop(h, elem));
}

static int shm_push(void *h, const void *elem)
{
	return shmring_push(h, elem) ? -1 : 1;
}

static int shm_pop(void *h, void *elem)
{
	return shmring_pop(h, elem) ? -1 : 1;
}

/* HOOK (WAIT_FD, bench.h): when shmring_fd() lands, a pollable-fd mode is a
 * pair like these: try the call, and on EAGAIN poll(shmring_fd(h), POLLIN)
 * and try again; then add WAIT_FD to .modes below and W_FD groups in suite.c.
 * Not written yet: the library has no shmring_fd() to call. */

static long shm_push_burst(void *h, const void *elems, size_t n)
{
	return shmring_push_burst(h, elems, n);
}

static long shm_pop_burst(void *h, void *elems, size_t n)
{
	return shmring_pop_burst(h, elems, n);
}

const struct xp_ops xp_shmring = {
	.name = "shmring",
	.policies = 1u << SHMRING_SPSC | 1u << SHMRING_MPSC | 1u << SHMRING_MPMC,
	.modes = 1u << WAIT_BUSY | 1u << WAIT_BLOCK | 1u << WAIT_SLEEP,
	.bursts = true,
	.variant = shm_variant,
	.memsize = shm_memsize,
	.setup = shm_setup,
	.teardown = shm_teardown,
	.open = shm_open,
	.close = shm_close,
	.push = shm_try_push,
	.pop = shm_try_pop,
	.push_wait = shm_push,
	.pop_wait = shm_pop,
	.push_burst = shm_push_burst,
	.pop_burst = shm_pop_burst,
};
