// SPDX-License-Identifier: MIT
/*
 * One epoll loop serving several rings, one per client process, plus a
 * timerfd (a status line every second) and a signalfd (Ctrl-C or SIGTERM
 * shuts down cleanly). Each ring's shmring_fd() is readable when a request
 * is waiting; the loop drains it with try_pop until EAGAIN, which re-arms it.
 *
 *   epoll_server [CLIENTS [REQUESTS_PER_CLIENT]]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "clients.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#define BASE "epoll-server"

int main(int argc, char **argv)
{
	int nclients = argc > 1 ? atoi(argv[1]) : 4;
	unsigned long count = argc > 2 ? strtoul(argv[2], NULL, 0) : 200000;
	struct shmring *rings[MAX_CLIENTS];
	unsigned long served[MAX_CLIENTS] = { 0 }, total = 0, last = 0;
	pid_t pids[MAX_CLIENTS];
	struct itimerspec second = { { 1, 0 }, { 1, 0 } };
	struct epoll_event ev;
	sigset_t sigs;
	int ep, tfd, sfd, open_clients;

	if (nclients < 1 || nclients > MAX_CLIENTS)
		return fprintf(stderr, "1 to %d clients\n", MAX_CLIENTS), 2;
	ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < nclients; i++) {
		char name[64];

		ring_name(name, sizeof(name), BASE, i);
		rings[i] = shmring_consumer(SHMRING_SPSC, name, sizeof(struct request),
					    64, NULL);
		if (!rings[i] || shmring_fd(rings[i]) < 0)
			return setup_failed(name, BASE, i + 1);
		ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = (uint32_t)i };
		epoll_ctl(ep, EPOLL_CTL_ADD, shmring_fd(rings[i]), &ev);
	}
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	timerfd_settime(tfd, 0, &second, NULL);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = MAX_CLIENTS };
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL); /* before fork: clients inherit it */
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = MAX_CLIENTS + 1 };
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	if (start_clients(BASE, nclients, count, pids))
		return setup_failed("fork", BASE, nclients);
	printf("serving %d clients (%s backend)\n", nclients,
	       shmring_fd_backend(rings[0]) == SHMRING_FD_URING ? "io_uring" : "thread");

	for (open_clients = nclients; open_clients > 0;) {
		int n = epoll_wait(ep, &ev, 1, -1);

		if (n < 0 && errno == EINTR)
			continue; /* io_uring task work may interrupt epoll_wait */
		if (n < 0)
			return perror("epoll_wait"), 1;
		if (ev.data.u32 == MAX_CLIENTS) { /* timer */
			uint64_t ticks;

			if (read(tfd, &ticks, sizeof(ticks)) == sizeof(ticks))
				printf("%lu requests/s, %lu served, %d clients\n",
				       total - last, total, open_clients);
			last = total;
		} else if (ev.data.u32 == MAX_CLIENTS + 1) { /* signal */
			printf("shutting down\n");
			break;
		} else { /* a ring: drain it, EAGAIN re-arms its fd */
			int i = (int)ev.data.u32;
			struct request req;

			while (rings[i] && shmring_try_pop(rings[i], &req) == 0) {
				if (req.seq == 0) { /* bye */
					epoll_ctl(ep, EPOLL_CTL_DEL, shmring_fd(rings[i]),
						  NULL);
					shmring_close(rings[i]);
					rings[i] = NULL;
					open_clients--;
					break;
				}
				if (req.seq != served[i] + 1 ||
				    req.client != (unsigned int)i) {
					fprintf(stderr,
						"client %d: request %lu out of order\n",
						i, req.seq);
					return 1;
				}
				served[i]++;
				total++;
			}
		}
	}
	for (int i = 0; i < nclients; i++) {
		printf("client %d: %lu requests\n", i, served[i]);
		shmring_close(rings[i]);
	}
	reap_clients(nclients, pids, BASE);
	return 0;
}
