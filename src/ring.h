/* SPDX-License-Identifier: MIT */
/*
 * The ring segment format (DESIGN.md §3) and the ring handle.
 *
 * A segment is a header page followed by the slots and a guard line. The
 * header holds no pointers, only fixed-width fields in native endianness, so
 * it works in any address space. Producer state, consumer state and each wait
 * word live on their own 128-byte line (two 64-byte lines: the adjacent-line
 * prefetcher pulls pairs).
 *
 * Positions (head, tail, slot sequence numbers) are free-running 64-bit
 * counters that encode (lap << shift) | index, where 2^shift >= capacity,
 * shift >= 1, and index < capacity. Advancing wraps the index at exactly `capacity` with a
 * compare instead of a division, so any capacity is honoured exactly and the
 * hot path never divides. "One lap later" is + (1 << shift), so full is
 * head == tail + lap and the arithmetic wraps at 2^64 like plain counters.
 *
 * Trust: a peer may scribble over the segment. Everything that sizes memory
 * accesses (geometry) is validated once at open and copied into the handle;
 * the hot path never uses a shared value to index memory without bounding it.
 */
#ifndef SHMRING_RING_H
#define SHMRING_RING_H

#include "internal.h"

#include <stdatomic.h>
#include <stdint.h>

#define SHMRING_MAGIC	       0x474e49524d485353ull /* "SSHMRING" */
#define SHMRING_FORMAT_VERSION 1u
#define SHMRING_LINE	       128u
#define SHMRING_HDR_SIZE       4096u
#define SHMRING_REG_SLOTS      15u /* registry entries per role */

enum { SHMRING_INIT_NONE = 0, SHMRING_INIT_BUSY = 1, SHMRING_INIT_READY = 2 };

/* An eventcount (DESIGN.md §5, the protocol is argued in wait.c). seq is the
 * futex word: bit 0 says "someone is about to sleep or sleeps", the other bits
 * count wakeups. The counters are for observers (shmring stat) only. */
struct shmring__ec {
	_Atomic uint32_t seq;
	_Atomic uint32_t sleepers; /* waiting now */
	_Atomic uint64_t sleeps;   /* times a waiter went to sleep */
	_Atomic uint64_t wakes;	   /* futex_wake calls made by publishers */
};

#define LINE_PAD(name, used) char name[SHMRING_LINE - (used)]

struct shmring__hdr {
	/* line 0: geometry, read-only once init_state is READY */
	uint64_t magic;
	uint32_t version;
	_Atomic uint32_t init_state;
	uint32_t policy;
	uint32_t shift; /* index bits: 2^shift >= capacity */
	uint64_t elem_size;
	uint64_t capacity;
	uint64_t slot_size;
	uint64_t data_offset;
	uint64_t total_size;
	LINE_PAD(pad0, 64);
	/* line 1: producer side. SPSC: published head; MP: claim counter. */
	_Atomic uint64_t head;
	LINE_PAD(pad1, 8);
	/* line 2: consumer side. SPSC/MPSC: published tail; MC: claim counter. */
	_Atomic uint64_t tail;
	LINE_PAD(pad2, 8);
	/* line 3, 4: wait state for consumers (not empty), producers (not full) */
	struct shmring__ec not_empty;
	LINE_PAD(pad3, sizeof(struct shmring__ec));
	struct shmring__ec not_full;
	LINE_PAD(pad4, sizeof(struct shmring__ec));
	/* line 5, 6: role registry: the pid of each holder, for observers; an
	 * OFD lock on the segment file is what holds the role (ring.c). Entry 0
	 * is the exclusive holder for single-producer/-consumer roles. */
	_Atomic uint64_t producers[SHMRING_REG_SLOTS];
	_Atomic uint64_t producers_extra; /* holders that found the table full */
	_Atomic uint64_t consumers[SHMRING_REG_SLOTS];
	_Atomic uint64_t consumers_extra;
	/* line 7: counters for observers, updated on slow paths only */
	_Atomic uint64_t opens; /* handles opened on this ring, ever */
	/* set by any handle whose publishes skip the fence (wait.c) */
	_Atomic uint32_t fenceless_publishers;
	LINE_PAD(pad7, 12);
};

_Static_assert(sizeof(struct shmring__hdr) == 8 * SHMRING_LINE, "header layout");
_Static_assert(sizeof(struct shmring__hdr) <= SHMRING_HDR_SIZE, "header page");

/* Slot of a multi-producer or multi-consumer ring (Vyukov): the sequence
 * number says whose turn it is, the element follows. */
struct shmring__mslot {
	_Atomic uint64_t seq;
	unsigned char data[];
};

/* Handle kinds: policy and role in one switchable value. */
enum shmring__kind {
	K_SPSC_PROD,
	K_SPSC_CONS,
	K_MPSC_PROD,
	K_MPSC_CONS,
	K_MPMC_PROD,
	K_MPMC_CONS,
};

struct shmring__waitfd; /* wait.c */

struct shmring {
	/* hot: read on every call */
	struct shmring__hdr *hdr;
	unsigned char *slots;
	enum shmring__kind kind;
	unsigned int shift;
	uint64_t cap;  /* trusted copies of the validated geometry */
	uint64_t mask; /* (1 << shift) - 1 */
	uint64_t lap;  /* 1 << shift */
	size_t elem_size;
	size_t slot_size;
	bool fenceless;		/* publishes need no fence: waiters use membarrier */
	bool waiter_membarrier; /* we may issue membarrier before sleeping */
	bool sliced;		/* our waits must wake up now and then (wait.c) */
	/* private side state: SPSC both sides, MPSC consumer */
	uint64_t pos;	 /* my next position */
	uint64_t cached; /* SPSC: the other side's position as last read */
	/* cold */
	long spin_ns;
	enum shmring_policy policy;
	enum shmring_role role;
	struct shmring_mem *mem;
	size_t offset; /* of the ring in mem */
	bool own_mem;
	pid_t pid;	/* process that opened the handle */
	uint64_t owner; /* registry word */
	int reg_index;	/* registry entry, -1 if none */
	int fd_backend;
	struct shmring__waitfd *waitfd;
	char name[SHMRING_NAME_BUF]; /* "" when attached to caller memory */
};

/* ---- positions ----------------------------------------------------------- */

static inline uint64_t pos_next(const struct shmring *r, uint64_t p)
{
	/* (p | mask) + 1 is "index 0 of the next lap". */
	return ((p & r->mask) + 1 == r->cap) ? (p | r->mask) + 1 : p + 1;
}

/* P advanced by N <= cap positions. */
static inline uint64_t pos_add(const struct shmring *r, uint64_t p, uint64_t n)
{
	uint64_t idx = (p & r->mask) + n;

	return idx >= r->cap ? (p & ~r->mask) + r->lap + (idx - r->cap) : p + n;
}

/* Number of positions from T to H, clamped to [0, capacity]: H up to a lap
 * behind T (a stale read on a weakly ordered CPU) counts as 0, and a
 * scribbled index can never make a caller believe in more than capacity. */
static inline uint64_t pos_count(const struct shmring *r, uint64_t h, uint64_t t)
{
	const uint64_t lapmask = UINT64_MAX >> r->shift;
	uint64_t laps = ((h >> r->shift) - (t >> r->shift)) & lapmask;
	uint64_t hi = h & r->mask, ti = t & r->mask;

	if (laps == lapmask || (laps == 0 && hi < ti))
		return 0;
	if (laps > 1)
		return r->cap;
	return laps * r->cap + hi - ti > r->cap ? r->cap : laps * r->cap + hi - ti;
}

static inline void *slot_at(const struct shmring *r, uint64_t p)
{
	return r->slots + (size_t)(p & r->mask) * r->slot_size;
}

/* A full barrier between a store and a later load (Dekker): on x86 a locked
 * RMW on the stack, which is what GCC emits for atomic_thread_fence(seq_cst)
 * but also visible to ThreadSanitizer builds, where GCC warns about fences. */
static inline void shmring__full_fence(void)
{
#if defined(__x86_64__)
	__asm__ __volatile__("lock; orl $0, (%%rsp)" ::: "memory", "cc");
#else
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* ---- wait.c --------------------------------------------------------------- */

void shmring__ec_wake(struct shmring *r, struct shmring__ec *ec);

/* Decides whether the handle publishes without a fence and whether its
 * waits can issue membarrier (once per process; see wait.c). */
void shmring__barrier_setup(struct shmring *r);

/* After publishing (a store the waiter's re-check reads), wake sleepers if
 * any announced themselves. The barrier orders our publishing store before
 * our load of seq; it pairs with the waiter's barrier after its fetch_or
 * (shmring__wait_op): a fence on both sides, or, when this process is
 * registered for membarrier, only a compiler barrier here because the waiter
 * forces a full barrier on us with membarrier(GLOBAL_EXPEDITED). Zero
 * syscalls when nobody sleeps. */
static inline void shmring__ec_signal(struct shmring *r, struct shmring__ec *ec)
{
	if (likely(r->fenceless))
		atomic_signal_fence(memory_order_seq_cst);
	else
		shmring__full_fence();
	if (unlikely(atomic_load_explicit(&ec->seq, memory_order_relaxed) & 1))
		shmring__ec_wake(r, ec);
}

/* W1 + W2 of the protocol in wait.c: announce a waiter on EC and order that
 * before the caller's re-check. Returns the futex value to wait on. */
uint32_t shmring__ec_announce(struct shmring *r, struct shmring__ec *ec);

/* Sleeps while *WORD == EXPECTED until DEADLINE (absolute CLOCK_MONOTONIC
 * ns, UINT64_MAX = never). 0 when woken or changed, -ETIMEDOUT, -EINTR. */
int shmring__futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline);
void shmring__futex_wake_all(_Atomic uint32_t *word);

/* One attempt of the operation: 0 or a negative errno. */
typedef int (*shmring__op_fn)(struct shmring *r, void *buf);

/* Blocks until OP succeeds (0), DEADLINE passes (-ETIMEDOUT; UINT64_MAX =
 * never) or OP fails otherwise (its negative errno). */
int shmring__wait_op(struct shmring *r, struct shmring__ec *ec, shmring__op_fn op,
		     void *buf, uint64_t deadline_ns);

uint64_t shmring__now_ns(void);

/* ---- ring.c / queue.c ----------------------------------------------------- */

/* Checks a header that says READY: magic, version, and a geometry that is the
 * one its own parameters give and fits in ROOM bytes. 0 or -EPROTO. */
int shmring__hdr_validate(const struct shmring__hdr *h, size_t room);

/* The byte of the segment file whose OFD lock stands for registry entry I
 * of ROLE of the ring at RING_OFFSET, and whether another open file of the
 * segment holds that lock (a live holder). See ring.c. */
off_t shmring__reg_lock_byte(size_t ring_offset, int role, unsigned int i);
bool shmring__reg_held(int fd, off_t byte);

int shmring__try_push(struct shmring *r, void *elem);
int shmring__try_pop(struct shmring *r, void *elem);
/* Whether the handle's next try_push (producer) / try_pop (consumer) would
 * find room / an element, without doing it. A corrupt index counts as
 * "yes", so that the operation itself reports EPROTO. */
bool shmring__can_progress(struct shmring *r);

/* ---- waitfd.c ------------------------------------------------------------- */

/* After a try call found nothing to do: make the handle's fd wait again.
 * 0, or a negative errno when no wait could be started. */
int shmring__waitfd_rearm(struct shmring *r);
void shmring__waitfd_close(struct shmring *r);

/* The eventcount a handle waits on: consumers wait for "not empty",
 * producers for "not full". */
static inline struct shmring__ec *shmring__my_ec(const struct shmring *r)
{
	return r->role == SHMRING_CONSUMER ? &r->hdr->not_empty : &r->hdr->not_full;
}

/* Test hook: move both indices of a fresh, empty ring to START (for
 * wraparound tests). Not exported from the shared library. */
int shmring__debug_set_position(struct shmring *r, uint64_t start);

#endif /* SHMRING_RING_H */
