/* SPDX-License-Identifier: MIT */
/*
 * io_uring helpers for shmring (needs liburing; Linux >= 6.7 for the futex
 * wait). An io_uring reactor waits for a ring like this:
 *
 *   struct io_uring_sqe *sqe = io_uring_get_sqe(&uring);
 *   shmring_prep_wait(sqe, ring);
 *   io_uring_sqe_set_data64(sqe, my_tag);
 *   io_uring_submit(&uring);
 *   ...
 *   on its completion (any result): try_pop / try_push until EAGAIN,
 *   then prep another wait.
 *
 * The completion comes when the ring may have made progress: a FUTEX_WAIT
 * woken by a publisher (res 0), or one whose word had already moved
 * (res -EAGAIN), or a NOP when progress was possible at once (res 0), or a
 * 1 ms timeout (res -ETIME) in a process that cannot issue membarrier (see
 * shmring_arm).
 */
#ifndef SHMRING_URING_H
#define SHMRING_URING_H

#include <liburing.h>
#include <shmring.h>

#ifndef SHMRING_IORING_OP_FUTEX_WAIT
#define SHMRING_IORING_OP_FUTEX_WAIT 51 /* IORING_OP_FUTEX_WAIT, Linux 6.7 */
#endif
#define SHMRING_FUTEX2_SIZE_U32 0x02 /* futex2 flags: 32-bit word, shared */

/* Prepares SQE to complete when RING can make progress (see above).
 * Returns 0, or -1 with errno EINVAL. */
static inline int shmring_prep_wait(struct io_uring_sqe *sqe, struct shmring *ring)
{
	const uint32_t *word;
	uint32_t expected;
	/* Read by the kernel when the SQE is submitted, never written. */
	static struct __kernel_timespec poll_ts = { .tv_nsec = SHMRING_ARM_POLL_NS };
	int rc = shmring_arm(ring, &word, &expected);

	if (rc < 0)
		return -1;
	if (rc == SHMRING_ARM_READY) {
		io_uring_prep_nop(sqe);
		return 0;
	}
	if (rc == SHMRING_ARM_POLL) { /* no membarrier here: look again soon */
		io_uring_prep_timeout(sqe, &poll_ts, 0, 0);
		return 0;
	}
	/* liburing 2.3 has no io_uring_prep_futex_wait: fd = futex2 flags,
	 * addr = word, addr2 (off) = expected value, addr3 = bitset mask. */
	io_uring_prep_rw(SHMRING_IORING_OP_FUTEX_WAIT, sqe, SHMRING_FUTEX2_SIZE_U32, word,
			 0, expected);
	sqe->addr3 = 0xffffffffu;
	return 0;
}

#endif /* SHMRING_URING_H */
