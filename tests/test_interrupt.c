// SPDX-License-Identifier: MIT
/*
 * Ending blocking calls for shutdown (issue 11): shmring_cancel from a signal
 * handler, SHMRING_F_EINTR, and the default (blocking calls restart after a
 * signal).
 */
#include "procutil.h"

#define ELEM 16

static struct shmring *blocked_ring;

static void cancel_handler(int sig)
{
	(void)sig;
	shmring_cancel(blocked_ring); /* async-signal-safe */
}

static void nothing_handler(int sig)
{
	(void)sig;
}

/* Installs HANDLER for SIG without SA_RESTART. */
static int handle(int sig, void (*handler)(int))
{
	struct sigaction sa = { .sa_handler = handler };

	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

/* Waits until the consumer of NAME sleeps. */
static void until_asleep(const char *name)
{
	struct shmring_info info = { .sz = sizeof(info) };

	for (int i = 0; i < 5000; i++) {
		if (shmring_stat(name, &info) == 0 && info.consumers_waiting)
			return;
		usleep(1000);
	}
	cr_assert_fail("the consumer never slept");
}

static int pop_until_cancelled(void *a)
{
	SHMRING_OPTS(o, .spin_ns = -1);
	unsigned char m[ELEM];
	uint64_t t0;

	blocked_ring = shmring_consumer(SHMRING_MPSC, a, ELEM, 8, &o);
	if (!blocked_ring || handle(SIGTERM, cancel_handler))
		return 1;
	if (shmring_pop(blocked_ring, m) != -1 || errno != ECANCELED)
		return 2;
	/* Sticky: later blocking calls end at once, try calls still work. */
	t0 = now_ns();
	if (shmring_timed_pop(blocked_ring, m, 5000000000ull) != -1 || errno != ECANCELED)
		return 3;
	if (shmring_wait(blocked_ring, UINT64_MAX) != -1 || errno != ECANCELED)
		return 4;
	if (now_ns() - t0 > 1000000000ull)
		return 5;
	if (shmring_try_pop(blocked_ring, m) != -1 || errno != EAGAIN)
		return 6;
	shmring_close(blocked_ring);
	return 0;
}

Test(interrupt, shmring_cancel_from_a_signal_handler_ends_a_blocked_pop)
{
	TEST_NAME(name, "cancel");
	struct shmring *p = shmring_producer(SHMRING_MPSC, name, ELEM, 8, NULL);
	pid_t kid;

	cr_assert_not_null(p);
	kid = fork_child(pop_until_cancelled, (void *)name);
	until_asleep(name);
	kill(kid, SIGTERM);
	cr_expect_eq(wait_child(kid), 0);
	shmring_close(p);
	shmring_unlink(name);
}

/* Cancel and the push race: the pop returns either the element or
 * ECANCELED, never sleeps on. */
static int pop_racing_cancel(void *a)
{
	unsigned char m[ELEM];
	sigset_t term;

	/* The parent signals once stat shows our role taken, which is before
	 * shmring_consumer returns: SIGTERM waits until blocked_ring is set
	 * (a handler that cancelled NULL would leave the pop asleep). */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	if (handle(SIGTERM, cancel_handler) || sigprocmask(SIG_BLOCK, &term, NULL))
		return 1;
	blocked_ring = shmring_consumer(SHMRING_SPSC, a, ELEM, 8, NULL);
	if (!blocked_ring || sigprocmask(SIG_UNBLOCK, &term, NULL))
		return 1;
	for (;;) {
		if (shmring_pop(blocked_ring, m) == -1)
			return errno == ECANCELED ? 0 : 2;
	}
}

Test(interrupt, a_cancel_racing_pushes_is_never_slept_through, .timeout = 60)
{
	for (int round = 0; round < 100; round++) {
		TEST_NAME(name, "cancelrace");
		struct shmring *p = shmring_producer(SHMRING_SPSC, name, ELEM, 8, NULL);
		unsigned char m[ELEM] = { 0 };
		pid_t kid;

		cr_assert_not_null(p);
		struct shmring_info info = { .sz = sizeof(info) };

		kid = fork_child(pop_racing_cancel, (void *)name);
		while (shmring_stat(name, &info) || !info.nconsumers ||
		       !info.consumers[0].alive)
			usleep(100); /* its handler is in place before it opens */
		for (int i = 0; i < round * 10; i++)
			shmring_try_push(p, m);
		usleep((useconds_t)(round % 7) * 100);
		kill(kid, SIGTERM);
		cr_assert_eq(wait_child(kid), 0, "round %d", round);
		shmring_close(p);
		shmring_unlink(name);
	}
}

static int pop_with_eintr(void *a)
{
	SHMRING_OPTS(o, .flags = SHMRING_F_EINTR, .spin_ns = -1);
	struct shmring *c = shmring_consumer(SHMRING_MPMC, a, ELEM, 8, &o);
	unsigned char m[ELEM];

	if (!c || handle(SIGUSR1, nothing_handler))
		return 1;
	if (shmring_pop(c, m) != -1 || errno != EINTR)
		return 2;
	return 0;
}

Test(interrupt, with_shmring_f_eintr_a_signal_ends_the_sleep_with_eintr)
{
	TEST_NAME(name, "eintr");
	struct shmring *p = shmring_producer(SHMRING_MPMC, name, ELEM, 8, NULL);
	pid_t kid;

	cr_assert_not_null(p);
	kid = fork_child(pop_with_eintr, (void *)name);
	until_asleep(name);
	kill(kid, SIGUSR1);
	cr_expect_eq(wait_child(kid), 0);
	shmring_close(p);
	shmring_unlink(name);
}

static int pop_through_signals(void *a)
{
	SHMRING_OPTS(o, .spin_ns = -1);
	struct shmring *c = shmring_consumer(SHMRING_MPMC, a, ELEM, 8, &o);
	unsigned char m[ELEM];

	if (!c || handle(SIGUSR1, nothing_handler))
		return 1;
	if (shmring_pop(c, m) || m[0] != 42)
		return 2;
	return 0;
}

Test(interrupt, by_default_blocking_calls_restart_after_a_signal)
{
	TEST_NAME(name, "restart");
	struct shmring *p = shmring_producer(SHMRING_MPMC, name, ELEM, 8, NULL);
	unsigned char m[ELEM] = { 42 };
	pid_t kid;

	cr_assert_not_null(p);
	kid = fork_child(pop_through_signals, (void *)name);
	until_asleep(name);
	for (int i = 0; i < 5; i++) {
		kill(kid, SIGUSR1);
		usleep(20 * 1000);
	}
	cr_expect_eq(kill(kid, 0), 0, "the pop ended on a signal");
	cr_assert_eq(shmring_push(p, m), 0);
	cr_expect_eq(wait_child(kid), 0);
	shmring_close(p);
	shmring_unlink(name);
}
