// SPDX-License-Identifier: MIT
/*
 * Throughput: producers push stamped messages until the parent says stop,
 * consumers check every message and publish how many they have taken.
 *
 * The window: processes start together (proc_ready_wait); the parent reads
 * the consumers' counters at t_warm and at t_end and divides by the time
 * between its reads (trial.c), so start-up and the drain after the producers
 * stop stay out of it, and no clock is read on the data path.
 *
 * The end: the last producer to finish pushes stop messages after all data,
 * one per consumer (one per consumer and burst slot when consumers take
 * bursts, since one burst can hold several stops). A consumer leaves at its
 * first stop. Nothing is lost: in every transport here a message pushed after
 * another is taken after it.
 */
#include "bench.h"
#include "side.h"
#include "verify.h"

#include <stdio.h>

/* What one consumer has seen: per producer the next seq it may take. With
 * one consumer the seqs must be consecutive; with several, only increasing
 * (the others take the gaps); the parent checks the sums add up. */
struct tally {
	unsigned producers;
	bool strict;
	uint64_t next[BENCH_MAX_PROCS], count[BENCH_MAX_PROCS], sum[BENCH_MAX_PROCS];
	uint64_t total;
	char why[160];
};

/* 0 for a good data message, 1 for a stop, -1 for a bad message (v->why). */
static int tally_msg(struct tally *v, const unsigned char *m, size_t elem)
{
	uint32_t p;
	uint64_t seq;

	if (vmsg_check(m, elem, &p, &seq)) {
		snprintf(v->why, sizeof(v->why), "corrupt message (id word %016llx)",
			 (unsigned long long)(p * (1ull << MSG_SEQ_BITS) + seq));
		return -1;
	}
	if (p == VMSG_STOP)
		return 1;
	if (p >= v->producers || seq < v->next[p] || (v->strict && seq != v->next[p])) {
		snprintf(v->why, sizeof(v->why),
			 "producer %u seq %llu arrived, expected %llu (lost, duplicated "
			 "or reordered)",
			 p, (unsigned long long)seq,
			 (unsigned long long)(p < v->producers ? v->next[p] : 0));
		return -1;
	}
	v->next[p] = seq + 1;
	v->count[p]++;
	v->sum[p] += seq;
	v->total++;
	return 0;
}

/* ---- consumer ------------------------------------------------------------- */

/* Takes messages until a stop, or until the parent asks all consumers but
 * the first to leave (ctl->solo): 0, -1 with errno (transport), -2 (v->why). */
static int consume(struct trial *t, unsigned index, struct side *s, struct tally *v)
{
	_Atomic uint64_t *progress = &t->ctl->progress[index].n;

	for (;;) {
		long n = 1;

		if (s->zc) {
			const void *m = lend_out(s);
			int rc = m ? tally_msg(v, m, s->elem) : -1;

			if (!m || s->ops->release(s->h))
				return -1;
			if (rc)
				return rc < 0 ? -2 : 0;
			atomic_store_explicit(progress, v->total, memory_order_relaxed);
			continue;
		}
		if (s->burst > 1)
			n = get_burst(s, s->buf, s->burst);
		else if (get(s, s->buf))
			n = -1;
		if (n < 0)
			return -1;
		for (long i = 0; i < n; i++) {
			int rc = tally_msg(v, s->buf + (size_t)i * s->elem, s->elem);

			if (rc)
				return rc < 0 ? -2 : 0;
		}
		atomic_store_explicit(progress, v->total, memory_order_relaxed);
		if (index && atomic_load_explicit(&t->ctl->solo, memory_order_relaxed))
			return 0;
	}
}

static void tally_init(struct tally *v, const struct trial *t)
{
	memset(v, 0, sizeof(*v));
	v->producers = t->cfg.producers;
	v->strict = t->cfg.consumers == 1;
}

static int tp_consumer(struct trial *t, unsigned index)
{
	struct proc_out *out = &t->ctl->out[t->cfg.producers + index];
	struct tally v;
	struct side s;
	int rc;

	if (side_open(&s, t, 0, SHMRING_CONSUMER))
		return proc_fail(t, "consumer open: %s", strerror(errno));
	proc_ready_wait(t);
	tally_init(&v, t);
	rc = consume(t, index, &s, &v);
	atomic_fetch_add(&t->ctl->consumers_done, 1);
	if (rc == -1)
		rc = proc_fail(t, "consumer %u: %s", index, strerror(errno));
	else if (rc == -2)
		rc = proc_fail(t, "consumer %u: %s", index, v.why);
	memcpy(out->recv, v.count, sizeof(out->recv));
	memcpy(out->seq_sum, v.sum, sizeof(out->seq_sum));
	side_close(&s);
	return rc;
}

/* ---- producer ------------------------------------------------------------- */

/* Pushes until told to stop; returns the count, or -1 with errno. */
static int64_t produce(struct side *s, uint32_t id, _Atomic uint32_t *stop)
{
	uint64_t seq;

	/* The stop flag's line is only read until the parent writes it once:
	 * checking it per message costs an L1 hit, and bounds the time a
	 * stalled producer (see rte_ring mp in 2x1) takes to notice. */
	for (seq = 0;; seq++) {
		if (atomic_load_explicit(stop, memory_order_relaxed))
			break;
		if (s->zc) {
			void *m = lend_in(s);

			if (!m)
				return -1;
			vmsg_stamp(m, s->elem, id, seq);
			if (s->ops->commit(s->h))
				return -1;
			continue;
		}
		vmsg_stamp(s->buf, s->elem, id, seq);
		if (put(s, s->buf))
			return -1;
	}
	return (int64_t)seq;
}

static int64_t produce_bursts(struct side *s, uint32_t id, _Atomic uint32_t *stop)
{
	uint64_t seq = 0;

	for (;;) {
		if (atomic_load_explicit(stop, memory_order_relaxed))
			break;
		for (unsigned i = 0; i < s->burst; i++)
			vmsg_stamp(s->buf + i * s->elem, s->elem, id, seq + i);
		if (put_burst(s, s->buf, s->burst))
			return -1;
		seq += s->burst;
	}
	return (int64_t)seq;
}

/* After all data: the stops. A stop nobody is left to take is dropped. */
static int send_stops(struct side *s, struct trial *t)
{
	unsigned consumers = t->cfg.consumers;
	unsigned n = consumers > 1 ? consumers * s->burst : 1;

	vmsg_stamp(s->buf, s->elem, VMSG_STOP, 0);
	for (unsigned i = 0; i < n; i++) {
		int rc;

		if (s->wait) {
			if (s->ops->push_wait(s->h, s->buf) < 0)
				return -1;
			continue;
		}
		while ((rc = s->ops->push(s->h, s->buf)) == 0) {
			if (atomic_load(&t->ctl->consumers_done) == consumers)
				return 0;
			cpu_relax();
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int tp_producer(struct trial *t, unsigned index)
{
	struct side s;
	int64_t sent;
	int rc = 0;

	if (side_open(&s, t, 0, SHMRING_PRODUCER))
		return proc_fail(t, "producer open: %s", strerror(errno));
	proc_ready_wait(t);
	if (s.burst > 1)
		sent = produce_bursts(&s, index, &t->ctl->stop);
	else
		sent = produce(&s, index, &t->ctl->stop);
	if (sent < 0)
		rc = proc_fail(t, "producer %u: %s", index, strerror(errno));
	t->ctl->out[index].sent = sent < 0 ? 0 : (uint64_t)sent;
	if (atomic_fetch_add(&t->ctl->producers_done, 1) + 1 == t->cfg.producers &&
	    send_stops(&s, t))
		rc = proc_fail(t, "producer %u stop: %s", index, strerror(errno));
	side_close(&s);
	return rc;
}

/* ---- parent ---------------------------------------------------------------- */

/* The rates of window W moving ELEM-byte messages. */
static void window_rates(const struct window *w, size_t elem, struct tp_result *res)
{
	res->msgs_per_s = (double)w->count * 1e9 / (double)w->ns;
	res->bytes_per_s = res->msgs_per_s * (double)elem;
	res->waited = window_waited(w);
}

/* Every message pushed was taken exactly once: counts and seq sums add up. */
static int tp_collect(struct trial *t, const struct window *w, struct tp_result *res,
		      char *err, size_t len)
{
	const struct xp_cfg *c = &t->cfg;

	res->moved = 0;
	for (unsigned p = 0; p < c->producers; p++) {
		uint64_t sent = t->ctl->out[p].sent, recv = 0, sum = 0;

		for (unsigned k = 0; k < c->consumers; k++) {
			recv += t->ctl->out[c->producers + k].recv[p];
			sum += t->ctl->out[c->producers + k].seq_sum[p];
		}
		if (recv != sent || (sent && sum != sent * (sent - 1) / 2)) {
			snprintf(err, len, "producer %u sent %llu, consumers took %llu",
				 p, (unsigned long long)sent, (unsigned long long)recv);
			return -1;
		}
		res->moved += recv;
	}
	window_rates(w, c->elem, res);
	return 0;
}

static int tp_spawn(struct trial *t)
{
	const struct xp_cfg *c = &t->cfg;

	for (unsigned k = 0; k < c->consumers; k++)
		if (trial_spawn(t, cpu_for(c, SHMRING_CONSUMER, k), tp_consumer, k))
			return -1;
	for (unsigned p = 0; p < c->producers; p++)
		if (trial_spawn(t, cpu_for(c, SHMRING_PRODUCER, p), tp_producer, p))
			return -1;
	return 0;
}

int tp_run(const struct xp_ops *ops, const struct xp_cfg *c, const struct run_opts *o,
	   struct tp_result *res, char *err, size_t len)
{
	struct window w;
	struct trial t;
	int rc = -1;

	if (trial_open(&t, ops, c, 1, 0, 0))
		snprintf(err, len, "setup: %s", strerror(errno));
	else if (tp_spawn(&t))
		snprintf(err, len, "fork: %s", strerror(errno));
	else if (!trial_run(&t, o->warm_ns, o->dur_ns, &w, err, len))
		rc = tp_collect(&t, &w, res, err, len);
	trial_kill(&t); /* after a failed spawn, the ones already forked */
	trial_close(&t);
	return rc;
}

/* ---- machine limit: memcpy ------------------------------------------------ */

/* One process copies elem-sized messages from a hot buffer into consecutive
 * slots of a cap * elem region of the segment, as a producer with an
 * infinitely fast consumer would: the ceiling for a ring of large messages,
 * in which each core copies every message once. */
static int memcpy_proc(struct trial *t, unsigned index)
{
	const struct xp_cfg *c = &t->cfg;
	unsigned char *dst = t->ch[0].base, *src = aligned_alloc(128, c->elem * 2);
	uint64_t total = 0, seq;
	uint32_t p;

	(void)index;
	if (!src)
		return proc_fail(t, "memcpy: out of memory");
	vmsg_stamp(src, c->elem, 0, 0);
	proc_ready_wait(t);
	for (size_t slot = 0;
	     !atomic_load_explicit(&t->ctl->stop, memory_order_relaxed);) {
		for (int i = 0; i < 64; i++) {
			memcpy(dst + slot * c->elem, src, c->elem);
			slot = slot + 1 == c->cap ? 0 : slot + 1;
		}
		total += 64;
		atomic_store_explicit(&t->ctl->progress[0].n, total,
				      memory_order_relaxed);
	}
	free(src);
	if (vmsg_check(dst, c->elem, &p, &seq))
		return proc_fail(t, "memcpy: the copy differs");
	return 0;
}

/* A machine-limit trial whose processes run: its window, as rates. */
static int limit_measure(struct trial *t, const struct run_opts *o, struct tp_result *res,
			 char *err, size_t len)
{
	struct window w;

	if (trial_run(t, o->warm_ns, o->dur_ns, &w, err, len))
		return -1;
	res->moved = w.count;
	window_rates(&w, t->cfg.elem, res);
	return 0;
}

int tp_memcpy(const struct xp_cfg *c, const struct run_opts *o, struct tp_result *res,
	      char *err, size_t len)
{
	struct trial t;
	int rc = -1;

	if (trial_open(&t, NULL, c, 1, c->elem * c->cap, 0))
		snprintf(err, len, "setup: %s", strerror(errno));
	else if (trial_spawn(&t, cpu_for(c, SHMRING_CONSUMER, 0), memcpy_proc, 0))
		snprintf(err, len, "fork: %s", strerror(errno));
	else
		rc = limit_measure(&t, o, res, err, len);
	trial_kill(&t);
	trial_close(&t);
	return rc;
}

/* ---- machine limit: cross-core copy ---------------------------------------- */

/* The region as an ideal ring: chunks of 32 messages (two chunks when the
 * capacity is below 64), a flag per chunk on a line of its own and no shared
 * index. The writer fills a chunk with one memcpy from a hot buffer of
 * stamped messages; the reader copies it out with one memcpy and hands it
 * back. Synchronisation is amortised over 32 messages and the copies are as
 * long as they get (glibc streams long copies with rep movsb), so this is
 * what moving the bytes from one core to the other costs: the ceiling of a
 * copying ring on this machine. */
#define C2C_CHUNK 32

struct chunks {
	unsigned char *data;
	_Atomic uint32_t *full; /* flag i at full[32 * i]: 128 bytes apart */
	size_t n, per, elem;	/* chunks, messages per chunk, message size */
};

static size_t c2c_chunks(const struct xp_cfg *c)
{
	return c->cap >= 2 * C2C_CHUNK ? c->cap / C2C_CHUNK : 2;
}

static struct chunks chunks_of(struct trial *t)
{
	const struct xp_cfg *c = &t->cfg;
	size_t n = c2c_chunks(c), per = c->cap / n;

	return (struct chunks){ t->ch[0].base,
				(_Atomic uint32_t *)((char *)t->ch[0].base +
						     n * per * c->elem),
				n, per, c->elem };
}

static _Atomic uint32_t *chunk_flag(const struct chunks *k, size_t i)
{
	return &k->full[32 * i];
}

/* Waits until chunk I's flag is WANT; false if told to stop first. */
static bool chunk_wait(struct trial *t, const struct chunks *k, size_t i, uint32_t want)
{
	while (atomic_load_explicit(chunk_flag(k, i), memory_order_acquire) != want)
		if (atomic_load_explicit(&t->ctl->stop, memory_order_relaxed))
			return false;
	return true;
}

/* A hot buffer of one chunk's worth of stamped messages. */
static unsigned char *chunk_buffer(const struct chunks *k)
{
	unsigned char *b = aligned_alloc(128, (k->per * k->elem + 127) & ~(size_t)127);

	for (size_t m = 0; b && m < k->per; m++)
		vmsg_stamp(b + m * k->elem, k->elem, 0, m);
	return b;
}

static int c2c_writer(struct trial *t, unsigned index)
{
	struct chunks k = chunks_of(t);
	unsigned char *src = chunk_buffer(&k);

	(void)index;
	if (!src)
		return proc_fail(t, "c2c: out of memory");
	proc_ready_wait(t);
	for (size_t i = 0; chunk_wait(t, &k, i, 0); i = i + 1 == k.n ? 0 : i + 1) {
		memcpy(k.data + i * k.per * k.elem, src, k.per * k.elem);
		/* release: the chunk is written before the reader may copy it */
		atomic_store_explicit(chunk_flag(&k, i), 1, memory_order_release);
	}
	free(src);
	return 0;
}

static int c2c_reader(struct trial *t, unsigned index)
{
	struct chunks k = chunks_of(t);
	unsigned char *dst = chunk_buffer(&k);
	uint64_t total = 0, seq;
	uint32_t p;
	int rc = 0;

	(void)index;
	if (!dst)
		return proc_fail(t, "c2c: out of memory");
	proc_ready_wait(t);
	for (size_t i = 0; chunk_wait(t, &k, i, 1); i = i + 1 == k.n ? 0 : i + 1) {
		memcpy(dst, k.data + i * k.per * k.elem, k.per * k.elem);
		if (vmsg_check(dst + (k.per - 1) * k.elem, k.elem, &p, &seq) ||
		    seq != k.per - 1)
			rc = proc_fail(t, "c2c: the copy differs");
		/* release: our copy is done before the writer reuses it */
		atomic_store_explicit(chunk_flag(&k, i), 0, memory_order_release);
		total += k.per;
		atomic_store_explicit(&t->ctl->progress[0].n, total,
				      memory_order_relaxed);
	}
	free(dst);
	return rc;
}

int tp_c2c(const struct xp_cfg *c, const struct run_opts *o, struct tp_result *res,
	   char *err, size_t len)
{
	struct trial t;
	int rc = -1;

	if (c->cap < 2) {
		snprintf(err, len, "c2c: capacity below 2");
		return -1;
	}
	if (trial_open(&t, NULL, c, 1, c->elem * c->cap + 128 * c2c_chunks(c), 0))
		snprintf(err, len, "setup: %s", strerror(errno));
	else if (trial_spawn(&t, cpu_for(c, SHMRING_PRODUCER, 0), c2c_writer, 0) ||
		 trial_spawn(&t, cpu_for(c, SHMRING_CONSUMER, 0), c2c_reader, 0))
		snprintf(err, len, "fork: %s", strerror(errno));
	else
		rc = limit_measure(&t, o, res, err, len);
	trial_kill(&t);
	trial_close(&t);
	return rc;
}
