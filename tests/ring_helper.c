// SPDX-License-Identifier: MIT
/* A separate program the tests exec, so that the two sides of a ring are
 * unrelated processes that share only the ring's name:
 *   ring_helper push|pop POLICY NAME ELEM CAP COUNT [DELAY_US]
 * push: COUNT self-checking messages (producer 7) after DELAY_US.
 * pop:  COUNT messages after DELAY_US, each checked. Exit 0 on success.
 * With COUNT 0 it only opens the role: exit 0, or 3 with the errno printed
 * (EBUSY: the role is held). Exit 6: COUNT "reexec": open the role, then
 * exec this program to open it again (0 when the new image gets it). */
#include <shmring.h>

#include "msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned char m[4096];
	struct shmring *r;
	long count;
	size_t elem, cap;
	int policy;
	bool push;

	if (argc < 7)
		return fprintf(stderr,
			       "usage: %s push|pop POLICY NAME ELEM CAP COUNT [DELAY_US]\n",
			       argv[0]),
		       2;
	push = !strcmp(argv[1], "push");
	policy = atoi(argv[2]);
	elem = strtoul(argv[4], NULL, 0);
	cap = strtoul(argv[5], NULL, 0);
	count = atol(argv[6]);
	if (elem > sizeof(m))
		return 2;
	r = push ? shmring_producer(policy, argv[3], elem, cap, NULL) :
		   shmring_consumer(policy, argv[3], elem, cap, NULL);
	if (!r)
		return fprintf(stderr, "ring_helper: open %s: %s\n", argv[3],
			       strerror(errno)),
		       3;
	if (!strcmp(argv[6], "reexec")) {
		/* The handle is still open: exec drops it with the old image. */
		argv[6] = "0";
		execv("/proc/self/exe", argv);
		return 6;
	}
	if (argc > 7)
		usleep((useconds_t)atol(argv[7]));
	for (long i = 0; i < count; i++) {
		uint32_t prod;
		uint64_t seq;

		if (push) {
			msg_fill(m, elem, 7, (uint64_t)i);
			if (shmring_timed_push(r, m, 10ull * 1000000000))
				return 4;
		} else if (shmring_timed_pop(r, m, 10ull * 1000000000) ||
			   msg_check(m, elem, &prod, &seq)) {
			return 5;
		}
	}
	shmring_close(r);
	return 0;
}
