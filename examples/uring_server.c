// SPDX-License-Identifier: MIT
/*
 * The epoll_server example on io_uring: one io_uring serves several rings
 * (one per client process), a timeout (a status line every second) and a
 * signalfd read (Ctrl-C or SIGTERM shuts down cleanly). Each ring is waited
 * for with shmring_prep_wait(): an io_uring FUTEX_WAIT on the ring's futex
 * word, no fd and no thread. On its completion the loop drains the ring with
 * try_pop until EAGAIN and prepares the next wait. Needs Linux >= 6.7.
 *
 *   uring_server [CLIENTS [REQUESTS_PER_CLIENT]]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "clients.h"

#include <shmring/uring.h>
#include <signal.h>
#include <sys/signalfd.h>

#define BASE	   "uring-server"
#define TAG_TIMER  MAX_CLIENTS
#define TAG_SIGNAL (MAX_CLIENTS + 1)

static struct io_uring uring;

static void wait_ring(struct shmring *ring, int i)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&uring);

	shmring_prep_wait(sqe, ring);
	io_uring_sqe_set_data64(sqe, (uint64_t)i);
}

int main(int argc, char **argv)
{
	int nclients = argc > 1 ? atoi(argv[1]) : 4;
	unsigned long count = argc > 2 ? strtoul(argv[2], NULL, 0) : 200000;
	struct shmring *rings[MAX_CLIENTS];
	unsigned long served[MAX_CLIENTS] = { 0 }, total = 0, last = 0;
	struct __kernel_timespec second = { .tv_sec = 1 };
	struct signalfd_siginfo si;
	pid_t pids[MAX_CLIENTS];
	sigset_t sigs;
	int sfd, open_clients;

	if (nclients < 1 || nclients > MAX_CLIENTS)
		return fprintf(stderr, "1 to %d clients\n", MAX_CLIENTS), 2;
	if (io_uring_queue_init(2 * MAX_CLIENTS + 4, &uring, 0))
		return fprintf(stderr, "io_uring unavailable\n"), 1;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	for (int i = 0; i < nclients; i++) {
		char name[64];

		ring_name(name, sizeof(name), BASE, i);
		rings[i] = shmring_consumer(SHMRING_SPSC, name, sizeof(struct request),
					    64, NULL);
		if (!rings[i])
			return setup_failed(name, BASE, i + 1);
		wait_ring(rings[i], i);
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(&uring);
	io_uring_prep_timeout(sqe, &second, 0, 0);
	io_uring_sqe_set_data64(sqe, TAG_TIMER);
	sqe = io_uring_get_sqe(&uring);
	io_uring_prep_read(sqe, sfd, &si, sizeof(si), 0);
	io_uring_sqe_set_data64(sqe, TAG_SIGNAL);
	if (start_clients(BASE, nclients, count, pids))
		return setup_failed("fork", BASE, nclients);
	printf("serving %d clients on io_uring\n", nclients);

	for (open_clients = nclients; open_clients > 0;) {
		struct io_uring_cqe *cqe;
		uint64_t tag;

		io_uring_submit(&uring);
		if (io_uring_wait_cqe(&uring, &cqe) < 0)
			continue; /* -EINTR */
		tag = io_uring_cqe_get_data64(cqe);
		io_uring_cqe_seen(&uring, cqe);
		if (tag == TAG_TIMER) {
			printf("%lu requests/s, %lu served, %d clients\n", total - last,
			       total, open_clients);
			last = total;
			sqe = io_uring_get_sqe(&uring);
			io_uring_prep_timeout(sqe, &second, 0, 0);
			io_uring_sqe_set_data64(sqe, TAG_TIMER);
		} else if (tag == TAG_SIGNAL) {
			printf("shutting down\n");
			break;
		} else if (rings[tag]) { /* any completion: the ring may have moved */
			struct request req;
			int i = (int)tag;

			while (shmring_try_pop(rings[i], &req) == 0) {
				if (req.seq == 0 || req.seq != served[i] + 1) {
					if (req.seq) {
						fprintf(stderr,
							"client %d: out of order\n", i);
						return 1;
					}
					shmring_close(rings[i]); /* bye */
					rings[i] = NULL;
					open_clients--;
					break;
				}
				served[i]++;
				total++;
			}
			if (rings[i])
				wait_ring(rings[i], i); /* EAGAIN: wait again */
		}
	}
	for (int i = 0; i < nclients; i++) {
		printf("client %d: %lu requests\n", i, served[i]);
		shmring_close(rings[i]);
	}
	io_uring_queue_exit(&uring);
	reap_clients(nclients, pids, BASE);
	return 0;
}
