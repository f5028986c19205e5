// SPDX-License-Identifier: MIT
/*
 * Process lifecycles and hostile users (issue 9): roles that follow
 * processes through fork, exec and pid reuse; segments made whole or not at
 * all; segments of other users; headers that were wiped under live handles.
 * Each test is the regression test of one defect of the issue.
 */
#include "procutil.h"
#include "ring.h"

#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define ELEM 16
#define CAP  8

static bool shm_exists(const char *name)
{
	char path[160];

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	return access(path, F_OK) == 0;
}

static off_t shm_size(const char *name)
{
	char path[160];
	struct stat st;

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	return stat(path, &st) ? -1 : st.st_size;
}

/* ---- defect 3: a role taken twice, or held by nobody alive --------------- */

struct inherit {
	struct shmring_mem *mem;
	const char *name;
};

static int second_consumer_on_inherited_mem(void *a)
{
	struct inherit *in = a;

	errno = 0;
	if (shmring_attach(in->mem, 0, SHMRING_SPSC, SHMRING_CONSUMER, ELEM, CAP, NULL))
		return 1; /* two consumers */
	if (errno != EBUSY)
		return 2;
	errno = 0;
	if (shmring_consumer(SHMRING_SPSC, in->name, ELEM, CAP, NULL))
		return 3;
	return errno == EBUSY ? 0 : 4;
}

Test(roles, a_forked_child_cannot_take_its_parents_exclusive_role)
{
	TEST_NAME(name, "inhmem");
	struct inherit in = { .name = name };
	struct shmring *c;

	in.mem = shmring_mem_shm(name, shmring_memsize(SHMRING_SPSC, ELEM, CAP));
	cr_assert_not_null(in.mem);
	c = shmring_attach(in.mem, 0, SHMRING_SPSC, SHMRING_CONSUMER, ELEM, CAP, NULL);
	cr_assert_not_null(c, "%s", strerror(errno));
	cr_expect_eq(wait_child(fork_child(second_consumer_on_inherited_mem, &in)), 0,
		     "the child got the SPSC consumer role its parent holds");
	shmring_close(c);
	shmring_mem_close(in.mem);
	shmring_unlink(name);
}

/* Opens the consumer role, forks a child that lives on (without exec) and
 * dies. The child shares every open file and mapping of its parent. */
static int holder_with_long_lived_child(void *a)
{
	struct shmring *r = shmring_consumer(SHMRING_SPSC, a, ELEM, CAP, NULL);
	int ran[2];
	char c;
	pid_t kid;

	if (!r || pipe(ran))
		return 1;
	kid = fork();
	if (kid == 0) {
		/* fork() returned here: the fork handler has dropped the
		 * child's references to the parent's locks. Until the child
		 * first runs they are still the child's too (roles.c). */
		if (write(ran[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	if (kid < 0 || read(ran[0], &c, 1) != 1)
		return 3;
	/* Exit code: the grandchild's pid, for the test to kill (low byte
	 * only: report it through a file instead). */
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/shmring-t-kid-%d", (int)getpid());
	f = fopen(path, "w");
	if (!f)
		return 2;
	fprintf(f, "%d\n", (int)kid);
	fclose(f);
	return 0;
}

Test(roles, a_dead_holder_frees_its_role_although_its_child_lives_on)
{
	TEST_NAME(name, "forkdie");
	pid_t holder = fork_child(holder_with_long_lived_child, (void *)name);
	struct shmring *c;
	char path[64];
	int kid = 0;
	FILE *f;

	cr_assert_eq(wait_child(holder), 0);
	snprintf(path, sizeof(path), "/tmp/shmring-t-kid-%d", (int)holder);
	f = fopen(path, "r");
	cr_assert(f && fscanf(f, "%d", &kid) == 1 && kid > 0);
	fclose(f);
	unlink(path);
	cr_expect_eq(kill(kid, 0), 0, "the child lives");
	c = shmring_consumer(SHMRING_SPSC, name, ELEM, CAP, NULL);
	cr_expect_not_null(c, "the dead holder's role is still held: %s",
			   strerror(errno));
	kill(kid, SIGKILL);
	shmring_close(c);
	shmring_unlink(name);
}

static int attach_and_report(void *a)
{
	struct inherit *in = a;
	struct shmring *r = shmring_attach(in->mem, 0, SHMRING_MPMC, SHMRING_PRODUCER,
					   ELEM, CAP, NULL);

	return r ? 0 : 10 + (errno & 0x3f);
}

Test(roles, initialisers_sharing_an_open_file_exclude_each_other, .timeout = 30)
{
	TEST_NAME(name, "initrace");
	struct inherit in = { .name = name };
	struct shmring__hdr *h;
	uint64_t t0;
	pid_t kid;
	int st;

	in.mem = shmring_mem_shm(name, shmring_memsize(SHMRING_MPMC, ELEM, CAP));
	cr_assert_not_null(in.mem);
	h = shmring_mem_get(in.mem, 0);
	/* We are an initialiser half-way through, holding the segment's
	 * flock through the open file the child inherits. */
	cr_assert_eq(flock(in.mem->fd, LOCK_EX), 0);
	atomic_store(&h->init_state, SHMRING_INIT_BUSY);
	t0 = now_ns();
	kid = fork_child(attach_and_report, &in);
	usleep(300 * 1000);
	cr_expect_eq(waitpid(kid, &st, WNOHANG), 0,
		     "the child initialised the ring while another initialiser held it");
	flock(in.mem->fd, LOCK_UN);
	cr_expect_eq(wait_child(kid), 0);
	cr_expect_geq(now_ns() - t0, 300 * 1000000ull);
	cr_expect_eq(atomic_load(&h->init_state), SHMRING_INIT_READY);
	shmring_mem_close(in.mem);
	shmring_unlink(name);
}

/* ---- defect 4: EBUSY forever after exec or pid reuse --------------------- */

static int reexec_holder(void *a)
{
	BUILD_PATH(helper, "tests/ring_helper");
	char policy[8], elem[16], cap[16];

	snprintf(policy, sizeof(policy), "%d", SHMRING_SPSC);
	snprintf(elem, sizeof(elem), "%d", ELEM);
	snprintf(cap, sizeof(cap), "%d", CAP);
	execl(helper, helper, "pop", policy, (const char *)a, elem, cap, "reexec",
	      (char *)NULL);
	return 99;
}

Test(roles, a_process_that_execs_itself_gets_its_role_again)
{
	TEST_NAME(name, "reexec");

	cr_expect_eq(wait_child(fork_child(reexec_holder, (void *)name)), 0,
		     "the re-exec'd program could not reopen its role");
	shmring_unlink(name);
}

/* In a new pid namespace, the child is pid 1: every such process has the
 * same pid, like a service restarted in a fresh container. */
static int open_as_pid_1(void *a)
{
	pid_t kid;

	if (unshare(CLONE_NEWPID))
		return errno == EPERM || errno == EINVAL ? 77 : 1;
	kid = fork();
	if (kid == 0) {
		struct shmring *r;

		if (getpid() != 1)
			_exit(2);
		r = shmring_consumer(SHMRING_SPSC, a, ELEM, CAP, NULL);
		_exit(r ? 0 : 10 + (errno & 0x3f));
	}
	return kid < 0 ? 3 : wait_child(kid);
}

Test(roles, pid_1_of_a_new_namespace_gets_the_role_of_a_dead_pid_1)
{
	TEST_NAME(name, "pid1");
	int rc = wait_child(fork_child(open_as_pid_1, (void *)name));

	if (rc == 77)
		cr_skip_test("no permission to make a pid namespace");
	cr_expect_eq(rc, 0, "first pid 1");
	rc = wait_child(fork_child(open_as_pid_1, (void *)name));
	cr_expect_eq(rc, 0, "second pid 1: %d (10 + EBUSY is 26)", rc);
	shmring_unlink(name);
}

/* ---- defect 10: an inherited handle in a forked child --------------------- */

static int use_inherited(void *a)
{
	struct shmring *c = a;
	unsigned char m[ELEM];

	/* The parent's element is there and its fd readable: an inherited
	 * handle must neither take the one nor drain the other. */
	errno = 0;
	if (shmring_try_pop(c, m) != -1 || errno != EBADF)
		return 1;
	errno = 0;
	if (shmring_try_pop(c, m) != -1 || errno != EBADF)
		return 1;
	errno = 0;
	if (shmring_pop_burst(c, m, 1) != -1 || errno != EBADF)
		return 2;
	errno = 0;
	if (shmring_fd(c) != -1 || errno != EBADF)
		return 3;
	if (shmring_wait(c, 0) != -1 || errno != EBADF)
		return 4;
	shmring_close(c); /* unmaps only */
	return 0;
}

static void inherited_handle_fails(int backend)
{
	TEST_NAME(name, "inhfd");
	SHMRING_OPTS(o, .fd_backend = backend);
	struct shmring *p = shmring_producer(SHMRING_SPSC, name, ELEM, CAP, NULL);
	struct shmring *c = shmring_consumer(SHMRING_SPSC, name, ELEM, CAP, &o);
	unsigned char m[ELEM] = { 1 };
	struct pollfd pfd;
	int fd;

	cr_assert(p && c);
	fd = shmring_fd(c);
	if (fd < 0 && errno == ENOTSUP) {
		shmring_unlink(name);
		cr_skip_test("backend %d missing", backend);
	}
	cr_assert_geq(fd, 0);
	cr_assert_eq(shmring_try_push(p, m), 0);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	cr_assert_eq(poll(&pfd, 1, 2000), 1);
	cr_expect_eq(wait_child(fork_child(use_inherited, c)), 0,
		     "the child used its parent's handle");
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	cr_expect_eq(poll(&pfd, 1, 0), 1, "the child drained the parent's fd");
	cr_expect_eq(shmring_try_pop(c, m), 0, "the child took the parent's element");
	/* The parent's fd still works: the child neither armed nor drained it. */
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(shmring_try_pop(c, m), -1);
		cr_assert_eq(errno, EAGAIN);
		cr_assert_eq(shmring_try_push(p, m), 0);
		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		cr_assert_eq(poll(&pfd, 1, 2000), 1, "round %d: no wakeup", i);
		cr_assert_eq(shmring_try_pop(c, m), 0);
	}
	shmring_close(c);
	shmring_close(p);
	shmring_unlink(name);
}

Test(roles, an_inherited_handle_fails_with_ebadf_uring)
{
	inherited_handle_fails(SHMRING_FD_URING);
}

Test(roles, an_inherited_handle_fails_with_ebadf_thread)
{
	inherited_handle_fails(SHMRING_FD_THREAD);
}

/* ---- defect 11: a segment truncated to 0 under live handles -------------- */

static int hold_producer(void *a)
{
	struct shmring *p = shmring_producer(SHMRING_MPSC, a, ELEM, CAP, NULL);
	unsigned char m[ELEM] = { 0 };

	if (!p || shmring_try_push(p, m))
		return 1;
	for (;;)
		pause();
}

Test(create, a_segment_truncated_under_live_handles_is_left_alone)
{
	TEST_NAME(name, "trunc");
	pid_t holder = fork_child(hold_producer, (void *)name);
	struct shmring_info info = { .sz = sizeof(info) };
	char path[160];

	for (int i = 0; i < 2000; i++) {
		if (shmring_stat(name, &info) == 0 && info.pending == 1)
			break;
		usleep(1000);
	}
	cr_assert_eq(info.pending, 1);
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	cr_assert_eq(truncate(path, 0), 0);
	errno = 0;
	cr_expect_null(shmring_consumer(SHMRING_MPSC, name, ELEM, CAP, NULL));
	cr_expect_eq(errno, EPROTO, "%s", strerror(errno));
	cr_expect_eq(shm_size(name), 0, "an open re-sized a segment in use");
	kill(holder, SIGKILL);
	wait_child(holder);
	shmring_unlink(name);
}

/* ---- defect 7: a failed create leaves nothing ------------------------------- */

static int create_with_mlock_as_nobody(void *a)
{
	struct rlimit rl = { 0, 0 };
	SHMRING_OPTS(o, .flags = SHMRING_F_MLOCK);

	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return 1;
	if (geteuid() == 0 && (setgid(65534) || setuid(65534)))
		return 2;
	errno = 0;
	if (shmring_producer(SHMRING_SPSC, a, 4096, 64, &o))
		return 3;
	if (errno != EPERM && errno != ENOMEM && errno != EAGAIN)
		return 4;
	return 0;
}

Test(create, a_failed_create_leaves_nothing_behind)
{
	TEST_NAME(name, "failcreate");
	struct shmring *p;

	cr_assert_eq(wait_child(fork_child(create_with_mlock_as_nobody, (void *)name)),
		     0);
	cr_expect(!shm_exists(name), "the failed create left /dev/shm/%s", name);
	/* Other parameters (a larger ring), no mlock: a fresh ring, not an
	 * EINVAL about a leftover segment of the wrong size. */
	p = shmring_producer(SHMRING_MPMC, name, 8192, 64, NULL);
	cr_expect_not_null(p, "%s", strerror(errno));
	shmring_close(p);
	shmring_unlink(name);
}

Test(create, a_name_appears_only_with_a_whole_ring)
{
	/* Openers racing a creator see either no name or a READY ring. */
	for (int round = 0; round < 200; round++) {
		TEST_NAME(name, "whole");
		pid_t kid = test_fork();

		if (kid == 0) {
			struct shmring *p =
				shmring_producer(SHMRING_MPMC, name, 64, 512, NULL);

			_exit(p ? 0 : 1);
		}
		for (;;) {
			struct shmring_info info = { .sz = sizeof(info) };
			int rc = shmring_stat(name, &info);

			if (rc == 0)
				break;
			cr_assert_eq(errno, ENOENT, "round %d: %s", round,
				     strerror(errno));
			int st;

			if (waitpid(kid, &st, WNOHANG) == kid) {
				cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
				kid = 0;
				cr_assert_eq(shmring_stat(name, &info), 0);
				break;
			}
		}
		if (kid)
			cr_assert_eq(wait_child(kid), 0);
		shmring_unlink(name);
	}
}

/* ---- defect 8: a local header stuck in BUSY -------------------------------- */

Test(create, a_local_header_stuck_busy_is_refused_within_milliseconds)
{
	struct shmring_mem *mem =
		shmring_mem_local(shmring_memsize(SHMRING_MPMC, ELEM, CAP));
	struct shmring *r =
		shmring_attach(mem, 0, SHMRING_MPMC, SHMRING_PRODUCER, ELEM, CAP, NULL);
	struct shmring__hdr *h = shmring_mem_get(mem, 0);
	uint64_t t0;

	cr_assert(mem && r);
	shmring_close(r);
	/* A whole header that never became READY: a copy forked mid-init. */
	atomic_store(&h->init_state, SHMRING_INIT_BUSY);
	t0 = now_ns();
	errno = 0;
	cr_expect_null(
		shmring_attach(mem, 0, SHMRING_MPMC, SHMRING_PRODUCER, ELEM, CAP, NULL),
		"a header that is not READY was accepted");
	cr_expect_eq(errno, EPROTO);
	cr_expect_lt(now_ns() - t0, 100 * 1000000ull, "attach took %llu ms",
		     (unsigned long long)(now_ns() - t0) / 1000000);
	/* Garbage in init_state: refused at once. */
	atomic_store(&h->init_state, 77);
	errno = 0;
	cr_expect_null(
		shmring_attach(mem, 0, SHMRING_MPMC, SHMRING_PRODUCER, ELEM, CAP, NULL));
	cr_expect_eq(errno, EPROTO);
	shmring_mem_close(mem);
}

/* ---- defect 6: segments of other users --------------------------------------- */

static void squat(const char *name, uid_t uid, mode_t mode)
{
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0, "%s", strerror(errno));
	cr_assert_eq(fchown(fd, uid, uid), 0);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

Test(owner, a_segment_another_user_made_first_is_eacces)
{
	TEST_NAME(name, "squat");
	SHMRING_OPTS(trust, .trusted_uid = 65534, .mode = 0666);
	struct shmring *p;

	if (!is_root())
		cr_skip_test("needs root to make a file of another user");
	squat(name, 65534, 0666);
	errno = 0;
	cr_expect_null(shmring_producer(SHMRING_MPSC, name, ELEM, CAP, NULL));
	cr_expect_eq(errno, EACCES, "%s", strerror(errno));
	errno = 0;
	cr_expect_null(shmring_mem_shm(name, 4096));
	cr_expect_eq(errno, EACCES);
	cr_expect_eq(shm_size(name), 0, "the squatted file was sized");
	/* A deliberate cross-user set-up names the owner it trusts. */
	p = shmring_producer(SHMRING_MPSC, name, ELEM, CAP, &trust);
	cr_expect_not_null(p, "trusted owner: %s", strerror(errno));
	shmring_close(p);
	shmring_unlink(name);
}

Test(owner, a_segment_others_may_write_is_eacces_unless_the_mode_allows_it)
{
	TEST_NAME(name, "wide");
	SHMRING_OPTS(wide, .mode = 0666);
	SHMRING_OPTS(group, .mode = 0660);
	struct shmring *p;

	squat(name, geteuid(), 0666);
	errno = 0;
	cr_expect_null(shmring_producer(SHMRING_SPSC, name, ELEM, CAP, NULL));
	cr_expect_eq(errno, EACCES);
	errno = 0;
	cr_expect_null(shmring_producer(SHMRING_SPSC, name, ELEM, CAP, &group));
	cr_expect_eq(errno, EACCES, "others may write, mode 0660 excludes them");
	p = shmring_producer(SHMRING_SPSC, name, ELEM, CAP, &wide);
	cr_expect_not_null(p, "%s", strerror(errno));
	shmring_close(p);
	shmring_unlink(name);
}

static int open_root_ring_as_nobody(void *a)
{
	struct shmring *c;

	if (setgid(65534) || setuid(65534))
		return 1;
	/* A segment of root's is trusted; this one is 0666. */
	SHMRING_OPTS(o, .mode = 0666);
	c = shmring_consumer(SHMRING_MPSC, a, ELEM, CAP, &o);
	return c ? 0 : 10 + (errno & 0x3f);
}

Test(owner, a_segment_root_made_is_trusted)
{
	TEST_NAME(name, "rootmade");
	SHMRING_OPTS(o, .mode = 0666);
	struct shmring *p;

	if (!is_root())
		cr_skip_test("needs root");
	p = shmring_producer(SHMRING_MPSC, name, ELEM, CAP, &o);
	cr_assert_not_null(p);
	cr_expect_eq(wait_child(fork_child(open_root_ring_as_nobody, (void *)name)), 0);
	shmring_close(p);
	shmring_unlink(name);
}

Test(owner, a_symlink_is_refused_with_eloop)
{
	TEST_NAME(name, "link");
	char path[160];

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	cr_assert_eq(symlink("/etc/passwd", path), 0);
	errno = 0;
	cr_expect_null(shmring_producer(SHMRING_SPSC, name, ELEM, CAP, NULL));
	cr_expect_eq(errno, ELOOP, "%s", strerror(errno));
	unlink(path);
}
