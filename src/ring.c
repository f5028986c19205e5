// SPDX-License-Identifier: MIT
/*
 * Rings: segment geometry, create/open/validate, close, and the state calls.
 *
 * Create/open: a named ring is created complete before its name exists
 * (mem.c makes it as an unnamed file, and ring_open initialises the header
 * before the file is linked under the name), so openers of a name never
 * see a half-made ring, and a creator that fails leaves nothing behind.
 * Rings placed in caller memory (shmring_attach) are initialised by their
 * first attach under flock(LOCK_EX) of the handle's private open file;
 * openers read the header under flock(LOCK_SH). A header that is not READY
 * is (re)initialised only when no live handle holds any lock of the ring:
 * one that is in use but says otherwise was scribbled on (EPROTO), never
 * wiped. Rings attached to local memory (no file) use a CAS on init_state.
 *
 * Roles and claims (roles.c) follow processes through OFD locks.
 */
#include "ring.h"
#include "probes.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- geometry -------------------------------------------------------------- */

struct geom {
	uint64_t elem_size, capacity, slot_size, seq_offset, data_offset, total_size;
	uint32_t shift;
	int policy;
};

static bool policy_valid(int policy)
{
	return policy >= SHMRING_SPSC && policy <= SHMRING_MPMC;
}

/* Highest capacity: MP sequence words keep 40 bits of lap number, and a
 * lap of 2^24 slots or fewer keeps every lap number distinct up to the
 * positions' own wrap at 2^64 (ring.h). */
#define CAPACITY_MAX (1ull << 32)

/* Slots up to this size pack the element and its word (geom_compute). */
#define SLOT_PACKED_MAX 264u

static int geom_compute(int policy, uint64_t elem_size, uint64_t capacity, struct geom *g)
{
	uint64_t slot, slots, elem8;

	if (!policy_valid(policy) || !elem_size || !capacity ||
	    elem_size > (1ull << 40) || capacity > CAPACITY_MAX)
		return -EINVAL;
	/* The element from the slot's start, its sequence word in the slot's
	 * last 8 bytes. Up to a line, a power of two (16, 32, 64: a line holds
	 * whole slots, one line moves per message). Up to SLOT_PACKED_MAX, the
	 * element 8-byte aligned and its word right after it: a 64-byte element
	 * in 72 bytes, not two lines. Measured against a word alone in a second
	 * line (bench/ab.sh, 64 B, 1 producer, 1 consumer): near placement
	 * SPSC 0.93x, MPSC 2.6x, MPMC 0.91x; far 1.3x, 1.2x, 1.6x; half the
	 * memory. Beyond, whole lines with the word in the last one: elements
	 * start on a line (vector copies; MPSC 1024 B 1.4x packed, far). */
	elem8 = (elem_size + 7) & ~7ull;
	slot = elem8 + sizeof(uint64_t);
	if (slot <= 64)
		slot = slot <= 16 ? 16 : slot <= 32 ? 32 : 64;
	else if (slot > SLOT_PACKED_MAX)
		slot = (slot + 63) & ~63ull;
	if (__builtin_mul_overflow(slot, capacity, &slots) || slots > (1ull << 56))
		return -EINVAL;
	*g = (struct geom){
		.policy = policy,
		.elem_size = elem_size,
		.capacity = capacity,
		.slot_size = slot,
		.seq_offset = slot - sizeof(uint64_t),
		.data_offset = SHMRING_HDR_SIZE,
		/* a guard line after the slots keeps the next ring (or the
		 * prefetcher's reach) off the last slot's line */
		.total_size = SHMRING_HDR_SIZE + slots + SHMRING_LINE,
		/* At least one index bit: with a lap of 1, "the next position"
		 * and "the same index one lap on" would be equal. */
		.shift = capacity <= 2 ? 1 : 64 - (uint32_t)__builtin_clzll(capacity - 1),
	};
	return 0;
}

size_t shmring_memsize(enum shmring_policy policy, size_t elem_size, size_t capacity)
{
	struct geom g;
	int rc = geom_compute(policy, elem_size, capacity, &g);

	if (rc)
		return shmring__err0(-rc);
	return (size_t)g.total_size;
}

/* ---- header ---------------------------------------------------------------- */

static uint64_t random_instance(void)
{
	uint64_t v = 0;
	struct timespec ts;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == sizeof(v) && v)
		return v;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^
	       ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)&v;
}

/* Writes a READY header. FRESH: the slots are known to be zero (a segment
 * just made), else every sequence word is cleared: zero is "free, lap 0"
 * for MP slots and "not ready" for SPSC ones (position p waits for p + 1). */
static void hdr_init(struct shmring__hdr *h, const struct geom *g, bool fresh)
{
	atomic_store_explicit(&h->init_state, SHMRING_INIT_BUSY, memory_order_relaxed);
	/* Everything but init_state starts from zero (also after a dead
	 * creator left a partial header). */
	memset((char *)h + sizeof(h->magic) + sizeof(h->version) + sizeof(h->init_state),
	       0,
	       sizeof(*h) - sizeof(h->magic) - sizeof(h->version) -
		       sizeof(h->init_state));
	h->magic = SHMRING_MAGIC;
	h->version = SHMRING_FORMAT_VERSION;
	h->policy = (uint32_t)g->policy;
	h->shift = g->shift;
	h->elem_size = g->elem_size;
	h->capacity = g->capacity;
	h->slot_size = g->slot_size;
	h->seq_offset = g->seq_offset;
	h->data_offset = g->data_offset;
	h->total_size = g->total_size;
	h->instance = random_instance();
	for (uint64_t i = 0; !fresh && i < g->capacity; i++)
		atomic_store_explicit((_Atomic uint64_t *)((char *)h + g->data_offset +
							   i * g->slot_size +
							   g->seq_offset),
				      0, memory_order_relaxed);
	/* release: the geometry and slots are written before READY is seen
	 * (pairs with the acquire loads of init_state in hdr_setup). */
	atomic_store_explicit(&h->init_state, SHMRING_INIT_READY, memory_order_release);
}

/* The geometry of a READY header into G, validated against the mapping:
 * 0 or -EPROTO. G comes from one read of each parameter, so a peer that
 * rewrites the header meanwhile cannot make later checks see other values. */
static int hdr_geom(const struct shmring__hdr *h, size_t room, struct geom *g)
{
	if (h->magic != SHMRING_MAGIC || h->version != SHMRING_FORMAT_VERSION)
		return -EPROTO;
	/* The geometry must be the one its own parameters give: a header that
	 * was scribbled on fails here. */
	if (geom_compute((int)h->policy, h->elem_size, h->capacity, g) ||
	    g->slot_size != h->slot_size || g->shift != h->shift ||
	    g->seq_offset != h->seq_offset || g->data_offset != h->data_offset ||
	    g->total_size != h->total_size)
		return -EPROTO;
	if (g->total_size > room)
		return -EPROTO; /* contradicts the segment's size */
	return 0;
}

/* The handle fields the validated geometry G gives; nothing else is set. */
static void geom_apply(struct shmring *r, const struct geom *g)
{
	r->cap = g->capacity;
	r->shift = g->shift;
	r->lap = 1ull << g->shift;
	r->mask = r->lap - 1;
	r->elem_size = (size_t)g->elem_size;
	r->slot_size = (size_t)g->slot_size;
	r->seq_off = (size_t)g->seq_offset;
	r->lapmask = g->shift > 64 - MP_LAP_BITS ? UINT64_MAX >> g->shift :
						   (1ull << MP_LAP_BITS) - 1;
	r->policy = (enum shmring_policy)g->policy;
}

int shmring__hdr_validate(const struct shmring__hdr *h, size_t room, struct shmring *geo)
{
	struct geom g;
	int rc = hdr_geom(h, room, &g);

	if (!rc && geo)
		geom_apply(geo, &g);
	return rc;
}

/* Validates a READY header against the mapping (EPROTO) and against the
 * caller's parameters (EINVAL); its geometry into OUT. */
static int hdr_check(const struct shmring__hdr *h, size_t room, const struct geom *want,
		     struct geom *out)
{
	int rc;

	if (atomic_load_explicit(&h->init_state, memory_order_acquire) !=
	    SHMRING_INIT_READY)
		return -EPROTO;
	rc = hdr_geom(h, room, out);
	if (rc)
		return rc;
	if (out->policy != want->policy || out->elem_size != want->elem_size ||
	    out->capacity != want->capacity)
		return -EINVAL;
	return 0;
}

static bool hdr_fresh(const struct shmring__hdr *h)
{
	return h->magic == 0 || h->magic == SHMRING_MAGIC;
}

/* How long an attach to local memory waits for another thread of this
 * process to finish initialising a header: initialising takes microseconds;
 * a header that stays BUSY longer is a copy forked mid-way, or garbage. */
#define LOCAL_INIT_WAIT_NS 20000000ull

/* Local memory: initialise with a CAS on init_state, or wait (briefly) for
 * the thread that does. */
static int hdr_setup_local(struct shmring__hdr *h, size_t room, const struct geom *g)
{
	uint32_t st = SHMRING_INIT_NONE;
	uint64_t end;

	/* Checked before the claim: a ring that does not fit must not leave
	 * the header BUSY for the next attach to wait on. */
	if (atomic_load_explicit(&h->init_state, memory_order_acquire) ==
		    SHMRING_INIT_NONE &&
	    g->total_size > room)
		return -EINVAL;
	/* acquire on failure: a READY seen here is checked right after. */
	if (atomic_compare_exchange_strong_explicit(
		    &h->init_state, &st, SHMRING_INIT_BUSY, memory_order_acquire,
		    memory_order_acquire)) {
		if (!hdr_fresh(h)) {
			/* Not ours: put the state back and leave it alone. */
			atomic_store_explicit(&h->init_state, SHMRING_INIT_NONE,
					      memory_order_relaxed);
			return -EPROTO;
		}
		hdr_init(h, g, false);
		return 0;
	}
	if (st != SHMRING_INIT_BUSY)
		return 0; /* READY (checked by the caller), or garbage: EPROTO */
	end = shmring__now_ns() + LOCAL_INIT_WAIT_NS;
	while (atomic_load_explicit(&h->init_state, memory_order_acquire) ==
		       SHMRING_INIT_BUSY &&
	       shmring__now_ns() < end) {
		struct timespec nap = { .tv_nsec = 50000 };

		nanosleep(&nap, NULL);
	}
	return 0;
}

/* Initialises the header if nobody has, then validates it; the validated
 * geometry into OUT. */
static int hdr_setup(struct shmring *r, size_t room, const struct geom *g,
		     struct geom *out)
{
	struct shmring__hdr *h = r->hdr;
	int rc;

	if (r->mem->fd < 0) {
		rc = hdr_setup_local(h, room, g);
		return rc ? rc : hdr_check(h, room, g, out);
	}
	if (shmring__roles_flock(r, LOCK_SH))
		return -errno;
	if (atomic_load_explicit(&h->init_state, memory_order_acquire) !=
	    SHMRING_INIT_READY) {
		if (!hdr_fresh(h)) {
			rc = -EPROTO; /* not ours: leave it alone */
			goto out;
		}
		if (shmring__roles_flock(r, LOCK_EX)) {
			rc = -errno;
			goto out;
		}
		/* Under LOCK_EX a header that is not READY has no live creator.
		 * A live handle, though, means the ring was in use and someone
		 * wiped it (a truncate, a scribble): do not make it look new. */
		if (atomic_load_explicit(&h->init_state, memory_order_acquire) !=
		    SHMRING_INIT_READY) {
			if (shmring__ring_in_use(r)) {
				rc = -EPROTO;
				goto out;
			}
			/* A segment sized for other parameters (a racing
			 * creator's, before it wrote its header). */
			if (g->total_size > room) {
				rc = -EINVAL;
				goto out;
			}
			hdr_init(h, g, false);
		}
	}
	rc = hdr_check(h, room, g, out);
out:
	shmring__roles_flock(r, LOCK_UN);
	return rc;
}

/* ---- handles --------------------------------------------------------------- */

static const enum shmring__kind kinds[3][2] = {
	{ K_SPSC_PROD, K_SPSC_CONS },
	{ K_MPSC_PROD, K_MPSC_CONS },
	{ K_MPMC_PROD, K_MPMC_CONS },
};

/* A successor's starting position on an exclusive side: what its dead
 * predecessor published but had not yet recorded in the shared index.
 *  - SPSC producer: slots after head already ready for their position
 *    (it died between the slot's sequence word and head).
 *  - MPSC consumer: slots after tail that moved on a lap (it freed them and
 *    died before storing tail; those elements were taken: at most once),
 *    or were skipped.
 * Returns the position to start at. */
static uint64_t successor_start(struct shmring *r, uint64_t p)
{
	for (uint64_t i = 0; i < r->cap; i++, p = pos_next(r, p)) {
		uint64_t w = atomic_load_explicit(seq_at(r, p), memory_order_acquire);

		if (r->kind == K_SPSC_PROD ? w != p + 1 : mp_lapdiff(r, w, p) < 1)
			break;
	}
	return p;
}

/* Private positions of the sides that keep one, read after the role is ours. */
static int load_positions(struct shmring *r)
{
	/* acquire: pairs with the release stores of the previous holders (and
	 * the lock handover orders the rest). */
	uint64_t head = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);

	if ((head & r->mask) >= r->cap || (tail & r->mask) >= r->cap)
		return -EPROTO;
	switch (r->kind) {
	case K_SPSC_PROD:
		r->pos = successor_start(r, head);
		if (r->pos != head)
			atomic_store_explicit(&r->hdr->head, r->pos,
					      memory_order_release);
		r->cached = tail;
		break;
	case K_SPSC_CONS:
		r->pos = tail;
		r->cached = head;
		break;
	case K_MPSC_CONS:
		r->pos = successor_start(r, tail);
		if (r->pos != tail)
			atomic_store_explicit(&r->hdr->tail, r->pos,
					      memory_order_release);
		break;
	case K_MPMC_CONS:
		r->pos = tail; /* our own hint (mp.h) */
		break;
	default:
		r->pos = head; /* MP producers: our own hint */
		break;
	}
	return 0;
}

static void ring_free(struct shmring *r)
{
	shmring__roles_close(r);
	free(r);
}

static struct shmring *ring_attach(struct shmring_mem *mem, size_t offset, int policy,
				   int role, size_t elem_size, size_t capacity,
				   const struct shmring__opts *o, const char *name)
{
	struct shmring *r;
	struct geom want, g;
	int rc;

	if (!mem || !policy_valid(policy) ||
	    (role != SHMRING_PRODUCER && role != SHMRING_CONSUMER))
		return shmring__errp(EINVAL);
	rc = geom_compute(policy, elem_size, capacity, &want);
	if (rc)
		return shmring__errp(-rc);
	/* Lock regions (roles.c) are laid out for offsets below 2^40. */
	if (offset % SHMRING_LINE || offset >= mem->size || offset >= (1ull << 40))
		return shmring__errp(EINVAL);
	r = calloc(1, sizeof(*r));
	if (!r)
		return shmring__errp(ENOMEM);
	r->hdr = (struct shmring__hdr *)((char *)mem->addr + offset);
	r->mem = mem;
	r->offset = offset;
	r->policy = (enum shmring_policy)policy;
	r->role = (enum shmring_role)role;
	r->kind = kinds[policy - 1][role - 1];
	r->real_kind = r->kind;
	r->spin_ns = o->spin_ns;
	r->eintr = o->flags & SHMRING_F_EINTR;
	r->fd_backend = o->fd_backend;
	r->pid = getpid();
	if (name)
		snprintf(r->name, sizeof(r->name), "%s",
			 name[0] == '/' ? name + 1 : name);
	rc = shmring__roles_open(r);
	if (rc) {
		free(r);
		return shmring__errp(-rc);
	}
	rc = hdr_setup(r, mem->size - offset, &want, &g);
	if (rc)
		goto fail;
	/* From here on only the validated geometry (g) sizes accesses. */
	r->slots = (unsigned char *)r->hdr + g.data_offset;
	geom_apply(r, &g);
	shmring__barrier_setup(r);
	rc = shmring__roles_claim(r);
	if (rc)
		goto fail;
	rc = load_positions(r);
	if (rc)
		goto fail;
	shmring__roles_register(r);
	atomic_fetch_add_explicit(&r->hdr->opens, 1, memory_order_relaxed);
	SHMRING_PROBE(open, r, r->name, policy, role, r->elem_size, r->cap);
	return r;
fail:
	ring_free(r);
	return shmring__errp(-rc);
}

struct shmring *shmring_attach(struct shmring_mem *mem, size_t offset,
			       enum shmring_policy policy, enum shmring_role role,
			       size_t elem_size, size_t capacity,
			       const struct shmring_opts *opts)
{
	struct shmring__opts o;

	if (shmring__opts_read(opts, &o))
		return NULL;
	return ring_attach(mem, offset, policy, role, elem_size, capacity, &o, NULL);
}

/* Initialises a segment mem.c made and has not named yet (shmring__mem_shm_open
 * calls it before linking the file under its name). */
static int ring_prepare(struct shmring_mem *mem, void *arg)
{
	const struct geom *g = arg;

	if (g->total_size > mem->size)
		return -EINVAL;
	hdr_init(mem->addr, g, true);
	return 0;
}

static struct shmring *ring_open(int policy, int role, const char *name, size_t elem_size,
				 size_t capacity, const struct shmring_opts *opts)
{
	struct shmring__opts o;
	struct shmring_mem *mem;
	struct shmring *r;
	struct geom g;
	int rc;

	if (shmring__opts_read(opts, &o))
		return NULL;
	rc = geom_compute(policy, elem_size, capacity, &g);
	if (rc)
		return shmring__errp(-rc);
	/* Any size: the header decides whether an existing segment fits. */
	mem = shmring__mem_shm_open(name, (size_t)g.total_size, &o, SHMRING__SHM_ANY_SIZE,
				    ring_prepare, &g);
	if (!mem)
		return NULL;
	r = ring_attach(mem, 0, policy, role, elem_size, capacity, &o, name);
	if (!r) {
		int e = errno;

		shmring_mem_close(mem);
		return shmring__errp(e);
	}
	r->own_mem = true;
	return r;
}

struct shmring *shmring_producer(enum shmring_policy policy, const char *name,
				 size_t elem_size, size_t capacity,
				 const struct shmring_opts *opts)
{
	return ring_open(policy, SHMRING_PRODUCER, name, elem_size, capacity, opts);
}

struct shmring *shmring_consumer(enum shmring_policy policy, const char *name,
				 size_t elem_size, size_t capacity,
				 const struct shmring_opts *opts)
{
	return ring_open(policy, SHMRING_CONSUMER, name, elem_size, capacity, opts);
}

void shmring_close(struct shmring *r)
{
	if (!r)
		return;
	SHMRING_PROBE(close, r, r->name, (int)r->policy, (int)r->role);
	shmring__borrow_drop(r);
	shmring__waitfd_close(r);
	/* A handle inherited over fork (K_FORKED) belongs to the parent: the
	 * child only unmaps it and leaves the parent's role alone. */
	shmring__roles_close(r);
	if (r->own_mem)
		shmring_mem_close(r->mem);
	free(r);
}

int shmring_unlink(const char *name)
{
	return shmring_mem_unlink(name);
}

/* ---- state ----------------------------------------------------------------- */

uint64_t shmring__mp_refine(const struct shmring *r, uint64_t hint, bool head,
			    uint64_t most, shmring__seq_reader read, void *ctx)
{
	uint64_t p = hint, w;

	if ((p & r->mask) >= r->cap)
		return hint;
	for (uint64_t i = 0; i < most && read(r, p, ctx, &w); i++, p = pos_next(r, p)) {
		int64_t d = mp_lapdiff(r, w, p);

		if (!(d >= 1 || (head && d == 0 && mp_state(w) != MP_FREE)))
			break;
	}
	return p;
}

static bool seq_read_mapped(const struct shmring *r, uint64_t p, void *ctx, uint64_t *w)
{
	(void)ctx;
	*w = atomic_load_explicit(seq_at(r, p), memory_order_acquire);
	return true;
}

/* A handle's walk: given-back slots let producers run laps ahead, so it may
 * take laps; it is bounded all the same. */
static uint64_t mp_refine(const struct shmring *r, uint64_t hint, bool head)
{
	uint64_t most = SHMRING_WALK_RETRIES * r->cap;

	if (most < 65536)
		most = 65536; /* small rings go round many laps for little */
	return shmring__mp_refine(r, hint, head, most, seq_read_mapped, NULL);
}

size_t shmring_pending(const struct shmring *r)
{
	uint64_t head, tail;

	if (!r)
		return shmring__err0(EINVAL);
	/* tail first: head only grows, so the pair never shows tail ahead. */
	tail = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
	if (r->policy != SHMRING_SPSC)
		tail = mp_refine(r, tail, false);
	head = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
	if (r->policy != SHMRING_SPSC)
		head = mp_refine(r, head, true);
	return (size_t)pos_count(r, head, tail);
}

size_t shmring_available(const struct shmring *r)
{
	if (!r)
		return shmring__err0(EINVAL);
	return (size_t)r->cap - shmring_pending(r);
}

bool shmring_full(const struct shmring *r)
{
	if (!r)
		return shmring__err(EINVAL), false;
	return shmring_pending(r) == r->cap;
}

bool shmring_empty(const struct shmring *r)
{
	if (!r)
		return shmring__err(EINVAL), true;
	return shmring_pending(r) == 0;
}

size_t shmring_capacity(const struct shmring *r)
{
	return r ? (size_t)r->cap : shmring__err0(EINVAL);
}

size_t shmring_elem_size(const struct shmring *r)
{
	return r ? r->elem_size : shmring__err0(EINVAL);
}

/* ---- test hook ------------------------------------------------------------- */

int shmring__debug_set_position(struct shmring *r, uint64_t start)
{
	uint64_t p = start;

	if (!r || (start & r->mask) >= r->cap || shmring_pending(r))
		return shmring__err(EINVAL);
	/* Every slot free for its position in the lap that starts at START:
	 * MP "free, this lap", SPSC "not ready" (ready would be p + 1). */
	for (uint64_t i = 0; i < r->cap; i++, p = pos_next(r, p))
		atomic_store_explicit(seq_at(r, p),
				      r->policy == SHMRING_SPSC ? p :
								  mp_word(r, p, MP_FREE),
				      memory_order_relaxed);
	atomic_store_explicit(&r->hdr->tail, start, memory_order_release);
	atomic_store_explicit(&r->hdr->head, start, memory_order_release);
	r->pos = start;
	r->cached = start;
	return 0;
}
