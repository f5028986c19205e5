// SPDX-License-Identifier: MIT
/* shmring_stat: a ring's header as observers see it, in known states, and
 * every file that is not a ring refused with EPROTO instead of a crash. */
#include "testutil.h"
#include "ring.h"

#include <sys/mman.h>
#include <sys/stat.h>

#define ELEM 64
#define CAP  16

static void fill_ring(struct shmring *p, size_t n)
{
	unsigned char m[ELEM] = { 0 };

	for (size_t i = 0; i < n; i++)
		cr_assert_eq(shmring_try_push(p, m), 0, "push %zu: %s", i,
			     strerror(errno));
}

static struct shmring_info stat_ok(const char *name)
{
	SHMRING_INFO(in);

	cr_assert_eq(shmring_stat(name, &in), 0, "stat %s: %s", name, strerror(errno));
	return in;
}

Test(inspect, empty_half_and_full_rings_report_their_occupancy)
{
	TEST_NAME(name, "occ");
	struct shmring *p = shmring_producer(SHMRING_SPSC, name, ELEM, CAP, NULL);
	struct shmring *c = shmring_consumer(SHMRING_SPSC, name, ELEM, CAP, NULL);
	unsigned char m[ELEM];
	struct shmring_info in;

	cr_assert(p && c);
	in = stat_ok(name);
	cr_expect_eq(in.sz, sizeof(in));
	cr_expect_eq(in.policy, SHMRING_SPSC);
	cr_expect_eq(in.elem_size, ELEM);
	cr_expect_eq(in.capacity, CAP);
	cr_expect_eq(in.pending, 0);
	cr_expect_eq(in.segment_size,
		     (shmring_memsize(SHMRING_SPSC, ELEM, CAP) + 4095) & ~4095ul);
	cr_expect_eq(in.opens, 2);
	cr_expect_eq(in.nproducers, 1);
	cr_expect_eq(in.nconsumers, 1);
	cr_expect_eq(in.producers[0].pid, getpid());
	cr_expect(in.producers[0].alive);
	cr_expect(in.consumers[0].alive);

	fill_ring(p, CAP / 2);
	in = stat_ok(name);
	cr_expect_eq(in.pending, CAP / 2);
	cr_expect_eq(in.pushed, CAP / 2);
	cr_expect_eq(in.popped, 0);

	fill_ring(p, CAP / 2);
	cr_expect_eq(stat_ok(name).pending, CAP);
	cr_expect_eq(shmring_pop(c, m), 0);
	in = stat_ok(name);
	cr_expect_eq(in.pending, CAP - 1);
	cr_expect_eq(in.popped, 1);

	shmring_close(p);
	shmring_close(c);
	in = stat_ok(name);
	cr_expect_eq(in.nproducers, 0, "a closed handle leaves the registry");
	cr_expect_eq(in.nconsumers, 0);
	cr_expect_eq(in.pending, CAP - 1, "the messages stay in the ring");
	shmring_unlink(name);
}

static int die_holding_producer(void *arg)
{
	struct shmring *p = shmring_producer(SHMRING_SPSC, arg, ELEM, CAP, NULL);
	unsigned char m[ELEM] = { 0 };

	if (!p || shmring_try_push(p, m) || shmring_try_push(p, m) ||
	    shmring_try_push(p, m))
		return 1;
	_exit(0); /* no close: the registry keeps this pid */
}

Test(inspect, a_dead_producer_is_listed_as_dead)
{
	TEST_NAME(name, "dead");
	pid_t child = fork_child(die_holding_producer, (void *)name);
	struct shmring_info in;

	cr_assert_eq(wait_child(child), 0);
	in = stat_ok(name);
	cr_expect_eq(in.pending, 3);
	cr_expect_eq(in.nproducers, 1);
	cr_expect_eq(in.producers[0].pid, child);
	cr_expect_not(in.producers[0].alive);
	cr_expect_eq(in.nconsumers, 0);
	shmring_unlink(name);
}

Test(inspect, holders_of_shared_roles_are_all_listed)
{
	TEST_NAME(name, "mpmc");
	struct shmring *c[3], *p = shmring_producer(SHMRING_MPMC, name, 8, 100, NULL);
	struct shmring_info in;

	for (int i = 0; i < 3; i++)
		cr_assert_not_null(
			c[i] = shmring_consumer(SHMRING_MPMC, name, 8, 100, NULL));
	in = stat_ok(name);
	cr_expect_eq(in.policy, SHMRING_MPMC);
	cr_expect_eq(in.capacity, 100);
	cr_expect_eq(in.nproducers, 1);
	cr_expect_eq(in.nconsumers, 3);
	for (int i = 0; i < 3; i++) {
		cr_expect_eq(in.consumers[i].pid, getpid());
		shmring_close(c[i]);
	}
	shmring_close(p);
	shmring_unlink(name);
}

static int pop_once(void *arg)
{
	struct shmring *c = shmring_consumer(SHMRING_SPSC, arg, ELEM, CAP, NULL);
	unsigned char m[ELEM];

	return !c || shmring_pop(c, m);
}

Test(inspect, a_sleeping_consumer_is_counted_as_waiting)
{
	TEST_NAME(name, "wait");
	struct shmring *p = shmring_producer(SHMRING_SPSC, name, ELEM, CAP, NULL);
	pid_t child = fork_child(pop_once, (void *)name);
	uint64_t t0 = now_ns();
	struct shmring_info in;

	cr_assert_not_null(p);
	do {
		usleep(1000);
		in = stat_ok(name);
	} while (in.consumers_waiting == 0 && now_ns() - t0 < 5000000000ull);
	cr_expect_eq(in.consumers_waiting, 1);
	cr_expect_eq(in.producers_waiting, 0);
	cr_expect_geq(in.consumer_sleeps, 1);
	fill_ring(p, 1);
	cr_expect_eq(wait_child(child), 0);
	in = stat_ok(name);
	cr_expect_eq(in.consumers_waiting, 0);
	cr_expect_geq(in.consumer_wakes, 1);
	shmring_close(p);
	shmring_unlink(name);
}

Test(inspect, occupancy_is_right_across_the_index_wrap)
{
	TEST_NAME(name, "wrap");
	struct shmring *p = shmring_producer(SHMRING_SPSC, name, ELEM, 5, NULL);
	uint64_t lap = 8; /* capacity 5: three index bits */

	cr_assert_not_null(p);
	/* Two positions before the 64-bit wrap. */
	cr_assert_eq(shmring__debug_set_position(p, (UINT64_MAX & ~(lap - 1)) + 3), 0);
	fill_ring(p, 4);
	cr_expect_eq(stat_ok(name).pending, 4);
	shmring_close(p);
	shmring_unlink(name);
}

/* Found by make crash: the MPMC tail is a hint. A consumer that releases a
 * slot while another's peek of an earlier one is outstanding cannot move it,
 * the earlier release moves it only past its own, and consumers that find
 * the ring empty move only their private hints: stat read the raw hint and
 * showed an empty ring as holding an element, for good. */
Test(inspect, stat_reads_the_slots_behind_a_lagging_hint)
{
	TEST_NAME(name, "hint");
	unsigned char m[ELEM] = { 0 };
	struct shmring *p = shmring_producer(SHMRING_MPMC, name, ELEM, 8, NULL);
	struct shmring *c1 = shmring_consumer(SHMRING_MPMC, name, ELEM, 8, NULL);
	struct shmring *c2 = shmring_consumer(SHMRING_MPMC, name, ELEM, 8, NULL);
	void *f1, *f2;
	size_t stride;

	cr_assert(p && c1 && c2);
	fill_ring(p, 2);
	cr_assert_eq(shmring_peek(c1, 1, &f1, &stride), 1);
	cr_assert_eq(shmring_peek(c2, 1, &f2, &stride), 1);
	cr_assert_eq(shmring_release(c2, 1), 0);
	cr_assert_eq(shmring_release(c1, 1), 0);
	cr_assert_eq(shmring_try_pop(c1, m), -1);
	cr_assert_eq(shmring_try_pop(c2, m), -1);
	cr_assert_eq(shmring_pending(p), 0);
	struct shmring_info in = stat_ok(name);
	cr_expect_eq(in.pending, 0, "stat says %zu pending on an empty ring", in.pending);
	cr_expect_eq(in.pushed, 2);
	cr_expect_eq(in.popped, 2);
	fill_ring(p, 5);
	cr_expect_eq(stat_ok(name).pending, 5);
	shmring_close(c1);
	shmring_close(c2);
	shmring_close(p);
	shmring_unlink(name);
}

Test(inspect, an_older_caller_gets_only_the_fields_it_knows)
{
	TEST_NAME(name, "abi");
	struct shmring *p = shmring_producer(SHMRING_MPSC, name, ELEM, CAP, NULL);
	struct {
		struct shmring_info in;
		unsigned char canary[16];
	} buf;
	size_t old = offsetof(struct shmring_info, pending);

	cr_assert_not_null(p);
	memset(&buf, 0xa5, sizeof(buf));
	buf.in.sz = old;
	cr_assert_eq(shmring_stat(name, &buf.in), 0);
	cr_expect_eq(buf.in.sz, old);
	cr_expect_eq(buf.in.capacity, CAP);
	cr_expect_eq(((unsigned char *)&buf.in)[old], 0xa5, "wrote past the caller's sz");

	/* A newer caller: what we do not know is zeroed, up to its sz. */
	memset(&buf, 0xa5, sizeof(buf));
	buf.in.sz = sizeof(buf);
	cr_assert_eq(shmring_stat(name, &buf.in), 0);
	cr_expect_eq(buf.in.sz, sizeof(buf.in));
	cr_expect_eq(buf.canary[0], 0);
	shmring_close(p);
	shmring_unlink(name);
}

Test(inspect, bad_arguments_and_missing_rings)
{
	SHMRING_INFO(in);
	struct shmring_info unset = { 0 };
	char longname[NAME_MAX + 8];

	errno = 0;
	cr_expect_eq(shmring_stat(NULL, &in), -1);
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(shmring_stat("x", NULL), -1);
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(shmring_stat("x", &unset), -1);
	cr_expect_eq(errno, EINVAL, "sz not set");
	cr_expect_eq(shmring_stat("a/b", &in), -1);
	cr_expect_eq(errno, EINVAL);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	cr_expect_eq(shmring_stat(longname, &in), -1);
	cr_expect_eq(errno, ENAMETOOLONG);
	cr_expect_eq(shmring_stat("shmring-t-surely-not-there", &in), -1);
	cr_expect_eq(errno, ENOENT);
}

/* ---- files that are not rings --------------------------------------------- */

static void expect_eproto(const char *name, const char *what)
{
	SHMRING_INFO(in);

	errno = 0;
	cr_expect_eq(shmring_stat(name, &in), -1, "%s: accepted", what);
	cr_expect_eq(errno, EPROTO, "%s: %s", what, strerror(errno));
}

Test(inspect, files_that_are_not_rings_are_eproto)
{
	TEST_NAME(name, "junk");
	size_t size = shmring_memsize(SHMRING_SPSC, ELEM, CAP);
	unsigned char *junk = calloc(1, size);
	char path[160];
	uint64_t x = 99;

	write_shm_file(name, "", 0);
	expect_eproto(name, "empty file");
	write_shm_file(name, junk, size);
	expect_eproto(name, "zeros");
	for (size_t i = 0; i < size; i++)
		junk[i] = (unsigned char)((x = x * 6364136223846793005ull + 1) >> 56);
	write_shm_file(name, junk, size);
	expect_eproto(name, "random bytes");
	write_shm_file(name, junk, 100);
	expect_eproto(name, "short file");
	shmring_unlink(name);

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	cr_assert_eq(mkdir(path, 0700), 0);
	expect_eproto(name, "directory");
	rmdir(path);
	cr_assert_eq(mkfifo(path, 0600), 0);
	expect_eproto(name, "fifo (must not block)");
	unlink(path);
	cr_assert_eq(symlink("/etc/passwd", path), 0);
	expect_eproto(name, "symlink");
	unlink(path);
	free(junk);
}

/* A valid ring, then one header field changed: the same checks as open. */
static void tamper(size_t field_off, uint64_t value, const char *what)
{
	TEST_NAME(name, "tamper");
	struct shmring *p = shmring_producer(SHMRING_MPMC, name, ELEM, CAP, NULL);

	cr_assert_not_null(p);
	memcpy((unsigned char *)p->hdr + field_off, &value, sizeof(value));
	expect_eproto(name, what);
	shmring_close(p);
	shmring_unlink(name);
}

Test(inspect, tampered_headers_are_eproto)
{
	tamper(offsetof(struct shmring__hdr, magic), 42, "magic");
	tamper(offsetof(struct shmring__hdr, capacity), 1ull << 40,
	       "capacity beyond file");
	tamper(offsetof(struct shmring__hdr, elem_size), 200, "elem_size vs slot_size");
	tamper(offsetof(struct shmring__hdr, total_size), 1ull << 30, "total_size");
	tamper(offsetof(struct shmring__hdr, version),
	       (SHMRING_FORMAT_VERSION + 1) | (uint64_t)SHMRING_INIT_READY << 32,
	       "other version");
}

static void drop_to_nobody(void)
{
	cr_assert(!setgid(65534) && !setuid(65534));
}

static int stat_as_nobody(void *arg)
{
	SHMRING_INFO(in);

	drop_to_nobody();
	return shmring_stat(arg, &in) == -1 && errno == EACCES ? 0 : 1;
}

Test(inspect, a_ring_we_may_not_read_is_eacces)
{
	TEST_NAME(name, "perm");
	struct shmring *p;

	if (!is_root())
		cr_skip_test("needs root to switch to another user");
	p = shmring_producer(SHMRING_SPSC, name, ELEM, CAP, NULL); /* mode 0600 */
	cr_assert_not_null(p);
	cr_expect_eq(wait_child(fork_child(stat_as_nobody, (void *)name)), 0);
	shmring_close(p);
	shmring_unlink(name);
}
