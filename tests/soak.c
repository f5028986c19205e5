// SPDX-License-Identifier: MIT
/*
 * make soak: 10^8 messages per policy across processes, every one checked,
 * while the processes are pestered: random bursts, random sleeps, signals
 * whose handlers are installed without SA_RESTART (SIGALRM from an interval
 * timer in every worker, SIGUSR1 from the supervisor at random), and
 * graceful restarts (handles closed and reopened mid-run, processes that
 * exit after a random share of the work and new ones that take over).
 *
 * Producers are lanes: lane L's processes push (L + 1, seq) for seq = 0, 1,
 * 2 ... in turn, each new process going on where the last one stopped.
 * Each call is any of try, blocking, timed, burst, zero-copy, shmring_wait +
 * try, or poll(2) on shmring_fd + try. Consumers check every message
 * (msg_check: producer, seq, checksum over the whole element), that it was
 * pushed (seq below what its lane had started), that it arrives once (a
 * bitmap), and in order: on SPSC/MPSC exactly the lane's next seq (nothing
 * lost, nothing early), on MPMC increasing per consumer process except
 * elements given back by a partial release (logged). At the end every bit
 * must be set and the ring must take exactly its capacity.
 *
 * Half the handles are opened with SHMRING_F_EINTR (blocking calls return
 * EINTR when a handler ran while they slept), half without (they restart);
 * EINTR is retried. --inject-eintr also makes the wrappers return EINTR now
 * and then without calling, for every kind of call.
 */
#include "harness.h"

#include <poll.h>
#include <sched.h>

#define MAX_LANES 8
#define MAX_BATCH 64u

enum op { O_TRY, O_BLOCK, O_TIMED, O_BURST, O_ZC, O_WAIT, O_FD, O_NOPS };
static const char *const op_name[O_NOPS] = { "try", "block", "timed", "burst",
					     "zc",  "wait",  "fd" };

struct lane {
	_Atomic uint64_t progress; /* pushed: the next seq */
	_Atomic uint64_t hi;	   /* the highest seq a call in flight may push, + 1 */
	_Atomic uint64_t next;	   /* SPSC/MPSC: the seq the consumer expects */
};

struct soak {
	enum shmring_policy policy;
	size_t elem, cap;
	unsigned int nlanes, ncons;
	uint64_t per_lane, seed;
	bool inject;
	char name[96];
	_Atomic uint64_t received, events, signals, eintr, poll_eintr, injected, reopens,
		processes;
	_Atomic uint64_t calls[2][O_NOPS];
	struct lane lanes[MAX_LANES];
	struct h_log log;
};

static struct soak *S;
static _Atomic uint64_t *BITS; /* received, per (lane, seq) */
static _Atomic uint64_t *GB;   /* MPMC: given back by a partial release */

/* ---- EINTR ---------------------------------------------------------------------- */

static struct h_rng G; /* each process's own */

static bool was_injected;

/* --inject-eintr: a wrapper that "was interrupted" before calling. */
static bool injected(void)
{
	was_injected = S->inject && h_one_in(&G, 512);
	if (!was_injected)
		return false;
	atomic_fetch_add(&S->injected, 1);
	errno = EINTR;
	return true;
}

/* -1 with EINTR from the call just made (or injected): retry. Counts
 * what the library itself returned. */
static bool interrupted(long rc)
{
	if (rc != -1 || errno != EINTR)
		return false;
	if (!was_injected)
		atomic_fetch_add(&S->eintr, 1);
	was_injected = false;
	return true;
}

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	h_vreport(&S->log, fmt, ap);
	va_end(ap);
	_exit(3);
}

static uint64_t pick_timeout(void)
{
	static const uint64_t t[] = { 0, 1000, 100000, 1000000, 20000000 };

	return t[h_below(&G, sizeof(t) / sizeof(t[0]))];
}

static void backoff(void)
{
	if (h_one_in(&G, 8))
		sched_yield();
	else
		for (int i = 0; i < 100; i++)
			h_relax();
}

/* A sleep that a signal may cut short (as a real program's would be). */
static void nap(void)
{
	struct timespec ts = { 0, (long)h_below(&G, 300000) };

	nanosleep(&ts, NULL);
}

static struct shmring *open_role(enum shmring_role role)
{
	uint64_t t0 = h_now();
	bool eintr = h_one_in(&G, 2);

	for (;;) {
		struct shmring *r;

		/* Half the handles have blocking calls return EINTR after a
		 * signal handler ran (SHMRING_F_EINTR), half restart them. */
		SHMRING_OPTS(o, .flags = eintr ? SHMRING_F_EINTR : 0);

		r = role == SHMRING_PRODUCER ?
			    shmring_producer(S->policy, S->name, S->elem, S->cap, &o) :
			    shmring_consumer(S->policy, S->name, S->elem, S->cap, &o);
		if (r)
			return r;
		if (interrupted(-1))
			continue;
		if (errno != EBUSY || h_now() - t0 > 5000000000ull)
			die("%s open: %s",
			    role == SHMRING_PRODUCER ? "producer" : "consumer",
			    strerror(errno));
		h_sleep_ns(1000000);
	}
}

/* Waits (bounded) for the handle's fd to say "try again". */
static void fd_wait(struct shmring *r)
{
	struct pollfd pfd = { .fd = shmring_fd(r), .events = POLLIN };
	int ms = (int)h_below(&G, 20);

	if (pfd.fd < 0)
		die("shmring_fd: %s", strerror(errno));
	if (poll(&pfd, 1, ms) < 0) {
		if (errno != EINTR)
			die("poll: %s", strerror(errno));
		atomic_fetch_add(&S->poll_eintr, 1);
	}
}

static unsigned int op_mask = (1u << O_NOPS) - 1; /* --ops */

static enum op pick_op(void)
{
	/* Mostly the cheap ones, so that 10^8 fit in minutes. */
	static const enum op w[] = { O_TRY,   O_BURST, O_BURST, O_BURST, O_BURST,
				     O_BURST, O_BURST, O_ZC,	O_ZC,	 O_ZC,
				     O_ZC,    O_BLOCK, O_TIMED, O_WAIT,	 O_FD };

	for (;;) {
		enum op op = w[h_below(&G, sizeof(w) / sizeof(w[0]))];

		if (op_mask & 1u << op)
			return op;
	}
}

/* ---- the calls that copy, either way ------------------------------------------- */

/* shmring_wait for a picked timeout, checked. */
static void wait_some(struct shmring *r)
{
	uint64_t to = pick_timeout(), t0 = h_now();
	int rc = injected() ? -1 : shmring_wait(r, to);

	if (rc && !interrupted(rc) && errno != ETIMEDOUT)
		die("wait: %s", strerror(errno));
	h_timed_check(&S->log, t0, to, "shmring_wait");
}

/* One call of OP other than zero-copy, moving up to N elements to or from
 * BUF: how many moved (0: nothing, call again). */
static size_t copy_once(const struct h_dir *d, struct shmring *r, enum op op,
			unsigned char *buf, size_t n)
{
	uint64_t t0 = h_now(), to;
	long rc;

	switch (op) {
	case O_TRY:
	case O_WAIT:
	case O_FD:
		rc = injected() ? -1 : d->try_(r, buf);
		if (rc == 0)
			return 1;
		if (interrupted(rc))
			return 0;
		if (errno != EAGAIN)
			die("%s: %s", d->try_name, strerror(errno));
		if (op == O_TRY)
			backoff();
		else if (op == O_FD)
			fd_wait(r);
		else
			wait_some(r);
		return 0;
	case O_BLOCK:
		rc = injected() ? -1 : d->block(r, buf);
		if (rc && !interrupted(rc))
			die("%s: %s", d->block_name, strerror(errno));
		return rc == 0;
	case O_TIMED:
		to = pick_timeout();
		rc = injected() ? -1 : d->timed(r, buf, to);
		h_timed_check(&S->log, t0, to, d->timed_name);
		if (rc && !interrupted(rc) && errno != ETIMEDOUT)
			die("%s: %s", d->timed_name, strerror(errno));
		return rc == 0;
	case O_BURST:
		rc = injected() ? -1 : d->burst(r, buf, n);
		if (rc > 0)
			return (size_t)rc;
		if (rc < 0 && !interrupted(rc))
			die("%s: %s", d->burst_name, strerror(errno));
		backoff();
		return 0;
	default:
		die("copy_once: op %d", (int)op);
		return 0;
	}
}

/* After a reserve or peek that returned RC: a failure not from a signal
 * dies, nothing borrowed waits. */
static void borrow_failed(const struct h_dir *d, struct shmring *r, long rc)
{
	if (rc < 0 && !interrupted(rc))
		die("%s: %s", d->zc_name, strerror(errno));
	if (rc == 0)
		wait_some(r);
}

/* ---- producers --------------------------------------------------------------------- */

/* Pushes up to N messages from BUF (seqs BASE..) with one kind of call,
 * retried until something moved: the count. */
static size_t push_some(struct shmring *r, enum op op, const unsigned char *buf, size_t n,
			uint64_t base)
{
	atomic_fetch_add(&S->calls[0][op], 1);
	for (;;) {
		long rc;
		void *first;
		size_t stride, m;

		if (op != O_ZC) {
			m = copy_once(&h_push, r, op, (unsigned char *)buf, n);
			if (m)
				return m;
			continue;
		}
		rc = injected() ? -1 : shmring_reserve(r, n, &first, &stride);
		if (rc > 0) {
			size_t k = (size_t)rc;

			for (size_t i = 0; i < k; i++)
				memcpy((unsigned char *)first + i * stride,
				       buf + i * S->elem, S->elem);
			if (h_one_in(&G, 16))
				k = (size_t)h_below(&G, k + 1);
			for (size_t i = k; i < (size_t)rc; i++)
				msg_fill((unsigned char *)first + i * stride, S->elem,
					 H_ID_POISON, base + i);
			if (shmring_commit(r, k))
				die("commit: %s", strerror(errno));
			if (k)
				return k;
			continue;
		}
		borrow_failed(&h_push, r, rc);
	}
}

static uint64_t quota(uint64_t left)
{
	uint64_t q = left / 4 < 2000000 ? left / 4 : 2000000;

	return 1 + h_below(&G, q + 1000);
}

static int producer_main(void *arg)
{
	uint32_t lane = (uint32_t)(uintptr_t)arg, id = lane + 1;
	struct lane *L = &S->lanes[lane];
	unsigned char *buf = malloc(MAX_BATCH * S->elem);
	uint64_t todo;
	struct shmring *r;

	G = h_rng_seed(S->seed, (uint64_t)getpid() << 8 | lane);
	h_signals_install(200 + (long)h_below(&G, 3000));
	h_pick_barrier(&G);
	r = open_role(SHMRING_PRODUCER);
	todo = quota(S->per_lane - atomic_load(&L->progress));
	while (todo && atomic_load(&L->progress) < S->per_lane) {
		uint64_t base = atomic_load(&L->progress);
		enum op op = pick_op();
		size_t n = op == O_BURST || op == O_ZC ?
				   1 + (size_t)h_below(&G, MAX_BATCH) :
				   1;
		size_t m;

		if (n > S->per_lane - base)
			n = (size_t)(S->per_lane - base);
		if (n > todo)
			n = (size_t)todo;
		for (size_t i = 0; i < n; i++)
			msg_fill(buf + i * S->elem, S->elem, id, base + i);
		atomic_store_explicit(&L->hi, base + n, memory_order_release);
		m = push_some(r, op, buf, n, base);
		atomic_store_explicit(&L->progress, base + m, memory_order_release);
		atomic_fetch_add_explicit(&S->events, m, memory_order_relaxed);
		todo -= m;
		if (h_one_in(&G, 20000))
			nap();
		if (h_one_in(&G, 50000)) { /* a graceful reopen */
			shmring_close(r);
			r = open_role(SHMRING_PRODUCER);
			atomic_fetch_add(&S->reopens, 1);
		}
	}
	shmring_close(r);
	atomic_fetch_add(&S->signals, (uint64_t)h_signals_seen);
	return 0;
}

/* ---- consumers ---------------------------------------------------------------------- */

struct cons {
	int64_t last[MAX_LANES]; /* MPMC: last seq seen per lane */
	bool pill;
	uint64_t got;
};

static void got(struct cons *c, const unsigned char *m)
{
	uint32_t p, lane;
	uint64_t s, bit, mask;

	if (msg_check(m, S->elem, &p, &s)) {
		h_report(&S->log, "torn or garbage element");
		return;
	}
	if (p == H_ID_PILL) {
		c->pill = true;
		return;
	}
	lane = p - 1;
	if (p == 0 || lane >= S->nlanes) {
		h_report(&S->log, "element of unknown producer %u seq %" PRIu64 "%s", p,
			 s, p == H_ID_POISON ? " (a slot given back by commit)" : "");
		return;
	}
	if (s >= atomic_load_explicit(&S->lanes[lane].hi, memory_order_acquire)) {
		h_report(&S->log, "lane %u seq %" PRIu64 " was never pushed", lane, s);
		return;
	}
	bit = lane * S->per_lane + s;
	mask = 1ull << (bit % 64);
	if (atomic_fetch_or_explicit(&BITS[bit / 64], mask, memory_order_relaxed) & mask)
		h_report(&S->log, "duplicate: lane %u seq %" PRIu64, lane, s);
	if (S->policy != SHMRING_MPMC) {
		uint64_t want =
			atomic_load_explicit(&S->lanes[lane].next, memory_order_relaxed);

		if (s != want)
			h_report(&S->log,
				 "order: lane %u seq %" PRIu64 " where %" PRIu64
				 " was due (%s)",
				 lane, s, want, s > want ? "lost" : "early/again");
		atomic_store_explicit(&S->lanes[lane].next, s + 1, memory_order_relaxed);
	} else if ((int64_t)s <= c->last[lane]) {
		if (!(atomic_load_explicit(&GB[bit / 64], memory_order_relaxed) & mask))
			h_report(&S->log,
				 "order: lane %u seq %" PRIu64 " after %" PRId64
				 " at one consumer",
				 lane, s, c->last[lane]);
	} else {
		c->last[lane] = (int64_t)s;
	}
	c->got++;
}

/* Pops up to N into BUF with one kind of call (zero-copy: checks them in
 * place before the release), until something came: the count. */
static size_t pop_some(struct shmring *r, struct cons *c, enum op op, unsigned char *buf,
		       size_t n)
{
	atomic_fetch_add(&S->calls[1][op], 1);
	for (;;) {
		long rc;
		void *first;
		size_t stride, m;

		if (op != O_ZC) {
			m = copy_once(&h_pop, r, op, buf, n);
			if (m)
				return m;
			continue;
		}
		rc = injected() ? -1 : shmring_peek(r, n, &first, &stride);
		if (rc > 0) {
			size_t k = (size_t)rc;

			/* One pill each: release through the first. */
			for (size_t i = 0; i < (size_t)rc; i++) {
				uint32_t p;
				uint64_t s;

				if (!msg_check((unsigned char *)first + i * stride,
					       S->elem, &p, &s) &&
				    p == H_ID_PILL) {
					k = i + 1;
					break;
				}
			}
			if (k == (size_t)rc && h_one_in(&G, 16))
				k = (size_t)h_below(&G, k + 1);
			for (size_t i = 0; i < k; i++)
				got(c, (unsigned char *)first + i * stride);
			for (size_t i = k; i < (size_t)rc && S->policy == SHMRING_MPMC;
			     i++) {
				uint32_t p;
				uint64_t s, bit;

				if (msg_check((unsigned char *)first + i * stride,
					      S->elem, &p, &s) ||
				    p == 0 || p > S->nlanes || s >= S->per_lane)
					continue;
				bit = (p - 1) * S->per_lane + s;
				atomic_fetch_or(&GB[bit / 64], 1ull << (bit % 64));
			}
			if (shmring_release(r, k))
				die("release: %s", strerror(errno));
			if (k)
				return 0; /* counted already */
			continue;
		}
		borrow_failed(&h_pop, r, rc);
	}
}

static int consumer_main(void *arg)
{
	struct cons c = { .pill = false };
	unsigned char *buf = malloc(MAX_BATCH * S->elem);
	uint64_t todo, total = (uint64_t)S->nlanes * S->per_lane;
	struct shmring *r;

	(void)arg;
	G = h_rng_seed(S->seed, (uint64_t)getpid() << 8 | 0x80);
	for (int i = 0; i < MAX_LANES; i++)
		c.last[i] = -1;
	h_signals_install(200 + (long)h_below(&G, 3000));
	h_pick_barrier(&G);
	r = open_role(SHMRING_CONSUMER);
	todo = quota(total / S->ncons);
	while (!c.pill && c.got < todo) {
		enum op op = pick_op();
		size_t n = op == O_BURST || op == O_ZC ?
				   1 + (size_t)h_below(&G, MAX_BATCH) :
				   1;
		uint64_t before = c.got;
		size_t m = pop_some(r, &c, op, buf, n);

		for (size_t i = 0; i < m; i++)
			got(&c, buf + i * S->elem);
		atomic_fetch_add_explicit(&S->received, c.got - before,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&S->events, c.got - before + c.pill,
					  memory_order_relaxed);
		if (h_one_in(&G, 20000))
			nap();
		if (h_one_in(&G, 50000)) {
			shmring_close(r);
			r = open_role(SHMRING_CONSUMER);
			atomic_fetch_add(&S->reopens, 1);
		}
	}
	shmring_close(r);
	atomic_fetch_add(&S->signals, (uint64_t)h_signals_seen);
	return 0;
}

/* ---- the supervisor ------------------------------------------------------------------- */

struct kid {
	pid_t pid;
	int lane; /* -1: a consumer */
};

struct opts {
	uint64_t messages;
	uint64_t seed;
	unsigned int policies;
	size_t elem;
	double stall;
	bool inject, verbose;
};

static char current_name[96];

static void cleanup(void)
{
	if (current_name[0])
		shmring_unlink(current_name);
}

static void on_term(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void spawn(struct kid *kids, int *n, int lane)
{
	kids[*n].lane = lane;
	kids[*n].pid = h_spawn(lane < 0 ? consumer_main : producer_main,
			       (void *)(uintptr_t)(lane < 0 ? 0 : lane));
	atomic_fetch_add(&S->processes, 1);
	++*n;
}

static bool lanes_done(void)
{
	for (unsigned int i = 0; i < S->nlanes; i++)
		if (atomic_load(&S->lanes[i].progress) < S->per_lane)
			return false;
	return true;
}

struct result {
	double seconds;
	uint64_t messages, violations, sent;
};

static bool run_policy(enum shmring_policy policy, const struct opts *o,
		       struct result *res)
{
	static const size_t caps[] = { 128, 1024, 4096 };
	struct h_rng g = h_rng_seed(o->seed, (uint64_t)policy);
	unsigned int nlanes = policy == SHMRING_SPSC ? 1 : 3;
	uint64_t per_lane = (o->messages + nlanes - 1) / nlanes;
	uint64_t total = per_lane * nlanes, bits_len = (total + 63) / 64 * 8;
	struct kid kids[16];
	int nkids = 0;
	uint64_t t0, last_ev = 0, last_at, sent = 0, pills = 0, shown_at;
	unsigned char *m;
	struct shmring *p = NULL, *c = NULL;
	uint32_t shown = 0;
	bool stalled = false;

	S = h_shared(sizeof(*S));
	BITS = h_shared(bits_len);
	GB = h_shared(bits_len);
	S->policy = policy;
	S->elem = o->elem;
	S->cap = caps[h_below(&g, 3)];
	S->nlanes = nlanes;
	S->ncons = policy == SHMRING_MPMC ? 2 : 1;
	S->per_lane = per_lane;
	S->seed = o->seed ^ (uint64_t)policy;
	S->inject = o->inject;
	h_ring_name(S->name, sizeof(S->name), "soak", policy);
	snprintf(current_name, sizeof(current_name), "%s", S->name);
	m = calloc(1, S->elem);
	shmring_unlink(S->name);

	t0 = last_at = shown_at = h_now();
	for (unsigned int i = 0; i < nlanes; i++)
		spawn(kids, &nkids, (int)i);
	for (unsigned int i = 0; i < S->ncons; i++)
		spawn(kids, &nkids, -1);
	G = h_rng_seed(o->seed, 0x5000 + (uint64_t)policy);
	while (nkids) {
		uint64_t now = h_now(), ev = atomic_load(&S->events);
		int st;

		/* Restart whoever finished its share, while there is work. */
		for (int i = 0; i < nkids; i++) {
			int lane = kids[i].lane;
			char how[64];

			if (waitpid(kids[i].pid, &st, WNOHANG) != kids[i].pid)
				continue;
			kids[i--] = kids[--nkids];
			if (!WIFEXITED(st) || WEXITSTATUS(st)) {
				h_report(&S->log, "%s exited with %s",
					 lane < 0 ? "consumer" : "producer",
					 h_status_str(st, how, sizeof(how)));
				continue;
			}
			if (lane >= 0 &&
			    atomic_load(&S->lanes[lane].progress) < S->per_lane)
				spawn(kids, &nkids, lane);
			else if (lane < 0 && !pills)
				spawn(kids, &nkids, -1);
		}
		/* Signals at random, to anyone. */
		for (int k = 0; nkids && k < 4; k++)
			if (h_one_in(&G, 2) &&
			    kill(kids[h_below(&G, (uint64_t)nkids)].pid, SIGUSR1) == 0)
				sent++;
		/* All pushed and taken: one pill per consumer (more if a burst
		 * took two), asked of a handle (see crash.c on stat). */
		if (!pills && lanes_done()) {
			bool producers = false;

			for (int i = 0; i < nkids; i++)
				producers |= kids[i].lane >= 0;
			if (!producers && !p) {
				p = shmring_producer(policy, S->name, S->elem, S->cap,
						     NULL);
				if (!p)
					h_report(&S->log, "supervisor: producer open: %s",
						 strerror(errno));
			}
		}
		if (p && shmring_pending(p) == 0 && atomic_load(&S->received) == total &&
		    (pills < S->ncons || h_one_in(&G, 50))) {
			msg_fill(m, S->elem, H_ID_PILL, pills);
			if (shmring_timed_push(p, m, 1000000000) == 0)
				pills++;
		}
		if (o->verbose && now - shown_at > 60000000000ull) {
			printf("   ... %s: %" PRIu64 " of %" PRIu64
			       " received after %.0f s\n",
			       h_policy_name[policy], atomic_load(&S->received), total,
			       (double)(now - t0) / 1e9);
			fflush(stdout);
			shown_at = now;
		}
		if (ev != last_ev) {
			last_ev = ev;
			last_at = now;
		} else if (now - last_at > (uint64_t)(o->stall * 1e9) && !stalled) {
			SHMRING_INFO(info);

			h_report(&S->log,
				 "no progress for %.1f s (a hang): received %" PRIu64
				 " of %" PRIu64,
				 o->stall, atomic_load(&S->received), total);
			if (!shmring_stat(S->name, &info))
				printf("   ring: pending %zu, abandoned %" PRIu64 "\n",
				       info.pending, info.abandoned);
			for (int i = 0; i < nkids; i++)
				kill(kids[i].pid, SIGKILL);
			stalled = true;
		}
		h_sleep_ns(100000 + h_below(&G, 1000000));
	}
	res->seconds = (double)(h_now() - t0) / 1e9;

	/* The account: every bit, and a ring that still holds its capacity. */
	{
		uint64_t missing = 0;

		for (uint64_t b = 0; b < total; b++)
			if (!(atomic_load_explicit(&BITS[b / 64], memory_order_relaxed) &
			      1ull << (b % 64)) &&
			    missing++ < 5)
				h_report(&S->log, "lost: lane %" PRIu64 " seq %" PRIu64,
					 b / per_lane, b % per_lane);
		if (missing)
			h_report(&S->log, "%" PRIu64 " messages never arrived", missing);
		if (atomic_load(&S->received) != total)
			h_report(&S->log, "received %" PRIu64 " of %" PRIu64,
				 atomic_load(&S->received), total);
	}
	if (!stalled) {
		c = shmring_consumer(policy, S->name, S->elem, S->cap, NULL);
		if (!p || !c) {
			h_report(&S->log, "supervisor: open after the run: %s",
				 strerror(errno));
		} else {
			uint32_t pr;
			uint64_t s;

			while (shmring_try_pop(c, m) == 0)
				if (msg_check(m, S->elem, &pr, &s) || pr != H_ID_PILL)
					h_report(&S->log,
						 "a leftover element that is no pill");
			for (size_t i = 0; i < S->cap; i++) {
				msg_fill(m, S->elem, H_ID_FINAL, i);
				if (shmring_try_push(p, m)) {
					h_report(&S->log,
						 "the ring took %zu of %zu at the end", i,
						 S->cap);
					break;
				}
			}
			if (shmring_try_push(p, m) == 0)
				h_report(&S->log, "the ring took more than its capacity");
			for (size_t i = 0; i < S->cap; i++)
				if (shmring_try_pop(c, m) ||
				    msg_check(m, S->elem, &pr, &s) || pr != H_ID_FINAL ||
				    s != i) {
					h_report(
						&S->log,
						"the full ring gave back the wrong elements");
					break;
				}
		}
	}
	shmring_close(c);
	shmring_close(p);
	shmring_unlink(S->name);
	current_name[0] = 0;

	res->messages = atomic_load(&S->received);
	res->violations = atomic_load(&S->log.count);
	res->sent = sent;
	printf("soak %s: %" PRIu64
	       " messages of %zu B (cap %zu) in %.1f s = %.2f M msg/s; "
	       "processes %" PRIu64 ", reopens %" PRIu64 ", signals handled %" PRIu64
	       " (SIGUSR1 sent %" PRIu64 "), EINTR from the library %" PRIu64
	       " (from poll %" PRIu64 ", injected %" PRIu64 ")  %s\n",
	       h_policy_name[policy], res->messages, S->elem, S->cap, res->seconds,
	       (double)res->messages / res->seconds / 1e6, atomic_load(&S->processes),
	       atomic_load(&S->reopens), atomic_load(&S->signals), sent,
	       atomic_load(&S->eintr), atomic_load(&S->poll_eintr),
	       atomic_load(&S->injected), res->violations ? "FAIL" : "ok");
	if (o->verbose) {
		for (int side = 0; side < 2; side++) {
			printf("   %s calls:", side ? "consumer" : "producer");
			for (int i = 0; i < O_NOPS; i++)
				printf(" %s %" PRIu64, op_name[i],
				       atomic_load(&S->calls[side][i]));
			printf("\n");
		}
	}
	h_log_print(&S->log, &shown, "   VIOLATION: ");
	if (res->violations)
		printf("   reproduce: soak --policy %s --messages %" PRIu64
		       " --seed %" PRIu64 "%s\n",
		       h_policy_name[policy], o->messages, o->seed,
		       o->inject ? " --inject-eintr" : "");
	fflush(stdout);
	free(m);
	munmap(S, sizeof(*S));
	munmap(BITS, bits_len);
	munmap(GB, bits_len);
	return res->violations == 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: soak [--full | --short | --tiny] [--messages N] [--policy spsc,mpsc,mpmc]\n"
		"            [--seed N] [--elem BYTES] [--inject-eintr] [--stall S] [-v]\n"
		"  --full 10^8 messages per policy (the default), --short 10^6, --tiny 10^5.\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = { .messages = 100000000, .policies = 7, .elem = 64, .stall = 10 };
	unsigned int passed = 0, failed = 0;
	uint64_t msgs = 0, sent = 0;
	double secs = 0;

	o.seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--full"))
			o.messages = 100000000;
		else if (!strcmp(a, "--short"))
			o.messages = 1000000;
		else if (!strcmp(a, "--tiny"))
			o.messages = 100000;
		else if (!strcmp(a, "--inject-eintr"))
			o.inject = true;
		else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
			o.verbose = true;
		else if (!v)
			usage();
		else if (!strcmp(a, "--messages"))
			o.messages = strtoull(v, NULL, 0), i++;
		else if (!strcmp(a, "--seed"))
			o.seed = strtoull(v, NULL, 0), i++;
		else if (!strcmp(a, "--elem"))
			o.elem = strtoull(v, NULL, 0), i++;
		else if (!strcmp(a, "--stall"))
			o.stall = atof(v), i++;
		else if (!strcmp(a, "--ops")) {
			op_mask = 0;
			for (int k = 0; k < O_NOPS; k++)
				if (strstr(v, op_name[k]))
					op_mask |= 1u << k;
			if (!op_mask)
				usage();
			i++;
		} else if (!strcmp(a, "--policy")) {
			o.policies = 0;
			for (int p = 1; p <= 3; p++)
				if (strstr(v, h_policy_name[p]))
					o.policies |= 1u << (p - 1);
			if (!o.policies)
				usage();
			i++;
		} else
			usage();
	}
	if (o.elem < 16 || o.messages == 0)
		usage();
	atexit(cleanup);
	/* Workers inherit the handlers: a signal that comes before a new
	 * worker installed its own must not kill it. */
	h_signals_install(0);
	signal(SIGINT, on_term);
	signal(SIGTERM, on_term);
	signal(SIGHUP, on_term);
	printf("soak: seed %" PRIu64 ", %" PRIu64 " messages per policy\n", o.seed,
	       o.messages);
	for (int p = SHMRING_SPSC; p <= SHMRING_MPMC; p++) {
		struct result res = { 0 };

		if (!(o.policies & 1u << (p - 1)))
			continue;
		if (run_policy(p, &o, &res))
			passed++;
		else
			failed++;
		msgs += res.messages;
		secs += res.seconds;
		sent += res.sent;
	}
	printf("soak TOTAL: %" PRIu64
	       " messages checked in %.1f s (%.2f M msg/s), %" PRIu64
	       " signals sent, %u policies failed\n",
	       msgs, secs, (double)msgs / secs / 1e6, sent, failed);
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
