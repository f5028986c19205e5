/* SPDX-License-Identifier: MIT */
/* Helpers shared by the Criterion test programs. */
#ifndef SHMRING_TESTUTIL_H
#define SHMRING_TESTUTIL_H

#ifdef SHMRING_CRITERION_SHIM
#include "crshim.h"
#else
#include <criterion/criterion.h>
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "shmring.h"

/* A shm name no other test (or test run) uses: tag, pid and a counter. */
static inline const char *test_name(char *buf, size_t len, const char *tag)
{
	static atomic_uint counter;

	snprintf(buf, len, "shmring-t-%s-%d-%u", tag, (int)getpid(),
		 atomic_fetch_add(&counter, 1));
	return buf;
}

#define TEST_NAME(var, tag) \
	char var##_buf[96]; \
	const char *var = test_name(var##_buf, sizeof(var##_buf), tag)

/* Removes what this test process left in /dev/shm under names test_name
 * made: rings, and files named after them (a bridge's state). For a
 * suite's .fini, which runs after a failed assertion too. */
static inline void test_shm_cleanup(void)
{
	char mark[32];
	DIR *d = opendir("/dev/shm");
	struct dirent *de;

	snprintf(mark, sizeof(mark), "-%d-", (int)getpid());
	while (d && (de = readdir(d))) {
		/* shmring-t-TAG-PID-N, maybe inside a longer name */
		const char *t = strstr(de->d_name, "shmring-t-");
		char path[300];

		if (!t || strncmp(t + 9 + strcspn(t + 10, "-") + 1, mark, strlen(mark)))
			continue;
		snprintf(path, sizeof(path), "/dev/shm/%s", de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* fork() for tests: the child is killed if the test process dies (a failed
 * assertion ends it), so no child is left spinning or holding a ring. */
static inline pid_t test_fork(void)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent))
		_exit(99);
	return pid;
}

/* Runs FN(ARG) in a forked child whose exit status is FN's return value. */
static inline pid_t fork_child(int (*fn)(void *), void *arg)
{
	pid_t pid = test_fork();

	if (pid == 0)
		_exit(fn(arg));
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	return pid;
}

/* Waits for PID and returns its exit status, or 128 + signal if it was killed. */
static inline int wait_child(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define expect_child_ok(pid) \
	cr_expect_eq(wait_child(pid), 0, "child %d failed", (int)(pid))

static inline bool is_root(void)
{
	return geteuid() == 0;
}

/* Reads or writes a small integer file under /proc/sys. */
static inline long sysctl_read(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "r");

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static inline bool sysctl_write(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	bool ok;

	if (!f)
		return false;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok;
}

/* Writes LEN bytes of DATA as /dev/shm/NAME: a segment made by hand. */
static inline void write_shm_file(const char *name, const void *data, size_t len)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

#endif /* SHMRING_TESTUTIL_H */
