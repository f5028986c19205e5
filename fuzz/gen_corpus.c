// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpus of the fuzz harnesses (make fuzz-corpus):
 *   DIR/fuzz_attach/    segments as the library leaves them: a ring of each
 *                       policy, empty, holding elements, with a reservation
 *                       or a peek outstanding, a named ring's (registry
 *                       words, tokens), and headers not initialised yet;
 *   DIR/fuzz_datapath/  programs in the harness's format (README.md).
 * Run it again after a change of the segment format or of an op code.
 */
#include "shmring.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *dir;

static void put(const char *harness, const char *name, const void *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, harness, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f)) {
		fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void die(const char *what)
{
	fprintf(stderr, "gen_corpus: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- segments ------------------------------------------------------------------ */

enum state { EMPTY, SOME, RESERVED, PEEKED };

/* A ring in local memory after some calls; its bytes are the seed. */
static void segment(const char *name, enum shmring_policy pol, size_t elem, size_t cap,
		    enum state st)
{
	size_t size = shmring_memsize(pol, elem, cap);
	struct shmring_mem *mem = shmring_mem_local_opts(
		size, &(struct shmring_opts){ .sz = sizeof(struct shmring_opts),
					      .flags = SHMRING_F_NOHUGE });
	struct shmring *p, *c;
	unsigned char e[2048] = { 0 };
	void *first;
	size_t stride;

	if (!mem)
		die("mem");
	p = shmring_attach(mem, 0, pol, SHMRING_PRODUCER, elem, cap, NULL);
	c = shmring_attach(mem, 0, pol, SHMRING_CONSUMER, elem, cap, NULL);
	if (!p || !c)
		die("attach");
	if (st != EMPTY) {
		for (int i = 0; i < 3; i++) {
			memset(e, 'a' + i, sizeof(e));
			shmring_try_push(p, e);
		}
		shmring_try_pop(c, e);
	}
	if (st == RESERVED && shmring_reserve(p, 2, &first, &stride) <= 0)
		die("reserve");
	if (st == PEEKED && shmring_peek(c, 1, &first, &stride) <= 0)
		die("peek");
	put("fuzz_attach", name, shmring_mem_get(mem, 0), size);
	/* The bytes are taken: what closing gives back does not matter. */
	shmring_close(p);
	shmring_close(c);
	shmring_mem_close(mem);
}

/* A named ring's segment: registry words and tokens of live handles. */
static void named_segment(const char *name)
{
	char shm[64], path[128];
	struct shmring *p, *c;
	unsigned char e[64] = { 1 };
	size_t size = shmring_memsize(SHMRING_MPMC, 64, 8);
	FILE *f;
	unsigned char *buf = malloc(size);

	snprintf(shm, sizeof(shm), "shmring-gen-corpus-%d", (int)getpid());
	p = shmring_producer(SHMRING_MPMC, shm, 64, 8, NULL);
	c = shmring_consumer(SHMRING_MPMC, shm, 64, 8, NULL);
	if (!p || !c || !buf)
		die("named ring");
	shmring_try_push(p, e);
	shmring_try_push(p, e);
	snprintf(path, sizeof(path), "/dev/shm/%s", shm);
	f = fopen(path, "rb");
	if (!f || fread(buf, 1, size, f) != size)
		die("reading the segment");
	fclose(f);
	put("fuzz_attach", name, buf, size);
	shmring_close(p);
	shmring_close(c);
	shmring_unlink(shm);
	free(buf);
}

/* A header nobody initialised: zeros, and in line 0's padding (bytes 80..)
 * the parameters fuzz_attach derives: policy, element size, capacity,
 * offset / 128. */
static void blank(const char *name, unsigned char policy, unsigned int elem,
		  unsigned int cap, size_t len)
{
	unsigned char *b = calloc(1, len);

	b[80] = policy;
	b[81] = (unsigned char)(elem - 1), b[82] = (unsigned char)((elem - 1) >> 8);
	b[83] = (unsigned char)(cap - 1), b[84] = (unsigned char)((cap - 1) >> 8);
	put("fuzz_attach", name, b, len);
	free(b);
}

/* ---- programs -------------------------------------------------------------------- */

/* Op codes of fuzz_datapath.c (the byte mod 20) and its arg byte: handle
 * in bits 0-1 (0 producer, 1 consumer, 2 second producer, 3 second
 * consumer), n = (arg >> 2) % (capacity + 3), bit 7: timeout 1000 ns. */
enum {
	TRY_PUSH = 0,
	TRY_POP = 2,
	PUSH_BURST = 4,
	POP_BURST = 5,
	RESERVE = 6,
	COMMIT = 7, /* + a byte: n */
	PEEK = 8,
	RELEASE = 9, /* + a byte: n */
	TIMED = 10,  /* pop; + 40 (byte 50): push */
	WAIT = 11,
	REOPEN = 12,
	SCRIB_INDEX = 13,
	SCRIB_SLOT = 14,
	SCRIB_BYTES = 15,
	SCRIB_HEADER = 16,
	SCRIB_GEOMETRY = 17,
	BAD_ARGS = 18,
};
#define ARG(h, n) ((unsigned char)((h) | (n) << 2))

/* policy byte: 0 SPSC, 1 MPSC, 2 MPMC; element index 3 = 8 bytes, 6 = 16,
 * 12 = 120; capacity byte c: capacity c + 1; start 0: position 0,
 * 1: near 2^64, 2: near the 2^40 lap wrap (then an index byte). */
static const unsigned char spsc_basic[] = {
	0,	    3,	       3,	  0, /* SPSC, 8 bytes, capacity 4 */
	TRY_PUSH,   ARG(0, 0), TRY_PUSH,  ARG(0, 0), TRY_POP,  ARG(1, 0),
	PUSH_BURST, ARG(0, 4), POP_BURST, ARG(1, 5), TRY_PUSH, ARG(0, 0),
	RESERVE,    ARG(0, 3), COMMIT,	  ARG(0, 0), 2,	       PEEK,
	ARG(1, 2),  RELEASE,   ARG(1, 0), 1,	     TIMED,    ARG(1, 0) | 0x80,
	50,	    ARG(0, 0), WAIT,	  ARG(1, 0), REOPEN,   ARG(0, 0),
	REOPEN,	    ARG(1, 0), TRY_POP,	  ARG(1, 0), TRY_PUSH, ARG(2, 0),
};

static const unsigned char
	spsc_wrap
		[] = {
			0,	    6,	       4,	  1 | 1 << 2,
			3, /* SPSC, 16 bytes, capacity 5, near 2^64 */
			PUSH_BURST, ARG(0, 5), POP_BURST, ARG(1, 5),
			PUSH_BURST, ARG(0, 5), POP_BURST, ARG(1, 3),
			PUSH_BURST, ARG(0, 5), POP_BURST, ARG(1, 5),
			PUSH_BURST, ARG(0, 5), POP_BURST, ARG(1, 5),
			PUSH_BURST, ARG(0, 5), POP_BURST, ARG(1, 5),
		};

static const unsigned char mpsc_reserve[] = {
	1,	   3,	       5,	  0, /* MPSC, 8 bytes, capacity 6 */
	RESERVE,   ARG(0, 3),  TRY_PUSH,  ARG(2, 0), TRY_POP,	ARG(1, 0), COMMIT,
	ARG(0, 0), 1,	       TRY_POP,	  ARG(1, 0), TRY_POP,	ARG(1, 0), TRY_POP,
	ARG(1, 0), PUSH_BURST, ARG(2, 6), POP_BURST, ARG(1, 6), REOPEN,	   ARG(1, 0),
	TRY_PUSH,  ARG(0, 0),  TRY_POP,	  ARG(1, 0),
};

static const unsigned char
	mpmc_peek
		[] = {
			2,	    12,		7,	   2 | 1 << 2,
			1, /* MPMC, 120 bytes, capacity 8, near the lap wrap */
			PUSH_BURST, ARG(0, 8),	PEEK,	   ARG(1, 2),
			TRY_POP,    ARG(3, 0),	POP_BURST, ARG(3, 2),
			RELEASE,    ARG(1, 0),	1,	   TRY_POP,
			ARG(3, 0),  RESERVE,	ARG(2, 4), TRY_PUSH,
			ARG(0, 0),  COMMIT,	ARG(2, 0), 4,
			POP_BURST,  ARG(1, 10), TIMED,	   ARG(3, 0) | 0x80,
			WAIT,	    ARG(3, 0),
		};

static const unsigned char mpmc_scribble[] = {
	2,
	3,
	3,
	0, /* MPMC, 8 bytes, capacity 4 */
	PUSH_BURST,
	ARG(0, 2),
	SCRIB_SLOT,
	ARG(0, 0),
	1,
	2,
	0,
	0x80,
	0,
	0x0a,
	TRY_POP,
	ARG(1, 0),
	SCRIB_INDEX,
	ARG(0, 0),
	1,
	1,
	3,
	0,
	TRY_PUSH,
	ARG(0, 0),
	SCRIB_HEADER,
	ARG(0, 0),
	0,
	1,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	TIMED,
	ARG(1, 0) | 0x80,
	SCRIB_GEOMETRY,
	ARG(0, 0),
	6,
	9,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	REOPEN,
	ARG(1, 0),
	BAD_ARGS,
	ARG(1, 0),
	POP_BURST,
	ARG(1, 4),
};

static const unsigned char spsc_scribble[] = {
	0,	    12,		 32,	      0, /* SPSC, 120 bytes, capacity 33 */
	PUSH_BURST, ARG(0, 10),	 SCRIB_INDEX, ARG(0, 0), 0,	     0,
	0,	    0x28,	 0,	      0,	 0,	     0,
	0,	    0,		 0,	      POP_BURST, ARG(1, 10), SCRIB_SLOT,
	ARG(0, 0),  5,		 1,	      1,	 5,	     TRY_POP,
	ARG(1, 0),  SCRIB_BYTES, ARG(0, 0),   3,	 7,	     0,
	0x41,	    PEEK,	 ARG(1, 4),   RELEASE,	 ARG(1, 0),  9,
	RELEASE,    ARG(1, 0),	 1,
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}
	dir = argv[1];
	segment("spsc-empty", SHMRING_SPSC, 8, 4, EMPTY);
	segment("spsc-some", SHMRING_SPSC, 24, 5, SOME);
	segment("spsc-reserved", SHMRING_SPSC, 8, 4, RESERVED);
	segment("mpsc-some", SHMRING_MPSC, 16, 3, SOME);
	segment("mpsc-reserved", SHMRING_MPSC, 8, 4, RESERVED);
	segment("mpmc-peeked", SHMRING_MPMC, 9, 4, PEEKED);
	segment("mpmc-large", SHMRING_MPMC, 1472, 2, SOME);
	named_segment("mpmc-named");
	blank("blank-spsc", 0, 8, 4, 128);
	blank("blank-mpmc-page", 2, 64, 16, 4096);

	put("fuzz_datapath", "spsc-basic", spsc_basic, sizeof(spsc_basic));
	put("fuzz_datapath", "spsc-wrap", spsc_wrap, sizeof(spsc_wrap));
	put("fuzz_datapath", "mpsc-reserve", mpsc_reserve, sizeof(mpsc_reserve));
	put("fuzz_datapath", "mpmc-peek", mpmc_peek, sizeof(mpmc_peek));
	put("fuzz_datapath", "mpmc-scribble", mpmc_scribble, sizeof(mpmc_scribble));
	put("fuzz_datapath", "spsc-scribble", spsc_scribble, sizeof(spsc_scribble));
	return 0;
}
