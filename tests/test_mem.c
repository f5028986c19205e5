// SPDX-License-Identifier: MIT
/* Memory backends: Join's LocalMem/ShmMem feature table, in C. */
#include "testutil.h"

#include <limits.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

static size_t page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- get(): bounds ------------------------------------------------------ */

static void check_get_bounds(struct shmring_mem *mem)
{
	size_t size = shmring_mem_size(mem);
	char *base = shmring_mem_get(mem, 0);

	cr_assert_not_null(base);
	cr_expect_eq(shmring_mem_get(mem, 64), base + 64);
	cr_expect_eq(shmring_mem_get(mem, size - 1), base + size - 1);
	errno = 0;
	cr_expect_null(shmring_mem_get(mem, size));
	cr_expect_eq(errno, ERANGE);
	errno = 0;
	cr_expect_null(shmring_mem_get(mem, SIZE_MAX));
	cr_expect_eq(errno, ERANGE);
	/* The whole range is mapped read-write. */
	memset(base, 0xa5, size);
	cr_expect_eq(base[size - 1], (char)0xa5);
}

Test(mem_local, get_bounds_and_page_rounding)
{
	SHMRING_OPTS(o, .flags = SHMRING_F_NOHUGE);
	struct shmring_mem *mem = shmring_mem_local_opts(100, &o);

	cr_assert_not_null(mem, "mem_local: %s", strerror(errno));
	cr_expect_eq(shmring_mem_size(mem), page());
	cr_expect_not(shmring_mem_huge(mem));
	check_get_bounds(mem);
	shmring_mem_close(mem);

	mem = shmring_mem_local_opts(page() + 1, &o);
	cr_assert_not_null(mem);
	cr_expect_eq(shmring_mem_size(mem), 2 * page());
	shmring_mem_close(mem);
}

Test(mem_local, default_tries_huge_then_pages)
{
	struct shmring_mem *mem = shmring_mem_local(3 * page());
	size_t size;

	cr_assert_not_null(mem, "mem_local: %s", strerror(errno));
	size = shmring_mem_size(mem);
	/* Either huge (rounded to the huge page) or normal pages (3 pages). */
	if (shmring_mem_huge(mem))
		cr_expect_eq(size % (2u << 20), 0, "huge size %zu", size);
	else
		cr_expect_eq(size, 3 * page());
	check_get_bounds(mem);
	shmring_mem_close(mem);
}

Test(mem_local, bad_sizes_and_args)
{
	SHMRING_OPTS(bad, .flags = 1u << 30);
	struct shmring_opts tiny = { .sz = 1 };

	errno = 0;
	cr_expect_null(shmring_mem_local(0));
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_null(shmring_mem_local(SIZE_MAX));
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_null(shmring_mem_local(SIZE_MAX / 2));
	cr_expect_eq(errno, ENOMEM);
	errno = 0;
	cr_expect_null(shmring_mem_local_opts(4096, &bad));
	cr_expect_eq(errno, EINVAL, "unknown flag");
	errno = 0;
	cr_expect_null(shmring_mem_local_opts(4096, &tiny));
	cr_expect_eq(errno, EINVAL, "opts.sz too small");
	errno = 0;
	cr_expect_null(shmring_mem_get(NULL, 0));
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(shmring_mem_size(NULL), 0);
	cr_expect_not(shmring_mem_huge(NULL));
	cr_expect_eq(shmring_mem_mlock(NULL), -1);
	cr_expect_eq(shmring_mem_mbind(NULL, 0), -1);
	shmring_mem_close(NULL); /* no-op */
}

/* Newer callers may pass a bigger opts struct; zero tail bytes are fine. */
Test(mem_local, opts_grow_without_abi_break)
{
	struct {
		struct shmring_opts o;
		uint64_t future;
	} big = { .o = { .sz = sizeof(big), .flags = SHMRING_F_NOHUGE } };
	struct shmring_mem *mem = shmring_mem_local_opts(4096, &big.o);

	cr_assert_not_null(mem, "%s", strerror(errno));
	shmring_mem_close(mem);
	big.future = 1;
	errno = 0;
	cr_expect_null(shmring_mem_local_opts(4096, &big.o));
	cr_expect_eq(errno, EINVAL, "unknown non-zero option must be refused");
}

/* ---- cross-process access ---------------------------------------------- */

struct child_arg {
	const char *name;
	volatile unsigned char *p;
	size_t size;
};

static int child_write_local(void *a)
{
	struct child_arg *arg = a;

	/* The child starts with the parent's bytes (copy-on-write)... */
	if (arg->p[0] != 0x11)
		return 1;
	/* ...and its writes stay its own. */
	arg->p[0] = 0x22;
	return arg->p[0] == 0x22 ? 0 : 2;
}

Test(mem_local, not_shared_with_forked_child)
{
	SHMRING_OPTS(o, .flags = SHMRING_F_NOHUGE);
	struct shmring_mem *mem = shmring_mem_local_opts(4096, &o);
	struct child_arg arg;

	cr_assert_not_null(mem);
	arg.p = shmring_mem_get(mem, 0);
	arg.p[0] = 0x11;
	expect_child_ok(fork_child(child_write_local, &arg));
	cr_expect_eq(arg.p[0], 0x11, "the child's write leaked into the parent");
	shmring_mem_close(mem);
}

static int child_shm_rw(void *a)
{
	struct child_arg *arg = a;
	struct shmring_mem *mem = shmring_mem_shm(arg->name, arg->size);
	unsigned char *p;

	if (!mem)
		return 10;
	p = shmring_mem_get(mem, 0);
	for (size_t i = 0; i < arg->size; i++)
		if (p[i] != (unsigned char)(i * 7))
			return 11;
	for (size_t i = 0; i < arg->size; i++)
		p[i] = (unsigned char)(i * 13);
	shmring_mem_close(mem);
	return 0;
}

Test(mem_shm, shared_with_forked_child_that_opens_by_name)
{
	TEST_NAME(name, "fork");
	struct child_arg arg = { .name = name, .size = 3 * page() };
	struct shmring_mem *mem = shmring_mem_shm(name, arg.size);
	unsigned char *p;

	cr_assert_not_null(mem, "mem_shm: %s", strerror(errno));
	cr_expect_eq(shmring_mem_size(mem), arg.size);
	p = shmring_mem_get(mem, 0);
	for (size_t i = 0; i < arg.size; i++)
		p[i] = (unsigned char)(i * 7);
	expect_child_ok(fork_child(child_shm_rw, &arg));
	for (size_t i = 0; i < arg.size; i++)
		cr_assert_eq(p[i], (unsigned char)(i * 13), "byte %zu", i);
	shmring_mem_close(mem);
	cr_expect_eq(shmring_mem_unlink(name), 0);
}

Test(mem_shm, second_open_in_process_shares_and_outlives_close)
{
	TEST_NAME(name, "twice");
	struct shmring_mem *a = shmring_mem_shm(name, 100);
	struct shmring_mem *b = shmring_mem_shm(name, 100);
	char *pa, *pb;

	cr_assert(a && b, "mem_shm: %s", strerror(errno));
	pa = shmring_mem_get(a, 0);
	pb = shmring_mem_get(b, 0);
	cr_expect_neq(pa, pb, "two handles, two mappings");
	cr_expect_eq(pb[10], 0, "new segments are zero-filled");
	strcpy(pa, "hello");
	cr_expect_str_eq(pb, "hello");
	/* Each handle owns its mapping: closing one leaves the other working. */
	shmring_mem_close(a);
	strcpy(pb, "still here");
	shmring_mem_close(b);
	/* Closing never unlinks: a new open sees the old bytes. */
	a = shmring_mem_shm(name, 100);
	cr_assert_not_null(a);
	cr_expect_str_eq((char *)shmring_mem_get(a, 0), "still here");
	shmring_mem_close(a);
	cr_expect_eq(shmring_mem_unlink(name), 0);
	/* After unlink the name is fresh again. */
	a = shmring_mem_shm(name, 100);
	cr_assert_not_null(a);
	cr_expect_eq(*(char *)shmring_mem_get(a, 0), 0);
	shmring_mem_close(a);
	shmring_mem_unlink(name);
}

Test(mem_shm, name_with_or_without_slash_is_the_same_segment)
{
	TEST_NAME(name, "slash");
	char slashed[128];
	struct shmring_mem *a, *b;

	snprintf(slashed, sizeof(slashed), "/%s", name);
	a = shmring_mem_shm(name, 4096);
	b = shmring_mem_shm(slashed, 4096);
	cr_assert(a && b);
	*(int *)shmring_mem_get(a, 0) = 42;
	cr_expect_eq(*(int *)shmring_mem_get(b, 0), 42);
	shmring_mem_close(a);
	shmring_mem_close(b);
	cr_expect_eq(shmring_mem_unlink(slashed), 0);
	snprintf(slashed, sizeof(slashed), "/dev/shm/%s", name);
	cr_expect_eq(access(slashed, F_OK), -1, "%s still exists after unlink", slashed);
}

Test(mem_shm, reopen_with_other_size_is_einval)
{
	TEST_NAME(name, "size");
	struct shmring_mem *a = shmring_mem_shm(name, 2 * page());

	cr_assert_not_null(a);
	errno = 0;
	cr_expect_null(shmring_mem_shm(name, 5 * page()));
	cr_expect_eq(errno, EINVAL);
	/* Sizes compare after page rounding: 2 pages minus one byte is 2 pages. */
	struct shmring_mem *b = shmring_mem_shm(name, 2 * page() - 1);
	cr_expect_not_null(b);
	shmring_mem_close(b);
	shmring_mem_close(a);
	shmring_mem_unlink(name);
}

Test(mem_shm, bad_names_and_sizes)
{
	char longname[NAME_MAX + 3];
	TEST_NAME(name, "bad");
	static const char *const invalid[] = {
		"", "/", "a/b", "/a/b", "//x", ".", "/.."
	};

	errno = 0;
	cr_expect_null(shmring_mem_shm(NULL, 4096));
	cr_expect_eq(errno, EINVAL);
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		errno = 0;
		cr_expect_null(shmring_mem_shm(invalid[i], 4096), "name '%s'",
			       invalid[i]);
		cr_expect_eq(errno, EINVAL, "name '%s': %s", invalid[i], strerror(errno));
	}
	memset(longname, 'x', NAME_MAX + 1);
	longname[NAME_MAX + 1] = 0;
	errno = 0;
	cr_expect_null(shmring_mem_shm(longname, 4096));
	cr_expect_eq(errno, ENAMETOOLONG);
	errno = 0;
	cr_expect_eq(shmring_mem_unlink(longname), -1);
	cr_expect_eq(errno, ENAMETOOLONG);
	/* NAME_MAX itself is fine, with or without the slash. */
	longname[0] = '/';
	struct shmring_mem *m = shmring_mem_shm(longname, 4096);
	cr_expect_not_null(m, "NAME_MAX-long name: %s", strerror(errno));
	shmring_mem_close(m);
	cr_expect_eq(shmring_mem_unlink(longname), 0);

	errno = 0;
	cr_expect_null(shmring_mem_shm(name, 0));
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_null(shmring_mem_shm(name, SIZE_MAX));
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(shmring_mem_unlink(NULL), -1);
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(shmring_mem_unlink("a/b"), -1);
	cr_expect_eq(errno, EINVAL);
}

Test(mem_shm, unlink_missing_name_succeeds)
{
	TEST_NAME(name, "missing");

	cr_expect_eq(shmring_mem_unlink(name), 0);
	cr_expect_eq(shmring_mem_unlink(name), 0);
}

Test(mem_shm, mode_defaults_to_0600_and_follows_opts)
{
	TEST_NAME(a, "mode");
	TEST_NAME(b, "mode");
	SHMRING_OPTS(o, .mode = 0640);
	char path[160];
	struct stat st;
	struct shmring_mem *ma = shmring_mem_shm(a, 4096);
	struct shmring_mem *mb = shmring_mem_shm_opts(b, 4096, &o);

	cr_assert(ma && mb);
	snprintf(path, sizeof(path), "/dev/shm/%s", a);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0600);
	snprintf(path, sizeof(path), "/dev/shm/%s", b);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0640, "mode %o", st.st_mode & 07777);
	shmring_mem_close(ma);
	shmring_mem_close(mb);
	shmring_mem_unlink(a);
	shmring_mem_unlink(b);
}

/* Join loses some of 2000 racing opens to SIGBUS or a size mismatch. */
static int child_race_open(void *a)
{
	struct child_arg *arg = a;
	struct shmring_mem *mem = shmring_mem_shm(arg->name, arg->size);
	volatile char *p;

	if (!mem)
		return 20 + (errno & 0x3f);
	p = shmring_mem_get(mem, arg->size - 1);
	*p = 1; /* SIGBUS here if the segment were not sized yet */
	shmring_mem_close(mem);
	return 0;
}

Test(mem_shm, racing_creators_both_succeed, .timeout = 120)
{
	for (int round = 0; round < 300; round++) {
		TEST_NAME(name, "race");
		struct child_arg arg = { .name = name, .size = 64 * 1024 };
		pid_t a = fork_child(child_race_open, &arg);
		pid_t b = fork_child(child_race_open, &arg);

		cr_assert_eq(wait_child(a), 0, "round %d", round);
		cr_assert_eq(wait_child(b), 0, "round %d", round);
		shmring_mem_unlink(name);
	}
}

/* ---- NUMA --------------------------------------------------------------- */

Test(mem_numa, bind_existing_node_and_reject_missing)
{
	TEST_NAME(name, "numa");
	struct shmring_mem *local = shmring_mem_local(1 << 20);
	struct shmring_mem *shm = shmring_mem_shm(name, 1 << 20);

	cr_assert(local && shm);
#if CONFIG_NUMA
	cr_expect_eq(shmring_mem_mbind(local, 0), 0, "node 0: %s", strerror(errno));
	cr_expect_eq(shmring_mem_mbind(shm, 0), 0, "node 0: %s", strerror(errno));
	memset(shmring_mem_get(local, 0), 1, shmring_mem_size(local));
	errno = 0;
	cr_expect_eq(shmring_mem_mbind(local, 4095), -1);
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(shmring_mem_mbind(local, -1), -1);
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(shmring_mbind(NULL, 4096, 0), -1);
	cr_expect_eq(errno, EINVAL);
	/* Through opts, at creation. */
	SHMRING_OPTS(o, .flags = SHMRING_F_NUMA, .numa_node = 0);
	struct shmring_mem *bound = shmring_mem_local_opts(4096, &o);
	cr_expect_not_null(bound, "%s", strerror(errno));
	shmring_mem_close(bound);
	o.numa_node = 77;
	errno = 0;
	cr_expect_null(shmring_mem_local_opts(4096, &o));
	cr_expect_eq(errno, EINVAL);
#else
	errno = 0;
	cr_expect_eq(shmring_mem_mbind(local, 0), -1);
	cr_expect_eq(errno, ENOTSUP, "built without CONFIG_NUMA");
	errno = 0;
	cr_expect_eq(shmring_mem_mbind(shm, 0), -1);
	cr_expect_eq(errno, ENOTSUP);
#endif
	shmring_mem_close(local);
	shmring_mem_close(shm);
	shmring_mem_unlink(name);
}

/* ---- mlock -------------------------------------------------------------- */

Test(mem_mlock, lock_within_limits)
{
	TEST_NAME(name, "mlock");
	struct shmring_mem *local = shmring_mem_local(4096);
	struct shmring_mem *shm = shmring_mem_shm(name, 4096);

	cr_assert(local && shm);
	cr_expect_eq(shmring_mem_mlock(local), 0, "%s", strerror(errno));
	cr_expect_eq(shmring_mem_mlock(shm), 0, "%s", strerror(errno));
	SHMRING_OPTS(o, .flags = SHMRING_F_MLOCK);
	struct shmring_mem *locked = shmring_mem_local_opts(4096, &o);
	cr_expect_not_null(locked, "%s", strerror(errno));
	shmring_mem_close(locked);
	shmring_mem_close(local);
	shmring_mem_close(shm);
	shmring_mem_unlink(name);
}

static int child_mlock_over_limit(void *a)
{
	struct child_arg *arg = a;
	struct rlimit rl = { 0, 0 };
	struct shmring_mem *mem;
	unsigned char *p;

	mem = shmring_mem_shm(arg->name, arg->size);
	if (!mem)
		return 30;
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return 31;
	/* Root has CAP_IPC_LOCK, which ignores the limit: become nobody. */
	if (geteuid() == 0 && (setgid(65534) || setuid(65534)))
		return 32;
	errno = 0;
	if (shmring_mem_mlock(mem) != -1)
		return 33;
	if (errno != ENOMEM && errno != EPERM && errno != EAGAIN)
		return 34;
	/* The segment stays usable. */
	p = shmring_mem_get(mem, 0);
	for (size_t i = 0; i < arg->size; i++)
		p[i] = (unsigned char)i;
	for (size_t i = 0; i < arg->size; i++)
		if (p[i] != (unsigned char)i)
			return 35;
	SHMRING_OPTS(o, .flags = SHMRING_F_MLOCK | SHMRING_F_NOHUGE);
	errno = 0;
	if (shmring_mem_local_opts(1 << 20, &o) || !errno)
		return 36; /* asking for a lock that fails fails the open */
	shmring_mem_close(mem);
	return 0;
}

Test(mem_mlock, over_rlimit_fails_with_errno_and_memory_stays_usable)
{
	TEST_NAME(name, "mlockfail");
	struct child_arg arg = { .name = name, .size = 256 * 1024 };
	struct shmring_mem *mem = shmring_mem_shm(name, arg.size);

	cr_assert_not_null(mem);
	int rc = wait_child(fork_child(child_mlock_over_limit, &arg));

	cr_expect_eq(rc, 0, "child step %d failed", rc);
	shmring_mem_close(mem);
	shmring_mem_unlink(name);
}

/* ---- huge pages --------------------------------------------------------- */

static void local_huge_round(bool reserved)
{
	struct shmring_mem *mem = shmring_mem_local(1 << 20);

	cr_assert_not_null(mem, "%s", strerror(errno));
	if (reserved) {
		cr_expect(shmring_mem_huge(mem), "huge pages reserved but not used");
		cr_expect_eq(shmring_mem_size(mem), 2u << 20);
	} else {
		cr_expect_not(shmring_mem_huge(mem), "no huge pages, still huge?");
		cr_expect_eq(shmring_mem_size(mem), 1u << 20);
	}
	memset(shmring_mem_get(mem, 0), 0x5a, shmring_mem_size(mem));
	shmring_mem_close(mem);
}

static void shm_huge_on_hugetlbfs(void)
{
	char dir[] = "/tmp/shmring-hugetlbfs-XXXXXX";
	TEST_NAME(name, "huge");

	cr_assert_not_null(mkdtemp(dir));
	if (mount("none", dir, "hugetlbfs", 0, NULL)) {
		int e = errno;

		rmdir(dir);
		cr_assert_fail("mount hugetlbfs: %s", strerror(e));
	}
	SHMRING_OPTS(o, .flags = SHMRING_F_HUGE, .hugetlbfs = dir);
	struct shmring_mem *a = shmring_mem_shm_opts(name, 4096, &o);
	cr_expect_not_null(a, "huge shm: %s", strerror(errno));
	if (a) {
		cr_expect(shmring_mem_huge(a));
		cr_expect_eq(shmring_mem_size(a), 2u << 20);
		strcpy(shmring_mem_get(a, 0), "huge");
		/* An opener that does not ask for huge pages finds the same segment. */
		SHMRING_OPTS(plain, .hugetlbfs = dir);
		struct shmring_mem *b = shmring_mem_shm_opts(name, 4096, &plain);
		cr_expect_not_null(b, "%s", strerror(errno));
		if (b)
			cr_expect_str_eq((char *)shmring_mem_get(b, 0), "huge");
		shmring_mem_close(b);
		shmring_mem_close(a);
	}
	cr_expect_eq(shmring_mem_unlink(name), 0);
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_expect_eq(access(path, F_OK), -1, "unlink left %s", path);
	umount(dir);
	rmdir(dir);
}

/* One test owns the global reservation so parallel tests do not fight. */
Test(mem_huge, reserved_huge_pages_are_used_and_absence_falls_back, .timeout = 60)
{
	long saved = sysctl_read(NR_HUGEPAGES);

	if (!is_root())
		cr_skip_test("needs root to reserve huge pages (%s)", NR_HUGEPAGES);
	if (!CONFIG_HUGEPAGES) {
		local_huge_round(false);
		return;
	}
	cr_assert(sysctl_write(NR_HUGEPAGES, saved + 8));
	if (sysctl_read(NR_HUGEPAGES) < saved + 2) {
		sysctl_write(NR_HUGEPAGES, saved);
		cr_skip_test(
			"the kernel could not reserve huge pages (fragmented memory)");
	}
	local_huge_round(true);
	shm_huge_on_hugetlbfs();

	cr_assert(sysctl_write(NR_HUGEPAGES, 0));
	local_huge_round(false);
	cr_expect(sysctl_write(NR_HUGEPAGES, saved), "restore nr_hugepages");
	cr_expect_eq(sysctl_read(NR_HUGEPAGES), saved);
}
