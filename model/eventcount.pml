/*
 * Model of the eventcount wakeup protocol in src/wait.c, checked with spin.
 *
 * One publisher (a producer pushing NMSG elements) and NW waiters (consumers
 * that pop, and sleep on the futex word when the ring is empty). The
 * publisher runs on a TSO machine (x86): its store of the ring index sits in
 * a store buffer and may become visible after its later load of the futex
 * word -- exactly the reordering that loses wakeups. Three variants:
 *
 *   -DFENCE       the publisher fences between publish and load (P2)
 *   -DMEMBARRIER  no publisher fence; the waiter's membarrier() (W2) drains
 *                 the publisher's store buffer, as its IPI does
 *   (neither)     no barrier: spin must find the lost wakeup
 *
 * A lost wakeup is a state where the publisher is done and its stores are
 * visible, an element is in the ring, and every waiter sleeps: nobody will
 * ever take it. The monitor asserts that this state is unreachable.
 */
#define NW   2
#define NMSG 3

byte items = 0;		/* elements visible in the ring */
byte buffered = 0;	/* publisher stores not yet visible (store buffer) */
byte seq = 0;		/* futex word: bit 0 = announced, the rest counts wakes */
bool asleep[NW];
byte consumed = 0;
bool published_all = false;

inline drain_store_buffer() {
	atomic { items = items + buffered; buffered = 0 }
}

proctype publisher() {
	byte n = 0, v;
	do
	:: n < NMSG ->
		buffered++;			/* P1: publish (store, buffered) */
#ifdef FENCE
		drain_store_buffer();		/* P2: full fence */
#endif
		v = seq;			/* P3: load the futex word */
		if
		:: (v & 1) ->			/* P4: clear the bit, wake all */
			atomic {
				if
				:: seq == v ->
					seq = v + 1;	/* v odd: bit clear, count + 1 */
					byte i = 0;
					do
					:: i < NW -> asleep[i] = false; i++
					:: else -> break
					od
				:: else -> skip
				fi
			}
		:: else -> skip
		fi;
		n++
	:: else -> break
	od;
	published_all = true
}

/* The store buffer drains on its own, at any time. */
active proctype memory() {
end:	do
	:: buffered > 0 -> drain_store_buffer()
	od
}

proctype waiter(byte id) {
	byte old;
	do
	:: consumed == NMSG -> break
	:: else ->
		atomic {			/* try_pop */
			if
			:: items > 0 -> items--; consumed++
			:: else -> skip
			fi
		};
		old = seq | 1;
		seq = seq | 1;			/* W1: announce (a locked RMW) */
#ifdef MEMBARRIER
		drain_store_buffer();		/* W2: membarrier: IPI drains it */
#endif
		if				/* W3: re-check */
		:: items > 0 -> skip		/* go round: pop it */
		:: else ->
			atomic {		/* W4: futex_wait(seq, old) */
				if
				:: seq == old -> asleep[id] = true
				:: else -> skip
				fi
			};
end:			(asleep[id] == false)	/* blocked until woken */
		fi
	od
}

active proctype monitor() {
end:	atomic {
		published_all && buffered == 0 && items > 0 && asleep[0] && asleep[1] ->
		assert(false)	/* lost wakeup */
	}
}

init {
	atomic {
		run publisher();
		run waiter(0);
		run waiter(1)
	}
}
