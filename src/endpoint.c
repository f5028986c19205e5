// SPDX-License-Identifier: MIT
/* Duplex endpoints: two rings, NAME_AB (A to B) and NAME_BA (B to A). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

struct shmring_endpoint {
	struct shmring *tx; /* we produce */
	struct shmring *rx; /* we consume */
};

/* NAME + SUFFIX, validated as a shm name. */
static int ep_name(const char *name, const char *suffix, char out[SHMRING_NAME_BUF])
{
	char joined[SHMRING_NAME_BUF + 4];

	if (shmring__name_normalize(name, out))
		return -1;
	snprintf(joined, sizeof(joined), "%s%s", out, suffix);
	return shmring__name_normalize(joined, out);
}

struct shmring_endpoint *shmring_endpoint_open(enum shmring_policy policy,
					       enum shmring_side side, const char *name,
					       size_t elem_size, size_t capacity,
					       const struct shmring_opts *opts)
{
	char ab[SHMRING_NAME_BUF], ba[SHMRING_NAME_BUF];
	struct shmring_endpoint *ep;
	int e;

	if (side != SHMRING_SIDE_A && side != SHMRING_SIDE_B)
		return shmring__errp(EINVAL);
	if (ep_name(name, "_AB", ab) || ep_name(name, "_BA", ba))
		return NULL;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return shmring__errp(ENOMEM);
	ep->tx = shmring_producer(policy, side == SHMRING_SIDE_A ? ab : ba, elem_size,
				  capacity, opts);
	if (!ep->tx)
		goto fail;
	ep->rx = shmring_consumer(policy, side == SHMRING_SIDE_A ? ba : ab, elem_size,
				  capacity, opts);
	if (!ep->rx)
		goto fail;
	return ep;
fail:
	e = errno;
	shmring_endpoint_close(ep);
	return shmring__errp(e);
}

int shmring_send(struct shmring_endpoint *ep, const void *msg)
{
	return ep ? shmring_push(ep->tx, msg) : shmring__err(EINVAL);
}

int shmring_try_send(struct shmring_endpoint *ep, const void *msg)
{
	return ep ? shmring_try_push(ep->tx, msg) : shmring__err(EINVAL);
}

int shmring_timed_send(struct shmring_endpoint *ep, const void *msg, uint64_t timeout_ns)
{
	return ep ? shmring_timed_push(ep->tx, msg, timeout_ns) : shmring__err(EINVAL);
}

int shmring_receive(struct shmring_endpoint *ep, void *msg)
{
	return ep ? shmring_pop(ep->rx, msg) : shmring__err(EINVAL);
}

int shmring_try_receive(struct shmring_endpoint *ep, void *msg)
{
	return ep ? shmring_try_pop(ep->rx, msg) : shmring__err(EINVAL);
}

int shmring_timed_receive(struct shmring_endpoint *ep, void *msg, uint64_t timeout_ns)
{
	return ep ? shmring_timed_pop(ep->rx, msg, timeout_ns) : shmring__err(EINVAL);
}

size_t shmring_endpoint_available(const struct shmring_endpoint *ep)
{
	return ep ? shmring_available(ep->tx) : shmring__err0(EINVAL);
}

size_t shmring_endpoint_pending(const struct shmring_endpoint *ep)
{
	return ep ? shmring_pending(ep->rx) : shmring__err0(EINVAL);
}

int shmring_endpoint_fd(struct shmring_endpoint *ep)
{
	return ep ? shmring_fd(ep->rx) : shmring__err(EINVAL);
}

struct shmring *shmring_endpoint_tx(struct shmring_endpoint *ep)
{
	return ep ? ep->tx : shmring__errp(EINVAL);
}

struct shmring *shmring_endpoint_rx(struct shmring_endpoint *ep)
{
	return ep ? ep->rx : shmring__errp(EINVAL);
}

void shmring_endpoint_close(struct shmring_endpoint *ep)
{
	if (!ep)
		return;
	shmring_close(ep->tx);
	shmring_close(ep->rx);
	free(ep);
}

int shmring_endpoint_unlink(const char *name)
{
	char ab[SHMRING_NAME_BUF], ba[SHMRING_NAME_BUF];
	int rc;

	if (ep_name(name, "_AB", ab) || ep_name(name, "_BA", ba))
		return -1;
	rc = shmring_unlink(ab);
	return shmring_unlink(ba) ? -1 : rc;
}
