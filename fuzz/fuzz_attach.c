// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: open, validate and use segments of arbitrary contents.
 *
 * The input is what a segment holds (header page, then slots): whatever
 * another process or user may have written. For two sizes of segment -- the
 * input's own length and, when it is larger, the total size its header
 * claims (the rest zero) -- the harness
 *   - validates the header directly (shmring__hdr_validate) and checks that
 *     whatever passes describes a ring that fits the segment, computed here
 *     independently of the library;
 *   - writes the segment to a file in /dev/shm and reads it with
 *     shmring_stat, which must accept exactly the headers that are READY and
 *     valid;
 *   - attaches to it for every policy and role, with the parameters the
 *     header claims and with parameters derived from the input, once in
 *     local memory (no file: the CAS on init_state, the registry word) and
 *     once mapped from that file (flock, OFD role locks, tokens, registry);
 *     every attach starts from the input's bytes again. An attach that works
 *     is followed by data calls on it (and on a producer/consumer pair) that
 *     must not crash and must fail only with the errno the API lists.
 *
 * Segments end at a PROT_NONE page and everything around them is poisoned
 * for ASan (fuzz.h), so any access outside the segment is reported.
 */
#include "fuzz.h"

#include <fcntl.h>
#include <sys/stat.h>

#define SEG_MAX (256u << 10) /* largest segment an input makes */

static struct fuzz_fence local_fence; /* local memory segments */
static struct fuzz_fence file_fence;  /* the file's segments, mapped over it */
static unsigned char *variant;	      /* the bytes every attach starts from */
static char shm_name[64];
static char shm_path[96];
static int shm_fd = -1;
static bool busy_attached; /* a BUSY header already cost one 20 ms wait */

static void cleanup(void)
{
	if (shm_name[0])
		shm_unlink(shm_name);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_fence_init(&local_fence, SEG_MAX);
	fuzz_fence_init(&file_fence, SEG_MAX);
	/* The file's fence is PROT_NONE until a segment is mapped into it. */
	if (mprotect(file_fence.map, file_fence.room, PROT_NONE))
		fuzz_fail("mprotect: %s", strerror(errno));
	variant = malloc(SEG_MAX);
	snprintf(shm_name, sizeof(shm_name), "/shmring-fuzz-attach-%d", (int)getpid());
	snprintf(shm_path, sizeof(shm_path), "/dev/shm%s", shm_name);
	shm_fd = shm_open(shm_name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (!variant || shm_fd < 0)
		fuzz_fail("setup: %s", strerror(errno));
	atexit(cleanup);
	return 0;
}

/* ---- what a valid header must mean ---------------------------------------- */

static uint64_t hdr_u64(const unsigned char *seg, size_t off)
{
	uint64_t v;

	memcpy(&v, seg + off, sizeof(v));
	return v;
}

static uint32_t hdr_u32(const unsigned char *seg, size_t off)
{
	uint32_t v;

	memcpy(&v, seg + off, sizeof(v));
	return v;
}

#define HDR_U64(seg, f) hdr_u64(seg, offsetof(struct shmring__hdr, f))
#define HDR_U32(seg, f) hdr_u32(seg, offsetof(struct shmring__hdr, f))

/* A header that validated against SIZE bytes describes a ring of its own
 * parameters that fits them: checked without the library's arithmetic. */
static void check_valid_geometry(const unsigned char *seg, size_t size)
{
	uint64_t elem = HDR_U64(seg, elem_size), cap = HDR_U64(seg, capacity);
	uint64_t slot = HDR_U64(seg, slot_size), total = HDR_U64(seg, total_size);
	uint32_t policy = HDR_U32(seg, policy), shift = HDR_U32(seg, shift);
	uint64_t slots, want;

	FUZZ_CHECKF(policy >= SHMRING_SPSC && policy <= SHMRING_MPMC, "policy %u",
		    policy);
	FUZZ_CHECK(elem >= 1 && cap >= 1);
	FUZZ_CHECKF(slot == fuzz_slot_size(elem), "slot %lu for elements of %lu",
		    (unsigned long)slot, (unsigned long)elem);
	FUZZ_CHECK(HDR_U64(seg, seq_offset) == slot - 8);
	FUZZ_CHECK(HDR_U64(seg, data_offset) == SHMRING_HDR_SIZE);
	FUZZ_CHECKF(!__builtin_mul_overflow(cap, slot, &slots) &&
			    !__builtin_add_overflow(
				    slots, SHMRING_HDR_SIZE + SHMRING_LINE, &want) &&
			    total == want,
		    "total %lu for %lu slots of %lu", (unsigned long)total,
		    (unsigned long)cap, (unsigned long)slot);
	FUZZ_CHECKF(total <= size, "total %lu in a segment of %zu", (unsigned long)total,
		    size);
	FUZZ_CHECKF(shift >= 1 && shift <= 63 && (1ull << shift) >= cap &&
			    (shift == 1 || (1ull << (shift - 1)) < cap),
		    "shift %u for capacity %lu", shift, (unsigned long)cap);
}

/* ---- attach and use ----------------------------------------------------------- */

struct params {
	int policy;
	size_t elem, cap, offset;
};

static unsigned char buf[8][2048]; /* elements in and out */

static void check_state(struct shmring *r, size_t cap)
{
	size_t pending, avail;

	errno = FUZZ_ERRNO_SENTINEL;
	pending = shmring_pending(r);
	avail = shmring_available(r);
	FUZZ_CHECKF(pending <= cap, "pending %zu of %zu", pending, cap);
	FUZZ_CHECKF(avail == cap - pending, "available %zu, pending %zu of %zu", avail,
		    pending, cap);
	FUZZ_CHECK(shmring_full(r) == (pending == cap));
	FUZZ_CHECK(shmring_empty(r) == (pending == 0));
	(void)shmring_position(r);
	FUZZ_CHECK(errno == FUZZ_ERRNO_SENTINEL);
}

static void use_producer(struct shmring *r, const struct params *pp)
{
	void *first = NULL;
	size_t stride = 0;
	ssize_t n;
	int rc;

	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_try_push(r, buf[0]);
	FUZZ_RESULT("try_push", rc, E_AGAIN | E_PROTO);
	errno = FUZZ_ERRNO_SENTINEL;
	n = shmring_push_burst(r, buf, 3);
	FUZZ_RESULT("push_burst", n, E_PROTO);
	FUZZ_CHECK(n <= 3);
	errno = FUZZ_ERRNO_SENTINEL;
	n = shmring_reserve(r, 2, &first, &stride);
	FUZZ_RESULT("reserve", n, E_PROTO);
	if (n > 0) {
		fuzz_check_borrow((char *)r->hdr, pp->cap, pp->elem, first, stride,
				  (size_t)n);
		for (ssize_t i = 0; i < n; i++)
			memset((char *)first + (size_t)i * stride, 0xa5, pp->elem);
		errno = FUZZ_ERRNO_SENTINEL;
		rc = shmring_try_push(r, buf[0]);
		FUZZ_CHECK(rc == -1 && errno == EBUSY);
		errno = FUZZ_ERRNO_SENTINEL;
		rc = shmring_commit(r, 1);
		FUZZ_RESULT("commit", rc, 0);
	}
	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_timed_push(r, buf[1], 0);
	FUZZ_RESULT("timed_push", rc, E_TIMEDOUT | E_PROTO);
	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_try_pop(r, buf[2]);
	FUZZ_CHECK(rc == -1 && errno == EINVAL); /* the wrong role */
	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_wait(r, 0);
	FUZZ_RESULT("wait", rc, E_TIMEDOUT);
	check_state(r, pp->cap);
}

static void use_consumer(struct shmring *r, const struct params *pp)
{
	void *first = NULL;
	size_t stride = 0;
	ssize_t n;
	int rc;

	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_try_pop(r, buf[0]);
	FUZZ_RESULT("try_pop", rc, E_AGAIN | E_PROTO);
	errno = FUZZ_ERRNO_SENTINEL;
	n = shmring_pop_burst(r, buf, 4);
	FUZZ_RESULT("pop_burst", n, E_PROTO);
	FUZZ_CHECK(n <= 4);
	errno = FUZZ_ERRNO_SENTINEL;
	n = shmring_peek(r, 3, &first, &stride);
	FUZZ_RESULT("peek", n, E_PROTO);
	if (n > 0) {
		unsigned int sum = 0;

		fuzz_check_borrow((char *)r->hdr, pp->cap, pp->elem, first, stride,
				  (size_t)n);
		for (ssize_t i = 0; i < n; i++)
			for (size_t b = 0; b < pp->elem; b++)
				sum += ((unsigned char *)first)[(size_t)i * stride + b];
		buf[7][0] = (unsigned char)sum;
		errno = FUZZ_ERRNO_SENTINEL;
		rc = shmring_release(r, (size_t)n + 1); /* more than borrowed */
		FUZZ_CHECK(rc == -1 && errno == EINVAL);
		errno = FUZZ_ERRNO_SENTINEL;
		rc = shmring_release(r, 1);
		FUZZ_RESULT("release", rc, 0);
	}
	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_timed_pop(r, buf[1], 0);
	FUZZ_RESULT("timed_pop", rc, E_TIMEDOUT | E_PROTO);
	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_try_push(r, buf[2]);
	FUZZ_CHECK(rc == -1 && errno == EINVAL); /* the wrong role */
	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_wait(r, 0);
	FUZZ_RESULT("wait", rc, E_TIMEDOUT);
	check_state(r, pp->cap);
}

/* A handle that attach returned: the geometry it uses is the one asked
 * for, and fits the segment. */
static void check_handle(struct shmring *r, struct shmring_mem *mem,
			 const struct params *pp)
{
	unsigned char *hdr = (unsigned char *)mem->addr + pp->offset;
	size_t slot = fuzz_slot_size(pp->elem);

	FUZZ_CHECK(shmring_capacity(r) == pp->cap);
	FUZZ_CHECK(shmring_elem_size(r) == pp->elem);
	FUZZ_CHECK((unsigned char *)r->hdr == hdr);
	FUZZ_CHECK(r->slots == hdr + SHMRING_HDR_SIZE);
	FUZZ_CHECK(r->slot_size == slot && r->cap == pp->cap);
	FUZZ_CHECKF(pp->offset + SHMRING_HDR_SIZE + pp->cap * slot <= mem->size,
		    "%zu slots of %zu at %zu in %zu bytes", pp->cap, slot, pp->offset,
		    mem->size);
}

static struct shmring *attach(struct shmring_mem *mem, const struct params *pp, int role)
{
	FUZZ_OPTS(opts);
	struct shmring *r;

	errno = FUZZ_ERRNO_SENTINEL;
	r = shmring_attach(mem, pp->offset, (enum shmring_policy)pp->policy,
			   (enum shmring_role)role, pp->elem, pp->cap, &opts);
	if (!r) {
		FUZZ_CHECKF(fuzz_ebit(errno) & (E_INVAL | E_PROTO | E_BUSY),
			    "attach: errno %d (%s)", errno, strerror(errno));
		return NULL;
	}
	FUZZ_CHECK(errno == FUZZ_ERRNO_SENTINEL);
	check_handle(r, mem, pp);
	return r;
}

/* Whether the segment's header at OFFSET would make a local attach wait
 * 20 ms for an initialiser that never comes. */
static bool header_busy(size_t size, size_t offset)
{
	return size - offset >= SHMRING_LINE &&
	       hdr_u32(variant + offset, offsetof(struct shmring__hdr, init_state)) ==
		       SHMRING_INIT_BUSY;
}

/* The file's ring while P and C are attached to it: shmring_stat must read
 * it and report them alive, whatever the registry words said before. */
static void stat_attached(struct shmring *p, struct shmring *c)
{
	SHMRING_INFO(info);
	uint64_t live_p = 0, live_c = 0;
	int rc;

	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_stat(shm_name, &info);
	FUZZ_CHECKF(rc == 0, "stat of an attached ring: %s", strerror(errno));
	for (unsigned int i = 0; i < info.nproducers && i < SHMRING_INFO_HOLDERS; i++)
		live_p += info.producers[i].alive;
	for (unsigned int i = 0; i < info.nconsumers && i < SHMRING_INFO_HOLDERS; i++)
		live_c += info.consumers[i].alive;
	FUZZ_CHECKF(!p || live_p + info.producers_extra >= 1,
		    "stat: no live producer (%u listed, %lu more)", info.nproducers,
		    (unsigned long)info.producers_extra);
	FUZZ_CHECKF(!c || live_c + info.consumers_extra >= 1,
		    "stat: no live consumer (%u listed, %lu more)", info.nconsumers,
		    (unsigned long)info.consumers_extra);
}

/* A header that says it is not READY while live handles hold the ring was
 * wiped under them: an attach through the file refuses it (EPROTO) and
 * never initialises it again. */
static void attach_wiped(struct shmring_mem *mem, const struct params *pp)
{
	struct shmring__hdr *h =
		(struct shmring__hdr *)((unsigned char *)mem->addr + pp->offset);
	FUZZ_OPTS(opts);
	struct shmring *r;

	atomic_store(&h->init_state, SHMRING_INIT_NONE);
	errno = FUZZ_ERRNO_SENTINEL;
	r = shmring_attach(mem, pp->offset, (enum shmring_policy)pp->policy,
			   SHMRING_CONSUMER, pp->elem, pp->cap, &opts);
	FUZZ_CHECKF(!r && errno == EPROTO, "attach to a wiped ring in use: %p, %s",
		    (void *)r, strerror(errno));
	FUZZ_CHECK(atomic_load(&h->init_state) == SHMRING_INIT_NONE);
	atomic_store(&h->init_state, SHMRING_INIT_READY);
}

/* From the segment's bytes again: a producer and a consumer, used alone and
 * as a pair; then a consumer first. */
static void attach_all(struct shmring_mem *mem, size_t size, const struct params *pp)
{
	struct shmring *p, *c;

	if (mem->fd < 0 && header_busy(size, pp->offset)) {
		if (busy_attached)
			return;
		busy_attached = true;
	}
	memcpy(mem->addr, variant, size);
	p = attach(mem, pp, SHMRING_PRODUCER);
	c = attach(mem, pp, SHMRING_CONSUMER);
	if (p)
		use_producer(p, pp);
	if (c)
		use_consumer(c, pp);
	for (int i = 0; p && c && i < 3; i++) {
		int rp, rc;

		memset(buf[0], i, sizeof(buf[0]));
		errno = FUZZ_ERRNO_SENTINEL;
		rp = shmring_try_push(p, buf[0]);
		FUZZ_RESULT("pair try_push", rp, E_AGAIN | E_PROTO);
		errno = FUZZ_ERRNO_SENTINEL;
		rc = shmring_try_pop(c, buf[1]);
		FUZZ_RESULT("pair try_pop", rc, E_AGAIN | E_PROTO);
	}
	if (mem->fd >= 0 && (p || c) && pp->offset == 0)
		stat_attached(p, c); /* stat knows rings at offset 0 only */
	if (mem->fd >= 0 && (p || c))
		attach_wiped(mem, pp);
	shmring_close(p);
	shmring_close(c);

	memcpy(mem->addr, variant, size);
	c = attach(mem, pp, SHMRING_CONSUMER);
	if (c)
		use_consumer(c, pp);
	shmring_close(c);
}

/* The parameters to attach with: the header's own claims (with its policy
 * and each other one), and parameters made of bytes no header field uses
 * (line 0's padding), for headers that are not initialised yet. */
static size_t make_params(const unsigned char *seg, size_t size, struct params *out)
{
	size_t n = 0;
	const unsigned char *d = seg + 80;
	int policy = (int)HDR_U32(seg, policy);

	out[n++] = (struct params){ .policy = policy,
				    .elem = (size_t)HDR_U64(seg, elem_size),
				    .cap = (size_t)HDR_U64(seg, capacity) };
	for (int pol = SHMRING_SPSC; pol <= SHMRING_MPMC; pol++)
		if (pol != policy)
			out[n++] = (struct params){ .policy = pol,
						    .elem = out[0].elem,
						    .cap = out[0].cap };
	out[n] = (struct params){
		.policy = SHMRING_SPSC + d[0] % 3,
		.elem = 1 + (size_t)(d[1] | d[2] << 8) % 1500,
		.cap = 1 + (size_t)(d[3] | d[4] << 8) % 300,
		.offset = SHMRING_LINE * (d[5] % 4),
	};
	if (out[n].offset >= size)
		out[n].offset = 0;
	return n + 1;
}

/* ---- one segment -------------------------------------------------------------- */

/* shmring_stat of the file holding the segment: it accepts exactly the
 * headers that are READY and valid, and reports what they say. */
static void stat_file(const unsigned char *seg, size_t size, bool valid)
{
	SHMRING_INFO(info);
	int rc;

	errno = FUZZ_ERRNO_SENTINEL;
	rc = shmring_stat(shm_name, &info);
	FUZZ_RESULT("stat", rc, E_PROTO);
	FUZZ_CHECKF((rc == 0) == valid, "stat %d for a header that is %svalid", rc,
		    valid ? "" : "not ");
	if (rc)
		return;
	FUZZ_CHECK(info.sz == sizeof(info));
	FUZZ_CHECK(info.policy == (enum shmring_policy)HDR_U32(seg, policy));
	FUZZ_CHECK(info.capacity == HDR_U64(seg, capacity));
	FUZZ_CHECK(info.elem_size == HDR_U64(seg, elem_size));
	FUZZ_CHECK(info.pending <= info.capacity);
	FUZZ_CHECK(info.segment_size == size);
	FUZZ_CHECK(info.nproducers <= SHMRING_INFO_HOLDERS &&
		   info.nconsumers <= SHMRING_INFO_HOLDERS);
}

/* Maps the file (SIZE bytes) so that it ends near file_fence's guard page. */
static void map_file(struct shmring_mem *mem, size_t size)
{
	size_t len = fuzz_round_up(size, file_fence.page);
	unsigned char *at = file_fence.map + file_fence.room - len;

	if (mmap(at, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, shm_fd, 0) !=
	    at)
		fuzz_fail("mmap: %s", strerror(errno));
	/* Past the end of the file in its last page: not the segment. */
	ASAN_UNPOISON_MEMORY_REGION(at, size);
	ASAN_POISON_MEMORY_REGION(at + size, len - size);
	*mem = (struct shmring_mem){
		.addr = at, .size = size, .fd = shm_fd, .shared = true
	};
	snprintf(mem->path, sizeof(mem->path), "%s", shm_path);
}

static void unmap_file(const struct shmring_mem *mem)
{
	size_t len = fuzz_round_up(mem->size, file_fence.page);

	ASAN_POISON_MEMORY_REGION(mem->addr, len);
	if (mmap(mem->addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		 0) != mem->addr)
		fuzz_fail("mmap: %s", strerror(errno));
}

static void run_segment(size_t size)
{
	struct shmring_mem local, file;
	struct params params[5];
	unsigned char *seg = fuzz_fence_place(&local_fence, size);
	size_t np;
	int rc;
	bool ready;

	/* The header as it is, then validated in place. */
	memcpy(seg, variant, size);
	rc = shmring__hdr_validate((const struct shmring__hdr *)seg, size, NULL);
	FUZZ_CHECKF(rc == 0 || rc == -EPROTO, "hdr_validate: %d", rc);
	if (rc == 0)
		check_valid_geometry(seg, size);
	ready = HDR_U32(seg, init_state) == SHMRING_INIT_READY;

	/* The file: shmring_stat, then attaches through its mapping. */
	if (ftruncate(shm_fd, 0) || pwrite(shm_fd, variant, size, 0) != (ssize_t)size)
		fuzz_fail("writing %s: %s", shm_name, strerror(errno));
	stat_file(variant, size, rc == 0 && ready);

	np = make_params(variant, size, params);
	local = (struct shmring_mem){ .addr = seg, .size = size, .fd = -1 };
	for (size_t i = 0; i < np; i++)
		attach_all(&local, size, &params[i]);
	map_file(&file, size);
	for (size_t i = 0; i < np; i++)
		attach_all(&file, size, &params[i]);
	unmap_file(&file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	size_t size, claimed;

	if (len > SEG_MAX)
		len = SEG_MAX;
	busy_attached = false;
	/* The input's own length (a header page needs no more than a line to
	 * be read: every segment a ring is given is at least that). */
	size = fuzz_round_up(len < SHMRING_LINE ? SHMRING_LINE : len, SHMRING_LINE);
	memset(variant, 0, size);
	memcpy(variant, data, len);
	run_segment(size);
	/* The size the header claims, when it is larger: the rest zero. */
	claimed = (size_t)HDR_U64(variant, total_size);
	if (claimed > size && claimed <= SEG_MAX) {
		claimed = fuzz_round_up(claimed, SHMRING_LINE);
		memset(variant + size, 0, claimed - size);
		run_segment(claimed);
	}
	return 0;
}
