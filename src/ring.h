/* SPDX-License-Identifier: MIT */
/*
 * The ring segment format (DESIGN.md §3, §9) and the ring handle.
 *
 * A segment is a header page followed by the slots and a guard line. The
 * header holds no pointers, only fixed-width fields in native endianness, so
 * it works in any address space. Producer state, consumer state and each wait
 * word live on their own 128-byte line (two 64-byte lines: the adjacent-line
 * prefetcher pulls pairs).
 *
 * Every slot is the element followed by a 64-bit sequence word that says
 * whose turn the slot is; readers learn whether a slot is ready from the slot
 * itself, so a consumer polling an empty ring touches only the line the
 * producer writes next (format version 2).
 *
 * Positions (head, tail) are free-running 64-bit counters that encode
 * (lap << shift) | index, where 2^shift >= capacity, shift >= 1, and
 * index < capacity. Advancing wraps the index at exactly `capacity` with a
 * compare instead of a division, so any capacity is honoured exactly and the
 * hot path never divides. "One lap later" is + (1 << shift).
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
#include <sys/types.h>

#define SHMRING_MAGIC	       0x474e49524d485353ull /* "SSHMRING" */
#define SHMRING_FORMAT_VERSION 2u
#define SHMRING_LINE	       128u
#define SHMRING_HDR_SIZE       4096u
#define SHMRING_REG_SLOTS      15u /* registry entries per role (observers) */

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
	uint64_t seq_offset; /* of the sequence word in a slot */
	uint64_t instance;   /* random, chosen when the header is initialised */
	LINE_PAD(pad0, 80);
	/* line 1: producer side. SPSC: published head; MP: a hint (below). */
	_Atomic uint64_t head;
	LINE_PAD(pad1, 8);
	/* line 2: consumer side. SPSC/MPSC: published tail; MPMC: a hint. */
	_Atomic uint64_t tail;
	LINE_PAD(pad2, 8);
	/* line 3, 4: wait state for consumers (not empty), producers (not full) */
	struct shmring__ec not_empty;
	LINE_PAD(pad3, sizeof(struct shmring__ec));
	struct shmring__ec not_full;
	LINE_PAD(pad4, sizeof(struct shmring__ec));
	/* line 5, 6: registry for observers: (token << 32) | pid of holders.
	 * What holds a role is an OFD lock (roles.c), never this word. */
	_Atomic uint64_t producers[SHMRING_REG_SLOTS];
	_Atomic uint64_t pad5;
	_Atomic uint64_t consumers[SHMRING_REG_SLOTS];
	_Atomic uint64_t pad6;
	/* line 7: counters for observers, updated on slow paths only */
	_Atomic uint64_t opens;		/* handles opened on this ring, ever */
	_Atomic uint64_t abandoned;	/* slots repaired after a dead claimer */
	_Atomic uint64_t next_token[2]; /* token counters, producers/consumers */
	/* set by any handle whose publishes skip the fence (wait.c) */
	_Atomic uint32_t fenceless_publishers;
	LINE_PAD(pad7, 36);
};

_Static_assert(sizeof(struct shmring__hdr) == 8 * SHMRING_LINE, "header layout");
_Static_assert(sizeof(struct shmring__hdr) <= SHMRING_HDR_SIZE, "header page");

/* Handle kinds: policy and role in one switchable value. While a handle has
 * elements borrowed (reserve/peek) or was inherited over fork, its kind is
 * one of the last two, so every data call's dispatch refuses it at no cost
 * to the calls that succeed. */
enum shmring__kind {
	K_SPSC_PROD,
	K_SPSC_CONS,
	K_MPSC_PROD,
	K_MPSC_CONS,
	K_MPMC_PROD,
	K_MPMC_CONS,
	K_BORROWED, /* EBUSY: a reservation or a peek is outstanding */
	K_FORKED,   /* EBADF: the handle belongs to the parent process */
};

struct shmring__waitfd; /* waitfd.c */

/* A claim seen in the way (repair.c): a slot that a producer or consumer
 * owns and that this handle waits for. */
struct shmring__stuck {
	uint64_t pos, val; /* the slot's position and its sequence word */
	uint64_t since;	   /* when first seen (ns), 0 until looked at the clock */
	uint64_t next_check;
	uint32_t polls;
	uint32_t dead_token; /* found dead at the last check, until dead_until */
	uint64_t dead_until;
};

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
	size_t seq_off;		/* of the sequence word in a slot */
	uint64_t lapmask;	/* MP sequence words: lap numbers modulo lapmask + 1 */
	uint64_t token;		/* MP claims: who we are, pre-shifted into place */
	bool fenceless;		/* publishes need no fence: waiters use membarrier */
	bool waiter_membarrier; /* we may issue membarrier before sleeping */
	bool sliced;		/* our waits must wake up now and then (wait.c) */
	bool claim_wait;	/* the last try found a claim in its way (repair.c) */
	bool walk_cut;		/* the last try stopped walking before it knew (mp.h) */
	/* private side state */
	uint64_t pos;	 /* SPSC, MPSC consumer: my next position */
	uint64_t cached; /* SPSC: the other side's position as last read */
	/* zero-copy (reserve/peek): what is borrowed, while kind is K_BORROWED */
	enum shmring__kind real_kind;
	uint64_t borrow_pos;
	size_t borrowed;
	struct shmring__stuck stuck;
	/* cold */
	_Atomic bool cancelled; /* shmring_cancel: blocking calls end (ECANCELED) */
	bool eintr;		/* SHMRING_F_EINTR */
	long spin_ns;
	enum shmring_policy policy;
	enum shmring_role role;
	struct shmring_mem *mem;
	size_t offset; /* of the ring in mem */
	bool own_mem;
	pid_t pid;   /* process that opened the handle */
	int lock_fd; /* private open file of the segment: roles, token (roles.c) */
	off_t lock_base;
	uint32_t token_id; /* our token (0 on local memory) */
	bool role_lock;	   /* holds the exclusive role lock */
	int reg_index;	   /* registry entry for observers, -1 if none */
	int fd_backend;
	struct shmring__waitfd *waitfd;
	struct shmring *proc_next, *proc_prev; /* the process's handles (roles.c) */
	char name[SHMRING_NAME_BUF];	       /* "" when attached to caller memory */
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

/* Elements from P to the end of the lap (where a run of slots wraps). */
static inline uint64_t pos_to_wrap(const struct shmring *r, uint64_t p)
{
	return r->cap - (p & r->mask);
}

static inline unsigned char *slot_at(const struct shmring *r, uint64_t p)
{
	return r->slots + (size_t)(p & r->mask) * r->slot_size;
}

static inline _Atomic uint64_t *seq_at(const struct shmring *r, uint64_t p)
{
	return (_Atomic uint64_t *)(slot_at(r, p) + r->seq_off);
}

/* ---- multi-producer/-consumer sequence words (mp.h) ------------------------
 *
 * A slot of an MPSC/MPMC ring serving position p (lap L = p >> shift) goes
 *
 *   FREE(L) --producer CAS--> CLAIMED(L, token) --store--> READY(L)
 *     --consumer (MPMC: CAS to TAKING(L, token))--> FREE(L + 1)
 *
 * word = (L mod 2^lapbits) << 24 | token << 2 | state. A zeroed slot is
 * FREE(0). The claim is one CAS on the slot that also says who claimed it,
 * so a claim whose owner died can be recognised and repaired (repair.c);
 * head and tail are only hints where to start looking. A slot of lap L + 1
 * seen by someone at lap L was skipped (given back, or repaired). */
enum { MP_FREE = 0, MP_CLAIMED = 1, MP_READY = 2, MP_TAKING = 3 };
#define MP_TOKEN_SHIFT 2
#define MP_TOKEN_BITS  22
#define MP_LAP_SHIFT   24
#define MP_LAP_BITS    40

static inline uint64_t mp_lap(const struct shmring *r, uint64_t p)
{
	return (p >> r->shift) & r->lapmask;
}

static inline uint64_t mp_word(const struct shmring *r, uint64_t p, unsigned int state)
{
	return mp_lap(r, p) << MP_LAP_SHIFT | state;
}

static inline unsigned int mp_state(uint64_t w)
{
	return (unsigned int)(w & 3);
}

static inline uint32_t mp_token(uint64_t w)
{
	return (uint32_t)(w >> MP_TOKEN_SHIFT) & ((1u << MP_TOKEN_BITS) - 1);
}

/* Laps from position P's lap to word W's: 0 same, 1 next, -1 previous. */
static inline int64_t mp_lapdiff(const struct shmring *r, uint64_t w, uint64_t p)
{
	uint64_t half = (r->lapmask >> 1) + 1;
	uint64_t d = ((w >> MP_LAP_SHIFT) - mp_lap(r, p)) & r->lapmask;

	return (int64_t)(d ^ half) - (int64_t)half;
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
 * (shmring__ec_announce): a fence on both sides, or, when this process is
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

/* One attempt of an operation: 0 (or a count) or a negative errno. */
typedef long (*shmring__op_fn)(struct shmring *r, void *buf, size_t n);

/* Blocks until OP succeeds (its result), DEADLINE passes (-ETIMEDOUT;
 * UINT64_MAX = never) or OP fails otherwise (its negative errno). */
long shmring__wait_op(struct shmring *r, struct shmring__ec *ec, shmring__op_fn op,
		      void *buf, size_t n, uint64_t deadline_ns);

/* How long a wait may sleep before it must look at the ring again: the
 * slice when the handle is sliced or waits behind a claim (repair.c), else
 * DEADLINE itself. */
uint64_t shmring__wait_until(const struct shmring *r, uint64_t now, uint64_t deadline);

uint64_t shmring__now_ns(void);

/* ---- ring.c ---------------------------------------------------------------- */

/* Checks a header that says READY: magic, version, and a geometry that is the
 * one its own parameters give and fits in ROOM bytes. 0 or -EPROTO. On
 * success, GEO (if not NULL) gets the geometry fields of a handle (policy,
 * cap, shift, lap, mask, elem_size, slot_size, seq_off, lapmask). */
int shmring__hdr_validate(const struct shmring__hdr *h, size_t room, struct shmring *geo);

/* Reads the sequence word of position P of ring R into *W; false if it
 * cannot (the walk then stops there). */
typedef bool (*shmring__seq_reader)(const struct shmring *r, uint64_t p, void *ctx,
				    uint64_t *w);

/* MPSC/MPMC head and tail are hints (mp.h) that can lag: walks from HINT, at
 * most MOST positions, over the slots that show it is behind: claimed or
 * done ones for head (HEAD), done ones for tail. Needs only R's geometry;
 * READ gets the words (from the mapping, or pread for observers). */
uint64_t shmring__mp_refine(const struct shmring *r, uint64_t hint, bool head,
			    uint64_t most, shmring__seq_reader read, void *ctx);

/* ---- roles.c: roles and claims that follow processes --------------------- */

/* Opens the handle's private open file of the segment (R->mem->fd) and
 * tracks the handle for fork. 0 or a negative errno. */
int shmring__roles_open(struct shmring *r);
/* Once the header is valid: takes the exclusive role (if the handle's is)
 * and a token. 0, -EBUSY (the role is held), -EUSERS (no token free), or
 * another negative errno. Local memory: the registry word alone decides
 * exclusive roles. */
int shmring__roles_claim(struct shmring *r);
/* flock(2) of the handle's private open file (-1 for local memory: 0). */
int shmring__roles_flock(struct shmring *r, int op);
/* Takes the handle's registry entry for observers (after the geometry). */
void shmring__roles_register(struct shmring *r);
void shmring__roles_close(struct shmring *r);
/* Whether an open file other than the handle's holds any lock of the ring
 * (a live handle), or token TOKEN's lock (a live claimer). */
bool shmring__ring_in_use(const struct shmring *r);
bool shmring__token_alive(const struct shmring *r, uint32_t token);
/* For observers: the lock byte of TOKEN of the ring at RING_OFFSET, and
 * whether another open file holds it; the number of live holders of ROLE. */
off_t shmring__token_byte(size_t ring_offset, uint32_t token);
bool shmring__lock_held(int fd, off_t byte);
unsigned int shmring__live_holders(int fd, size_t ring_offset, int role);
#define SHMRING_LOCK_BASE   ((off_t)1 << 40)
#define SHMRING_LOCK_REGION ((off_t)1 << 23)

/* ---- repair.c -------------------------------------------------------------- */

/* A slot at position P holds word W, a claim (CLAIMED or TAKING) that stands
 * in this handle's way, the FIRST in the caller's walk or one after it.
 * Repairs it when its owner is dead (and says so with true: look again),
 * else remembers it (only a first one) and sets r->claim_wait, so that
 * blocking waits come back to look. */
bool shmring__repair_claim(struct shmring *r, uint64_t p, uint64_t w, bool first);

/* ---- spsc.h / mp.h via queue.c ------------------------------------------- */

/* How many times a call goes on with a walk cut short (r->walk_cut, mp.h)
 * before it answers EAGAIN. */
#define SHMRING_WALK_RETRIES 64

/* Gives back an outstanding reservation or peek (shmring_close). */
void shmring__borrow_drop(struct shmring *r);

/* Whether the handle's next try_push (producer) / try_pop (consumer) would
 * find room / an element, without doing it. A corrupt index counts as
 * "yes", so that the operation itself reports EPROTO. */
bool shmring__can_progress(struct shmring *r);

/* ---- waitfd.c ------------------------------------------------------------- */

/* After a try call found nothing to do: make the handle's fd wait again.
 * 0, or a negative errno when no wait could be started. */
int shmring__waitfd_rearm(struct shmring *r);
void shmring__waitfd_close(struct shmring *r);
/* The calling thread's id as waitfd.c caches it (0: not looked up). */
extern __thread pid_t shmring__tls_tid;

/* The eventcount a handle waits on: consumers wait for "not empty",
 * producers for "not full". */
static inline struct shmring__ec *shmring__my_ec(const struct shmring *r)
{
	return r->role == SHMRING_CONSUMER ? &r->hdr->not_empty : &r->hdr->not_full;
}

/* Test hooks, not exported from the shared library. Move both indices of a
 * fresh, empty ring to START (for wraparound tests); make the next
 * io_uring submits of pollable fds fail (waitfd.c). */
int shmring__debug_set_position(struct shmring *r, uint64_t start);
extern int shmring__debug_uring_refusals;

#endif /* SHMRING_RING_H */
