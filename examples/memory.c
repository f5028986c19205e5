// SPDX-License-Identifier: MIT
/* Memory backends: a named shared segment seen by a child process, bound to
 * NUMA node 0 and locked in RAM where the system allows it.
 *   cc memory.c $(pkg-config --cflags --libs shmring) && ./a.out */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, sched_setaffinity with plain -std=c11 */
#endif
#include <shmring.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	const char *name = "shmring-example-memory";
	struct shmring_mem *mem = shmring_mem_shm(name, 4096);
	char *text;
	int ok;

	if (!mem) {
		fprintf(stderr, "shmring_mem_shm: %s\n", strerror(errno));
		return 1;
	}
	if (shmring_mem_mbind(mem, 0))
		printf("mbind: %s (fine on a machine without NUMA)\n", strerror(errno));
	if (shmring_mem_mlock(mem))
		printf("mlock: %s (raise RLIMIT_MEMLOCK)\n", strerror(errno));
	printf("segment: %zu bytes, huge pages: %s\n", shmring_mem_size(mem),
	       shmring_mem_huge(mem) ? "yes" : "no");

	if (fork() == 0) {
		/* The child opens the segment by name, as any process could. */
		struct shmring_mem *child = shmring_mem_shm(name, 4096);

		if (!child)
			_exit(1);
		strcpy(shmring_mem_get(child, 0), "hello from the child");
		shmring_mem_close(child);
		_exit(0);
	}
	wait(NULL);
	text = shmring_mem_get(mem, 0);
	printf("parent reads: %s\n", text);
	ok = strcmp(text, "hello from the child") == 0;
	shmring_mem_close(mem);
	shmring_mem_unlink(name);
	return ok ? 0 : 1;
}
