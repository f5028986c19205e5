// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: the data path on a ring whose shared memory anybody may
 * overwrite at any moment.
 *
 * A valid ring in local memory, placed so that it ends at a PROT_NONE page
 * with everything around it poisoned for ASan (fuzz.h). The input chooses
 * the policy, element size, capacity (1..40) and the first position (0,
 * near the 2^64 wrap of positions, near the 2^40 wrap of MP lap numbers, or
 * anywhere), then is a program: data calls on up to four handles (producer,
 * consumer, and a second of each where the policy allows: the other calls
 * must fail with EBUSY), interleaved with scribbles that write arbitrary or
 * nearly-right values into head, tail, the eventcounts, the registry and
 * counters, the geometry, any slot's sequence word or bytes. See the op
 * list below; README.md has the byte format.
 *
 * Whatever the memory says:
 *  - every call returns 0/-1 or a count within 0..n, and fails only with an
 *    errno the API lists for it (EAGAIN, EPROTO, ETIMEDOUT, EBUSY, EINVAL),
 *    EBUSY exactly while the handle has a borrow outstanding and EINVAL
 *    exactly for the wrong role or a bad argument; errno is left alone on
 *    success;
 *  - pending() <= capacity, available() + pending() == capacity, full() and
 *    empty() agree with them;
 *  - reserve/peek pointers lie inside the ring's slot area, on slots;
 *  - nothing outside the ring is read or written.
 * Until the first scribble the ring must also behave as a queue: a model
 * of every element (a tag and a pattern in each) checks that pops return
 * only elements pushed and not yet popped, intact, in FIFO order for SPSC
 * and MPSC; that no reservation lends a slot whose element is unconsumed;
 * that EPROTO never happens; that try calls succeed whenever the ring has
 * room (elements) and no borrow or skipped slot is in the way; and that at
 * the end every element is still there to pop.
 *
 * Blocking calls with an infinite timeout are never made (a scribbled ring
 * may stay empty forever); timed calls use 0 or 1000 ns. Local memory has
 * no tokens: a claim is never repaired there, so a scribbled CLAIMED word
 * just means EAGAIN.
 */
#include "fuzz.h"

/* After producers gave back reservations they may run laps ahead of the
 * consumer (given-back slots serve the next lap at once). The library's
 * walks go on from a cut for SHMRING_WALK_RETRIES tries per call (the
 * walk-limit finding of fuzz/crashes/README.md, fixed in src/mp.h and
 * queue.c), so a try_pop answers EAGAIN with an element ready only beyond
 * that many laps; the drain tries again while the consumer still moves.
 * FUZZ_CHECK_WALK_LIMIT=1 stops it at the first EAGAIN instead. */
#ifndef FUZZ_CHECK_WALK_LIMIT
#define FUZZ_CHECK_WALK_LIMIT 0
#endif

#define CAP_MAX	  40
#define BURST_MAX (CAP_MAX + 2)
#define ELEM_MAX  1472
#define TAG_MAX	  (1u << 18)

static const size_t elem_sizes[16] = { 1,  3,  7,  8,	9,   15,  16,  24,
				       31, 56, 64, 100, 120, 128, 200, ELEM_MAX };

enum { H_P, H_C, H_P2, H_C2, NH };

struct hs {
	struct shmring *r;
	int role;
	size_t borrowed; /* what the harness lent: mirrors the handle's state */
	bool cancelled;	 /* shmring_cancel: calls that would block say ECANCELED */
	unsigned char *first;
	size_t stride;
	uint64_t tags[CAP_MAX]; /* of the borrowed elements (model) */
};

static struct {
	struct fuzz_fence fence;
	struct shmring_mem mem;
	int policy;
	size_t elem, cap, slot, size;
	struct hs h[NH];
	/* The model: valid until the first scribble. */
	bool clean; /* nobody scribbled */
	bool model; /* clean, and elements carry tags */
	bool gaps;  /* an MP reservation was given back in part: slots skipped */
	uint64_t next_tag, oldest;
	uint64_t max_taken;	/* the latest element consumed */
	uint64_t count;		/* elements in the ring (state 1 or 2) */
	uint8_t state[TAG_MAX]; /* 0 not in the ring, 1 in it, 2 peeked */
} S;

static unsigned char io[BURST_MAX * ELEM_MAX];
/* SHMRING_FUZZ_TRACE=1: every op on stderr; =2: and the slots after it. */
static int trace;
static void dump(const char *why);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	trace = getenv("SHMRING_FUZZ_TRACE") ? atoi(getenv("SHMRING_FUZZ_TRACE")) : 0;
	fuzz_fence_init(&S.fence, 4096 + CAP_MAX * fuzz_slot_size(ELEM_MAX) + 128);
	return 0;
}

/* ---- elements ---------------------------------------------------------------- */

static void put_elem(unsigned char *e, uint64_t tag)
{
	if (S.elem < 8) {
		memset(e, (int)(tag & 0xff), S.elem);
		return;
	}
	memcpy(e, &tag, sizeof(tag));
	for (size_t i = 8; i < S.elem; i++)
		e[i] = (unsigned char)(tag * 131 + i);
}

/* The tag of an element, and whether the rest of it is the pattern. */
static uint64_t get_tag(const unsigned char *e, bool *intact)
{
	uint64_t tag;

	memcpy(&tag, e, sizeof(tag));
	*intact = true;
	for (size_t i = 8; i < S.elem; i++)
		if (e[i] != (unsigned char)(tag * 131 + i))
			*intact = false;
	return tag;
}

/* ---- the model ----------------------------------------------------------------- */

static bool fifo(void)
{
	return S.policy != SHMRING_MPMC;
}

static bool any_borrow(void)
{
	for (int i = 0; i < NH; i++)
		if (S.h[i].borrowed)
			return true;
	return false;
}

/* The oldest element in the ring (lent or not). */
static uint64_t oldest_present(void)
{
	while (S.oldest < S.next_tag && !S.state[S.oldest])
		S.oldest++;
	return S.oldest;
}

/* No borrow, no skipped slot, and no element consumed out of order (MPMC
 * consumers may take a later one while an earlier one is peeked: its
 * position stays in use until the earlier goes, and pending() counts
 * positions): the ring holds exactly the elements counted, in consecutive
 * positions, and every try call must make progress when the count allows. */
static bool strict(void)
{
	return S.model && !any_borrow() && !S.gaps &&
	       !(S.count && S.max_taken > oldest_present());
}

static void scribbled(void)
{
	S.clean = false;
	S.model = false;
}

static uint64_t new_tag(void)
{
	if (S.next_tag >= TAG_MAX - 1)
		S.model = false; /* out of tags: the model stops here */
	return S.next_tag < TAG_MAX - 1 ? S.next_tag++ : 0;
}

/* Elements of a push of up to N, tagged from the next tag on; the tags are
 * taken only for the elements that moved (model_pushed). */
static void fill_push(size_t n)
{
	for (size_t i = 0; i < n; i++)
		put_elem(io + i * S.elem, S.next_tag + i);
}

static void model_pushed(size_t m)
{
	if (!S.model)
		return;
	for (size_t i = 0; i < m; i++) {
		uint64_t t = new_tag();

		if (!S.model)
			return;
		S.state[t] = 1;
		S.count++;
	}
}

/* The oldest element in the ring that is not lent to a peek: for FIFO
 * policies, the one a consumer must get next. */
static uint64_t oldest_unpeeked(void)
{
	uint64_t t;

	for (t = oldest_present(); t < S.next_tag && S.state[t] != 1; t++)
		;
	return t;
}

/* An element a consumer got (PEEK: lent, else taken): it must be in the
 * ring, not lent to anyone, intact, and for FIFO policies the oldest. */
static uint64_t model_take(const unsigned char *e, bool peek)
{
	bool intact;
	uint64_t t = get_tag(e, &intact);

	if (!S.model)
		return t;
	FUZZ_CHECKF(intact, "element %lu is torn", (unsigned long)t);
	FUZZ_CHECKF(t >= 1 && t < S.next_tag && S.state[t] == 1,
		    "got element %lu, which is %s", (unsigned long)t,
		    t >= 1 && t < S.next_tag && S.state[t] == 2 ? "lent to a peek" :
								  "not in the ring");
	if (fifo())
		FUZZ_CHECKF(t == oldest_unpeeked(), "got element %lu, expected %lu",
			    (unsigned long)t, (unsigned long)oldest_unpeeked());
	if (peek) {
		S.state[t] = 2;
	} else {
		S.state[t] = 0;
		S.count--;
		S.max_taken = t > S.max_taken ? t : S.max_taken;
	}
	return t;
}

/* ---- handles --------------------------------------------------------------------- */

static bool exclusive(int role)
{
	return S.policy == SHMRING_SPSC ||
	       (S.policy == SHMRING_MPSC && role == SHMRING_CONSUMER);
}

static bool role_held(int role)
{
	for (int i = 0; i < NH; i++)
		if (S.h[i].r && S.h[i].role == role)
			return true;
	return false;
}

static void open_handle(int i)
{
	FUZZ_OPTS(opts);
	struct hs *h = &S.h[i];
	bool busy = exclusive(h->role) && role_held(h->role);

	errno = FUZZ_ERRNO_SENTINEL;
	h->r = shmring_attach(&S.mem, 0, (enum shmring_policy)S.policy,
			      (enum shmring_role)h->role, S.elem, S.cap, &opts);
	h->borrowed = 0;
	h->cancelled = false;
	if (h->r) {
		FUZZ_CHECK(errno == FUZZ_ERRNO_SENTINEL);
		FUZZ_CHECK(shmring_capacity(h->r) == S.cap);
		FUZZ_CHECKF(S.clean ? !busy : true,
			    "handle %d: a second holder of role %d", i, h->role);
		return;
	}
	if (S.clean)
		FUZZ_CHECKF(busy && errno == EBUSY, "handle %d: attach: %s", i,
			    strerror(errno));
	else
		FUZZ_CHECKF(fuzz_ebit(errno) & (E_BUSY | E_PROTO | E_INVAL),
			    "handle %d: attach: %s", i, strerror(errno));
}

/* Closing gives back what the handle borrowed, as commit(0)/release(0). */
static void close_handle(int i)
{
	struct hs *h = &S.h[i];

	if (h->borrowed && S.model) {
		if (h->role == SHMRING_PRODUCER) {
			S.gaps |= S.policy != SHMRING_SPSC;
		} else {
			for (size_t k = 0; k < h->borrowed; k++)
				S.state[h->tags[k]] = 1;
		}
	}
	shmring_close(h->r);
	h->r = NULL;
	h->borrowed = 0;
}

/* The error a call of ROLE on H gets before it looks at the ring, or 0. */
static int pre_error(const struct hs *h, int role)
{
	if (!h->r)
		return EINVAL;
	if (h->borrowed)
		return EBUSY;
	return h->role == role ? 0 : EINVAL;
}

/* What a call that looked at the ring may fail with besides its own. */
static unsigned int ring_errors(void)
{
	return S.clean ? 0 : E_PROTO;
}

static void check_state(const struct hs *h)
{
	size_t pending, avail;
	bool full, empty;

	errno = FUZZ_ERRNO_SENTINEL;
	pending = shmring_pending(h->r);
	avail = shmring_available(h->r);
	full = shmring_full(h->r);
	empty = shmring_empty(h->r);
	(void)shmring_position(h->r);
	if (!h->r) {
		FUZZ_CHECK(pending == 0 && avail == 0 && !full && empty &&
			   errno == EINVAL);
		return;
	}
	FUZZ_CHECK(errno == FUZZ_ERRNO_SENTINEL);
	FUZZ_CHECKF(pending <= S.cap, "pending %zu of %zu", pending, S.cap);
	FUZZ_CHECKF(avail == S.cap - pending, "available %zu, pending %zu of %zu", avail,
		    pending, S.cap);
	FUZZ_CHECK(full == (pending == S.cap));
	FUZZ_CHECK(empty == (pending == 0));
	if (!S.model)
		return;
	/* SPSC counts published elements; MPSC/MPMC count claimed positions,
	 * with reservations and skipped slots. */
	if (S.policy == SHMRING_SPSC || strict())
		FUZZ_CHECKF(pending == S.count, "pending %zu, %lu in the ring", pending,
			    (unsigned long)S.count);
	else
		FUZZ_CHECKF(pending >= S.count, "pending %zu, %lu in the ring", pending,
			    (unsigned long)S.count);
}

/* ---- data calls ------------------------------------------------------------------- */

/* A push of N that moved M (M <= 0: none): never into a full ring, and
 * exactly min(n, room) when nothing is in the way (strict). */
static void check_push_progress(const char *what, long m, size_t n)
{
	size_t room = S.cap - (size_t)S.count;

	if (!S.model)
		return;
	if (!room)
		FUZZ_CHECKF(m <= 0, "%s moved %ld into a full ring", what, m);
	if (strict())
		FUZZ_CHECKF(m == (long)(n < room ? n : room),
			    "%s of %zu moved %ld, room for %zu", what, n, m, room);
}

static void check_pop_progress(const char *what, long m, size_t n)
{
	if (S.model && strict())
		FUZZ_CHECKF(m == (long)(n < S.count ? n : S.count),
			    "%s of %zu moved %ld, %lu in the ring", what, n, m,
			    (unsigned long)S.count);
}

static void op_try_push(struct hs *h)
{
	int pre = pre_error(h, SHMRING_PRODUCER), rc;

	fill_push(1);
	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_try_push(h->r, io);
	if (pre) {
		FUZZ_CHECKF(rc == -1 && errno == pre, "try_push: %d %s, expected %s", rc,
			    strerror(errno), strerror(pre));
		return;
	}
	FUZZ_RESULT("try_push", rc, E_AGAIN | ring_errors());
	check_push_progress("try_push", rc == 0 ? 1 : 0, 1);
	if (rc == 0)
		model_pushed(1);
}

static void op_try_pop(struct hs *h)
{
	int pre = pre_error(h, SHMRING_CONSUMER), rc;

	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_try_pop(h->r, io);
	if (pre) {
		FUZZ_CHECKF(rc == -1 && errno == pre, "try_pop: %d %s, expected %s", rc,
			    strerror(errno), strerror(pre));
		return;
	}
	FUZZ_RESULT("try_pop", rc, E_AGAIN | ring_errors());
	check_pop_progress("try_pop", rc == 0 ? 1 : 0, 1);
	if (rc == 0)
		model_take(io, false);
}

static void op_timed(struct hs *h, bool push, uint64_t timeout)
{
	int pre = pre_error(h, push ? SHMRING_PRODUCER : SHMRING_CONSUMER), rc;

	if (push)
		fill_push(1);
	errno = FUZZ_ERRNO_SENTINEL;
	rc = push ? shmring_timed_push(h->r, io, timeout) :
		    shmring_timed_pop(h->r, io, timeout);
	if (pre) {
		FUZZ_CHECKF(rc == -1 && errno == pre, "timed: %d %s, expected %s", rc,
			    strerror(errno), strerror(pre));
		return;
	}
	FUZZ_RESULT(push ? "timed_push" : "timed_pop", rc,
		    (h->cancelled ? E_CANCELED : E_TIMEDOUT) | ring_errors());
	if (push) {
		check_push_progress("timed_push", rc == 0 ? 1 : 0, 1);
		if (rc == 0)
			model_pushed(1);
	} else {
		check_pop_progress("timed_pop", rc == 0 ? 1 : 0, 1);
		if (rc == 0)
			model_take(io, false);
	}
}

static void op_burst(struct hs *h, bool push, size_t n, bool null_buf)
{
	int pre = pre_error(h, push ? SHMRING_PRODUCER : SHMRING_CONSUMER);
	void *b = null_buf ? NULL : io;
	size_t moved_max = n < S.cap ? n : S.cap;
	ssize_t m;

	if (push)
		fill_push(moved_max);
	errno = FUZZ_ERRNO_SENTINEL;
	m = push ? shmring_push_burst(h->r, b, n) : shmring_pop_burst(h->r, b, n);
	if (!h->r || (null_buf && n))
		pre = EINVAL;
	else if (!n)
		pre = 0; /* nothing to move: 0 whatever the handle */
	if (pre) {
		FUZZ_CHECKF(m == -1 && errno == pre, "burst: %zd %s, expected %s", m,
			    strerror(errno), strerror(pre));
		return;
	}
	FUZZ_RESULT(push ? "push_burst" : "pop_burst", m, ring_errors());
	if (!n) {
		FUZZ_CHECK(m == 0);
		return;
	}
	FUZZ_CHECKF(m <= (ssize_t)moved_max, "burst of %zu moved %zd", n, m);
	if (h->role != (push ? SHMRING_PRODUCER : SHMRING_CONSUMER))
		return;
	if (push) {
		check_push_progress("push_burst", m, moved_max);
		if (m > 0)
			model_pushed((size_t)m);
	} else {
		check_pop_progress("pop_burst", m, moved_max);
		for (ssize_t i = 0; i < m; i++)
			model_take(io + (size_t)i * S.elem, false);
	}
}

/* reserve (producers) or peek (consumers) of N; a NULL FIRST when BAD. */
static void op_borrow(struct hs *h, bool reserve, size_t n, bool bad)
{
	int role = reserve ? SHMRING_PRODUCER : SHMRING_CONSUMER;
	int pre = pre_error(h, role);
	size_t moved_max = n < S.cap ? n : S.cap;
	void *first = NULL;
	size_t stride = 0;
	ssize_t m;

	if (!h->r || !n || bad)
		pre = EINVAL; /* checked before the handle's state */
	errno = FUZZ_ERRNO_SENTINEL;
	if (reserve)
		m = shmring_reserve(h->r, n, bad ? NULL : &first, &stride);
	else
		m = shmring_peek(h->r, n, bad ? NULL : &first, &stride);
	if (pre) {
		FUZZ_CHECKF(m == -1 && errno == pre, "%s: %zd %s, expected %s",
			    reserve ? "reserve" : "peek", m, strerror(errno),
			    strerror(pre));
		return;
	}
	FUZZ_RESULT(reserve ? "reserve" : "peek", m, ring_errors());
	FUZZ_CHECKF(m <= (ssize_t)moved_max, "borrowed %zd of %zu", m, n);
	if (m <= 0) {
		if (reserve)
			check_push_progress("reserve", m, 1);
		else
			check_pop_progress("peek", m, 1);
		return;
	}
	fuzz_check_borrow(S.mem.addr, S.cap, S.elem, first, stride, (size_t)m);
	h->borrowed = (size_t)m;
	h->first = first;
	h->stride = stride;
	for (ssize_t i = 0; i < m; i++) {
		unsigned char *e = (unsigned char *)first + (size_t)i * stride;

		if (reserve) {
			bool intact;
			uint64_t old = S.elem >= 8 ? get_tag(e, &intact) : 0;

			/* The slot must not hold an element nobody consumed. */
			if (S.model)
				FUZZ_CHECKF(old == 0 || old >= S.next_tag ||
						    !S.state[old],
					    "reserve lent the slot of element %lu",
					    (unsigned long)old);
			h->tags[i] = S.next_tag + (uint64_t)i;
			put_elem(e, h->tags[i]);
		} else {
			memcpy(io, e, S.elem); /* reads it all, as a user would */
			h->tags[i] = model_take(e, true);
		}
	}
	if (reserve && S.model) {
		S.next_tag += (uint64_t)m; /* taken now: claims are in this order */
		if (S.next_tag >= TAG_MAX - 1)
			S.model = false;
	}
}

/* commit (producers) or release (consumers) of N. */
static void op_unborrow(struct hs *h, bool commit, size_t n)
{
	int role = commit ? SHMRING_PRODUCER : SHMRING_CONSUMER;
	bool valid = h->r && h->borrowed && h->role == role && n <= h->borrowed;
	int rc;

	errno = FUZZ_ERRNO_SENTINEL;
	rc = commit ? shmring_commit(h->r, n) : shmring_release(h->r, n);
	if (!valid) {
		FUZZ_CHECKF(rc == -1 && errno == EINVAL, "%s of %zu (%zu lent): %d %s",
			    commit ? "commit" : "release", n, h->borrowed, rc,
			    strerror(errno));
		return;
	}
	FUZZ_RESULT(commit ? "commit" : "release", rc, 0);
	if (S.model) {
		for (size_t k = 0; k < h->borrowed; k++) {
			uint64_t t = h->tags[k];

			if (commit && k < n) {
				S.state[t] = 1;
				S.count++;
			} else if (!commit) {
				S.state[t] = k < n ? 0 : 1;
				S.count -= k < n;
				if (k < n && t > S.max_taken)
					S.max_taken = t;
			}
		}
		if (commit && n < h->borrowed && S.policy != SHMRING_SPSC)
			S.gaps = true;
	}
	h->borrowed = 0;
}

static void op_wait(struct hs *h, uint64_t timeout)
{
	int rc;

	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_wait(h->r, timeout);
	if (!h->r || h->borrowed) {
		FUZZ_CHECKF(rc == -1 && errno == (h->r ? EBUSY : EINVAL), "wait: %d %s",
			    rc, strerror(errno));
		return;
	}
	FUZZ_RESULT("wait", rc, h->cancelled ? E_CANCELED : E_TIMEDOUT);
	if (strict()) {
		bool can = h->role == SHMRING_PRODUCER ? S.count < S.cap : S.count > 0;

		FUZZ_CHECKF((rc == 0) == can, "wait: %d, %lu in the ring", rc,
			    (unsigned long)S.count);
	}
}

/* ---- scribbles ---------------------------------------------------------------------- */

static uint64_t ring_shift(void)
{
	return S.cap <= 2 ? 1 : 64 - (uint64_t)__builtin_clzll(S.cap - 1);
}

/* A position near REF: the same, a few away, some laps away, an index past
 * the capacity, near the wrap of 2^64, or anything. */
static uint64_t near_pos(struct fuzz_in *in, uint64_t ref)
{
	uint64_t shift = ring_shift(), mask = (1ull << shift) - 1;
	uint8_t how = fuzz_u8(in);
	int8_t d = (int8_t)fuzz_u8(in);

	switch (how % 7) {
	case 0:
		return fuzz_u64(in);
	case 1:
		return ref + (uint64_t)(int64_t)d;
	case 2:
		return ref + ((uint64_t)(int64_t)d << shift);
	case 3:
		return (ref & ~mask) | ((uint64_t)(uint8_t)d & mask); /* any index */
	case 4:
		return UINT64_MAX - (uint64_t)(uint8_t)d;
	case 5:
		return (uint64_t)(uint8_t)d;
	default:
		return ref;
	}
}

static _Atomic uint64_t *slot_word(size_t i)
{
	return (_Atomic uint64_t *)((unsigned char *)S.mem.addr + SHMRING_HDR_SIZE +
				    i * S.slot + (S.slot - 8));
}

/* A sequence word for slot I: SPSC "ready for p" (p + 1) or "free" (p)
 * around the head or tail; MP a word of any state and a nearby lap with a
 * small token; or anything. */
static uint64_t slot_value(struct fuzz_in *in, size_t i)
{
	struct shmring__hdr *hdr = S.mem.addr;
	uint64_t shift = ring_shift(), mask = (1ull << shift) - 1;
	uint8_t how = fuzz_u8(in);
	uint64_t ref = how & 1 ? atomic_load(&hdr->head) : atomic_load(&hdr->tail);
	uint64_t p = near_pos(in, (ref & ~mask) | i);
	uint64_t lapmask = (1ull << MP_LAP_BITS) - 1;

	if ((how >> 1) % 4 == 0)
		return fuzz_u64(in);
	if (S.policy == SHMRING_SPSC)
		return p + ((how >> 3) & 1);
	return (((p >> shift) & lapmask) << MP_LAP_SHIFT) |
	       (fuzz_bytes(in, 1) & 7) << MP_TOKEN_SHIFT | ((how >> 3) & 3);
}

static void op_scribble_index(struct fuzz_in *in)
{
	struct shmring__hdr *hdr = S.mem.addr;
	uint8_t which = fuzz_u8(in);
	_Atomic uint64_t *w = which & 1 ? &hdr->head : &hdr->tail;

	atomic_store(w, near_pos(in, atomic_load(which & 2 ? &hdr->head : &hdr->tail)));
	scribbled();
}

static void op_scribble_slot_word(struct fuzz_in *in)
{
	size_t i = fuzz_u8(in) % S.cap;

	atomic_store(slot_word(i), slot_value(in, i));
	scribbled();
}

static void op_scribble_slot_bytes(struct fuzz_in *in)
{
	size_t i = fuzz_u8(in) % S.cap, off = fuzz_bytes(in, 2) % S.slot;
	unsigned char *s = (unsigned char *)S.mem.addr + SHMRING_HDR_SIZE + i * S.slot;

	s[off] = fuzz_u8(in);
	scribbled();
}

/* Any other word of the header past the geometry: eventcounts, registry,
 * counters, the fenceless flag. */
static void op_scribble_header(struct fuzz_in *in)
{
	struct shmring__hdr *hdr = S.mem.addr;
	uint8_t which = fuzz_u8(in);
	uint64_t v = fuzz_u64(in);

	switch (which % 12) {
	case 0:
		atomic_store(&hdr->not_empty.seq, (uint32_t)v);
		break;
	case 1:
		atomic_store(&hdr->not_full.seq, (uint32_t)v);
		break;
	case 2:
		atomic_store(&hdr->not_empty.sleepers, (uint32_t)v);
		break;
	case 3:
		atomic_store(&hdr->not_full.sleepers, (uint32_t)v);
		break;
	case 4:
		atomic_store(&hdr->not_empty.sleeps, v);
		atomic_store(&hdr->not_full.wakes, v);
		break;
	case 5:
		atomic_store(&hdr->producers[fuzz_u8(in) % SHMRING_REG_SLOTS], v);
		break;
	case 6:
		atomic_store(&hdr->consumers[fuzz_u8(in) % SHMRING_REG_SLOTS], v);
		break;
	case 7:
		atomic_store(&hdr->opens, v);
		atomic_store(&hdr->abandoned, v);
		break;
	case 8:
		atomic_store(&hdr->next_token[v & 1], v);
		break;
	case 9:
		atomic_store(&hdr->fenceless_publishers, (uint32_t)v);
		break;
	case 10: /* our own pid in a registry word: the role looks held */
		atomic_store(v & 1 ? &hdr->producers[0] : &hdr->consumers[0],
			     (uint32_t)getpid());
		break;
	default:
		atomic_store(v & 1 ? &hdr->producers[0] : &hdr->consumers[0], 0);
		break;
	}
	scribbled();
}

/* A field of the geometry (line 0): handles keep their validated copy, so
 * this matters to the next attach (reopen). init_state never becomes BUSY:
 * an attach would wait 20 ms for an initialiser (fuzz_attach covers it). */
static void op_scribble_geometry(struct fuzz_in *in)
{
	struct shmring__hdr *hdr = S.mem.addr;
	uint8_t which = fuzz_u8(in);
	uint64_t v = fuzz_u64(in);

	if (which & 0x80)
		v &= 0xff; /* small values are the interesting ones */
	switch (which % 11) {
	case 0:
		hdr->magic = v;
		break;
	case 1:
		hdr->version = (uint32_t)v;
		break;
	case 2:
		atomic_store(&hdr->init_state, (uint32_t)v == SHMRING_INIT_BUSY ?
						       SHMRING_INIT_NONE :
						       (uint32_t)v);
		break;
	case 3:
		hdr->policy = (uint32_t)v;
		break;
	case 4:
		hdr->shift = (uint32_t)v;
		break;
	case 5:
		hdr->elem_size = v;
		break;
	case 6:
		hdr->capacity = v;
		break;
	case 7:
		hdr->slot_size = v;
		break;
	case 8:
		hdr->data_offset = v;
		break;
	case 9:
		hdr->total_size = v;
		break;
	default:
		hdr->seq_offset = v;
		break;
	}
	scribbled();
}

/* shmring_cancel: from now on the handle's calls that would block (timed,
 * shmring_wait) say ECANCELED instead of waiting; try and zero-copy calls
 * are not affected. */
static void op_cancel(struct hs *h)
{
	int rc;

	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_cancel(h->r);
	if (!h->r) {
		FUZZ_CHECK(rc == -1 && errno == EINVAL);
		return;
	}
	FUZZ_RESULT("cancel", rc, 0);
	h->cancelled = true;
}

/* Calls with a NULL ring or element: EINVAL, nothing else happens. */
static void op_bad_args(struct hs *h)
{
	int rc;

	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_try_push(h->r, NULL);
	FUZZ_CHECK(rc == -1 && errno == EINVAL);
	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_try_pop(h->r, NULL);
	FUZZ_CHECK(rc == -1 && errno == EINVAL);
	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_timed_pop(h->r, NULL, 0);
	FUZZ_CHECK(rc == -1 && errno == EINVAL);
	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_timed_push(NULL, io, 0);
	FUZZ_CHECK(rc == -1 && errno == EINVAL);
}

/* ---- the program ----------------------------------------------------------------------- */

static void setup(struct fuzz_in *in)
{
	uint8_t pol = fuzz_u8(in), el = fuzz_u8(in), cap = fuzz_u8(in),
		start = fuzz_u8(in);
	uint64_t shift, lap_hi, k = start >> 2 & 3, spos = 0;
	FUZZ_OPTS(opts);

	S.policy = SHMRING_SPSC + pol % 3;
	S.elem = elem_sizes[el % 16];
	S.cap = 1 + (size_t)cap % CAP_MAX;
	if (trace)
		fprintf(stderr, "policy %d, elements of %zu, capacity %zu\n", S.policy,
			S.elem, S.cap);
	S.slot = fuzz_slot_size(S.elem);
	S.size = shmring_memsize((enum shmring_policy)S.policy, S.elem, S.cap);
	FUZZ_CHECK(S.size == SHMRING_HDR_SIZE + S.cap * S.slot + SHMRING_LINE);
	S.mem = (struct shmring_mem){ .addr = fuzz_fence_place(&S.fence, S.size),
				      .size = S.size,
				      .fd = -1 };
	memset(S.mem.addr, 0, S.size);
	S.clean = true;
	S.model = S.elem >= 8;
	S.gaps = false;
	if (S.next_tag > 1)
		memset(S.state, 0, S.next_tag);
	S.next_tag = S.oldest = 1;
	S.max_taken = 0;
	S.count = 0;

	/* Where positions start: 0, a few laps before positions wrap at 2^64,
	 * a few laps before MP lap numbers wrap at 2^40, or anywhere. */
	shift = ring_shift();
	switch (start & 3) {
	case 1:
		lap_hi = (UINT64_MAX >> shift) - k;
		spos = lap_hi << shift | (fuzz_u8(in) % S.cap);
		break;
	case 2:
		spos = ((1ull << MP_LAP_BITS) - 1 - k) << shift | (fuzz_u8(in) % S.cap);
		break;
	case 3:
		spos = (fuzz_u64(in) >> shift) << shift | (fuzz_u8(in) % S.cap);
		break;
	default:
		break;
	}

	for (int i = 0; i < NH; i++)
		S.h[i] = (struct hs){ .role = i == H_P || i == H_P2 ? SHMRING_PRODUCER :
								      SHMRING_CONSUMER };
	S.h[H_P].r = shmring_attach(&S.mem, 0, (enum shmring_policy)S.policy,
				    SHMRING_PRODUCER, S.elem, S.cap, &opts);
	FUZZ_CHECKF(S.h[H_P].r, "attach: %s", strerror(errno));
	if (spos)
		FUZZ_CHECKF(shmring__debug_set_position(S.h[H_P].r, spos) == 0,
			    "start at %lu: %s", (unsigned long)spos, strerror(errno));
	open_handle(H_C);
	open_handle(H_P2);
	open_handle(H_C2);
}

/* For SHMRING_FUZZ_TRACE: the shared words and the handles' positions. */
static void dump(const char *why)
{
	struct shmring__hdr *hdr = S.mem.addr;
	uint64_t shift = ring_shift();

	if (!trace)
		return;
	fprintf(stderr, "%s: head %#lx tail %#lx (lap, index = value >> %lu, & %#lx)\n",
		why, (unsigned long)atomic_load(&hdr->head),
		(unsigned long)atomic_load(&hdr->tail), (unsigned long)shift,
		(unsigned long)((1ull << shift) - 1));
	for (size_t i = 0; i < S.cap; i++) {
		uint64_t w = atomic_load(slot_word(i));

		if (S.policy == SHMRING_SPSC)
			fprintf(stderr, "  slot %zu: %#lx\n", i, (unsigned long)w);
		else
			fprintf(stderr, "  slot %zu: lap %#lx state %lu token %lu\n", i,
				(unsigned long)(w >> MP_LAP_SHIFT),
				(unsigned long)(w & 3),
				(unsigned long)(w >> MP_TOKEN_SHIFT & 0x3fffff));
	}
	for (int i = 0; i < NH; i++)
		if (S.h[i].r)
			fprintf(stderr, "  handle %d: position %#lx\n", i,
				(unsigned long)S.h[i].r->pos);
}

/* Gives back every borrow, pops whatever is left and checks that it is
 * exactly what the model holds. */
static void drain(void)
{
	int c = -1;

	for (int i = 0; i < NH; i++) {
		struct hs *h = &S.h[i];

		if (h->borrowed)
			op_unborrow(h, h->role == SHMRING_PRODUCER, 0);
		if (h->r && h->role == SHMRING_CONSUMER && c < 0)
			c = i;
	}
	if (!S.model)
		return;
	FUZZ_CHECKF(c >= 0, "no consumer handle to drain with (%d)", c);
	/* Every op moves producers at most a lap ahead, every failed attempt
	 * walks the consumer on by two: this many tries find every element. */
	for (size_t n = 0, tries = 0; n <= S.cap + 1 && tries < 4096 + S.cap; tries++) {
		uint64_t before = S.h[c].r->pos;

		errno = FUZZ_ERRNO_SENTINEL;
		if (shmring_try_pop(S.h[c].r, io)) {
			FUZZ_CHECKF(errno == EAGAIN, "drain: %s", strerror(errno));
			if (FUZZ_CHECK_WALK_LIMIT || !S.count || S.h[c].r->pos == before)
				break;
			continue; /* walk-limit */
		}
		model_take(io, false);
		n++;
	}
	if (S.count)
		dump("drain");
	FUZZ_CHECKF(S.count == 0, "%lu elements left that nobody can pop",
		    (unsigned long)S.count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fuzz_in in = { data, len };

	setup(&in);
	while (in.n) {
		uint8_t op = fuzz_u8(&in), arg = fuzz_u8(&in);
		struct hs *h = &S.h[arg & 3];
		size_t n = (size_t)(arg >> 2) % (S.cap + 3); /* 0 .. cap + 2 */
		uint64_t timeout = arg & 0x80 ? 1000 : 0;

		if (trace)
			fprintf(stderr, "op %2u (byte 0x%02x) handle %d n %zu%s\n",
				op % 20, op, arg & 3, n, timeout ? " timeout 1000" : "");
		switch (op % 20) {
		case 0:
		case 1:
			op_try_push(h);
			break;
		case 2:
		case 3:
			op_try_pop(h);
			break;
		case 4:
			op_burst(h, true, n, false);
			break;
		case 5:
			op_burst(h, false, n, false);
			break;
		case 6:
			op_borrow(h, true, n, false);
			break;
		case 7:
			op_unborrow(h, true, fuzz_u8(&in) % (S.cap + 2));
			break;
		case 8:
			op_borrow(h, false, n, false);
			break;
		case 9:
			op_unborrow(h, false, fuzz_u8(&in) % (S.cap + 2));
			break;
		case 10:
			op_timed(h, op & 0x20, timeout);
			break;
		case 11:
			op_wait(h, timeout);
			break;
		case 12:
			close_handle(arg & 3);
			open_handle(arg & 3);
			break;
		case 13:
			op_scribble_index(&in);
			break;
		case 14:
			op_scribble_slot_word(&in);
			break;
		case 15:
			op_scribble_slot_bytes(&in);
			break;
		case 16:
			op_scribble_header(&in);
			break;
		case 17:
			op_scribble_geometry(&in);
			break;
		case 18:
			if (arg & 0x40)
				op_burst(h, arg & 0x80, n, true);
			else if (arg & 0x80)
				op_borrow(h, arg & 0x20, n, true);
			else
				op_bad_args(h);
			break;
		default:
			op_cancel(h);
			break;
		}
		if (trace && h->r)
			fprintf(stderr, "   pending %zu; model: %s%s, %lu elements%s%s\n",
				shmring_pending(h->r), S.clean ? "clean" : "scribbled",
				S.model ? "" : " (off)", (unsigned long)S.count,
				any_borrow() ? ", borrows" : "", S.gaps ? ", gaps" : "");
		if (trace > 1)
			dump("   after");
		check_state(h);
	}
	drain();
	for (int i = 0; i < NH; i++)
		close_handle(i);
	return 0;
}
