// SPDX-License-Identifier: MIT
/*
 * Pollable fds (DESIGN.md §2 "Event loops", §5): shmring_fd() gives an fd that
 * becomes readable when the handle's next try_pop (consumer) or try_push
 * (producer) would succeed. Convention of a non-blocking socket: when epoll
 * says readable, call try_* until EAGAIN; that EAGAIN re-arms the fd.
 *
 * Arming is the waiter's half of the eventcount protocol (wait.c): announce
 * (W1, W2), re-check (W3), and if nothing can be done, start a wait on the
 * futex word with the announced value (W4) that completes when a publisher
 * clears the announce bit and wakes, or at once if the word already changed.
 * So a publish after the re-check always ends the wait: no lost wakeup. A
 * completed wait makes the fd readable until the next EAGAIN; one that ends
 * because of another consumer's progress is the one spurious wake an arm can
 * cost.
 *
 * Backends, chosen at run time (opts.fd_backend, else SHMRING_FD_BACKEND in
 * the environment: "uring" or "thread", else the first that works):
 *  - io_uring: an IORING_OP_FUTEX_WAIT (Linux >= 6.7) on the ring's futex
 *    word, in an io_uring with deferred task work whose registered eventfd
 *    is the pollable fd (uring_make says why). No thread, no daemon, works
 *    between processes that share only the ring's name (shared futexes key
 *    on the page).
 *  - thread: an eventfd written by a per-handle thread that blocks in
 *    futex_wait on the word. For kernels without io_uring futex ops,
 *    kernel.io_uring_disabled, or seccomp filters that block io_uring.
 * Only handles that ask for an fd pay for one; rings without it keep zero
 * syscalls while nobody sleeps.
 */
#include "ring.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#if CONFIG_IO_URING
#include <liburing.h>
#endif

/* Debian's headers predate these (Linux 6.7 io_uring futex ops, futex2). */
#ifndef IORING_OP_FUTEX_WAIT
#define IORING_OP_FUTEX_WAIT 51
#endif
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif
#ifndef FUTEX_BITSET_MATCH_ANY
#define FUTEX_BITSET_MATCH_ANY 0xffffffff
#endif

struct shmring__waitfd {
	int backend; /* SHMRING_FD_URING or SHMRING_FD_THREAD */
	int fd;	     /* what the caller polls */
	struct shmring__ec *ec;
#if CONFIG_IO_URING
	struct io_uring uring;
	int efd;     /* registered eventfd, the pollable fd (DEFER_TASKRUN), or -1 */
	pid_t owner; /* the thread that made the ring (SINGLE_ISSUER) */
	/* SQEs queued and not yet completed (reaped), whether or not the
	 * kernel took them yet: a submit that fails leaves them queued, and
	 * the next arm submits them again instead of queueing more. */
	unsigned int inflight;
	struct __kernel_timespec slice; /* link timeout of a sliced wait */
#endif
	pthread_t thread;
	_Atomic uint32_t cmd;	   /* thread: arm count << 1 | stop (a private futex) */
	_Atomic uint32_t expected; /* thread: the value of ec->seq to wait on */
	_Atomic uint64_t slice_ns; /* thread: give up waiting after this (0: never) */
	_Atomic bool busy;	   /* thread: waiting, or about to, on ec->seq */
};

/* ---- io_uring -------------------------------------------------------------- */

#if CONFIG_IO_URING
/* The calling thread's id, cached: a SINGLE_ISSUER ring belongs to the
 * thread that made it. Cleared in a forked child (roles.c). */
__thread pid_t shmring__tls_tid;

static pid_t my_tid(void)
{
	if (!shmring__tls_tid)
		shmring__tls_tid = (pid_t)syscall(SYS_gettid);
	return shmring__tls_tid;
}

/* Makes the ring. Preferred: IORING_SETUP_DEFER_TASKRUN | SINGLE_ISSUER,
 * with an eventfd registered as the pollable fd. The default set-up runs
 * completion work through a signal-like notification of our task, so
 * every wake made epoll_wait fail with EINTR; deferred task work runs only
 * when we ask (io_uring_get_events) and only rings the eventfd. The price:
 * only the thread that made the ring may submit to it, so an arm from
 * another thread makes a new ring (the eventfd, what the caller polls,
 * stays). Kernels without DEFER_TASKRUN (before 6.1): the ring's own fd is
 * the pollable fd, EINTR and all. */
static int uring_make(struct shmring__waitfd *w)
{
	int rc;

	if (w->efd >= 0) {
		rc = io_uring_queue_init(4, &w->uring,
					 IORING_SETUP_DEFER_TASKRUN |
						 IORING_SETUP_SINGLE_ISSUER);
		if (rc == 0) {
			rc = io_uring_register_eventfd(&w->uring, w->efd);
			if (rc == 0) {
				w->owner = my_tid();
				return 0;
			}
			io_uring_queue_exit(&w->uring);
		}
		if (rc != -EINVAL)
			return rc;
		close(w->efd); /* an older kernel: the plain set-up */
		w->efd = -1;
	}
	return io_uring_queue_init(4, &w->uring, 0);
}

static int uring_open(struct shmring__waitfd *w)
{
	struct io_uring_probe *probe;
	bool futex_ok;
	int rc;

	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0)
		return -errno;
	rc = uring_make(w);
	if (rc) {
		if (w->efd >= 0)
			close(w->efd);
		return rc; /* -ENOSYS, -EPERM (io_uring_disabled), ... */
	}
	probe = io_uring_get_probe_ring(&w->uring);
	futex_ok = probe && io_uring_opcode_supported(probe, IORING_OP_FUTEX_WAIT);
	io_uring_free_probe(probe);
	if (!futex_ok) {
		io_uring_queue_exit(&w->uring);
		if (w->efd >= 0)
			close(w->efd);
		return -ENOTSUP;
	}
	w->fd = w->efd >= 0 ? w->efd : w->uring.ring_fd;
	return 0;
}

static void uring_close(struct shmring__waitfd *w)
{
	/* Tearing the ring down cancels a pending futex wait (in a forked
	 * child: only the child's mapping and fds go). */
	io_uring_queue_exit(&w->uring);
	if (w->efd >= 0)
		close(w->efd);
}

/* A deferred ring is only this thread's if it made it: else a new one, made
 * here (the old one's wait is cancelled with it; the caller arms again). */
static int uring_adopt(struct shmring__waitfd *w)
{
	if (w->efd < 0 || w->owner == my_tid())
		return 0;
	io_uring_queue_exit(&w->uring);
	w->inflight = 0;
	return uring_make(w);
}

/* Reaps what completed; returns how many. */
static unsigned int uring_reap_cqes(struct shmring__waitfd *w)
{
	struct io_uring_cqe *cqe;
	unsigned int n = 0;

	while (io_uring_peek_cqe(&w->uring, &cqe) == 0) {
		io_uring_cqe_seen(&w->uring, cqe);
		w->inflight--;
		n++;
	}
	return n;
}

/* Takes in every completion and leaves the eventfd unread only if something
 * happened since. The eventfd is rung when task work is queued (a wake) and
 * again when io_uring_get_events posts its completion: drain, run the
 * deferred work, reap, and go round while that posted something (its ring
 * of the eventfd is ours), so that the last drain came after the last
 * completion we took in, and any later one rings it again. */
static void uring_reap(struct shmring__waitfd *w)
{
	uint64_t drained;

	if (w->efd < 0) {
		uring_reap_cqes(w);
		return;
	}
	do {
		if (read(w->efd, &drained, sizeof(drained)) < 0) {
			/* EAGAIN: nothing was signalled */
		}
		io_uring_get_events(&w->uring); /* run the deferred task work */
	} while (uring_reap_cqes(w));
}

/* Test hook (not exported from the shared library): while > 0, submits
 * fail with -EAGAIN as the kernel's may, each try taking one off. */
int shmring__debug_uring_refusals;

static int uring_submit(struct shmring__waitfd *w)
{
	int rc = 0;

	for (int tries = 0; tries < 100 && io_uring_sq_ready(&w->uring); tries++) {
		if (shmring__debug_uring_refusals > 0) {
			shmring__debug_uring_refusals--;
			rc = -EAGAIN;
			continue;
		}
		rc = io_uring_submit(&w->uring);
		if (rc >= 0)
			continue;
		if (rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			return rc;
		if (rc != -EINTR)
			sched_yield();
	}
	if (!io_uring_sq_ready(&w->uring))
		return 0;
	return rc == -EAGAIN || rc == -EBUSY ? -ENOMEM : rc < 0 ? rc : -ENOMEM;
}

/* Makes the fd readable when *word != expected (READY: at once; with a
 * SLICE, also after that many ns, through a linked timeout). */
static int uring_arm(struct shmring__waitfd *w, bool ready, uint64_t slice,
		     uint32_t expected)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->uring);

	if (!sqe)
		return -EBUSY; /* cannot happen: at most two SQEs are ever queued */
	if (ready) {
		io_uring_prep_nop(sqe);
		w->inflight++;
	} else {
		/* fd = futex2 flags (32-bit, shared), addr = word, addr2 = value,
		 * addr3 = bitset mask: liburing 2.3 has no prep helper. */
		io_uring_prep_rw(IORING_OP_FUTEX_WAIT, sqe, FUTEX2_SIZE_U32, &w->ec->seq,
				 0, expected);
		sqe->addr3 = FUTEX_BITSET_MATCH_ANY;
		w->inflight++;
		if (slice) {
			sqe->flags |= IOSQE_IO_LINK;
			w->slice = (struct __kernel_timespec){
				.tv_sec = (long long)(slice / 1000000000ull),
				.tv_nsec = (long long)(slice % 1000000000ull),
			};
			/* Both complete: the wait (maybe -ECANCELED), the timeout. */
			io_uring_prep_link_timeout(io_uring_get_sqe(&w->uring), &w->slice,
						   0);
			w->inflight++;
		}
	}
	return uring_submit(w);
}
#endif

/* ---- waiter thread --------------------------------------------------------- */

#define CMD_STOP 1u
#define CMD_ARM	 2u

static void *waiter_main(void *arg)
{
	struct shmring__waitfd *w = arg;
	uint32_t seen = 0;

	for (;;) {
		uint32_t cmd = atomic_load_explicit(&w->cmd, memory_order_acquire);
		uint64_t one = 1;

		if (cmd & CMD_STOP)
			return NULL;
		if (cmd == seen) {
			shmring__futex_wait(&w->cmd, cmd,
					    UINT64_MAX); /* idle until armed */
			continue;
		}
		seen = cmd;
		/* acquire on cmd (above) pairs with the release in thread_arm:
		 * expected and slice_ns are the values of this arm. A sliced
		 * arm gives up after its slice: the fd turns readable, the
		 * caller's try finds nothing and arms again (wait.c: the late
		 * wakeup that replaces a lost one). */
		uint64_t slice = atomic_load_explicit(&w->slice_ns, memory_order_relaxed);
		uint64_t deadline = slice ? shmring__now_ns() + slice : UINT64_MAX;

		while (shmring__futex_wait(
			       &w->ec->seq,
			       atomic_load_explicit(&w->expected, memory_order_relaxed),
			       deadline) == -EINTR)
			;
		/* Not busy before the eventfd write: an arm that sees busy
		 * false starts its own wait, so at worst the fd is readable
		 * once too often (one spurious wake), never too rarely. */
		atomic_store_explicit(&w->busy, false, memory_order_seq_cst);
		if (write(w->fd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow: we are its only writer. */
		}
	}
}

static int thread_open(struct shmring__waitfd *w)
{
	int rc;

	w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->fd < 0)
		return -errno;
	rc = pthread_create(&w->thread, NULL, waiter_main, w);
	if (rc) {
		close(w->fd);
		return -rc;
	}
	return 0;
}

static int thread_arm(struct shmring__waitfd *w, bool ready, uint64_t slice,
		      uint32_t expected)
{
	uint64_t one = 1;

	if (ready)
		return write(w->fd, &one, sizeof(one)) < 0 ? -errno : 0;
	atomic_store_explicit(&w->expected, expected, memory_order_relaxed);
	atomic_store_explicit(&w->slice_ns, slice, memory_order_relaxed);
	atomic_store_explicit(&w->busy, true, memory_order_relaxed);
	/* release: the thread reads expected after it sees the new cmd. */
	atomic_fetch_add_explicit(&w->cmd, CMD_ARM, memory_order_release);
	shmring__futex_wake_all(&w->cmd);
	return 0;
}

static void thread_close(struct shmring__waitfd *w)
{
	uint32_t v = atomic_load_explicit(&w->expected, memory_order_relaxed);

	atomic_fetch_or_explicit(&w->cmd, CMD_STOP, memory_order_release);
	shmring__futex_wake_all(&w->cmd);
	/* If the thread is about to wait on (or waits on) the ring's word,
	 * move the word on (counter + 1, the announce bit kept, which every
	 * other waiter reads as "look again") so that it returns. */
	if (atomic_load_explicit(&w->busy, memory_order_seq_cst))
		atomic_compare_exchange_strong(&w->ec->seq, &v, v + 2);
	shmring__futex_wake_all(&w->ec->seq);
	pthread_join(w->thread, NULL);
	close(w->fd);
}

/* ---- the fd ------------------------------------------------------------------ */

static int backend_wanted(const struct shmring *r)
{
	const char *env = getenv("SHMRING_FD_BACKEND");

	if (r->fd_backend != SHMRING_FD_AUTO)
		return r->fd_backend;
	if (env && !strcmp(env, "uring"))
		return SHMRING_FD_URING;
	if (env && !strcmp(env, "thread"))
		return SHMRING_FD_THREAD;
	return SHMRING_FD_AUTO;
}

/* Announce and re-check (W1-W3 of wait.c): whether progress is possible
 * now, the value to wait on, and how long a wait may last before it must
 * look again (0: until woken): the membarrier slice, or the repair interval
 * while a claim stands in the way (repair.c). */
static bool arm_check(struct shmring *r, uint32_t *expected, uint64_t *slice)
{
	uint64_t now = shmring__now_ns();
	bool ready;

	*expected = shmring__ec_announce(r, r->waitfd->ec);
	r->claim_wait = false;
	r->walk_cut = false;
	ready = shmring__can_progress(r) || r->walk_cut; /* cut short: try again */
	*slice = shmring__wait_until(r, now, UINT64_MAX) - now;
	if (*slice == UINT64_MAX - now)
		*slice = 0;
	return ready;
}

/* Drains readiness and, unless a wait is still pending, arms a new one. */
static int waitfd_arm(struct shmring *r)
{
	struct shmring__waitfd *w = r->waitfd;
	uint32_t expected;
	uint64_t slice;
	bool ready;

#if CONFIG_IO_URING
	if (w->backend == SHMRING_FD_URING) {
		int rc = uring_adopt(w);

		if (rc)
			return rc;
		uring_reap(w);
		if (w->inflight) /* still waiting; or queued, not taken yet */
			return io_uring_sq_ready(&w->uring) ? uring_submit(w) : 0;
		ready = arm_check(r, &expected, &slice);
		return uring_arm(w, ready, slice, expected);
	}
#endif
	uint64_t drained;

	if (read(w->fd, &drained, sizeof(drained)) < 0 && errno != EAGAIN)
		return -errno;
	if (atomic_load_explicit(&w->busy, memory_order_seq_cst))
		return 0; /* the thread still waits: it writes the fd on a publish */
	ready = arm_check(r, &expected, &slice);
	return thread_arm(w, ready, slice, expected);
}

int shmring__waitfd_rearm(struct shmring *r)
{
	return waitfd_arm(r);
}

int shmring_fd(struct shmring *r)
{
	struct shmring__waitfd *w;
	int want, rc = -ENOTSUP;

	if (!r)
		return shmring__err(EINVAL);
	if (r->kind == K_FORKED)
		return shmring__err(EBADF);
	if (r->waitfd)
		return r->waitfd->fd;
	w = calloc(1, sizeof(*w));
	if (!w)
		return shmring__err(ENOMEM);
	w->ec = shmring__my_ec(r);
	want = backend_wanted(r);
#if CONFIG_IO_URING
	if (want != SHMRING_FD_THREAD) {
		rc = uring_open(w);
		w->backend = SHMRING_FD_URING;
	}
#endif
	if (rc && want != SHMRING_FD_URING) {
		rc = thread_open(w);
		w->backend = SHMRING_FD_THREAD;
	}
	if (rc) {
		free(w);
		return shmring__err(-rc);
	}
	r->waitfd = w;
	rc = waitfd_arm(r);
	if (rc) {
		shmring__waitfd_close(r);
		return shmring__err(-rc);
	}
	return w->fd;
}

int shmring_fd_backend(const struct shmring *r)
{
	if (!r || !r->waitfd)
		return shmring__err(EINVAL);
	return r->waitfd->backend;
}

void shmring__waitfd_close(struct shmring *r)
{
	struct shmring__waitfd *w = r->waitfd;

	if (!w)
		return;
#if CONFIG_IO_URING
	if (w->backend == SHMRING_FD_URING)
		uring_close(w);
#endif
	if (w->backend == SHMRING_FD_THREAD && getpid() == r->pid)
		thread_close(w);
	else if (w->backend == SHMRING_FD_THREAD)
		close(w->fd); /* a forked child has the fd but not the thread */
	free(w);
	r->waitfd = NULL;
}
