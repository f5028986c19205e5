/* SPDX-License-Identifier: MIT */
/* Internal helpers shared by the library's sources: one way to report an
 * error, one place that reads options, one place that validates a name. */
#ifndef SHMRING_INTERNAL_H
#define SHMRING_INTERNAL_H

#include "config.h"
#include "shmring.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>

#define SHMRING_DEFAULT_MODE 0600u

#define ALWAYS_INLINE inline __attribute__((always_inline))
#define likely(x)     __builtin_expect(!!(x), 1)
#define unlikely(x)   __builtin_expect(!!(x), 0)

/* Every error return goes through these two, so the convention (-1 or NULL
 * with errno set) lives in one place. */
static inline int shmring__err(int e)
{
	errno = e;
	return -1;
}

static inline void *shmring__errp(int e)
{
	errno = e;
	return NULL;
}

/* For calls whose result is a size: 0 with errno set. */
static inline size_t shmring__err0(int e)
{
	errno = e;
	return 0;
}

/* Options as the library uses them: the caller's struct (of any size it was
 * compiled with) folded into defaults. */
struct shmring__opts {
	unsigned int flags;
	unsigned int mode;
	int numa_node;
	int fd_backend;
	long spin_ns;
	const char *hugetlbfs;
	uid_t trusted_uid; /* 0: only our euid and root */
};

/* Reads OPTS (NULL = defaults) into OUT. Fields past opts->sz keep their
 * defaults; bytes the caller passed beyond what we know must be zero.
 * Returns 0, or -1 with EINVAL. */
int shmring__opts_read(const struct shmring_opts *opts, struct shmring__opts *out);

/* Shared-memory names: "name" or "/name", no other '/', not "." or "..".
 * Writes "/name" into OUT (NAME_MAX + 2 bytes). Returns 0, or -1 with EINVAL
 * or ENAMETOOLONG. */
#define SHMRING_NAME_BUF (NAME_MAX + 2)
int shmring__name_normalize(const char *name, char out[SHMRING_NAME_BUF]);

/* A mapped segment. fd is -1 for local memory. */
struct shmring_mem {
	void *addr;
	size_t size;
	int fd;
	bool huge;
	bool shared;
	char path[PATH_MAX]; /* of a shared segment, "" if unknown */
};

/* Open flags for shmring__mem_shm_open. */
enum {
	SHMRING__SHM_ANY_SIZE = 1u << 0, /* existing segment: accept its size */
};

/* Called on a segment that was just made, before it gets its name: the
 * ring initialises its header there, so that nobody ever opens a half-made
 * ring. 0 or a negative errno (the segment is then discarded). */
typedef int (*shmring__prepare_fn)(struct shmring_mem *mem, void *arg);

/* Opens the existing segment NAME (checking its owner and mode against O:
 * EACCES) or makes a new one of SIZE bytes, calls PREPARE (may be NULL) on
 * it and only then names it, so a failed create leaves nothing behind. */
struct shmring_mem *shmring__mem_shm_open(const char *name, size_t size,
					  const struct shmring__opts *o,
					  unsigned int flags, shmring__prepare_fn prepare,
					  void *arg);
/* Opens the existing segment NNAME ("/name") where the library looks for
 * it: /dev/shm, then O's hugetlbfs (O may be NULL), then every mounted
 * hugetlbfs; with open(2) FLAGS. Returns the fd, or -1 with errno (ENOENT
 * when it is nowhere). The one lookup every open, stat and unlink uses. */
int shmring__shm_open_existing(const char *nname, int flags,
			       const struct shmring__opts *o);
/* Applies SHMRING_F_NUMA / SHMRING_F_MLOCK to a fresh segment. */
int shmring__mem_apply_opts(struct shmring_mem *mem, const struct shmring__opts *o);

size_t shmring__page_size(void);

/* flock(2), restarted after signals. Any process that can open a segment can
 * hold its flock and so delay (never corrupt) others' opens. */
int shmring__flock(int fd, int op);

#endif /* SHMRING_INTERNAL_H */
