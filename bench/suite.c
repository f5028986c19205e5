// SPDX-License-Identifier: MIT
/*
 * What `make bench` and `make bench-full` measure, and the loop that runs it.
 *
 * Each throughput group holds shmring (busy try-loop, bursts of 32, blocking)
 * and its peers on one policy, element size and capacity; each peer's ratio
 * is against the shmring entry that waits the way it does: rte_ring and
 * ck_ring (which only poll) against shmring busy, their bursts against
 * shmring bursts, pipe, socket and eventfd (which only block) against shmring
 * blocking, memcpy against shmring busy.
 */
#include "suite.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const size_t sizes[] = { 8, 64, 256, 1024, 1472, 4096 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* ---- names -------------------------------------------------------------------- */

static const struct xp_ops *const transports[] = {
	&xp_shmring, &xp_rte_ring,  &xp_rte_ring_rts, &xp_ck_ring,
	&xp_pipe,    &xp_seqpacket, &xp_eventfd,      &xp_mqueue,
};

const struct xp_ops *xp_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++)
		if (!strcmp(transports[i]->name, name))
			return transports[i];
	return NULL;
}

const char *policy_name(enum shmring_policy p)
{
	return p == SHMRING_SPSC ? "spsc" : p == SHMRING_MPSC ? "mpsc" : "mpmc";
}

const char *mode_name(enum wait_mode m)
{
	static const char *const names[] = { "busy", "block", "sleep", "fd", "zc" };

	return m < WAIT_MODES ? names[m] : "?";
}

void xp_label(const struct xp_ops *ops, const struct xp_cfg *c, char *buf, size_t len)
{
	const char *v = ops->variant(c);
	int n = snprintf(buf, len, "%s%s%s", ops->name, v ? " " : "", v ? v : "");

	if (c->burst > 1 && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " x%u", c->burst);
}

bool xp_supports(const struct xp_ops *ops, const struct xp_cfg *c)
{
	if (!(ops->policies & 1u << c->policy) || !(ops->modes & 1u << c->mode))
		return false;
	if (c->burst > 1 && (!ops->bursts || c->mode != WAIT_BUSY))
		return false;
	return c->burst <= BENCH_MAX_BURST;
}

void entry_label(struct entry *e)
{
	const struct xp_cfg *c = &e->cfg;
	bool lat = e->kind == E_LAT || e->kind == E_LINE;

	if (e->kind == E_MEMCPY)
		snprintf(e->label, sizeof(e->label), "memcpy");
	else if (e->kind == E_C2C)
		snprintf(e->label, sizeof(e->label), "cross-core copy");
	else if (e->kind == E_LINE)
		snprintf(e->label, sizeof(e->label), "cache line%s",
			 c->cap > 1 ? " x2" : "");
	else
		xp_label(e->ops, c, e->label, sizeof(e->label));
	snprintf(e->key, sizeof(e->key), "%s/%s/%ux%u/%zu/%zu/%s", lat ? "lat" : "tp",
		 policy_name(c->policy), c->producers, c->consumers, c->elem, c->cap,
		 e->label);
}

/* ---- building ---------------------------------------------------------------- */

static struct group *group_new(struct suite *s, bool latency, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct group *group_new(struct suite *s, bool latency, const char *fmt, ...)
{
	struct group *g;
	va_list ap;

	if (s->n == s->alloc) {
		unsigned alloc = s->alloc ? 2 * s->alloc : 32;
		struct group *more = realloc(s->g, alloc * sizeof(*more));

		if (!more)
			return NULL;
		s->g = more;
		s->alloc = alloc;
	}
	g = &s->g[s->n++];
	memset(g, 0, sizeof(*g));
	g->latency = latency;
	va_start(ap, fmt);
	vsnprintf(g->title, sizeof(g->title), fmt, ap);
	va_end(ap);
	return g;
}

/* Adds an entry; returns its index, or -1 when OPS cannot run C. */
static int add(struct group *g, enum entry_kind kind, const struct xp_ops *ops,
	       struct xp_cfg c, int ref)
{
	struct entry *e;

	if (!g || g->n == GROUP_MAX || (ops && !xp_supports(ops, &c)))
		return -1;
	e = &g->e[g->n];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->ops = ops;
	e->cfg = c;
	e->ref = ref;
	entry_label(e);
	return (int)g->n++;
}

static struct xp_cfg cfg_of(enum shmring_policy p, size_t elem, size_t cap)
{
	return (struct xp_cfg){
		.policy = p,
		.elem = elem,
		.cap = cap,
		.burst = 1,
		.mode = WAIT_BUSY,
		.producers = p == SHMRING_SPSC ? 1 : 2,
		.consumers = p == SHMRING_MPMC ? 2 : 1,
	};
}

static struct xp_cfg with(struct xp_cfg c, enum wait_mode m, unsigned burst)
{
	c.mode = m;
	c.burst = burst;
	return c;
}

/* What a group holds besides shmring busy and the ring peers. */
enum {
	W_BURST = 1 << 0,  /* shmring and rte_ring bursts of 32 */
	W_BLOCK = 1 << 1,  /* shmring blocking */
	W_SLEEP = 1 << 2,  /* shmring blocking without spinning */
	W_OS = 1 << 3,	   /* pipe, seqpacket, eventfd (SPSC only) */
	W_MEMCPY = 1 << 4, /* the memcpy ceiling */
	W_FD = 1 << 5,	   /* shmring through its pollable fd */
	W_ZC = 1 << 6,	   /* shmring zero-copy (reserve/commit, peek/release) */
};

static void add_os_peers(struct group *g, enum entry_kind kind, struct xp_cfg c, int ref)
{
	c = with(c, WAIT_BLOCK, 1);
	add(g, kind, &xp_pipe, c, ref);
	add(g, kind, &xp_seqpacket, c, ref);
	add(g, kind, &xp_eventfd, c, ref);
	add(g, kind, &xp_mqueue, c, ref);
}

static int tp_group(struct suite *s, enum shmring_policy p, size_t elem, size_t cap,
		    unsigned what)
{
	struct group *g =
		group_new(s, false, "%s %zu B, capacity %zu", policy_name(p), elem, cap);
	struct xp_cfg c = cfg_of(p, elem, cap);
	int busy, b32 = -1, block = -1;

	if (!g)
		return -1;
	busy = add(g, E_TP, &xp_shmring, c, -1);
	if (what & W_BURST)
		b32 = add(g, E_TP, &xp_shmring, with(c, WAIT_BUSY, 32), -1);
	if (what & W_BLOCK)
		block = add(g, E_TP, &xp_shmring, with(c, WAIT_BLOCK, 1), -1);
	if (what & W_SLEEP)
		add(g, E_TP, &xp_shmring, with(c, WAIT_SLEEP, 1), block);
	if (what & W_FD)
		add(g, E_TP, &xp_shmring, with(c, WAIT_FD, 1), block);
	if (what & W_ZC)
		add(g, E_TP, &xp_shmring, with(c, WAIT_ZC, 1), busy);
	add(g, E_TP, &xp_rte_ring, c, busy);
	if (what & W_BURST)
		add(g, E_TP, &xp_rte_ring, with(c, WAIT_BUSY, 32), b32);
	add(g, E_TP, &xp_rte_ring_rts, c, busy); /* MPSC, MPMC only */
	add(g, E_TP, &xp_ck_ring, c, busy);
	if ((what & W_OS) && p == SHMRING_SPSC)
		add_os_peers(g, E_TP, c, block);
	else if (what & W_BLOCK) /* the kernel's queue takes many of each */
		add(g, E_TP, &xp_mqueue, with(c, WAIT_BLOCK, 1), block);
	if (what & W_MEMCPY) {
		add(g, E_MEMCPY, NULL, c, busy);
		add(g, E_C2C, NULL, c, busy);
	}
	return 0;
}

static int lat_group(struct suite *s, enum shmring_policy p, size_t elem, unsigned what)
{
	struct group *g = group_new(s, true, "%s %zu B round trip", policy_name(p), elem);
	struct xp_cfg c = cfg_of(p, elem, 1024);
	int busy, block;

	if (!g)
		return -1;
	c.producers = c.consumers = 1; /* ping-pong is one to one */
	busy = add(g, E_LAT, &xp_shmring, c, -1);
	block = add(g, E_LAT, &xp_shmring, with(c, WAIT_BLOCK, 1), -1);
	add(g, E_LAT, &xp_shmring, with(c, WAIT_SLEEP, 1), block);
	add(g, E_LAT, &xp_shmring, with(c, WAIT_FD, 1), block);
	add(g, E_LAT, &xp_rte_ring, c, busy);
	add(g, E_LAT, &xp_ck_ring, c, busy);
	if ((what & W_OS) && p == SHMRING_SPSC)
		add_os_peers(g, E_LAT, c, block);
	c.cap = 1; /* lines each way: the floor */
	add(g, E_LINE, NULL, c, busy);
	c.cap = 2; /* an index line and a data line each way */
	add(g, E_LINE, NULL, c, busy);
	return 0;
}

/* Appends the capacity to entry I's label for the table; its key, which the
 * targets use, stays as entry_label() made it. */
static void label_cap(struct group *g, int i)
{
	struct entry *e = &g->e[i];
	size_t n = strlen(e->label);

	snprintf(e->label + n, sizeof(e->label) - n, ", cap %zu", e->cfg.cap);
}

/* Capacity 144 (not a power of two) against 128: the cost of exact capacity. */
static int cap_group(struct suite *s)
{
	struct group *g = group_new(s, false, "spsc 64 B, capacity 128 vs 144");
	struct xp_cfg c = cfg_of(SHMRING_SPSC, 64, 128);
	int ref = add(g, E_TP, &xp_shmring, c, -1), other;

	c.cap = 144;
	other = add(g, E_TP, &xp_shmring, c, ref);
	if (ref < 0 || other < 0)
		return -1;
	label_cap(g, ref);
	label_cap(g, other);
	return 0;
}

/* MPSC and MPMC with one producer and one consumer: the multi-producer
 * data paths on a CPU each, without the preemption that 2x1 and 2x2 on two
 * CPUs bring (see cpu_for). */
static int mp_one_to_one(struct suite *s, enum shmring_policy p, size_t elem)
{
	struct group *g =
		group_new(s, false, "%s 1x1 %zu B, capacity 1024", policy_name(p), elem);
	struct xp_cfg c = cfg_of(p, elem, 1024);
	int busy;

	c.producers = c.consumers = 1;
	busy = add(g, E_TP, &xp_shmring, c, -1);
	add(g, E_TP, &xp_rte_ring, c, busy);
	add(g, E_TP, &xp_rte_ring_rts, c, busy);
	add(g, E_TP, &xp_ck_ring, c, busy);
	return g ? 0 : -1;
}

static void suite_defaults(struct suite *s, unsigned tp_ms, unsigned lat_ms)
{
	s->reps = 5;
	s->tp = (struct run_opts){ .dur_ns = tp_ms * 1000000ull, .warm_ns = 20000000ull };
	s->lat = (struct run_opts){ .dur_ns = lat_ms * 1000000ull,
				    .warm_ns = 20000000ull,
				    .lat_samples = 1000000 };
}

int suite_quick(struct suite *s)
{
	int rc = 0;

	suite_defaults(s, 120, 150);
	for (size_t i = 0; i < NSIZES; i++)
		rc |= tp_group(s, SHMRING_SPSC, sizes[i], 1024,
			       W_BURST | W_BLOCK | W_MEMCPY | W_ZC |
				       (sizes[i] == 64 ? W_OS | W_FD : 0));
	/* The largest element that shares a line with its sequence word. */
	rc |= tp_group(s, SHMRING_SPSC, 56, 1024, 0);
	for (int p = SHMRING_MPSC; p <= SHMRING_MPMC; p++)
		for (size_t i = 1; i < NSIZES; i += 2) /* 64, 1024, 4096 */
			rc |= tp_group(s, p, sizes[i], 1024,
				       W_BLOCK | (sizes[i] == 64 ? W_BURST : 0));
	rc |= mp_one_to_one(s, SHMRING_MPSC, 64) | mp_one_to_one(s, SHMRING_MPMC, 64);
	rc |= cap_group(s);
	rc |= lat_group(s, SHMRING_SPSC, 64, W_OS);
	return rc ? -1 : 0;
}

int suite_full(struct suite *s)
{
	static const size_t caps[] = { 144, 1024, 65536 };
	unsigned all = W_BURST | W_BLOCK | W_SLEEP | W_OS | W_MEMCPY | W_FD | W_ZC;
	int rc = 0;

	suite_defaults(s, 250, 300);
	for (int p = SHMRING_SPSC; p <= SHMRING_MPMC; p++)
		for (size_t k = 0; k < 3; k++)
			for (size_t i = 0; i < NSIZES; i++)
				rc |= tp_group(s, p, sizes[i], caps[k], all);
	for (size_t i = 0; i < NSIZES; i++)
		rc |= mp_one_to_one(s, SHMRING_MPSC, sizes[i]) |
		      mp_one_to_one(s, SHMRING_MPMC, sizes[i]);
	rc |= cap_group(s);
	for (int p = SHMRING_SPSC; p <= SHMRING_MPMC; p++) {
		rc |= lat_group(s, p, 64, W_OS);
		rc |= lat_group(s, p, 1472, W_OS);
	}
	return rc ? -1 : 0;
}

int suite_single(struct suite *s, enum entry_kind kind, const struct xp_ops *ops,
		 const struct xp_cfg *c)
{
	struct group *g =
		group_new(s, kind == E_LAT || kind == E_LINE, "%s %zu B, capacity %zu",
			  policy_name(c->policy), c->elem, c->cap);

	if (add(g, kind, ops, *c, -1) < 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

void suite_free(struct suite *s)
{
	for (unsigned i = 0; i < s->n; i++)
		for (unsigned k = 0; k < s->g[i].n; k++)
			free(s->g[i].e[k].dist);
	free(s->g);
	s->g = NULL;
	s->n = s->alloc = 0;
}

/* ---- running ------------------------------------------------------------------ */

/* A trial whose processes spent more than this share of the window waiting
 * for a CPU measured the neighbours more than the transport: with --retries,
 * it is run again and the least disturbed attempt is kept. Not when the trial
 * itself has more processes than CPUs: then waiting is part of what it
 * measures. */
#define DISTURBED 0.10

static bool retry(const struct suite *s, const struct entry *e, double waited,
		  unsigned attempt)
{
	unsigned procs = e->kind == E_MEMCPY ? 1 :
			 e->kind == E_TP     ? e->cfg.producers + e->cfg.consumers :
					       2;

	return waited > DISTURBED && attempt <= s->retries &&
	       procs <= (unsigned)bench_ncpus();
}

static int tp_once(const struct suite *s, struct entry *e, struct tp_result *r, char *err,
		   size_t len)
{
	if (e->kind == E_MEMCPY)
		return tp_memcpy(&e->cfg, &s->tp, r, err, len);
	if (e->kind == E_C2C)
		return tp_c2c(&e->cfg, &s->tp, r, err, len);
	return tp_run(e->ops, &e->cfg, &s->tp, r, err, len);
}

static int run_tp(const struct suite *s, struct entry *e, char *err, size_t len)
{
	struct tp_result r, best = { .waited = 2 };
	unsigned a = 0;

	do {
		if (tp_once(s, e, &r, err, len))
			return -1;
		if (r.waited < best.waited)
			best = r;
	} while (retry(s, e, r.waited, ++a));
	e->waited[e->reps] = best.waited;
	e->attempts[e->reps] = a;
	e->v[e->reps++] = best.msgs_per_s;
	return 0;
}

static int lat_once(const struct suite *s, struct entry *e, struct lat_result *r,
		    char *err, size_t len)
{
	if (e->kind == E_LINE)
		return lat_cacheline((unsigned)e->cfg.cap, &s->lat, r, err, len);
	return lat_run(e->ops, &e->cfg, &s->lat, r, err, len);
}

static int run_lat(const struct suite *s, struct entry *e, char *err, size_t len)
{
	struct lat_result r, best = { .waited = 2 };
	unsigned a = 0, empty = 0;
	int rc;

	do {
		while ((rc = lat_once(s, e, &r, err, len)) == 1 && ++empty < 4)
			;
		if (rc)
			return -1;
		if (r.waited < best.waited) {
			free(best.sorted);
			best = r;
		} else {
			free(r.sorted);
		}
	} while (retry(s, e, r.waited, ++a));
	e->waited[e->reps] = best.waited;
	e->attempts[e->reps] = a;
	e->v[e->reps] = best.p50;
	e->p99[e->reps] = best.p99;
	e->p999[e->reps++] = best.p999;
	e->samples = best.n;
	free(e->dist); /* keep the last repetition's distribution for the plot */
	e->dist = best.sorted;
	e->ndist = best.n;
	return 0;
}

static int run_group(const struct suite *s, struct group *g, unsigned rep)
{
	char err[256];

	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r[%u/%u] %-48s", rep + 1, s->reps, g->title);
	for (unsigned i = 0; i < g->n; i++) {
		struct entry *e = &g->e[i];
		int rc = g->latency ? run_lat(s, e, err, sizeof(err)) :
				      run_tp(s, e, err, sizeof(err));

		if (rc) {
			fprintf(stderr, "\nFAILED: %s: %s: %s\n", g->title, e->label,
				err);
			return -1;
		}
	}
	return 0;
}

/* The cache-line round trip now: which placement the next round runs on. */
static double probe_placement(void)
{
	struct run_opts o = { .dur_ns = 40000000ull,
			      .warm_ns = 10000000ull,
			      .lat_samples = 100000 };
	struct lat_result r;
	char err[256];
	double p50 = -1;

	/* The least of three: a neighbour that takes a CPU away makes a
	 * round trip look longer, never shorter. */
	for (int tries = 0; tries < 3; tries++) {
		if (lat_cacheline(1, &o, &r, err, sizeof(err)) == 0) {
			if (p50 < 0 || r.p50 < p50)
				p50 = r.p50;
			free(r.sorted);
		}
	}
	return p50;
}

int suite_run(struct suite *s)
{
	if (s->reps > BENCH_MAX_REPS)
		s->reps = BENCH_MAX_REPS;
	for (unsigned rep = 0; rep < s->reps; rep++) {
		s->line_rt[rep] = probe_placement();
		for (unsigned i = 0; i < s->n; i++)
			if (run_group(s, &s->g[i], rep))
				return -1;
	}
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r%-70s\r", "");
	return 0;
}
