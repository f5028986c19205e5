/* SPDX-License-Identifier: MIT */
/*
 * Copying elements in and out of slots: the one place that does it, so that
 * the way bytes move can be tuned (and measured: bench/) in one spot.
 */
#ifndef SHMRING_COPY_H
#define SHMRING_COPY_H

#include <stddef.h>
#include <string.h>

/* Small elements of common sizes are copied inline, with the size known to
 * the compiler (a few moves instead of a call into the C library that first
 * has to look at the size); the rest goes to memcpy. */
static inline void shmring__copy(void *dst, const void *src, size_t n)
{
	switch (n) {
	case 8:
		__builtin_memcpy(dst, src, 8);
		return;
	case 16:
		__builtin_memcpy(dst, src, 16);
		return;
	case 24:
		__builtin_memcpy(dst, src, 24);
		return;
	case 32:
		__builtin_memcpy(dst, src, 32);
		return;
	case 40:
		__builtin_memcpy(dst, src, 40);
		return;
	case 48:
		__builtin_memcpy(dst, src, 48);
		return;
	case 56:
		__builtin_memcpy(dst, src, 56);
		return;
	case 64:
		__builtin_memcpy(dst, src, 64);
		return;
	default:
		memcpy(dst, src, n);
	}
}

#endif /* SHMRING_COPY_H */
