// SPDX-License-Identifier: MIT
/* Prints the messages of the SPSC ring NAME until an empty one arrives, then
 * removes the ring. It sleeps (no CPU) while the ring is empty.
 *   ./consumer demo-ring & ./producer demo-ring 10 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, sched_setaffinity with plain -std=c11 */
#endif
#include <shmring.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MSG_SIZE 128

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "demo-ring";
	struct shmring *ring = shmring_consumer(SHMRING_SPSC, name, MSG_SIZE, 64, NULL);
	char msg[MSG_SIZE];
	long n = 0;

	if (!ring) {
		fprintf(stderr, "consumer %s: %s\n", name, strerror(errno));
		return 1;
	}
	for (;;) {
		/* Give up after 10 s of silence rather than wait forever. */
		if (shmring_timed_pop(ring, msg, 10ull * 1000 * 1000 * 1000)) {
			fprintf(stderr, "consumer: %s\n", strerror(errno));
			break;
		}
		if (!msg[0])
			break;
		printf("consumer: %.*s\n", MSG_SIZE, msg);
		n++;
	}
	printf("consumer: received %ld messages\n", n);
	shmring_close(ring);
	shmring_unlink(name);
	return 0;
}
