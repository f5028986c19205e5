// SPDX-License-Identifier: MIT
/*
 * Inspection: a snapshot of a ring's header for observers (shmring_stat, the
 * `shmring` tool), needing read permission only and no role.
 *
 * The header (and for MPSC/MPMC rings the sequence words behind its hints)
 * is copied with pread(2), never mapped: a file in /dev/shm that
 * someone truncates while we look at it would make a mapping raise SIGBUS,
 * and `shmring ls` reads every file there, rings or not. The copy is then
 * validated like an opened ring's header, so nothing in it is trusted before
 * it has passed the same checks. Fields that other processes update while we
 * copy (indices, counters) may be a moment apart; occupancy is clamped to the
 * capacity like shmring_pending() does.
 */
#include "ring.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static ssize_t pread_all(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n;

	do
		n = pread(fd, buf, len, off);
	while (n < 0 && errno == EINTR);
	return n;
}

/* Reads the header of the open segment FD into H and validates it; its
 * geometry into GEO. */
static int hdr_read(int fd, struct shmring__hdr *h, size_t *segment_size,
		    struct shmring *geo)
{
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)SHMRING_HDR_SIZE)
		return -EPROTO;
	n = pread_all(fd, h, sizeof(*h), 0);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(*h))
		return -EPROTO;
	/* pread copies in address order, head before tail, so a consumer
	 * could move tail past the head we copied: read tail again, then
	 * head, as shmring_pending() does, so that head is never behind. */
	if (pread_all(fd, (void *)&h->tail, sizeof(h->tail),
		      offsetof(struct shmring__hdr, tail)) != sizeof(h->tail) ||
	    pread_all(fd, (void *)&h->head, sizeof(h->head),
		      offsetof(struct shmring__hdr, head)) != sizeof(h->head))
		return -EPROTO;
	/* A header still being initialised (or left half-made by a creator
	 * that died) is not a ring yet; the next opener will finish it. */
	if (atomic_load_explicit(&h->init_state, memory_order_relaxed) !=
	    SHMRING_INIT_READY)
		return -EPROTO;
	*segment_size = (size_t)st.st_size;
	return shmring__hdr_validate(h, (size_t)st.st_size, geo);
}

/* Position P as a count of positions since position 0. */
static uint64_t pos_linear(const struct shmring *geo, uint64_t p)
{
	return (p >> geo->shift) * geo->cap + (p & geo->mask);
}

/* The holders listed for one role: pid from the registry word, alive if
 * some open file of the segment FD still holds the word's token (roles.c).
 * *LIVE counts the live ones. */
static unsigned int holders(int fd, _Atomic uint64_t *reg, struct shmring_holder *out,
			    unsigned int *live)
{
	unsigned int n = 0;

	*live = 0;
	for (unsigned int i = 0; i < SHMRING_REG_SLOTS; i++) {
		uint64_t w = atomic_load_explicit(&reg[i], memory_order_relaxed);

		if (!w)
			continue;
		out[n].pid = (pid_t)(uint32_t)w;
		out[n].alive = shmring__lock_held(
			fd, shmring__token_byte(0, (uint32_t)(w >> 32)));
		*live += out[n].alive;
		n++;
	}
	return n;
}

/* Live holders of ROLE not in the table. */
static uint64_t extra(int fd, int role, unsigned int listed_live)
{
	unsigned int all = shmring__live_holders(fd, 0, role);

	return all > listed_live ? all - listed_live : 0;
}

_Static_assert(SHMRING_INFO_HOLDERS == SHMRING_REG_SLOTS, "registry size is public");

struct seq_file {
	int fd;
	uint64_t data_offset;
};

static bool seq_pread(const struct shmring *geo, uint64_t p, void *ctx, uint64_t *w)
{
	const struct seq_file *f = ctx;
	off_t off =
		(off_t)(f->data_offset + (p & geo->mask) * geo->slot_size + geo->seq_off);

	return pread_all(f->fd, w, sizeof(*w), off) == (ssize_t)sizeof(*w);
}

/* The positions behind MPSC/MPMC hints, read from the slots as
 * shmring_pending() does (a hint can stay behind for good: a consumer that
 * finds the ring empty moves only its own). A pread per slot, so the walk
 * goes at most two laps: hints lag by what is in flight, not by laps. */
static void positions(int fd, const struct shmring__hdr *h, const struct shmring *geo,
		      uint64_t *head, uint64_t *tail)
{
	struct seq_file f = { .fd = fd, .data_offset = h->data_offset };
	uint64_t most = 2 * geo->cap + 64;

	*head = atomic_load_explicit(&h->head, memory_order_relaxed);
	*tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
	if (geo->policy == SHMRING_SPSC)
		return;
	*tail = shmring__mp_refine(geo, *tail, false, most, seq_pread, &f);
	*head = shmring__mp_refine(geo, *head, true, most, seq_pread, &f);
}

static void info_fill(int fd, struct shmring__hdr *h, const struct shmring *geo,
		      size_t segment_size, struct shmring_info *info)
{
	uint64_t head, tail;

	positions(fd, h, geo, &head, &tail);

	*info = (struct shmring_info){
		.sz = sizeof(*info),
		.policy = (enum shmring_policy)h->policy,
		.elem_size = (size_t)h->elem_size,
		.capacity = (size_t)h->capacity,
		.pending = (size_t)pos_count(geo, head, tail),
		.segment_size = segment_size,
		.pushed = pos_linear(geo, head),
		.popped = pos_linear(geo, tail),
		.producers_waiting = atomic_load(&h->not_full.sleepers),
		.consumers_waiting = atomic_load(&h->not_empty.sleepers),
		.producer_sleeps = atomic_load(&h->not_full.sleeps),
		.consumer_sleeps = atomic_load(&h->not_empty.sleeps),
		.producer_wakes = atomic_load(&h->not_full.wakes),
		.consumer_wakes = atomic_load(&h->not_empty.wakes),
		.opens = atomic_load(&h->opens),
		.abandoned = atomic_load(&h->abandoned),
		.instance = h->instance,
	};
	unsigned int live;

	info->nproducers = holders(fd, h->producers, info->producers, &live);
	info->producers_extra = extra(fd, SHMRING_PRODUCER, live);
	info->nconsumers = holders(fd, h->consumers, info->consumers, &live);
	info->consumers_extra = extra(fd, SHMRING_CONSUMER, live);
}

int shmring_stat(const char *name, struct shmring_info *out)
{
	char nname[SHMRING_NAME_BUF];
	struct shmring__hdr h;
	struct shmring_info info;
	struct shmring geo; /* only the geometry fields */
	size_t segment_size = 0;
	int fd, rc;

	if (!out || out->sz < sizeof(size_t))
		return shmring__err(EINVAL);
	if (shmring__name_normalize(name, nname))
		return -1;
	/* O_NONBLOCK: a FIFO someone put in /dev/shm must not hang us. */
	fd = shmring__shm_open_existing(nname, O_RDONLY | O_NONBLOCK | O_NOFOLLOW, NULL);
	if (fd < 0)
		return errno == ELOOP ? shmring__err(EPROTO) : -1;
	rc = hdr_read(fd, &h, &segment_size, &geo);
	if (!rc)
		info_fill(fd, &h, &geo, segment_size, &info);
	close(fd);
	if (rc)
		return shmring__err(-rc);
	/* A caller built against an older header knows fewer fields: give it
	 * those, and nothing past the size it said it has. */
	size_t sz = out->sz;
	memset(out, 0, sz);
	memcpy(out, &info, sz < sizeof(info) ? sz : sizeof(info));
	out->sz = sz < sizeof(info) ? sz : sizeof(info);
	return 0;
}
