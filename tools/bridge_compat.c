// SPDX-License-Identifier: MIT
/*
 * The library's zero-copy calls emulated on its copy calls, until they land
 * (see tools/bridge.h). One consumer and one producer handle per process.
 * Positions are plain counters: the header's popped/pushed at open, plus what
 * this process moved. Without the real calls a killed `bridge out` loses the
 * elements it had popped and not released.
 */
#include "bridge.h"

#if !BRIDGE_HAVE_ZC
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct side {
	struct shmring *ring;
	unsigned char *buf;
	size_t elem, cap, n; /* n: elements held (consumer) or reserved (producer) */
	uint64_t pos;
} cons, prod;

static struct side *side_of(const struct shmring *ring)
{
	if (ring == cons.ring)
		return &cons;
	if (ring == prod.ring)
		return &prod;
	return NULL;
}

void br_compat_open(struct shmring *ring, const struct shmring_info *info,
		    enum shmring_role role)
{
	bool consumer = role == SHMRING_CONSUMER;
	struct side *s = consumer ? &cons : &prod;

	s->ring = ring;
	s->elem = info->elem_size;
	s->cap = info->capacity;
	s->buf = malloc(s->elem * s->cap);
	s->n = 0;
	s->pos = consumer ? info->popped : info->pushed;
}

ssize_t br_peek(struct shmring *ring, size_t n, void **first, size_t *stride)
{
	struct side *s = side_of(ring);

	if (s != &cons) {
		errno = EINVAL;
		return -1;
	}
	while (s->n < s->cap) {
		ssize_t got = shmring_pop_burst(ring, s->buf + s->n * s->elem, s->cap - s->n);

		if (got <= 0)
			break;
		s->n += (size_t)got;
	}
	*first = s->buf;
	*stride = s->elem;
	return (ssize_t)(n < s->n ? n : s->n);
}

int br_release(struct shmring *ring, size_t n)
{
	struct side *s = side_of(ring);

	if (s != &cons || n > s->n) {
		errno = EINVAL;
		return -1;
	}
	memmove(s->buf, s->buf + n * s->elem, (s->n - n) * s->elem);
	s->n -= n;
	s->pos += n;
	return 0;
}

ssize_t br_reserve(struct shmring *ring, size_t n, void **first, size_t *stride)
{
	struct side *s = side_of(ring);
	size_t room;

	if (s != &prod) {
		errno = EINVAL;
		return -1;
	}
	room = shmring_available(ring);
	s->n = n < room ? n : room;
	*first = s->buf;
	*stride = s->elem;
	return (ssize_t)s->n;
}

int br_commit(struct shmring *ring, size_t n)
{
	struct side *s = side_of(ring);
	size_t done = 0;

	if (s != &prod || n > s->n) {
		errno = EINVAL;
		return -1;
	}
	while (done < n) {
		ssize_t got = shmring_push_burst(ring, s->buf + done * s->elem, n - done);

		if (got < 0)
			return -1;
		if (got == 0 &&
		    shmring_timed_push(ring, s->buf + done * s->elem, 1000000000ull) == 0)
			got = 1;
		done += (size_t)got;
	}
	s->n = 0;
	s->pos += n;
	return 0;
}

int br_wait(struct shmring *ring, uint64_t timeout_ns)
{
	struct side *s = side_of(ring);

	if (s == &cons) {
		if (s->n)
			return 0;
		if (shmring_timed_pop(ring, s->buf, timeout_ns))
			return -1;
		s->n = 1;
		return 0;
	}
	if (shmring_available(ring))
		return 0;
	/* No wait for room among the copy calls: poll. */
	{
		struct timespec ts = { 0, 1000000 };
		uint64_t waited = 0;

		while (!shmring_available(ring)) {
			if (waited >= timeout_ns) {
				errno = ETIMEDOUT;
				return -1;
			}
			nanosleep(&ts, NULL);
			waited += 1000000;
		}
	}
	return 0;
}

uint64_t br_position(const struct shmring *ring)
{
	const struct side *s = side_of(ring);

	return s ? s->pos : 0;
}
#endif
