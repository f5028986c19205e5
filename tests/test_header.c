// SPDX-License-Identifier: MIT
/* What include/shmring.h states beside the calls themselves: the public
 * default spin, the layout of shmring_opts around mode, the timeout-0 rule. */
#include "testutil.h"

#include <stddef.h>
#include <sys/stat.h>

Test(header, default_spin_is_public_and_20_us)
{
	cr_expect_eq(SHMRING_DEFAULT_SPIN_NS, 20000L);
}

Test(header, opts_mode_is_a_mode_t_where_an_unsigned_int_was)
{
	/* The 0.1.0 layout: size_t sz, unsigned flags, unsigned mode, ... */
	struct old_opts {
		size_t sz;
		unsigned int flags;
		unsigned int mode;
		int numa_node;
		int fd_backend;
		long spin_ns;
		const char *hugetlbfs;
	};
	SHMRING_OPTS(o, .mode = (mode_t)(S_IRUSR | S_IWUSR | S_IRGRP));

	cr_expect_eq(sizeof(o.mode), sizeof(unsigned int));
	cr_expect_eq(offsetof(struct shmring_opts, mode),
		     offsetof(struct old_opts, mode));
	cr_expect_eq(offsetof(struct shmring_opts, numa_node),
		     offsetof(struct old_opts, numa_node));
	cr_expect_eq(offsetof(struct shmring_opts, hugetlbfs),
		     offsetof(struct old_opts, hugetlbfs));
	/* Fields added later go at the end: sz covers 0.1.0's struct. */
	cr_expect_geq(sizeof(struct shmring_opts), sizeof(struct old_opts));
	cr_expect_eq(o.mode, 0640);
}

Test(header, timeout_zero_is_a_try_that_says_etimedout)
{
	static const enum shmring_policy policies[] = { SHMRING_SPSC, SHMRING_MPSC,
							SHMRING_MPMC };

	for (size_t i = 0; i < 3; i++) {
		TEST_NAME(name, "t0");
		struct shmring *p = shmring_producer(policies[i], name, 8, 1, NULL);
		struct shmring *c = shmring_consumer(policies[i], name, 8, 1, NULL);
		uint64_t v = 42, t0;

		cr_assert(p && c);
		t0 = now_ns();
		errno = 0;
		cr_expect_eq(shmring_timed_pop(c, &v, 0), -1);
		cr_expect_eq(errno, ETIMEDOUT, "empty: %s", strerror(errno));
		cr_expect_eq(shmring_timed_push(p, &v, 0), 0, "room: %s",
			     strerror(errno));
		errno = 0;
		cr_expect_eq(shmring_timed_push(p, &v, 0), -1);
		cr_expect_eq(errno, ETIMEDOUT, "full: %s", strerror(errno));
		v = 0;
		cr_expect_eq(shmring_timed_pop(c, &v, 0), 0, "data: %s", strerror(errno));
		cr_expect_eq(v, 42);
		/* No sleep: four calls well within a time slice. */
		cr_expect_lt(now_ns() - t0, 50 * 1000000ull);
		shmring_close(p);
		shmring_close(c);
		shmring_unlink(name);
	}
}
