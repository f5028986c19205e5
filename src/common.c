// SPDX-License-Identifier: MIT
/* Helpers every source uses: options and names. */
#include "internal.h"

#include <sys/file.h>
#include <unistd.h>

/* shmring_opts.mode was an unsigned int before it was a mode_t: callers
 * built against either header must see one layout. */
_Static_assert(sizeof(mode_t) == sizeof(unsigned int) && (mode_t)-1 > 0,
	       "mode_t must be an unsigned int for shmring_opts' ABI");

int shmring__opts_read(const struct shmring_opts *opts, struct shmring__opts *out)
{
	const size_t known = sizeof(struct shmring_opts);

	*out = (struct shmring__opts){
		.mode = SHMRING_DEFAULT_MODE,
		.numa_node = -1,
		.fd_backend = SHMRING_FD_AUTO,
		.spin_ns = SHMRING_DEFAULT_SPIN_NS,
	};
	if (!opts)
		return 0;
	if (opts->sz < sizeof(size_t))
		return shmring__err(EINVAL);
	/* A newer caller may pass fields we do not know: refuse unless zero. */
	if (opts->sz > known) {
		const unsigned char *p = (const unsigned char *)opts;
		for (size_t i = known; i < opts->sz; i++)
			if (p[i])
				return shmring__err(EINVAL);
	}
	/* Read each field only if the caller's struct holds it. */
#define OPT_HAS(f) (opts->sz >= offsetof(struct shmring_opts, f) + sizeof(opts->f))
	if (OPT_HAS(flags))
		out->flags = opts->flags;
	if (OPT_HAS(mode) && opts->mode)
		out->mode = opts->mode;
	if (OPT_HAS(numa_node))
		out->numa_node = opts->numa_node;
	if (OPT_HAS(fd_backend))
		out->fd_backend = opts->fd_backend;
	if (OPT_HAS(spin_ns) && opts->spin_ns)
		out->spin_ns = opts->spin_ns < 0 ? 0 : opts->spin_ns;
	if (OPT_HAS(hugetlbfs))
		out->hugetlbfs = opts->hugetlbfs;
	if (OPT_HAS(trusted_uid))
		out->trusted_uid = opts->trusted_uid;
#undef OPT_HAS
	if (out->flags &
	    ~(unsigned int)(SHMRING_F_HUGE | SHMRING_F_NOHUGE | SHMRING_F_MLOCK |
			    SHMRING_F_NUMA | SHMRING_F_EINTR))
		return shmring__err(EINVAL);
	if (out->mode & ~07777u)
		return shmring__err(EINVAL);
	if (out->fd_backend < SHMRING_FD_AUTO || out->fd_backend > SHMRING_FD_THREAD)
		return shmring__err(EINVAL);
	return 0;
}

int shmring__name_normalize(const char *name, char out[SHMRING_NAME_BUF])
{
	size_t len;

	if (!name)
		return shmring__err(EINVAL);
	if (name[0] == '/')
		name++;
	len = strlen(name);
	if (len == 0 || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return shmring__err(EINVAL);
	if (len > NAME_MAX)
		return shmring__err(ENAMETOOLONG);
	out[0] = '/';
	memcpy(out + 1, name, len + 1);
	return 0;
}

size_t shmring__page_size(void)
{
	/* glibc answers from the auxiliary vector: no syscall, no cache needed. */
	return (size_t)sysconf(_SC_PAGESIZE);
}

int shmring__flock(int fd, int op)
{
	int rc;

	do
		rc = flock(fd, op);
	while (rc && errno == EINTR);
	return rc;
}
