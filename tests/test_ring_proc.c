// SPDX-License-Identifier: MIT
/* Rings across real processes: stress with every message checked, creation
 * races, sleeping consumers, dead role holders, dead creators, endpoints. */
#include "testutil.h"
#include "msg.h"
#include "ring.h"

#include <pthread.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define ELEM	 64
/* No progress for this long fails a stress run instead of hanging it. */
#define STALL_NS (10 * 1000000000ull)

/* ---- shared tally for stress runs ----------------------------------------- */

struct tally {
	_Atomic uint64_t received;
	_Atomic uint64_t errors;
	_Atomic uint64_t sleeps_seen;
	char first_error[256];
	_Atomic int error_claimed;
	_Atomic uint64_t bits[]; /* producers * per_producer bits: seen? */
};

static struct tally *tally_new(size_t producers, uint64_t per_producer, size_t *len)
{
	size_t words = (producers * per_producer + 63) / 64;
	struct tally *t;

	*len = sizeof(*t) + words * sizeof(uint64_t);
	t = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(t, MAP_FAILED);
	return t;
}

static void tally_error(struct tally *t, const char *fmt, uint64_t a, uint64_t b)
{
	if (atomic_fetch_add(&t->errors, 1) == 0 &&
	    !atomic_exchange(&t->error_claimed, 1))
		snprintf(t->first_error, sizeof(t->first_error), fmt,
			 (unsigned long long)a, (unsigned long long)b);
}

struct stress {
	enum shmring_policy policy;
	const char *name;
	size_t producers, consumers, cap;
	uint64_t per_producer;
	struct tally *t;
};

static int stress_producer(struct stress *s, uint32_t id)
{
	struct shmring *r = shmring_producer(s->policy, s->name, ELEM, s->cap, NULL);
	unsigned char burst[16][ELEM];
	uint64_t seq = 0, rnd = id + 1;

	if (!r)
		return 40 + (errno & 0x1f);
	while (seq < s->per_producer) {
		rnd = msg_mix(rnd);
		switch (rnd % 4) {
		case 0: { /* blocking push (timed: a stalled consumer fails the run) */
			unsigned char m[ELEM];

			msg_fill(m, ELEM, id, seq);
			if (shmring_timed_push(r, m, STALL_NS))
				return 2;
			seq++;
			break;
		}
		case 1: { /* try_push until it goes in */
			unsigned char m[ELEM];

			msg_fill(m, ELEM, id, seq);
			for (uint64_t t0 = now_ns(); shmring_try_push(r, m);)
				if (errno != EAGAIN || now_ns() - t0 > STALL_NS)
					return 3;
			seq++;
			break;
		}
		default: { /* bursts of 1..16 */
			size_t n = 1 + (rnd >> 8) % 16, done = 0;

			if (n > s->per_producer - seq)
				n = (size_t)(s->per_producer - seq);
			for (size_t i = 0; i < n; i++)
				msg_fill(burst[i], ELEM, id, seq + i);
			for (uint64_t t0 = now_ns(); done < n;) {
				ssize_t k = shmring_push_burst(r, burst[done], n - done);

				if (k < 0)
					return 4;
				done += (size_t)k;
				/* Full: sleep in a timed push of the next one. */
				if (!k &&
				    shmring_timed_push(r, burst[done], 1000000) == 0)
					done++;
				else if (!k &&
					 (errno != ETIMEDOUT || now_ns() - t0 > STALL_NS))
					return 5;
			}
			seq += n;
			break;
		}
		}
	}
	shmring_close(r);
	return 0;
}

static void stress_check(struct stress *s, const unsigned char *m, uint64_t *last)
{
	uint32_t prod;
	uint64_t seq, bit;

	if (msg_check(m, ELEM, &prod, &seq)) {
		tally_error(s->t, "corrupt message (producer %llu seq %llu)", prod, seq);
		return;
	}
	if (prod >= s->producers || seq >= s->per_producer) {
		tally_error(s->t, "bad id: producer %llu seq %llu", prod, seq);
		return;
	}
	/* Per-producer FIFO: a single consumer sees exactly the next one, each
	 * of several consumers sees increasing numbers. */
	bool in_order = s->consumers == 1 ? seq == last[prod] + 1 :
					    last[prod] == UINT64_MAX || seq > last[prod];

	if (!in_order)
		tally_error(s->t, "order: got seq %llu after %llu", seq, last[prod]);
	last[prod] = seq;
	bit = prod * s->per_producer + seq;
	if (atomic_fetch_or(&s->t->bits[bit / 64], 1ull << (bit % 64)) &
	    (1ull << (bit % 64)))
		tally_error(s->t, "duplicate: producer %llu seq %llu", prod, seq);
	atomic_fetch_add(&s->t->received, 1);
}

static int stress_consumer(struct stress *s, uint32_t id)
{
	struct shmring *r = shmring_consumer(s->policy, s->name, ELEM, s->cap, NULL);
	const uint64_t total = s->producers * s->per_producer;
	unsigned char m[16][ELEM];
	uint64_t last[8], rnd = 1000 + id, seen = 0, progress_at = now_ns();

	if (!r)
		return 50 + (errno & 0x1f);
	for (size_t i = 0; i < 8; i++)
		last[i] = UINT64_MAX; /* "none yet": UINT64_MAX + 1 == 0 */
	while (atomic_load(&s->t->received) < total) {
		uint64_t now = now_ns(), got = atomic_load(&s->t->received);

		if (got != seen) {
			seen = got;
			progress_at = now;
		} else if (now - progress_at > STALL_NS) {
			tally_error(s->t, "stalled: %llu of %llu received", got, total);
			return 7;
		}
		rnd = msg_mix(rnd);
		if (rnd % 2) {
			ssize_t n = shmring_pop_burst(r, m, 1 + (rnd >> 8) % 16);

			if (n < 0)
				return 5;
			for (ssize_t i = 0; i < n; i++)
				stress_check(s, m[i], last);
			if (n == 0 && shmring_timed_pop(r, m[0], 20 * 1000000ull) == 0)
				stress_check(s, m[0], last);
		} else if (shmring_timed_pop(r, m[0], 20 * 1000000ull) == 0) {
			stress_check(s, m[0], last);
		} else if (errno != ETIMEDOUT) {
			return 6;
		}
	}
	atomic_fetch_add(&s->t->sleeps_seen, atomic_load(&r->hdr->not_empty.sleeps));
	shmring_close(r);
	return 0;
}

/* FENCED: bit i makes child i (consumers first, then producers) publish with
 * hardware fences instead of relying on membarrier (wait.c). */
static uint64_t run_stress_mixed(enum shmring_policy policy, size_t producers,
				 size_t consumers, uint64_t total, size_t cap,
				 unsigned int fenced)
{
	TEST_NAME(name, "stress");
	struct stress s = {
		.policy = policy,
		.name = name,
		.producers = producers,
		.consumers = consumers,
		.cap = cap,
		.per_producer = (total + producers - 1) / producers,
	};
	pid_t pids[16];
	size_t len, n = 0;
	uint64_t sleeps;

	s.t = tally_new(producers, s.per_producer, &len);
	for (size_t i = 0; i < consumers + producers; i++, n++) {
		pids[n] = test_fork();
		if (pids[n] != 0)
			continue;
		if (fenced & (1u << i))
			setenv("SHMRING_BARRIER", "fence", 1);
		_exit(i < consumers ? stress_consumer(&s, (uint32_t)i) :
				      stress_producer(&s, (uint32_t)(i - consumers)));
	}
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(wait_child(pids[i]), 0, "%s",
			     i < consumers ? "consumer" : "producer");
	cr_expect_eq(atomic_load(&s.t->errors), 0, "%llu errors, first: %s",
		     (unsigned long long)atomic_load(&s.t->errors), s.t->first_error);
	cr_expect_eq(atomic_load(&s.t->received), producers * s.per_producer);
	/* Zero loss: every (producer, seq) arrived. */
	for (uint64_t b = 0; b < producers * s.per_producer; b++)
		if (!(atomic_load(&s.t->bits[b / 64]) & (1ull << (b % 64))))
			cr_assert_fail("lost: producer %llu seq %llu",
				       (unsigned long long)(b / s.per_producer),
				       (unsigned long long)(b % s.per_producer));
	sleeps = atomic_load(&s.t->sleeps_seen);
	munmap(s.t, len);
	shmring_unlink(name);
	return sleeps; /* times consumers slept: the wake path was used */
}

static void run_stress(enum shmring_policy policy, size_t producers, size_t consumers,
		       uint64_t total, size_t cap)
{
	run_stress_mixed(policy, producers, consumers, total, cap, 0);
}

Test(stress, spsc_1x1_processes_every_message_checked, .timeout = 300)
{
	run_stress(SHMRING_SPSC, 1, 1, 1000000, 100);
}

Test(stress, mpsc_3x1_processes_every_message_checked, .timeout = 300)
{
	run_stress(SHMRING_MPSC, 3, 1, 1000000, 144);
}

Test(stress, mpmc_3x3_processes_every_message_checked, .timeout = 300)
{
	run_stress(SHMRING_MPMC, 3, 3, 1000000, 144);
}

/* Processes that publish with fences and processes that rely on membarrier,
 * on one ring: the fenced consumer must not miss the fenceless producers'
 * wakeups (it sleeps in slices), and vice versa. Small ring: many sleeps. */
Test(stress, mixed_fence_and_membarrier_processes, .timeout = 300)
{
	cr_expect_gt(run_stress_mixed(SHMRING_MPSC, 3, 1, 300000, 7, 0x1 | 0x4), 0);
	cr_expect_gt(run_stress_mixed(SHMRING_SPSC, 1, 1, 300000, 3, 0x2), 0);
	cr_expect_gt(run_stress_mixed(SHMRING_SPSC, 1, 1, 300000, 3, 0x3), 0);
}

/* ---- creation race ------------------------------------------------------------ */

struct race {
	const char *name;
	_Atomic int *go;
	int role;
};

static int race_open(void *a)
{
	struct race *rc = a;
	struct shmring *r;

	while (!atomic_load(rc->go))
		;
	r = rc->role == SHMRING_PRODUCER ?
		    shmring_producer(SHMRING_SPSC, rc->name, 64, 16, NULL) :
		    shmring_consumer(SHMRING_SPSC, rc->name, 64, 16, NULL);
	if (!r)
		return 60 + (errno & 0x1f);
	if (shmring_capacity(r) != 16 || !shmring_empty(r))
		return 2;
	shmring_close(r);
	return 0;
}

Test(create, two_processes_racing_to_create_a_name_both_succeed_1000_rounds,
     .timeout = 300)
{
	_Atomic int *go = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int failures = 0;

	cr_assert_neq(go, MAP_FAILED);
	for (int round = 0; round < 1000; round++) {
		TEST_NAME(name, "race");
		struct race a = { name, go, SHMRING_PRODUCER },
			    b = { name, go, SHMRING_CONSUMER };
		pid_t pa, pb;
		int sa, sb;

		atomic_store(go, 0);
		pa = fork_child(race_open, &a);
		pb = fork_child(race_open, &b);
		atomic_store(go, 1); /* both spin until now, then open at once */
		sa = wait_child(pa);
		sb = wait_child(pb);
		if (sa || sb) {
			failures++;
			cr_expect_fail("round %d: exit %d and %d", round, sa, sb);
		}
		shmring_unlink(name);
	}
	cr_expect_eq(failures, 0);
	munmap(go, 4096);
}

/* A creator that died mid-way leaves a segment the next opener repairs. */
Test(create, opener_repairs_what_a_dead_creator_left)
{
	TEST_NAME(name, "repair");
	char path[128];
	size_t size = shmring_memsize(SHMRING_MPMC, 32, 5);
	struct shmring *p, *c;
	char in[32] = "repaired", out[32];
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	/* Died after creating the name, before sizing it. */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	p = shmring_producer(SHMRING_MPMC, name, 32, 5, NULL);
	cr_assert_not_null(p, "size-0 segment: %s", strerror(errno));
	shmring_close(p);
	shmring_unlink(name);

	/* Died mid-initialisation: sized, header half written, state BUSY. */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	struct shmring__hdr h = { .magic = SHMRING_MAGIC,
				  .version = SHMRING_FORMAT_VERSION,
				  .init_state = SHMRING_INIT_BUSY,
				  .capacity = 12345 };
	cr_assert_eq(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	close(fd);
	p = shmring_producer(SHMRING_MPMC, name, 32, 5, NULL);
	c = shmring_consumer(SHMRING_MPMC, name, 32, 5, NULL);
	cr_assert(p && c, "half-initialised segment: %s", strerror(errno));
	for (int i = 0; i < 12; i++) {
		cr_assert_eq(shmring_try_push(p, in), 0);
		cr_assert_eq(shmring_try_pop(c, out), 0);
		cr_assert_str_eq(out, "repaired");
	}
	shmring_close(p);
	shmring_close(c);
	shmring_unlink(name);
}

static int hold_lock_and_hang(void *a)
{
	const char *path = a;
	int fd = open(path, O_RDWR);
	struct shmring__hdr h = { .magic = SHMRING_MAGIC,
				  .init_state = SHMRING_INIT_BUSY };

	if (fd < 0 || flock(fd, LOCK_EX))
		return 1;
	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return 2;
	pause(); /* killed here, mid-initialisation, holding the lock */
	return 3;
}

static int open_ring_producer(void *a)
{
	struct shmring *r = shmring_producer(SHMRING_SPSC, a, 16, 4, NULL);
	uint64_t v[2] = { 1, 2 };

	if (!r)
		return 70 + (errno & 0x1f);
	if (shmring_try_push(r, v))
		return 2;
	shmring_close(r);
	return 0;
}

Test(create, opener_waits_for_a_creator_and_repairs_after_it_is_killed, .timeout = 30)
{
	TEST_NAME(name, "killed-creator");
	char path[128];
	int fd;
	pid_t creator, opener;

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)shmring_memsize(SHMRING_SPSC, 16, 4)), 0);
	close(fd);
	creator = fork_child(hold_lock_and_hang, path);
	/* Until the creator holds its lock (and has written BUSY). */
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	for (int i = 0; i < 10000 && flock(fd, LOCK_SH | LOCK_NB) == 0; i++) {
		flock(fd, LOCK_UN);
		usleep(1000);
	}
	close(fd);
	opener = fork_child(open_ring_producer, (void *)name);
	usleep(100 * 1000);
	/* The opener must still be waiting for the creator's lock. */
	cr_expect_eq(waitpid(opener, NULL, WNOHANG), 0,
		     "opener did not wait for the creator");
	kill(creator, SIGKILL);
	cr_expect_eq(wait_child(creator), 128 + SIGKILL);
	cr_expect_eq(wait_child(opener), 0, "opener failed after the creator died");
	shmring_unlink(name);
}

/* ---- sleeping consumers -------------------------------------------------------- */

struct sleeper {
	const char *name;
	_Atomic uint64_t pushed_at, popped_at, cpu_ns;
	_Atomic int ready;
};

static int sleeping_consumer(void *a)
{
	struct sleeper *s = a;
	struct shmring *r = shmring_consumer(SHMRING_SPSC, s->name, 16, 8, NULL);
	struct timespec c0, c1;
	uint64_t v[2];

	if (!r)
		return 1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	atomic_store(&s->ready, 1);
	errno = 4242;
	if (shmring_pop(r, v))
		return 2;
	if (errno != 4242)
		return 4; /* a call that succeeds leaves errno alone, slept or not */
	atomic_store(&s->popped_at, now_ns());
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	atomic_store(&s->cpu_ns, (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000000ull +
					 (uint64_t)(c1.tv_nsec - c0.tv_nsec));
	if (v[0] != 0xfeedface || v[1] != 42)
		return 3;
	shmring_close(r);
	return 0;
}

Test(wait, consumer_blocked_half_a_second_sleeps_and_wakes_on_push)
{
	TEST_NAME(name, "sleep");
	struct sleeper *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct shmring *p = shmring_producer(SHMRING_SPSC, name, 16, 8, NULL);
	uint64_t v[2] = { 0xfeedface, 42 };
	pid_t pid;

	cr_assert(s != MAP_FAILED && p);
	s->name = name;
	pid = fork_child(sleeping_consumer, s);
	while (!atomic_load(&s->ready))
		usleep(1000);
	usleep(500 * 1000);
	cr_expect_eq(p->hdr->not_empty.sleepers, 1, "the consumer is not asleep");
	atomic_store(&s->pushed_at, now_ns());
	cr_assert_eq(shmring_push(p, v), 0);
	cr_expect_eq(wait_child(pid), 0);
	cr_expect_lt(atomic_load(&s->cpu_ns), 100 * 1000000ull,
		     "blocked pop burned %llu ns CPU",
		     (unsigned long long)atomic_load(&s->cpu_ns));
	/* Loose bound (noisy CI): a lost wakeup would hang; a slow one shows. */
	cr_expect_lt(atomic_load(&s->popped_at) - atomic_load(&s->pushed_at),
		     50 * 1000000ull, "woke %llu ns after the push",
		     (unsigned long long)(atomic_load(&s->popped_at) -
					  atomic_load(&s->pushed_at)));
	cr_expect_eq(p->hdr->not_empty.wakes, 1, "one futex_wake for one sleeper");
	shmring_close(p);
	shmring_unlink(name);
	munmap(s, sizeof(*s));
}

/* Saturated: producer and consumer busy in try loops, nobody sleeps, so no
 * publisher may have made a futex_wake call. */
static int busy_consumer(void *a)
{
	struct shmring *r = shmring_consumer(SHMRING_SPSC, a, 8, 64, NULL);
	uint64_t v, next = 0;

	if (!r)
		return 1;
	while (next < 2000000) {
		if (shmring_try_pop(r, &v))
			continue;
		if (v != next++)
			return 2;
	}
	shmring_close(r);
	return 0;
}

Test(wait, saturated_run_where_nobody_sleeps_makes_no_futex_calls, .timeout = 60)
{
	TEST_NAME(name, "saturated");
	struct shmring *p = shmring_producer(SHMRING_SPSC, name, 8, 64, NULL);
	pid_t pid;

	cr_assert_not_null(p);
	pid = fork_child(busy_consumer, (void *)name);
	for (uint64_t i = 0; i < 2000000;)
		if (shmring_try_push(p, &i) == 0)
			i++;
	cr_expect_eq(wait_child(pid), 0);
	cr_expect_eq(p->hdr->not_empty.wakes + p->hdr->not_full.wakes, 0);
	cr_expect_eq(p->hdr->not_empty.sleeps + p->hdr->not_full.sleeps, 0);
	shmring_close(p);
	shmring_unlink(name);
}

/* ---- dead role holders ------------------------------------------------------------ */

static int consumer_then_hang(void *a)
{
	struct shmring *r = shmring_consumer(SHMRING_SPSC, a, 16, 4, NULL);
	uint64_t v[2];

	if (!r)
		return 1;
	shmring_pop(r, v); /* blocks: nothing is ever pushed */
	return 2;
}

Test(roles, killed_spsc_consumer_role_is_taken_over)
{
	TEST_NAME(name, "killed");
	struct shmring *p = shmring_producer(SHMRING_SPSC, name, 16, 4, NULL);
	struct shmring *c;
	pid_t pid;

	cr_assert_not_null(p);
	pid = fork_child(consumer_then_hang, (void *)name);
	while (!atomic_load(&p->hdr->consumers[0]))
		usleep(1000);
	usleep(20 * 1000);
	errno = 0;
	cr_expect_null(shmring_consumer(SHMRING_SPSC, name, 16, 4, NULL), "live holder");
	cr_expect_eq(errno, EBUSY);
	kill(pid, SIGKILL);
	/* Not reaped yet: a zombie holds nothing. */
	usleep(50 * 1000);
	c = shmring_consumer(SHMRING_SPSC, name, 16, 4, NULL);
	cr_expect_not_null(c, "zombie holder: %s", strerror(errno));
	shmring_close(c);
	cr_expect_eq(wait_child(pid), 128 + SIGKILL);
	c = shmring_consumer(SHMRING_SPSC, name, 16, 4, NULL);
	cr_assert_not_null(c, "dead holder: %s", strerror(errno));
	uint64_t v[2] = { 5, 6 }, w[2];
	cr_expect_eq(shmring_try_push(p, v), 0);
	cr_expect_eq(shmring_try_pop(c, w), 0);
	cr_expect_eq(w[1], 6);
	shmring_close(c);
	shmring_close(p);
	shmring_unlink(name);
}

static int inherited_close(void *a)
{
	shmring_close(a); /* the parent's handle: unmap only */
	return 0;
}

Test(roles, child_closing_an_inherited_handle_keeps_the_parents_role)
{
	TEST_NAME(name, "inherit");
	struct shmring *c = shmring_consumer(SHMRING_SPSC, name, 8, 4, NULL);

	cr_assert_not_null(c);
	cr_expect_eq(wait_child(fork_child(inherited_close, c)), 0);
	errno = 0;
	cr_expect_null(shmring_consumer(SHMRING_SPSC, name, 8, 4, NULL));
	cr_expect_eq(errno, EBUSY, "the child released the parent's role");
	shmring_close(c);
	shmring_unlink(name);
}

/* The holder's main thread exits while another thread keeps the process
 * (and its role) alive: /proc shows the leader as a zombie, the role holds. */
static void *hold_forever(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static int holder_whose_main_thread_exits(void *a)
{
	struct shmring *r = shmring_consumer(SHMRING_SPSC, a, 8, 4, NULL);
	pthread_t t;

	if (!r || pthread_create(&t, NULL, hold_forever, NULL))
		return 1;
	pthread_exit(NULL);
}

Test(roles, holder_alive_after_its_main_thread_exited_keeps_the_role)
{
	TEST_NAME(name, "leader");
	pid_t pid = fork_child(holder_whose_main_thread_exits, (void *)name);
	struct shmring *c;
	char path[128];
	char state = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 1000 && state != 'Z'; i++) {
		FILE *f = fopen(path, "r");

		usleep(1000);
		if (f && fscanf(f, "%*d %*s %c", &state) != 1)
			state = 0;
		if (f)
			fclose(f);
	}
	cr_assert_eq(state, 'Z', "the leader thread did not exit");
	errno = 0;
	cr_expect_null(shmring_consumer(SHMRING_SPSC, name, 8, 4, NULL),
		       "role taken from a live process");
	cr_expect_eq(errno, EBUSY);
	kill(pid, SIGKILL);
	wait_child(pid);
	c = shmring_consumer(SHMRING_SPSC, name, 8, 4, NULL);
	cr_expect_not_null(c, "role of a dead process: %s", strerror(errno));
	shmring_close(c);
	shmring_unlink(name);
}

/* exec replaces the program: its fds close (O_CLOEXEC), so its roles go. */
static int holder_then_exec(void *a)
{
	if (!shmring_producer(SHMRING_SPSC, a, 8, 4, NULL))
		return 1;
	execl("/bin/sleep", "sleep", "30", (char *)NULL);
	return 2;
}

Test(roles, exec_releases_the_roles_of_the_old_program)
{
	TEST_NAME(name, "exec");
	struct shmring_info info = { .sz = sizeof(info) };
	pid_t pid = fork_child(holder_then_exec, (void *)name);
	struct shmring *p = NULL;

	/* Wait for the exec (the role was taken before it). */
	for (int i = 0; i < 2000 && !p; i++) {
		usleep(1000);
		if (shmring_stat(name, &info) == 0 && info.nproducers == 1 &&
		    !info.producers[0].alive)
			p = shmring_producer(SHMRING_SPSC, name, 8, 4, NULL);
	}
	cr_expect_not_null(p, "the exec'd holder still holds the role");
	cr_expect_eq(kill(pid, 0), 0, "the holder is alive (running sleep)");
	shmring_close(p);
	kill(pid, SIGKILL);
	wait_child(pid);
	shmring_unlink(name);
}

/* A consumer killed in the middle of a pop must not wedge an MPSC ring: its
 * successor skips the slots it had already freed. */
static int endless_producer(void *a)
{
	struct shmring *r = shmring_producer(SHMRING_MPSC, a, 4096, 16, NULL);
	unsigned char m[4096];

	for (uint64_t i = 0; r; i++) {
		msg_fill(m, sizeof(m), 0, i);
		if (shmring_push(r, m))
			return 2;
	}
	return 1;
}

static int endless_consumer(void *a)
{
	struct shmring *r = shmring_consumer(SHMRING_MPSC, a, 4096, 16, NULL);
	static unsigned char m[16][4096];

	while (r)
		if (shmring_pop_burst(r, m, 16) < 0)
			return 2;
	return 1;
}

Test(roles, mpsc_consumer_killed_mid_pop_does_not_wedge_the_ring, .timeout = 120)
{
	static unsigned char m[4096];

	for (int round = 0; round < 20; round++) {
		TEST_NAME(name, "midpop");
		pid_t prod = fork_child(endless_producer, (void *)name);
		pid_t cons = fork_child(endless_consumer, (void *)name);
		uint64_t last = 0, seq;
		uint32_t id;

		usleep(1000 + (useconds_t)(round * 997) % 20000);
		kill(cons, SIGKILL);
		wait_child(cons);
		struct shmring *c = shmring_consumer(SHMRING_MPSC, name, 4096, 16, NULL);
		cr_assert_not_null(c, "round %d: %s", round, strerror(errno));
		for (int i = 0; i < 200; i++) {
			cr_assert_eq(shmring_timed_pop(c, m, 5000000000ull), 0,
				     "round %d pop %d: %s", round, i, strerror(errno));
			cr_assert_eq(msg_check(m, sizeof(m), &id, &seq), 0);
			/* At most once: gaps where the dead consumer took some. */
			cr_assert(i == 0 || seq > last, "round %d: seq %llu after %llu",
				  round, (unsigned long long)seq,
				  (unsigned long long)last);
			last = seq;
		}
		kill(prod, SIGKILL);
		wait_child(prod);
		shmring_close(c);
		shmring_unlink(name);
	}
}

/* ---- endpoints ---------------------------------------------------------------------- */

static int endpoint_b(void *a)
{
	struct shmring_endpoint *ep =
		shmring_endpoint_open(SHMRING_SPSC, SHMRING_SIDE_B, a, 64, 16, NULL);
	unsigned char m[64];
	uint32_t prod;
	uint64_t seq;

	if (!ep)
		return 1;
	for (uint64_t i = 0; i < 20000; i++) {
		if (shmring_receive(ep, m) || msg_check(m, 64, &prod, &seq) ||
		    prod != 1 || seq != i)
			return 2;
		msg_fill(m, 64, 2, i);
		if (shmring_send(ep, m))
			return 3;
	}
	shmring_endpoint_close(ep);
	return 0;
}

Test(endpoint, ping_pong_between_processes)
{
	TEST_NAME(name, "ep");
	struct shmring_endpoint *a;
	unsigned char m[64];
	uint32_t prod;
	uint64_t seq;
	pid_t pid = fork_child(endpoint_b, (void *)name);

	a = shmring_endpoint_open(SHMRING_SPSC, SHMRING_SIDE_A, name, 64, 16, NULL);
	cr_assert_not_null(a, "%s", strerror(errno));
	for (uint64_t i = 0; i < 20000; i++) {
		msg_fill(m, 64, 1, i);
		cr_assert_eq(shmring_send(a, m), 0);
		cr_assert_eq(shmring_timed_receive(a, m, 5000000000ull), 0,
			     "reply %llu: %s", (unsigned long long)i, strerror(errno));
		cr_assert_eq(msg_check(m, 64, &prod, &seq), 0);
		cr_assert_eq(prod, 2);
		cr_assert_eq(seq, i);
	}
	cr_expect_eq(wait_child(pid), 0);
	cr_expect_eq(shmring_endpoint_available(a), 16);
	cr_expect_eq(shmring_endpoint_pending(a), 0);
	errno = 0;
	cr_expect_null(
		shmring_endpoint_open(SHMRING_SPSC, SHMRING_SIDE_A, name, 64, 16, NULL));
	cr_expect_eq(errno, EBUSY, "side A is open");
	shmring_endpoint_close(a);
	cr_expect_eq(shmring_endpoint_unlink(name), 0);
	char path[160];
	snprintf(path, sizeof(path), "/dev/shm/%s_AB", name);
	cr_expect_eq(access(path, F_OK), -1, "%s left behind", path);
}
