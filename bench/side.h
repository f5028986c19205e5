/* SPDX-License-Identifier: MIT */
/*
 * One end of a channel as a process drives it: the transport handle, a
 * message buffer, and how it waits. The same put/get run every transport, so
 * the harness costs each one the same: one indirect call per message (per
 * burst). In busy mode a failed try is retried at once, without a pause or
 * any other backoff of the harness's own: what a transport does when its
 * peer spins on it is part of what is measured (issue 10).
 */
#ifndef SHMRING_BENCH_SIDE_H
#define SHMRING_BENCH_SIDE_H

#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct side {
	const struct xp_ops *ops;
	void *h;
	unsigned char *buf; /* burst * elem bytes, line aligned */
	size_t elem;
	unsigned burst;
	bool wait; /* blocking calls instead of try calls */
	bool zc;   /* zero-copy: reserve/commit, peek/release */
};

static inline int side_open(struct side *s, struct trial *t, unsigned chan,
			    enum shmring_role role)
{
	size_t len = t->cfg.elem * (t->cfg.burst ? t->cfg.burst : 1);

	s->ops = t->ops;
	s->elem = t->cfg.elem;
	s->burst = t->cfg.burst ? t->cfg.burst : 1;
	s->wait = t->cfg.mode != WAIT_BUSY && t->cfg.mode != WAIT_ZC;
	s->zc = t->cfg.mode == WAIT_ZC;
	s->buf = aligned_alloc(128, (len + 127) & ~(size_t)127);
	if (!s->buf)
		return -1;
	memset(s->buf, 0, len);
	s->h = s->ops->open(&t->ch[chan], &t->cfg, role);
	return s->h ? 0 : -1;
}

static inline void side_close(struct side *s)
{
	if (s->h)
		s->ops->close(s->h);
	free(s->buf);
}

/* One message in; spins while full. 0, or -1 with errno. */
static inline int put(struct side *s, const void *m)
{
	int rc;

	if (s->wait)
		return s->ops->push_wait(s->h, m) == 1 ? 0 : -1;
	while ((rc = s->ops->push(s->h, m)) == 0)
		;
	return rc == 1 ? 0 : -1;
}

/* One message out; spins while empty. 0, or -1 with errno. */
static inline int get(struct side *s, void *m)
{
	int rc;

	if (s->wait)
		return s->ops->pop_wait(s->h, m) == 1 ? 0 : -1;
	while ((rc = s->ops->pop(s->h, m)) == 0)
		;
	return rc == 1 ? 0 : -1;
}

/* All N messages in, in as many bursts as it takes. 0, or -1 with errno. */
static inline int put_burst(struct side *s, const unsigned char *m, size_t n)
{
	while (n) {
		long k = s->ops->push_burst(s->h, m, n);

		if (k < 0)
			return -1;
		m += (size_t)k * s->elem;
		n -= (size_t)k;
	}
	return 0;
}

/* Between 1 and N messages out. The count, or -1 with errno. */
static inline long get_burst(struct side *s, unsigned char *m, size_t n)
{
	long k;

	while ((k = s->ops->pop_burst(s->h, m, n)) == 0)
		;
	return k;
}

/* Zero-copy: an element to write in place, spinning while full; NULL with
 * errno on an error. */
static inline void *lend_in(struct side *s)
{
	void *p;

	while (!(p = s->ops->reserve(s->h)))
		if (errno != EAGAIN)
			return NULL;
	return p;
}

/* Zero-copy: an element to read in place, spinning while empty. */
static inline const void *lend_out(struct side *s)
{
	const void *p;

	while (!(p = s->ops->peek(s->h)))
		if (errno != EAGAIN)
			return NULL;
	return p;
}

#endif /* SHMRING_BENCH_SIDE_H */
