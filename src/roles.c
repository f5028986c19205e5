// SPDX-License-Identifier: MIT
/*
 * Roles and claims that follow processes, not file descriptions.
 *
 * What a handle holds, it holds with open-file-description locks
 * (F_OFD_SETLK) on bytes of the segment file far past its data, taken
 * through an open file of its own: every handle re-opens the segment
 * (/proc/self/fd/N) instead of using the memory handle's fd. Per ring, in the
 * region [SHMRING_LOCK_BASE + (offset / 128) * 2^23, + 2^23):
 *
 *   byte 0          the exclusive producer role (SPSC)
 *   byte 1          the exclusive consumer role (SPSC, MPSC)
 *   bytes 16..2^21  producer tokens; 2^21..2^22 consumer tokens
 *
 * Every handle takes a token, a byte no live handle holds, from a counter in
 * the header (so a token comes back only after 2^21 opens of that role, long
 * after any claim of its previous owner was repaired). MPSC/MPMC claims carry
 * the token (ring.h), so "is the claimer of this slot alive" is one
 * F_OFD_GETLK.
 *
 * Why a private open file: an OFD lock lives as long as its open file
 * description, and that outlives the process when anything else refers to
 * it: an fd inherited over fork, or a MAP_SHARED mapping of it (a mapping
 * holds a reference to the file description it was made from). The private
 * file is never mapped, and a fork handler closes the child's copy of every
 * one of them, so a lock is held exactly while the process that took it
 * lives, until it closes the handle or execs (the files are O_CLOEXEC),
 * whatever it forks. Inherited handles turn K_FORKED in the child: their
 * data calls fail with EBADF instead of racing with the parent (a claim made
 * under the parent's token would look dead once the parent exits). Pids play
 * no part, so pid namespaces, pid reuse and re-exec never make a free role
 * look taken. The limits: a child holds its copies of the locks from fork()
 * until it first runs (its fork handler runs before fork() returns in it),
 * so a holder that dies in that window -- microseconds, a time slice at
 * worst -- leaves its role held that long; a child made by raw clone(2) or
 * _Fork(), which run no fork handlers, keeps the locks until it execs or
 * exits; and code that closes file descriptors it did not open drops the
 * roles held through them.
 *
 * The registry words in the header only tell observers which pids hold what
 * (token << 32 | pid); a word whose token lock is free is stale.
 *
 * Rings in local memory (no file; one process, a forked child gets a copy)
 * use the registry word alone for exclusive roles, and every claim there is
 * alive.
 */
#include "ring.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOK_MIN	    16u
#define TOK_SPLIT   (1u << 21)
#define TOK_END	    (1u << 22)
#define TOKEN_TRIES 256

_Static_assert(TOK_END <= (1u << MP_TOKEN_BITS), "tokens fit the claim word");
_Static_assert(SHMRING_LOCK_REGION >= (off_t)TOK_END, "tokens fit the region");

/* ---- the process's handles, for fork ------------------------------------- */

static pthread_mutex_t proc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shmring *proc_handles;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
	pthread_mutex_lock(&proc_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&proc_lock);
}

/* In the child: the handles are the parent's. Drop our references to their
 * private files (the parent's locks stay the parent's alone) and make every
 * data call on them fail. The list is forgotten: shmring_close in the child
 * only unmaps. */
static void fork_child(void)
{
	struct shmring *r = proc_handles, *next;

	for (; r; r = next) {
		next = r->proc_next;
		if (r->lock_fd >= 0)
			close(r->lock_fd);
		r->lock_fd = -1;
		r->kind = K_FORKED;
		r->real_kind = K_FORKED;
		r->proc_next = r->proc_prev = NULL;
	}
	proc_handles = NULL;
#if CONFIG_IO_URING
	shmring__tls_tid = 0; /* the forking thread's id was the parent's */
#endif
	pthread_mutex_unlock(&proc_lock);
}

static void fork_handlers(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void proc_add(struct shmring *r)
{
	r->proc_prev = NULL;
	r->proc_next = proc_handles;
	if (proc_handles)
		proc_handles->proc_prev = r;
	proc_handles = r;
}

static void proc_remove(struct shmring *r)
{
	if (r->proc_prev)
		r->proc_prev->proc_next = r->proc_next;
	else if (proc_handles == r)
		proc_handles = r->proc_next;
	if (r->proc_next)
		r->proc_next->proc_prev = r->proc_prev;
	r->proc_next = r->proc_prev = NULL;
}

/* ---- locks -------------------------------------------------------------------- */

/* F_OFD_SETLK (lock or unlock) or F_OFD_GETLK of LEN bytes at BYTE: 0, or 1
 * for GETLK when another open file holds one (its start in *FOUND), or a
 * negative errno. */
static int ofd_lock(int fd, int cmd, short type, off_t byte, off_t len, off_t *found)
{
	struct flock fl = {
		.l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = len
	};
	int rc;

	do
		rc = fcntl(fd, cmd, &fl);
	while (rc && errno == EINTR);
	if (rc)
		return -errno;
	if (cmd != F_OFD_GETLK)
		return 0;
	if (found)
		*found = fl.l_start;
	return fl.l_type != F_UNLCK;
}

static off_t region_base(size_t ring_offset)
{
	return SHMRING_LOCK_BASE +
	       (off_t)(ring_offset / SHMRING_LINE) * SHMRING_LOCK_REGION;
}

off_t shmring__token_byte(size_t ring_offset, uint32_t token)
{
	return region_base(ring_offset) + (off_t)token;
}

bool shmring__lock_held(int fd, off_t byte)
{
	return ofd_lock(fd, F_OFD_GETLK, F_WRLCK, byte, 1, NULL) == 1;
}

bool shmring__token_alive(const struct shmring *r, uint32_t token)
{
	/* Local memory: one process, alive as long as we are. A lookup that
	 * fails counts as alive: never repair on a doubt. */
	if (r->lock_fd < 0)
		return true;
	return ofd_lock(r->lock_fd, F_OFD_GETLK, F_WRLCK, r->lock_base + (off_t)token, 1,
			NULL) != 0;
}

bool shmring__ring_in_use(const struct shmring *r)
{
	if (r->lock_fd < 0)
		return false;
	return ofd_lock(r->lock_fd, F_OFD_GETLK, F_WRLCK, r->lock_base,
			SHMRING_LOCK_REGION, NULL) != 0;
}

unsigned int shmring__live_holders(int fd, size_t ring_offset, int role)
{
	off_t base = region_base(ring_offset);
	off_t at = base + (role == SHMRING_PRODUCER ? TOK_MIN : TOK_SPLIT);
	off_t end = base + (role == SHMRING_PRODUCER ? TOK_SPLIT : TOK_END);
	unsigned int n = 0;

	/* F_OFD_GETLK reports one conflicting lock per call: walk them. */
	while (at < end) {
		off_t found;

		if (ofd_lock(fd, F_OFD_GETLK, F_WRLCK, at, end - at, &found) != 1 ||
		    found < at)
			break;
		n++;
		at = found + 1;
	}
	return n;
}

/* A second open file description of the segment, never mapped. Through
 * /proc/self/fd; without /proc, by the segment's path, checked to be the
 * same file. */
static int reopen_private(const struct shmring_mem *mem)
{
	char path[64];
	struct stat a, b;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", mem->fd);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0 || !mem->path[0])
		return fd < 0 ? -errno : fd;
	fd = open(mem->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &a) || fstat(mem->fd, &b) || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

static bool role_exclusive(const struct shmring *r)
{
	return r->policy == SHMRING_SPSC ||
	       (r->policy == SHMRING_MPSC && r->role == SHMRING_CONSUMER);
}

static _Atomic uint64_t *registry(const struct shmring *r)
{
	return r->role == SHMRING_PRODUCER ? r->hdr->producers : r->hdr->consumers;
}

/* A token: a byte of our role's range that no live handle holds, starting
 * where the header's counter says, so that tokens of dead handles are not
 * handed out again soon. */
static int token_take(struct shmring *r)
{
	int ri = r->role - 1;
	uint32_t lo = ri ? TOK_SPLIT : TOK_MIN, hi = ri ? TOK_END : TOK_SPLIT;

	for (int i = 0; i < TOKEN_TRIES; i++) {
		uint64_t n = atomic_fetch_add_explicit(&r->hdr->next_token[ri], 1,
						       memory_order_relaxed);
		uint32_t t = lo + (uint32_t)(n % (hi - lo));
		int rc = ofd_lock(r->lock_fd, F_OFD_SETLK, F_WRLCK,
				  r->lock_base + (off_t)t, 1, NULL);

		if (rc == 0) {
			r->token_id = t;
			r->token = (uint64_t)t << MP_TOKEN_SHIFT;
			return 0;
		}
		if (rc != -EAGAIN && rc != -EACCES)
			return rc;
	}
	return -EUSERS;
}

/* Local memory, exclusive role: entry 0's word. A word with another pid is
 * a copy inherited over fork (the ring is our private copy now). */
static int local_take(struct shmring *r)
{
	_Atomic uint64_t *e = &registry(r)[0];
	uint64_t cur = atomic_load_explicit(e, memory_order_acquire);

	if (cur && (pid_t)(uint32_t)cur == r->pid)
		return -EBUSY;
	/* acq_rel: the successor sees what the holder it replaces wrote (its
	 * release in shmring__roles_close), and our later reads of head and
	 * tail come after the claim. */
	if (!atomic_compare_exchange_strong_explicit(e, &cur, (uint32_t)r->pid,
						     memory_order_acq_rel,
						     memory_order_acquire))
		return -EBUSY;
	r->reg_index = 0;
	return 0;
}

int shmring__roles_open(struct shmring *r)
{
	int rc = 0, fd;

	pthread_once(&fork_once, fork_handlers);
	r->lock_fd = -1;
	r->reg_index = -1;
	r->lock_base = region_base(r->offset);
	/* Under proc_lock from the open of the private file to the list: a
	 * fork in between would leave the child a reference to it. */
	pthread_mutex_lock(&proc_lock);
	if (r->mem->fd >= 0) {
		fd = reopen_private(r->mem);
		if (fd < 0) {
			rc = fd;
			goto out;
		}
		r->lock_fd = fd;
	}
	proc_add(r);
out:
	pthread_mutex_unlock(&proc_lock);
	return rc;
}

int shmring__roles_claim(struct shmring *r)
{
	int rc;

	if (r->lock_fd < 0)
		return role_exclusive(r) ? local_take(r) : 0;
	if (role_exclusive(r)) {
		rc = ofd_lock(r->lock_fd, F_OFD_SETLK, F_WRLCK,
			      r->lock_base + (off_t)(r->role - 1), 1, NULL);
		if (rc == -EAGAIN || rc == -EACCES)
			return -EBUSY;
		if (rc)
			return rc;
		r->role_lock = true;
	}
	return token_take(r);
}

void shmring__roles_register(struct shmring *r)
{
	_Atomic uint64_t *reg = registry(r);
	uint64_t me = (uint64_t)r->token_id << 32 | (uint32_t)r->pid;

	if (r->lock_fd < 0)
		return;
	for (unsigned int i = 0; i < SHMRING_REG_SLOTS; i++) {
		uint64_t cur = atomic_load_explicit(&reg[i], memory_order_relaxed);

		if (cur && shmring__token_alive(r, (uint32_t)(cur >> 32)))
			continue;
		/* relaxed: the word is for observers, ordered by nothing. */
		if (atomic_compare_exchange_strong_explicit(&reg[i], &cur, me,
							    memory_order_relaxed,
							    memory_order_relaxed)) {
			r->reg_index = (int)i;
			return;
		}
	}
}

int shmring__roles_flock(struct shmring *r, int op)
{
	return r->lock_fd < 0 ? 0 : shmring__flock(r->lock_fd, op);
}

void shmring__roles_close(struct shmring *r)
{
	pthread_mutex_lock(&proc_lock);
	if (r->kind != K_FORKED) {
		proc_remove(r);
		if (r->lock_fd < 0 && r->reg_index == 0) {
			uint64_t me = (uint32_t)r->pid;

			/* release: our last index store is visible to a
			 * successor (its acquire in local_take). */
			atomic_compare_exchange_strong_explicit(&registry(r)[0], &me, 0,
								memory_order_release,
								memory_order_relaxed);
		} else if (r->reg_index >= 0) {
			uint64_t me = (uint64_t)r->token_id << 32 | (uint32_t)r->pid;

			atomic_compare_exchange_strong_explicit(
				&registry(r)[r->reg_index], &me, 0, memory_order_relaxed,
				memory_order_relaxed);
		}
	}
	/* Closing the private file drops every lock taken through it. */
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	r->lock_fd = -1;
	pthread_mutex_unlock(&proc_lock);
}
