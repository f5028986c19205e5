/* SPDX-License-Identifier: MIT */
/*
 * Real NATS servers and bridges for tests/test_bridge.c and bench/bridge.c:
 * nats-server processes (one, or a cluster, optionally inside a network
 * namespace) with their own config file, store directory and log in a
 * temporary directory, and `shmring bridge` processes logging to files there.
 * Every process started here is a child that dies with the test (PDEATHSIG).
 */
#ifndef SHMRING_TEST_NATSUTIL_H
#define SHMRING_TEST_NATSUTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Is PROG an executable in PATH? */
static inline bool nu_have(const char *prog)
{
	char buf[PATH_MAX];
	const char *path = getenv("PATH");

	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (!access(buf, X_OK))
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

static inline uint64_t nu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void nu_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* A TCP port on 127.0.0.1 that nobody listens on right now. Ports come from
 * a range of our own, rotated by pid, so parallel tests rarely collide; a
 * collision shows as a server that does not start, which nu_server_start
 * retries on other ports. */
static inline int nu_free_port(void)
{
	static int next;

	if (!next)
		next = 20000 + (int)(getpid() % 2000) * 10;
	for (int tries = 0; tries < 1000; tries++) {
		int port = next++, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
		    ok;
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		if (next > 60000)
			next = 20000;
		if (fd < 0)
			return -1;
		ok = !bind(fd, (struct sockaddr *)&a, sizeof(a));
		close(fd);
		if (ok)
			return port;
	}
	return -1;
}

/* mkdtemp under /tmp; removed by nu_rmtree. */
static inline void nu_tmpdir(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "/tmp/shmring-%s-XXXXXX", tag);
	if (!mkdtemp(buf))
		buf[0] = 0;
}

static inline void nu_rmtree(const char *dir)
{
	char cmd[PATH_MAX + 16];

	if (dir[0] && !strncmp(dir, "/tmp/shmring-", 13)) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", dir);
	}
}

/* Starts ARGV with stdout and stderr appended to LOG (NULL: /dev/null),
 * inside network namespace NETNS when not NULL. A child of this process that
 * is killed when this process dies. */
static inline pid_t nu_spawn(char *const argv[], const char *log, const char *netns)
{
	pid_t parent = getpid(), pid = fork();

	if (pid != 0)
		return pid;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(99);
	{
		int fd = open(log ? log : "/dev/null",
			      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if (nfd >= 0)
			dup2(nfd, STDIN_FILENO);
	}
	if (netns) {
		char *nargv[64] = { "ip", "netns", "exec", (char *)netns };
		int i = 0;

		while (argv[i] && i < 59) {
			nargv[4 + i] = argv[i];
			i++;
		}
		nargv[4 + i] = NULL;
		execvp("ip", nargv);
	} else {
		execvp(argv[0], argv);
	}
	dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Signals PID and reaps it; SIGKILL after TIMEOUT_MS. The exit status as
 * wait_child reports it (128 + signal when killed). */
static inline int nu_stop(pid_t pid, int sig, int timeout_ms)
{
	uint64_t end = nu_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int st;

	if (pid <= 0)
		return -1;
	kill(pid, sig);
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
		if (nu_now_ns() > end) {
			kill(pid, SIGKILL);
			end = UINT64_MAX;
		}
		nu_sleep_ms(5);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* True once FILE contains NEEDLE (checked every 20 ms for TIMEOUT_MS). */
static inline bool nu_wait_log(const char *file, const char *needle, int timeout_ms)
{
	uint64_t end = nu_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	static char buf[1 << 20];

	do {
		FILE *f = fopen(file, "r");

		if (f) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);

			fclose(f);
			buf[n] = 0;
			if (strstr(buf, needle))
				return true;
		}
		nu_sleep_ms(20);
	} while (nu_now_ns() < end);
	return false;
}

/* ---- nats-server --------------------------------------------------------- */

#define NU_MAX_NODES 3

struct nu_server {
	char name[16];
	char dir[512]; /* its store, config and log live here */
	char conf[640], log[640];
	const char *host;  /* address to listen on */
	const char *netns; /* namespace to run in, or NULL */
	const char *token; /* clients must present this token, or NULL */
	int port, cport;   /* client and cluster ports */
	pid_t pid;
	int starts;
};

/* Writes S's config: JetStream with a store in S->dir, and a cluster of
 * NODES[0..N) when N > 1. */
static inline bool nu_server_conf(struct nu_server *s, struct nu_server *nodes, int n)
{
	FILE *f = fopen(s->conf, "w");

	if (!f)
		return false;
	fprintf(f,
		"server_name: %s\nlisten: \"%s:%d\"\nmax_payload: 8MB\n"
		"jetstream { store_dir: \"%s/store\" }\n",
		s->name, s->host, s->port, s->dir);
	if (s->token)
		fprintf(f, "authorization { token: \"%s\" }\n", s->token);
	if (n > 1) {
		fprintf(f,
			"cluster {\n  name: shmringtest\n  listen: \"%s:%d\"\n  routes: [\n",
			s->host, s->cport);
		for (int i = 0; i < n; i++)
			if (&nodes[i] != s)
				fprintf(f, "    \"nats-route://%s:%d\"\n", nodes[i].host,
					nodes[i].cport);
		fprintf(f, "  ]\n}\n");
	}
	return fclose(f) == 0;
}

/* Starts (or restarts, with the same ports and store) S; true once it logs
 * that it is ready. */
static inline bool nu_server_run(struct nu_server *s)
{
	char *argv[] = { "nats-server", "-c", s->conf, NULL };
	char mark[64];
	FILE *f = fopen(s->log, "a");

	/* Each start's readiness line is told apart by a marker before it. */
	snprintf(mark, sizeof(mark), "=== start %d", ++s->starts);
	if (f) {
		fprintf(f, "%s\n", mark);
		fclose(f);
	}
	s->pid = nu_spawn(argv, s->log, s->netns);
	if (s->pid < 0)
		return false;
	{
		uint64_t end = nu_now_ns() + 20000000000ull;
		static char buf[1 << 20];

		while (nu_now_ns() < end) {
			FILE *l = fopen(s->log, "r");
			size_t len = 0;
			char *at;

			if (l) {
				len = fread(buf, 1, sizeof(buf) - 1, l);
				fclose(l);
			}
			buf[len] = 0;
			at = strstr(buf, mark);
			if (at && strstr(at, "Server is ready"))
				return true;
			if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
				s->pid = 0;
				return false;
			}
			nu_sleep_ms(20);
		}
	}
	return false;
}

/* N servers (a cluster when N > 1) in BASE/NAME dirs, on fresh ports. */
static inline bool nu_cluster_start(struct nu_server *nodes, int n, const char *base,
				    const char *host, const char *netns)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		bool ok = true;

		for (int i = 0; i < n; i++) {
			struct nu_server *s = &nodes[i];

			memset(s, 0, sizeof(*s));
			snprintf(s->name, sizeof(s->name), "n%d", i + 1);
			snprintf(s->dir, sizeof(s->dir), "%.400s/%.15s", base, s->name);
			mkdir(s->dir, 0755);
			snprintf(s->conf, sizeof(s->conf), "%.512s/nats.conf", s->dir);
			snprintf(s->log, sizeof(s->log), "%.512s/nats.log", s->dir);
			s->host = host;
			s->netns = netns;
			s->port = nu_free_port();
			s->cport = nu_free_port();
		}
		for (int i = 0; i < n; i++)
			ok = ok && nu_server_conf(&nodes[i], nodes, n);
		for (int i = 0; i < n && ok; i++)
			ok = nu_server_run(&nodes[i]);
		if (ok)
			return true;
		for (int i = 0; i < n; i++)
			if (nodes[i].pid > 0)
				nu_stop(nodes[i].pid, SIGKILL, 1000);
	}
	return false;
}

static inline void nu_server_stop(struct nu_server *s, int sig)
{
	if (s->pid > 0)
		nu_stop(s->pid, sig, 10000);
	s->pid = 0;
}

/* "nats://h:p,nats://h:p,..." of NODES[0..N) into BUF. */
static inline const char *nu_urls(char *buf, size_t len, const struct nu_server *nodes,
				  int n)
{
	size_t off = 0;

	buf[0] = 0;
	for (int i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%snats://%s:%d",
					i ? "," : "", nodes[i].host, nodes[i].port);
	return buf;
}

#endif /* SHMRING_TEST_NATSUTIL_H */
