// SPDX-License-Identifier: MIT
/*
 * The epoll_server example on libuv: one uv_poll_t per ring, on the ring's
 * pollable fd (shmring_fd), a uv_timer_t for a status line every second and
 * uv_signal_t handles for a clean shutdown on Ctrl-C or SIGTERM. libuv polls
 * the fd with epoll; when it is readable the callback drains the ring with
 * try_pop until EAGAIN, which re-arms the fd (the non-blocking socket
 * convention). Built when libuv is installed (Debian: libuv1-dev).
 *
 *   libuv [CLIENTS [REQUESTS_PER_CLIENT]]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "clients.h"

#include <uv.h>

/* Ring names: "libuv-<pid>-<client>", so that several servers can run. */
static char base[32];

struct client {
	struct shmring *ring;
	uv_poll_t poll;
	unsigned long served;
	int id;
	bool done; /* said bye: no longer polled */
};

static struct client clients[MAX_CLIENTS];
static int open_clients, failed;
static unsigned long total, last;
static uv_timer_t timer;
static uv_signal_t sigint, sigterm;

static void shutdown_loop(void)
{
	uv_timer_stop(&timer);
	uv_signal_stop(&sigint);
	uv_signal_stop(&sigterm);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].ring)
			uv_poll_stop(&clients[i].poll);
}

/* Client C said bye: stop polling its ring. The ring (and with it the fd)
 * is closed only after libuv closed the poll handle, at the end. */
static void client_done(struct client *c)
{
	uv_poll_stop(&c->poll);
	c->done = true;
	if (--open_clients == 0)
		shutdown_loop();
}

static void on_readable(uv_poll_t *handle, int status, int events)
{
	struct client *c = handle->data;
	struct request req;

	(void)events;
	if (status < 0) {
		fprintf(stderr, "client %d: %s\n", c->id, uv_strerror(status));
		failed = 1;
		shutdown_loop();
		return;
	}
	/* Drain until EAGAIN: that is what re-arms the fd. */
	while (shmring_try_pop(c->ring, &req) == 0) {
		if (req.seq == 0) { /* bye */
			client_done(c);
			return;
		}
		if (req.seq != c->served + 1 || req.client != (unsigned int)c->id) {
			fprintf(stderr, "client %d: request %lu out of order\n", c->id,
				req.seq);
			failed = 1;
			shutdown_loop();
			return;
		}
		c->served++;
		total++;
	}
	if (errno != EAGAIN) {
		perror("shmring_try_pop");
		failed = 1;
		shutdown_loop();
	}
}

static void on_timer(uv_timer_t *handle)
{
	(void)handle;
	printf("%lu requests/s, %lu served, %d clients\n", total - last, total,
	       open_clients);
	fflush(stdout);
	last = total;
}

static void on_signal(uv_signal_t *handle, int signum)
{
	(void)handle, (void)signum;
	printf("shutting down\n");
	fflush(stdout);
	shutdown_loop();
}

int main(int argc, char **argv)
{
	int nclients = argc > 1 ? atoi(argv[1]) : 4;
	unsigned long count = argc > 2 ? strtoul(argv[2], NULL, 0) : 200000;
	uv_loop_t *loop = uv_default_loop();
	pid_t pids[MAX_CLIENTS];

	if (nclients < 1 || nclients > MAX_CLIENTS)
		return fprintf(stderr, "1 to %d clients\n", MAX_CLIENTS), 2;
	snprintf(base, sizeof(base), "libuv-%d", (int)getpid());
	for (int i = 0; i < nclients; i++) {
		struct client *c = &clients[i];
		char name[64];
		int fd, rc;

		ring_name(name, sizeof(name), base, i);
		c->id = i;
		c->ring = shmring_consumer(SHMRING_SPSC, name, sizeof(struct request), 64,
					   NULL);
		fd = c->ring ? shmring_fd(c->ring) : -1;
		if (fd < 0)
			return setup_failed(name, base, i + 1);
		rc = uv_poll_init(loop, &c->poll, fd);
		if (rc)
			return fprintf(stderr, "uv_poll_init: %s\n", uv_strerror(rc)), 1;
		c->poll.data = c;
		uv_poll_start(&c->poll, UV_READABLE, on_readable);
	}
	open_clients = nclients;
	/* Before libuv installs its signal handlers, which a child would
	 * inherit: the clients must die of reap_clients' SIGTERM. */
	if (start_clients(base, nclients, count, pids))
		return setup_failed("fork", base, nclients);
	uv_timer_init(loop, &timer);
	uv_timer_start(&timer, on_timer, 1000, 1000);
	uv_signal_init(loop, &sigint);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_signal_init(loop, &sigterm);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	printf("serving %d clients on libuv %s (%s backend)\n", nclients,
	       uv_version_string(),
	       shmring_fd_backend(clients[0].ring) == SHMRING_FD_URING ? "io_uring" :
									 "thread");
	fflush(stdout);

	uv_run(loop, UV_RUN_DEFAULT); /* until no handle is active */

	for (int i = 0; i < nclients; i++) {
		printf("client %d: %lu requests\n", i, clients[i].served);
		if (clients[i].served != count || !clients[i].done)
			failed = 1;
		/* Before its fd goes: libuv must not poll a closed fd. */
		uv_close((uv_handle_t *)&clients[i].poll, NULL);
	}
	uv_close((uv_handle_t *)&timer, NULL);
	uv_close((uv_handle_t *)&sigint, NULL);
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_run(loop, UV_RUN_DEFAULT); /* runs the close callbacks */
	for (int i = 0; i < nclients; i++)
		shmring_close(clients[i].ring);
	if (uv_loop_close(loop))
		failed = 1; /* a handle left open */
	reap_clients(nclients, pids, base);
	return failed;
}
