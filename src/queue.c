// SPDX-License-Identifier: MIT
/*
 * The data calls: try/blocking/timed push and pop, bursts, zero-copy
 * reserve/commit and peek/release, shmring_wait. They dispatch on the
 * handle's kind to the data paths below them (spsc.h, mp.h) and block
 * through wait.c; nothing here knows how slots work.
 *
 *  - Every data path op returns a count (or 0) or a negative errno and never
 *    touches errno; the public calls set errno on failure only.
 *  - A handle with elements borrowed (reserve/peek) has kind K_BORROWED and
 *    one inherited over fork K_FORKED: the dispatch refuses them (EBUSY,
 *    EBADF) at no cost to the calls that succeed.
 */
#include "mp.h"
#include "probes.h"
#include "spsc.h"

/* The errno of a handle that cannot move data now: not its role, busy with
 * a borrow, or the parent's. */
static inline long kind_error(const struct shmring *r)
{
	return r->kind == K_BORROWED ? -EBUSY : r->kind == K_FORKED ? -EBADF : -EINVAL;
}

/* ---- the ops ----------------------------------------------------------------- */

static ALWAYS_INLINE long push_one(struct shmring *r, const void *elem)
{
	switch (r->kind) {
	case K_SPSC_PROD:
		return spsc_push(r, elem);
	case K_MPSC_PROD:
	case K_MPMC_PROD:
		return mp_push(r, elem);
	default:
		return kind_error(r);
	}
}

static ALWAYS_INLINE long pop_one(struct shmring *r, void *elem)
{
	switch (r->kind) {
	case K_SPSC_CONS:
		return spsc_pop(r, elem);
	case K_MPSC_CONS:
		return mpsc_pop(r, elem);
	case K_MPMC_CONS:
		return mpmc_pop(r, elem);
	default:
		return kind_error(r);
	}
}

/* Up to N elements (N <= capacity): the count, or a negative errno
 * (-EAGAIN when none could move). */
static long push_n(struct shmring *r, const void *elems, size_t n)
{
	switch (r->kind) {
	case K_SPSC_PROD:
		return spsc_push_n(r, elems, n);
	case K_MPSC_PROD:
	case K_MPMC_PROD:
		return mp_push_n(r, elems, n);
	default:
		return kind_error(r);
	}
}

static long pop_n(struct shmring *r, void *elems, size_t n)
{
	switch (r->kind) {
	case K_SPSC_CONS:
		return spsc_pop_n(r, elems, n);
	case K_MPSC_CONS:
		return mpsc_pop_n(r, elems, n);
	case K_MPMC_CONS:
		return mpmc_pop_n(r, elems, n);
	default:
		return kind_error(r);
	}
}

/* The ops as wait.c (and retry_cut) call them. */
static long op_push_n(struct shmring *r, void *buf, size_t n)
{
	return push_n(r, buf, n);
}

static long op_pop_n(struct shmring *r, void *buf, size_t n)
{
	return pop_n(r, buf, n);
}

static long op_push(struct shmring *r, void *buf, size_t n)
{
	(void)n;
	return push_one(r, buf);
}

static long op_pop(struct shmring *r, void *buf, size_t n)
{
	(void)n;
	return pop_one(r, buf);
}

bool shmring__can_progress(struct shmring *r)
{
	uint64_t p, w;

	switch (r->kind) {
	case K_SPSC_PROD:
		return spsc_room(r, 1) != 0; /* -EPROTO too: let the call report it */
	case K_SPSC_CONS:
		return spsc_ready(r, 1, false) != 0;
	case K_MPSC_CONS:
		return mpsc_ready(r, 1, false) != -EAGAIN;
	case K_MPMC_CONS:
		return mpmc_find(r, &p, &w) != -EAGAIN;
	case K_MPSC_PROD:
	case K_MPMC_PROD:
		return mp_find_free(r, &p, &w) != -EAGAIN;
	default:
		return true; /* the call itself reports why it cannot */
	}
}

static long op_can(struct shmring *r, void *buf, size_t n)
{
	(void)buf, (void)n;
	return shmring__can_progress(r) ? 0 : -EAGAIN;
}

/* ---- probes, fds, errno ------------------------------------------------------- */

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
static int op_failed(struct shmring *r, long rc)
{
	int e = rc == -EAGAIN ? rearm(r) : 0;

	return shmring__err(e ? -e : (int)-rc);
}

static inline int op_result(struct shmring *r, long rc, bool push)
{
	if (rc == 0 || rc == -EAGAIN)
		probe_moved(r, rc == 0, push);
	return rc == 0 ? 0 : op_failed(r, rc);
}

/* ---- try ----------------------------------------------------------------------- */

/* Whether a tracer listens to what a try_push (try_pop) can report. Asked
 * before the operation, and the traced call made out of line, so that with
 * no tracer the handle need not survive the call for the probes' arguments:
 * the untraced path pays two loads and a branch over a build without probes
 * (bench/usdt_cost.c measures it). */
#define PUSH_TRACED() unlikely(SHMRING_PROBE_ON(push) | SHMRING_PROBE_ON(full))
#define POP_TRACED()  unlikely(SHMRING_PROBE_ON(pop) | SHMRING_PROBE_ON(empty))

/* A call that answered EAGAIN because its walk was cut short (mp.h: slots
 * given back let producers run laps ahead) goes on from where the walk got
 * to, a bounded number of times, before EAGAIN ("full", "empty") is the
 * answer: an element may be ready further on. RC is the first answer. */
static __attribute__((noinline)) long retry_cut(struct shmring *r, long rc,
						shmring__op_fn op, void *buf, size_t n)
{
	for (int cuts = 0; rc == -EAGAIN && r->walk_cut && cuts < SHMRING_WALK_RETRIES;
	     cuts++) {
		r->walk_cut = false;
		rc = op(r, buf, n);
	}
	return rc;
}

/* Zero-copy walks (reserve, peek) as retry_cut ops: where the run starts
 * (P) and, MPMC, how far our own slots go (DONE). */
struct borrow {
	uint64_t p, done;
};

static long op_claim(struct shmring *r, void *arg, size_t n)
{
	return mp_claim(r, n, true, &((struct borrow *)arg)->p);
}

static long op_ready(struct shmring *r, void *arg, size_t n)
{
	(void)arg;
	return mpsc_ready(r, n, true);
}

static long op_take(struct shmring *r, void *arg, size_t n)
{
	struct borrow *b = arg;

	return mpmc_take(r, n, true, &b->p, &b->done);
}

/* OP from the start of a walk, retried as retry_cut does. */
static long walk(struct shmring *r, shmring__op_fn op, void *arg, size_t n)
{
	r->walk_cut = false;
	return retry_cut(r, op(r, arg, n), op, arg, n);
}

static __attribute__((noinline, cold)) int try_push_traced(struct shmring *r,
							   const void *elem)
{
	long rc = push_one(r, elem);

	return op_result(r, rc ? retry_cut(r, rc, op_push, (void *)elem, 1) : 0, true);
}

static __attribute__((noinline, cold)) int try_pop_traced(struct shmring *r, void *elem)
{
	long rc = pop_one(r, elem);

	return op_result(r, rc ? retry_cut(r, rc, op_pop, elem, 1) : 0, false);
}

int shmring_try_push(struct shmring *r, const void *elem)
{
	long rc;

	if (unlikely(!r || !elem))
		return shmring__err(EINVAL);
	if (PUSH_TRACED())
		return try_push_traced(r, elem);
	rc = push_one(r, elem);
	if (likely(rc == 0))
		return 0;
	rc = retry_cut(r, rc, op_push, (void *)elem, 1);
	return rc == 0 ? 0 : op_failed(r, rc);
}

int shmring_try_pop(struct shmring *r, void *elem)
{
	long rc;

	if (unlikely(!r || !elem))
		return shmring__err(EINVAL);
	if (POP_TRACED())
		return try_pop_traced(r, elem);
	rc = pop_one(r, elem);
	if (likely(rc == 0))
		return 0;
	rc = retry_cut(r, rc, op_pop, elem, 1);
	return rc == 0 ? 0 : op_failed(r, rc);
}

/* ---- blocking and timed ---------------------------------------------------------- */

/* Deadline for a relative timeout, saturating instead of wrapping. */
static uint64_t deadline_after(uint64_t timeout_ns)
{
	uint64_t now;

	if (timeout_ns == UINT64_MAX)
		return UINT64_MAX;
	now = shmring__now_ns();
	return timeout_ns > UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + timeout_ns;
}

/* push (PUSH) or pop that waits until DEADLINE (UINT64_MAX: forever). */
static int op_wait(struct shmring *r, void *buf, uint64_t deadline, bool push)
{
	shmring__op_fn op = push ? op_push : op_pop;
	long rc;

	if (unlikely(!r || !buf))
		return shmring__err(EINVAL);
	rc = op(r, buf, 1);
	if (rc == -EAGAIN) {
		/* The wait makes syscalls (futex, membarrier, fcntl) that may set
		 * errno on their way; a call that succeeds leaves it alone. */
		int saved = errno;

		probe_moved(r, 0, push);
		rc = shmring__wait_op(r, push ? &r->hdr->not_full : &r->hdr->not_empty,
				      op, buf, 1, deadline);
		errno = saved;
	}
	if (rc == 0)
		probe_moved(r, 1, push);
	return rc == 0 ? 0 : shmring__err((int)-rc);
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

int shmring_wait(struct shmring *r, uint64_t timeout_ns)
{
	long rc;

	if (!r)
		return shmring__err(EINVAL);
	if (r->kind == K_BORROWED || r->kind == K_FORKED)
		return shmring__err((int)-kind_error(r));
	rc = op_can(r, NULL, 0);
	if (rc == -EAGAIN) {
		int saved = errno; /* as in op_wait */

		rc = shmring__wait_op(r, shmring__my_ec(r), op_can, NULL, 0,
				      deadline_after(timeout_ns));
		errno = saved;
	}
	return rc ? shmring__err((int)-rc) : 0;
}

/* ---- bursts ------------------------------------------------------------------------ */

/* A burst's outcome: the count, or -1 with errno. */
static ssize_t burst_result(struct shmring *r, long moved, bool push)
{
	int err;

	if (moved < 0 && moved != -EAGAIN)
		return shmring__err((int)-moved);
	if (moved < 0)
		moved = 0;
	probe_moved(r, (size_t)moved, push);
	if (!moved && (err = rearm(r)))
		return shmring__err(-err);
	return moved;
}

/* Up to N elements in (PUSH) or out, without blocking. */
static ssize_t burst(struct shmring *r, void *elems, size_t n, bool push)
{
	if (unlikely(!r || (!elems && n)))
		return shmring__err(EINVAL);
	if (!n)
		return 0;
	n = n > r->cap ? (size_t)r->cap : n;
	return burst_result(r,
			    retry_cut(r, push ? push_n(r, elems, n) : pop_n(r, elems, n),
				      push ? op_push_n : op_pop_n, elems, n),
			    push);
}

ssize_t shmring_push_burst(struct shmring *r, const void *elems, size_t n)
{
	return burst(r, (void *)elems, n, true);
}

ssize_t shmring_pop_burst(struct shmring *r, void *elems, size_t n)
{
	return burst(r, elems, n, false);
}

/* ---- zero-copy ------------------------------------------------------------------------ */

/* Lends the M slots from FIRST (positions) to the caller. */
static ssize_t lend(struct shmring *r, long m, uint64_t first, void **out, size_t *stride,
		    bool push)
{
	if (m == -EAGAIN || m == 0) {
		int e;

		probe_moved(r, 0, push);
		e = rearm(r);
		return e ? shmring__err(-e) : 0;
	}
	if (m < 0)
		return shmring__err((int)-m);
	r->borrow_pos = first;
	r->borrowed = (size_t)m;
	r->real_kind = r->kind;
	r->kind = K_BORROWED;
	*out = slot_at(r, first);
	*stride = r->slot_size;
	return m;
}

ssize_t shmring_reserve(struct shmring *r, size_t n, void **first, size_t *stride)
{
	struct borrow b = { 0, 0 };
	uint64_t p = 0;
	long m;

	if (!r || !first || !stride || !n)
		return shmring__err(EINVAL);
	if (n > r->cap)
		n = (size_t)r->cap;
	switch (r->kind) {
	case K_SPSC_PROD:
		m = spsc_reserve(r, n);
		p = r->pos;
		break;
	case K_MPSC_PROD:
	case K_MPMC_PROD:
		m = walk(r, op_claim, &b, n);
		p = b.p;
		break;
	default:
		return shmring__err((int)-kind_error(r));
	}
	return lend(r, m, p, first, stride, true);
}

ssize_t shmring_peek(struct shmring *r, size_t n, void **first, size_t *stride)
{
	struct borrow b = { 0, 0 };
	uint64_t p = 0;
	long m;

	if (!r || !first || !stride || !n)
		return shmring__err(EINVAL);
	if (n > r->cap)
		n = (size_t)r->cap;
	switch (r->kind) {
	case K_SPSC_CONS:
		m = spsc_peek(r, n);
		p = r->pos;
		break;
	case K_MPSC_CONS:
		m = walk(r, op_ready, &b, n);
		p = r->pos;
		break;
	case K_MPMC_CONS:
		m = walk(r, op_take, &b, n);
		p = b.p;
		if (m > 0)
			mpmc_hint(r, b.done); /* not past our own slots */
		break;
	default:
		return shmring__err((int)-kind_error(r));
	}
	return lend(r, m, p, first, stride, false);
}

/* Ends a borrow of ROLE: checks it, and gives the handle its kind back. */
static int borrow_end(struct shmring *r, size_t n, enum shmring_role role)
{
	if (!r || r->kind != K_BORROWED || r->role != role || n > r->borrowed)
		return shmring__err(EINVAL);
	r->kind = r->real_kind;
	return 0;
}

int shmring_commit(struct shmring *r, size_t n)
{
	if (borrow_end(r, n, SHMRING_PRODUCER))
		return -1;
	if (r->kind == K_SPSC_PROD) {
		if (n)
			spsc_publish(r, n);
	} else {
		mp_publish(r, r->borrow_pos, n, r->borrowed);
	}
	r->borrowed = 0;
	if (n)
		probe_moved(r, n, true);
	return 0;
}

int shmring_release(struct shmring *r, size_t n)
{
	if (borrow_end(r, n, SHMRING_CONSUMER))
		return -1;
	if (r->kind == K_SPSC_CONS && n) {
		spsc_free(r, n);
	} else if (r->kind == K_MPSC_CONS && n) {
		mpsc_free(r, n);
	} else if (r->kind == K_MPMC_CONS) {
		mpmc_untake(r, r->borrow_pos, n, r->borrowed);
		if (n && r->pos == r->borrow_pos)
			mpmc_hint(r, pos_add(r, r->borrow_pos, n));
	}
	r->borrowed = 0;
	if (n)
		probe_moved(r, n, false);
	return 0;
}

/* Linear count of positions up to P, the form users see. */
static uint64_t pos_linear(const struct shmring *r, uint64_t p)
{
	return (p >> r->shift) * r->cap + (p & r->mask);
}

uint64_t shmring_position(const struct shmring *r)
{
	if (!r)
		return shmring__err0(EINVAL);
	return pos_linear(r, r->kind == K_BORROWED ? r->borrow_pos : r->pos);
}

void shmring__borrow_drop(struct shmring *r)
{
	if (r->kind != K_BORROWED)
		return;
	if (r->role == SHMRING_PRODUCER)
		shmring_commit(r, 0);
	else
		shmring_release(r, 0);
}
