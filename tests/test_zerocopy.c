// SPDX-License-Identifier: MIT
/*
 * Zero-copy calls (issue 10): shmring_reserve/commit, shmring_peek/release,
 * shmring_wait and shmring_position, for every policy: runs that end at the
 * wrap, partial commits and releases, the EBUSY and EINVAL rules, and a
 * stress across processes that checks every message.
 */
#include "msg.h"
#include "procutil.h"

#include <sys/mman.h>

#define ELEM 40

static const enum shmring_policy policies[] = { SHMRING_SPSC, SHMRING_MPSC,
						SHMRING_MPMC };
static const char *const policy_names[] = { "", "spsc", "mpsc", "mpmc" };

struct pair {
	struct shmring *p, *c;
};

static struct pair open_pair(enum shmring_policy pol, const char *name, size_t cap)
{
	struct pair q = { shmring_producer(pol, name, ELEM, cap, NULL),
			  shmring_consumer(pol, name, ELEM, cap, NULL) };

	cr_assert(q.p && q.c, "%s: %s", policy_names[pol], strerror(errno));
	return q;
}

static void close_pair(struct pair q, const char *name)
{
	shmring_close(q.p);
	shmring_close(q.c);
	shmring_unlink(name);
}

/* Reserves up to N, fills them with consecutive messages from *SEQ, commits
 * K of them (all when K < 0). Returns how many were reserved. */
static ssize_t produce(struct shmring *p, size_t n, long k, uint64_t *seq)
{
	size_t stride;
	void *first;
	ssize_t m = shmring_reserve(p, n, &first, &stride);

	cr_assert_geq(m, 0, "reserve: %s", strerror(errno));
	if (m == 0)
		return 0;
	cr_assert_geq(stride, ELEM);
	for (ssize_t i = 0; i < m; i++)
		msg_fill((unsigned char *)first + (size_t)i * stride, ELEM, 1,
			 *seq + (uint64_t)i);
	if (k < 0 || k > m)
		k = m;
	cr_assert_eq(shmring_commit(p, (size_t)k), 0, "%s", strerror(errno));
	*seq += (uint64_t)k;
	return m;
}

/* Peeks up to N, checks them from *SEQ on, releases K (all when K < 0). */
static ssize_t consume(struct shmring *c, size_t n, long k, uint64_t *seq)
{
	size_t stride;
	void *first;
	ssize_t m = shmring_peek(c, n, &first, &stride);

	cr_assert_geq(m, 0, "peek: %s", strerror(errno));
	for (ssize_t i = 0; i < m; i++) {
		uint32_t id;
		uint64_t s;

		cr_assert_eq(msg_check((unsigned char *)first + (size_t)i * stride, ELEM,
				       &id, &s),
			     0);
		cr_assert_eq(s, *seq + (uint64_t)i, "FIFO: %llu, expected %llu",
			     (unsigned long long)s,
			     (unsigned long long)(*seq + (uint64_t)i));
	}
	if (k < 0 || k > m)
		k = m;
	if (m)
		cr_assert_eq(shmring_release(c, (size_t)k), 0, "%s", strerror(errno));
	*seq += (uint64_t)k;
	return m;
}

Test(zerocopy, runs_end_at_the_wrap_and_fill_exactly_the_capacity)
{
	for (size_t i = 0; i < 3; i++) {
		TEST_NAME(name, "zcwrap");
		struct pair q = open_pair(policies[i], name, 10);
		uint64_t in = 0, out = 0;

		cr_expect_eq(produce(q.p, 7, -1, &in), 7);
		cr_expect_eq(consume(q.c, 5, -1, &out), 5);
		/* 3 slots to the wrap: the run stops there. */
		cr_expect_eq(produce(q.p, 100, -1, &in), 3, "%s",
			     policy_names[policies[i]]);
		cr_expect_eq(produce(q.p, 100, -1, &in), 5, "%s: after the wrap",
			     policy_names[policies[i]]);
		cr_expect(shmring_full(q.p));
		cr_expect_eq(produce(q.p, 1, -1, &in), 0, "full");
		cr_expect_eq(consume(q.c, 100, -1, &out), 5, "to the wrap");
		cr_expect_eq(consume(q.c, 100, -1, &out), 5, "after the wrap");
		cr_expect_eq(consume(q.c, 1, -1, &out), 0, "empty");
		cr_expect(shmring_empty(q.c));
		cr_expect_eq(in, out);
		close_pair(q, name);
	}
}

Test(zerocopy, partial_commits_give_back_the_rest_and_consumers_never_see_it)
{
	for (size_t i = 0; i < 3; i++) {
		TEST_NAME(name, "zcpart");
		struct pair q = open_pair(policies[i], name, 16);
		uint64_t in = 0, out = 0;

		for (int round = 0; round < 200; round++) {
			/* Reserve up to 5 (a run stops at the wrap), publish 0..5
			 * of them, then copy in one. */
			cr_assert_gt(produce(q.p, 5, round % 6, &in), 0, "round %d",
				     round);
			unsigned char m[ELEM];

			msg_fill(m, ELEM, 1, in++);
			cr_assert_eq(shmring_try_push(q.p, m), 0, "round %d: %s", round,
				     strerror(errno));
			/* Drain: only what was published, in order. */
			while (out < in)
				cr_assert_gt(consume(q.c, 3, -1, &out), 0, "round %d",
					     round);
			cr_assert_eq(consume(q.c, 3, -1, &out), 0);
			cr_assert(shmring_empty(q.c));
		}
		close_pair(q, name);
	}
}

Test(zerocopy, partial_releases_leave_the_rest_for_the_next_peek)
{
	for (size_t i = 0; i < 3; i++) {
		TEST_NAME(name, "zcrel");
		struct pair q = open_pair(policies[i], name, 12);
		uint64_t in = 0, out = 0;

		for (int round = 0, k = 0; round < 100; round++) {
			cr_assert_gt(produce(q.p, 6, -1, &in), 0);
			while (out < in)
				consume(q.c, 4, k++ % 3,
					&out); /* release 0, 1 or 2 of 4 */
		}
		cr_expect(shmring_empty(q.c));
		close_pair(q, name);
	}
}

Test(zerocopy, one_borrow_at_a_time_and_bad_counts_are_einval)
{
	for (size_t i = 0; i < 3; i++) {
		TEST_NAME(name, "zcrules");
		struct pair q = open_pair(policies[i], name, 8);
		unsigned char m[ELEM] = { 0 };
		size_t stride;
		void *first;
		uint64_t in = 0;

		/* Nothing borrowed: EINVAL. */
		errno = 0;
		cr_expect_eq(shmring_commit(q.p, 0), -1);
		cr_expect_eq(errno, EINVAL);
		errno = 0;
		cr_expect_eq(shmring_release(q.c, 0), -1);
		cr_expect_eq(errno, EINVAL);
		/* The wrong role, and N of 0. */
		errno = 0;
		cr_expect_eq(shmring_reserve(q.c, 1, &first, &stride), -1);
		cr_expect_eq(errno, EINVAL);
		errno = 0;
		cr_expect_eq(shmring_peek(q.p, 1, &first, &stride), -1);
		cr_expect_eq(errno, EINVAL);
		errno = 0;
		cr_expect_eq(shmring_reserve(q.p, 0, &first, &stride), -1);
		cr_expect_eq(errno, EINVAL);
		errno = 0;
		cr_expect_eq(shmring_reserve(q.p, 1, NULL, &stride), -1);
		cr_expect_eq(errno, EINVAL);
		/* While a reservation is out, every other data call is EBUSY. */
		cr_assert_eq(shmring_reserve(q.p, 3, &first, &stride), 3);
		errno = 0;
		cr_expect_eq(shmring_try_push(q.p, m), -1);
		cr_expect_eq(errno, EBUSY);
		errno = 0;
		cr_expect_eq(shmring_push_burst(q.p, m, 1), -1);
		cr_expect_eq(errno, EBUSY);
		errno = 0;
		cr_expect_eq(shmring_timed_push(q.p, m, 0), -1);
		cr_expect_eq(errno, EBUSY);
		errno = 0;
		cr_expect_eq(shmring_reserve(q.p, 1, &first, &stride), -1);
		cr_expect_eq(errno, EBUSY);
		errno = 0;
		cr_expect_eq(shmring_wait(q.p, 0), -1);
		cr_expect_eq(errno, EBUSY);
		errno = 0;
		cr_expect_eq(shmring_commit(q.p, 4), -1, "more than was reserved");
		cr_expect_eq(errno, EINVAL);
		cr_expect_eq(shmring_commit(q.p, 0), 0, "all given back");
		cr_expect(shmring_empty(q.c));
		cr_expect_eq(produce(q.p, 2, -1, &in), 2);
		/* The same for a peek. */
		cr_assert_eq(shmring_peek(q.c, 8, &first, &stride), 2);
		errno = 0;
		cr_expect_eq(shmring_try_pop(q.c, m), -1);
		cr_expect_eq(errno, EBUSY);
		errno = 0;
		cr_expect_eq(shmring_pop_burst(q.c, m, 1), -1);
		cr_expect_eq(errno, EBUSY);
		errno = 0;
		cr_expect_eq(shmring_peek(q.c, 1, &first, &stride), -1);
		cr_expect_eq(errno, EBUSY);
		errno = 0;
		cr_expect_eq(shmring_release(q.c, 3), -1, "more than was peeked");
		cr_expect_eq(errno, EINVAL);
		cr_expect_eq(shmring_release(q.c, 2), 0);
		cr_expect(shmring_empty(q.c));
		/* Closing with a borrow out gives it back. */
		cr_assert_eq(shmring_reserve(q.p, 2, &first, &stride), 2);
		close_pair(q, name);
	}
}

Test(zerocopy, elements_lie_in_the_ring_and_positions_count_from_zero)
{
	for (size_t i = 0; i < 3; i++) {
		TEST_NAME(name, "zcpos");
		struct pair q = open_pair(policies[i], name, 6);
		struct shmring_info info = { .sz = sizeof(info) };
		size_t stride, stride2;
		void *first, *first2;
		uint64_t in = 0, out = 0;
		ptrdiff_t apart = 0;

		cr_assert_eq(shmring_stat(name, &info), 0);
		cr_expect_neq(info.instance, 0);
		for (uint64_t round = 0; round < 20; round++) {
			cr_assert_eq(shmring_reserve(q.p, 1, &first, &stride), 1);
			cr_expect_eq(shmring_position(q.p), round);
			msg_fill(first, ELEM, 1, in++);
			cr_assert_eq(shmring_commit(q.p, 1), 0);
			cr_assert_eq(shmring_peek(q.c, 1, &first2, &stride2), 1);
			cr_expect_eq(shmring_position(q.c), round);
			/* The same slot: the two handles map the segment at two
			 * addresses, a constant distance apart. */
			if (round == 0)
				apart = (char *)first2 - (char *)first;
			cr_expect_eq((char *)first2 - (char *)first, apart, "round %llu",
				     (unsigned long long)round);
			cr_expect_eq(stride2, stride);
			cr_assert_eq(shmring_release(q.c, 1), 0);
			out++;
		}
		cr_expect_eq(in, out);
		close_pair(q, name);
	}
}

/* shmring_wait: returns when a try would succeed, times out otherwise. */
static int push_later(void *a)
{
	struct shmring *p = shmring_producer(SHMRING_MPMC, a, ELEM, 4, NULL);
	unsigned char m[ELEM] = { 3 };

	usleep(100 * 1000);
	return p && shmring_push(p, m) == 0 ? 0 : 1;
}

Test(zerocopy, wait_returns_when_a_try_can_succeed)
{
	TEST_NAME(name, "zcwait");
	struct shmring *c = shmring_consumer(SHMRING_MPMC, name, ELEM, 4, NULL);
	unsigned char m[ELEM];
	uint64_t t0 = now_ns();
	pid_t kid;

	cr_assert_not_null(c);
	errno = 0;
	cr_expect_eq(shmring_wait(c, 50 * 1000000ull), -1);
	cr_expect_eq(errno, ETIMEDOUT);
	cr_expect_geq(now_ns() - t0, 50 * 1000000ull);
	kid = fork_child(push_later, (void *)name);
	while (shmring_try_pop(c, m))
		cr_assert_eq(shmring_wait(c, UINT64_MAX), 0, "%s", strerror(errno));
	cr_expect_eq(m[0], 3);
	cr_expect_eq(wait_child(kid), 0);
	shmring_close(c);
	shmring_unlink(name);
}

/* Across processes: zero-copy producers and consumers mixed with copying
 * ones, every message checked (sequence per producer, checksum, no loss, no
 * duplicate). */
#define ZC_PER_PRODUCER 200000

struct zc_run {
	enum shmring_policy policy;
	const char *name;
	_Atomic uint64_t received, errors;
	_Atomic uint64_t bits[]; /* producers * ZC_PER_PRODUCER */
};

static int zc_producer(struct zc_run *run, uint32_t id)
{
	struct shmring *p = shmring_producer(run->policy, run->name, ELEM, 64, NULL);
	uint64_t seq = 0, rnd = id + 1;

	if (!p)
		return 1;
	while (seq < ZC_PER_PRODUCER) {
		size_t stride, want = 1 + (rnd = msg_mix(rnd)) % 8;
		void *first;
		ssize_t m;

		if (want > ZC_PER_PRODUCER - seq)
			want = ZC_PER_PRODUCER - seq;
		m = shmring_reserve(p, want, &first, &stride);
		if (m < 0)
			return 2;
		if (m == 0) {
			if (shmring_wait(p, 1000000000ull) && errno != ETIMEDOUT)
				return 3;
			continue;
		}
		size_t k = 1 + (size_t)(rnd >> 16) % (size_t)m; /* publish k of m */

		for (size_t i = 0; i < k; i++)
			msg_fill((unsigned char *)first + i * stride, ELEM, id, seq + i);
		if (shmring_commit(p, k))
			return 4;
		seq += k;
	}
	shmring_close(p);
	return 0;
}

static int zc_consumer(struct zc_run *run, uint64_t total, uint64_t nprod)
{
	struct shmring *c = shmring_consumer(run->policy, run->name, ELEM, 64, NULL);
	uint64_t last[4] = { 0 }, rnd = 99;
	bool any[4] = { false };

	if (!c)
		return 1;
	while (atomic_load(&run->received) < total) {
		size_t stride, want = 1 + (rnd = msg_mix(rnd)) % 8;
		void *first;
		ssize_t m = shmring_peek(c, want, &first, &stride);

		if (m < 0) {
			fprintf(stderr, "peek: %s\n", strerror(errno));
			return 2;
		}
		if (m == 0) {
			if (shmring_wait(c, 20 * 1000000ull) && errno != ETIMEDOUT)
				return 3;
			continue;
		}
		size_t k = (size_t)(rnd >> 16) % ((size_t)m + 1); /* release k of m */

		for (size_t i = 0; i < k; i++) {
			uint32_t id;
			uint64_t seq, bit;

			if (msg_check((unsigned char *)first + i * stride, ELEM, &id,
				      &seq) ||
			    id >= nprod || seq >= ZC_PER_PRODUCER ||
			    (run->policy != SHMRING_MPMC && any[id] &&
			     seq != last[id] + 1)) {
				atomic_fetch_add(&run->errors, 1);
				continue;
			}
			any[id] = true;
			last[id] = seq;
			bit = id * ZC_PER_PRODUCER + seq;
			if (atomic_fetch_or(&run->bits[bit / 64], 1ull << (bit % 64)) &
			    (1ull << (bit % 64)))
				atomic_fetch_add(&run->errors, 1);
			atomic_fetch_add(&run->received, 1);
		}
		if (shmring_release(c, k))
			return 4;
	}
	shmring_close(c);
	return 0;
}

static void zc_stress(enum shmring_policy policy, uint32_t nprod, uint32_t ncons)
{
	TEST_NAME(name, "zcstress");
	const uint64_t total = (uint64_t)nprod * ZC_PER_PRODUCER;
	size_t len = sizeof(struct zc_run) + (total / 64 + 1) * sizeof(uint64_t);
	struct zc_run *run = mmap(NULL, len, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t kids[8];
	uint32_t n = 0;

	cr_assert_neq(run, MAP_FAILED);
	run->policy = policy;
	run->name = name;
	for (uint32_t i = 0; i < ncons; i++, n++)
		if ((kids[n] = test_fork()) == 0)
			_exit(zc_consumer(run, total, nprod));
	for (uint32_t i = 0; i < nprod; i++, n++)
		if ((kids[n] = test_fork()) == 0)
			_exit(zc_producer(run, i));
	for (uint32_t i = 0; i < n; i++)
		cr_expect_eq(wait_child(kids[i]), 0, "child %u", i);
	cr_expect_eq(atomic_load(&run->errors), 0);
	cr_expect_eq(atomic_load(&run->received), total);
	for (uint64_t b = 0; b < total; b++)
		if (!(atomic_load(&run->bits[b / 64]) & (1ull << (b % 64))))
			cr_assert_fail("lost: producer %llu seq %llu",
				       (unsigned long long)(b / ZC_PER_PRODUCER),
				       (unsigned long long)(b % ZC_PER_PRODUCER));
	munmap(run, len);
	shmring_unlink(name);
}

Test(zerocopy, spsc_processes_every_message_checked, .timeout = 120)
{
	zc_stress(SHMRING_SPSC, 1, 1);
}

Test(zerocopy, mpsc_processes_every_message_checked, .timeout = 120)
{
	zc_stress(SHMRING_MPSC, 3, 1);
}

Test(zerocopy, mpmc_processes_every_message_checked, .timeout = 120)
{
	zc_stress(SHMRING_MPMC, 2, 2);
}

/* Reservations given back serve the next lap at once, so producers can run
 * laps ahead of an idle consumer; its walk to the next element is cut into
 * bounded pieces (mp.h). Neither a try call nor a wait may answer "empty"
 * with an element ready (found by the fuzz harness: fuzz/crashes/). */
Test(zerocopy, producers_laps_ahead_over_given_back_slots_are_followed)
{
	for (size_t i = 1; i < 3; i++) {
		for (int laps = 1; laps <= 100; laps *= 10) {
			SHMRING_OPTS(o, .spin_ns = -1);
			struct shmring_mem *mem =
				shmring_mem_local(shmring_memsize(policies[i], 8, 2));
			struct shmring *p, *c;
			char e[8] = "element", got[8];
			size_t stride;
			void *first;

			cr_assert_not_null(mem);
			p = shmring_attach(mem, 0, policies[i], SHMRING_PRODUCER, 8, 2,
					   &o);
			c = shmring_attach(mem, 0, policies[i], SHMRING_CONSUMER, 8, 2,
					   &o);
			cr_assert(p && c);
			for (int k = 0; k < laps; k++) {
				cr_assert_eq(shmring_reserve(p, 2, &first, &stride), 2);
				cr_assert_eq(shmring_commit(p, 0), 0);
			}
			cr_assert_eq(shmring_try_push(p, e), 0);
			cr_expect_eq(shmring_pending(c), 1, "%s, %d laps",
				     policy_names[policies[i]], laps);
			if (laps == 100)
				cr_expect_eq(shmring_timed_pop(c, got, 1000000000ull), 0,
					     "%s: slept on a ready element",
					     policy_names[policies[i]]);
			else
				cr_expect_eq(shmring_try_pop(c, got), 0,
					     "%s, %d laps: EAGAIN with an element ready",
					     policy_names[policies[i]], laps);
			cr_expect_str_eq(got, "element");
			shmring_close(p);
			shmring_close(c);
			shmring_mem_close(mem);
		}
	}
}
