// SPDX-License-Identifier: MIT
/* Pushes COUNT text messages into the SPSC ring NAME, then an empty one that
 * tells the consumer to stop. Run examples/consumer.c with the same NAME, in
 * any order, from any shell:
 *   ./consumer demo-ring & ./producer demo-ring 10 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, sched_setaffinity with plain -std=c11 */
#endif
#include <shmring.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MSG_SIZE 128

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "demo-ring";
	long count = argc > 2 ? atol(argv[2]) : 10;
	struct shmring *ring = shmring_producer(SHMRING_SPSC, name, MSG_SIZE, 64, NULL);
	char msg[MSG_SIZE];

	if (!ring) {
		fprintf(stderr, "producer %s: %s\n", name, strerror(errno));
		return 1;
	}
	for (long i = 0; i < count; i++) {
		snprintf(msg, sizeof(msg), "hello #%ld from pid %d", i, (int)getpid());
		if (shmring_push(ring, msg)) /* sleeps while the ring is full */
			perror("shmring_push");
	}
	memset(msg, 0, sizeof(msg)); /* the empty message ends the stream */
	shmring_push(ring, msg);
	printf("producer: sent %ld messages on %s\n", count, name);
	shmring_close(ring);
	return 0;
}
