/* SPDX-License-Identifier: MIT */
/*
 * shmring: lock-free ring buffers in mmap'd memory (anonymous or POSIX shared)
 * for fixed-size messages between threads and processes.
 *
 * Conventions (the whole library follows them):
 *  - Control-plane calls return 0 (or a count) on success and -1 (or NULL) on
 *    failure with errno set. Each function's comment lists its errno values.
 *  - The data path never touches errno on success.
 *  - Options structs start with `size_t sz` (use SHMRING_OPTS) so they can
 *    grow without breaking the ABI; NULL means "all defaults".
 *
 * Thread safety. Every comment below says which calls may run at once:
 *  - "MT-safe": from any thread, at the same time as any call, on the same
 *    or other handles (except the close of the handle it uses).
 *  - "one thread per handle": calls on one handle (a ring, a memory segment,
 *    an endpoint's tx or rx ring) must not overlap; calls on different
 *    handles may, whatever ring or process they belong to. Several threads
 *    that produce (or consume) on one MPSC/MPMC ring each open a handle.
 *  - close calls: no other call on that handle during or after it.
 * A handle belongs to the process that opened it (see shmring_close).
 */
#ifndef SHMRING_H
#define SHMRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef SHMRING_API
#define SHMRING_API __attribute__((visibility("default")))
#endif

/* The version this program is compiled against. The Makefile reads these
 * three lines: they are the one place the version is written. */
#define SHMRING_VERSION_MAJOR 0
#define SHMRING_VERSION_MINOR 1
#define SHMRING_VERSION_PATCH 0

/* The version of the library the program runs with, which may be newer than
 * the macros (same major: compatible): "MAJOR.MINOR.PATCH", a static string,
 * and its parts. Never fail; safe from any thread. */
SHMRING_API const char *shmring_version(void);
SHMRING_API int shmring_version_major(void);
SHMRING_API int shmring_version_minor(void);
SHMRING_API int shmring_version_patch(void);

/* ------------------------------------------------------------------------ */
/* Options                                                                  */
/* ------------------------------------------------------------------------ */

/* Bits of shmring_opts.flags. */
enum {
	SHMRING_F_HUGE = 1u << 0,   /* shm: place the segment on a mounted hugetlbfs */
	SHMRING_F_NOHUGE = 1u << 1, /* local: do not try MAP_HUGETLB first */
	SHMRING_F_MLOCK = 1u << 2,  /* lock the segment in RAM; open fails if it can't */
	SHMRING_F_NUMA = 1u << 3,   /* bind the segment to opts.numa_node */
	SHMRING_F_EINTR = 1u << 4,  /* blocking calls return EINTR when a signal
				       handler ran while they slept */
};

/* Backends for the pollable fd (shmring_fd); see DESIGN.md §5. */
enum shmring_fd_backend {
	SHMRING_FD_AUTO = 0, /* io_uring futex wait when the kernel has it, else thread */
	SHMRING_FD_URING,    /* io_uring FUTEX_WAIT (Linux >= 6.7); fails if missing */
	SHMRING_FD_THREAD,   /* eventfd fed by a waiter thread */
};

/* How long blocking calls spin before they sleep when opts.spin_ns is 0. */
#define SHMRING_DEFAULT_SPIN_NS 20000L

struct shmring_opts {
	size_t sz;	       /* sizeof(struct shmring_opts) as the caller knows it */
	unsigned int flags;    /* SHMRING_F_* */
	mode_t mode;	       /* permissions of a new shm segment; 0 means 0600
				  (mode_t is unsigned int on Linux: same ABI) */
	int numa_node;	       /* node for SHMRING_F_NUMA */
	int fd_backend;	       /* enum shmring_fd_backend */
	long spin_ns;	       /* blocking calls spin this long before sleeping;
			 0 = default (see SHMRING_DEFAULT_SPIN_NS), < 0 = never */
	const char *hugetlbfs; /* hugetlbfs mount for SHMRING_F_HUGE; NULL = first in
				  /proc/mounts */
	uid_t trusted_uid;     /* also use existing segments this user owns (a
				  deliberate cross-user setup); 0: only those
				  of the caller's effective uid and of root */
};

/* Declare and zero an options struct with its size filled in:
 *   SHMRING_OPTS(o, .flags = SHMRING_F_MLOCK);  */
#define SHMRING_OPTS(name, ...) \
	struct shmring_opts name = { .sz = sizeof(struct shmring_opts), __VA_ARGS__ }

/* ------------------------------------------------------------------------ */
/* Memory (Join LocalMem / ShmMem)                                          */
/* ------------------------------------------------------------------------ */

struct shmring_mem;

/* Anonymous private memory, visible to this process only (a forked child gets
 * a copy-on-write copy, not a shared view). Tries huge pages first and falls
 * back to normal pages silently. The size rounds up to the page.
 * errno: EINVAL (size 0 or too large to round), ENOMEM. MT-safe. */
SHMRING_API struct shmring_mem *shmring_mem_local(size_t size);
SHMRING_API struct shmring_mem *shmring_mem_local_opts(size_t size,
						       const struct shmring_opts *opts);

/* POSIX shared memory: opens NAME if it exists (and checks its size), else
 * creates it (mode 0600 unless opts say otherwise), zero-filled. NAME may start
 * with '/'; it must not contain another '/'. Two processes that create the same
 * name at once both succeed and map the same segment.
 * errno: EINVAL (NULL/empty/bad name, size 0, or size differs from the existing
 * segment's), ENAMETOOLONG, EACCES, ENOMEM, as shm_open/mmap report. MT-safe,
 * also when threads open one name at once. */
SHMRING_API struct shmring_mem *shmring_mem_shm(const char *name, size_t size);
SHMRING_API struct shmring_mem *shmring_mem_shm_opts(const char *name, size_t size,
						     const struct shmring_opts *opts);

/* Pointer to OFFSET bytes into the segment.
 * errno: EINVAL (NULL mem), ERANGE (offset >= size).
 * get, size, huge, mbind and mlock are MT-safe: they do not change the handle. */
SHMRING_API void *shmring_mem_get(struct shmring_mem *mem, size_t offset);
/* Mapped size: the requested size rounded up to the (huge) page. 0 for NULL. */
SHMRING_API size_t shmring_mem_size(const struct shmring_mem *mem);
/* True when the segment is backed by huge pages. */
SHMRING_API bool shmring_mem_huge(const struct shmring_mem *mem);
/* Bind the segment's pages to NUMA node NODE (moving pages already touched).
 * errno: EINVAL (NULL mem, negative or missing node), ENOTSUP (built without
 * CONFIG_NUMA or no NUMA support in the kernel), as mbind(2) reports. */
SHMRING_API int shmring_mem_mbind(struct shmring_mem *mem, int node);
/* Lock the segment in RAM. errno: EINVAL, ENOMEM/EPERM/EAGAIN as mlock(2)
 * reports (beyond RLIMIT_MEMLOCK without CAP_IPC_LOCK); the segment stays
 * usable after a failure. */
SHMRING_API int shmring_mem_mlock(struct shmring_mem *mem);
/* Unmap and free the handle. Never unlinks a shared segment. NULL is a no-op.
 * Rings attached to the segment must be closed first. */
SHMRING_API void shmring_mem_close(struct shmring_mem *mem);
/* Remove NAME (from /dev/shm and from a mounted hugetlbfs). Returns 0 when it
 * did not exist. errno: EINVAL, ENAMETOOLONG, EACCES. MT-safe. */
SHMRING_API int shmring_mem_unlink(const char *name);

/* The same operations on any address range (ADDR page-aligned). MT-safe. */
SHMRING_API int shmring_mbind(void *addr, size_t size, int node);
SHMRING_API int shmring_mlock(void *addr, size_t size);

/* ------------------------------------------------------------------------ */
/* Rings (Join Spsc/Mpsc/Mpmc ::Producer / ::Consumer)                      */
/* ------------------------------------------------------------------------ */

enum shmring_policy {
	SHMRING_SPSC = 1, /* one producer, one consumer */
	SHMRING_MPSC,	  /* many producers, one consumer */
	SHMRING_MPMC,	  /* many producers, many consumers */
};

enum shmring_role { SHMRING_PRODUCER = 1, SHMRING_CONSUMER };

#define SHMRING_DEFAULT_ELEM_SIZE 1472
#define SHMRING_DEFAULT_CAPACITY  144

struct shmring;

/* Open the producer or consumer side of the ring NAME, creating the shared
 * segment if it does not exist. CAPACITY is exact (any value >= 1): the ring
 * is full after exactly CAPACITY pushes. Racing creators both succeed.
 * errno: EINVAL (NULL/bad name, zero or overflowing size, a policy, element
 * size or capacity that differs from the existing ring's), EBUSY (the role is
 * held by a live process: a second SPSC producer, a second SPSC/MPSC
 * consumer; a role whose holder died is taken over), EPROTO (NAME is not a
 * shmring segment of this version, or its header contradicts the file),
 * ENAMETOOLONG, EACCES, ENOMEM. MT-safe, also when threads open one ring at
 * once: each call returns a handle of its own. */
SHMRING_API struct shmring *shmring_producer(enum shmring_policy policy, const char *name,
					     size_t elem_size, size_t capacity,
					     const struct shmring_opts *opts);
SHMRING_API struct shmring *shmring_consumer(enum shmring_policy policy, const char *name,
					     size_t elem_size, size_t capacity,
					     const struct shmring_opts *opts);

/* Bytes a ring needs inside caller memory (header page, slots, guard line).
 * Returns 0 with errno EINVAL for a bad policy, zero or overflowing sizes.
 * MT-safe. */
SHMRING_API size_t shmring_memsize(enum shmring_policy policy, size_t elem_size,
				   size_t capacity);
/* Place a ring at OFFSET (a multiple of 128) in any segment, local (threads)
 * or shared (processes). The first attach initialises it.
 * errno: as shmring_producer, and EINVAL if the ring does not fit. MT-safe,
 * also when threads attach one ring at once. */
SHMRING_API struct shmring *shmring_attach(struct shmring_mem *mem, size_t offset,
					   enum shmring_policy policy,
					   enum shmring_role role, size_t elem_size,
					   size_t capacity,
					   const struct shmring_opts *opts);
/* Release the role and unmap. Never unlinks. NULL is a no-op. An outstanding
 * reservation or peek is given back. A handle belongs to the process that
 * opened it: in a forked child, data calls on an inherited handle fail with
 * EBADF; close it there (this unmaps without touching the parent's role) and
 * open new ones. No other call on RING may run during or after it. */
SHMRING_API void shmring_close(struct shmring *ring);
/* Remove NAME. 0 if it did not exist. errno: EINVAL, ENAMETOOLONG, EACCES.
 * MT-safe. Handles open on NAME keep working on the removed segment. */
SHMRING_API int shmring_unlink(const char *name);

/* Data path. Elements are exactly the ring's elem_size bytes, copied in and
 * out. errno on failure (never touched on success):
 *   EAGAIN    try_*: full (push) or empty (pop)
 *   ETIMEDOUT timed_*: TIMEOUT_NS (relative, CLOCK_MONOTONIC) passed; a
 *             TIMEOUT_NS of 0 gives it whenever the call cannot complete at
 *             once (a try_* that reports ETIMEDOUT instead of EAGAIN)
 *   EINVAL    NULL argument, or a push on a consumer (pop on a producer)
 *   EPROTO    the shared segment was overwritten with inconsistent indices
 * Blocking calls spin for opts.spin_ns, then sleep on a futex; they restart
 * after signals. One thread per handle: several threads push (pop) on one
 * MPSC/MPMC ring at once through a handle each. */
SHMRING_API int shmring_try_push(struct shmring *ring, const void *elem);
SHMRING_API int shmring_push(struct shmring *ring, const void *elem);
SHMRING_API int shmring_timed_push(struct shmring *ring, const void *elem,
				   uint64_t timeout_ns);
SHMRING_API int shmring_try_pop(struct shmring *ring, void *elem);
SHMRING_API int shmring_pop(struct shmring *ring, void *elem);
SHMRING_API int shmring_timed_pop(struct shmring *ring, void *elem, uint64_t timeout_ns);

/* Move up to N elements (packed, elem_size apart) without blocking. Returns
 * how many moved (0 when full or empty), or -1 with EINVAL / EPROTO.
 * One thread per handle. */
SHMRING_API ssize_t shmring_push_burst(struct shmring *ring, const void *elems, size_t n);
SHMRING_API ssize_t shmring_pop_burst(struct shmring *ring, void *elems, size_t n);

/* Zero-copy: elements lent in place, in the ring's own memory.
 *
 * shmring_reserve (producers) borrows up to N consecutive free slots (a run
 * ends where the ring wraps): returns how many (0 when full; the fd re-arms
 * as after EAGAIN), the first element in *FIRST and the bytes from one
 * element to the next in *STRIDE. Write them, then shmring_commit publishes
 * the first N of them, in order; the rest of the reservation is given back
 * (consumers never see it). shmring_commit(ring, 0) gives it all back.
 *
 * shmring_peek (consumers) borrows up to N consecutive ready elements in
 * place (0 when empty); shmring_release frees the first N of them and leaves
 * the rest in the ring.
 *
 * One outstanding reservation or peek per handle: any other data call on the
 * handle meanwhile fails with EBUSY. A process that dies holding a
 * reservation of an MPSC/MPMC ring has it repaired (the slots are skipped:
 * see shmring_info.abandoned); one that dies holding a peek leaves the
 * elements to the next consumer (delivered again).
 * errno: EINVAL (NULL argument, N of 0, the wrong role; commit/release of
 * more than was borrowed, or with nothing borrowed), EBUSY, EBADF (a handle
 * inherited over fork), EPROTO. */
SHMRING_API ssize_t shmring_reserve(struct shmring *ring, size_t n, void **first,
				    size_t *stride);
SHMRING_API int shmring_commit(struct shmring *ring, size_t n);
SHMRING_API ssize_t shmring_peek(struct shmring *ring, size_t n, void **first,
				 size_t *stride);
SHMRING_API int shmring_release(struct shmring *ring, size_t n);

/* Makes blocking calls on RING (push, pop, timed_*, shmring_wait) return -1
 * with ECANCELED, those sleeping now included, and every one made after it:
 * the way to stop a thread blocked in shmring_pop for shutdown. Try calls and
 * zero-copy calls are not affected. Async-signal-safe: it may be called from
 * a SIGTERM handler. 0, or -1 with EINVAL. (For a signal that should end
 * just the sleep it interrupts, open the handle with SHMRING_F_EINTR; a
 * signal that arrives while the call still spins, before it sleeps, is not
 * seen by it: shmring_cancel has no such window.) */
SHMRING_API int shmring_cancel(struct shmring *ring);

/* Blocks until this handle's next try call, reserve or peek can succeed:
 * 0, or -1 with ETIMEDOUT (TIMEOUT_NS passed; UINT64_MAX: never), EBUSY
 * (a borrow is outstanding), EBADF, EINVAL. It may return 0 without
 * progress now and then (another consumer or producer was faster): callers
 * retry, as with any wakeup. */
SHMRING_API int shmring_wait(struct shmring *ring, uint64_t timeout_ns);

/* The ring position of the first element of the outstanding reservation or
 * peek (the others follow consecutively), else of the next element this
 * handle would use (MPMC, MPSC producers: a hint). Positions count from 0
 * when the ring was made and never repeat within one ring instance
 * (shmring_info.instance): with it, an element's identity. */
SHMRING_API uint64_t shmring_position(const struct shmring *ring);

/* State, as of the call (other processes move it on). For MPSC/MPMC, pending
 * counts positions producers have claimed, including any still being
 * written. A NULL ring gives 0 (empty: true, full: false) and EINVAL.
 * MT-safe: they read shared indices and the handle's fixed geometry. */
SHMRING_API size_t shmring_available(const struct shmring *ring); /* free slots */
SHMRING_API size_t shmring_pending(const struct shmring *ring);	  /* queued items */
SHMRING_API bool shmring_full(const struct shmring *ring);
SHMRING_API bool shmring_empty(const struct shmring *ring);
SHMRING_API size_t shmring_capacity(const struct shmring *ring);
SHMRING_API size_t shmring_elem_size(const struct shmring *ring);

/* ------------------------------------------------------------------------ */
/* Event loops                                                               */
/* ------------------------------------------------------------------------ */

/* A pollable fd for the handle, owned by it (closed by shmring_close; do not
 * close it yourself). It is readable (EPOLLIN) when the next try_pop
 * (consumer) or try_push (producer) would succeed. Convention of a
 * non-blocking socket: when it is readable, call try_pop / try_push (or the
 * bursts) until EAGAIN; that EAGAIN re-arms the fd. No wakeup is lost; at most
 * one spurious wake per arm (another consumer took the element first). Works
 * between unrelated processes that share only the ring's name.
 * Backend (opts.fd_backend, or SHMRING_FD_BACKEND=uring|thread in the
 * environment; default: the first that works): io_uring FUTEX_WAIT on the
 * ring's futex word (Linux >= 6.7; the fd is an eventfd the io_uring rings
 * when the wait completes, with deferred task work, so waking does not
 * interrupt the caller's epoll_wait; before Linux 6.1 the io_uring fd itself,
 * and epoll_wait may then return EINTR: retry), or an eventfd fed by a waiter
 * thread. Calling it again returns the same fd. A handle whose fd is armed
 * from one thread and then another costs a new io_uring each time the
 * thread changes (the fd stays the same).
 * errno: EINVAL, ENOTSUP (the backend asked for is missing), EMFILE, ENOMEM,
 * EPERM (io_uring forced but disabled). One thread per handle (the first
 * call creates the fd; the data calls re-arm it). */
SHMRING_API int shmring_fd(struct shmring *ring);
/* The backend behind shmring_fd: SHMRING_FD_URING or SHMRING_FD_THREAD, or
 * -1 with EINVAL if the handle has no fd. One thread per handle. */
SHMRING_API int shmring_fd_backend(const struct shmring *ring);

/* Results of shmring_arm. */
enum {
	SHMRING_ARM_WAIT = 0,  /* sleep until *word != expected */
	SHMRING_ARM_READY = 1, /* progress is possible now: do not sleep */
	SHMRING_ARM_POLL = 2,  /* as WAIT, but for at most SHMRING_ARM_POLL_NS */
};
#define SHMRING_ARM_POLL_NS 1000000

/* For event loops that wait on futexes themselves (io_uring FUTEX_WAIT,
 * futex_waitv): announces a waiter and says what to wait on, the shared
 * 32-bit futex word *WORD and the value *EXPECTED it holds now. Returns
 * SHMRING_ARM_READY, SHMRING_ARM_WAIT, or SHMRING_ARM_POLL (this process
 * cannot issue membarrier, e.g. under a seccomp filter, while some publisher
 * of the ring skips its fence: a wakeup may come late, so wake up every
 * SHMRING_ARM_POLL_NS to look), or -1 with EINVAL. Any wakeup means "try
 * again". include/shmring/uring.h wraps it as shmring_prep_wait().
 * One thread per handle. */
SHMRING_API int shmring_arm(struct shmring *ring, const uint32_t **word,
			    uint32_t *expected);

/* ------------------------------------------------------------------------ */
/* Endpoints (Join Endpoint): two rings, NAME_AB and NAME_BA                */
/* ------------------------------------------------------------------------ */

enum shmring_side { SHMRING_SIDE_A = 1, SHMRING_SIDE_B };

struct shmring_endpoint;

/* Side A produces on NAME_AB and consumes NAME_BA; side B the reverse.
 * errno: as shmring_producer (EBUSY when the side is already open for SPSC
 * and MPSC), ENAMETOOLONG if NAME_AB does not fit NAME_MAX. MT-safe.
 * An endpoint is two handles: the send calls and endpoint_available use its
 * tx ring, the receive calls, endpoint_pending and endpoint_fd its rx ring,
 * and the handle rules hold for each, so one thread may send while another
 * receives. endpoint_close closes both. */
SHMRING_API struct shmring_endpoint *
shmring_endpoint_open(enum shmring_policy policy, enum shmring_side side,
		      const char *name, size_t elem_size, size_t capacity,
		      const struct shmring_opts *opts);
SHMRING_API int shmring_send(struct shmring_endpoint *ep, const void *msg);
SHMRING_API int shmring_try_send(struct shmring_endpoint *ep, const void *msg);
SHMRING_API int shmring_timed_send(struct shmring_endpoint *ep, const void *msg,
				   uint64_t timeout_ns);
SHMRING_API int shmring_receive(struct shmring_endpoint *ep, void *msg);
SHMRING_API int shmring_try_receive(struct shmring_endpoint *ep, void *msg);
SHMRING_API int shmring_timed_receive(struct shmring_endpoint *ep, void *msg,
				      uint64_t timeout_ns);
SHMRING_API size_t
shmring_endpoint_available(const struct shmring_endpoint *ep); /* can send */
SHMRING_API size_t
shmring_endpoint_pending(const struct shmring_endpoint *ep); /* can receive */
/* The receive ring's fd: readable when shmring_try_receive would succeed
 * (see shmring_fd). */
SHMRING_API int shmring_endpoint_fd(struct shmring_endpoint *ep);
/* The two rings, for the state calls and anything else that takes a ring. */
SHMRING_API struct shmring *shmring_endpoint_tx(struct shmring_endpoint *ep);
SHMRING_API struct shmring *shmring_endpoint_rx(struct shmring_endpoint *ep);
SHMRING_API void shmring_endpoint_close(struct shmring_endpoint *ep);
/* Removes NAME_AB and NAME_BA; 0 if they did not exist. MT-safe. */
SHMRING_API int shmring_endpoint_unlink(const char *name);

/* ------------------------------------------------------------------------ */
/* Inspection: what `shmring ls` and `shmring stat` show                    */
/* ------------------------------------------------------------------------ */

#define SHMRING_INFO_HOLDERS 15 /* registry entries per role in the segment */

/* A process that holds a role on a ring. */
struct shmring_holder {
	pid_t pid;
	bool alive; /* still holds its role (its process lives) */
};

/* A snapshot of a ring's header. Counters are as of the read: processes
 * using the ring move them on meanwhile. Grows at the end; set sz (use
 * SHMRING_INFO) so an older caller gets the fields it knows. */
struct shmring_info {
	size_t sz; /* sizeof(struct shmring_info) as the caller knows it */
	enum shmring_policy policy;
	size_t elem_size;
	size_t capacity;
	size_t pending;	     /* occupancy: queued items, as shmring_pending() */
	size_t segment_size; /* bytes of the shared segment */
	uint64_t pushed;     /* positions producers claimed since creation */
	uint64_t popped;     /* positions consumers took since creation */
	unsigned int producers_waiting; /* asleep on a full ring now */
	unsigned int consumers_waiting; /* asleep on an empty ring now */
	uint64_t producer_sleeps;	/* times a producer went to sleep, ever */
	uint64_t consumer_sleeps;
	uint64_t producer_wakes; /* futex wakes consumers made for producers */
	uint64_t consumer_wakes; /* futex wakes producers made for consumers */
	uint64_t opens;		 /* handles opened on the ring, ever */
	/* Registered holders (a dead one keeps its entry until someone takes
	 * it over); *_extra counts live holders beyond the table (MPSC/MPMC). */
	unsigned int nproducers, nconsumers;
	uint64_t producers_extra, consumers_extra;
	struct shmring_holder producers[SHMRING_INFO_HOLDERS];
	struct shmring_holder consumers[SHMRING_INFO_HOLDERS];
	/* Slots repaired after their claimer died (a producer between claim
	 * and publish, an MPMC consumer between take and free), ever. */
	uint64_t abandoned;
	/* Random, chosen when the ring was initialised: a ring removed and
	 * made again under the same name has another. */
	uint64_t instance;
};

#define SHMRING_INFO(name) \
	struct shmring_info name = { .sz = sizeof(struct shmring_info) }

/* Reads the header of the ring NAME (in /dev/shm or on a hugetlbfs mount)
 * into OUT, without opening a role and with read permission only. Any file
 * is safe to pass: the header is validated as the library does at open.
 * Fills the fields OUT->sz covers and sets OUT->sz to the bytes filled.
 * errno: EINVAL (NULL/bad name, NULL out, out->sz unset: < sizeof(size_t)),
 * ENAMETOOLONG, ENOENT, EACCES, EPROTO (not a shmring ring of this version,
 * not initialised yet, or a header that contradicts the file), as open(2)
 * and pread(2) report. MT-safe. */
SHMRING_API int shmring_stat(const char *name, struct shmring_info *out);

#ifdef __cplusplus
}
#endif
#endif /* SHMRING_H */
