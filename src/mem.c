// SPDX-License-Identifier: MIT
/*
 * Memory backends: anonymous private memory and POSIX shared memory (tmpfs or
 * a hugetlbfs mount), NUMA binding and locking. This is the one place that
 * maps and unmaps.
 *
 * Create/open race: a shared segment of size 0 is "not created yet" whoever
 * made the name, so any opener may size it. Openers hold flock(LOCK_SH) while
 * they read the size; the one that finds it 0 converts to LOCK_EX, checks
 * again and ftruncates. Two processes creating the same name at once therefore
 * both succeed, and neither can map a segment half-way through its sizing.
 */
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#if CONFIG_NUMA
#include <numa.h>
#include <numaif.h>
#endif

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

#define SHM_OPEN_RETRIES 64
#define SHM_DIR		 "/dev/shm"

static bool round_up(size_t size, size_t align, size_t *out)
{
	if (size == 0 || size > SIZE_MAX - (align - 1))
		return false;
	*out = (size + align - 1) & ~(align - 1);
	return true;
}

#if CONFIG_HUGEPAGES
/* Default huge page size (what MAP_HUGETLB uses), 0 if the kernel has none. */
static size_t default_huge_page_size(void)
{
	char line[128];
	size_t kb = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %zu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/* Directories of mounted hugetlbfs file systems, at most MAX. */
static int hugetlbfs_mounts(char (*dirs)[PATH_MAX], int max)
{
	char dev[256], dir[PATH_MAX], type[64];

	int n = 0;
	FILE *f = fopen("/proc/mounts", "re");

	if (!f)
		return 0;
	while (n < max && fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3)
		if (!strcmp(type, "hugetlbfs"))
			snprintf(dirs[n++], PATH_MAX, "%s", dir);
	fclose(f);
	return n;
}

/* Where a huge shared segment is created: the hugetlbfs asked for, else the
 * first mounted. Returns false if there is none. */
static bool hugetlbfs_dir(const struct shmring__opts *o, char *buf, size_t len)
{
	char dirs[1][PATH_MAX];
	struct statfs sfs;

	if (o->hugetlbfs) {
		if (statfs(o->hugetlbfs, &sfs) || sfs.f_type != HUGETLBFS_MAGIC)
			return false;
		return snprintf(buf, len, "%s", o->hugetlbfs) < (int)len;
	}
	if (hugetlbfs_mounts(dirs, 1) < 1)
		return false;
	return snprintf(buf, len, "%s", dirs[0]) < (int)len;
}
#else
static int hugetlbfs_mounts(char (*dirs)[PATH_MAX], int max)
{
	(void)dirs, (void)max;
	return 0;
}

static bool hugetlbfs_dir(const struct shmring__opts *o, char *buf, size_t len)
{
	(void)o, (void)buf, (void)len;
	return false;
}
#endif

/* DIR + "/name" into BUF; false if it does not fit. */
static bool huge_path(char *buf, size_t len, const char *dir, const char *nname)
{
	int n = snprintf(buf, len, "%s%s", dir, nname);

	return n > 0 && (size_t)n < len;
}

static struct shmring_mem *mem_new(void *addr, size_t size, int fd, bool huge,
				   bool shared)
{
	struct shmring_mem *mem = calloc(1, sizeof(*mem));

	if (!mem)
		return NULL;
	*mem = (struct shmring_mem){
		.addr = addr, .size = size, .fd = fd, .huge = huge, .shared = shared
	};
	return mem;
}

int shmring__mem_apply_opts(struct shmring_mem *mem, const struct shmring__opts *o)
{
	if ((o->flags & SHMRING_F_NUMA) && shmring_mem_mbind(mem, o->numa_node))
		return -1;
	if ((o->flags & SHMRING_F_MLOCK) && shmring_mem_mlock(mem))
		return -1;
	return 0;
}

/* Close MEM keeping the errno that made us give up on it. */
static void *mem_fail(struct shmring_mem *mem)
{
	int e = errno;

	shmring_mem_close(mem);
	return shmring__errp(e);
}

struct shmring_mem *shmring_mem_local_opts(size_t size, const struct shmring_opts *opts)
{
	struct shmring__opts o;
	struct shmring_mem *mem;
	size_t len;
	void *addr = MAP_FAILED;
	bool huge = false;

	if (shmring__opts_read(opts, &o))
		return NULL;
	if (!round_up(size, shmring__page_size(), &len))
		return shmring__errp(EINVAL);
#if CONFIG_HUGEPAGES
	if (!(o.flags & SHMRING_F_NOHUGE)) {
		size_t hsz = default_huge_page_size(), hlen;

		if (hsz && round_up(size, hsz, &hlen)) {
			addr = mmap(NULL, hlen, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
			if (addr != MAP_FAILED) {
				len = hlen;
				huge = true;
			}
		}
	}
#endif
	if (addr == MAP_FAILED)
		addr = mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (addr == MAP_FAILED)
		return NULL;
	mem = mem_new(addr, len, -1, huge, false);
	if (!mem) {
		munmap(addr, len);
		return shmring__errp(ENOMEM);
	}
	if (shmring__mem_apply_opts(mem, &o))
		return mem_fail(mem);
	return mem;
}

struct shmring_mem *shmring_mem_local(size_t size)
{
	return shmring_mem_local_opts(size, NULL);
}

/* Opens the file behind NAME: an existing one in /dev/shm or on the hugetlbfs
 * mounts, never through a symlink (ELOOP). */
int shmring__shm_open_existing(const char *nname, int flags,
			       const struct shmring__opts *o)
{
	char dirs[5][PATH_MAX], path[PATH_MAX + SHMRING_NAME_BUF];
	int n = 0, fd = shm_open(nname, flags | O_CLOEXEC | O_NOFOLLOW, 0);

	if (fd >= 0 || errno != ENOENT)
		return fd;
	/* The hugetlbfs asked for first, then every mounted one. */
	if (o && o->hugetlbfs && hugetlbfs_dir(o, dirs[0], sizeof(dirs[0])))
		n = 1;
	n += hugetlbfs_mounts(dirs + n, 4);
	for (int i = 0; i < n; i++) {
		if (!huge_path(path, sizeof(path), dirs[i], nname))
			continue;
		fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0 || errno != ENOENT)
			return fd;
	}
	return shmring__err(ENOENT);
}

/* Page size of the file system FD lives on, and whether it is hugetlbfs. */
static size_t fd_page_size(int fd, bool *huge)
{
	struct statfs sfs;

	*huge = !fstatfs(fd, &sfs) && sfs.f_type == HUGETLBFS_MAGIC;
	return *huge ? (size_t)sfs.f_bsize : shmring__page_size();
}

/* Whether we may use the existing segment FD (DESIGN.md §9, "Ownership"):
 * it belongs to our effective uid, to root, or to the uid the caller says
 * it trusts, and nobody O's mode leaves out may write it. Otherwise a user
 * who made the name first could read and forge our traffic. EACCES. */
static int owner_check(int fd, const struct shmring__opts *o)
{
	struct stat st;
	uid_t me = geteuid();

	if (fstat(fd, &st))
		return -1;
	if (!S_ISREG(st.st_mode))
		return shmring__err(EACCES);
	if (st.st_uid != me && st.st_uid != 0 &&
	    !(o->trusted_uid && st.st_uid == o->trusted_uid))
		return shmring__err(EACCES);
	if (st.st_mode & 022 & ~o->mode)
		return shmring__err(EACCES);
	return 0;
}

/* Whether some open file holds a lock in the lock regions of rings
 * (roles.c): a live handle. */
static bool segment_in_use(int fd)
{
	struct flock fl = { .l_type = F_WRLCK,
			    .l_whence = SEEK_SET,
			    .l_start = (off_t)1 << 40 };

	return fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
}

/* Under flock: the segment's size, sizing it to WANT if nobody has yet (a
 * segment someone else made by name and has not sized). A segment of size 0
 * that live handles use was truncated under them: EPROTO, never re-sized. */
static int shm_size_locked(int fd, size_t want, off_t *size)
{
	struct stat st;

	if (shmring__flock(fd, LOCK_SH) || fstat(fd, &st))
		return -1;
	if (st.st_size == 0) {
		if (shmring__flock(fd, LOCK_EX) || fstat(fd, &st))
			return -1;
		if (st.st_size == 0 && segment_in_use(fd))
			return shmring__err(EPROTO);
		if (st.st_size == 0 && ftruncate(fd, (off_t)want))
			return -1;
		if (st.st_size == 0)
			st.st_size = (off_t)want;
	}
	*size = st.st_size;
	return 0;
}

/* Maps FD (SIZE bytes) into a new handle; FD belongs to it from here on,
 * also on failure. */
static struct shmring_mem *mem_map(int fd, size_t size, bool huge, const char *path)
{
	struct shmring_mem *mem;
	void *addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int e;

	if (addr == MAP_FAILED)
		goto fail;
	mem = mem_new(addr, size, fd, huge, true);
	if (!mem) {
		munmap(addr, size);
		errno = ENOMEM;
		goto fail;
	}
	snprintf(mem->path, sizeof(mem->path), "%s", path);
	return mem;
fail:
	e = errno;
	close(fd);
	return shmring__errp(e);
}

/* The existing segment FD at PATH: checked, sized if its creator has not,
 * mapped. */
static struct shmring_mem *mem_open_existing(int fd, const char *path, size_t size,
					     const struct shmring__opts *o,
					     unsigned int flags)
{
	struct shmring_mem *mem;
	size_t want, page;
	bool huge;
	off_t have;
	int e;

	if (owner_check(fd, o))
		goto fail;
	page = fd_page_size(fd, &huge);
	if (!round_up(size, page, &want)) {
		errno = EINVAL;
		goto fail;
	}
	if (shm_size_locked(fd, want, &have))
		goto fail;
	shmring__flock(fd, LOCK_UN);
	if (have <= 0 || (!(flags & SHMRING__SHM_ANY_SIZE) && (size_t)have != want)) {
		errno = EINVAL;
		goto fail;
	}
	mem = mem_map(fd, (size_t)have, huge, path);
	if (mem && shmring__mem_apply_opts(mem, o))
		return mem_fail(mem);
	return mem;
fail:
	e = errno;
	close(fd);
	return shmring__errp(e);
}

/* Gives the unnamed file FD the name PATH: through /proc/self/fd (any
 * user), else AT_EMPTY_PATH (needs CAP_DAC_READ_SEARCH). EEXIST when
 * someone named theirs first. */
static int link_tmpfile(int fd, const char *path)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	return linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH);
}

/* Makes a segment complete before it has a name: an unnamed file in DIR
 * (O_TMPFILE), sized, mapped, O's options applied, PREPARE'd, and only then
 * linked as DIR/NAME. Any failure on the way leaves nothing behind (the
 * file was never visible), and no opener ever sees a half-made segment.
 * NULL with EEXIST when another process named its segment first. Without
 * O_TMPFILE (an old kernel or file system): created by name with O_EXCL,
 * prepared under flock(LOCK_EX) (openers read under LOCK_SH) and removed
 * again if that fails. */
static struct shmring_mem *mem_create(const char *dir, const char *nname, size_t size,
				      const struct shmring__opts *o,
				      shmring__prepare_fn prepare, void *arg)
{
	char path[PATH_MAX + SHMRING_NAME_BUF];
	struct shmring_mem *mem;
	bool named = false, huge = false;
	size_t want = 0;
	int fd, rc = 0;

	if (!huge_path(path, sizeof(path), dir, nname))
		return shmring__errp(ENAMETOOLONG);
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, o->mode);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			  o->mode);
		named = fd >= 0;
		if (named && shmring__flock(fd, LOCK_EX)) {
			rc = -errno;
			close(fd);
			goto fail;
		}
	}
	if (fd < 0)
		return NULL;
	/* O_CREAT applies the umask; the caller asked for exactly o->mode. */
	if (fchmod(fd, o->mode) && errno != EPERM)
		rc = -errno;
	else if (!round_up(size, fd_page_size(fd, &huge), &want))
		rc = -EINVAL;
	else if (ftruncate(fd, (off_t)want))
		rc = -errno;
	if (rc) {
		close(fd);
		goto fail;
	}
	mem = mem_map(fd, want, huge, path); /* closes fd if it fails */
	if (!mem) {
		rc = -errno;
		goto fail;
	}
	if (shmring__mem_apply_opts(mem, o))
		rc = -errno;
	else if (prepare)
		rc = prepare(mem, arg);
	if (!rc && named)
		shmring__flock(fd, LOCK_UN);
	else if (!rc && link_tmpfile(fd, path))
		rc = -errno;
	if (!rc)
		return mem;
	shmring_mem_close(mem);
fail:
	if (named)
		unlink(path);
	return shmring__errp(-rc);
}

struct shmring_mem *shmring__mem_shm_open(const char *name, size_t size,
					  const struct shmring__opts *o,
					  unsigned int flags, shmring__prepare_fn prepare,
					  void *arg)
{
	char nname[SHMRING_NAME_BUF], dir[PATH_MAX], path[PATH_MAX + SHMRING_NAME_BUF];
	struct shmring_mem *mem;
	int fd;

	if (shmring__name_normalize(name, nname))
		return NULL;
	if (size == 0 || size > (size_t)INT64_MAX / 2)
		return shmring__errp(EINVAL);
	if (!((o->flags & SHMRING_F_HUGE) && hugetlbfs_dir(o, dir, sizeof(dir))))
		snprintf(dir, sizeof(dir), "%s", SHM_DIR);
	for (int i = 0; i < SHM_OPEN_RETRIES; i++) {
		fd = shmring__shm_open_existing(nname, O_RDWR, o);
		if (fd >= 0) {
			/* Where it is, for roles.c when /proc is missing. */
			char proc[64];
			ssize_t n;

			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
			n = readlink(proc, path, sizeof(path) - 1);
			path[n > 0 ? n : 0] = '\0';
			return mem_open_existing(fd, path, size, o, flags);
		}
		if (errno != ENOENT)
			return NULL;
		mem = mem_create(dir, nname, size, o, prepare, arg);
		if (mem || errno != EEXIST)
			return mem;
		/* Someone named theirs between our open and our link: use it. */
	}
	return shmring__errp(EAGAIN);
}

struct shmring_mem *shmring_mem_shm_opts(const char *name, size_t size,
					 const struct shmring_opts *opts)
{
	struct shmring__opts o;

	if (shmring__opts_read(opts, &o))
		return NULL;
	return shmring__mem_shm_open(name, size, &o, 0, NULL, NULL);
}

struct shmring_mem *shmring_mem_shm(const char *name, size_t size)
{
	return shmring_mem_shm_opts(name, size, NULL);
}

void *shmring_mem_get(struct shmring_mem *mem, size_t offset)
{
	if (!mem)
		return shmring__errp(EINVAL);
	if (offset >= mem->size)
		return shmring__errp(ERANGE);
	return (char *)mem->addr + offset;
}

size_t shmring_mem_size(const struct shmring_mem *mem)
{
	return mem ? mem->size : 0;
}

bool shmring_mem_huge(const struct shmring_mem *mem)
{
	return mem && mem->huge;
}

int shmring_mem_mbind(struct shmring_mem *mem, int node)
{
	if (!mem)
		return shmring__err(EINVAL);
	return shmring_mbind(mem->addr, mem->size, node);
}

int shmring_mem_mlock(struct shmring_mem *mem)
{
	if (!mem)
		return shmring__err(EINVAL);
	return shmring_mlock(mem->addr, mem->size);
}

void shmring_mem_close(struct shmring_mem *mem)
{
	if (!mem)
		return;
	munmap(mem->addr, mem->size);
	if (mem->fd >= 0)
		close(mem->fd);
	free(mem);
}

int shmring_mem_unlink(const char *name)
{
	char nname[SHMRING_NAME_BUF], dirs[4][PATH_MAX],
		path[PATH_MAX + SHMRING_NAME_BUF];
	int n, e = 0;

	if (shmring__name_normalize(name, nname))
		return -1;
	if (shm_unlink(nname) && errno != ENOENT)
		e = errno;
	n = hugetlbfs_mounts(dirs, 4);
	for (int i = 0; i < n; i++) {
		if (huge_path(path, sizeof(path), dirs[i], nname) && unlink(path) &&
		    errno != ENOENT)
			e = errno;
	}
	return e ? shmring__err(e) : 0;
}

int shmring_mbind(void *addr, size_t size, int node)
{
#if CONFIG_NUMA
	struct bitmask *mask;
	long rc;

	if (!addr || !size || node < 0)
		return shmring__err(EINVAL);
	if (numa_available() < 0)
		return shmring__err(ENOTSUP);
	if (node > numa_max_node() || !numa_bitmask_isbitset(numa_all_nodes_ptr, node))
		return shmring__err(EINVAL);
	mask = numa_allocate_nodemask();
	if (!mask)
		return shmring__err(ENOMEM);
	numa_bitmask_setbit(mask, (unsigned int)node);
	/* MPOL_MF_MOVE: pages already touched follow the policy too. */
	rc = mbind(addr, size, MPOL_BIND, mask->maskp, mask->size + 1, MPOL_MF_MOVE);
	numa_free_nodemask(mask);
	return rc ? -1 : 0;
#else
	(void)addr, (void)size, (void)node;
	return shmring__err(ENOTSUP);
#endif
}

int shmring_mlock(void *addr, size_t size)
{
	if (!addr || !size)
		return shmring__err(EINVAL);
	/* The raw syscall: AddressSanitizer's mlock interceptor does nothing and
	 * reports success, which would hide a real RLIMIT_MEMLOCK failure. */
	return syscall(SYS_mlock, addr, size) ? -1 : 0;
}
