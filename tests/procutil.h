/* SPDX-License-Identifier: MIT */
/*
 * Running the programs the tests look at from the outside: build/shmring,
 * bpftrace, the ring_workload helper. Output is captured through pipes and
 * read with deadlines, so a tool that hangs fails its test instead of the
 * whole run.
 */
#ifndef SHMRING_TEST_PROCUTIL_H
#define SHMRING_TEST_PROCUTIL_H

#include "testutil.h"

#include <limits.h>
#include <poll.h>

#define PROC_BUF (256 * 1024)

struct proc {
	pid_t pid;
	int out, err; /* read ends, -1 at EOF */
	char outbuf[PROC_BUF], errbuf[PROC_BUF];
	size_t outlen, errlen;
	int status; /* as wait_child reports, once proc_wait returned */
};

/* DIR of this test program's build: BUILD/tests/.. (the tool, the library). */
static inline const char *build_dir(void)
{
	static char dir[PATH_MAX];

	if (!dir[0]) {
		ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);

		cr_assert_gt(n, 0);
		dir[n] = 0;
		*strrchr(dir, '/') = 0; /* BUILD/tests */
		*strrchr(dir, '/') = 0; /* BUILD */
	}
	return dir;
}

/* BUILD/WHAT into BUF. */
static inline const char *build_path(char *buf, size_t len, const char *what)
{
	int n = snprintf(buf, len, "%s/%s", build_dir(), what);

	cr_assert(n > 0 && (size_t)n < len, "path too long");
	return buf;
}

#define BUILD_PATH(var, what)     \
	char var##_buf[PATH_MAX]; \
	const char *var = build_path(var##_buf, sizeof(var##_buf), what)

/* Starts ARGV[0] (a path, or a name looked up in PATH) with stdout and stderr
 * piped to P. PREP, if not NULL, runs in the child before exec. */
static inline void proc_start_prep(struct proc *p, char *const argv[], void (*prep)(void))
{
	int o[2], e[2];

	memset(p, 0, sizeof(*p));
	cr_assert(!pipe2(o, O_CLOEXEC) && !pipe2(e, O_CLOEXEC));
	p->pid = fork();
	cr_assert_geq(p->pid, 0);
	if (p->pid == 0) {
		dup2(o[1], STDOUT_FILENO);
		dup2(e[1], STDERR_FILENO);
		if (prep)
			prep();
		execvp(argv[0], argv);
		dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	p->out = o[0];
	p->err = e[0];
}

static inline void proc_start(struct proc *p, char *const argv[])
{
	proc_start_prep(p, argv, NULL);
}

/* Reads what is there for up to TIMEOUT_MS; false once both pipes are at EOF. */
static inline bool proc_pump(struct proc *p, int timeout_ms)
{
	struct pollfd fds[2] = { { p->out, POLLIN, 0 }, { p->err, POLLIN, 0 } };
	int *fd[2] = { &p->out, &p->err };
	char *buf[2] = { p->outbuf, p->errbuf };
	size_t *len[2] = { &p->outlen, &p->errlen };

	if (p->out < 0 && p->err < 0)
		return false;
	if (poll(fds, 2, timeout_ms) <= 0)
		return true;
	for (int i = 0; i < 2; i++) {
		ssize_t n;

		if (*fd[i] < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(*fd[i], buf[i] + *len[i], PROC_BUF - 1 - *len[i]);
		if (n <= 0) {
			close(*fd[i]);
			*fd[i] = -1;
			continue;
		}
		*len[i] += (size_t)n;
		buf[i][*len[i]] = 0;
	}
	return p->out >= 0 || p->err >= 0;
}

/* Waits up to TIMEOUT_MS for NEEDLE on stdout. False if the program ended or
 * the time ran out first. */
static inline bool proc_expect(struct proc *p, const char *needle, int timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (!strstr(p->outbuf, needle)) {
		uint64_t now = now_ns();

		if (now >= end || !proc_pump(p, (int)((end - now) / 1000000) + 1))
			return strstr(p->outbuf, needle) != NULL;
	}
	return true;
}

/* Sends SIG (0: none), reads everything and reaps; kills it after TIMEOUT_MS.
 * Returns the status as wait_child does. */
static inline int proc_finish(struct proc *p, int sig, int timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;

	if (sig)
		kill(p->pid, sig);
	while (proc_pump(p, 100)) {
		if (now_ns() > end) {
			kill(p->pid, SIGKILL);
			end = UINT64_MAX;
		}
	}
	p->status = wait_child(p->pid);
	return p->status;
}

/* Runs ARGV to completion (at most TIMEOUT_MS). */
static inline int proc_run(struct proc *p, char *const argv[], int timeout_ms)
{
	proc_start(p, argv);
	return proc_finish(p, 0, timeout_ms);
}

/* The value of "KEY=123" in LINE, or -1 if it is not there. */
static inline long long field(const char *line, const char *key)
{
	char pat[64];
	const char *s;

	snprintf(pat, sizeof(pat), " %s=", key);
	s = strstr(line, pat);
	return s ? strtoll(s + strlen(pat), NULL, 10) : -1;
}

/* The line of TEXT that starts with PREFIX, copied into BUF; NULL if none. */
static inline const char *line_starting(const char *text, const char *prefix, char *buf,
					size_t len)
{
	size_t n = strlen(prefix);

	for (const char *l = text; l && *l;
	     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!strncmp(l, prefix, n)) {
			size_t m = strcspn(l, "\n");

			snprintf(buf, len, "%.*s", (int)m, l);
			return buf;
		}
	}
	return NULL;
}

/* Runs /usr/bin/python3 with CODE on TEXT as stdin; returns its status. */
static inline int python(struct proc *p, const char *code, const char *text)
{
	char file[] = "/tmp/shmring-t-py-XXXXXX";
	int fd = mkstemp(file), rc;
	size_t len = strlen(text);
	char prog[4096];

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	snprintf(prog, sizeof(prog), "import sys\nsys.stdin = open(%s%s%s)\n%s", "'",
		 file, "'", code);
	{
		char *argv[] = { "/usr/bin/python3", "-c", prog, NULL };

		rc = proc_run(p, argv, 20000);
	}
	unlink(file);
	return rc;
}

#endif /* SHMRING_TEST_PROCUTIL_H */
