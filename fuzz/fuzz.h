/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the libFuzzer harnesses (fuzz/README.md).
 *
 * Segments live in a "fence": an anonymous mapping whose last page is
 * PROT_NONE. A segment is placed so that it ends as close to that page as
 * its 128-byte alignment allows, and under AddressSanitizer every byte of
 * the fence that is not the segment (before it, and the slack of up to 120
 * bytes after it) is poisoned, so a read or write one byte outside the
 * segment is reported; without ASan the guard page still catches accesses
 * past the end.
 *
 * Invariants that fail call fuzz_fail(), which aborts: libFuzzer then saves
 * the input as a crash.
 */
#ifndef SHMRING_FUZZ_H
#define SHMRING_FUZZ_H

#include "ring.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define FUZZ_ASAN 1
#endif
#endif
#ifndef FUZZ_ASAN
#define ASAN_POISON_MEMORY_REGION(addr, size)	((void)(addr), (void)(size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline __attribute__((noreturn, format(printf, 1, 2))) void
fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz invariant violated: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#define FUZZ_CHECK(cond, ...)                                                         \
	do {                                                                          \
		if (!(cond))                                                          \
			fuzz_fail("%s:%d: %s: ", __FILE__, __LINE__, #cond), (void)0; \
	} while (0)

#define FUZZ_CHECKF(cond, fmt, ...)                                             \
	do {                                                                    \
		if (!(cond))                                                    \
			fuzz_fail("%s:%d: %s: " fmt, __FILE__, __LINE__, #cond, \
				  __VA_ARGS__);                                 \
	} while (0)

static inline size_t fuzz_round_up(size_t n, size_t a)
{
	return (n + a - 1) / a * a;
}

/* ---- fences ----------------------------------------------------------------- */

struct fuzz_fence {
	unsigned char *map;
	size_t room; /* bytes before the guard page */
	size_t page;
};

static inline void fuzz_fence_init(struct fuzz_fence *f, size_t room)
{
	f->page = (size_t)sysconf(_SC_PAGESIZE);
	f->room = fuzz_round_up(room, f->page);
	f->map = mmap(NULL, f->room + f->page, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->map == MAP_FAILED || mprotect(f->map + f->room, f->page, PROT_NONE))
		fuzz_fail("fence of %zu bytes: %s", f->room, strerror(errno));
	ASAN_POISON_MEMORY_REGION(f->map, f->room);
}

/* Where a segment of SIZE bytes (<= room) starts: 128-byte aligned, ending
 * less than a line before the guard page. Only those SIZE bytes are
 * accessible under ASan. */
static inline unsigned char *fuzz_fence_place(struct fuzz_fence *f, size_t size)
{
	unsigned char *at = f->map + f->room - fuzz_round_up(size, SHMRING_LINE);

	if (size > f->room)
		fuzz_fail("segment of %zu bytes in a fence of %zu", size, f->room);
	ASAN_POISON_MEMORY_REGION(f->map, f->room);
	ASAN_UNPOISON_MEMORY_REGION(at, size);
	return at;
}

/* ---- errno ------------------------------------------------------------------- */

enum {
	E_AGAIN = 1u << 0,
	E_PROTO = 1u << 1,
	E_TIMEDOUT = 1u << 2,
	E_BUSY = 1u << 3,
	E_INVAL = 1u << 4,
	E_CANCELED = 1u << 5,
	E_OTHER = 1u << 31,
};

static inline unsigned int fuzz_ebit(int e)
{
	switch (e) {
	case EAGAIN:
		return E_AGAIN;
	case EPROTO:
		return E_PROTO;
	case ETIMEDOUT:
		return E_TIMEDOUT;
	case EBUSY:
		return E_BUSY;
	case EINVAL:
		return E_INVAL;
	case ECANCELED:
		return E_CANCELED;
	default:
		return E_OTHER;
	}
}

/* A value no call sets: a call that succeeds must leave errno alone. */
#define FUZZ_ERRNO_SENTINEL 0x5eed

/* A call returned RC (negative: failed, with errno E). On failure E must be
 * in ALLOWED; on success errno must be untouched. */
#define FUZZ_RESULT(what, rc, allowed)                                                 \
	do {                                                                           \
		int e_ = errno;                                                        \
		if ((rc) < 0)                                                          \
			FUZZ_CHECKF((rc) == -1 && (fuzz_ebit(e_) & (allowed)),         \
				    "%s: rc %ld errno %d (%s), allowed 0x%x", what,    \
				    (long)(rc), e_, strerror(e_),                      \
				    (unsigned int)(allowed));                          \
		else                                                                   \
			FUZZ_CHECKF(e_ == FUZZ_ERRNO_SENTINEL,                         \
				    "%s: succeeded (%ld) but set errno %d (%s)", what, \
				    (long)(rc), e_, strerror(e_));                     \
	} while (0)

/* ---- input ------------------------------------------------------------------- */

/* Reads an input front to back; past its end every read gives zeros. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

/* N bytes (<= 8), little-endian. */
static inline uint64_t fuzz_bytes(struct fuzz_in *in, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)fuzz_u8(in) << (8 * i);
	return v;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	return fuzz_bytes(in, 8);
}

/* Geometry of a ring computed here, independently of the library (format
 * 2, DESIGN.md §9): the element 8-byte aligned then its sequence word, in a
 * slot of 16, 32 or 64 bytes, packed up to 264 bytes, or of whole 64-byte
 * lines beyond; the word last. */
static inline size_t fuzz_slot_size(size_t elem_size)
{
	size_t slot = fuzz_round_up(elem_size, 8) + sizeof(uint64_t);

	if (slot > 264)
		return fuzz_round_up(slot, 64);
	if (slot > 64)
		return slot;
	return slot <= 16 ? 16 : slot <= 32 ? 32 : 64;
}

/* A reservation or peek of M elements at FIRST, STRIDE apart, of a ring
 * whose header is at HDR (CAP slots of ELEM_SIZE elements): every element
 * must lie inside the slot area, on a slot boundary. */
static inline void fuzz_check_borrow(const void *hdr, size_t cap, size_t elem_size,
				     const void *first, size_t stride, size_t m)
{
	const unsigned char *slots = (const unsigned char *)hdr + SHMRING_HDR_SIZE;
	size_t slot = fuzz_slot_size(elem_size);
	const unsigned char *p = first;
	size_t idx;

	FUZZ_CHECKF(m >= 1 && m <= cap, "borrowed %zu of %zu", m, cap);
	FUZZ_CHECKF(stride == slot, "stride %zu, slot %zu", stride, slot);
	FUZZ_CHECKF(p >= slots && (size_t)(p - slots) % slot == 0,
		    "first element at %td from the slots", p - slots);
	idx = (size_t)(p - slots) / slot;
	FUZZ_CHECKF(idx < cap && m <= cap - idx, "elements %zu..%zu of %zu slots", idx,
		    idx + m - 1, cap);
}

/* Options every harness opens handles with: no spinning in blocking
 * calls (a scribbled ring may stay empty forever, and a spin costs 20 us of
 * every timed call). */
#define FUZZ_OPTS(name) SHMRING_OPTS(name, .spin_ns = -1)

#endif /* SHMRING_FUZZ_H */
