// SPDX-License-Identifier: MIT
/* A peer that scribbles over the segment must not make us read or write
 * outside the mapping: EPROTO at open, or errors / wrong data after it, never
 * a crash. Run under ASan in CI. */
#include "testutil.h"
#include "ring.h"

#include <sys/mman.h>

static void expect_eproto(const char *name, enum shmring_policy pol, size_t elem,
			  size_t cap, const char *what)
{
	errno = 0;
	struct shmring *r = shmring_consumer(pol, name, elem, cap, NULL);

	cr_expect_null(r, "%s: opened", what);
	cr_expect_eq(errno, EPROTO, "%s: %s", what, strerror(errno));
	shmring_close(r);
}

Test(corrupt, random_bytes_are_not_a_ring)
{
	TEST_NAME(name, "garbage");
	size_t size = shmring_memsize(SHMRING_SPSC, 64, 16);
	unsigned char *junk = malloc(size);
	uint64_t x = 12345;

	for (size_t i = 0; i < size; i++)
		junk[i] = (unsigned char)((x = x * 6364136223846793005ull + 1) >> 56);
	write_shm_file(name, junk, size);
	expect_eproto(name, SHMRING_SPSC, 64, 16, "random bytes");
	write_shm_file(name, junk, 100);
	expect_eproto(name, SHMRING_SPSC, 64, 16, "short random file");
	free(junk);
	shmring_unlink(name);
}

/* A valid ring, then one header field changed. */
static void tamper(size_t field_off, size_t width, uint64_t value, const char *what)
{
	TEST_NAME(name, "tamper");
	struct shmring *p = shmring_producer(SHMRING_MPMC, name, 64, 16, NULL);
	unsigned char *hdr;

	cr_assert_not_null(p);
	hdr = (unsigned char *)p->hdr;
	memcpy(hdr + field_off, &value, width);
	shmring_close(p);
	expect_eproto(name, SHMRING_MPMC, 64, 16, what);
	shmring_unlink(name);
}

#define FIELD(f) offsetof(struct shmring__hdr, f), sizeof(((struct shmring__hdr *)0)->f)

Test(corrupt, tampered_header_fields_are_eproto)
{
	tamper(FIELD(magic), 0x4141414141414141ull, "magic");
	tamper(FIELD(version), 99, "version");
	tamper(FIELD(slot_size), 8, "slot size");
	tamper(FIELD(total_size), 1ull << 40, "total size");
	tamper(FIELD(data_offset), 64, "data offset");
	tamper(FIELD(shift), 40, "index shift");
	tamper(FIELD(policy), 9, "policy");
	/* A capacity and size that agree with each other but not with the file. */
	TEST_NAME(name, "bigger");
	struct shmring *p = shmring_producer(SHMRING_MPMC, name, 64, 16, NULL);
	cr_assert_not_null(p);
	p->hdr->capacity = 1 << 20;
	p->hdr->shift = 20;
	p->hdr->total_size = shmring_memsize(SHMRING_MPMC, 64, 1 << 20);
	shmring_close(p);
	expect_eproto(name, SHMRING_MPMC, 64, 1 << 20, "header bigger than the file");
	shmring_unlink(name);
}

Test(corrupt, indices_out_of_range_at_open_are_eproto)
{
	TEST_NAME(name, "badidx");
	struct shmring *p = shmring_producer(SHMRING_SPSC, name, 64, 10, NULL);

	cr_assert_not_null(p);
	atomic_store(&p->hdr->tail, 15); /* index 15 of a 10-slot ring */
	expect_eproto(name, SHMRING_SPSC, 64, 10, "tail index past capacity");
	shmring_close(p);
	shmring_unlink(name);
}

/*
 * A ring placed so that its last byte is the last byte before a PROT_NONE
 * page: any access past the ring faults. Capacity 33 has 64 index values, so
 * an unbounded index could reach 31 slots past the end.
 */
struct fenced {
	void *map;
	size_t maplen;
	struct shmring_mem mem;
};

static void fenced_setup(struct fenced *f, size_t ring_size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t data = (ring_size + page - 1) / page * page;

	f->maplen = data + page;
	f->map = mmap(NULL, f->maplen, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(f->map, MAP_FAILED);
	cr_assert_eq(mprotect((char *)f->map + data, page, PROT_NONE), 0);
	f->mem = (struct shmring_mem){ .addr = f->map, .size = data, .fd = -1 };
}

static uint64_t rnd_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void scribble_and_run(enum shmring_policy pol, size_t elem, uint64_t seed)
{
	const size_t cap = 33;
	size_t ring = shmring_memsize(pol, elem, cap);
	struct fenced f;
	struct shmring *p, *c;
	unsigned char buf[8][128];
	size_t off;

	cr_assert_eq(ring % 128, 0, "test geometry: the ring must end on a line");
	fenced_setup(&f, ring);
	off = f.mem.size - ring; /* ends exactly at the PROT_NONE page */
	p = shmring_attach(&f.mem, off, pol, SHMRING_PRODUCER, elem, cap, NULL);
	c = shmring_attach(&f.mem, off, pol, SHMRING_CONSUMER, elem, cap, NULL);
	cr_assert(p && c, "attach: %s", strerror(errno));
	memset(buf, 0x5a, sizeof(buf));
	for (int round = 0; round < 2000; round++) {
		/* The peer writes garbage into the indices and the slots. */
		switch (rnd_next(&seed) % 4) {
		case 0:
			atomic_store(&p->hdr->head, rnd_next(&seed));
			break;
		case 1:
			atomic_store(&p->hdr->tail,
				     rnd_next(&seed) >> (rnd_next(&seed) % 64));
			break;
		case 2: {
			size_t i = rnd_next(&seed) % cap;

			atomic_store((_Atomic uint64_t *)(p->slots + i * p->slot_size +
							  p->seq_off),
				     rnd_next(&seed));
			break;
		}
		default:
			atomic_store(&p->hdr->not_empty.seq, (uint32_t)rnd_next(&seed));
			break;
		}
		for (int k = 0; k < 8; k++) {
			int rc;

			errno = 0;
			switch (rnd_next(&seed) % 6) {
			case 0:
				rc = shmring_try_push(p, buf[0]);
				break;
			case 1:
				rc = shmring_try_pop(c, buf[1]);
				break;
			case 2:
				rc = shmring_push_burst(p, buf, 8) < 0 ? -1 : 0;
				break;
			case 3:
				rc = shmring_pop_burst(c, buf, 8) < 0 ? -1 : 0;
				break;
			case 4:
				rc = shmring_timed_pop(c, buf[2], 1000);
				break;
			default:
				rc = shmring_timed_push(p, buf[3], 1000);
				break;
			}
			if (rc)
				cr_assert(errno == EAGAIN || errno == EPROTO ||
						  errno == ETIMEDOUT,
					  "unexpected errno %d (%s)", errno,
					  strerror(errno));
			cr_assert_leq(shmring_pending(c), cap);
			cr_assert_leq(shmring_available(p), cap);
		}
	}
	shmring_close(p);
	shmring_close(c);
	munmap(f.map, f.maplen);
}

Test(corrupt, scribbled_indices_and_slots_never_reach_outside_the_ring, .timeout = 60)
{
	/* Element sizes chosen so each ring is a whole number of lines. */
	scribble_and_run(SHMRING_SPSC, 120, 1);
	scribble_and_run(SHMRING_MPSC, 120, 2);
	scribble_and_run(SHMRING_MPMC, 120, 3);
}
