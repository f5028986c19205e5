// SPDX-License-Identifier: MIT
/* Ring behaviour in one process: Join's behaviours, every policy, capacity and
 * element size, roles, parameters, bursts, timeouts and index wraparound. */
#include "testutil.h"
#include "ring.h"

static const enum shmring_policy policies[] = { SHMRING_SPSC, SHMRING_MPSC,
						SHMRING_MPMC };
static const char *const policy_names[] = { "", "spsc", "mpsc", "mpmc" };
static const size_t capacities[] = { 1, 3, 144, 1024 };
static const size_t elem_sizes[] = { 1, 13, 64, 1472 };

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct pair {
	struct shmring *prod, *cons;
};

static struct pair open_pair(enum shmring_policy pol, const char *name, size_t elem,
			     size_t cap)
{
	struct pair p = {
		.prod = shmring_producer(pol, name, elem, cap, NULL),
		.cons = shmring_consumer(pol, name, elem, cap, NULL),
	};

	cr_assert(p.prod && p.cons, "open %s %s elem %zu cap %zu: %s", policy_names[pol],
		  name, elem, cap, strerror(errno));
	return p;
}

static void close_pair(struct pair p, const char *name)
{
	shmring_close(p.prod);
	shmring_close(p.cons);
	cr_expect_eq(shmring_unlink(name), 0);
}

/* Element number I: every byte depends on I and its offset. */
static void fill(unsigned char *e, size_t size, uint64_t i)
{
	for (size_t b = 0; b < size; b++)
		e[b] = (unsigned char)(i * 31 + b * 7 + (i >> 8));
}

static void expect_elem(const unsigned char *e, size_t size, uint64_t i)
{
	for (size_t b = 0; b < size; b++)
		cr_assert_eq(e[b], (unsigned char)(i * 31 + b * 7 + (i >> 8)),
			     "element %llu byte %zu", (unsigned long long)i, b);
}

/* Fill to capacity, check the state calls at every step, then drain FIFO. */
static void fill_and_drain(struct pair p, size_t elem, size_t cap, uint64_t first)
{
	unsigned char in[1472], out[1472];

	cr_expect(shmring_empty(p.cons));
	for (size_t i = 0; i < cap; i++) {
		cr_assert_eq(shmring_available(p.prod), cap - i);
		cr_assert_not(shmring_full(p.prod), "full after %zu of %zu", i, cap);
		fill(in, elem, first + i);
		cr_assert_eq(shmring_try_push(p.prod, in), 0, "push %zu: %s", i,
			     strerror(errno));
		cr_assert_eq(shmring_pending(p.cons), i + 1);
	}
	cr_assert(shmring_full(p.prod), "not full after exactly %zu pushes", cap);
	cr_assert_eq(shmring_available(p.prod), 0);
	errno = 0;
	cr_assert_eq(shmring_try_push(p.prod, in), -1,
		     "push past capacity %zu (elem %zu)", cap, elem);
	cr_assert_eq(errno, EAGAIN);
	for (size_t i = 0; i < cap; i++) {
		cr_assert_eq(shmring_try_pop(p.cons, out), 0, "pop %zu: %s", i,
			     strerror(errno));
		expect_elem(out, elem, first + i);
		cr_assert_eq(shmring_pending(p.cons), cap - i - 1);
	}
	cr_assert(shmring_empty(p.cons));
	errno = 0;
	cr_assert_eq(shmring_try_pop(p.cons, out), -1);
	cr_assert_eq(errno, EAGAIN);
}

Test(ring, fill_to_capacity_then_fifo_drain_every_policy_size_and_capacity, .timeout = 60)
{
	for (size_t pi = 0; pi < ARRAY_SIZE(policies); pi++)
		for (size_t ci = 0; ci < ARRAY_SIZE(capacities); ci++)
			for (size_t ei = 0; ei < ARRAY_SIZE(elem_sizes); ei++) {
				TEST_NAME(name, "fill");
				struct pair p = open_pair(policies[pi], name,
							  elem_sizes[ei], capacities[ci]);

				/* twice: the second round starts mid-array */
				fill_and_drain(p, elem_sizes[ei], capacities[ci], 0);
				fill_and_drain(p, elem_sizes[ei], capacities[ci], 1000);
				close_pair(p, name);
			}
}

Test(ring, defaults_are_joins_1472_by_144)
{
	TEST_NAME(name, "defaults");
	struct pair p = open_pair(SHMRING_SPSC, name, SHMRING_DEFAULT_ELEM_SIZE,
				  SHMRING_DEFAULT_CAPACITY);

	cr_expect_eq(shmring_capacity(p.prod), 144);
	cr_expect_eq(shmring_elem_size(p.cons), 1472);
	cr_expect_eq(shmring_available(p.prod), 144,
		     "capacity 144 is not rounded to 256");
	close_pair(p, name);
}

Test(ring, memsize_is_header_slots_and_guard)
{
	/* A slot is the element, 8-byte aligned, and its sequence word: in 16,
	 * 32 or 64 bytes up to a line, packed up to 264 bytes, in whole 64-byte
	 * lines beyond. */
	cr_expect_eq(shmring_memsize(SHMRING_SPSC, 56, 144), 4096 + 64 * 144 + 128);
	cr_expect_eq(shmring_memsize(SHMRING_SPSC, 64, 144), 4096 + 72 * 144 + 128);
	cr_expect_eq(shmring_memsize(SHMRING_MPMC, 256, 3), 4096 + 264 * 3 + 128);
	cr_expect_eq(shmring_memsize(SHMRING_MPMC, 257, 3), 4096 + 320 * 3 + 128);
	cr_expect_eq(shmring_memsize(SHMRING_MPSC, 1472, 144), 4096 + 1536 * 144 + 128);
	cr_expect_eq(shmring_memsize(SHMRING_MPMC, 13, 3), 4096 + 32 * 3 + 128);
	cr_expect_eq(shmring_memsize(SHMRING_SPSC, 1, 1), 4096 + 16 + 128);
	cr_expect_eq(shmring_memsize(SHMRING_SPSC, 24, 1), 4096 + 32 + 128);
	errno = 0;
	cr_expect_eq(shmring_memsize(SHMRING_SPSC, 0, 10), 0);
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(shmring_memsize(SHMRING_SPSC, 10, 0), 0);
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(shmring_memsize(SHMRING_SPSC, SIZE_MAX / 2, SIZE_MAX / 2), 0);
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(shmring_memsize(7, 10, 10), 0);
	cr_expect_eq(errno, EINVAL);
}

Test(ring, timed_calls_time_out_not_before_the_timeout)
{
	TEST_NAME(name, "timed");
	const uint64_t timeout = 30 * 1000 * 1000;

	for (size_t pi = 0; pi < ARRAY_SIZE(policies); pi++) {
		struct pair p = open_pair(policies[pi], name, 8, 2);
		uint64_t v = 7, t0;

		t0 = now_ns();
		errno = 0;
		cr_expect_eq(shmring_timed_pop(p.cons, &v, timeout), -1);
		cr_expect_eq(errno, ETIMEDOUT, "%s", strerror(errno));
		cr_expect_geq(now_ns() - t0, timeout, "timed_pop returned early");

		cr_assert_eq(shmring_push(p.prod, &v), 0);
		cr_assert_eq(shmring_push(p.prod, &v), 0);
		t0 = now_ns();
		errno = 0;
		cr_expect_eq(shmring_timed_push(p.prod, &v, timeout), -1);
		cr_expect_eq(errno, ETIMEDOUT);
		cr_expect_geq(now_ns() - t0, timeout, "timed_push returned early");

		/* A zero timeout is a try that reports ETIMEDOUT. */
		errno = 0;
		cr_expect_eq(shmring_timed_push(p.prod, &v, 0), -1);
		cr_expect_eq(errno, ETIMEDOUT);
		/* With room or data the timed calls succeed at once. */
		cr_expect_eq(shmring_timed_pop(p.cons, &v, timeout), 0);
		cr_expect_eq(shmring_timed_push(p.prod, &v, timeout), 0);
		close_pair(p, name);
	}
}

/* Pushes up to WANT consecutive numbers from *NEXT_IN; returns how many moved. */
static ssize_t push_numbers(struct shmring *prod, uint64_t *next_in, size_t want)
{
	uint32_t in[300];
	ssize_t n;

	for (size_t i = 0; i < want; i++)
		in[i] = (uint32_t)(*next_in + i);
	n = shmring_push_burst(prod, in, want);
	cr_assert_geq(n, 0, "%s", strerror(errno));
	*next_in += (uint64_t)n;
	return n;
}

static ssize_t pop_numbers(struct shmring *cons, uint64_t *next_out, size_t want)
{
	uint32_t out[300];
	ssize_t n = shmring_pop_burst(cons, out, want);

	cr_assert_geq(n, 0, "%s", strerror(errno));
	for (ssize_t i = 0; i < n; i++)
		cr_assert_eq(out[i], (uint32_t)(*next_out + (uint64_t)i), "FIFO order");
	*next_out += (uint64_t)n;
	return n;
}

Test(ring, bursts_move_what_fits_and_report_counts)
{
	for (size_t pi = 0; pi < ARRAY_SIZE(policies); pi++) {
		TEST_NAME(name, "burst");
		struct pair p = open_pair(policies[pi], name, sizeof(uint32_t), 100);
		uint64_t next_in = 0, next_out = 0;

		cr_expect_eq(push_numbers(p.prod, &next_in, 0), 0);
		cr_expect_eq(pop_numbers(p.cons, &next_out, 10), 0, "empty ring");
		cr_expect_eq(push_numbers(p.prod, &next_in, 30), 30);
		cr_expect_eq(push_numbers(p.prod, &next_in, 300), 70,
			     "partial: 70 of 300");
		cr_expect_eq(push_numbers(p.prod, &next_in, 5), 0, "full ring");
		cr_expect_eq(pop_numbers(p.cons, &next_out, 45), 45);
		/* Bursts across the end of the slot array. */
		for (int round = 0; round < 50; round++) {
			size_t free = 100 - (size_t)(next_in - next_out);
			size_t want = 40 + (size_t)round % 17;

			cr_assert_eq(push_numbers(p.prod, &next_in, want),
				     (ssize_t)(want < free ? want : free), "round %d",
				     round);
			size_t queued = (size_t)(next_in - next_out),
			       ask = 1 + (size_t)round % 60;

			cr_assert_eq(pop_numbers(p.cons, &next_out, ask),
				     (ssize_t)(ask < queued ? ask : queued), "round %d",
				     round);
		}
		pop_numbers(p.cons, &next_out, 300);
		cr_expect_eq(next_out, next_in);
		cr_expect(shmring_empty(p.cons));
		close_pair(p, name);
	}
}

Test(ring, single_producer_and_consumer_roles_are_exclusive)
{
	TEST_NAME(name, "roles");
	struct shmring *a, *b;

	/* SPSC: one of each. */
	a = shmring_producer(SHMRING_SPSC, name, 8, 4, NULL);
	cr_assert_not_null(a);
	errno = 0;
	cr_expect_null(shmring_producer(SHMRING_SPSC, name, 8, 4, NULL));
	cr_expect_eq(errno, EBUSY);
	b = shmring_consumer(SHMRING_SPSC, name, 8, 4, NULL);
	cr_assert_not_null(b);
	errno = 0;
	cr_expect_null(shmring_consumer(SHMRING_SPSC, name, 8, 4, NULL));
	cr_expect_eq(errno, EBUSY);
	/* Closing frees the role. */
	shmring_close(b);
	b = shmring_consumer(SHMRING_SPSC, name, 8, 4, NULL);
	cr_expect_not_null(b, "role not freed by close: %s", strerror(errno));
	shmring_close(a);
	shmring_close(b);
	shmring_unlink(name);
}

Test(ring, mpsc_has_one_consumer_many_producers_mpmc_many_of_both)
{
	TEST_NAME(m1, "mpsc");
	TEST_NAME(m2, "mpmc");
	struct shmring *h[8];

	for (int i = 0; i < 5; i++) {
		h[i] = shmring_producer(SHMRING_MPSC, m1, 8, 4, NULL);
		cr_assert_not_null(h[i], "producer %d: %s", i, strerror(errno));
	}
	h[5] = shmring_consumer(SHMRING_MPSC, m1, 8, 4, NULL);
	cr_assert_not_null(h[5]);
	errno = 0;
	cr_expect_null(shmring_consumer(SHMRING_MPSC, m1, 8, 4, NULL));
	cr_expect_eq(errno, EBUSY);
	for (int i = 0; i < 6; i++)
		shmring_close(h[i]);

	/* More handles than registry entries: still fine for shared roles. */
	struct shmring *many[40];
	for (int i = 0; i < 40; i++) {
		many[i] = i % 2 ? shmring_consumer(SHMRING_MPMC, m2, 8, 4, NULL) :
				  shmring_producer(SHMRING_MPMC, m2, 8, 4, NULL);
		cr_assert_not_null(many[i], "handle %d: %s", i, strerror(errno));
	}
	for (int i = 0; i < 40; i++)
		shmring_close(many[i]);
	shmring_unlink(m1);
	shmring_unlink(m2);
}

Test(ring, mismatched_parameters_are_einval)
{
	TEST_NAME(name, "mismatch");
	struct shmring *p = shmring_producer(SHMRING_MPSC, name, 64, 144, NULL);

	cr_assert_not_null(p);
	errno = 0;
	cr_expect_null(shmring_consumer(SHMRING_SPSC, name, 64, 144, NULL));
	cr_expect_eq(errno, EINVAL, "other policy: %s", strerror(errno));
	errno = 0;
	cr_expect_null(shmring_consumer(SHMRING_MPSC, name, 65, 144, NULL));
	cr_expect_eq(errno, EINVAL, "other element size: %s", strerror(errno));
	errno = 0;
	cr_expect_null(shmring_consumer(SHMRING_MPSC, name, 64, 145, NULL));
	cr_expect_eq(errno, EINVAL, "other capacity: %s", strerror(errno));
	errno = 0;
	cr_expect_null(shmring_consumer(SHMRING_MPSC, name, 64, 1000, NULL));
	cr_expect_eq(errno, EINVAL, "bigger ring: %s", strerror(errno));
	struct shmring *c = shmring_consumer(SHMRING_MPSC, name, 64, 144, NULL);
	cr_expect_not_null(c);
	shmring_close(c);
	shmring_close(p);
	shmring_unlink(name);
}

Test(ring, null_and_bad_arguments)
{
	TEST_NAME(name, "args");
	char buf[16];

	errno = 0;
	cr_expect_null(shmring_producer(SHMRING_SPSC, NULL, 8, 4, NULL));
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_null(shmring_producer(SHMRING_SPSC, "", 8, 4, NULL));
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_null(shmring_producer(SHMRING_SPSC, "a/b", 8, 4, NULL));
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_null(shmring_producer(SHMRING_SPSC, name, 0, 4, NULL));
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_null(shmring_producer(SHMRING_SPSC, name, 8, 0, NULL));
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_null(shmring_producer(0, name, 8, 4, NULL));
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_null(
		shmring_attach(NULL, 0, SHMRING_SPSC, SHMRING_PRODUCER, 8, 4, NULL));
	cr_expect_eq(errno, EINVAL);

	struct pair p = open_pair(SHMRING_SPSC, name, 8, 4);
	errno = 0;
	cr_expect_eq(shmring_try_push(NULL, buf), -1);
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(shmring_try_push(p.prod, NULL), -1);
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(shmring_push(p.cons, buf), -1, "push on a consumer");
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(shmring_pop(p.prod, buf), -1, "pop on a producer");
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(shmring_pop_burst(p.cons, NULL, 3), -1);
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(shmring_push_burst(p.cons, buf, 1), -1);
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(shmring_pending(NULL), 0);
	cr_expect_eq(shmring_available(NULL), 0);
	cr_expect(shmring_empty(NULL));
	cr_expect_not(shmring_full(NULL));
	shmring_close(NULL);
	close_pair(p, name);
}

Test(ring, unlink_of_a_missing_name_succeeds)
{
	TEST_NAME(name, "nothere");

	cr_expect_eq(shmring_unlink(name), 0);
	cr_expect_eq(shmring_endpoint_unlink(name), 0);
}

/* Start every index a few laps short of 2^64 and run through the wrap. */
static void wrap_round(enum shmring_policy pol, size_t cap)
{
	TEST_NAME(name, "wrap");
	struct shmring *prod = shmring_producer(pol, name, 16, cap, NULL);
	struct shmring *cons;
	uint64_t lap, start, in[2], out[2], n = 0, m = 0;

	cr_assert_not_null(prod);
	lap = prod->lap;
	/* Index cap - 1, three laps before the top of the 64-bit range. */
	start = (UINT64_MAX & ~(lap - 1)) - 2 * lap + cap - 1;
	cr_assert_eq(shmring__debug_set_position(prod, start), 0);
	cons = shmring_consumer(pol, name, 16, cap, NULL);
	cr_assert_not_null(cons);
	/* Ten laps, with the ring alternately filled and half drained. */
	while (m < 10 * cap + 7) {
		in[0] = n;
		in[1] = ~n;
		if (shmring_try_push(prod, in) == 0) {
			n++;
			if (n - m < cap)
				continue;
		}
		cr_assert_eq(shmring_available(prod), cap - (n - m));
		for (size_t k = 0; k < (cap + 1) / 2; k++) {
			cr_assert_eq(shmring_try_pop(cons, out), 0, "pop %llu",
				     (unsigned long long)m);
			cr_assert_eq(out[0], m);
			cr_assert_eq(out[1], ~m);
			m++;
		}
	}
	/* The run went through 2^64: both indices are small again. */
	cr_assert_lt(atomic_load(&prod->hdr->head), start);
	cr_assert_lt(atomic_load(&prod->hdr->tail), start);
	shmring_close(prod);
	shmring_close(cons);
	shmring_unlink(name);
}

Test(ring, indices_wrap_around_2_pow_64, .timeout = 30)
{
	for (size_t pi = 0; pi < ARRAY_SIZE(policies); pi++)
		for (size_t ci = 0; ci < ARRAY_SIZE(capacities); ci++)
			wrap_round(policies[pi], capacities[ci]);
}

Test(ring, attach_in_local_and_shared_memory)
{
	size_t need = shmring_memsize(SHMRING_MPMC, 32, 10);
	struct shmring_mem *mem = shmring_mem_local(2 * need + 4096);
	struct shmring *p1, *c1, *p2, *c2;
	char in[32] = "first ring", out[32];

	cr_assert_not_null(mem);
	/* Two rings in one segment, the second at a 128-byte boundary. */
	size_t off2 = (need + 127) & ~(size_t)127;
	p1 = shmring_attach(mem, 0, SHMRING_MPMC, SHMRING_PRODUCER, 32, 10, NULL);
	c1 = shmring_attach(mem, 0, SHMRING_MPMC, SHMRING_CONSUMER, 32, 10, NULL);
	p2 = shmring_attach(mem, off2, SHMRING_SPSC, SHMRING_PRODUCER, 32, 10, NULL);
	c2 = shmring_attach(mem, off2, SHMRING_SPSC, SHMRING_CONSUMER, 32, 10, NULL);
	cr_assert(p1 && c1 && p2 && c2, "%s", strerror(errno));
	cr_expect_eq(shmring_try_push(p1, in), 0);
	strcpy(in, "second ring");
	cr_expect_eq(shmring_try_push(p2, in), 0);
	cr_expect_eq(shmring_try_pop(c1, out), 0);
	cr_expect_str_eq(out, "first ring");
	cr_expect_eq(shmring_try_pop(c2, out), 0);
	cr_expect_str_eq(out, "second ring");
	errno = 0;
	cr_expect_null(
		shmring_attach(mem, 64, SHMRING_SPSC, SHMRING_PRODUCER, 32, 10, NULL));
	cr_expect_eq(errno, EINVAL, "misaligned offset");
	errno = 0;
	cr_expect_null(
		shmring_attach(mem, 0, SHMRING_SPSC, SHMRING_PRODUCER, 32, 10, NULL));
	cr_expect_eq(errno, EINVAL, "other policy at the same place");
	/* A ring that does not fit fails and leaves nothing half-claimed: a
	 * ring that fits attaches there at once. */
	SHMRING_OPTS(small, .flags = SHMRING_F_NOHUGE);
	struct shmring_mem *two_pages = shmring_mem_local_opts(8192, &small);
	cr_assert_not_null(two_pages);
	errno = 0;
	cr_expect_null(shmring_attach(two_pages, 0, SHMRING_SPSC, SHMRING_PRODUCER, 32,
				      1000, NULL));
	cr_expect_eq(errno, EINVAL, "does not fit");
	uint64_t t0 = now_ns();
	struct shmring *fits =
		shmring_attach(two_pages, 0, SHMRING_SPSC, SHMRING_PRODUCER, 8, 10, NULL);
	cr_expect_not_null(fits, "%s", strerror(errno));
	cr_expect_lt(now_ns() - t0, 100000000ull, "waited for a header left BUSY");
	shmring_close(fits);
	shmring_mem_close(two_pages);
	shmring_close(p1);
	shmring_close(c1);
	shmring_close(p2);
	shmring_close(c2);
	shmring_mem_close(mem);
}
