/* SPDX-License-Identifier: MIT */
/*
 * One end of a channel as a process drives it: the transport handle, a
 * message buffer, and how it waits. The same put/get run every transport, so
 * the harness costs each one the same: one indirect call per message (per
 * burst), and a pause instruction per failed try in busy mode.
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
};

static inline int side_open(struct side *s, struct trial *t, unsigned chan,
			    enum shmring_role role)
{
	size_t len = t->cfg.elem * (t->cfg.burst ? t->cfg.burst : 1);

	s->ops = t->ops;
	s->elem = t->cfg.elem;
	s->burst = t->cfg.burst ? t->cfg.burst : 1;
	s->wait = t->cfg.mode != WAIT_BUSY;
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
		cpu_relax();
	return rc == 1 ? 0 : -1;
}

/* One message out; spins while empty. 0, or -1 with errno. */
static inline int get(struct side *s, void *m)
{
	int rc;

	if (s->wait)
		return s->ops->pop_wait(s->h, m) == 1 ? 0 : -1;
	while ((rc = s->ops->pop(s->h, m)) == 0)
		cpu_relax();
	return rc == 1 ? 0 : -1;
}

/* All N messages in, in as many bursts as it takes. 0, or -1 with errno. */
static inline int put_burst(struct side *s, const unsigned char *m, size_t n)
{
	while (n) {
		long k = s->ops->push_burst(s->h, m, n);

		if (k < 0)
			return -1;
		if (!k)
			cpu_relax();
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
		cpu_relax();
	return k;
}

#endif /* SHMRING_BENCH_SIDE_H */
