/*
 * Pollable fds: the arming of src/waitfd.c, both backends, checked with spin
 * (model/check.sh, make model).
 *
 * A publisher pushes NMSG elements (SPSC: spsc_push) while a consumer runs
 * an event loop on shmring_fd(): it sleeps in poll() until the fd is
 * readable, calls try_pop until EAGAIN, and that EAGAIN re-arms the fd
 * (queue.c op_failed -> rearm -> waitfd_arm). Backends:
 *   (default) the waiter thread: an eventfd written by a per-handle thread
 *             that sleeps in futex_wait on the ring's word (waiter_main)
 *   -DURING   an IORING_OP_FUTEX_WAIT, with an IORING_OP_LINK_TIMEOUT when
 *             sliced; the io_uring fd is readable while its CQ holds a CQE
 *
 * Memory: the publisher's stores wait in its store buffer (FIFO; buffered
 * counts its slot-word stores, which drain in order, so the consumer sees
 * a prefix) and may pass its P3 load; its P4 CAS and a fence drain it, and
 * so does the consumer's membarrier when the publisher is registered. The
 * consumer's and the thread's own accesses are sequentially consistent:
 * every pair that matters is ordered by a syscall (read/write of the
 * eventfd, futex), a seq_cst access, or the release (cmd fetch_add) /
 * acquire (cmd load) pair that publishes expected and slice_ns; W3 after
 * W1 is ordered by W2 (eventcount.pml checks what happens without it).
 *
 * Steps and the code they stand for:
 *  publisher
 *   setup   wait.c shmring__barrier_setup (fetch_or of the flag and a fence)
 *   P1      spsc.h spsc_push: the slot's sequence word (release), buffered
 *           (head, for observers only, is left out)
 *   P2..P4, wake   as in eventcount.pml (ring.h shmring__ec_signal, wait.c
 *           shmring__ec_wake, shmring__futex_wake_all): the wake ends the
 *           thread's futex_wait, or completes the io_uring FUTEX_WAIT (and
 *           cancels its linked timeout: its CQE comes later)
 *  consumer (the event loop)
 *   poll    epoll/poll on the fd: sleeps until readable
 *   pop     shmring_try_pop (spsc_pop) until EAGAIN
 *   rearm   waitfd.c waitfd_arm. Thread: read() drains the eventfd, then
 *           the seq_cst load of busy (set: return, the thread still waits).
 *           io_uring: uring_reap, then return while a request is in flight
 *   W1..W3  waitfd.c arm_check: shmring__ec_announce (W1 fetch_or, W2
 *           waiter_barrier: membarrier, or fence + the flag into r->sliced),
 *           shmring__can_progress (W3), the slice from shmring__wait_until
 *           (SHMRING_ARM_POLL_NS when sliced, else 0)
 *   arm     thread_arm: ready -> write() the eventfd; else store expected,
 *           slice_ns, busy = true (relaxed), cmd += CMD_ARM (release), then
 *           futex_wake(&cmd). uring_arm: ready -> a NOP (a CQE at once);
 *           else FUTEX_WAIT (the kernel compares and queues atomically,
 *           -EAGAIN at once if seq moved on) linked to a timeout if sliced
 *  waiter thread (waiter_main)
 *   top     load cmd (acquire); unchanged -> futex_wait(&cmd, cmd): idle
 *   wait    futex_wait(&ec->seq, expected, deadline): deadline now +
 *           slice_ns when slice_ns != 0, else none (-DTHREAD_NO_SLICE: none,
 *           always: defect 2); the EINTR loop waits again on the same value
 *   unbusy  busy = false (seq_cst), before ...
 *   write   write() to the eventfd: readable
 *  kernel (io_uring): the linked timeout ends a sliced wait; the CQEs of
 *   cancelled requests (-ECANCELED) arrive at any time after
 *
 * Variants: FENCE (publisher fences; consumer cannot issue membarrier:
 * fence, flag never set, unsliced), MEMBARRIER (publisher registered,
 * consumer issues membarrier), SLICED (publisher registered, consumer
 * cannot issue membarrier: fence, flag, slices); each with either backend.
 * Controls, which must fail: THREAD_NO_SLICE (defect 2: waiter_main waits
 * without the slice), URING_NO_SLICE (no linked timeout), SETUP_NO_FENCE
 * (SLICED with the flag stored by a plain store that may pass the P3 loads),
 * BUSY_AFTER_WRITE (SLICED with the thread clearing busy after its eventfd
 * write: an arm that still sees busy skips, and the thread goes idle).
 *
 * Property (monitor): after the last publish, with every store visible and
 * an element in the ring, the event loop never sleeps in poll() on an fd
 * that is not readable while nothing pending can make it readable: the
 * thread idle on cmd (only the event loop arms), or sleeping on seq without
 * a deadline (no publish will come); for io_uring no request in flight that
 * can still complete (a FUTEX_WAIT without a timeout, or none at all).
 *
 * Abstractions: cmd is kept mod 4 (arm parity): the model asserts that the
 * thread picks up every arm before the next one, so nothing is lost; the
 * eventfd's counter as "not 0"; the ring never fills (capacity >= NMSG: the
 * not_full direction is eventcount.pml's); thread_close, submission
 * failures (uring_submit's retries, ENOMEM) and shmring_arm are left out.
 */

#ifndef NMSG
#define NMSG 3			/* elements the publisher pushes */
#endif

#if defined(THREAD_NO_SLICE) && defined(URING)
#error "THREAD_NO_SLICE is a variant of the thread backend"
#endif

/* ---- shared memory --------------------------------------------------------- */
byte items;			/* published elements visible in the ring */
byte buffered;			/* the publisher's P1 stores still in its store buffer */
bool flagbuf;			/* (SETUP_NO_FENCE) the flag's store, oldest in the buffer */
bool flag;			/* hdr->fenceless_publishers */
byte seq;			/* hdr->not_empty.seq, the futex word */
bool fenceless;			/* the publisher's r->fenceless */
bool can_issue;			/* the consumer's r->waiter_membarrier */
bool pub_done;			/* the publisher pushed all NMSG */
byte consumed;			/* ghost */

/* ---- the fd -------------------------------------------------------------- */
bool evfd;			/* thread: the eventfd's counter is not 0 (readable) */
bool polling;			/* the event loop sleeps in poll() on the fd */
#ifndef URING
byte cmd;			/* w->cmd: arm count << 1 (mod 4, see below) */
byte expected_t;		/* w->expected */
bool slice_t;			/* w->slice_ns != 0 */
bool busy;			/* w->busy */
bool t_idle;			/* the thread sleeps on w->cmd (futex) */
bool t_asleep;			/* the thread sleeps on seq (futex) ... */
bool t_timed;			/* ... with a deadline */
byte unseen;			/* ghost: arms the thread has not picked up yet */
#else
byte cq;			/* io_uring: completions posted, not reaped (readable) */
byte uw;			/* the FUTEX_WAIT: 0 none, 1 queued, 2 done, CQE to come */
byte ut;			/* its linked timeout: 0 none, 1 armed, 2 done, CQE to come */
#endif

#ifndef URING
#define READABLE evfd		/* the eventfd's counter is not 0 */
#else
#define READABLE (cq > 0)	/* the io_uring's completion queue holds a CQE */
#endif

/* The publisher's store buffer drains, oldest store first. */
inline drain_all() {
	if :: flagbuf -> flag = true; flagbuf = false :: else fi;
	items = items + buffered; buffered = 0
}

/* ---- the publisher: spsc_push + shmring__ec_signal ------------------------ */

proctype publisher() {
	byte n, v;

	/* shmring__barrier_setup */
	if
	:: fenceless ->
#ifdef SETUP_NO_FENCE
		flagbuf = true		/* (a control) a plain store, no fence */
#else
		flag = true		/* seq_cst fetch_or (locked), full fence */
#endif
	:: else -> skip
	fi;
next:
	atomic {
		if :: n == NMSG -> goto done :: else fi;
		n++;
		buffered++;		/* P1: the slot's sequence word */
		if :: fenceless -> goto p3 :: else fi
	};
	atomic { drain_all() };		/* P2: full fence */
p3:	atomic {			/* P3 */
		v = seq;
		if :: (v & 1) == 0 -> v = 0; goto next :: else fi
	};
	do				/* P4: CAS loop */
	:: atomic {
		drain_all();		/* a locked RMW */
		if
		:: seq == v -> seq = v + 1; v = 0; goto wake
		:: else -> v = seq;
			if :: (v & 1) == 0 -> v = 0; goto next :: else fi
		fi
	   }
	od;
wake:	atomic {			/* futex_wake(&seq, all) */
#ifndef URING
		t_asleep = false;
#else
		if
		:: uw == 1 -> uw = 0; cq++;	/* the wait completes ... */
			if :: ut == 1 -> ut = 2 :: else fi	/* ... its timeout is cancelled */
		:: else
		fi;
#endif
		goto next
	};
done:	pub_done = true
}

/* The buffer drains on its own. */
active proctype memory() {
end:	do
	:: atomic { flagbuf -> flag = true; flagbuf = false }
	:: atomic { !flagbuf && buffered > 0 -> items++; buffered-- }
	od
}

/* ---- the consumer: an event loop on shmring_fd() -------------------------- */

/* W1 .. W3 (arm_check): announce, barrier, re-check (can_progress), and the
 * slice (shmring__wait_until: the sliced handle's slice, else 0). */
#define ARM_CHECK(then)							\
	atomic {			/* W1: fetch_or(&seq, 1) */	\
		expected = seq | 1; seq = expected;			\
		pend = (can_issue && fenceless && (buffered > 0 || flagbuf)); \
		if							\
		:: can_issue && !pend -> goto w3			\
		:: can_issue && pend -> skip				\
		:: else -> goto fence					\
		fi							\
	};								\
	atomic { drain_all(); pend = false; goto w3 };	/* W2 membarrier: the IPI */ \
fence:	atomic { sliced = flag };	/* W2 fence, then the flag */	\
w3:	atomic {			/* W3 can_progress */		\
		ready = (items > 0);					\
		goto then						\
	}

proctype consumer() {
	byte expected;
	bool pend, sliced, ready;

	goto rearm;			/* shmring_fd() arms once */
poll:
	atomic { polling = true };
end_poll:
	atomic { READABLE -> polling = false };
pop:	atomic {			/* try_pop until EAGAIN */
		if
		:: items > 0 -> items--; consumed++; goto pop
		:: else
		fi
	};
rearm:					/* EAGAIN: waitfd_arm */
#ifndef URING
	atomic { evfd = false };		/* read(): drains the eventfd */
	atomic { if :: busy -> goto poll :: else fi };	/* the thread still waits */
	ARM_CHECK(arm);
arm:					/* thread_arm */
	atomic {
		if
		:: ready -> evfd = true; ready = false; expected = 0; sliced = false; goto poll
		:: else
		fi;
		/* expected, slice_ns, busy (relaxed), then cmd += CMD_ARM
		 * (release): the thread reads them only after it sees cmd */
		expected_t = expected; slice_t = sliced; busy = true;
		cmd = (cmd + 2) % 4;
		unseen++;
		assert(unseen == 1);	/* so cmd mod 4 loses nothing */
		expected = 0; sliced = false
	};
	atomic { t_idle = false; goto poll }	/* futex_wake(&cmd) */
#else
	atomic {			/* uring_reap, then "still waiting" */
		cq = 0;
		if :: uw != 0 || ut != 0 -> goto poll :: else fi
	};
	ARM_CHECK(arm);
arm:					/* uring_arm */
	atomic {
		if
		:: ready -> cq++		/* a NOP: completes at once */
		:: else ->		/* FUTEX_WAIT: the kernel compares and queues */
			if
			:: seq == expected -> uw = 1
			:: else -> cq++		/* -EAGAIN at once */
			fi;
#ifndef URING_NO_SLICE
			if			/* IOSQE_IO_LINK + LINK_TIMEOUT */
			:: sliced && uw == 1 -> ut = 1
			:: sliced && uw == 0 -> ut = 2	/* cancelled: its CQE comes */
			:: else
			fi
#endif
		fi;
		ready = false; expected = 0; sliced = false;
		goto poll
	}
#endif
}

#ifndef URING
/* ---- the waiter thread (waiter_main) ---------------------------------------- */
proctype waiter_thread() {
	byte seen, c;

top:	atomic {			/* load cmd (acquire) */
		c = cmd;
		if
		:: c == seen -> t_idle = true	/* futex_wait(&cmd, c): compares and queues */
		:: else -> seen = c; c = 0; unseen = 0; goto wait
		fi
	};
end_idle:
	atomic { !t_idle -> c = 0; goto top };
wait:	atomic {			/* futex_wait(&seq, expected, deadline) */
		if
		:: seq == expected_t -> t_asleep = true;
#ifndef THREAD_NO_SLICE
			t_timed = slice_t	/* deadline = now + slice_ns */
#else
			t_timed = false		/* defect 2: no deadline, ever */
#endif
		:: else -> skip
		fi
	};
end_wait:
	if
	:: atomic { !t_asleep -> t_timed = false }	/* woken (or EAGAIN) */
	:: atomic { t_asleep && t_timed -> t_asleep = false; t_timed = false }	/* the slice ends */
	fi;
#ifndef BUSY_AFTER_WRITE
	busy = false;			/* seq_cst, before the eventfd write */
	atomic { evfd = true; goto top }	/* write(): readable */
#else
	evfd = true;			/* (a control) the write first ... */
	atomic { busy = false; goto top }	/* ... then busy: must fail */
#endif
}
#else
/* ---- the kernel's io_uring: timeouts and the CQEs of cancelled requests ---- */
active proctype kernel() {
end:	do
	:: atomic { ut == 1 && uw == 1 -> ut = 0; cq++; uw = 2 }	/* the slice ends */
	:: atomic { uw == 2 -> uw = 0; cq++ }	/* the wait: -ECANCELED */
	:: atomic { ut == 2 -> ut = 0; cq++ }	/* the timeout: -ECANCELED */
	od
}
#endif

/* A lost wakeup: the publisher is done and its stores are visible, an
 * element sits in the ring, the event loop sleeps in poll() on an fd that
 * is not readable, and nothing pending will make it readable: the thread
 * sleeps on cmd (no arm will come: only the event loop arms), or on seq
 * without a deadline (no publish will come); for io_uring, no request is in
 * flight that can still complete. */
active proctype monitor() {
end:	atomic {
		pub_done && buffered == 0 && !flagbuf && items > 0 && polling &&
#ifndef URING
		!evfd && (t_idle || (t_asleep && !t_timed)) ->
#else
		cq == 0 && ut == 0 && uw != 2 ->
#endif
		assert(false)			/* lost wakeup */
	}
}

init {
	atomic {
#if defined(FENCE)
		skip			/* publisher fences; consumer: fence + flag */
#elif defined(MEMBARRIER)
		fenceless = true; can_issue = true
#elif defined(SLICED) || defined(THREAD_NO_SLICE) || defined(URING_NO_SLICE)
		fenceless = true	/* consumer cannot issue membarrier: sliced */
#else
#error "variant: -DFENCE -DMEMBARRIER -DSLICED -DTHREAD_NO_SLICE (-DURING: -DURING_NO_SLICE)"
#endif
		;
		run publisher(); run consumer();
#ifndef URING
		run waiter_thread()
#endif
	}
}
