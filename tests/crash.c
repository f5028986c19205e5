// SPDX-License-Identifier: MIT
/*
 * make crash: producers and consumers as real processes on one named ring,
 * SIGKILLed at random moments and restarted as new processes, plus planned
 * deaths in the middle of the library's copy (a caller buffer whose end is a
 * PROT_NONE page), for every policy x mode x element size. Every message is
 * accounted for; what may be lost or delivered twice is exactly what the
 * library promises (include/shmring.h, src/repair.c), each case tied to the
 * kill that allows it:
 *
 *  - Producers. Incarnation P (a new one per process) numbers its messages
 *    0, 1, 2 ... Before a call it raises `hi` to the highest number the
 *    call may push; after a call returns it records `progress`, the count
 *    pushed. Every seq < progress must be received; a seq in [progress, hi)
 *    was in flight when P died and may be received (intact, once) or not
 *    ("abandoned"); none of a call that died mid-copy may be received; no
 *    seq >= hi can exist.
 *  - Consumers record every message: a word per (P, seq) counts receipts
 *    and names the first receiver. Copy calls record after the call
 *    returns; zero-copy records after peek, before release, with the list
 *    of what it holds in shared memory first ("held").
 *  - A message received twice must be in the held list of a consumer that
 *    was killed holding it (each list entry pays for one extra delivery).
 *  - A message lost (seq < progress, never received) must be paid for by a
 *    consumer killed inside a copy call (between the release and its
 *    record), at most as many as that call could move. SPSC/MPSC: the
 *    consumer is one between the receivers of the message's neighbours, and
 *    the positions its successor starts from bound the count exactly.
 *    MPMC: one killed after the message was pushed.
 *  - Order: SPSC/MPSC deliver each producer's messages in order, except
 *    held ones delivered again; MPMC each consumer sees them in order except
 *    elements returned to the ring by a consumer that died holding them
 *    (paid for by that kill) or given back by a partial release (logged).
 *  - Deaths: only the ones we cause. A SIGSEGV outside a planned fault, any
 *    other signal, or an error exit of a worker is a violation.
 *  - Time: a timed call returns within its timeout (+2 s of scheduling
 *    slack; a try call within that slack), and the run makes progress (no
 *    pushes and no receipts for --stall seconds fails it). After each
 *    planned death mid-copy of a claimer (MPSC/MPMC producer, MPMC
 *    consumer) the repair is timed (shmring_stat's abandoned).
 *  - At the end the ring drains, and then takes exactly `capacity` elements
 *    and gives them back in order.
 */
#include "harness.h"
#include "ring.h" /* the segment format, to show a stuck ring's slots */

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

enum mode { M_TRY, M_BURST, M_BLOCK, M_TIMED, M_ZC, M_NMODES };
static const char *const mode_name[M_NMODES] = { "try", "burst", "block", "timed", "zc" };

#define MAX_INC		4000u /* incarnations per side and configuration */
#define CHUNK		4096u /* message words per arena chunk */
#define CHUNKS_PER_INC	256u
#define MAX_SEQ		((uint64_t)CHUNK * CHUNKS_PER_INC) /* then a producer restarts */
#define CKPT		256u /* producers note the time every CKPT messages */
#define CKPTS_PER_CHUNK (CHUNK / CKPT)
#define ARENA_CHUNKS	16384u /* 64 M messages per configuration */
#define MAX_BATCH	16u
#define MAX_EXC		(1u << 20)
/* Scheduling slack on a call's time bound: workers are stopped for up to
 * 300 ms, and the machines we run on are shared and loaded (a tiny run saw a
 * 100 ms wait come back after 1.25 s, with the load average near 20). */
#define MAX_KIDS	8
#define MAX_LAT		8192

/* ---- the books, in memory shared with every worker --------------------------- */

enum { P_IDLE, P_CALL, P_GUARD };
enum { C_IDLE, C_CALL, C_PEEK, C_HELD, C_GUARD };
static const char *const cstate_name[] = { "idle", "call", "peek", "held", "guard" };
static const char *const pstate_name[] = { "idle", "call", "guard" };
enum { D_ALIVE, D_EXIT, D_KILL, D_SEGV, D_BAD };

struct prec {
	_Atomic int32_t pid;
	_Atomic uint32_t opened, guard_req, state, call_n;
	_Atomic uint64_t progress, hi;
	_Atomic uint32_t chunk[CHUNKS_PER_INC]; /* arena chunk + 1, 0: none */
	uint64_t start_ns;
	/* the supervisor's, once it reaped the process */
	int death;
	uint64_t kill_ns;
	uint32_t d_state, d_n;
	uint64_t d_progress, d_hi;
};

struct crec {
	_Atomic int32_t pid;
	_Atomic uint32_t opened, guard_req, state, call_n, start_valid, nheld;
	_Atomic uint64_t pos, start_pos; /* SPSC/MPSC: shmring_position */
	_Atomic uint64_t held[MAX_BATCH];
	_Atomic uint64_t received;
	uint64_t start_ns, guard_ns; /* when it was asked to die mid-copy */
	int death;
	uint64_t kill_ns, reap_ns; /* it died between these */
	uint32_t d_state, d_n, d_nheld;
	uint64_t d_pos, d_held[MAX_BATCH];
};

struct ckpt {
	_Atomic uint64_t progress, ns;
};

enum { X_DUP = 1, X_ORDER };

struct exc {
	_Atomic uint32_t ready;
	uint32_t kind, cons;
	uint64_t id, ns;
	int64_t prev; /* X_ORDER: the later seq the consumer had seen */
};

struct cfg {
	enum shmring_policy policy;
	enum mode mode;
	size_t elem, cap;
	unsigned int nprod, ncons;
	uint64_t seed;
	int index;
	char name[96];
};

struct shared {
	struct cfg cfg;
	_Atomic uint32_t np, nc; /* incarnations started, per side */
	_Atomic uint32_t stop_prod, arena_full, next_chunk;
	_Atomic uint64_t events, received, dups_seen, pills, late;
	_Atomic uint32_t nexc;
	_Atomic int64_t last[MAX_INC]; /* SPSC/MPSC: last seq received per producer */
	struct prec prod[MAX_INC];
	struct crec cons[MAX_INC];
	struct exc exc[MAX_EXC];
	struct h_log log;
};

/* Set by the supervisor for each configuration, inherited by the workers. */
static struct shared *S;
static _Atomic uint32_t
	*W; /* per message: count (7 bits), given back (1), first receiver (24) */
static struct ckpt *CK;
static struct cfg C;

#define W_COUNT(w) ((w)&0x7fu)
#define W_GB	   0x80u /* given back by a partial release (MPMC) */
#define W_RCV(w)   ((w) >> 8)

static inline uint64_t msg_id(uint32_t p, uint64_t s)
{
	return (uint64_t)p << MSG_SEQ_BITS | s;
}

static inline uint32_t id_prod(uint64_t id)
{
	return (uint32_t)(id >> MSG_SEQ_BITS);
}

static inline uint64_t id_seq(uint64_t id)
{
	return id & MSG_SEQ_MASK;
}

/* The word of message (P, S): its chunk exists for every seq < hi. */
static inline _Atomic uint32_t *word_at(uint32_t p, uint64_t s)
{
	uint32_t c = atomic_load(&S->prod[p].chunk[s / CHUNK]);

	return c ? &W[(size_t)(c - 1) * CHUNK + s % CHUNK] : NULL;
}

static inline struct ckpt *ckpt_at(uint32_t p, uint64_t s)
{
	uint32_t c = s < MAX_SEQ ? atomic_load(&S->prod[p].chunk[s / CHUNK]) : 0;

	return c ? &CK[(size_t)(c - 1) * CKPTS_PER_CHUNK + (s % CHUNK) / CKPT] : NULL;
}

/* A worker's fatal error: reported, and the process exits (a violation). */
static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	h_vreport(&S->log, fmt, ap);
	va_end(ap);
	_exit(3);
}

static void exc_add(uint32_t kind, uint32_t cons, uint64_t id, int64_t prev)
{
	uint32_t i = atomic_fetch_add(&S->nexc, 1);

	if (i >= MAX_EXC) {
		if (i == MAX_EXC)
			h_report(&S->log, "more than %u duplicates/reorders/give-backs",
				 MAX_EXC);
		return;
	}
	S->exc[i].kind = kind;
	S->exc[i].cons = cons;
	S->exc[i].id = id;
	S->exc[i].ns = h_now();
	S->exc[i].prev = prev;
	atomic_store(&S->exc[i].ready, 1);
}

/* ---- common to both sides ------------------------------------------------------ */

static size_t batch(struct h_rng *g)
{
	if (C.mode == M_BURST || C.mode == M_ZC)
		return 1 + (size_t)h_below(g, MAX_BATCH);
	return 1;
}

static uint64_t pick_timeout(struct h_rng *g)
{
	static const uint64_t t[] = { 0, 1000, 50000, 1000000, 10000000, 100000000 };

	return t[h_below(g, sizeof(t) / sizeof(t[0]))];
}

/* After EAGAIN: let the other side run (system calls are dear on some
 * machines: spin first, then yield, sometimes sleep). */
static void backoff(struct h_rng *g)
{
	uint64_t r = h_below(g, 64);

	if (r == 0)
		h_sleep_ns(h_below(g, 200000));
	else if (r < 16)
		sched_yield();
	else
		for (int i = 0; i < 200; i++)
			h_relax();
}

/* Now and then a pause, so that kills land in every state of the ring. */
static void wander(struct h_rng *g)
{
	uint64_t r = h_below(g, 16384);

	if (r < 48)
		h_sleep_ns(h_below(g, 500000));
	else if (r < 52)
		h_sleep_ns(h_below(g, 20000000));
}

static struct shmring *open_role(enum shmring_role role)
{
	uint64_t t0 = h_now();

	for (;;) {
		struct shmring *r =
			role == SHMRING_PRODUCER ?
				shmring_producer(C.policy, C.name, C.elem, C.cap, NULL) :
				shmring_consumer(C.policy, C.name, C.elem, C.cap, NULL);

		if (r)
			return r;
		/* The predecessor was reaped before we were started: its role
		 * is free. EBUSY for long means a role held by nobody alive. */
		if (errno != EBUSY || h_now() - t0 > 5000000000ull)
			die("%s open: %s",
			    role == SHMRING_PRODUCER ? "producer" : "consumer",
			    strerror(errno));
		h_sleep_ns(1000000);
	}
}

/* ---- producers ----------------------------------------------------------------------- */

struct pctx {
	struct shmring *r;
	uint32_t id;
	struct prec *rec;
	struct h_rng g;
	unsigned char *buf, *scratch;
	struct h_guard guard;
};

/* Arena chunks for every seq below UPTO; false when the arena is used up. */
static bool chunks_for(struct pctx *x, uint64_t upto)
{
	for (uint64_t c = 0; c * CHUNK < upto; c++) {
		uint32_t n;

		if (atomic_load(&x->rec->chunk[c]))
			continue;
		n = atomic_fetch_add(&S->next_chunk, 1);
		if (n >= ARENA_CHUNKS) {
			atomic_store(&S->arena_full, 1);
			return false;
		}
		atomic_store(&x->rec->chunk[c], n + 1);
	}
	return true;
}

static void pushed(struct pctx *x, uint64_t base, size_t m)
{
	uint64_t np = base + m, now;

	if (!m)
		return;
	atomic_store(&x->rec->progress, np);
	if (np / CKPT != base / CKPT) {
		now = h_now();
		for (uint64_t k = base / CKPT + 1; k <= np / CKPT; k++) {
			struct ckpt *c = ckpt_at(x->id, k * CKPT);

			if (c && !atomic_load(&c->ns)) {
				atomic_store(&c->progress, np);
				atomic_store(&c->ns, now);
			}
		}
	}
	atomic_fetch_add(&S->events, 1);
}

/* Fills the reserved slots from FIRST with messages BASE.., commits K of
 * them (poisoning the rest, which no consumer may ever see). */
static size_t zc_fill_commit(struct pctx *x, unsigned char *first, size_t stride,
			     size_t m, uint64_t base)
{
	size_t k = m;

	for (size_t i = 0; i < m; i++)
		msg_fill(first + i * stride, C.elem, x->id, base + i);
	if (h_one_in(&x->g, 8))
		k = (size_t)h_below(&x->g, m + 1);
	for (size_t i = k; i < m; i++)
		msg_fill(first + i * stride, C.elem, H_ID_POISON, base + i);
	if (shmring_commit(x->r, k))
		die("commit %zu of %zu: %s", k, m, strerror(errno));
	return k;
}

/* One copying call of the run's mode other than zero-copy, retried until it
 * moves something or, if STOP is given, STOP says so: the count. */
static size_t copy_op(const struct h_dir *d, struct shmring *r, struct h_rng *g,
		      unsigned char *buf, size_t n, _Atomic uint32_t *stop)
{
	for (;;) {
		uint64_t t0 = h_now(), to;
		ssize_t k;

		switch (C.mode) {
		case M_TRY:
			k = d->try_(r, buf) ? -1 : 1;
			h_timed_check(&S->log, t0, 0, d->try_name);
			if (k < 0 && errno != EAGAIN)
				die("%s: %s", d->try_name, strerror(errno));
			break;
		case M_BURST:
			k = d->burst(r, buf, n);
			h_timed_check(&S->log, t0, 0, d->burst_name);
			if (k < 0)
				die("%s: %s", d->burst_name, strerror(errno));
			break;
		case M_BLOCK:
			if (d->block(r, buf))
				die("%s: %s", d->block_name, strerror(errno));
			return 1;
		default:
			to = pick_timeout(g);
			k = d->timed(r, buf, to) ? -1 : 1;
			h_timed_check(&S->log, t0, to, d->timed_name);
			if (k < 0 && errno != ETIMEDOUT)
				die("%s: %s", d->timed_name, strerror(errno));
			if (k > 0)
				return 1;
			if (stop && atomic_load(stop))
				return 0;
			continue;
		}
		if (k > 0)
			return (size_t)k;
		if (stop && atomic_load(stop))
			return 0;
		backoff(g);
	}
}

/* One call (with retries until it moves something, or we are told to
 * stop): the number of messages pushed from BUF. */
static size_t push_op(struct pctx *x, unsigned char *buf, size_t n, uint64_t base)
{
	for (;;) {
		uint64_t t0 = h_now(), to;
		ssize_t k;
		void *first;
		size_t stride;

		if (C.mode != M_ZC)
			return copy_op(&h_push, x->r, &x->g, buf, n, &S->stop_prod);
		k = shmring_reserve(x->r, n, &first, &stride);
		h_timed_check(&S->log, t0, 0, "reserve");
		if (k < 0)
			die("reserve: %s", strerror(errno));
		if (k > 0)
			return zc_fill_commit(x, first, stride, (size_t)k, base);
		to = pick_timeout(&x->g);
		t0 = h_now();
		if (shmring_wait(x->r, to) && errno != ETIMEDOUT)
			die("producer wait: %s", strerror(errno));
		h_timed_check(&S->log, t0, to, "shmring_wait (producer)");
		if (atomic_load(&S->stop_prod))
			return 0;
	}
}

/* A planned death mid-copy: the element the library (or, zero-copy, we)
 * copies from straddles a PROT_NONE page. Returns only if it cannot fault. */
static void guard_push(struct pctx *x)
{
	uint64_t base = atomic_load(&x->rec->progress);
	size_t n = C.mode == M_BURST || C.mode == M_ZC ?
			   1 + (size_t)h_below(&x->g, MAX_BATCH) :
			   1;
	size_t j = C.mode == M_BURST ? (size_t)h_below(&x->g, n) : 0;
	unsigned char *a = h_guard_array(&x->guard, C.elem, j);

	if (!chunks_for(x, base + n))
		return;
	for (size_t i = 0; i <= j; i++)
		h_guard_fill(&x->guard, a + i * C.elem, C.elem, x->id, base + i,
			     x->scratch);
	atomic_store(&x->rec->hi, base + n);
	atomic_store(&x->rec->call_n, (uint32_t)n);
	atomic_store(&x->rec->state, P_GUARD);
	h_die_of_segv_plainly();
	for (;;) {
		ssize_t k;
		void *first;
		size_t stride;

		switch (C.mode) {
		case M_TRY:
			if (shmring_try_push(x->r, a) && errno != EAGAIN)
				die("try_push: %s", strerror(errno));
			break;
		case M_BURST:
			/* Room for fewer than j + 1: those go in whole. */
			k = shmring_push_burst(x->r, a, n);
			if (k < 0)
				die("push_burst: %s", strerror(errno));
			if (k > 0) {
				pushed(x, base, (size_t)k);
				base += (uint64_t)k, a += (size_t)k * C.elem;
				n -= (size_t)k, j -= (size_t)k;
			}
			break;
		case M_BLOCK:
			shmring_push(x->r, a);
			break;
		case M_TIMED:
			shmring_timed_push(x->r, a, 100000000);
			break;
		default:
			k = shmring_reserve(x->r, n, &first, &stride);
			if (k < 0)
				die("reserve: %s", strerror(errno));
			if (k == 0) {
				shmring_wait(x->r, 100000000);
				break;
			}
			/* We are the copier: fill some, then fault on one. */
			j = (size_t)h_below(&x->g, (uint64_t)k);
			for (size_t i = 0; i < j; i++)
				msg_fill((unsigned char *)first + i * stride, C.elem,
					 x->id, base + i);
			memcpy((unsigned char *)first + j * stride,
			       h_guard_array(&x->guard, C.elem, 0), C.elem);
			die("copying from a guarded buffer did not fault");
		}
	}
}

static int producer_main(void *arg)
{
	struct pctx x = { .id = (uint32_t)(uintptr_t)arg };

	x.rec = &S->prod[x.id];
	x.g = h_rng_seed(C.seed, 0x100000 + x.id);
	atomic_store(&x.rec->pid, (int32_t)getpid());
	x.buf = malloc(MAX_BATCH * C.elem);
	x.scratch = malloc(C.elem);
	x.guard = h_guard_new(MAX_BATCH * C.elem, MAX_BATCH * C.elem);
	if (!x.buf || !x.scratch)
		die("out of memory");
	h_pick_barrier(&x.g);
	x.r = open_role(SHMRING_PRODUCER);
	atomic_store(&x.rec->opened, 1);
	while (!atomic_load(&S->stop_prod)) {
		uint64_t base = atomic_load(&x.rec->progress);
		size_t n = batch(&x.g), m;

		if (base + n > MAX_SEQ || !chunks_for(&x, base + n))
			break; /* a graceful exit; the supervisor starts another */
		if (atomic_load(&x.rec->guard_req))
			guard_push(&x);
		for (size_t i = 0; i < n; i++)
			msg_fill(x.buf + i * C.elem, C.elem, x.id, base + i);
		atomic_store(&x.rec->hi, base + n);
		atomic_store(&x.rec->call_n, (uint32_t)n);
		atomic_store(&x.rec->state, P_CALL);
		m = push_op(&x, x.buf, n, base);
		pushed(&x, base, m);
		atomic_store(&x.rec->state, P_IDLE);
		wander(&x.g);
	}
	shmring_close(x.r);
	return 0;
}

/* ---- consumers ---------------------------------------------------------------------- */

struct cctx {
	struct shmring *r;
	uint32_t id;
	struct crec *rec;
	struct h_rng g;
	unsigned char *buf;
	struct h_guard guard;
	int64_t *last; /* MPMC: this consumer's last seq per producer */
	bool pill;
};

static void note_pos(struct cctx *c)
{
	if (C.policy != SHMRING_MPMC)
		atomic_store(&c->rec->pos, shmring_position(c->r));
}

/* Records one received element (in BUF, or in place in the ring). */
static void consume(struct cctx *c, const unsigned char *m)
{
	uint32_t p, w, nw;
	uint64_t s, hi;
	_Atomic uint32_t *wp;

	if (msg_check(m, C.elem, &p, &s)) {
		uint64_t head;

		memcpy(&head, m, 8);
		h_report(&S->log,
			 "consumer %u: torn or garbage element (first word %#" PRIx64 ")",
			 c->id, head);
		return;
	}
	if (p == H_ID_PILL) {
		c->pill = true;
		atomic_fetch_add(&S->pills, 1);
		return;
	}
	if (p == H_ID_POISON) {
		h_report(&S->log,
			 "consumer %u: a slot given back by commit was delivered "
			 "(seq %" PRIu64 ")",
			 c->id, s);
		return;
	}
	if (p == 0 || p >= atomic_load(&S->np) || p >= MAX_INC) {
		h_report(&S->log,
			 "consumer %u: element of unknown producer %u (seq %" PRIu64 ")",
			 c->id, p, s);
		return;
	}
	hi = atomic_load(&S->prod[p].hi);
	wp = s < hi ? word_at(p, s) : NULL;
	if (!wp) {
		h_report(&S->log,
			 "consumer %u: producer %u seq %" PRIu64 " was never pushed "
			 "(it only got to %" PRIu64 ")",
			 c->id, p, s, hi);
		return;
	}
	w = atomic_load(wp);
	do
		nw = W_COUNT(w) ? (W_COUNT(w) == 0x7f ? w : w + 1) :
				  (c->id << 8 | (w & W_GB) | 1);
	while (!atomic_compare_exchange_weak(wp, &w, nw));
	if (W_COUNT(w)) {
		exc_add(X_DUP, c->id, msg_id(p, s), 0);
		atomic_fetch_add(&S->dups_seen, 1);
	}
	if (C.policy == SHMRING_MPMC) {
		if ((int64_t)s <= c->last[p])
			exc_add(X_ORDER, c->id, msg_id(p, s), c->last[p]);
		else
			c->last[p] = (int64_t)s;
	} else if ((int64_t)s <= atomic_load(&S->last[p])) {
		exc_add(X_ORDER, c->id, msg_id(p, s), atomic_load(&S->last[p]));
	} else {
		atomic_store(&S->last[p], (int64_t)s);
	}
	atomic_fetch_add(&c->rec->received, 1);
	atomic_fetch_add(&S->received, 1);
	atomic_fetch_add(&S->events, 1);
}

/* MPMC: ID goes back to the ring unreleased (a partial release): it may
 * come to another consumer after later ones. */
static void given_back(struct cctx *c, uint64_t id)
{
	uint32_t p = id_prod(id);
	uint64_t s = id_seq(id);
	_Atomic uint32_t *wp;

	if (p == 0 || p >= atomic_load(&S->np) || s >= atomic_load(&S->prod[p].hi))
		return; /* consume() reports it when it comes */
	wp = word_at(p, s);
	if (wp)
		atomic_fetch_or(wp, W_GB);
	(void)c;
}

static void copy_pop(struct cctx *c)
{
	size_t n = batch(&c->g), m;

	note_pos(c);
	atomic_store(&c->rec->call_n, (uint32_t)n);
	atomic_store(&c->rec->state, C_CALL);
	m = copy_op(&h_pop, c->r, &c->g, c->buf, n, NULL);
	for (size_t i = 0; i < m; i++)
		consume(c, c->buf + i * C.elem);
	note_pos(c);
	atomic_store(&c->rec->state, C_IDLE);
}

static void zc_pop(struct cctx *c)
{
	size_t n = batch(&c->g), stride, k, nheld = 0;
	uint64_t ids[MAX_BATCH];
	long pill_at = -1;
	unsigned char *first;
	ssize_t m;

	note_pos(c);
	atomic_store(&c->rec->call_n, (uint32_t)n);
	atomic_store(&c->rec->state, C_PEEK);
	for (;;) {
		uint64_t t0 = h_now(), to;
		void *f;

		m = shmring_peek(c->r, n, &f, &stride);
		h_timed_check(&S->log, t0, 0, "peek");
		if (m < 0)
			die("peek: %s", strerror(errno));
		if (m > 0) {
			first = f;
			break;
		}
		to = pick_timeout(&c->g);
		t0 = h_now();
		if (shmring_wait(c->r, to) && errno != ETIMEDOUT)
			die("consumer wait: %s", strerror(errno));
		h_timed_check(&S->log, t0, to, "shmring_wait (consumer)");
	}
	for (ssize_t i = 0; i < m; i++) {
		uint32_t p;
		uint64_t s;

		ids[i] = UINT64_MAX;
		if (msg_check(first + (size_t)i * stride, C.elem, &p, &s))
			continue; /* consume() reports it */
		ids[i] = msg_id(p, s);
		if (p == H_ID_PILL && pill_at < 0)
			pill_at = i;
	}
	k = (size_t)m;
	if (pill_at >= 0)
		k = (size_t)pill_at + 1; /* one pill each */
	else if (h_one_in(&c->g, 8))
		k = (size_t)h_below(&c->g, (uint64_t)m + 1);
	/* MPMC: what we will give back is marked first (while we are still
	 * in the peek state: if we die before, the kill pays for it coming
	 * back out of order). */
	if (C.policy == SHMRING_MPMC)
		for (size_t i = k; i < (size_t)m; i++)
			if (ids[i] != UINT64_MAX && id_prod(ids[i]) < H_ID_MAX)
				given_back(c, ids[i]);
	/* What we hold goes on record before we count it as received: if we
	 * die before the release, these may come again. */
	for (size_t i = 0; i < k; i++)
		if (ids[i] != UINT64_MAX && id_prod(ids[i]) < H_ID_MAX)
			atomic_store(&c->rec->held[nheld++], ids[i]);
	atomic_store(&c->rec->nheld, (uint32_t)nheld);
	atomic_store(&c->rec->call_n, (uint32_t)k); /* what the release frees */
	atomic_store(&c->rec->state, C_HELD);
	for (size_t i = 0; i < k; i++)
		consume(c, first + i * stride);
	if (shmring_release(c->r, k))
		die("release %zu of %zd: %s", k, m, strerror(errno));
	note_pos(c);
	atomic_store(&c->rec->state, C_IDLE);
}

/* A planned death mid-copy, into a buffer whose end is PROT_NONE. */
static void guard_pop(struct cctx *c)
{
	size_t n = C.mode == M_BURST || C.mode == M_ZC ?
			   1 + (size_t)h_below(&c->g, MAX_BATCH) :
			   1; /* what it may hold when it dies */
	size_t j = C.mode == M_BURST ? (size_t)h_below(&c->g, n) : 0;
	unsigned char *a = h_guard_array(&c->guard, C.elem, j);

	note_pos(c);
	atomic_store(&c->rec->call_n, (uint32_t)n);
	atomic_store(&c->rec->state, C_GUARD);
	h_die_of_segv_plainly();
	for (;;) {
		ssize_t k;
		void *first;
		size_t stride;

		switch (C.mode) {
		case M_TRY:
			if (shmring_try_pop(c->r, a) && errno != EAGAIN)
				die("try_pop: %s", strerror(errno));
			break;
		case M_BURST:
			k = shmring_pop_burst(c->r, a, n);
			if (k < 0)
				die("pop_burst: %s", strerror(errno));
			/* Fewer than j + 1 arrived: they are whole, and ours. */
			for (ssize_t i = 0; i < k; i++)
				consume(c, a + (size_t)i * C.elem);
			if (k > 0) {
				note_pos(c);
				a += (size_t)k * C.elem, n -= (size_t)k, j -= (size_t)k;
			}
			break;
		case M_BLOCK:
			shmring_pop(c->r, a);
			break;
		case M_TIMED:
			shmring_timed_pop(c->r, a, 100000000);
			break;
		default:
			k = shmring_peek(c->r, n, &first, &stride);
			if (k < 0)
				die("peek: %s", strerror(errno));
			if (k == 0) {
				shmring_wait(c->r, 100000000);
				break;
			}
			memcpy(h_guard_array(&c->guard, C.elem, 0), first, C.elem);
			die("copying into a guarded buffer did not fault");
		}
	}
}

static int consumer_main(void *arg)
{
	struct cctx c = { .id = (uint32_t)(uintptr_t)arg };

	c.rec = &S->cons[c.id];
	c.g = h_rng_seed(C.seed, 0x200000 + c.id);
	atomic_store(&c.rec->pid, (int32_t)getpid());
	c.buf = malloc(MAX_BATCH * C.elem);
	c.last = malloc(MAX_INC * sizeof(*c.last));
	c.guard = h_guard_new(MAX_BATCH * C.elem, MAX_BATCH * C.elem);
	if (!c.buf || !c.last)
		die("out of memory");
	for (size_t i = 0; i < MAX_INC; i++)
		c.last[i] = -1;
	h_pick_barrier(&c.g);
	c.r = open_role(SHMRING_CONSUMER);
	if (C.policy != SHMRING_MPMC) {
		atomic_store(&c.rec->start_pos, shmring_position(c.r));
		atomic_store(&c.rec->pos, atomic_load(&c.rec->start_pos));
		atomic_store(&c.rec->start_valid, 1);
	}
	atomic_store(&c.rec->opened, 1);
	while (!c.pill) {
		if (atomic_load(&c.rec->guard_req))
			guard_pop(&c);
		if (C.mode == M_ZC)
			zc_pop(&c);
		else
			copy_pop(&c);
		wander(&c.g);
	}
	shmring_close(c.r);
	return 0;
}

/* ---- the supervisor ------------------------------------------------------------------ */

struct kid {
	pid_t pid;
	bool prod;
	uint32_t id;
	uint64_t resume_at; /* SIGSTOPped until then (0: running) */
};

struct delayed {
	bool prod;
	uint64_t at;
};

struct run {
	struct kid kids[MAX_KIDS];
	int nkids;
	struct delayed later[MAX_KIDS];
	int nlater;
	bool restart; /* restart the dead (off while draining) */
	bool full;    /* out of incarnations or arena */
	/* figures */
	uint64_t kills, restarts, midcopy, exits, guard_asked, repairs, stops, race_kills;
	uint64_t checked, dups, dup_kills, dup_max, lost, lost_kills, lost_max, abandoned;
	uint64_t inflight_delivered, reorders, givebacks, late;
	uint64_t lat[MAX_LAT];
	size_t nlat;
	uint64_t violations;
	uint32_t shown;
	uint64_t t0;
	bool verbose;
};

static struct h_rng G; /* the supervisor's */

static void violation(struct run *R, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void violation(struct run *R, const char *fmt, ...)
{
	va_list ap;

	(void)R;
	va_start(ap, fmt);
	h_vreport(&S->log, fmt, ap);
	va_end(ap);
}

static bool spawn(struct run *R, bool prod)
{
	_Atomic uint32_t *n = prod ? &S->np : &S->nc;
	uint32_t id = atomic_load(n);
	struct kid *k;

	if (id >= MAX_INC - 2 || R->nkids >= MAX_KIDS) {
		R->full = true;
		return false;
	}
	atomic_store(n, id + 1);
	if (prod)
		S->prod[id].start_ns = h_now();
	else
		S->cons[id].start_ns = h_now();
	k = &R->kids[R->nkids++];
	k->prod = prod;
	k->id = id;
	k->resume_at = 0;
	k->pid = h_spawn(prod ? producer_main : consumer_main, (void *)(uintptr_t)id);
	return true;
}

static uint64_t ring_abandoned(void)
{
	SHMRING_INFO(info);

	return shmring_stat(C.name, &info) ? UINT64_MAX : info.abandoned;
}

/* Books a reaped worker: how it died, and its state at the time. */
static void reaped(struct run *R, int i, int st, uint64_t kill_ns)
{
	struct kid k = R->kids[i];
	char how[64];
	int death;

	R->kids[i] = R->kids[--R->nkids];
	h_status_str(st, how, sizeof(how));
	if (k.prod) {
		struct prec *p = &S->prod[k.id];

		p->d_state = atomic_load(&p->state);
		p->d_n = atomic_load(&p->call_n);
		p->d_progress = atomic_load(&p->progress);
		p->d_hi = atomic_load(&p->hi);
		p->kill_ns = kill_ns;
	} else {
		struct crec *c = &S->cons[k.id];

		c->d_state = atomic_load(&c->state);
		c->d_n = atomic_load(&c->call_n);
		c->d_pos = atomic_load(&c->pos);
		c->d_nheld = atomic_load(&c->nheld);
		for (uint32_t j = 0; j < c->d_nheld && j < MAX_BATCH; j++)
			c->d_held[j] = atomic_load(&c->held[j]);
		c->kill_ns = kill_ns ? kill_ns : c->guard_ns;
		c->reap_ns = h_now();
	}
	uint32_t state = k.prod ? S->prod[k.id].d_state : S->cons[k.id].d_state;
	bool guard = k.prod ? state == P_GUARD : state == C_GUARD;

	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		death = D_EXIT;
		R->exits++;
	} else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL && kill_ns) {
		death = D_KILL;
	} else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV && guard) {
		death = D_SEGV;
		R->midcopy++;
	} else {
		death = D_BAD;
		violation(R, "%s %u (pid %d) ended with %s in state %s%s",
			  k.prod ? "producer" : "consumer", k.id, (int)k.pid, how,
			  k.prod ? pstate_name[state % 3] : cstate_name[state % 5],
			  WIFSIGNALED(st) ? " (a crash we did not cause)" : "");
		/* The books of a worker that died unplanned cannot be trusted
		 * to bound anything: count it as killed in its state. */
	}
	if (k.prod)
		S->prod[k.id].death = death == D_BAD ? D_KILL : death;
	else
		S->cons[k.id].death = death == D_BAD ? D_KILL : death;
	if (!R->restart || (k.prod && atomic_load(&S->arena_full)))
		return;
	if (kill_ns && R->nlater < MAX_KIDS && h_one_in(&G, 5)) {
		/* Leave the side missing for a while. */
		R->later[R->nlater++] =
			(struct delayed){ k.prod, h_now() + h_below(&G, 30000000) };
		return;
	}
	if (spawn(R, k.prod))
		R->restarts++;
}

static void reap_exited(struct run *R)
{
	for (int i = 0; i < R->nkids; i++) {
		int st;
		pid_t p = waitpid(R->kids[i].pid, &st, WNOHANG);

		if (p == R->kids[i].pid) {
			reaped(R, i, st, 0);
			i = -1; /* the array moved */
		}
	}
}

static void kill_one(struct run *R, int i)
{
	pid_t pid = R->kids[i].pid;
	uint64_t t = h_now();
	int st;

	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	R->kills++;
	reaped(R, i, st, t);
}

static void kill_all(struct run *R)
{
	while (R->nkids)
		kill_one(R, 0);
	R->nlater = 0;
}

static void start_delayed(struct run *R)
{
	uint64_t now = h_now();

	for (int i = 0; i < R->nlater; i++) {
		if (R->later[i].at > now)
			continue;
		if (spawn(R, R->later[i].prod))
			R->restarts++;
		R->later[i--] = R->later[--R->nlater];
	}
}

/* SIGCONT to the stopped whose time came (ALL: every one). */
static void resume_stopped(struct run *R, bool all)
{
	uint64_t now = h_now();

	for (int i = 0; i < R->nkids; i++)
		if (R->kids[i].resume_at && (all || R->kids[i].resume_at <= now)) {
			kill(R->kids[i].pid, SIGCONT);
			R->kids[i].resume_at = 0;
		}
}

/* Random delays between kills, many of them very short. */
static uint64_t kill_delay(void)
{
	uint64_t r = h_below(&G, 100);

	if (r < 25)
		return h_below(&G, 200000);
	if (r < 60)
		return 200000 + h_below(&G, 4800000);
	if (r < 90)
		return 5000000 + h_below(&G, 45000000);
	return 50000000 + h_below(&G, 250000000);
}

/* The header and every slot's sequence word, read from the segment. */
static void dump_slots(void)
{
	static const char *const st[] = { "FREE", "CLAIMED", "READY", "TAKING" };
	char path[160];
	struct stat sb;
	int fd;
	const unsigned char *m;
	const struct shmring__hdr *h;

	snprintf(path, sizeof(path), "/dev/shm/%s", C.name);
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &sb))
		return;
	m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return;
	h = (const void *)m;
	printf("   header: head %#" PRIx64 " tail %#" PRIx64 " shift %u slot %" PRIu64
	       " not_empty.seq %u not_full.seq %u abandoned %" PRIu64 "\n",
	       (uint64_t)h->head, (uint64_t)h->tail, h->shift, h->slot_size,
	       (unsigned)h->not_empty.seq, (unsigned)h->not_full.seq,
	       (uint64_t)h->abandoned);
	for (unsigned int i = 0; i < SHMRING_REG_SLOTS; i++) {
		uint64_t pw = h->producers[i], cw = h->consumers[i];

		if (pw)
			printf("   registry: producer pid %u token %u\n", (unsigned)pw,
			       (unsigned)(pw >> 32));
		if (cw)
			printf("   registry: consumer pid %u token %u\n", (unsigned)cw,
			       (unsigned)(cw >> 32));
	}
	for (uint64_t i = 0; i < h->capacity && i < 64; i++) {
		uint64_t w;

		memcpy(&w, m + h->data_offset + i * h->slot_size + h->seq_offset, 8);
		if (h->policy == SHMRING_SPSC)
			printf("   slot %2" PRIu64 ": word %#" PRIx64 "\n", i, w);
		else
			printf("   slot %2" PRIu64 ": lap %" PRIu64 " %s token %u\n", i,
			       w >> MP_LAP_SHIFT, st[w & 3], (unsigned)mp_token(w));
	}
	munmap((void *)m, (size_t)sb.st_size);
}

static void dump_state(struct run *R)
{
	SHMRING_INFO(info);

	if (!shmring_stat(C.name, &info))
		printf("   ring: pending %zu, pushed %" PRIu64 ", popped %" PRIu64
		       ", waiting p/c %u/%u, abandoned %" PRIu64 "\n",
		       info.pending, info.pushed, info.popped, info.producers_waiting,
		       info.consumers_waiting, info.abandoned);
	for (int i = 0; i < R->nkids; i++) {
		struct kid *k = &R->kids[i];

		if (k->prod)
			printf("   producer %u pid %d: %s n=%u progress %" PRIu64
			       " hi %" PRIu64 "\n",
			       k->id, (int)k->pid,
			       pstate_name[atomic_load(&S->prod[k->id].state) % 3],
			       atomic_load(&S->prod[k->id].call_n),
			       atomic_load(&S->prod[k->id].progress),
			       atomic_load(&S->prod[k->id].hi));
		else
			printf("   consumer %u pid %d: %s n=%u received %" PRIu64 "\n",
			       k->id, (int)k->pid,
			       cstate_name[atomic_load(&S->cons[k->id].state) % 5],
			       atomic_load(&S->cons[k->id].call_n),
			       atomic_load(&S->cons[k->id].received));
	}
	dump_slots();
	fflush(stdout);
}

struct watch {
	uint64_t events, at;
};

/* False (and a violation) when nothing moved for STALL_NS. */
static bool watchdog(struct run *R, struct watch *w, uint64_t stall_ns, const char *phase)
{
	uint64_t ev = atomic_load(&S->events), now = h_now();

	if (ev != w->events || !w->at) {
		w->events = ev;
		w->at = now;
		return true;
	}
	if (now - w->at < stall_ns)
		return true;
	violation(R, "no progress for %.1f s while %s (a hang)",
		  (double)(now - w->at) / 1e9, phase);
	dump_state(R);
	return false;
}

struct opts {
	double seconds;
	uint64_t kills;
	uint64_t seed;
	unsigned int policies, modes, sizes, rounds;
	double stall;
	uint64_t seed_base;
	size_t cap;  /* 0: chosen by the seed */
	int victims; /* 0: any worker, 1: producers only, 2: consumers only */
	bool verbose;
};

/* A worker to kill (or to make die mid-copy), of the roles --victims
 * allows: its index, or -1. */
static int pick_victim(struct run *R, const struct opts *o)
{
	int idx[MAX_KIDS], n = 0;

	for (int i = 0; i < R->nkids; i++)
		if (!o->victims || (o->victims == 1) == R->kids[i].prod)
			idx[n++] = i;
	return n ? idx[h_below(&G, (uint64_t)n)] : -1;
}

/* The random phase: kills, planned deaths mid-copy, restarts. */
static bool run_phase(struct run *R, const struct opts *o)
{
	uint64_t end = h_now() + (uint64_t)(o->seconds * 1e9),
		 next = h_now() + kill_delay();
	uint64_t stall = (uint64_t)(o->stall * 1e9);
	struct watch w = { 0, 0 };
	/* a planned death: who, since when, and the repair count before it */
	int gvictim_id = -1;
	bool gprod = false, gwait_repair = false;
	uint64_t gsince = 0, gdeath = 0, gab = 0;

	while ((!o->kills || R->kills < o->kills) && h_now() < end && !R->full &&
	       !atomic_load(&S->arena_full)) {
		uint64_t now;

		reap_exited(R);
		start_delayed(R);
		resume_stopped(R, false);
		if (!watchdog(R, &w, stall, "workers run"))
			return false;
		now = h_now();
		if (gvictim_id >= 0 && !gwait_repair) {
			bool alive = false;

			for (int i = 0; i < R->nkids; i++)
				alive |= R->kids[i].prod == gprod &&
					 R->kids[i].id == (uint32_t)gvictim_id;
			if (!alive) {
				int d = gprod ? S->prod[gvictim_id].death :
						S->cons[gvictim_id].death;
				bool claims = C.policy != SHMRING_SPSC &&
					      (gprod || C.policy == SHMRING_MPMC);

				gdeath = h_now();
				if (d == D_SEGV && claims)
					gwait_repair = true;
				else
					gvictim_id = -1;
			} else if (now - gsince > 10000000000ull) {
				violation(
					R,
					"%s %d asked to die mid-copy 10 s ago is still alive",
					gprod ? "producer" : "consumer", gvictim_id);
				dump_state(R);
				return false;
			}
		}
		if (gwait_repair) {
			uint64_t ab = ring_abandoned();

			if (ab != UINT64_MAX && ab > gab) {
				if (R->nlat < MAX_LAT)
					R->lat[R->nlat++] = h_now() - gdeath;
				gwait_repair = false;
				gvictim_id = -1;
			} else if (h_now() - gdeath > 3000000000ull) {
				violation(
					R,
					"no repair 3 s after %s %d died mid-copy holding a claim",
					gprod ? "producer" : "consumer", gvictim_id);
				dump_state(R);
				return false;
			}
			h_sleep_ns(100000);
			continue;
		}
		if (gvictim_id < 0 && now >= next && o->kills) {
			next = now + kill_delay();
			int v = pick_victim(R, o);

			if (v >= 0 && h_one_in(&G, 8)) {
				struct kid *k = &R->kids[v];
				_Atomic uint32_t *opened =
					k->prod ? &S->prod[k->id].opened :
						  &S->cons[k->id].opened;

				if (atomic_load(opened)) {
					gvictim_id = (int)k->id;
					gprod = k->prod;
					gsince = now;
					gab = ring_abandoned();
					R->guard_asked++;
					if (!k->prod)
						S->cons[k->id].guard_ns = now;
					atomic_store(k->prod ? &S->prod[k->id].guard_req :
							       &S->cons[k->id].guard_req,
						     1);
				}
			} else if (R->nkids && h_one_in(&G, 7)) {
				/* Alive but not running (pre-empted, stopped, swapped
				 * out): its claims must be waited for, never repaired. */
				struct kid *k = &R->kids[h_below(&G, (uint64_t)R->nkids)];
				uint64_t r = h_below(&G, 10);

				if (!k->resume_at && kill(k->pid, SIGSTOP) == 0) {
					k->resume_at = now + 1 +
						       h_below(&G, r < 3 ? 1000000 :
								   r < 8 ? 50000000 :
									   300000000);
					R->stops++;
				}
			} else if (v >= 0) {
				int n = h_one_in(&G, 6) ? 1 + (int)h_below(&G, 3) : 1;

				for (int i = 0; i < n && (v = pick_victim(R, o)) >= 0;
				     i++)
					kill_one(R, v);
			}
		}
		now = h_now();
		if (gvictim_id < 0 && next > now)
			h_sleep_ns(next - now < 1000000 ? next - now : 1000000);
		else
			h_sleep_ns(200000);
	}
	return true;
}

static size_t kids_of(struct run *R, bool prod)
{
	size_t n = 0;

	for (int i = 0; i < R->nkids; i++)
		n += R->kids[i].prod == prod;
	return n;
}

/* Stops the producers, lets the consumers empty the ring, ends them with
 * pills. Returns the producer handle it used (NULL on failure). */
static struct shmring *drain(struct run *R, const struct opts *o)
{
	uint64_t stall = (uint64_t)(o->stall * 1e9);
	struct watch w = { 0, 0 };
	struct shmring *p;
	unsigned char *pill = calloc(1, C.elem);
	uint64_t pills = 0, quiet_since = 0;

	R->restart = false;
	R->nlater = 0;
	resume_stopped(R, true);
	/* The consumers keep running: a dead one is replaced. */
	atomic_store(&S->stop_prod, 1);
	while (kids_of(R, true)) {
		reap_exited(R);
		while (kids_of(R, false) < C.ncons)
			if (!spawn(R, false))
				break;
		if (!watchdog(R, &w, stall, "producers finish"))
			goto fail;
		h_sleep_ns(200000);
	}
	p = shmring_producer(C.policy, C.name, C.elem, C.cap, NULL);
	if (!p) {
		violation(R, "supervisor: producer open after the run: %s",
			  strerror(errno));
		goto fail;
	}
	/* Empty means nothing pending, dead claims repaired included
	 * (shmring_pending walks past hints that lag). */
	for (uint64_t quiet = 0; quiet < 3;) {
		reap_exited(R);
		while (kids_of(R, false) < C.ncons)
			if (!spawn(R, false))
				break;
		quiet = shmring_pending(p) == 0 ? quiet + 1 : 0;
		if (quiet == 0 && !watchdog(R, &w, stall, "consumers drain the ring"))
			goto fail_p;
		h_sleep_ns(5000000);
	}
	for (w.at = 0; kids_of(R, false);) {
		reap_exited(R);
		if (!watchdog(R, &w, stall, "consumers take their pills"))
			goto fail_p;
		/* One pill per consumer left, and more while they sleep on
		 * an empty ring (a burst may take two). */
		if (pills < C.ncons || (shmring_pending(p) == 0 && quiet_since &&
					h_now() - quiet_since > 50000000)) {
			msg_fill(pill, C.elem, H_ID_PILL, pills);
			if (shmring_timed_push(p, pill, 1000000000) == 0) {
				pills++;
				atomic_fetch_add(&S->events, 1);
			}
			quiet_since = h_now();
		}
		h_sleep_ns(1000000);
	}
	free(pill);
	return p;
fail_p:
	shmring_close(p);
fail:
	free(pill);
	return NULL;
}

/* The ring after everything: leftovers (pills, and late elements) out,
 * then exactly capacity in, and out again in order. */
static void final_check(struct run *R, struct shmring *p)
{
	uint32_t id = atomic_load(&S->nc);
	struct cctx c = { .id = id, .rec = &S->cons[id] };
	unsigned char *m = malloc(C.elem);
	uint64_t before = atomic_load(&S->received);

	atomic_store(&S->nc, id + 1);
	c.last = malloc(MAX_INC * sizeof(*c.last));
	for (size_t i = 0; i < MAX_INC; i++)
		c.last[i] = -1;
	c.r = shmring_consumer(C.policy, C.name, C.elem, C.cap, NULL);
	if (!c.r) {
		violation(R, "supervisor: consumer open after the run: %s",
			  strerror(errno));
		goto out;
	}
	if (C.policy != SHMRING_MPMC) {
		atomic_store(&c.rec->start_pos, shmring_position(c.r));
		atomic_store(&c.rec->pos, atomic_load(&c.rec->start_pos));
		atomic_store(&c.rec->start_valid, 1);
	}
	while (shmring_timed_pop(c.r, m, 50000000) == 0)
		consume(&c, m);
	R->late = atomic_load(&S->received) - before;
	for (size_t i = 0; i < C.cap; i++) {
		msg_fill(m, C.elem, H_ID_FINAL, i);
		if (shmring_try_push(p, m)) {
			violation(R,
				  "after the run the ring took %zu of %zu elements: %s",
				  i, C.cap, strerror(errno));
			goto out;
		}
	}
	if (shmring_try_push(p, m) == 0 || errno != EAGAIN)
		violation(R, "after the run the ring took more than its capacity %zu",
			  C.cap);
	for (size_t i = 0; i < C.cap; i++) {
		uint32_t pr;
		uint64_t s;

		if (shmring_try_pop(c.r, m) || msg_check(m, C.elem, &pr, &s) ||
		    pr != H_ID_FINAL || s != i) {
			violation(R,
				  "after the run, element %zu of a full ring is wrong or "
				  "missing",
				  i);
			goto out;
		}
	}
	if (shmring_try_pop(c.r, m) == 0 || errno != EAGAIN)
		violation(R, "after the run the ring gave more than it took");
	if (shmring_pending(p) != 0 || !shmring_empty(c.r))
		violation(R, "after the run the ring says %zu pending when empty",
			  shmring_pending(p));
out:
	shmring_close(c.r);
	free(c.last);
	free(m);
}

/* ---- creation under kills -------------------------------------------------------- */

static char race_name[112];

/* Opens a role of the ring being created (SPSC/MPSC exclusive roles wait
 * for the other racer), then closes it. */
static int opener_main(void *arg)
{
	enum shmring_role role = (enum shmring_role)(uintptr_t)arg;
	uint64_t t0 = h_now();
	struct shmring *r;

	for (;;) {
		r = role == SHMRING_PRODUCER ?
			    shmring_producer(C.policy, race_name, C.elem, C.cap, NULL) :
			    shmring_consumer(C.policy, race_name, C.elem, C.cap, NULL);
		if (r || errno != EBUSY || h_now() - t0 > 5000000000ull)
			break;
		h_sleep_ns(200000);
	}
	if (!r)
		die("open while racing to create the ring (and being killed): %s",
		    strerror(errno));
	shmring_close(r);
	return 0;
}

/* Rounds of: the ring removed, every worker racing to create it at once,
 * one of them killed at a random moment (often mid-initialisation). The
 * others must open it, and the ring must work afterwards. */
static void create_race(struct run *R, unsigned int rounds)
{
	unsigned int n = C.nprod + C.ncons;
	unsigned char *m = malloc(C.elem);

	snprintf(race_name, sizeof(race_name), "%s-c", C.name);
	for (unsigned int round = 0; round < rounds; round++) {
		pid_t pids[MAX_KIDS];
		unsigned int victim = (unsigned int)h_below(&G, n);

		shmring_unlink(race_name);
		for (unsigned int i = 0; i < n; i++)
			pids[i] = h_spawn(opener_main,
					  (void *)(uintptr_t)(i < C.nprod ?
								      SHMRING_PRODUCER :
								      SHMRING_CONSUMER));
		/* Opening takes about a millisecond: aim inside it. */
		h_sleep_ns(h_below(&G, h_one_in(&G, 2) ? 300000 : 1500000));
		kill(pids[victim], SIGKILL);
		for (unsigned int i = 0; i < n; i++) {
			int st;
			char how[64];

			while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
				;
			if (i == victim && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) {
				R->race_kills++; /* it died before it was done */
				continue;
			}
			if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
				violation(
					R,
					"creation race, round %u: opener %u ended with %s",
					round, i, h_status_str(st, how, sizeof(how)));
		}
	}
	{
		struct shmring *p =
			shmring_producer(C.policy, race_name, C.elem, C.cap, NULL);
		struct shmring *c =
			shmring_consumer(C.policy, race_name, C.elem, C.cap, NULL);

		if (!p || !c) {
			violation(R,
				  "after the creation races the ring does not open: %s",
				  strerror(errno));
		} else {
			for (size_t i = 0; i < C.cap; i++) {
				msg_fill(m, C.elem, H_ID_FINAL, i);
				if (shmring_try_push(p, m))
					violation(
						R,
						"after the creation races the ring took %zu of %zu",
						i, C.cap);
			}
			for (size_t i = 0; i < C.cap; i++) {
				uint32_t pr;
				uint64_t sq;

				if (shmring_try_pop(c, m) ||
				    msg_check(m, C.elem, &pr, &sq) || pr != H_ID_FINAL ||
				    sq != i) {
					violation(
						R,
						"after the creation races the ring lost element %zu",
						i);
					break;
				}
			}
		}
		shmring_close(p);
		shmring_close(c);
	}
	shmring_unlink(race_name);
	race_name[0] = 0;
	free(m);
}

/* ---- the accounts ------------------------------------------------------------------- */

struct held {
	uint64_t id;
	uint32_t cons;
	bool used;
};

static int held_cmp(const void *a, const void *b)
{
	const struct held *x = a, *y = b;

	return x->id < y->id ? -1 :
	       x->id > y->id ? 1 :
			       (x->cons > y->cons) - (x->cons < y->cons);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The first entry with ID in the sorted array, or N. */
static size_t held_find(const struct held *h, size_t n, uint64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (h[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A consumer killed in a state that lets it lose or return elements. */
struct payer {
	uint32_t cons;
	uint32_t state;
	uint64_t kill_ns, reap_ns; /* it died between these */
	int64_t left;		   /* elements it may still pay for */
	uint32_t paid_lost;
};

struct lost {
	uint32_t p;
	uint64_t s;
	uint32_t lo, hi; /* SPSC/MPSC: the consumers between which it went */
	uint64_t t;	 /* MPMC: its push started after this */
};

static int lost_cmp(const void *a, const void *b)
{
	const struct lost *x = a, *y = b;

	if (C.policy == SHMRING_MPMC)
		return (x->t < y->t) - (x->t > y->t);
	return (x->hi > y->hi) - (x->hi < y->hi);
}

static bool dead(int death)
{
	return death == D_KILL || death == D_SEGV;
}

/* A lower bound of the time the call that pushed (P, S) started. */
static uint64_t push_start_bound(uint32_t p, uint64_t s)
{
	for (uint64_t k = s / CKPT; k >= 1; k--) {
		struct ckpt *c = ckpt_at(p, k * CKPT);

		if (c && atomic_load(&c->ns) && atomic_load(&c->progress) <= s)
			return atomic_load(&c->ns);
	}
	return S->prod[p].start_ns;
}

static uint32_t order_word(uint64_t id)
{
	_Atomic uint32_t *wp = word_at(id_prod(id), id_seq(id));

	return wp ? atomic_load(wp) : 0;
}

static void account(struct run *R)
{
	uint32_t np = atomic_load(&S->np), nc = atomic_load(&S->nc);
	struct held *held = NULL;
	struct payer *pay = NULL;
	struct lost *lost = NULL;
	size_t nheld = 0, npay = 0, nlost = 0, capl = 0;
	uint32_t nexc = atomic_load(&S->nexc);

	if (nexc > MAX_EXC)
		nexc = MAX_EXC;
	/* Held lists of consumers that died holding them, and the payers. */
	held = calloc((size_t)nc * MAX_BATCH + 1, sizeof(*held));
	pay = calloc((size_t)nc + 1, sizeof(*pay));
	for (uint32_t k = 1; k < nc; k++) {
		struct crec *c = &S->cons[k];
		uint32_t succ;
		int64_t delta = 0;

		if (!dead(c->death))
			goto positions;
		if (c->d_state == C_HELD)
			for (uint32_t j = 0; j < c->d_nheld && j < MAX_BATCH; j++)
				held[nheld++] = (struct held){ c->d_held[j], k, false };
		if (c->d_state == C_CALL || c->d_state == C_PEEK || c->d_state == C_GUARD)
			pay[npay++] = (struct payer){ k,	  c->d_state, c->kill_ns,
						      c->reap_ns, c->d_n,     0 };
positions:
		/* SPSC/MPSC: where the next consumer started says how many
		 * elements this one took for good. */
		if (C.policy == SHMRING_MPMC || !atomic_load(&c->start_valid) ||
		    c->death == D_ALIVE)
			continue;
		for (succ = k + 1; succ < nc && !atomic_load(&S->cons[succ].start_valid);
		     succ++)
			;
		if (succ >= nc)
			continue;
		delta = (int64_t)(atomic_load(&S->cons[succ].start_pos) - c->d_pos);
		if (delta < 0 ||
		    (C.policy == SHMRING_SPSC &&
		     ((c->d_state == C_IDLE && delta != 0) ||
		      ((c->d_state == C_PEEK || c->d_state == C_GUARD) && delta != 0) ||
		      (c->d_state == C_HELD && delta != 0 && delta != (int64_t)c->d_n) ||
		      (c->d_state == C_CALL && delta > (int64_t)c->d_n))))
			violation(R,
				  "consumer %u died (%s, n=%u) at position %" PRIu64
				  ", its successor %u starts at %" PRIu64,
				  k, cstate_name[c->d_state % 5], c->d_n, c->d_pos, succ,
				  atomic_load(&S->cons[succ].start_pos));
		if (dead(c->death) && c->d_state == C_CALL && npay &&
		    pay[npay - 1].cons == k)
			pay[npay - 1].left = delta < (int64_t)c->d_n ? delta : c->d_n;
		if (dead(c->death) && c->d_state != C_CALL && npay &&
		    pay[npay - 1].cons == k && C.policy != SHMRING_MPMC)
			pay[npay - 1].left = 0; /* SPSC/MPSC: nothing out of order */
	}
	qsort(held, nheld, sizeof(*held), held_cmp);

	/* Every message of every producer incarnation. */
	for (uint32_t p = 1; p < np; p++) {
		struct prec *pr = &S->prod[p];
		uint64_t progress = atomic_load(&pr->progress), hi = atomic_load(&pr->hi);

		if (pr->death != D_ALIVE && pr->death != D_EXIT)
			progress = pr->d_progress;
		for (uint64_t s = 0; s < hi; s++) {
			_Atomic uint32_t *wp = word_at(p, s);
			uint32_t w = wp ? atomic_load(wp) : 0, n = W_COUNT(w);

			R->checked += n;
			if (s >= progress) {
				/* In flight when the producer died. */
				if (!n)
					R->abandoned++;
				else
					R->inflight_delivered++;
				if (n && pr->death == D_SEGV)
					violation(
						R,
						"producer %u died mid-copy in a call from seq "
						"%" PRIu64 ", yet seq %" PRIu64
						" of that call was delivered",
						p, progress, s);
			} else if (!n) {
				if (nlost == capl) {
					capl = capl ? 2 * capl : 64;
					lost = realloc(lost, capl * sizeof(*lost));
				}
				lost[nlost++] = (struct lost){ p, s, 0, UINT32_MAX, 0 };
			}
			if (n > 1) {
				/* Each extra delivery needs a held entry of a dead
				 * consumer, used once. */
				uint64_t id = msg_id(p, s);
				size_t i = held_find(held, nheld, id);
				uint32_t extra = n - 1;

				for (; i < nheld && held[i].id == id && extra; i++)
					if (!held[i].used)
						held[i].used = true, extra--;
				R->dups += n - 1;
				if (extra)
					violation(R,
						  "producer %u seq %" PRIu64
						  " delivered %u times; "
						  "%u of them no kill can explain",
						  p, s, n, extra);
			}
		}
	}
	/* Duplicates by kill. */
	{
		uint32_t *per = calloc((size_t)nc + 1, sizeof(*per));

		for (size_t i = 0; i < nheld; i++)
			per[held[i].cons] += held[i].used;
		for (uint32_t k = 0; k < nc; k++) {
			R->dup_kills += per[k] > 0;
			if (per[k] > R->dup_max)
				R->dup_max = per[k];
		}
		free(per);
	}

	/* Losses first (they pay with the kill's budget before reorders). */
	for (size_t i = 0; i < nlost; i++) {
		struct lost *l = &lost[i];
		struct prec *pr = &S->prod[l->p];
		uint64_t hi = atomic_load(&pr->hi);

		if (C.policy == SHMRING_MPMC) {
			l->t = push_start_bound(l->p, l->s);
			continue;
		}
		for (uint64_t s = l->s; s-- > 0;) {
			uint32_t w = atomic_load(word_at(l->p, s));

			if (W_COUNT(w)) {
				l->lo = W_RCV(w);
				break;
			}
		}
		for (uint64_t s = l->s + 1; s < hi; s++) {
			_Atomic uint32_t *wp = word_at(l->p, s);
			uint32_t w = wp ? atomic_load(wp) : 0;

			if (W_COUNT(w)) {
				l->hi = W_RCV(w);
				break;
			}
		}
	}
	/* Most constrained first: MPMC, the latest pushed (fewest kills came
	 * after it); SPSC/MPSC, the interval that closes first (then each
	 * takes the first consumer in it that can still pay: optimal for
	 * intervals). */
	if (nlost)
		qsort(lost, nlost, sizeof(*lost), lost_cmp);
	for (size_t i = 0; i < nlost; i++) {
		struct lost *l = &lost[i];
		struct payer *best = NULL;

		for (size_t k = 0; k < npay; k++) {
			struct payer *q = &pay[k];

			if (q->state != C_CALL || q->left <= 0)
				continue;
			if (C.policy == SHMRING_MPMC) {
				if (q->reap_ns >= l->t &&
				    (!best || q->reap_ns > best->reap_ns))
					best = q;
			} else if (q->cons >= l->lo && q->cons < l->hi &&
				   (!best || q->cons < best->cons)) {
				best = q;
			}
		}
		if (!best) {
			violation(
				R,
				"lost: producer %u seq %" PRIu64
				" (pushed: progress %" PRIu64
				") never delivered, and no consumer killed in a pop can "
				"have taken it (%s %u and %d; push started after %+.3f ms)",
				l->p, l->s, atomic_load(&S->prod[l->p].progress),
				C.policy == SHMRING_MPMC ? "-" :
							   "neighbours went to consumers",
				l->lo, l->hi == UINT32_MAX ? -1 : (int)l->hi,
				((double)l->t - (double)R->t0) / 1e6);
			for (size_t k = 0; k < npay && R->verbose; k++)
				printf("     payer: consumer %u %s n=%u killed at %+.3f ms, left %" PRId64
				       "\n",
				       pay[k].cons, cstate_name[pay[k].state % 5],
				       S->cons[pay[k].cons].d_n,
				       ((double)pay[k].kill_ns - (double)R->t0) / 1e6,
				       pay[k].left);
			continue;
		}
		best->left--;
		best->paid_lost++;
		R->lost++;
	}
	for (size_t k = 0; k < npay; k++) {
		R->lost_kills += pay[k].paid_lost > 0;
		if (pay[k].paid_lost > R->lost_max)
			R->lost_max = pay[k].paid_lost;
	}
	for (uint32_t i = 0; i < nexc; i++) {
		struct exc *e = &S->exc[i];
		size_t h;
		bool ok = false;

		if (!atomic_load(&e->ready) || e->kind != X_ORDER)
			continue;
		R->reorders++;
		h = held_find(held, nheld, e->id);
		for (; h < nheld && held[h].id == e->id; h++)
			ok |= held[h].cons < e->cons || C.policy == SHMRING_MPMC;
		if (!ok && C.policy == SHMRING_MPMC) {
			struct payer *best = NULL;

			_Atomic uint32_t *wp = word_at(id_prod(e->id), id_seq(e->id));

			ok = wp && (atomic_load(wp) & W_GB);
			R->givebacks += ok;
			for (size_t k = 0; !ok && k < npay; k++) {
				struct payer *q = &pay[k];

				if (q->left > 0 && q->kill_ns <= e->ns &&
				    q->cons != e->cons &&
				    (!best || q->kill_ns < best->kill_ns))
					best = q;
			}
			if (!ok && best) {
				best->left--;
				ok = true;
			}
		}
		if (!ok)
			violation(R,
				  "order: consumer %u got producer %u seq %" PRIu64
				  " after seq %" PRId64
				  " at %+.3f ms, and no kill or give-back "
				  "explains it (first receiver %u, %u deliveries)",
				  e->cons, id_prod(e->id), id_seq(e->id), e->prev,
				  ((double)e->ns - (double)R->t0) / 1e6,
				  W_RCV(order_word(e->id)), W_COUNT(order_word(e->id)));
	}
	free(held);
	free(pay);
	free(lost);
}

/* ---- configurations ------------------------------------------------------------------ */

static double median_ms(uint64_t *a, size_t n)
{
	if (!n)
		return 0;
	qsort(a, n, sizeof(*a), u64_cmp);
	return (double)a[n / 2] / 1e6;
}

struct totals {
	uint64_t configs, failed, kills, stops, race_kills, restarts, midcopy, repairs,
		checked, dups, dup_kills, dup_max, lost, abandoned, violations;
	uint64_t lat_max, lost_max;
	uint64_t seconds_ns;
	uint64_t lat[1 << 16]; /* every timed repair */
	size_t nlat;
};

static const size_t caps64[] = { 1, 3, 7, 16, 64 };
static const size_t caps16k[] = { 1, 3, 8 };

static bool run_config(struct cfg *cfg, const struct opts *o, struct totals *T)
{
	size_t wlen = (size_t)ARENA_CHUNKS * CHUNK * sizeof(*W);
	size_t klen = (size_t)ARENA_CHUNKS * CKPTS_PER_CHUNK * sizeof(*CK);
	struct run *R = calloc(1, sizeof(*R));
	uint64_t t0 = h_now();
	struct shmring *p;
	double lat50, latmax;
	bool ok;

	C = *cfg;
	S = h_shared(sizeof(*S));
	W = h_shared(wlen);
	CK = h_shared(klen);
	S->cfg = C;
	for (size_t i = 0; i < MAX_INC; i++)
		atomic_store(&S->last[i], -1);
	atomic_store(&S->np, 1); /* ids start at 1 */
	atomic_store(&S->nc, 1);
	G = h_rng_seed(C.seed, 1);
	shmring_unlink(C.name);
	p = shmring_producer(C.policy, C.name, C.elem, C.cap, NULL);
	if (!p) {
		printf("%s: create: %s\n", C.name, strerror(errno));
		exit(2);
	}
	shmring_close(p);
	create_race(R, o->kills ? (unsigned int)(o->kills / 10 + 2) : 0);
	R->restart = true;
	R->t0 = t0;
	R->verbose = o->verbose;
	for (unsigned int i = 0; i < C.nprod; i++)
		spawn(R, true);
	for (unsigned int i = 0; i < C.ncons; i++)
		spawn(R, false);
	ok = run_phase(R, o);
	if (ok) {
		p = drain(R, o);
		ok = p != NULL;
		if (ok) {
			final_check(R, p);
			shmring_close(p);
		}
	}
	R->restart = false;
	kill_all(R);
	if (ok)
		account(R);
	lat50 = median_ms(R->lat, R->nlat); /* sorts */
	latmax = R->nlat ? (double)R->lat[R->nlat - 1] / 1e6 : 0.0;
	R->repairs = ring_abandoned();
	if (R->repairs == UINT64_MAX)
		R->repairs = 0;
	shmring_unlink(C.name);
	R->violations = atomic_load(&S->log.count);

	printf("%-4s %-5s %5zu B cap %2zu seed %-20" PRIu64 " %6.1f s  kills %4" PRIu64
	       "  restarts %4" PRIu64 "  mid-copy %3" PRIu64 "  repairs %4" PRIu64
	       "  checked %9" PRIu64 "  dups %3" PRIu64 " (%" PRIu64
	       " kills, max %" PRIu64 ")  lost %" PRIu64 " (%" PRIu64
	       " kills)  abandoned %4" PRIu64 "  repair p50 %.1f ms max %.1f ms  %s\n",
	       h_policy_name[C.policy], mode_name[C.mode], C.elem, C.cap, C.seed,
	       (double)(h_now() - t0) / 1e9, R->kills, R->restarts, R->midcopy,
	       R->repairs, R->checked, R->dups, R->dup_kills, R->dup_max, R->lost,
	       R->lost_kills, R->abandoned, lat50, latmax, R->violations ? "FAIL" : "ok");
	if (o->verbose)
		printf("     kills in creation races %" PRIu64 ", exits %" PRIu64
		       ", stops %" PRIu64 ", guard asked %" PRIu64
		       ", in-flight delivered %" PRIu64 ", reorders %" PRIu64
		       " (after give-backs %" PRIu64 "), late %" PRIu64
		       ", producers %u, consumers %u\n",
		       R->race_kills, R->exits, R->stops, R->guard_asked,
		       R->inflight_delivered, R->reorders, R->givebacks, R->late,
		       atomic_load(&S->np) - 1, atomic_load(&S->nc) - 1);
	h_log_print(&S->log, &R->shown, "     VIOLATION: ");
	if (R->violations > H_LOG_LINES)
		printf("     ... %" PRIu64 " violations in all\n", R->violations);
	if (R->violations)
		printf("     reproduce: crash --policy %s --mode %s --size %zu --seed %" PRIu64
		       " --rounds %u --kills %" PRIu64 " --seconds %g\n",
		       h_policy_name[C.policy], mode_name[C.mode], C.elem, o->seed_base,
		       (C.index - 1) / 30 + 1, o->kills, o->seconds);
	fflush(stdout);

	T->configs++;
	T->failed += R->violations != 0;
	T->kills += R->kills;
	T->stops += R->stops;
	T->race_kills += R->race_kills;
	T->restarts += R->restarts;
	T->midcopy += R->midcopy;
	T->repairs += R->repairs;
	T->checked += R->checked;
	T->dups += R->dups;
	T->dup_kills += R->dup_kills;
	if (R->dup_max > T->dup_max)
		T->dup_max = R->dup_max;
	T->lost += R->lost;
	T->abandoned += R->abandoned;
	T->violations += R->violations;
	if (R->nlat && R->lat[R->nlat - 1] > T->lat_max)
		T->lat_max = R->lat[R->nlat - 1];
	for (size_t i = 0; i < R->nlat && T->nlat < sizeof(T->lat) / sizeof(T->lat[0]);
	     i++)
		T->lat[T->nlat++] = R->lat[i];
	if (R->lost_max > T->lost_max)
		T->lost_max = R->lost_max;
	T->seconds_ns += h_now() - t0;
	ok = R->violations == 0;
	munmap(S, sizeof(*S));
	munmap(W, wlen);
	munmap(CK, klen);
	S = NULL;
	free(R);
	return ok;
}

static char current_name[96];

static void cleanup(void)
{
	if (current_name[0])
		shmring_unlink(current_name);
	if (race_name[0])
		shmring_unlink(race_name);
}

static void on_term(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static unsigned int parse_mask(const char *arg, const char *const *names, size_t n)
{
	unsigned int mask = 0;

	for (size_t i = 0; i < n; i++)
		if (strstr(arg, names[i]))
			mask |= 1u << i;
	if (!mask) {
		fprintf(stderr, "crash: unknown value '%s'\n", arg);
		exit(2);
	}
	return mask;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: crash [--full | --short | --tiny] [--kills N] [--seconds S]\n"
		"             [--policy spsc,mpsc,mpmc] [--mode try,burst,block,timed,zc]\n"
		"             [--size 64,16384] [--seed N] [--rounds N] [--cap N] [--stall S]\n"
		"             [--victims producers|consumers] [-v]\n"
		"  Per configuration (policy x mode x size): random SIGKILLs of worker\n"
		"  processes (--kills, at most --seconds), planned deaths mid-copy, then\n"
		"  a drain and an account of every message. Exit 1 on any violation.\n"
		"  --kills 0: no kills, run for --seconds (throughput of the harness).\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const char *const sizes[] = { "64", "16384" };
	struct opts o = { .seconds = 60,
			  .kills = 600,
			  .policies = 7,
			  .modes = 31,
			  .sizes = 3,
			  .rounds = 1,
			  .stall = 10 };
	static struct totals T;
	uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	int index = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--full")) {
			o.seconds = 60, o.kills = 600;
		} else if (!strcmp(a, "--short")) {
			o.seconds = 3, o.kills = 40;
		} else if (!strcmp(a, "--tiny")) {
			o.seconds = 0.5, o.kills = 8;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			o.verbose = true;
		} else if (!v) {
			usage();
		} else if (!strcmp(a, "--kills")) {
			o.kills = strtoull(v, NULL, 0), i++;
		} else if (!strcmp(a, "--seconds")) {
			o.seconds = atof(v), i++;
		} else if (!strcmp(a, "--victims")) {
			o.victims = !strcmp(v, "producers") ? 1 :
				    !strcmp(v, "consumers") ? 2 :
							      0;
			i++;
		} else if (!strcmp(a, "--cap")) {
			o.cap = strtoull(v, NULL, 0), i++;
		} else if (!strcmp(a, "--stall")) {
			o.stall = atof(v), i++;
		} else if (!strcmp(a, "--seed")) {
			seed = strtoull(v, NULL, 0), i++;
		} else if (!strcmp(a, "--rounds")) {
			o.rounds = (unsigned int)atoi(v), i++;
		} else if (!strcmp(a, "--policy")) {
			o.policies = parse_mask(v, h_policy_name + 1, 3), i++;
		} else if (!strcmp(a, "--mode")) {
			o.modes = parse_mask(v, mode_name, M_NMODES), i++;
		} else if (!strcmp(a, "--size")) {
			o.sizes = strstr(v, "16384") ? 2 : 0;
			o.sizes |= !strncmp(v, "64", 2) || strstr(v, ",64") ? 1 : 0;
			if (!o.sizes)
				usage();
			i++;
		} else {
			usage();
		}
	}
	(void)sizes;
	o.seed_base = seed;
	atexit(cleanup);
	signal(SIGINT, on_term);
	signal(SIGTERM, on_term);
	signal(SIGHUP, on_term);
	printf("crash: seed %" PRIu64 ", %" PRIu64 " kills or %g s per configuration\n",
	       seed, o.kills, o.seconds);
	for (unsigned int round = 0; round < o.rounds; round++)
		for (int pol = SHMRING_SPSC; pol <= SHMRING_MPMC; pol++)
			for (int mode = 0; mode < M_NMODES; mode++)
				for (int sz = 0; sz < 2; sz++) {
					struct cfg cfg = { .policy = pol, .mode = mode };

					index++;
					if (!(o.policies & 1u << (pol - 1)) ||
					    !(o.modes & 1u << mode) ||
					    !(o.sizes & 1u << sz))
						continue;
					cfg.elem = sz ? 16384 : 64;
					cfg.seed = msg_mix(seed + (uint64_t)index);
					{
						struct h_rng g = h_rng_seed(cfg.seed, 0);

						cfg.cap = sz ? caps16k[h_below(&g, 3)] :
							       caps64[h_below(&g, 5)];
					}
					if (o.cap)
						cfg.cap = o.cap;
					cfg.nprod = pol == SHMRING_SPSC ? 1 : 3;
					cfg.ncons = pol == SHMRING_MPMC ? 2 : 1;
					cfg.index = index;
					h_ring_name(cfg.name, sizeof(cfg.name), "crash",
						    index);
					snprintf(current_name, sizeof(current_name), "%s",
						 cfg.name);
					run_config(&cfg, &o, &T);
				}
	current_name[0] = 0;
	{
		size_t fast = 0;

		qsort(T.lat, T.nlat, sizeof(T.lat[0]), u64_cmp);
		for (size_t i = 0; i < T.nlat; i++)
			fast += T.lat[i] <= 20000000;
		printf("crash repairs after a death mid-copy holding a claim: %zu timed, "
		       "%zu within 20 ms, median %.1f ms, 99th percentile %.1f ms, "
		       "slowest %.1f ms\n",
		       T.nlat, fast, T.nlat ? (double)T.lat[T.nlat / 2] / 1e6 : 0.0,
		       T.nlat ? (double)T.lat[T.nlat * 99 / 100] / 1e6 : 0.0,
		       (double)T.lat_max / 1e6);
	}
	printf("crash TOTAL: %" PRIu64 " configurations (%" PRIu64
	       " failed) in %.0f s: kills %" PRIu64 " (and %" PRIu64
	       " racing to create), stops %" PRIu64 ", restarts %" PRIu64
	       ", mid-copy deaths %" PRIu64 ", repairs %" PRIu64
	       ", messages checked %" PRIu64 ", duplicates %" PRIu64 " (from %" PRIu64
	       " kills holding a peek, at most %" PRIu64 " per kill), lost in the pop "
	       "window %" PRIu64 " (at most %" PRIu64 " per kill), abandoned by killed "
	       "producers %" PRIu64 ", slowest repair %.1f ms, violations %" PRIu64 "\n",
	       T.configs, T.failed, (double)T.seconds_ns / 1e9, T.kills, T.race_kills,
	       T.stops, T.restarts, T.midcopy, T.repairs, T.checked, T.dups, T.dup_kills,
	       T.dup_max, T.lost, T.lost_max, T.abandoned, (double)T.lat_max / 1e6,
	       T.violations);
	printf("%" PRIu64 " passed, %" PRIu64 " failed\n", T.configs - T.failed,
	       T.failed);
	return T.failed ? 1 : 0;
}
