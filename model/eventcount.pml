/*
 * Blocking waits: the eventcount wakeup protocol of src/wait.c on an MPMC
 * ring, checked with spin (model/check.sh, make model).
 *
 * Two producers (processes 0, 1: mp_push) and two consumers (2, 3:
 * mpmc_pop), each a blocking call (shmring__wait_op). Both directions are
 * modelled: consumers wait on not_empty (NE) and producers publish to it;
 * producers wait on not_full (NF) when the ring is full and consumers
 * publish to it with their FREE store. So every process is a waiter of one
 * eventcount and a publisher of the other, as in the code.
 *
 * Memory. Every process runs on its own CPU with a store buffer: a plain
 * store (a release store in C11) waits in the buffer and becomes visible
 * later, at any time (proctype memory), while the CPU goes on and loads
 * from memory: its P1 store may pass its own later P3 load. A fence, and
 * every locked RMW (fetch_or, CAS: lock-prefixed on x86, and ordered after
 * earlier release stores by C11's seq_cst), drain the buffer first. One
 * entry per buffer is enough here: between any two of its plain stores
 * (READY, FREE) a process always makes a locked RMW (the next claim or take
 * CAS, or W1). A process reads its own buffered store nowhere it matters
 * (a slot it made READY or DONE is one the walks skip either way), so store
 * forwarding is not modelled. The waiter's side is weaker than x86 TSO on
 * purpose: W1 is a locked RMW, but the re-check W3 is ordered after it only
 * by W2 (C11: relaxed loads after a seq_cst RMW, as on arm64); variants
 * without W2 let W3's loads run before W1 takes effect.
 *
 * The ring. Positions 0 .. NMSG-1, each element its own position; position
 * p uses slot p % CAP, so it may be claimed once position p - CAP is done.
 * st[p] is what slot p % CAP's word says about p (ring.h: FREE(lap) ->
 * CLAIMED -> READY -> TAKING -> FREE(lap + 1) = DONE). Claims happen in
 * position order (mp_find_free), consumers walk from the first position over
 * taken and done ones (mpmc_find). The hints head and tail are abstracted
 * away: they only say where a walk starts, and every walk here starts at 0.
 * A walk is one atomic step: slot states only move forward, so a walk that
 * reads them one by one decides as an atomic one at the time of its last
 * load would.
 *
 * Steps, each one atomic action on shared memory (local bookkeeping merged
 * in), and the code they stand for:
 *
 *  producer (mp_push via shmring__wait_op; queue.c op_push)
 *   setup   wait.c shmring__barrier_setup: fetch_or(fenceless_publishers)
 *           and a full fence, when the process is registered (fenceless)
 *   attempt mp.h mp_find_free + the claim CAS of mp_claim (spin_op, and
 *           wait_op's attempt after a wait); on success P1 follows (the
 *           element's copy in between touches private memory only)
 *   P1      mp.h mp_publish: the READY store (release), into the buffer
 *   P2      ring.h shmring__ec_signal: shmring__full_fence() (drain), or
 *           for a fenceless process atomic_signal_fence: nothing
 *   P3      ring.h shmring__ec_signal: relaxed load of not_empty.seq; bit 0
 *           clear: done
 *   P4      wait.c shmring__ec_wake: CAS seq v -> v + 1 (a locked RMW); a
 *           failed CAS reloads v and retries while bit 0 is set
 *   wake    wait.c shmring__futex_wake_all: FUTEX_WAKE, INT_MAX: dequeues
 *           every sleeper on the word
 *   W1      wait.c shmring__ec_announce: fetch_or(&not_full.seq, 1)
 *   W2      wait.c waiter_barrier: membarrier(GLOBAL_EXPEDITED) = a drain
 *           of every registered process's buffer, one CPU at a time in any
 *           order (mb); or shmring__full_fence() and the relaxed load of
 *           hdr->fenceless_publishers into r->sliced (fence)
 *   recheck wait.c shmring__wait_op's attempt after the announce (W3)
 *   sleep   wait.c shmring__futex_wait (W4): FUTEX_WAIT_BITSET compares
 *           seq with old | 1 and queues atomically; with r->sliced the
 *           deadline is now + slice (repair.c shmring__wait_until) and the
 *           wait may end by its timeout at any time (end_wait); then the
 *           attempt again, then announce again (wait_op's loop)
 *  consumer (mpmc_pop_n via shmring__wait_op; queue.c op_pop)
 *   attempt mp.h mpmc_find + the take CAS of mpmc_take
 *   P1      mp.h mpmc_untake: the FREE store of the next lap (release)
 *   P2..P4  shmring__ec_signal(not_full) as above, wakes producers
 *   W1..W4  as above on not_empty
 *
 * Variants (-D):
 *   FENCE        nobody can use membarrier (old kernel, or every process
 *                with SHMRING_BARRIER=none): publishers fence, waiters
 *                fence and read the flag (never set: never sliced)
 *   MEMBARRIER   every process registered: fenceless publishes, waiters
 *                issue membarrier
 *   MIXED        processes 0 and 2 with SHMRING_BARRIER=fence (they fence,
 *                and issue membarrier as waiters), 1 and 3 registered
 *   SLICED       producers registered; consumers cannot issue membarrier
 *                (seccomp; SHMRING_BARRIER=none): fence, flag, slices
 *   SLICED_MIXED 0 and 2 registered, 1 and 3 with SHMRING_BARRIER=none:
 *                sliced waits on both sides, membarrier waits beside them
 *   NONE         (control) fenceless publishers, no W2, never sliced: spin
 *                must find the lost wakeup
 *   NO_W2        (control) publishers fence, waiters have no W2: their
 *                re-check may pass W1; must fail
 *   SLICED -DLATE_FLAG   (control) the flag set after the first publish
 *                instead of in barrier_setup; must fail
 *   SLICED -DNO_TIMEOUT  (control) sliced waits ignore the slice; must fail:
 *                the slices are what makes SLICED safe
 *   REACH_CAS_RETRY, REACH_WAKE_TWO, REACH_WAKE_PRODUCER (witnesses, with
 *                MEMBARRIER) fail as soon as the model reaches a CAS that
 *                fails with bit 0 still set and then wins, one wake that
 *                dequeues both consumers, a wake of a producer waiting for
 *                room: the checks cover those paths
 *
 * Property (monitor): no reachable state in which every store is visible,
 * elements are left to take, and every process has finished or sleeps on a
 * futex with nothing but a wake to end it (a sliced wait with its timeout
 * pending is not stuck: the timer fires, and the attempt after it sees
 * every visible store). With both producers finished that is "an element
 * sits in the ring and every consumer sleeps for good"; with a producer
 * asleep, the same for not_full. Assertion violations and invalid end
 * states are both reported by pan.
 *
 * Bounds: NMSG elements (producer 0 pushes ceil(NMSG/2), producer 1 the
 * rest), capacity CAP; check.sh runs NMSG=2 CAP=1 (every variant: each
 * producer publishes once, the second one waits for room) and NMSG=3 CAP=2
 * (the unsliced ones: one producer publishes twice) exhaustively.
 *
 * Left out (see also model/waitfd.pml): claim_wait slices (a claim in the
 * way, repair.c) only add timeouts, and the checks pass without them;
 * spin_op's extra attempts and EINTR only add attempts; hints; peeks and
 * repairs, whose READY/FREE stores signal exactly like mp_publish's; the
 * deadline of timed calls; membarrier failing at run time.
 */

#ifndef NMSG
#define NMSG 2			/* elements pushed in all (positions 0 .. NMSG-1) */
#endif
#ifndef CAP
#define CAP 1			/* ring capacity: position p reuses slot p % CAP */
#endif
#define NP 2			/* producers: processes 0, 1 */
#define NPROC 4			/* consumers: processes 2, 3 */

#define NE 0			/* hdr->not_empty: consumers wait, producers signal */
#define NF 1			/* hdr->not_full: producers wait, consumers signal */

/* The state of position p, as the word of slot p % CAP tells it (ring.h). */
#define S_FREE    0		/* FREE of p's lap: nobody claimed p yet */
#define S_CLAIMED 1		/* CLAIMED(lap, token): a producer copies in */
#define S_READY   2		/* READY(lap): published */
#define S_TAKING  3		/* TAKING(lap, token): a consumer copies out */
#define S_DONE    4		/* FREE(lap + 1): p is done, p + CAP may be claimed */

byte st[NMSG];			/* the slot words as visible in memory */
byte bufloc[NPROC];		/* each CPU's store buffer: 0 empty, else p + 1 */
byte bufval[NPROC];		/*   and the value stored to position p */
byte seq[2];			/* the futex words: not_empty.seq, not_full.seq */
bool flag;			/* hdr->fenceless_publishers */
bool asleep[NPROC];		/* queued on the futex word, in the kernel */
bool timed[NPROC];		/* ... with a deadline: the wait ends on its own */
bool fenceless[NPROC];		/* r->fenceless: P2 is a compiler barrier only */
bool can_issue[NPROC];		/* r->waiter_membarrier: W2 is membarrier() */
bool fin[NP];			/* producer i pushed all its elements */
byte consumed;			/* ghost: elements taken so far */

#define blocked(i)	(asleep[i] && !timed[i])	/* only a wake ends it */
#define drained		(bufloc[0] == 0 && bufloc[1] == 0 && bufloc[2] == 0 && bufloc[3] == 0)

/* The oldest (only) store of CPU i's buffer becomes visible to all. */
inline drain(i) {
	if
	:: bufloc[i] != 0 -> st[bufloc[i] - 1] = bufval[i]; bufloc[i] = 0
	:: else -> skip
	fi
}

/* ---- the protocol, step by step ------------------------------------------
 *
 * Each labelled step below is one atomic action on shared memory (plus the
 * local bookkeeping that follows it, which no other process can see): a
 * load, a store into the store buffer, a locked RMW, a fence, a futex call.
 * Producers and consumers are written out in full, with gotos, so that no
 * purely local step is a state of its own. */

/* W1 fetch_or(&seq, 1), seq_cst (shmring__ec_announce): a locked RMW, so it
 * drains our own buffer and is at once visible to all. pend: the CPUs of
 * registered processes whose buffers hold a store now, for W2 (a store one
 * of them makes after W1 is followed by its P3, which reads W1 or later). */
#define W1(ec)								\
	drain(me);							\
	expected = seq[ec] | 1;						\
	seq[ec] = expected;						\
	pend = 0;							\
	if :: fenceless[0] && bufloc[0] != 0 -> pend = pend | 1 :: else fi; \
	if :: fenceless[1] && bufloc[1] != 0 -> pend = pend | 2 :: else fi; \
	if :: fenceless[2] && bufloc[2] != 0 -> pend = pend | 4 :: else fi; \
	if :: fenceless[3] && bufloc[3] != 0 -> pend = pend | 8 :: else fi

/* W2 (waiter_barrier), after W1: membarrier(GLOBAL_EXPEDITED) runs a full
 * barrier on every CPU of a registered process, one CPU at a time, in any
 * order, before it returns (MB steps); or a full fence (nothing left to
 * drain: W1 did) and then the load of hdr->fenceless_publishers (FENCE
 * step): the wait is sliced if it is set. */
#define W2_MB(recheck)							\
mb:	do								\
	:: (pend & 1) -> atomic { drain(0); pend = pend & 14; if :: pend == 0 -> goto recheck :: else fi } \
	:: (pend & 2) -> atomic { drain(1); pend = pend & 13; if :: pend == 0 -> goto recheck :: else fi } \
	:: (pend & 4) -> atomic { drain(2); pend = pend & 11; if :: pend == 0 -> goto recheck :: else fi } \
	:: (pend & 8) -> atomic { drain(3); pend = pend & 7; if :: pend == 0 -> goto recheck :: else fi } \
	od;								\
fence:	atomic { sliced = flag; goto recheck }

/* After W1: W2, or (NONE, NO_W2) none. */
#if defined(NONE) || defined(NO_W2)
#define AFTER_W1(recheck) goto recheck
#else
#define AFTER_W1(recheck)						\
	if								\
	:: can_issue[me] && pend != 0 -> goto mb			\
	:: can_issue[me] && pend == 0 -> goto recheck			\
	:: else -> goto fence						\
	fi
#endif

/* Announce: W1 then W2, and the re-check W3. Without W2 (NONE, NO_W2) the
 * re-check's loads may be performed before W1 takes effect: then its
 * verdict "nothing to do" is the one of the early loads (EARLY), and only
 * a "something to do" is acted on after W1 (the CAS is ordered after the
 * RMW). */
#if defined(NONE) || defined(NO_W2)
#define ANNOUNCE(ec, find, recheck, sleep)				\
announce:								\
	if								\
	:: atomic { W1(ec); AFTER_W1(recheck) }				\
	:: atomic { find; early = got; got = false; p = 0 };		\
	   atomic { W1(ec); if :: early -> early = false; goto recheck :: else -> goto sleep fi } \
	fi
#else
#define ANNOUNCE(ec, find, recheck, sleep)				\
announce:								\
	atomic { W1(ec); AFTER_W1(recheck) };				\
	W2_MB(recheck)
#endif

/* (NO_TIMEOUT, a control: a sliced wait that ignores its slice) */
#ifdef NO_TIMEOUT
#define SLICE false
#else
#define SLICE sliced
#endif

/* W4 shmring__futex_wait(&seq, expected, deadline): the kernel compares and
 * queues atomically (EAGAIN when seq moved on); a sliced wait (deadline
 * now + slice, shmring__wait_until) may end by its timeout at any time.
 * Either way the caller's next attempt follows. */
#define W4(ec, attempt)							\
sleep:	atomic {							\
		if							\
		:: seq[ec] == expected -> asleep[me] = true; timed[me] = SLICE \
		:: else -> skip						\
		fi;							\
		expected = 0; sliced = false				\
	};								\
end_wait:								\
	if								\
	:: atomic { !asleep[me] -> timed[me] = false; goto attempt }	\
	:: atomic { asleep[me] && timed[me] -> asleep[me] = false; timed[me] = false; goto attempt } \
	fi

/* The publisher's half after its P1 store (shmring__ec_signal, then
 * shmring__ec_wake): P2 a full fence, or for a fenceless process only a
 * compiler barrier; P3 a relaxed load of seq; P4 while bit 0 is set, a CAS
 * v -> v + 1 (a locked RMW: drains our buffer first); a failed CAS reloads
 * v and retries while bit 0 is set; after a successful one futex_wake wakes
 * every sleeper on the word (consumers on NE, producers on NF). */
#define SIGNAL(ec, w0, w1, done)					\
p2:	atomic { drain(me) };						\
p3:	atomic {							\
		v = seq[ec];						\
		if :: (v & 1) == 0 -> v = 0; goto done :: else fi	\
	};								\
p4:	do								\
	:: atomic {							\
		drain(me);						\
		if							\
		:: seq[ec] == v -> seq[ec] = v + 1; v = 0;		\
			REACHED_CAS_RETRY; goto wake			\
		:: else -> v = seq[ec];					\
			if :: (v & 1) == 0 -> v = 0; goto done :: else fi; \
			RETRIED						\
		fi							\
	   }								\
	od;								\
wake:	atomic {							\
		REACHED_WAKE(ec, w0, w1);				\
		asleep[w0] = false; asleep[w1] = false; goto done	\
	}

/* Witnesses (REACH_*): an assertion that fails when the model reaches a
 * situation the checks are meant to cover, to show that it does. */
#ifdef REACH_CAS_RETRY		/* a CAS fails, bit 0 still set: the retry wins */
#define RETRIED retried = true
#define REACHED_CAS_RETRY assert(!retried)
#else
#define RETRIED skip
#define REACHED_CAS_RETRY skip
#endif
#if defined(REACH_WAKE_TWO)	/* one futex_wake dequeues both consumers */
#define REACHED_WAKE(ec, w0, w1) assert(!(ec == NE && asleep[w0] && asleep[w1]))
#elif defined(REACH_WAKE_PRODUCER) /* a consumer's FREE wakes a producer */
#define REACHED_WAKE(ec, w0, w1) assert(!(ec == NF && (asleep[w0] || asleep[w1])))
#else
#define REACHED_WAKE(ec, w0, w1) skip
#endif

/* P1, the publishing store into our buffer (empty: the CAS before it
 * drained it), then P2, or for a fenceless process straight on to P3. */
#define P1(val)								\
publish: atomic {							\
		bufloc[me] = p + 1; bufval[me] = val; p = 0;		\
		if :: fenceless[me] -> goto p3 :: else -> goto p2 fi	\
	}

/* ---- producers: mp_push, blocking (shmring__wait_op on not_full) ---------- */

/* mp_find_free + the claim CAS (mp_claim): the first position nobody
 * claimed; its slot is free for it once position p - CAP is done (the
 * consumer's FREE store visible), else the ring is full. */
#define find_free							\
	p = 0;								\
	do								\
	:: p < NMSG && st[p] != S_FREE -> p++				\
	:: else -> break						\
	od;								\
	got = (p < NMSG && (p < CAP || st[p - CAP] == S_DONE))

/* The claim CAS when got, a locked RMW; then (the element's copy, private)
 * P1: mp_publish's READY store. */
#define CLAIM								\
	drain(me); st[p] = S_CLAIMED; got = false; goto publish

proctype producer(byte me) {
	byte n, p, v, expected, pend;
	bool got, sliced, early, retried;

	/* shmring__barrier_setup: a seq_cst fetch_or of the flag (a locked
	 * RMW, visible at once), then a full fence (nothing left to drain) */
#ifndef LATE_FLAG
	if :: fenceless[me] -> flag = true :: else fi;
#endif
attempt:	/* spin_op, and wait_op's attempt after every wait */
	atomic {
		find_free;
		if :: got -> CLAIM :: else -> p = 0; goto announce fi
	};
	ANNOUNCE(NF, find_free, recheck, sleep);
recheck:	/* W3: wait_op's attempt after the announce */
	atomic {
		find_free;
		if :: got -> CLAIM :: else -> p = 0; goto sleep fi
	};
	W4(NF, attempt);
	P1(S_READY);
	SIGNAL(NE, 2, 3, published);
published:
#ifdef LATE_FLAG
	/* (a control) the flag set only after the first publish */
	if :: fenceless[me] -> flag = true :: else fi;
#endif
	atomic {
		n++;
		if
		:: n == (NMSG + NP - 1 - me) / NP -> fin[me] = true	/* its share */
		:: else -> goto attempt
		fi
	}
}

/* ---- consumers: mpmc_pop, blocking (shmring__wait_op on not_empty) -------- */

/* mpmc_find + the take CAS (mpmc_take): from the first position, walk over
 * positions taken or done; the first READY one is taken; a CLAIMED or a
 * FREE one ends the walk (empty). */
#define find_ready							\
	p = 0;								\
	do								\
	:: p < NMSG && (st[p] == S_TAKING || st[p] == S_DONE) -> p++	\
	:: else -> break						\
	od;								\
	got = (p < NMSG && st[p] == S_READY)

/* The take CAS when got, a locked RMW; then (the copy out, private) P1 of
 * the other direction: mpmc_untake's FREE store of the next lap. */
#define TAKE								\
	drain(me); st[p] = S_TAKING; consumed++; got = false; goto publish

proctype consumer(byte me) {
	byte p, v, expected, pend;
	bool got, sliced, early, retried;

	if :: fenceless[me] -> flag = true :: else fi;	/* barrier_setup */
attempt:
	atomic {
		if :: consumed == NMSG -> goto finished :: else fi;	/* ghost */
		find_ready;
		if :: got -> TAKE :: else -> p = 0; goto announce fi
	};
	ANNOUNCE(NE, find_ready, recheck, sleep);
recheck:
	atomic {
		find_ready;
		if :: got -> TAKE :: else -> p = 0; goto sleep fi
	};
	W4(NE, attempt);
	P1(S_DONE);
	SIGNAL(NF, 0, 1, attempt);
finished:
	skip
}

/* The store buffers drain on their own, at any time. */
active proctype memory() {
end:	do
	:: atomic { bufloc[0] != 0 -> drain(0) }
	:: atomic { bufloc[1] != 0 -> drain(1) }
	:: atomic { bufloc[2] != 0 -> drain(2) }
	:: atomic { bufloc[3] != 0 -> drain(3) }
	od
}

/* A lost wakeup: every store is visible, elements are left to take, and
 * every process has finished or sleeps with nothing but a wake to end it
 * (for a sliced wait: no timeout pending). With both producers finished this
 * is "an element sits in the ring and every consumer sleeps for good"; with
 * a producer asleep it is the same for not_full. (It cannot be a true
 * deadlock: a slot not done is CLAIMED, READY or TAKING, and each has a
 * process running or an element to take.) */
active proctype monitor() {
end:	atomic {
		drained && consumed < NMSG &&
		(fin[0] || blocked(0)) && (fin[1] || blocked(1)) &&
		blocked(2) && blocked(3) ->
		assert(false)			/* lost wakeup */
	}
}

init {
	atomic {
#if defined(FENCE)
		/* no process may use membarrier (an old kernel, or
		 * SHMRING_BARRIER=none everywhere): all fence */
		skip
#elif defined(MEMBARRIER) || defined(NONE)
		/* every process registered: fenceless publishes, membarrier waits */
		fenceless[0] = true; fenceless[1] = true; fenceless[2] = true; fenceless[3] = true;
		can_issue[0] = true; can_issue[1] = true; can_issue[2] = true; can_issue[3] = true
#elif defined(NO_W2)
		/* every process fences, and no waiter has a W2 */
		skip
#elif defined(MIXED)
		/* 0 and 2 run with SHMRING_BARRIER=fence (fence, but membarrier as
		 * waiters), 1 and 3 are registered (fenceless) */
		fenceless[1] = true; fenceless[3] = true;
		can_issue[0] = true; can_issue[1] = true; can_issue[2] = true; can_issue[3] = true
#elif defined(SLICED)
		/* producers registered; consumers cannot issue membarrier (seccomp,
		 * SHMRING_BARRIER=none): they fence, read the flag, sleep in slices */
		fenceless[0] = true; fenceless[1] = true;
		can_issue[0] = true; can_issue[1] = true
#elif defined(SLICED_MIXED)
		/* 0 and 2 registered; 1 and 3 with SHMRING_BARRIER=none */
		fenceless[0] = true; fenceless[2] = true;
		can_issue[0] = true; can_issue[2] = true
#else
#error "variant: -DFENCE -DMEMBARRIER -DMIXED -DSLICED -DSLICED_MIXED -DNONE -DNO_W2"
#endif
		;
		run producer(0); run producer(1);
		run consumer(2); run consumer(3)
	}
}
