// SPDX-License-Identifier: MIT
/* Pollable fds and io_uring waits: unrelated processes, both backends, a
 * stress through an epoll loop, the arm/drain race, and shmring_prep_wait. */
#include "procutil.h"
#include "msg.h"
#include "ring.h"

#include <limits.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#if CONFIG_IO_URING
#include <shmring/uring.h>
#endif

#define ELEM 64

static const char *const backend_names[] = { "auto", "uring", "thread" };

/* Skips (with the reason) when BACKEND cannot work here. */
static void need_backend(int backend)
{
	TEST_NAME(name, "probe");
	SHMRING_OPTS(o, .fd_backend = backend);
	struct shmring *r = shmring_consumer(SHMRING_SPSC, name, 8, 2, &o);
	int fd;

	cr_assert_not_null(r);
	fd = shmring_fd(r);
	shmring_close(r);
	shmring_unlink(name);
	if (fd < 0 && backend == SHMRING_FD_URING)
		cr_skip_test(
			"io_uring FUTEX_WAIT unavailable here (%s): needs Linux >= 6.7 "
			"and io_uring enabled",
			strerror(errno));
	cr_assert_geq(fd, 0, "%s backend: %s", backend_names[backend], strerror(errno));
}

static struct shmring *open_with_fd(int role, enum shmring_policy pol, const char *name,
				    size_t cap, int backend, int *fd)
{
	SHMRING_OPTS(o, .fd_backend = backend);
	struct shmring *r = role == SHMRING_CONSUMER ?
				    shmring_consumer(pol, name, ELEM, cap, &o) :
				    shmring_producer(pol, name, ELEM, cap, &o);

	cr_assert_not_null(r, "%s", strerror(errno));
	*fd = shmring_fd(r);
	cr_assert_geq(*fd, 0, "shmring_fd: %s", strerror(errno));
	cr_assert_eq(shmring_fd_backend(r), backend);
	cr_assert_eq(shmring_fd(r), *fd, "a second call returns the same fd");
	return r;
}

static int epoll_for(int fd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };

	cr_assert_geq(ep, 0);
	cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	return ep;
}

/* epoll_wait that retries EINTR (io_uring task work can cause it). */
static int wait_readable(int ep, int timeout_ms)
{
	struct epoll_event ev;
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000;
	int n;

	do {
		int left = (int)((int64_t)(deadline - now_ns()) / 1000000);

		n = epoll_wait(ep, &ev, 1, left < 0 ? 0 : left);
	} while (n < 0 && errno == EINTR);
	cr_assert_geq(n, 0, "epoll_wait: %s", strerror(errno));
	return n;
}

/* Runs tests/ring_helper (a separate program) with ARGS. */
static pid_t spawn_helper(const char *verb, enum shmring_policy pol, const char *name,
			  size_t cap, long count, long delay_us)
{
	char helper[PATH_MAX], a[5][32];
	pid_t pid;

	build_path(helper, sizeof(helper), "tests/ring_helper");
	snprintf(a[0], sizeof(a[0]), "%d", (int)pol);
	snprintf(a[1], sizeof(a[1]), "%d", ELEM);
	snprintf(a[2], sizeof(a[2]), "%zu", cap);
	snprintf(a[3], sizeof(a[3]), "%ld", count);
	snprintf(a[4], sizeof(a[4]), "%ld", delay_us);
	pid = test_fork();
	if (pid == 0) {
		execl(helper, helper, verb, a[0], name, a[1], a[2], a[3], a[4],
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* ---- unrelated processes ------------------------------------------------------ */

static void consumer_woken_by_other_program(int backend)
{
	TEST_NAME(name, "fdcons");
	unsigned char m[ELEM];
	uint32_t prod;
	uint64_t seq;
	int fd, ep;

	need_backend(backend);
	struct shmring *r =
		open_with_fd(SHMRING_CONSUMER, SHMRING_SPSC, name, 8, backend, &fd);
	ep = epoll_for(fd);
	cr_expect_eq(wait_readable(ep, 0), 0, "readable while empty");
	pid_t pid = spawn_helper("push", SHMRING_SPSC, name, 8, 1, 100000);
	cr_assert_eq(wait_readable(ep, 5000), 1, "not woken by the push");
	cr_assert_eq(shmring_try_pop(r, m), 0);
	cr_expect_eq(msg_check(m, ELEM, &prod, &seq), 0);
	cr_expect_eq(prod, 7);
	errno = 0;
	cr_assert_eq(shmring_try_pop(r, m), -1);
	cr_assert_eq(errno, EAGAIN); /* re-arms */
	cr_expect_eq(wait_readable(ep, 100), 0, "readable again with nothing pushed");
	cr_expect_eq(wait_child(pid), 0);
	close(ep);
	shmring_close(r);
	shmring_unlink(name);
}

Test(fd, uring_consumer_woken_by_an_unrelated_process, .timeout = 30)
{
	consumer_woken_by_other_program(SHMRING_FD_URING);
}

Test(fd, thread_consumer_woken_by_an_unrelated_process, .timeout = 30)
{
	consumer_woken_by_other_program(SHMRING_FD_THREAD);
}

static void producer_woken_by_other_program(int backend)
{
	TEST_NAME(name, "fdprod");
	unsigned char m[ELEM];
	int fd, ep;

	need_backend(backend);
	struct shmring *r =
		open_with_fd(SHMRING_PRODUCER, SHMRING_MPMC, name, 4, backend, &fd);
	ep = epoll_for(fd);
	cr_expect_eq(wait_readable(ep, 1000), 1, "room in an empty ring: readable");
	for (uint64_t i = 0; i < 4; i++) {
		msg_fill(m, ELEM, 7, i);
		cr_assert_eq(shmring_try_push(r, m), 0);
	}
	msg_fill(m, ELEM, 7, 4);
	cr_assert_eq(shmring_try_push(r, m), -1); /* EAGAIN: re-arms */
	cr_expect_eq(wait_readable(ep, 100), 0, "readable while full");
	pid_t pid = spawn_helper("pop", SHMRING_MPMC, name, 4, 1, 100000);
	cr_assert_eq(wait_readable(ep, 5000), 1, "not woken by the pop");
	cr_expect_eq(shmring_try_push(r, m), 0);
	cr_expect_eq(wait_child(pid), 0);
	close(ep);
	shmring_close(r);
	shmring_unlink(name);
}

Test(fd, uring_producer_woken_when_an_unrelated_process_pops, .timeout = 30)
{
	producer_woken_by_other_program(SHMRING_FD_URING);
}

Test(fd, thread_producer_woken_when_an_unrelated_process_pops, .timeout = 30)
{
	producer_woken_by_other_program(SHMRING_FD_THREAD);
}

Test(fd, endpoint_fd_is_readable_when_the_peer_sends, .timeout = 30)
{
	TEST_NAME(name, "fdep");
	struct shmring_endpoint *a =
		shmring_endpoint_open(SHMRING_SPSC, SHMRING_SIDE_A, name, ELEM, 4, NULL);
	struct shmring_endpoint *b =
		shmring_endpoint_open(SHMRING_SPSC, SHMRING_SIDE_B, name, ELEM, 4, NULL);
	unsigned char m[ELEM] = "over";
	int ep;

	cr_assert(a && b);
	ep = epoll_for(shmring_endpoint_fd(b));
	cr_expect_eq(wait_readable(ep, 0), 0);
	cr_assert_eq(shmring_send(a, m), 0);
	cr_expect_eq(wait_readable(ep, 5000), 1);
	cr_expect_eq(shmring_try_receive(b, m), 0);
	cr_expect_str_eq((char *)m, "over");
	errno = 0;
	cr_expect_eq(shmring_fd_backend(shmring_endpoint_tx(a)), -1,
		     "no fd asked for on tx");
	cr_expect_eq(errno, EINVAL);
	close(ep);
	shmring_endpoint_close(a);
	shmring_endpoint_close(b);
	shmring_endpoint_unlink(name);
}

/* ---- stress through an epoll loop ----------------------------------------------- */

static int bursty_producer(const char *name, uint32_t id, uint64_t count)
{
	struct shmring *r = shmring_producer(SHMRING_MPSC, name, ELEM, 256, NULL);
	unsigned char m[32][ELEM];
	uint64_t rnd = id * 7919 + 1, seq = 0;

	if (!r)
		return 1;
	while (seq < count) {
		size_t n = 1 + (rnd = msg_mix(rnd)) % 32, done = 0;

		if (n > count - seq)
			n = (size_t)(count - seq);
		for (size_t i = 0; i < n; i++)
			msg_fill(m[i], ELEM, id, seq + i);
		while (done < n) {
			ssize_t k = shmring_push_burst(r, m[done], n - done);

			if (k < 0)
				return 2;
			done += (size_t)k;
			if (done < n &&
			    shmring_timed_push(r, m[done], 5000000000ull) == 0)
				done++;
		}
		seq += n;
		if (rnd % 64 == 0)
			usleep((useconds_t)(rnd >> 8) %
			       2000); /* a pause: the consumer sleeps */
	}
	shmring_close(r);
	return 0;
}

static void epoll_stress(int backend, uint64_t total)
{
	TEST_NAME(name, "fdstress");
	const uint32_t producers = 2;
	uint64_t per = total / producers, got = 0, next[2] = { 0, 0 }, wakes = 0;
	unsigned char m[64][ELEM];
	pid_t pids[2];
	int fd, ep;

	need_backend(backend);
	struct shmring *r =
		open_with_fd(SHMRING_CONSUMER, SHMRING_MPSC, name, 256, backend, &fd);
	ep = epoll_for(fd);
	for (uint32_t i = 0; i < producers; i++) {
		pids[i] = test_fork();
		if (pids[i] == 0)
			_exit(bursty_producer(name, i, per));
	}
	while (got < per * producers) {
		ssize_t n;

		cr_assert_eq(wait_readable(ep, 5000), 1,
			     "no wakeup for 5 s at %llu of %llu", (unsigned long long)got,
			     (unsigned long long)(per * producers));
		wakes++;
		while ((n = shmring_pop_burst(r, m, 64)) > 0) {
			for (ssize_t i = 0; i < n; i++) {
				uint32_t prod;
				uint64_t seq;

				cr_assert_eq(msg_check(m[i], ELEM, &prod, &seq), 0);
				cr_assert_lt(prod, producers);
				cr_assert_eq(seq, next[prod],
					     "producer %u: seq %llu, expected %llu", prod,
					     (unsigned long long)seq,
					     (unsigned long long)next[prod]);
				next[prod]++;
			}
			got += (uint64_t)n;
		}
		cr_assert_eq(n, 0, "pop_burst: %s", strerror(errno));
	}
	for (uint32_t i = 0; i < producers; i++)
		cr_expect_eq(wait_child(pids[i]), 0);
	cr_expect_gt(wakes, 1);
	close(ep);
	shmring_close(r);
	shmring_unlink(name);
}

Test(fd, uring_epoll_consumer_stress_1e6_messages_checked, .timeout = 300)
{
	epoll_stress(SHMRING_FD_URING, 1000000);
}

Test(fd, thread_epoll_consumer_stress_messages_checked, .timeout = 300)
{
	epoll_stress(SHMRING_FD_THREAD, 200000);
}

/* ---- arm/drain race ------------------------------------------------------------------ */

/* The producer pushes exactly while the consumer drains and re-arms. With
 * SLICED, the consumer cannot issue membarrier while the producer publishes
 * without a fence: its waits must still end (by their 1 ms slices). */
static void arm_race(int backend, long rounds, bool sliced)
{
	TEST_NAME(name, "fdrace");
	_Atomic long *turn = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char m[ELEM];
	long spurious = 0;
	int fd, ep;
	pid_t pid;

	if (sliced)
		setenv("SHMRING_BARRIER", "none", 1); /* before our first ring */
	need_backend(backend);
	struct shmring *r =
		open_with_fd(SHMRING_CONSUMER, SHMRING_SPSC, name, 16, backend, &fd);
	ep = epoll_for(fd);
	pid = test_fork();
	if (pid == 0) {
		unsetenv("SHMRING_BARRIER"); /* the producer publishes fenceless */
		struct shmring *p = shmring_producer(SHMRING_SPSC, name, ELEM, 16, NULL);

		for (long i = 0; p && i < rounds; i++) {
			while (atomic_load(turn) != i)
				; /* the consumer is about to re-arm */
			msg_fill(m, ELEM, 1, (uint64_t)i);
			if (shmring_push(p, m))
				_exit(2);
		}
		_exit(p ? 0 : 1);
	}
	for (long i = 0; i < rounds; i++) {
		uint32_t prod;
		uint64_t seq;

		uint64_t t0 = now_ns();
		int waits = 0;

		atomic_store(turn, i); /* the producer pushes now, racing us */
		while (shmring_try_pop(r, m) != 0) {
			/* EAGAIN re-armed the fd, maybe just as the push landed. A
			 * wake left over from an earlier arm may show once; sliced
			 * waits (no membarrier) also end every millisecond. */
			cr_assert_eq(errno, EAGAIN);
			cr_assert(sliced || waits <= 1,
				  "round %ld: a second spurious wake", i);
			cr_assert_lt(now_ns() - t0, 5000000000ull,
				     "lost wakeup in round %ld", i);
			cr_assert_eq(wait_readable(ep, 5000), 1,
				     "lost wakeup in round %ld", i);
			waits++;
		}
		spurious += waits > 1 ? waits - 1 : 0;
		cr_assert_eq(msg_check(m, ELEM, &prod, &seq), 0);
		cr_assert_eq(seq, (uint64_t)i);
	}
	if (sliced) {
		const uint32_t *word;
		uint32_t expected;

		cr_expect_eq(shmring_arm(r, &word, &expected), SHMRING_ARM_POLL);
	}
	cr_expect_eq(wait_child(pid), 0);
	cr_log_info("%s%s: %ld spurious wakes in %ld rounds", backend_names[backend],
		    sliced ? " (sliced)" : "", spurious, rounds);
	munmap((void *)turn, 4096);
	close(ep);
	shmring_close(r);
	shmring_unlink(name);
}

Test(fd, uring_push_racing_the_rearm_loses_no_wakeup_1e5, .timeout = 300)
{
	arm_race(SHMRING_FD_URING, 100000, false);
}

Test(fd, thread_push_racing_the_rearm_loses_no_wakeup_1e5, .timeout = 300)
{
	arm_race(SHMRING_FD_THREAD, 100000, false);
}

Test(fd, uring_without_membarrier_loses_no_wakeup, .timeout = 300)
{
	arm_race(SHMRING_FD_URING, 20000, true);
}

Test(fd, thread_without_membarrier_loses_no_wakeup, .timeout = 300)
{
	arm_race(SHMRING_FD_THREAD, 20000, true);
}

/* ---- sliced waits: a publish whose wakeup was lost ----------------------------------- */

/* Publishes the next element of SPSC producer P the way a publisher whose
 * load of the futex word passed its store would: the element is there, no
 * wake comes. What a consumer that cannot issue membarrier must survive
 * when a producer publishes without a fence (wait.c): by waking up on its
 * own every slice. */
static void publish_without_wake(struct shmring *p, const void *elem)
{
	unsigned char *s = slot_at(p, p->pos);

	memcpy(s, elem, p->elem_size);
	atomic_store((_Atomic uint64_t *)(s + p->seq_off), p->pos + 1);
	p->pos = pos_next(p, p->pos);
}

static int sliced_consumer(void *a)
{
	int backend = (int)(intptr_t)a;
	TEST_NAME(name, "sliced");
	SHMRING_OPTS(o, .fd_backend = backend, .spin_ns = -1);
	struct shmring *c, *p;
	unsigned char m[ELEM] = { 7 };
	struct pollfd pfd;

	setenv("SHMRING_BARRIER", "none", 1); /* before this process's first ring */
	c = shmring_consumer(SHMRING_SPSC, name, ELEM, 16, &o);
	p = shmring_producer(SHMRING_SPSC, name, ELEM, 16, NULL);
	if (!c || !p)
		return 1;
	/* A publisher elsewhere skips its fence (it relies on membarrier). */
	atomic_store(&c->hdr->fenceless_publishers, 1);
	pfd.fd = shmring_fd(c);
	if (pfd.fd < 0)
		return errno == ENOTSUP ? 77 : 2;
	for (int i = 0; i < 20; i++) {
		if (shmring_try_pop(c, m) == 0 || errno != EAGAIN)
			return 3; /* armed, waiting */
		publish_without_wake(p, m);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 500) != 1)
			return 4; /* the element sits there, the fd never turns readable */
		if (shmring_try_pop(c, m))
			return 5;
	}
	shmring_close(p);
	shmring_close(c);
	shmring_unlink(name);
	return 0;
}

static void sliced_fd(int backend)
{
	int rc;

	need_backend(backend);
	rc = wait_child(fork_child(sliced_consumer, (void *)(intptr_t)backend));
	cr_expect_eq(rc, 0, "%s: %d (4: an element waited 500 ms for a wake)",
		     backend_names[backend], rc);
}

Test(fd, thread_fd_without_membarrier_wakes_by_its_slice)
{
	sliced_fd(SHMRING_FD_THREAD);
}

Test(fd, uring_fd_without_membarrier_wakes_by_its_slice)
{
	sliced_fd(SHMRING_FD_URING);
}

/* ---- io_uring: a submit the kernel refuses ---------------------------------------------- */

Test(fd, uring_arm_refused_by_the_kernel_is_reported_and_retried, .timeout = 60)
{
	TEST_NAME(name, "refused");
	unsigned char m[ELEM] = { 1 };
	struct shmring *p;
	struct shmring *c;
	int fd, ep;

	need_backend(SHMRING_FD_URING);
	c = open_with_fd(SHMRING_CONSUMER, SHMRING_SPSC, name, 8, SHMRING_FD_URING, &fd);
	p = shmring_producer(SHMRING_SPSC, name, ELEM, 8, NULL);
	cr_assert_not_null(p);
	ep = epoll_for(fd);
	/* The first arm completes: the fd is readable, the element popped. */
	cr_assert_eq(shmring_try_push(p, m), 0);
	cr_assert_eq(wait_readable(ep, 2000), 1);
	cr_assert_eq(shmring_try_pop(c, m), 0);
	/* The next arm is refused for a while: the caller hears it, and not
	 * as EAGAIN ("empty", wait for the fd), which would wait forever. */
	shmring__debug_uring_refusals = 1000;
	errno = 0;
	cr_expect_eq(shmring_try_pop(c, m), -1);
	cr_expect_eq(errno, ENOMEM, "%s", strerror(errno));
	shmring__debug_uring_refusals = 0;
	/* Then the same wait is submitted, not a second one beside it. */
	for (int i = 0; i < 200; i++) {
		cr_assert_eq(shmring_try_pop(c, m), -1);
		cr_assert_eq(errno, EAGAIN, "round %d: %s", i, strerror(errno));
		cr_assert_eq(shmring_try_push(p, m), 0);
		cr_assert_eq(wait_readable(ep, 2000), 1, "round %d: the fd is dead", i);
		cr_assert_eq(shmring_try_pop(c, m), 0);
	}
	close(ep);
	shmring_close(p);
	shmring_close(c);
	shmring_unlink(name);
}

/* ---- io_uring: no EINTR storm ------------------------------------------------------------ */

static int slow_pusher(void *a)
{
	struct shmring *p = shmring_producer(SHMRING_SPSC, a, ELEM, 64, NULL);
	unsigned char m[ELEM] = { 0 };

	for (int i = 0; p && i < 3000; i++) {
		usleep(200); /* the consumer goes to sleep before each push */
		if (shmring_push(p, m))
			return 2;
	}
	return p ? 0 : 1;
}

Test(fd, uring_wakes_do_not_interrupt_epoll_wait, .timeout = 120)
{
	TEST_NAME(name, "eintr");
	struct epoll_event ev;
	unsigned char m[ELEM];
	char link[64], target[64] = "";
	long wakes = 0, eintr = 0, got = 0;
	int fd, ep;
	pid_t kid;

	need_backend(SHMRING_FD_URING);
	struct shmring *c = open_with_fd(SHMRING_CONSUMER, SHMRING_SPSC, name, 64,
					 SHMRING_FD_URING, &fd);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if (readlink(link, target, sizeof(target) - 1) > 0 && strstr(target, "io_uring"))
		cr_skip_test(
			"no IORING_SETUP_DEFER_TASKRUN here (Linux < 6.1): the io_uring "
			"fd is polled and task work interrupts epoll_wait");
	ep = epoll_for(fd);
	kid = fork_child(slow_pusher, (void *)name);
	while (got < 3000) {
		int n = epoll_wait(ep, &ev, 1, 5000);

		if (n < 0) {
			cr_assert_eq(errno, EINTR, "%s", strerror(errno));
			eintr++;
			continue;
		}
		cr_assert_eq(n, 1, "no wake for 5 s at %ld", got);
		wakes++;
		while (shmring_try_pop(c, m) == 0)
			got++;
		cr_assert_eq(errno, EAGAIN);
	}
	cr_expect_eq(wait_child(kid), 0);
	cr_log_info("%ld wakes, %ld EINTR", wakes, eintr);
	cr_expect_lt(eintr * 100, wakes, "%ld EINTR in %ld wakes", eintr, wakes);
	close(ep);
	shmring_close(c);
	shmring_unlink(name);
}

/* ---- io_uring reactor ---------------------------------------------------------------- */

Test(uring, reactor_waits_with_prep_wait_and_is_woken, .timeout = 30)
{
#if CONFIG_IO_URING
	TEST_NAME(name, "prepwait");
	struct io_uring uring;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_sec = 5 };
	unsigned char m[ELEM];
	pid_t pid;

	need_backend(SHMRING_FD_URING);
	struct shmring *r = shmring_consumer(SHMRING_MPMC, name, ELEM, 8, NULL);
	cr_assert_not_null(r);
	cr_assert_eq(io_uring_queue_init(8, &uring, 0), 0);
	/* Nothing there: the wait blocks until another program pushes. */
	cr_assert_eq(shmring_prep_wait(io_uring_get_sqe(&uring), r), 0);
	cr_assert_eq(io_uring_submit(&uring), 1);
	struct __kernel_timespec short_ts = { .tv_nsec = 50 * 1000 * 1000 };
	cr_expect_eq(io_uring_wait_cqe_timeout(&uring, &cqe, &short_ts), -ETIME,
		     "completed before anything was pushed");
	pid = spawn_helper("push", SHMRING_MPMC, name, 8, 1, 100000);
	cr_assert_eq(io_uring_wait_cqe_timeout(&uring, &cqe, &ts), 0, "not woken");
	io_uring_cqe_seen(&uring, cqe);
	cr_expect_eq(shmring_try_pop(r, m), 0);
	cr_expect_eq(wait_child(pid), 0);
	/* Something there: the wait completes at once. */
	pid = spawn_helper("push", SHMRING_MPMC, name, 8, 1, 0);
	cr_expect_eq(wait_child(pid), 0);
	cr_assert_eq(shmring_prep_wait(io_uring_get_sqe(&uring), r), 0);
	cr_assert_eq(io_uring_submit(&uring), 1);
	cr_assert_eq(io_uring_wait_cqe_timeout(&uring, &cqe, &ts), 0);
	io_uring_cqe_seen(&uring, cqe);
	cr_expect_eq(shmring_try_pop(r, m), 0);
	io_uring_queue_exit(&uring);
	shmring_close(r);
	shmring_unlink(name);
#else
	cr_skip_test("built without CONFIG_IO_URING");
#endif
}

Test(fd, bad_arguments)
{
	const uint32_t *word;
	uint32_t expected;

	errno = 0;
	cr_expect_eq(shmring_fd(NULL), -1);
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(shmring_endpoint_fd(NULL), -1);
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(shmring_arm(NULL, &word, &expected), -1);
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(shmring_fd_backend(NULL), -1);
	cr_expect_eq(errno, EINVAL);
	SHMRING_OPTS(bad, .fd_backend = 9);
	TEST_NAME(name, "fdbad");
	errno = 0;
	cr_expect_null(shmring_consumer(SHMRING_SPSC, name, 8, 2, &bad));
	cr_expect_eq(errno, EINVAL);
}
