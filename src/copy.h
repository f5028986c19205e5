/* SPDX-License-Identifier: MIT */
/*
 * Copying elements in and out of slots: the one place that does it, so that
 * the way bytes move can be tuned (and measured: bench/) in one spot.
 */
#ifndef SHMRING_COPY_H
#define SHMRING_COPY_H

#include <stddef.h>
#include <string.h>

static inline void shmring__copy(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
}

#endif /* SHMRING_COPY_H */
