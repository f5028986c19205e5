// SPDX-License-Identifier: MIT
/*
 * Sleeping waits: a futex eventcount per direction in the shared header.
 *
 * The protocol. ec->seq is a 32-bit futex word; bit 0 means "a waiter has
 * announced itself", the other bits count wakeups.
 *
 *   waiter (shmring__wait_op)              publisher (shmring__ec_signal)
 *   W1 old = fetch_or(&seq, 1)             P1 publish (store head / slot seq)
 *   W2 full fence                          P2 full fence
 *   W3 retry the operation (reads P1)      P3 v = load(seq)
 *   W4 futex_wait(&seq, old | 1)           P4 if (v & 1) CAS(seq: v -> v + 1),
 *                                             then futex_wake(&seq, all)
 *
 * No lost wakeup: W1-W2-W3 and P1-P2-P3 are the two halves of Dekker's
 * pattern. With a full fence between each side's store and load, it cannot
 * be that both loads miss the other side's store: either W3 sees P1 (the
 * waiter takes the element or slot and never sleeps), or P3 sees bit 0 set by
 * W1 (or by a later W1: its value comes after ours in seq's modification
 * order) and the publisher clears it with the CAS and wakes. The CAS changes
 * seq from the value W4 expects, so a waiter that has not yet reached the
 * kernel returns at once (EAGAIN), and one already queued on the futex is
 * woken: the kernel compares *seq with the expected value under the futex
 * bucket lock, so there is no window between the compare and the sleep.
 * If P3 read seq before W1's fetch_or, the fences order P1 before W3.
 *
 * Asymmetric barrier. A fence on every publish costs more than the rest of
 * an SPSC push (measured: 2.5x the single-element throughput without it). A
 * process registered with membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED)
 * therefore publishes with only a compiler barrier as P2, and its waiters use
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) as W2: it runs a full barrier
 * on every CPU that runs a registered process (a process not running has
 * been through one at its context switch). If P3 ran before that barrier,
 * the barrier also drained P1 before membarrier returned, so W3 sees P1; if
 * P3 ran after it, W1 (complete before the syscall) is what P3 reads.
 * Processes that cannot register publish with a fence. Any process may issue
 * the barrier, registered or not, so waiters always do when the kernel has
 * it; a waiter that cannot (a seccomp filter) while some publisher of the
 * ring skips its fence (hdr->fenceless_publishers, read after W2) sleeps in
 * 1 ms slices -- blocking calls, pollable fds and shmring_arm alike -- so
 * the worst case is a late wakeup, never a lost one. SHMRING_BARRIER=fence
 * in the environment makes a process publish with fences; =none also stops
 * it issuing membarrier (tests run every combination).
 *
 * Cost: a publisher pays a (compiler or hardware) barrier and a load of a
 * line that only changes when a waiter announces itself; zero syscalls while
 * nobody sleeps. The CAS makes
 * one publisher pay for the wake; later ones find bit 0 clear until a waiter
 * sets it again. A waiter whose re-check (W3) succeeds leaves bit 0 set, which
 * costs the next publisher one futex_wake that wakes nobody.
 *
 * model/eventcount.pml checks this with spin on a TSO machine (the
 * publisher's store may pass its later load): no lost wakeup with the fence,
 * none with the waiter's membarrier, and spin finds one without either
 * (make model).
 *
 * Futexes are shared (no FUTEX_PRIVATE_FLAG): the word lives in memory mapped
 * by several processes. Deadlines are absolute CLOCK_MONOTONIC, so a wait
 * restarted after a signal (EINTR) keeps its original deadline.
 */
#include "ring.h"
#include "probes.h"

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

uint64_t shmring__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long sys_membarrier(int cmd)
{
	return syscall(SYS_membarrier, cmd, 0, 0);
}

/* What this process may do with membarrier, decided once per process (a
 * forked child that opens rings decides, and registers, for itself). */
struct barrier_caps {
	bool publish_fenceless; /* registered for GLOBAL_EXPEDITED barriers */
	bool can_issue;		/* may call membarrier(GLOBAL_EXPEDITED) as a waiter */
};

enum { CAPS_FENCELESS = 1, CAPS_ISSUE = 2, CAPS_SHIFT = 2 };

static struct barrier_caps barrier_caps(void)
{
	/* One word, (pid << CAPS_SHIFT) | flags, so that threads opening their
	 * first rings at once each read a whole decision or none: the one
	 * that loses the race computes the same answer (registering twice is
	 * harmless) and stores the same word. relaxed/release-acquire are
	 * enough: the word carries the decision itself, nothing else. */
	static _Atomic uint64_t caps_word;
	const char *env = getenv("SHMRING_BARRIER");
	uint64_t pid = (uint64_t)getpid(), w;
	unsigned int flags = 0;
	long cmds;

	w = atomic_load_explicit(&caps_word, memory_order_acquire);
	if (w >> CAPS_SHIFT != pid) {
		cmds = sys_membarrier(MEMBARRIER_CMD_QUERY);
		/* SHMRING_BARRIER=fence: publish with fences; =none: also act as
		 * if membarrier were blocked (a seccomp filter), for tests. Any
		 * process may issue GLOBAL_EXPEDITED, registered or not. */
		if (!(env && !strcmp(env, "none")) && cmds > 0 &&
		    (cmds & MEMBARRIER_CMD_GLOBAL_EXPEDITED))
			flags |= CAPS_ISSUE;
		if ((flags & CAPS_ISSUE) && !(env && !strcmp(env, "fence")) &&
		    (cmds & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) &&
		    sys_membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0)
			flags |= CAPS_FENCELESS;
		w = pid << CAPS_SHIFT | flags;
		atomic_store_explicit(&caps_word, w, memory_order_release);
	}
	return (struct barrier_caps){
		.publish_fenceless = w & CAPS_FENCELESS,
		.can_issue = w & CAPS_ISSUE,
	};
}

void shmring__barrier_setup(struct shmring *r)
{
	struct barrier_caps caps = barrier_caps();

	r->fenceless = caps.publish_fenceless;
	r->waiter_membarrier = caps.can_issue;
	if (r->fenceless) {
		/* seq_cst RMW then a full fence: a waiter that cannot issue
		 * membarrier and misses this flag (read after its W2) announced
		 * itself before it, so our later P3 loads see its W1. */
		atomic_fetch_or_explicit(&r->hdr->fenceless_publishers, 1,
					 memory_order_seq_cst);
		shmring__full_fence();
	}
}

/* W2: the waiter's half of the barrier pair (see the top of this file). */
static void waiter_barrier(struct shmring *r)
{
	if (r->waiter_membarrier &&
	    sys_membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0) {
		r->sliced = false;
		return;
	}
	shmring__full_fence();
	/* Read after the fence (see shmring__barrier_setup for the pairing). */
	r->sliced =
		atomic_load_explicit(&r->hdr->fenceless_publishers, memory_order_relaxed);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Sleeps while *WORD == EXPECTED, until DEADLINE (UINT64_MAX: forever).
 * Returns 0 when woken (or the value differed), -ETIMEDOUT, or -EINTR. */
int shmring__futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline)
{
	struct timespec ts, *tp = NULL;

	if (deadline != UINT64_MAX) {
		ts.tv_sec = (time_t)(deadline / 1000000000ull);
		ts.tv_nsec = (long)(deadline % 1000000000ull);
		tp = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
	if (syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, tp, NULL,
		    FUTEX_BITSET_MATCH_ANY) == 0)
		return 0;
	if (errno == EAGAIN)
		return 0;
	return -errno;
}

void shmring__futex_wake_all(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static int ec_side(const struct shmring *r, const struct shmring__ec *ec)
{
	return ec == &r->hdr->not_empty ? 1 : 2;
}

void shmring__ec_wake(struct shmring *r, struct shmring__ec *ec)
{
	uint32_t v = atomic_load_explicit(&ec->seq, memory_order_relaxed);

	while (v & 1) {
		/* P4. seq_cst: a waiter whose W1 reads this value also sees
		 * everything we published before it (release), see above. */
		if (atomic_compare_exchange_weak_explicit(&ec->seq, &v, v + 1,
							  memory_order_seq_cst,
							  memory_order_relaxed)) {
			shmring__futex_wake_all(&ec->seq);
			atomic_fetch_add_explicit(&ec->wakes, 1, memory_order_relaxed);
			SHMRING_PROBE(notify, r, r->name, ec_side(r, ec));
			return;
		}
	}
}

/* Spins on OP for up to r->spin_ns (bounded by DEADLINE): on two cores a
 * partner that is running answers within a microsecond or two, far sooner
 * than a sleep and a wake. */
static long spin_op(struct shmring *r, shmring__op_fn op, void *buf, size_t n,
		    uint64_t deadline)
{
	uint64_t end;
	long rc = -EAGAIN;

	if (r->spin_ns <= 0)
		return rc;
	end = shmring__now_ns() + (uint64_t)r->spin_ns;
	if (end > deadline)
		end = deadline;
	do {
		for (int i = 0; i < 32 && rc == -EAGAIN; i++) {
			cpu_relax();
			rc = op(r, buf, n);
		}
	} while (rc == -EAGAIN && shmring__now_ns() < end);
	return rc;
}

uint32_t shmring__ec_announce(struct shmring *r, struct shmring__ec *ec)
{
	uint32_t old =
		atomic_fetch_or_explicit(&ec->seq, 1, memory_order_seq_cst); /* W1 */

	waiter_barrier(r); /* W2, pairs with P2 in shmring__ec_signal */
	return old | 1;
}

/* One attempt of OP that also tells (r->claim_wait) whether a claim stood
 * in its way, so that the wait comes back to look at it (repair.c). An
 * attempt whose walk was cut short (r->walk_cut: producers may run laps
 * ahead of a consumer over given-back slots, mp.h) is repeated at once: it
 * kept how far it got, and an element may be ready further on, which a
 * sleep would wait through. A walk still cut short after that many tries
 * (a ring scribbled with lap numbers far ahead) leaves walk_cut set: the
 * wait then sleeps a slice at most (shmring__wait_until), never for good. */
static long attempt(struct shmring *r, shmring__op_fn op, void *buf, size_t n)
{
	long rc;
	int cuts = 0;

	do {
		r->claim_wait = false;
		r->walk_cut = false;
		rc = op(r, buf, n);
	} while (rc == -EAGAIN && r->walk_cut && ++cuts < SHMRING_WALK_RETRIES);
	return rc;
}

/* shmring_cancel was called on the handle. seq_cst: pairs with the store
 * in shmring_cancel. A waiter that misses the flag announced itself (W1)
 * before the canceller's fetch_add on the futex word, so that change ends
 * its sleep: it cannot sleep through a cancel. */
static bool cancelled(struct shmring *r)
{
	return atomic_load_explicit(&r->cancelled, memory_order_seq_cst);
}

long shmring__wait_op(struct shmring *r, struct shmring__ec *ec, shmring__op_fn op,
		      void *buf, size_t n, uint64_t deadline)
{
	long rc = cancelled(r) ? -ECANCELED : spin_op(r, op, buf, n, deadline);

	while (rc == -EAGAIN) {
		uint64_t t0 = shmring__now_ns();
		uint32_t expected;
		int w;

		/* A spent deadline (timeout 0) must not cost a membarrier. */
		if (t0 >= deadline)
			return -ETIMEDOUT;
		expected = shmring__ec_announce(r, ec);
		rc = attempt(r, op, buf, n); /* W3 */
		if (rc != -EAGAIN)
			break;
		if (cancelled(r))
			return -ECANCELED;
		atomic_fetch_add_explicit(&ec->sleepers, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&ec->sleeps, 1, memory_order_relaxed);
		SHMRING_PROBE(sleep, r, r->name, (int)r->role);
		w = shmring__futex_wait(&ec->seq, expected, /* W4 */
					shmring__wait_until(r, t0, deadline));
		atomic_fetch_sub_explicit(&ec->sleepers, 1, memory_order_relaxed);
		SHMRING_PROBE(wake, r, r->name, (int)r->role, shmring__now_ns() - t0);
		if (w == -ETIMEDOUT && shmring__now_ns() < deadline)
			w = 0; /* a slice ended: look again */
		if (w == -ETIMEDOUT) {
			/* One last look: the deadline is not a reason to leave an
			 * element that arrived as we timed out. */
			rc = attempt(r, op, buf, n);
			return rc == -EAGAIN ? -ETIMEDOUT : rc;
		}
		if (w == -EINTR && r->eintr)
			return -EINTR; /* SHMRING_F_EINTR: a signal handler ran */
		if (w != 0 && w != -EINTR)
			return w;
		rc = attempt(r, op, buf, n);
		if (rc == -EAGAIN && cancelled(r))
			return -ECANCELED;
	}
	return rc;
}

int shmring_cancel(struct shmring *r)
{
	struct shmring__ec *ec;

	if (!r)
		return shmring__err(EINVAL);
	ec = shmring__my_ec(r);
	atomic_store_explicit(&r->cancelled, true, memory_order_seq_cst);
	/* Move the word on (the announce bit kept: everybody else reads it
	 * as "look again"), then wake: a sleeper of this handle returns. Only
	 * atomics and a syscall: async-signal-safe. */
	atomic_fetch_add_explicit(&ec->seq, 2, memory_order_seq_cst);
	shmring__futex_wake_all(&ec->seq);
	return 0;
}

int shmring_arm(struct shmring *r, const uint32_t **word, uint32_t *expected)
{
	struct shmring__ec *ec;

	if (!r || !word || !expected)
		return shmring__err(EINVAL);
	if (r->kind == K_FORKED)
		return shmring__err(EBADF);
	ec = shmring__my_ec(r);
	*expected = shmring__ec_announce(r, ec);
	*word = (const uint32_t *)&ec->seq;
	/* W3 for an event loop: it sleeps only if nothing can be done now (or
	 * a walk was cut short: try again). */
	r->claim_wait = false;
	r->walk_cut = false;
	if (shmring__can_progress(r) || r->walk_cut)
		return SHMRING_ARM_READY;
	return r->sliced || r->claim_wait ? SHMRING_ARM_POLL : SHMRING_ARM_WAIT;
}
