// SPDX-License-Identifier: MIT
/* Endpoint ping-pong: side A sends a number, side B answers with the number
 * plus one. With no arguments it forks and plays both sides; with "a" or "b"
 * it plays one, so two shells can talk:
 *   ./pingpong b & ./pingpong a */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, sched_setaffinity with plain -std=c11 */
#endif
#include <shmring.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NAME   "pingpong-example"
#define ROUNDS 100000

struct ball {
	unsigned long long n;
	char note[56];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int play(enum shmring_side side)
{
	struct shmring_endpoint *ep = shmring_endpoint_open(
		SHMRING_SPSC, side, NAME, sizeof(struct ball), 16, NULL);
	struct ball b = { 0, "ping" };
	double t0;

	if (!ep) {
		fprintf(stderr, "side %c: %s\n", side == SHMRING_SIDE_A ? 'A' : 'B',
			strerror(errno));
		return 1;
	}
	t0 = now_s();
	for (int i = 0; i < ROUNDS; i++) {
		if (side == SHMRING_SIDE_A) {
			b.n = (unsigned long long)i * 2;
			if (shmring_send(ep, &b) || shmring_receive(ep, &b) ||
			    b.n != (unsigned long long)i * 2 + 1) {
				fprintf(stderr, "A: bad answer at round %d\n", i);
				return 1;
			}
		} else {
			if (shmring_receive(ep, &b))
				return 1;
			b.n++;
			strcpy(b.note, "pong");
			if (shmring_send(ep, &b))
				return 1;
		}
	}
	if (side == SHMRING_SIDE_A)
		printf("%d round trips, %.2f us each\n", ROUNDS,
		       (now_s() - t0) * 1e6 / ROUNDS);
	shmring_endpoint_close(ep);
	return 0;
}

int main(int argc, char **argv)
{
	pid_t pid;
	int st, rc;

	if (argc > 1)
		return play(argv[1][0] == 'b' ? SHMRING_SIDE_B : SHMRING_SIDE_A);
	pid = fork();
	if (pid == 0)
		_exit(play(SHMRING_SIDE_B));
	rc = play(SHMRING_SIDE_A);
	waitpid(pid, &st, 0);
	shmring_endpoint_unlink(NAME); /* removes NAME_AB and NAME_BA */
	return rc || !WIFEXITED(st) || WEXITSTATUS(st);
}
