// SPDX-License-Identifier: MIT
/*
 * Dead claimers (issue 9, defect 5): a producer that dies between claiming
 * a slot and publishing it, an MPMC consumer between taking a slot and
 * freeing it, a process that dies holding a reservation or a peek. The ring
 * is repaired within a bounded time (src/repair.c), nothing a live producer
 * sent is lost, the abandoned slot is never delivered, a claimer that is
 * alive but stopped is waited for, never repaired.
 *
 * Deaths mid-copy are made deterministic with a caller buffer whose second
 * page is PROT_NONE: the library's copy faults half-way (SIGSEGV).
 */
#include "harness.h"
#include "msg.h"
#include "procutil.h"

#include <sys/mman.h>

#define BIG	  8192 /* an element two pages long */
#define RECOVER_S 2    /* the bound the tests hold repairs to */

/* A buffer whose first page is readable and writable and whose second is
 * not: a copy of BIG bytes to or from it dies half-way, of SIGSEGV (also
 * under AddressSanitizer, whose SEGV handler would exit instead). */
static unsigned char *half_buffer(void)
{
	struct h_guard g = h_guard_new(4096, BIG);

	h_die_of_segv_plainly();
	memset(g.base, 0xab, g.len);
	return g.base;
}

struct dying {
	enum shmring_policy policy;
	const char *name;
	size_t cap;
};

static int push_and_fault(void *a)
{
	struct dying *d = a;
	struct shmring *r = shmring_producer(d->policy, d->name, BIG, d->cap, NULL);

	if (!r)
		return 1;
	shmring_push(r, half_buffer()); /* dies in the copy */
	return 2;
}

static int pop_and_fault(void *a)
{
	struct dying *d = a;
	struct shmring *r = shmring_consumer(d->policy, d->name, BIG, d->cap, NULL);

	if (!r)
		return 1;
	shmring_pop(r, half_buffer());
	return 2;
}

static void push_msgs(struct shmring *p, uint32_t id, uint64_t from, uint64_t n)
{
	static unsigned char m[BIG];

	for (uint64_t i = from; i < from + n; i++) {
		msg_fill(m, BIG, id, i);
		cr_assert_eq(shmring_timed_push(p, m, RECOVER_S * 1000000000ull), 0,
			     "push %llu: %s", (unsigned long long)i, strerror(errno));
	}
}

/* Pops one message within the repair bound and returns its (id, seq). */
static uint64_t pop_msg(struct shmring *c, uint32_t *id)
{
	static unsigned char m[BIG];
	uint64_t seq;

	cr_assert_eq(shmring_timed_pop(c, m, RECOVER_S * 1000000000ull), 0,
		     "pop: %s (the ring is wedged)", strerror(errno));
	cr_assert_eq(msg_check(m, BIG, id, &seq), 0, "a torn or abandoned element");
	return seq;
}

static uint64_t abandoned(const char *name)
{
	struct shmring_info info = { .sz = sizeof(info) };

	cr_assert_eq(shmring_stat(name, &info), 0);
	return info.abandoned;
}

/* A producer dies mid-copy between messages of a live producer: the
 * consumer gets every live message in order, within the bound. */
static void producer_dies_mid_copy(enum shmring_policy policy)
{
	TEST_NAME(name, "pdie");
	struct dying d = { policy, name, 8 };
	struct shmring *c = shmring_consumer(policy, name, BIG, d.cap, NULL);
	struct shmring *p = shmring_producer(policy, name, BIG, d.cap, NULL);
	uint64_t t0;
	uint32_t id;

	cr_assert(c && p);
	push_msgs(p, 1, 0, 3);
	cr_expect_eq(wait_child(fork_child(push_and_fault, &d)), 128 + SIGSEGV);
	t0 = now_ns();
	push_msgs(p, 1, 3, 3);
	for (uint64_t i = 0; i < 6; i++) {
		cr_expect_eq(pop_msg(c, &id), i);
		cr_expect_eq(id, 1);
	}
	cr_expect_lt(now_ns() - t0, RECOVER_S * 1000000000ull);
	cr_expect_eq(abandoned(name), 1);
	/* Consistent state: empty, and room for exactly capacity. */
	cr_expect(shmring_empty(c));
	cr_expect_eq(shmring_available(p), d.cap);
	push_msgs(p, 1, 6, d.cap);
	cr_expect(shmring_full(c));
	shmring_close(p);
	shmring_close(c);
	shmring_unlink(name);
}

Test(repair, mpsc_producer_dead_mid_copy)
{
	producer_dies_mid_copy(SHMRING_MPSC);
}

Test(repair, mpmc_producer_dead_mid_copy)
{
	producer_dies_mid_copy(SHMRING_MPMC);
}

Test(repair, mpmc_consumer_dead_mid_copy_gives_the_element_back)
{
	TEST_NAME(name, "cdie");
	struct dying d = { SHMRING_MPMC, name, 4 };
	struct shmring *p = shmring_producer(SHMRING_MPMC, name, BIG, d.cap, NULL);
	struct shmring *c;
	uint64_t seen = 0;
	uint32_t id;

	cr_assert_not_null(p);
	push_msgs(p, 2, 0, d.cap); /* full */
	cr_expect_eq(wait_child(fork_child(pop_and_fault, &d)), 128 + SIGSEGV);
	c = shmring_consumer(SHMRING_MPMC, name, BIG, d.cap, NULL);
	cr_assert_not_null(c);
	/* Every element arrives once, the dead consumer's included. */
	for (uint64_t i = 0; i < d.cap; i++) {
		uint64_t s = pop_msg(c, &id);

		cr_expect_eq(id, 2);
		cr_expect_eq(seen & (1ull << s), 0, "duplicate %llu",
			     (unsigned long long)s);
		seen |= 1ull << s;
	}
	cr_expect_eq(seen, (1ull << d.cap) - 1);
	cr_expect_eq(abandoned(name), 1);
	cr_expect(shmring_empty(c));
	cr_expect_eq(shmring_available(p), d.cap);
	push_msgs(p, 2, d.cap, d.cap);
	cr_expect(shmring_full(p));
	shmring_close(c);
	shmring_close(p);
	shmring_unlink(name);
}

/* ---- zero-copy borrowers that die --------------------------------------------- */

struct borrow {
	enum shmring_policy policy;
	const char *name;
	size_t n;
};

static int reserve_and_die(void *a)
{
	struct borrow *b = a;
	struct shmring *r = shmring_producer(b->policy, b->name, BIG, 8, NULL);
	size_t stride;
	void *first;

	if (!r || shmring_reserve(r, b->n, &first, &stride) != (ssize_t)b->n)
		return 1;
	memset(first, 0xee, 64); /* half-written */
	_exit(0);
}

static int peek_and_die(void *a)
{
	struct borrow *b = a;
	struct shmring *r = shmring_consumer(b->policy, b->name, BIG, 8, NULL);
	size_t stride;
	void *first;

	if (!r || shmring_peek(r, b->n, &first, &stride) != (ssize_t)b->n)
		return 1;
	_exit(0);
}

static void reservation_dies(enum shmring_policy policy)
{
	TEST_NAME(name, "resdie");
	struct borrow b = { policy, name, 3 };
	struct shmring *c = shmring_consumer(policy, name, BIG, 8, NULL);
	struct shmring *p = shmring_producer(policy, name, BIG, 8, NULL);
	uint32_t id;

	cr_assert(c && p);
	push_msgs(p, 3, 0, 2);
	if (policy == SHMRING_SPSC)
		shmring_close(p); /* the role is the dying child's for a while */
	cr_expect_eq(wait_child(fork_child(reserve_and_die, &b)), 0);
	if (policy == SHMRING_SPSC)
		p = shmring_producer(policy, name, BIG, 8, NULL);
	cr_assert_not_null(p);
	push_msgs(p, 3, 2, 3);
	for (uint64_t i = 0; i < 5; i++)
		cr_expect_eq(pop_msg(c, &id), i);
	cr_expect_eq(abandoned(name), policy == SHMRING_SPSC ? 0 : 3);
	cr_expect(shmring_empty(c));
	shmring_close(p);
	shmring_close(c);
	shmring_unlink(name);
}

Test(repair, spsc_reservation_of_a_dead_producer_is_not_published)
{
	reservation_dies(SHMRING_SPSC);
}

Test(repair, mpsc_reservation_of_a_dead_producer_is_repaired)
{
	reservation_dies(SHMRING_MPSC);
}

Test(repair, mpmc_reservation_of_a_dead_producer_is_repaired)
{
	reservation_dies(SHMRING_MPMC);
}

static void peek_dies(enum shmring_policy policy)
{
	TEST_NAME(name, "peekdie");
	struct borrow b = { policy, name, 3 };
	struct shmring *p = shmring_producer(policy, name, BIG, 8, NULL);
	struct shmring *c;
	uint64_t seen = 0;
	uint32_t id;

	cr_assert_not_null(p);
	push_msgs(p, 4, 0, 5);
	cr_expect_eq(wait_child(fork_child(peek_and_die, &b)), 0);
	c = shmring_consumer(policy, name, BIG, 8, NULL);
	cr_assert_not_null(c, "%s", strerror(errno));
	/* The peeked elements are delivered again: nothing lost. */
	for (uint64_t i = 0; i < 5; i++) {
		uint64_t s = pop_msg(c, &id);

		if (policy != SHMRING_MPMC)
			cr_expect_eq(s, i, "FIFO");
		seen |= 1ull << s;
	}
	cr_expect_eq(seen, 0x1f);
	cr_expect_eq(abandoned(name), policy == SHMRING_MPMC ? 3 : 0);
	shmring_close(c);
	shmring_close(p);
	shmring_unlink(name);
}

Test(repair, spsc_peek_of_a_dead_consumer_is_delivered_again)
{
	peek_dies(SHMRING_SPSC);
}

Test(repair, mpsc_peek_of_a_dead_consumer_is_delivered_again)
{
	peek_dies(SHMRING_MPSC);
}

Test(repair, mpmc_peek_of_a_dead_consumer_is_delivered_again)
{
	peek_dies(SHMRING_MPMC);
}

/* ---- alive but slow ------------------------------------------------------------ */

static int reserve_stop_commit(void *a)
{
	struct borrow *b = a;
	struct shmring *r = shmring_producer(b->policy, b->name, BIG, 8, NULL);
	size_t stride;
	void *first;

	if (!r || shmring_reserve(r, 1, &first, &stride) != 1)
		return 1;
	raise(SIGSTOP); /* stopped, holding the claim */
	msg_fill(first, BIG, 5, 0);
	return shmring_commit(r, 1) ? 2 : 0;
}

Test(repair, a_stopped_claimer_is_waited_for_not_repaired, .timeout = 30)
{
	TEST_NAME(name, "stopped");
	struct borrow b = { SHMRING_MPSC, name, 1 };
	struct shmring *c = shmring_consumer(SHMRING_MPSC, name, BIG, 8, NULL);
	struct shmring *p = shmring_producer(SHMRING_MPSC, name, BIG, 8, NULL);
	static unsigned char m[BIG];
	pid_t kid;
	int st;
	uint32_t id;

	cr_assert(c && p);
	kid = fork_child(reserve_stop_commit, &b);
	cr_assert_eq(waitpid(kid, &st, WUNTRACED), kid);
	cr_assert(WIFSTOPPED(st));
	push_msgs(p, 6, 0, 2);
	/* Behind a live claim: nothing for longer than any repair bound. */
	cr_expect_eq(shmring_timed_pop(c, m, 300 * 1000000ull), -1);
	cr_expect_eq(errno, ETIMEDOUT);
	cr_expect_eq(abandoned(name), 0, "a live claimer was repaired");
	kill(kid, SIGCONT);
	cr_expect_eq(pop_msg(c, &id), 0);
	cr_expect_eq(id, 5, "the stopped claimer's element comes first");
	cr_expect_eq(pop_msg(c, &id), 0);
	cr_expect_eq(id, 6);
	cr_expect_eq(pop_msg(c, &id), 1);
	cr_expect_eq(wait_child(kid), 0);
	cr_expect_eq(abandoned(name), 0);
	shmring_close(p);
	shmring_close(c);
	shmring_unlink(name);
}

/* ---- who repairs, and how they wait ----------------------------------------------- */

/* Producers beyond the registry's 15 entries are repaired too. */
static int open_and_hold(void *a)
{
	struct shmring *r = shmring_producer(SHMRING_MPMC, a, BIG, 8, NULL);

	if (!r)
		return 1;
	for (;;)
		pause();
}

Test(repair, claimers_beyond_the_registry_are_repaired, .timeout = 60)
{
	TEST_NAME(name, "many");
	struct dying d = { SHMRING_MPMC, name, 8 };
	struct shmring *c = shmring_consumer(SHMRING_MPMC, name, BIG, 8, NULL);
	struct shmring *p = shmring_producer(SHMRING_MPMC, name, BIG, 8, NULL);
	struct shmring_info info = { .sz = sizeof(info) };
	pid_t held[20];
	uint32_t id;

	cr_assert(c && p);
	for (int i = 0; i < 20; i++)
		held[i] = fork_child(open_and_hold, (void *)name);
	for (int i = 0; i < 2000; i++) {
		cr_assert_eq(shmring_stat(name, &info), 0);
		if (info.nproducers + info.producers_extra >= 21)
			break;
		usleep(1000);
	}
	cr_expect_eq(info.nproducers, 15);
	cr_expect_eq(info.producers_extra, 6, "live holders beyond the table");
	cr_expect_eq(wait_child(fork_child(push_and_fault, &d)), 128 + SIGSEGV);
	push_msgs(p, 7, 0, 2);
	cr_expect_eq(pop_msg(c, &id), 0);
	cr_expect_eq(pop_msg(c, &id), 1);
	cr_expect_eq(abandoned(name), 1);
	for (int i = 0; i < 20; i++) {
		kill(held[i], SIGKILL);
		wait_child(held[i]);
	}
	shmring_close(p);
	shmring_close(c);
	shmring_unlink(name);
}

/* Nobody waits when the claimer dies; a consumer started later repairs. */
Test(repair, a_consumer_started_after_the_death_repairs)
{
	TEST_NAME(name, "later");
	struct dying d = { SHMRING_MPSC, name, 8 };
	struct shmring *p = shmring_producer(SHMRING_MPSC, name, BIG, 8, NULL);
	struct shmring *c;
	uint32_t id;

	cr_assert_not_null(p);
	cr_expect_eq(wait_child(fork_child(push_and_fault, &d)), 128 + SIGSEGV);
	push_msgs(p, 8, 0, 3);
	c = shmring_consumer(SHMRING_MPSC, name, BIG, 8, NULL);
	cr_assert_not_null(c);
	for (uint64_t i = 0; i < 3; i++)
		cr_expect_eq(pop_msg(c, &id), i);
	shmring_close(c);
	shmring_close(p);
	shmring_unlink(name);
}

/* A consumer blocked (no timeout) or polling its fd behind the claim when
 * the claimer dies is not left waiting. */
struct waiter {
	const char *name;
	int how; /* 0: shmring_pop, 1: fd uring, 2: fd thread, 3: shmring_wait */
};

static int wait_behind_claim(void *a)
{
	struct waiter *w = a;
	SHMRING_OPTS(o, .fd_backend = w->how == 1 ? SHMRING_FD_URING : SHMRING_FD_THREAD);
	struct shmring *c = shmring_consumer(SHMRING_MPSC, w->name, BIG, 8, &o);
	static unsigned char m[BIG];
	uint32_t id;
	uint64_t seq;

	if (!c)
		return 1;
	if (w->how == 0) {
		if (shmring_pop(c, m))
			return 2;
	} else if (w->how == 3) {
		while (shmring_try_pop(c, m))
			if (shmring_wait(c, UINT64_MAX))
				return 3;
	} else {
		int fd = shmring_fd(c);

		if (fd < 0)
			return errno == ENOTSUP ? 77 : 4;
		while (shmring_try_pop(c, m)) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			if (errno != EAGAIN || poll(&pfd, 1, -1) < 0)
				return 5;
		}
	}
	return msg_check(m, BIG, &id, &seq) || id != 9 || seq != 0 ? 6 : 0;
}

static void waiter_is_unblocked(int how)
{
	TEST_NAME(name, "blocked");
	struct dying d = { SHMRING_MPSC, name, 8 };
	struct waiter w = { name, how };
	struct shmring *p = shmring_producer(SHMRING_MPSC, name, BIG, 8, NULL);
	pid_t waiter, dier;
	int rc;

	cr_assert_not_null(p);
	/* The dying producer claims first; the live one publishes behind it;
	 * then the consumer starts waiting behind the claim. */
	dier = fork_child(push_and_fault, &d);
	cr_expect_eq(wait_child(dier), 128 + SIGSEGV);
	waiter = fork_child(wait_behind_claim, &w);
	/* Blocked behind the claim before the live publish: asleep (pop,
	 * wait), or at least holding the consumer role (fds) and then some. */
	for (int i = 0; i < 5000; i++) {
		struct shmring_info info = { .sz = sizeof(info) };

		cr_assert_eq(shmring_stat(name, &info), 0);
		if (info.consumers_waiting ||
		    (how != 0 && how != 3 && info.nconsumers && info.consumers[0].alive))
			break;
		usleep(1000);
	}
	usleep(20 * 1000);
	push_msgs(p, 9, 0, 1);
	rc = wait_child(waiter);
	shmring_close(p);
	shmring_unlink(name);
	if (rc == 77)
		cr_skip_test("backend missing");
	cr_expect_eq(rc, 0);
}

Test(repair, a_blocked_pop_behind_a_dead_claim_returns, .timeout = 30)
{
	waiter_is_unblocked(0);
}

Test(repair, a_uring_fd_behind_a_dead_claim_turns_readable, .timeout = 30)
{
	waiter_is_unblocked(1);
}

Test(repair, a_thread_fd_behind_a_dead_claim_turns_readable, .timeout = 30)
{
	waiter_is_unblocked(2);
}

Test(repair, shmring_wait_behind_a_dead_claim_returns, .timeout = 30)
{
	waiter_is_unblocked(3);
}
