// SPDX-License-Identifier: MIT
/*
 * Round-trip latency: a pinger (first CPU) pushes a message on channel 0 and
 * waits for it to come back on channel 1; the ponger (second CPU) echoes each
 * message as soon as it has it and checks it afterwards, off the critical
 * path. Each round trip is timed on its own (TSC), from before the push to
 * after the pop; round trips before t_warm are not kept.
 *
 * The floor: two cache lines, one written by each side, bounced the same way
 * (lat_cacheline). A ring round trip cannot beat it: each direction moves at
 * least one line from one core to the other.
 */
#include "bench.h"
#include "side.h"
#include "verify.h"

#include <stdio.h>

static int open_pair(struct trial *t, struct side *tx, struct side *rx, bool pinger)
{
	memset(tx, 0, sizeof(*tx));
	memset(rx, 0, sizeof(*rx));
	if (side_open(tx, t, pinger ? 0 : 1, SHMRING_PRODUCER))
		return -1;
	return side_open(rx, t, pinger ? 1 : 0, SHMRING_CONSUMER);
}

static void close_pair(struct side *tx, struct side *rx)
{
	side_close(tx);
	side_close(rx);
}

/* Returns the number of samples kept, -1 with errno, -2 for a bad message. */
static long ping_loop(struct trial *t, struct side *tx, struct side *rx)
{
	uint64_t t_end = t->ctl->t_end, t_warm = t->ctl->t_warm;
	bool warming = true;
	size_t n = 0;

	/* The clock is read outside the timed part of each round trip, every
	 * time: a round trip can take a whole time slice on a busy machine. */
	for (uint64_t seq = 0, now; n < t->max_samples && (now = now_ns()) < t_end;
	     seq++) {
		uint64_t t0, t1, got;
		uint32_t p;

		warming = now < t_warm;
		vmsg_stamp(tx->buf, tx->elem, 0, seq);
		t0 = ticks();
		if (put(tx, tx->buf) || get(rx, rx->buf))
			return -1;
		t1 = ticks();
		if (vmsg_check(rx->buf, rx->elem, &p, &got) || p != 0 || got != seq)
			return -2;
		if (!warming)
			t->ctl->samples[n++] = t1 - t0;
	}
	return (long)n;
}

static int pinger(struct trial *t, unsigned index)
{
	struct side tx, rx;
	long n;
	int rc = 0;

	(void)index;
	if (open_pair(t, &tx, &rx, true))
		return proc_fail(t, "pinger open: %s", strerror(errno));
	proc_ready_wait(t);
	n = ping_loop(t, &tx, &rx);
	if (n == -1)
		rc = proc_fail(t, "pinger: %s", strerror(errno));
	else if (n == -2)
		rc = proc_fail(t, "pinger: the echo differs from the message sent");
	t->ctl->out[0].sent = n < 0 ? 0 : (uint64_t)n;
	vmsg_stamp(tx.buf, tx.elem, VMSG_STOP, 0);
	if (put(&tx, tx.buf))
		rc = proc_fail(t, "pinger stop: %s", strerror(errno));
	close_pair(&tx, &rx);
	return rc;
}

/* Echoes until the stop: 0, -1 with errno, -2 for a bad message. */
static int pong_loop(struct side *tx, struct side *rx)
{
	for (uint64_t seq = 0;; seq++) {
		uint64_t got;
		uint32_t p;

		if (get(rx, rx->buf) || put(tx, rx->buf))
			return -1;
		if (vmsg_check(rx->buf, rx->elem, &p, &got))
			return -2;
		if (p == VMSG_STOP)
			return 0;
		if (p != 0 || got != seq)
			return -2;
	}
}

static int ponger(struct trial *t, unsigned index)
{
	struct side tx, rx;
	int rc;

	(void)index;
	if (open_pair(t, &tx, &rx, false))
		return proc_fail(t, "ponger open: %s", strerror(errno));
	proc_ready_wait(t);
	rc = pong_loop(&tx, &rx);
	if (rc == -1)
		rc = proc_fail(t, "ponger: %s", strerror(errno));
	else if (rc == -2)
		rc = proc_fail(t, "ponger: lost, reordered or corrupt message");
	close_pair(&tx, &rx);
	return rc;
}

/* ---- parent ---------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest rank. */
static double pct(const double *sorted, size_t n, double p)
{
	size_t i = (size_t)(p * (double)n + 0.999999);

	return sorted[i ? (i > n ? n : i) - 1 : 0];
}

static int lat_collect(struct trial *t, const struct window *w, struct lat_result *res,
		       char *err, size_t len)
{
	size_t n = (size_t)t->ctl->out[0].sent;
	double per_ns = ticks_per_ns();

	/* A neighbour that takes a CPU for whole time slices can leave few
	 * round trips in the window (the count goes into the CSV), or none:
	 * then the trial is worth another go (1). */
	if (!n) {
		snprintf(err, len, "no round trip in the window");
		return 1;
	}
	res->sorted = malloc(n * sizeof(double));
	if (!res->sorted) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		res->sorted[i] = (double)t->ctl->samples[i] / per_ns;
	qsort(res->sorted, n, sizeof(double), cmp_double);
	res->n = n;
	res->min = res->sorted[0];
	res->max = res->sorted[n - 1];
	res->p50 = pct(res->sorted, n, 0.50);
	res->p99 = pct(res->sorted, n, 0.99);
	res->p999 = pct(res->sorted, n, 0.999);
	res->waited = window_waited(w);
	return 0;
}

static int lat_trial(const struct xp_ops *ops, const struct xp_cfg *c,
		     const struct run_opts *o, proc_fn ping, proc_fn pong,
		     struct lat_result *res, char *err, size_t len)
{
	struct xp_cfg one = *c;
	struct window w;
	struct trial t;
	int rc = -1;

	one.producers = one.consumers = 1;
	one.burst = 1;
	memset(res, 0, sizeof(*res));
	if (trial_open(&t, ops, &one, 2, 256, o->lat_samples))
		snprintf(err, len, "setup: %s", strerror(errno));
	else if (trial_spawn(&t, cpu_for(&one, SHMRING_PRODUCER, 0), ping, 0) ||
		 trial_spawn(&t, cpu_for(&one, SHMRING_CONSUMER, 0), pong, 1))
		snprintf(err, len, "fork: %s", strerror(errno));
	else if (!trial_run(&t, o->warm_ns, o->dur_ns, &w, err, len))
		rc = lat_collect(&t, &w, res, err, len);
	trial_kill(&t);
	trial_close(&t);
	return rc;
}

int lat_run(const struct xp_ops *ops, const struct xp_cfg *c, const struct run_opts *o,
	    struct lat_result *res, char *err, size_t len)
{
	return lat_trial(ops, c, o, pinger, ponger, res, err, len);
}

/* ---- machine limit: cache-line ping-pong ------------------------------------ */

/* Each side writes a flag line and, in the two-line variant, a data line it
 * writes first and the other side reads after seeing the flag: the shape of
 * a ring whose index and slots are on different lines. Lines are 256 bytes
 * apart, out of reach of the adjacent-line prefetcher. cfg.cap holds the
 * number of lines per direction. */
#define LINE_STOP UINT64_MAX

struct lines {
	_Atomic uint64_t *flag_out, *flag_in, *data_out, *data_in;
	bool two;
};

static struct lines lines_of(struct trial *t, bool pinger)
{
	char *base = t->ch[0].base, *mine = base + (pinger ? 0 : 512),
	     *theirs = base + (pinger ? 512 : 0);

	return (struct lines){ (_Atomic uint64_t *)mine, (_Atomic uint64_t *)theirs,
			       (_Atomic uint64_t *)(mine + 256),
			       (_Atomic uint64_t *)(theirs + 256), t->cfg.cap > 1 };
}

static void line_send(const struct lines *l, uint64_t v)
{
	if (l->two)
		atomic_store_explicit(l->data_out, v, memory_order_relaxed);
	/* release: the data line is written before the flag says so */
	atomic_store_explicit(l->flag_out, v, memory_order_release);
}

/* Waits for a flag other than LAST; returns it, or 0 if the data disagrees. */
static uint64_t line_receive(const struct lines *l, uint64_t last)
{
	uint64_t v;

	while ((v = atomic_load_explicit(l->flag_in, memory_order_acquire)) == last)
		cpu_relax();
	if (l->two && v != LINE_STOP &&
	    atomic_load_explicit(l->data_in, memory_order_relaxed) != v)
		return 0;
	return v;
}

static int line_ping(struct trial *t, unsigned index)
{
	struct lines l = lines_of(t, true);
	uint64_t t_end, t_warm;
	bool warming = true;
	size_t n = 0;

	(void)index;
	proc_ready_wait(t);
	t_end = t->ctl->t_end; /* set by the parent just before go */
	t_warm = t->ctl->t_warm;
	for (uint64_t seq = 1, now; n < t->max_samples && (now = now_ns()) < t_end;
	     seq++) {
		uint64_t t0, t1;

		warming = now < t_warm;
		t0 = ticks();
		line_send(&l, seq);
		if (line_receive(&l, seq - 1) != seq)
			return proc_fail(t, "cache line: wrong echo");
		t1 = ticks();
		if (!warming)
			t->ctl->samples[n++] = t1 - t0;
	}
	t->ctl->out[0].sent = n;
	line_send(&l, LINE_STOP);
	return 0;
}

static int line_pong(struct trial *t, unsigned index)
{
	struct lines l = lines_of(t, false);
	uint64_t last = 0, v;

	(void)index;
	proc_ready_wait(t);
	while ((v = line_receive(&l, last)) != LINE_STOP) {
		if (v != last + 1)
			return proc_fail(t, "cache line: %llu after %llu",
					 (unsigned long long)v, (unsigned long long)last);
		line_send(&l, v);
		last = v;
	}
	return 0;
}

int lat_cacheline(unsigned lines, const struct run_opts *o, struct lat_result *res,
		  char *err, size_t len)
{
	struct xp_cfg c = { .policy = SHMRING_SPSC, .elem = 8, .cap = lines };

	return lat_trial(NULL, &c, o, line_ping, line_pong, res, err, len);
}
