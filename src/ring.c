// SPDX-License-Identifier: MIT
/*
 * Rings: segment geometry, create/open/validate, the role registry, close,
 * and the state calls.
 *
 * Create/open race (DESIGN.md §3): the memory layer sizes the segment under
 * flock. The header is then initialised under flock(LOCK_EX) on the segment's
 * fd; openers read it under flock(LOCK_SH), so they never see a half-made
 * header. Whoever holds LOCK_EX and finds the header not READY initialises it:
 * either nobody has yet, or the creator died mid-way (its lock went with it).
 * Rings attached to local memory (no fd) use a CAS on init_state instead.
 *
 * Roles: a handle holds its role with an OFD lock on a byte of the segment
 * file (see the registry section); the kernel drops it with the holder, so a
 * role whose holder is gone is simply free. The registry word records the
 * pid for observers and, claimed with a CAS, arbitrates between handles of
 * one process that share an open file.
 */
#include "ring.h"
#include "probes.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

/* ---- geometry -------------------------------------------------------------- */

struct geom {
	uint64_t elem_size, capacity, slot_size, data_offset, total_size;
	uint32_t shift;
	int policy;
};

static bool policy_valid(int policy)
{
	return policy >= SHMRING_SPSC && policy <= SHMRING_MPMC;
}

static int geom_compute(int policy, uint64_t elem_size, uint64_t capacity, struct geom *g)
{
	uint64_t slot, slots;

	if (!policy_valid(policy) || !elem_size || !capacity ||
	    elem_size > (1ull << 40) || capacity > (1ull << 48))
		return -EINVAL;
	/* Slots are 8-byte aligned; multi-producer/-consumer slots carry a
	 * sequence number in front. */
	slot = (elem_size + 7) & ~7ull;
	if (policy != SHMRING_SPSC)
		slot += sizeof(uint64_t);
	if (__builtin_mul_overflow(slot, capacity, &slots) || slots > (1ull << 56))
		return -EINVAL;
	*g = (struct geom){
		.policy = policy,
		.elem_size = elem_size,
		.capacity = capacity,
		.slot_size = slot,
		.data_offset = SHMRING_HDR_SIZE,
		/* a guard line after the slots keeps the next ring (or the
		 * prefetcher's reach) off the last slot's line */
		.total_size = SHMRING_HDR_SIZE + slots + SHMRING_LINE,
		/* At least one index bit: with a lap of 1, a Vyukov slot's
		 * "published" (p + 1) and "free next lap" (p + lap) would be equal. */
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

/* ---- registry -------------------------------------------------------------- */

/* A role is held by holding an open-file-description lock (F_OFD_SETLK) on
 * one byte of the segment's file per registry entry, far past its data. The
 * kernel drops the lock when the holder's last fd to that open file goes:
 * close, exit, a crash, or exec (our fds are O_CLOEXEC). So liveness needs no
 * pid, works across pid namespaces, and survives a holder whose main thread
 * exited while others run. The entry's word records the holder's pid, for
 * observers; on local memory (no file, one process) the word alone decides. */
#define REG_LOCK_BASE ((off_t)1 << 40)

off_t shmring__reg_lock_byte(size_t ring_offset, int role, unsigned int i)
{
	/* Rings in one segment sit at least a line apart: 32 bytes each. */
	return REG_LOCK_BASE + (off_t)(ring_offset / SHMRING_LINE) * 32 +
	       (off_t)(role - 1) * 16 + (off_t)i;
}

/* F_OFD_SETLK (lock or unlock) or F_OFD_GETLK of BYTE: 0 / 1 for GETLK when
 * another open file holds it, or a negative errno. */
static int ofd_lock(int fd, int cmd, short type, off_t byte)
{
	struct flock fl = {
		.l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1
	};
	int rc;

	do
		rc = fcntl(fd, cmd, &fl);
	while (rc && errno == EINTR);
	if (rc)
		return -errno;
	return cmd == F_OFD_GETLK ? fl.l_type != F_UNLCK : 0;
}

bool shmring__reg_held(int fd, off_t byte)
{
	return ofd_lock(fd, F_OFD_GETLK, F_WRLCK, byte) == 1;
}

static _Atomic uint64_t *registry(struct shmring *r)
{
	return r->role == SHMRING_PRODUCER ? r->hdr->producers : r->hdr->consumers;
}

static _Atomic uint64_t *registry_extra(struct shmring *r)
{
	return r->role == SHMRING_PRODUCER ? &r->hdr->producers_extra :
					     &r->hdr->consumers_extra;
}

static bool role_exclusive(const struct shmring *r)
{
	return r->policy == SHMRING_SPSC ||
	       (r->policy == SHMRING_MPSC && r->role == SHMRING_CONSUMER);
}

/* Takes entry I if no live handle holds it. */
static bool reg_take(struct shmring *r, unsigned int i)
{
	_Atomic uint64_t *e = &registry(r)[i];
	int fd = r->mem->fd;
	uint64_t cur;

	/* Someone else's open file holds it: alive. */
	if (fd >= 0 && ofd_lock(fd, F_OFD_SETLK, F_WRLCK,
				shmring__reg_lock_byte(r->offset, r->role, i)))
		return false;
	/* Our open file (another handle attached to the same segment handle)
	 * or our process (local memory) holds it: leave its lock alone. A word
	 * with another pid is a holder that is gone (its lock went with it) or,
	 * on local memory, a copy inherited over fork. */
	cur = atomic_load_explicit(e, memory_order_acquire);
	if (cur && (pid_t)(uint32_t)cur == r->pid)
		return false;
	/* acq_rel: the successor sees what the holder it replaces wrote (its
	 * release in reg_release), and our later reads of head and tail come
	 * after the claim. */
	return atomic_compare_exchange_strong_explicit(
		e, &cur, r->owner, memory_order_acq_rel, memory_order_acquire);
}

static int reg_claim(struct shmring *r)
{
	r->owner = (uint32_t)r->pid;
	if (role_exclusive(r)) {
		if (!reg_take(r, 0))
			return -EBUSY;
		r->reg_index = 0;
		return 0;
	}
	for (unsigned int i = 0; i < SHMRING_REG_SLOTS; i++) {
		if (reg_take(r, i)) {
			r->reg_index = (int)i;
			return 0;
		}
	}
	/* Table full: the role is shared, so this is fine; only listing stops. */
	atomic_fetch_add_explicit(registry_extra(r), 1, memory_order_relaxed);
	r->reg_index = -1;
	return 0;
}

static void reg_release(struct shmring *r)
{
	uint64_t me = r->owner;

	if (r->reg_index < 0) {
		atomic_fetch_sub_explicit(registry_extra(r), 1, memory_order_relaxed);
		return;
	}
	/* release: our last index store is visible to a successor. */
	atomic_compare_exchange_strong_explicit(&registry(r)[r->reg_index], &me, 0,
						memory_order_release,
						memory_order_relaxed);
	if (r->mem->fd >= 0)
		ofd_lock(r->mem->fd, F_OFD_SETLK, F_UNLCK,
			 shmring__reg_lock_byte(r->offset, r->role,
						(unsigned int)r->reg_index));
}

/* ---- header ---------------------------------------------------------------- */

static void hdr_init(struct shmring__hdr *h, int policy, const struct geom *g)
{
	struct shmring__mslot *s;

	atomic_store_explicit(&h->init_state, SHMRING_INIT_BUSY, memory_order_relaxed);
	/* Everything but init_state starts from zero (also after a dead
	 * creator left a partial header). */
	memset((char *)h + sizeof(h->magic) + sizeof(h->version) + sizeof(h->init_state),
	       0,
	       sizeof(*h) - sizeof(h->magic) - sizeof(h->version) -
		       sizeof(h->init_state));
	h->magic = SHMRING_MAGIC;
	h->version = SHMRING_FORMAT_VERSION;
	h->policy = (uint32_t)policy;
	h->shift = g->shift;
	h->elem_size = g->elem_size;
	h->capacity = g->capacity;
	h->slot_size = g->slot_size;
	h->data_offset = g->data_offset;
	h->total_size = g->total_size;
	if (policy != SHMRING_SPSC) {
		/* Slot i first serves position i (lap 0). */
		for (uint64_t i = 0; i < g->capacity; i++) {
			s = (void *)((char *)h + g->data_offset + i * g->slot_size);
			atomic_store_explicit(&s->seq, i, memory_order_relaxed);
		}
	}
	/* release: the geometry and slots are written before READY is seen
	 * (pairs with the acquire load in hdr_check). */
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
	    g->data_offset != h->data_offset || g->total_size != h->total_size)
		return -EPROTO;
	if (g->total_size > room)
		return -EPROTO; /* contradicts the segment's size */
	return 0;
}

int shmring__hdr_validate(const struct shmring__hdr *h, size_t room)
{
	struct geom g;

	return hdr_geom(h, room, &g);
}

/* Validates a READY header against the mapping (EPROTO) and against the
 * caller's parameters (EINVAL). */
static int hdr_check(const struct shmring__hdr *h, size_t room, int policy,
		     const struct geom *want)
{
	struct geom g;
	int rc = hdr_geom(h, room, &g);

	if (rc)
		return rc;
	if (g.policy != policy || g.elem_size != want->elem_size ||
	    g.capacity != want->capacity)
		return -EINVAL;
	return 0;
}

static bool hdr_fresh(const struct shmring__hdr *h)
{
	return h->magic == 0 || h->magic == SHMRING_MAGIC;
}

/* Initialises the header if nobody has, then validates it. FD is the
 * segment's file (flock), or -1 for local memory. */
static int hdr_setup(struct shmring__hdr *h, int fd, size_t room, int policy,
		     const struct geom *g)
{
	int rc;

	if (fd < 0) {
		uint32_t st = SHMRING_INIT_NONE;

		/* Checked before the claim: a ring that does not fit must not
		 * leave the header BUSY for the next attach to wait on. */
		if (atomic_load_explicit(&h->init_state, memory_order_acquire) ==
			    SHMRING_INIT_NONE &&
		    g->total_size > room)
			return -EINVAL;
		if (atomic_compare_exchange_strong_explicit(
			    &h->init_state, &st, SHMRING_INIT_BUSY, memory_order_acquire,
			    memory_order_acquire)) {
			hdr_init(h, policy, g);
		} else if (st == SHMRING_INIT_BUSY) {
			/* Another thread of this process initialises it now. */
			for (int i = 0; i < 1000000 && st != SHMRING_INIT_READY; i++) {
				sched_yield();
				st = atomic_load_explicit(&h->init_state,
							  memory_order_acquire);
			}
		}
		return hdr_check(h, room, policy, g);
	}
	if (shmring__flock(fd, LOCK_SH))
		return -errno;
	if (atomic_load_explicit(&h->init_state, memory_order_acquire) !=
	    SHMRING_INIT_READY) {
		if (!hdr_fresh(h)) {
			rc = -EPROTO; /* not ours: leave it alone */
			goto out;
		}
		if (shmring__flock(fd, LOCK_EX)) {
			rc = -errno;
			goto out;
		}
		/* Under LOCK_EX a header that is not READY has no live creator. */
		if (atomic_load_explicit(&h->init_state, memory_order_acquire) !=
		    SHMRING_INIT_READY) {
			/* A segment sized for other parameters (a racing
			 * creator's, before it wrote its header). */
			if (g->total_size > room) {
				rc = -EINVAL;
				goto out;
			}
			hdr_init(h, policy, g);
		}
	}
	rc = hdr_check(h, room, policy, g);
out:
	shmring__flock(fd, LOCK_UN);
	return rc;
}

/* ---- handles --------------------------------------------------------------- */

static const enum shmring__kind kinds[3][2] = {
	{ K_SPSC_PROD, K_SPSC_CONS },
	{ K_MPSC_PROD, K_MPSC_CONS },
	{ K_MPMC_PROD, K_MPMC_CONS },
};

/* A consumer of an MPSC ring that died in a pop may have freed slots (their
 * seq moved on a lap) before it stored tail: those elements were taken, so
 * its successor starts after them (at-most-once) instead of finding slots
 * that look "ahead of the index" forever. Returns the position to start at. */
static uint64_t mpsc_skip_freed(struct shmring *r, uint64_t tail)
{
	uint64_t p = tail;

	for (uint64_t i = 0; i < r->cap; i++, p = pos_next(r, p)) {
		struct shmring__mslot *s = slot_at(r, p);

		if ((int64_t)(atomic_load_explicit(&s->seq, memory_order_acquire) -
			      (p + r->lap)) < 0)
			break;
	}
	if (p != tail)
		atomic_store_explicit(&r->hdr->tail, p, memory_order_release);
	return p;
}

/* Private positions of the sides that keep one, read after the role is ours. */
static int load_positions(struct shmring *r)
{
	uint64_t head = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);

	if ((head & r->mask) >= r->cap || (tail & r->mask) >= r->cap)
		return -EPROTO;
	switch (r->kind) {
	case K_SPSC_PROD:
		r->pos = head;
		r->cached = tail;
		break;
	case K_SPSC_CONS:
		r->pos = tail;
		r->cached = head;
		break;
	case K_MPSC_CONS:
		r->pos = mpsc_skip_freed(r, tail);
		break;
	default:
		break;
	}
	return 0;
}

static struct shmring *ring_attach(struct shmring_mem *mem, size_t offset, int policy,
				   int role, size_t elem_size, size_t capacity,
				   const struct shmring__opts *o, const char *name)
{
	struct shmring *r;
	struct geom g;
	int rc;

	if (!mem || !policy_valid(policy) ||
	    (role != SHMRING_PRODUCER && role != SHMRING_CONSUMER))
		return shmring__errp(EINVAL);
	rc = geom_compute(policy, elem_size, capacity, &g);
	if (rc)
		return shmring__errp(-rc);
	if (offset % SHMRING_LINE || offset >= mem->size)
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
	r->spin_ns = o->spin_ns;
	r->fd_backend = o->fd_backend;
	r->reg_index = -1;
	r->pid = getpid();
	if (name)
		snprintf(r->name, sizeof(r->name), "%s",
			 name[0] == '/' ? name + 1 : name);
	rc = hdr_setup(r->hdr, mem->fd, mem->size - offset, policy, &g);
	if (rc)
		goto fail;
	/* From here on only the validated geometry (g) sizes accesses. */
	r->slots = (unsigned char *)r->hdr + g.data_offset;
	r->cap = g.capacity;
	r->shift = g.shift;
	r->lap = 1ull << g.shift;
	r->mask = r->lap - 1;
	r->elem_size = (size_t)g.elem_size;
	r->slot_size = (size_t)g.slot_size;
	shmring__barrier_setup(r);
	rc = reg_claim(r);
	if (rc)
		goto fail;
	rc = load_positions(r);
	if (rc) {
		reg_release(r);
		goto fail;
	}
	atomic_fetch_add_explicit(&r->hdr->opens, 1, memory_order_relaxed);
	SHMRING_PROBE(open, r, r->name, policy, role, r->elem_size, r->cap);
	return r;
fail:
	free(r);
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
	mem = shmring__mem_shm_open(name, (size_t)g.total_size, &o,
				    SHMRING__SHM_ANY_SIZE);
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
	shmring__waitfd_close(r);
	/* A handle inherited over fork belongs to the parent: the child only
	 * unmaps it and leaves the parent's role alone. */
	if (getpid() == r->pid)
		reg_release(r);
	if (r->own_mem)
		shmring_mem_close(r->mem);
	free(r);
}

int shmring_unlink(const char *name)
{
	return shmring_mem_unlink(name);
}

/* ---- state ----------------------------------------------------------------- */

size_t shmring_pending(const struct shmring *r)
{
	uint64_t head, tail;

	if (!r)
		return shmring__err0(EINVAL);
	/* tail first: head only grows, so the pair never shows tail ahead. */
	tail = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
	head = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
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
	return r ? (size_t)r->cap : 0;
}

size_t shmring_elem_size(const struct shmring *r)
{
	return r ? r->elem_size : 0;
}

/* ---- test hook ------------------------------------------------------------- */

int shmring__debug_set_position(struct shmring *r, uint64_t start)
{
	if (!r || (start & r->mask) >= r->cap || shmring_pending(r))
		return shmring__err(EINVAL);
	if (r->policy != SHMRING_SPSC) {
		uint64_t p = start;

		for (uint64_t i = 0; i < r->cap; i++, p = pos_next(r, p))
			atomic_store_explicit(
				&((struct shmring__mslot *)slot_at(r, p))->seq, p,
				memory_order_relaxed);
	}
	atomic_store_explicit(&r->hdr->tail, start, memory_order_release);
	atomic_store_explicit(&r->hdr->head, start, memory_order_release);
	r->pos = start;
	r->cached = start;
	return 0;
}
