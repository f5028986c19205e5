/* SPDX-License-Identifier: MIT */
/*
 * The client side shared by examples/epoll_server.c and uring_server.c:
 * client processes that each push COUNT requests into their own ring
 * "NAME-<i>", in bursts with pauses, then an empty request meaning "bye".
 */
#ifndef SHMRING_EXAMPLE_CLIENTS_H
#define SHMRING_EXAMPLE_CLIENTS_H

#include <shmring.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CLIENTS 16

struct request {
	unsigned int client;
	unsigned long seq; /* 0 = bye */
	char text[48];
};

static inline void ring_name(char *buf, size_t len, const char *base, int i)
{
	snprintf(buf, len, "%s-%d", base, i);
}

static inline int client_main(const char *base, int id, unsigned long count)
{
	char name[64];
	struct request req = { .client = (unsigned int)id };
	struct shmring *ring;

	ring_name(name, sizeof(name), base, id);
	ring = shmring_producer(SHMRING_SPSC, name, sizeof(req), 64, NULL);
	if (!ring) {
		fprintf(stderr, "client %d: %s\n", id, strerror(errno));
		return 1;
	}
	srand((unsigned int)getpid());
	for (unsigned long seq = 1; seq <= count; seq++) {
		req.seq = seq;
		snprintf(req.text, sizeof(req.text), "request %lu from client %d", seq,
			 id);
		shmring_push(ring, &req); /* sleeps while the server is behind */
		if (rand() % 1000 == 0)
			usleep((useconds_t)(rand() % 5000)); /* a quiet moment */
	}
	req.seq = 0;
	shmring_push(ring, &req);
	shmring_close(ring);
	return 0;
}

/* Starts N client processes; their pids go to PIDS. */
static inline int start_clients(const char *base, int n, unsigned long count, pid_t *pids)
{
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return -1;
		if (pids[i] == 0) {
			sigset_t all;

			/* The server blocks signals to read them from a signalfd,
			 * or handles them (libuv): the clients take the default
			 * action, so that reap_clients' SIGTERM ends them. */
			sigfillset(&all);
			sigprocmask(SIG_UNBLOCK, &all, NULL);
			signal(SIGINT, SIG_DFL);
			signal(SIGTERM, SIG_DFL);
			_exit(client_main(base, i, count));
		}
	}
	return 0;
}

/* Removes the names of rings 0..N-1 (open handles keep working). */
static inline void unlink_rings(const char *base, int n)
{
	char name[64];

	for (int i = 0; i < n; i++) {
		ring_name(name, sizeof(name), base, i);
		shmring_unlink(name);
	}
}

/* A server that cannot start: says why, and leaves no ring behind. */
static inline int setup_failed(const char *what, const char *base, int n)
{
	perror(what);
	unlink_rings(base, n);
	return 1;
}

static inline void reap_clients(int n, const pid_t *pids, const char *base)
{
	for (int i = 0; i < n; i++) {
		kill(pids[i], SIGTERM); /* on an early shutdown they may still run */
		waitpid(pids[i], NULL, 0);
	}
	unlink_rings(base, n);
}

#endif /* SHMRING_EXAMPLE_CLIENTS_H */
