// SPDX-License-Identifier: MIT
/*
 * shmring as a transport: a ring attached to the trial's segment
 * (shmring_attach), the same data path shmring_producer/consumer give, in the
 * same memory every peer gets. The first process to attach initialises it.
 */
#include "bench.h"

#include <errno.h>
#include <poll.h>
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

/* A handle: the ring, and for WAIT_FD its pollable fd. */
struct shm_h {
	struct shmring *r;
	int fd; /* -1 unless WAIT_FD */
};

static void *shm_open(struct xp_chan *ch, const struct xp_cfg *c, enum shmring_role role)
{
	/* WAIT_SLEEP and WAIT_FD: no spin budget, so each wait shows the futex
	 * path (sleep) or the fd's (fd). */
	SHMRING_OPTS(o, .spin_ns = c->mode == WAIT_SLEEP ? -1 : 0);
	struct shm_h *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->r = shmring_attach(ch->seg, ch->offset, c->policy, role, c->elem, c->cap, &o);
	h->fd = -1;
	if (h->r && c->mode == WAIT_FD)
		h->fd = shmring_fd(h->r);
	if (!h->r || (c->mode == WAIT_FD && h->fd < 0)) {
		int e = errno;

		shmring_close(h->r);
		free(h);
		errno = e;
		return NULL;
	}
	return h;
}

static void shm_close(void *h)
{
	shmring_close(((struct shm_h *)h)->r);
	free(h);
}

static int try_result(int rc)
{
	if (rc == 0)
		return 1;
	return errno == EAGAIN ? 0 : -1;
}

static int shm_try_push(void *h, const void *elem)
{
	return try_result(shmring_try_push(((struct shm_h *)h)->r, elem));
}

static int shm_try_pop(void *h, void *elem)
{
	return try_result(shmring_try_pop(((struct shm_h *)h)->r, elem));
}

/* WAIT_FD: the event-loop way, try until EAGAIN (which re-arms the fd), then
 * poll the fd. */
static int fd_wait(const struct shm_h *h)
{
	struct pollfd p = { .fd = h->fd, .events = POLLIN };

	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR) /* io_uring task work may interrupt poll */
			return -1;
	return 0;
}

static int shm_push(void *h, const void *elem)
{
	struct shm_h *sh = h;
	int rc;

	if (sh->fd < 0)
		return shmring_push(sh->r, elem) ? -1 : 1;
	while ((rc = shm_try_push(h, elem)) == 0)
		if (fd_wait(sh))
			return -1;
	return rc;
}

static int shm_pop(void *h, void *elem)
{
	struct shm_h *sh = h;
	int rc;

	if (sh->fd < 0)
		return shmring_pop(sh->r, elem) ? -1 : 1;
	while ((rc = shm_try_pop(h, elem)) == 0)
		if (fd_wait(sh))
			return -1;
	return rc;
}

/* Zero-copy: NULL with EAGAIN when full or empty, as the try calls say it. */
static void *lent(ssize_t n, void *p)
{
	if (n == 1)
		return p;
	if (n == 0)
		errno = EAGAIN;
	return NULL;
}

static void *shm_reserve(void *h)
{
	size_t stride;
	void *p = NULL;
	ssize_t n = shmring_reserve(((struct shm_h *)h)->r, 1, &p, &stride);

	return lent(n, p);
}

static int shm_commit(void *h)
{
	return shmring_commit(((struct shm_h *)h)->r, 1);
}

static const void *shm_peek(void *h)
{
	size_t stride;
	void *p = NULL;
	ssize_t n = shmring_peek(((struct shm_h *)h)->r, 1, &p, &stride);

	return lent(n, p);
}

static int shm_release(void *h)
{
	return shmring_release(((struct shm_h *)h)->r, 1);
}

static long shm_push_burst(void *h, const void *elems, size_t n)
{
	return shmring_push_burst(((struct shm_h *)h)->r, elems, n);
}

static long shm_pop_burst(void *h, void *elems, size_t n)
{
	return shmring_pop_burst(((struct shm_h *)h)->r, elems, n);
}

const struct xp_ops xp_shmring = {
	.name = "shmring",
	.policies = 1u << SHMRING_SPSC | 1u << SHMRING_MPSC | 1u << SHMRING_MPMC,
	.modes = 1u << WAIT_BUSY | 1u << WAIT_BLOCK | 1u << WAIT_SLEEP | 1u << WAIT_FD |
		 1u << WAIT_ZC,
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
	.reserve = shm_reserve,
	.commit = shm_commit,
	.peek = shm_peek,
	.release = shm_release,
};
