// SPDX-License-Identifier: MIT
/*
 * `shmring bridge` against real nats-server processes:
 *
 *   producers -> ring A -> bridge out -> JetStream -> bridge in -> ring B -> consumer
 *
 * Every message is checked at the consumer: its checksum and payload
 * (tests/msg.h), its producer's sequence (first appearances strictly in
 * order, none missing at the end), and the JetStream stream sequence that
 * `bridge in --seq-offset` writes into the last 8 bytes of each element. A
 * duplicate must be an earlier message again with the same stream sequence
 * (a redelivery, which a consumer drops by "stream sequence <= last seen"),
 * never a second copy in the stream.
 *
 * Scenarios: one server (10^6 messages); the same while both bridges are
 * SIGKILLed and restarted at random and the server is restarted; a server
 * restarted without the consumer's state (it delivers the stream again);
 * crashes of bridge in after its record of a push and between a commit and
 * the record, with and without --dedup; a three-node cluster with the
 * stream replicated three times and one node killed; the two "hosts" in two
 * network namespaces joined by a veth pair; backpressure from a slow
 * consumer; messages of the wrong size; another user's state file.
 *
 * The tests take a lock so that they run one at a time: each is sized for
 * the whole machine.
 */
#include "procutil.h"
#include "msg.h"
#include "natsutil.h"

#include <sys/mman.h>

/* Sanitizer builds look for memory errors, not volume: a tenth of the
 * messages (the plain `make check` moves them all). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SCALE 10
#else
#define SCALE 1
#endif

#define ELEM	64
#define SEQ_OFF (ELEM - 8) /* --seq-offset: the stream sequence */
#define MSG_LEN SEQ_OFF	   /* msg_fill covers the bytes before it */
#define MAXPROD 4

/* The suite's fini removes each test's rings and bridge state files, after
 * a failed assertion too (the processes die with the test). */
TestSuite(bridge, .fini = test_shm_cleanup);

/* ---- what the consumer saw, shared with the test process ---------------- */

struct shared {
	_Atomic uint64_t unique, dups, received;
	_Atomic uint64_t first_dup; /* the stream sequence of the first one */
	_Atomic int failed;
	_Atomic bool finish, done;
	char why[512];
};

struct scenario {
	const char *tag;
	enum shmring_policy policy_a, policy_b;
	int producers;
	uint64_t per_producer;
	size_t cap_a, cap_b;
	int nodes;	     /* servers: 1, or a cluster of 3 */
	bool kill_bridges;   /* SIGKILL and restart the bridges at random */
	bool restart_server; /* restart the (single) server once */
	/* ...and empty the consumer's state file while it is down, as
	 * nats-server before 2.12.1 can leave it (it truncates, then writes,
	 * with nothing atomic): the server then delivers the stream again
	 * from its start. */
	bool lose_consumer_state;
	bool kill_node; /* SIGKILL one cluster node for good */
	bool netns;	/* server and bridge out in one namespace, bridge in in another */
	bool dedup;	/* bridge in --dedup: no duplicate may reach ring B */
	bool strict;	/* no duplicate: stream sequences 1, 2, 3... exactly */
	bool slow_start;      /* the consumer sleeps at first: ring B fills up */
	int inject_crashes;   /* bridge in dies between push and ack this often, */
	bool crash_at_commit; /* right after a commit, before its record */
	int batch, in_ack_wait_ms;
	int timeout_s;
};

static const char *tool_path(void)
{
	static char buf[PATH_MAX];

	return build_path(buf, sizeof(buf), "shmring");
}

static void skip_unless_bridge(void)
{
#if !CONFIG_NATS
	cr_skip_test("the bridge is not compiled in (CONFIG_NATS=n)");
#endif
	if (!nu_have("nats-server"))
		cr_skip_test(
			"nats-server is not installed (scripts/install-deps.sh installs it)");
	if (access(tool_path(), X_OK))
		cr_skip_test("%s is missing", tool_path());
}

/* The bridge tests use the whole machine: one at a time. */
static void serialize(void)
{
	int fd =
		open("/tmp/shmring-test-bridge.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);

	cr_assert_geq(fd, 0);
	while (flock(fd, LOCK_EX) && errno == EINTR)
		;
	/* kept open: released when this test's process ends */
}

static void fail(struct shared *sh, const char *fmt, ...)
{
	va_list ap;
	int expected = 0;

	if (!atomic_compare_exchange_strong(&sh->failed, &expected, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(sh->why, sizeof(sh->why), fmt, ap);
	va_end(ap);
}

struct producer_arg {
	const struct scenario *sc;
	const char *ring;
	uint32_t id;
};

static int producer(void *p)
{
	const struct producer_arg *a = p;
	struct shmring *r =
		shmring_producer(a->sc->policy_a, a->ring, ELEM, a->sc->cap_a, NULL);
	unsigned char m[ELEM] = { 0 };

	if (!r)
		return 10;
	for (uint64_t s = 0; s < a->sc->per_producer; s++) {
		msg_fill(m, MSG_LEN, a->id, s);
		if (shmring_push(r, m))
			return 11;
	}
	shmring_close(r);
	return 0;
}

struct consumer_arg {
	const struct scenario *sc;
	const char *ring;
	struct shared *sh;
};

/* Pops until told to finish and the ring is empty; checks everything. */
static int consumer(void *p)
{
	const struct consumer_arg *a = p;
	const struct scenario *sc = a->sc;
	struct shared *sh = a->sh;
	struct shmring *r =
		shmring_consumer(sc->policy_b, a->ring, ELEM, sc->cap_b, NULL);
	uint64_t *first[MAXPROD + 1] = { 0 }, next[MAXPROD + 1] = { 0 }, max_stream = 0;
	uint64_t total = (uint64_t)sc->producers * sc->per_producer, unique = 0;
	unsigned char m[ELEM];

	if (!r) {
		fail(sh, "consumer: open ring B: %s", strerror(errno));
		return 1;
	}
	for (int i = 1; i <= sc->producers; i++)
		first[i] = calloc(sc->per_producer, sizeof(uint64_t));
	if (sc->slow_start)
		nu_sleep_ms(1500);
	for (;;) {
		uint32_t prod;
		uint64_t seq, sseq;

		if (shmring_timed_pop(r, m, 100000000ull)) {
			if (atomic_load(&sh->finish))
				break;
			continue;
		}
		atomic_fetch_add(&sh->received, 1);
		if (msg_check(m, MSG_LEN, &prod, &seq)) {
			fail(sh,
			     "corrupt message (checksum or payload) after %llu unique",
			     (unsigned long long)unique);
			continue;
		}
		memcpy(&sseq, m + SEQ_OFF, 8);
		if (prod < 1 || prod > (uint32_t)sc->producers ||
		    seq >= sc->per_producer) {
			fail(sh, "message from nowhere: producer %u seq %llu", prod,
			     (unsigned long long)seq);
			continue;
		}
		if (seq < next[prod]) {
			/* Documented duplicate: a redelivery of the same stream
			 * message, which "drop stream seq <= last seen" removes. */
			if (first[prod][seq] != sseq)
				fail(sh,
				     "producer %u seq %llu twice in the stream (stream seqs "
				     "%llu and %llu)",
				     prod, (unsigned long long)seq,
				     (unsigned long long)first[prod][seq],
				     (unsigned long long)sseq);
			else if (sseq > max_stream)
				fail(sh,
				     "duplicate with a stream seq above the last seen");
			if (!atomic_load(&sh->first_dup))
				atomic_store(&sh->first_dup, sseq);
			atomic_fetch_add(&sh->dups, 1);
			continue;
		}
		if (seq > next[prod]) {
			fail(sh, "producer %u: seq %llu after %llu (lost or reordered)",
			     prod, (unsigned long long)seq,
			     (unsigned long long)next[prod]);
			next[prod] = seq; /* report once */
		}
		if (sseq <= max_stream)
			fail(sh, "new message with stream seq %llu after %llu",
			     (unsigned long long)sseq, (unsigned long long)max_stream);
		if (sc->strict && sseq != unique + 1)
			fail(sh, "stream seq %llu for unique message %llu",
			     (unsigned long long)sseq, (unsigned long long)unique + 1);
		first[prod][seq] = sseq;
		max_stream = sseq;
		next[prod] = seq + 1;
		unique++;
		atomic_store(&sh->unique, unique);
		if (unique == total)
			atomic_store(&sh->done, true);
	}
	shmring_close(r);
	return 0;
}

/* ---- bridges ------------------------------------------------------------- */

struct bridge {
	char *argv[40];
	int argc;
	char log[PATH_MAX + 32];
	const char *netns;
	pid_t pid;
	int kills;
};

static void arg(struct bridge *b, const char *s)
{
	cr_assert_lt(b->argc, 39);
	b->argv[b->argc++] = strdup(s);
	b->argv[b->argc] = NULL;
}

/* With SIGTERM blocked, which the bridge unblocks once its handler is in
 * place: a SIGTERM right after a restart drains it instead of killing it
 * before main(). */
static void bridge_start(struct bridge *b)
{
	sigset_t term, old;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old);
	b->pid = nu_spawn(b->argv, b->log, b->netns);
	sigprocmask(SIG_SETMASK, &old, NULL);
	cr_assert_gt(b->pid, 0);
}

/* SIGTERM: the bridge must drain and exit 0; returns its exit status. */
static int bridge_term(struct bridge *b)
{
	int st = nu_stop(b->pid, SIGTERM, 15000);

	b->pid = 0;
	return st;
}

static void bridge_free(struct bridge *b)
{
	for (int i = 0; i < b->argc; i++)
		free(b->argv[i]);
	b->argc = 0;
}

/* The counters of RING's bridge, as another process reads them: its line of
 * `shmring bridge --stats` in LINE (printed too), and the numbers. */
static void bridge_counters(const char *ring, char *line, size_t len,
			    unsigned long long *fw, unsigned long long *ack,
			    unsigned long long *redel, unsigned long long *rej,
			    unsigned long long *rec, unsigned long long *dup)
{
	static struct proc p;
	char *argv[] = { (char *)tool_path(), "bridge", "--stats", (char *)ring, NULL };

	cr_assert_eq(proc_run(&p, argv, 10000), 0);
	cr_assert_not_null(line_starting(p.outbuf, ring, line, len), "%s", p.outbuf);
	fprintf(stderr, "%s", p.outbuf);
	cr_assert_eq(sscanf(line, "%*s %*s %*s %llu %llu %llu %llu %llu %llu", fw, ack,
			    redel, rej, rec, dup),
		     6, "%s", line);
}

/* ---- network namespaces -------------------------------------------------- */

static bool sh_ok(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd) == 0;
}

/* Two namespaces joined by a veth pair, 169.254.77.1 (A) and .2 (B):
 * link-local addresses that exist only between these two namespaces. */
static bool netns_up(const char *a, const char *b, const char *va, const char *vb)
{
	return sh_ok("ip netns add %s && ip netns add %s", a, b) &&
	       sh_ok("ip link add %s type veth peer name %s", va, vb) &&
	       sh_ok("ip link set %s netns %s && ip link set %s netns %s", va, a, vb,
		     b) &&
	       sh_ok("ip -n %s addr add 169.254.77.1/30 dev %s && ip -n %s link set %s up && "
		     "ip -n %s link set lo up",
		     a, va, a, va, a) &&
	       sh_ok("ip -n %s addr add 169.254.77.2/30 dev %s && ip -n %s link set %s up && "
		     "ip -n %s link set lo up",
		     b, vb, b, vb, b);
}

static void netns_down(const char *a, const char *b)
{
	sh_ok("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null; true", a, b);
}

/* ---- the scenario runner ------------------------------------------------- */

static unsigned int rnd(unsigned int *state, unsigned int lo, unsigned int hi)
{
	*state = *state * 1103515245u + 12345u;
	return lo + (*state >> 8) % (hi - lo + 1);
}

/* Bridge in ended by itself with status ST: the crash the scenario injects
 * (SIGKILL between push and ack) restarts it, with the next one armed while
 * some are left; anything else fails the test. */
static void in_crashed(struct shared *sh, const struct scenario *sc, struct bridge *in,
		       int st, int *crashes, unsigned int *rs)
{
	char num[32];

	in->pid = 0;
	if (!sc->inject_crashes || !WIFSIGNALED(st)) {
		fail(sh, "bridge in exited by itself (status %d)", st);
		return;
	}
	if (++*crashes < sc->inject_crashes) {
		snprintf(num, sizeof(num), "%u", rnd(rs, 2, 40));
		setenv("SHMRING_BRIDGE_CRASH_AFTER_BATCH", num, 1);
	}
	bridge_start(in);
	unsetenv("SHMRING_BRIDGE_CRASH_AFTER_BATCH");
}

static void run(struct scenario *sc)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char base[PATH_MAX], urls[512], subject[96], stream[64], durable[64], num[32],
		nsa[32], nsb[32], va[16], vb[16], url_in[512];
	struct nu_server nodes[NU_MAX_NODES];
	struct producer_arg pa[MAXPROD];
	struct consumer_arg ca;
	struct bridge out = { 0 }, in = { 0 };
	pid_t prod[MAXPROD], cons;
	uint64_t total, start, deadline;
	unsigned int rs = (unsigned int)getpid() ^ (unsigned int)time(NULL);
	uint64_t dups_seen = 0;
	int killed_in = 0; /* SIGKILLs of bridge in from outside */
	int server_restarts = 0, node_kills = 0, in_kills = 0, out_kills = 0, crashes = 0;
	bool fault_done = false;
	const char *host = "127.0.0.1";
	TEST_NAME(ring_a, "bra");
	TEST_NAME(ring_b, "brb");

	cr_assert_neq(sh, MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	sc->per_producer /= SCALE;
	total = (uint64_t)sc->producers * sc->per_producer;
	nu_tmpdir(base, sizeof(base), sc->tag);
	cr_assert(base[0], "mkdtemp: %s", strerror(errno));
	snprintf(subject, sizeof(subject), "shmring.test.%s.%d", sc->tag, (int)getpid());
	snprintf(stream, sizeof(stream), "T%s%d", sc->tag, (int)getpid());
	snprintf(durable, sizeof(durable), "d%s%d", sc->tag, (int)getpid());
	snprintf(nsa, sizeof(nsa), "shmr-a-%d", (int)getpid());
	snprintf(nsb, sizeof(nsb), "shmr-b-%d", (int)getpid());
	snprintf(va, sizeof(va), "shva%d", (int)getpid() % 100000);
	snprintf(vb, sizeof(vb), "shvb%d", (int)getpid() % 100000);
	if (sc->netns) {
		netns_down(nsa, nsb);
		cr_assert(netns_up(nsa, nsb, va, vb), "could not set up the namespaces");
		host = "169.254.77.1";
	}
	cr_assert(nu_cluster_start(nodes, sc->nodes, base, host, sc->netns ? nsa : NULL),
		  "nats-server did not start (logs in %s)", base);
	nu_urls(urls, sizeof(urls), nodes, sc->nodes);
	snprintf(url_in, sizeof(url_in), "%s", urls);

	ca = (struct consumer_arg){ .sc = sc, .ring = ring_b, .sh = sh };
	cons = fork_child(consumer, &ca);

	/* bridge out creates ring A from options; bridge in opens ring B, which
	 * the consumer made, with the geometry its header records. */
	snprintf(out.log, sizeof(out.log), "%s/bridge-out.log", base);
	arg(&out, tool_path());
	arg(&out, "bridge");
	arg(&out, "out");
	arg(&out, ring_a);
	arg(&out, urls);
	arg(&out, subject);
	arg(&out, "--create-stream");
	arg(&out, stream);
	arg(&out, "--policy");
	arg(&out, sc->policy_a == SHMRING_SPSC ? "spsc" :
		  sc->policy_a == SHMRING_MPSC ? "mpsc" :
						 "mpmc");
	arg(&out, "--elem-size");
	arg(&out, "64");
	snprintf(num, sizeof(num), "%zu", sc->cap_a);
	arg(&out, "--capacity");
	arg(&out, num);
	arg(&out, "--ack-wait");
	arg(&out, "2000");
	if (sc->nodes > 1) {
		snprintf(num, sizeof(num), "%d", sc->nodes);
		arg(&out, "--replicas");
		arg(&out, num);
	}
	out.netns = sc->netns ? nsa : NULL;

	snprintf(in.log, sizeof(in.log), "%s/bridge-in.log", base);
	arg(&in, tool_path());
	arg(&in, "bridge");
	arg(&in, "in");
	arg(&in, url_in);
	arg(&in, subject);
	arg(&in, ring_b);
	arg(&in, "--durable");
	arg(&in, durable);
	arg(&in, "--create-stream");
	arg(&in, stream);
	if (sc->nodes > 1) {
		snprintf(num, sizeof(num), "%d", sc->nodes);
		arg(&in, "--replicas");
		arg(&in, num);
	}
	arg(&in, "--seq-offset");
	snprintf(num, sizeof(num), "%d", SEQ_OFF);
	arg(&in, num);
	arg(&in, "--batch");
	snprintf(num, sizeof(num), "%d", sc->batch);
	arg(&in, num);
	arg(&in, "--ack-wait");
	snprintf(num, sizeof(num), "%d", sc->in_ack_wait_ms);
	arg(&in, num);
	if (sc->dedup) {
		arg(&in, "--dedup");
		arg(&in, "-vv");
	}
	in.netns = sc->netns ? nsb : NULL;

	/* Ring B must exist before bridge in opens it with its geometry. */
	for (int i = 0; i < 500; i++) {
		SHMRING_INFO(info);

		if (!shmring_stat(ring_b, &info))
			break;
		nu_sleep_ms(10);
	}
	if (sc->inject_crashes) {
		snprintf(num, sizeof(num), "%u", rnd(&rs, 2, 40));
		setenv("SHMRING_BRIDGE_CRASH_AFTER_BATCH", num, 1);
		if (sc->crash_at_commit)
			setenv("SHMRING_BRIDGE_CRASH_POINT", "commit", 1);
	}
	bridge_start(&in);
	unsetenv("SHMRING_BRIDGE_CRASH_AFTER_BATCH");
	bridge_start(&out);
	for (int i = 0; i < sc->producers; i++) {
		pa[i] = (struct producer_arg){ .sc = sc,
					       .ring = ring_a,
					       .id = (uint32_t)i + 1 };
		prod[i] = fork_child(producer, &pa[i]);
	}

	start = nu_now_ns();
	deadline = start + (uint64_t)sc->timeout_s * 1000000000ull;
	{
		uint64_t next_kill = start + rnd(&rs, 300, 900) * 1000000ull;

		while (!atomic_load(&sh->done) && !atomic_load(&sh->failed) &&
		       nu_now_ns() < deadline) {
			uint64_t now = nu_now_ns(), u = atomic_load(&sh->unique);
			int st;

			nu_sleep_ms(20);
			/* The server restart and the node loss, once, a third
			 * of the way through. */
			if (!fault_done && u > total / 3) {
				fault_done = true;
				if (sc->restart_server) {
					nu_server_stop(&nodes[0], SIGTERM);
					if (sc->lose_consumer_state) {
						char odat[PATH_MAX];

						snprintf(
							odat, sizeof(odat),
							"%s/store/jetstream/$G/streams/%s/"
							"obs/%s/o.dat",
							nodes[0].dir, stream, durable);
						cr_assert_eq(truncate(odat, 0), 0,
							     "%s: %s", odat,
							     strerror(errno));
					}
					nu_sleep_ms(rnd(&rs, 100, 1000));
					cr_assert(nu_server_run(&nodes[0]),
						  "nats-server did not come back (%s)",
						  nodes[0].log);
					server_restarts++;
				}
				if (sc->kill_node) {
					nu_server_stop(&nodes[rnd(&rs, 0, 2)], SIGKILL);
					node_kills++;
				}
			}
			if (sc->kill_bridges && now >= next_kill && u < total * 9 / 10) {
				/* Which bridge: out, in, or both. */
				unsigned int which = rnd(&rs, 0, 2);

				if (which != 1) {
					nu_stop(out.pid, SIGKILL, 1000);
					out_kills++;
				}
				if (which != 0) {
					nu_stop(in.pid, SIGKILL, 1000);
					in_kills++;
					killed_in++;
				}
				nu_sleep_ms(rnd(&rs, 0, 300));
				if (which != 1)
					bridge_start(&out);
				if (which != 0)
					bridge_start(&in);
				next_kill =
					nu_now_ns() + rnd(&rs, 400, 1500) * 1000000ull;
			}
			/* A bridge that ends by itself is a failure... */
			if (out.pid > 0 && waitpid(out.pid, &st, WNOHANG) == out.pid) {
				out.pid = 0;
				fail(sh, "bridge out exited by itself (status %d)", st);
			}
			/* ...but for an injected crash (between push and ack). */
			if (in.pid > 0 && waitpid(in.pid, &st, WNOHANG) == in.pid)
				in_crashed(sh, sc, &in, st, &crashes, &rs);
		}
	}
	/* A crash injected into the batch that brought the last message: the
	 * loop ended before it saw it. Restarted, so the drain is tested. */
	{
		int st;

		if (in.pid > 0 && waitpid(in.pid, &st, WNOHANG) == in.pid)
			in_crashed(sh, sc, &in, st, &crashes, &rs);
	}
	in_kills += crashes;
	{
		double secs = (double)(nu_now_ns() - start) / 1e9;
		uint64_t dups, bound;

		/* Stop everything: the bridges must drain and exit 0. */
		int st_out = bridge_term(&out), st_in = bridge_term(&in);

		atomic_store(&sh->finish, true);
		expect_child_ok(cons);
		dups = dups_seen = atomic_load(&sh->dups);
		/* After a failure the producers may wait on a full ring A. */
		for (int i = 0; i < sc->producers; i++) {
			if (!atomic_load(&sh->done))
				kill(prod[i], SIGKILL);
			if (wait_child(prod[i]) && atomic_load(&sh->done))
				cr_assert_fail("producer %d failed", i + 1);
		}
		cr_assert_not(atomic_load(&sh->failed), "%s: %s (logs in %s)", sc->tag,
			      sh->why, base);
		cr_assert_eq(st_out, 0,
			     "bridge out exited with %d after SIGTERM (logs in %s)",
			     st_out, base);
		cr_assert_eq(st_in, 0,
			     "bridge in exited with %d after SIGTERM (logs in %s)", st_in,
			     base);
		cr_assert_eq(atomic_load(&sh->unique), total,
			     "%s: %llu of %llu messages arrived in %.1f s (logs in %s)",
			     sc->tag, (unsigned long long)atomic_load(&sh->unique),
			     (unsigned long long)total, secs, base);
		/* Duplicates: a crash of bridge in between push and the flush
		 * of its acks leaves at most one batch unacknowledged (the
		 * consumer's MaxAckPending), and so does a server that goes away
		 * with the acks in flight. A cluster node that dies can also
		 * take along acks it had not yet replicated to the consumer's
		 * new leader: a few batches. */
		bound = (uint64_t)sc->batch *
			(uint64_t)(in_kills + server_restarts + 4 * node_kills);
		fprintf(stderr,
			"bridge %s: %llu messages checked in %.1f s (%.0f/s), %d out and %d in "
			"SIGKILLs, %d server restarts, %d nodes killed, %llu duplicates "
			"(bound %llu)\n",
			sc->tag, (unsigned long long)total, secs, (double)total / secs,
			out_kills, in_kills, server_restarts, node_kills,
			(unsigned long long)dups, (unsigned long long)bound);
		if (sc->dedup || sc->strict)
			cr_assert_eq(dups, 0,
				     "%s: %llu duplicates, the first stream message %llu "
				     "(logs in %s)",
				     sc->tag, (unsigned long long)dups,
				     (unsigned long long)atomic_load(&sh->first_dup),
				     base);
		cr_assert_leq(dups, bound,
			      "%s: %llu duplicates, more than %llu (logs in %s)", sc->tag,
			      (unsigned long long)dups, (unsigned long long)bound, base);
	}
	{
		char line[512];
		unsigned long long fw, ack, redel, rej, rec, dup;

		bridge_counters(ring_b, line, sizeof(line), &fw, &ack, &redel, &rej, &rec,
				&dup);
		/* Everything pushed once, plus the documented duplicates; a
		 * SIGKILL between a commit and the counter's update leaves that
		 * run (at most a batch) uncounted. */
		cr_assert_leq(fw, total + dups_seen, "%s", line);
		cr_assert_geq(fw + (uint64_t)sc->batch * (uint64_t)killed_in,
			      total + dups_seen, "%s", line);
		if (sc->inject_crashes) {
			/* Each crash left a pushed batch unacknowledged... */
			cr_assert_geq(redel, (unsigned long long)sc->inject_crashes, "%s",
				      line);
			/* ...which the next bridge drops: the record has it,
			 * or, for a crash before the record, --dedup's journal.
			 * Without --dedup that one is pushed twice. */
			if (sc->dedup || !sc->crash_at_commit)
				cr_assert_geq(dup, (unsigned long long)sc->inject_crashes,
					      "%s: no redelivery dropped", line);
			if (sc->crash_at_commit && !sc->dedup)
				cr_assert_geq(dups_seen, (uint64_t)sc->inject_crashes,
					      "%s", line);
		}
		/* The server delivered the stream again from its start, and
		 * the record dropped it: else this test tested nothing. */
		if (sc->lose_consumer_state)
			cr_assert_gt(dup, (unsigned long long)sc->batch,
				     "%s: the server replayed nothing", line);
	}
	for (int i = 0; i < sc->nodes; i++)
		nu_server_stop(&nodes[i], SIGTERM);
	if (sc->netns)
		netns_down(nsa, nsb);
	bridge_free(&out);
	bridge_free(&in);
	nu_rmtree(base);
	munmap(sh, sizeof(*sh));
}

/* ---- the tests ----------------------------------------------------------- */

/* A scenario test: one server, AckWait 2 s and 300 s unless SC says
 * otherwise; skipped without the bridge; one at a time. */
static void scenario_test(struct scenario sc)
{
	skip_unless_bridge();
	if (!sc.nodes)
		sc.nodes = 1;
	if (!sc.in_ack_wait_ms)
		sc.in_ack_wait_ms = 2000;
	if (!sc.timeout_s)
		sc.timeout_s = 300;
	serialize();
	run(&sc);
}

Test(bridge, million_messages_through_one_server, .timeout = 600)
{
	scenario_test((struct scenario){
		.tag = "one",
		.policy_a = SHMRING_MPSC,
		.policy_b = SHMRING_SPSC,
		.producers = 2,
		.per_producer = 500000,
		.cap_a = 4096,
		.cap_b = 4096,
		.strict = true,
		.batch = 256,
		.in_ack_wait_ms = 5000,
	});
}

Test(bridge, bridges_killed_and_server_restarted, .timeout = 600)
{
	scenario_test((struct scenario){
		.tag = "kill",
		.policy_a = SHMRING_MPSC,
		.policy_b = SHMRING_SPSC,
		.producers = 2,
		.per_producer = 100000,
		.cap_a = 4096,
		.cap_b = 4096,
		.kill_bridges = true,
		.restart_server = true,
		.batch = 128,
	});
}

/* The server restarts without the consumer's state (an empty o.dat) and
 * delivers the stream again from its start: bridge in drops what is at or
 * below the ack floor it saw, so the ring gets no more than one batch
 * again. */
Test(bridge, server_that_lost_the_consumer_state_replays_nothing, .timeout = 600)
{
	scenario_test((struct scenario){
		.tag = "lost",
		.policy_a = SHMRING_SPSC,
		.policy_b = SHMRING_MPSC,
		.producers = 1,
		.per_producer = 100000,
		.cap_a = 4096,
		.cap_b = 4096,
		.restart_server = true,
		.lose_consumer_state = true,
		.batch = 128,
	});
}

/* A crash after the push and its record, before the ack: JetStream
 * delivers that batch again, and the next bridge drops it. */
Test(bridge, crash_before_the_ack_pushes_nothing_twice, .timeout = 600)
{
	scenario_test((struct scenario){
		.tag = "crashr",
		.policy_a = SHMRING_SPSC,
		.policy_b = SHMRING_MPSC,
		.producers = 1,
		.per_producer = 50000,
		.cap_a = 1024,
		.cap_b = 512,
		.inject_crashes = 4,
		.strict = true,
		.slow_start = true,
		.batch = 100,
	});
}

/* A crash between a commit and its record (the one window left): that
 * run of elements is pushed again, at most one batch per crash. */
Test(bridge, crash_between_commit_and_record_repeats_one_batch, .timeout = 600)
{
	scenario_test((struct scenario){
		.tag = "crash",
		.policy_a = SHMRING_SPSC,
		.policy_b = SHMRING_SPSC,
		.producers = 1,
		.per_producer = 50000,
		.cap_a = 1024,
		.cap_b = 512,
		.inject_crashes = 4,
		.crash_at_commit = true,
		.slow_start = true,
		.batch = 100,
	});
}

/* The same crashes with --dedup (its journal is written before the
 * commit): not one duplicate reaches the ring. */
Test(bridge, dedup_pushes_each_message_once, .timeout = 600)
{
	scenario_test((struct scenario){
		.tag = "dedup",
		.policy_a = SHMRING_SPSC,
		.policy_b = SHMRING_SPSC,
		.producers = 1,
		.per_producer = 50000,
		.cap_a = 1024,
		.cap_b = 512,
		.inject_crashes = 4,
		.crash_at_commit = true,
		.dedup = true,
		.slow_start = true,
		.batch = 100,
	});
}

Test(bridge, three_node_cluster_loses_a_node, .timeout = 600)
{
	scenario_test((struct scenario){
		.tag = "cluster",
		.policy_a = SHMRING_MPSC,
		.policy_b = SHMRING_SPSC,
		.producers = 2,
		.per_producer = 50000,
		.cap_a = 4096,
		.cap_b = 4096,
		.nodes = 3,
		.kill_node = true,
		.batch = 256,
	});
}

Test(bridge, two_hosts_in_network_namespaces, .timeout = 600)
{
	if (!is_root())
		cr_skip_test("network namespaces need root");
	if (!nu_have("ip"))
		cr_skip_test("ip (iproute2) is not installed");
	scenario_test((struct scenario){
		.tag = "netns",
		.policy_a = SHMRING_SPSC,
		.policy_b = SHMRING_MPSC,
		.producers = 1,
		.per_producer = 100000,
		.cap_a = 2048,
		.cap_b = 2048,
		.strict = true,
		.batch = 256,
		.in_ack_wait_ms = 5000,
	});
}

/* Messages of another size on the subject (here from a second ring of 32-byte
 * elements bridged into the same stream) are terminated, counted and never
 * pushed; the counters read back as OpenMetrics. */
Test(bridge, wrong_size_messages_are_terminated, .timeout = 120)
{
	char base[PATH_MAX], url[128], subject[96], stream[64], durable[64], line[512];
	struct bridge out = { 0 }, out_c = { 0 }, in = { 0 };
	struct nu_server node;
	unsigned char m[ELEM] = { 0 };
	struct shmring *a, *c, *b;
	static struct proc p;
	TEST_NAME(ring_a, "wsa");
	TEST_NAME(ring_b, "wsb");
	TEST_NAME(ring_c, "wsc");

	skip_unless_bridge();
	serialize();
	nu_tmpdir(base, sizeof(base), "size");
	cr_assert(nu_cluster_start(&node, 1, base, "127.0.0.1", NULL));
	nu_urls(url, sizeof(url), &node, 1);
	snprintf(subject, sizeof(subject), "shmring.test.size.%d", (int)getpid());
	snprintf(stream, sizeof(stream), "Tsize%d", (int)getpid());
	snprintf(durable, sizeof(durable), "dsize%d", (int)getpid());
	cr_assert_not_null(a = shmring_producer(SHMRING_SPSC, ring_a, ELEM, 256, NULL));
	cr_assert_not_null(c = shmring_producer(SHMRING_SPSC, ring_c, 32, 256, NULL));
	cr_assert_not_null(b = shmring_consumer(SHMRING_SPSC, ring_b, ELEM, 256, NULL));
	{
		struct bridge *bs[3] = { &out, &out_c, &in };
		const char *rings[3] = { ring_a, ring_c, ring_b };

		for (int i = 0; i < 3; i++) {
			snprintf(bs[i]->log, sizeof(bs[i]->log), "%s/bridge-%d.log", base,
				 i);
			arg(bs[i], tool_path());
			arg(bs[i], "bridge");
			arg(bs[i], i < 2 ? "out" : "in");
			if (i < 2)
				arg(bs[i], rings[i]);
			arg(bs[i], url);
			arg(bs[i], subject);
			if (i == 2) {
				arg(bs[i], rings[i]);
				arg(bs[i], "--durable");
				arg(bs[i], durable);
				arg(bs[i], "--ack-wait");
				arg(bs[i], "500");
			}
			arg(bs[i], "--create-stream");
			arg(bs[i], stream);
			bridge_start(bs[i]);
		}
	}
	for (uint64_t i = 0; i < 1000; i++) {
		msg_fill(m, ELEM, 1, i);
		cr_assert_eq(shmring_push(a, m), 0);
		if (i % 100 == 50) {
			msg_fill(m, 32, 2, i);
			cr_assert_eq(shmring_push(c, m), 0);
		}
	}
	for (uint64_t i = 0; i < 1000; i++) {
		uint32_t prod;
		uint64_t seq;

		cr_assert_eq(shmring_timed_pop(b, m, 20000000000ull), 0,
			     "message %llu missing", (unsigned long long)i);
		cr_assert_eq(msg_check(m, ELEM, &prod, &seq), 0);
		cr_assert_eq(prod, 1);
		cr_assert_eq(seq, i);
	}
	/* Terminated, not merely unacknowledged: not delivered again after
	 * AckWait (500 ms). */
	nu_sleep_ms(2000);
	cr_assert_eq(shmring_timed_pop(b, m, 100000000ull), -1);
	{
		char *argv[] = { (char *)tool_path(), "bridge",	      "--stats",
				 "--openmetrics",     (char *)ring_b, NULL };
		char want[256];

		cr_assert_eq(proc_run(&p, argv, 10000), 0);
		snprintf(
			want, sizeof(want),
			"shmring_bridge_rejected_total{ring=\"%s\",direction=\"in\"} 10\n",
			ring_b);
		cr_assert(strstr(p.outbuf, want), "no '%s' in:\n%s", want, p.outbuf);
		snprintf(
			want, sizeof(want),
			"shmring_bridge_forwarded_total{ring=\"%s\",direction=\"in\"} 1000\n",
			ring_b);
		cr_assert(strstr(p.outbuf, want), "no '%s' in:\n%s", want, p.outbuf);
		cr_assert(strstr(p.outbuf, "# TYPE shmring_bridge_rejected counter\n"),
			  "%s", p.outbuf);
		cr_assert(strstr(p.outbuf, "shmring_bridge_up{ring=\""), "%s", p.outbuf);
		cr_assert(strlen(p.outbuf) > 6 &&
				  !strcmp(p.outbuf + strlen(p.outbuf) - 6, "# EOF\n"),
			  "%s", p.outbuf);
	}
	{
		/* `shmring stat --openmetrics` prints the ring's families and its
		 * bridge's, in one document the strict reference parser
		 * (python3-prometheus-client) accepts; and nothing of the
		 * bridges of other rings. */
		char *argv[] = { (char *)tool_path(), "stat", "--openmetrics",
				 (char *)ring_b, NULL };
		char code[1024];
		static struct proc py;

		cr_assert_eq(proc_run(&p, argv, 10000), 0, "%s", p.errbuf);
		snprintf(code, sizeof(code),
			 "from prometheus_client.openmetrics.parser import "
			 "text_string_to_metric_families as parse\n"
			 "fams = {f.name: f for f in parse(sys.stdin.read())}\n"
			 "f = fams['shmring_bridge_rejected']\n"
			 "assert f.type == 'counter', f\n"
			 "assert [(s.labels, s.value) for s in f.samples] == "
			 "[({'ring': '%s', 'direction': 'in'}, 10)], f\n"
			 "assert fams['shmring_pushed'].samples[0].value == 1000\n",
			 ring_b);
		cr_assert_eq(python(&py, code, p.outbuf), 0, "%s\n%s", py.errbuf,
			     p.outbuf);
		cr_assert_null(strstr(p.outbuf, ring_a), "%s", p.outbuf);
	}
	{
		/* `shmring ls --openmetrics PATTERN`: the bridges of the rings
		 * matched, so none when no ring is. */
		char *argv[] = { (char *)tool_path(), "ls", "--openmetrics",
				 "shmring-t-no-such-ring-*", NULL };

		cr_assert_eq(proc_run(&p, argv, 10000), 0, "%s", p.errbuf);
		cr_assert_null(strstr(p.outbuf, "shmring_bridge_"), "%s", p.outbuf);
	}
	{
		/* All bridges' counters, for every ring: each appears. */
		char *argv[] = { (char *)tool_path(), "bridge", "--stats", NULL };

		cr_assert_eq(proc_run(&p, argv, 10000), 0);
		cr_assert_not_null(line_starting(p.outbuf, ring_a, line, sizeof(line)),
				   "%s", p.outbuf);
		cr_assert_not_null(line_starting(p.outbuf, ring_c, line, sizeof(line)),
				   "%s", p.outbuf);
	}
	cr_assert_eq(bridge_term(&out), 0);
	cr_assert_eq(bridge_term(&out_c), 0);
	cr_assert_eq(bridge_term(&in), 0);
	nu_server_stop(&node, SIGTERM);
	shmring_close(a);
	shmring_close(b);
	shmring_close(c);
	bridge_free(&out);
	bridge_free(&out_c);
	bridge_free(&in);
	nu_rmtree(base);
}

/* The command line without a server: usage errors, and a build without
 * CONFIG_NATS that says so. */
/* Pushes N messages of producer ID into A and checks that B gets them all,
 * in order, within 20 s each. */
static void push_n(struct shmring *a, uint32_t id, uint64_t n)
{
	unsigned char m[ELEM];

	for (uint64_t i = 0; i < n; i++) {
		msg_fill(m, ELEM, id, i);
		cr_assert_eq(shmring_push(a, m), 0);
	}
}

/* Pops N messages of producer ID from B, each once and in order. */
static void pop_n(struct shmring *b, uint32_t id, uint64_t n)
{
	unsigned char m[ELEM];

	for (uint64_t i = 0; i < n; i++) {
		uint32_t prod;
		uint64_t seq;

		cr_assert_eq(shmring_timed_pop(b, m, 20000000000ull), 0,
			     "producer %u: message %llu missing", id,
			     (unsigned long long)i);
		cr_assert_eq(msg_check(m, ELEM, &prod, &seq), 0);
		cr_assert_eq(prod, id);
		cr_assert_eq(seq, i, "producer %u: message %llu where %llu was due (%s)",
			     id, (unsigned long long)seq, (unsigned long long)i,
			     seq < i ? "pushed twice" : "lost");
	}
}

/* N messages of producer ID into A, and out of B. */
static void through(struct shmring *a, struct shmring *b, uint32_t id, uint64_t n)
{
	push_n(a, id, n);
	pop_n(b, id, n);
}

/* One server, SPSC rings A (ours to push) and B (ours to pop) of 256
 * elements, bridge out A -> SUBJECT and bridge in SUBJECT -> B (batch 64,
 * plus IN_EXTRA), made ready but not started; logs in BASE. */
struct pair {
	char base[PATH_MAX], url[128], subject[96], stream[64], durable[64];
	struct bridge out, in;
	struct nu_server node;
	struct shmring *a, *b;
};

static void pair_init(struct pair *p, const char *tag, const char *ring_a,
		      const char *ring_b, const char *const *in_extra)
{
	memset(p, 0, sizeof(*p));
	skip_unless_bridge();
	serialize();
	nu_tmpdir(p->base, sizeof(p->base), tag);
	cr_assert(nu_cluster_start(&p->node, 1, p->base, "127.0.0.1", NULL));
	nu_urls(p->url, sizeof(p->url), &p->node, 1);
	snprintf(p->subject, sizeof(p->subject), "shmring.test.%s.%d", tag,
		 (int)getpid());
	snprintf(p->stream, sizeof(p->stream), "T%s%d", tag, (int)getpid());
	snprintf(p->durable, sizeof(p->durable), "d%s%d", tag, (int)getpid());
	cr_assert_not_null(
		p->a = shmring_producer(SHMRING_SPSC, ring_a, ELEM, 256, NULL));
	cr_assert_not_null(
		p->b = shmring_consumer(SHMRING_SPSC, ring_b, ELEM, 256, NULL));
	snprintf(p->out.log, sizeof(p->out.log), "%s/bridge-out.log", p->base);
	snprintf(p->in.log, sizeof(p->in.log), "%s/bridge-in.log", p->base);
	{
		const char *
			o[] = { tool_path(), "bridge",		"out",	   ring_a, p->url,
				p->subject,  "--create-stream", p->stream, NULL },
		       *i[] = { tool_path(), "bridge",		"in",
				p->url,	     p->subject,	ring_b,
				"--durable", p->durable,	"--batch",
				"64",	     "--create-stream", p->stream,
				NULL };

		for (int k = 0; o[k]; k++)
			arg(&p->out, o[k]);
		for (int k = 0; i[k]; k++)
			arg(&p->in, i[k]);
		for (int k = 0; in_extra && in_extra[k]; k++)
			arg(&p->in, in_extra[k]);
	}
}

/* Both bridges must drain and exit 0 on SIGTERM; then all goes. */
static void pair_end(struct pair *p)
{
	cr_assert_eq(bridge_term(&p->out), 0, "logs in %s", p->base);
	cr_assert_eq(bridge_term(&p->in), 0, "logs in %s", p->base);
	nu_server_stop(&p->node, SIGTERM);
	shmring_close(p->a);
	shmring_close(p->b);
	bridge_free(&p->out);
	bridge_free(&p->in);
	nu_rmtree(p->base);
}

/* The stream is lost with the server's store and made again: its
 * sequences start at 1 again, which bridge in's record has from the old
 * stream. It must push them: the record is the old stream's. */
Test(bridge, a_stream_made_again_is_pushed_whole, .timeout = 120)
{
	static struct pair p;
	char cmd[PATH_MAX + 32];
	TEST_NAME(ring_a, "aga");
	TEST_NAME(ring_b, "agb");

	pair_init(&p, "again", ring_a, ring_b, NULL);
	bridge_start(&p.in);
	bridge_start(&p.out);
	through(p.a, p.b, 1, 1000);
	/* The server loses its store; bridge out, restarted, makes the stream
	 * again. Bridge in runs on: it subscribes again on its own. */
	nu_server_stop(&p.node, SIGTERM);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/store'", p.node.dir);
	cr_assert(sh_ok("%s", cmd));
	cr_assert(nu_server_run(&p.node), "nats-server did not come back (%s)",
		  p.node.log);
	cr_assert_eq(bridge_term(&p.out), 0);
	bridge_start(&p.out);
	through(p.a, p.b, 2, 1000);
	pair_end(&p);
}

/* --dedup: bridge in dies between a commit and its record (the run is in the
 * journal only), and comes back with the test hook ENV set to VAL. The run is
 * delivered again after AckWait (1 s): each message must reach ring B once,
 * and the run must come back (counted as redelivered, unless the hook hides
 * that) and be dropped: else the test tested nothing. */
static void dedup_after_crash(const char *tag, const char *env, const char *val,
			      bool counted_again)
{
	static struct pair p;
	const char *extra[] = { "--ack-wait", "1000", "--dedup", "-vv", NULL };
	unsigned char m[ELEM];
	char line[512];
	unsigned long long fw, ack, redel, rej, rec, dup;
	int st = 0;
	TEST_NAME(ring_a, "dwa");
	TEST_NAME(ring_b, "dwb");

	pair_init(&p, tag, ring_a, ring_b, extra);
	/* The second batch is committed, then the bridge dies (SIGKILL). */
	setenv("SHMRING_BRIDGE_CRASH_POINT", "commit", 1);
	setenv("SHMRING_BRIDGE_CRASH_AFTER_BATCH", "2", 1);
	bridge_start(&p.in);
	unsetenv("SHMRING_BRIDGE_CRASH_POINT");
	unsetenv("SHMRING_BRIDGE_CRASH_AFTER_BATCH");
	bridge_start(&p.out);
	push_n(p.a, 1, 300);
	for (int i = 0; i < 2000 && waitpid(p.in.pid, &st, WNOHANG) != p.in.pid; i++)
		nu_sleep_ms(10);
	cr_assert(
		WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		"bridge in did not crash after its second batch (status %d, logs in %s)",
		st, p.base);
	setenv(env, val, 1);
	bridge_start(&p.in);
	unsetenv(env);
	pop_n(p.b, 1, 300);
	cr_assert_neq(shmring_timed_pop(p.b, m, 1500000000ull), 0,
		      "a message pushed twice (logs in %s)", p.base);
	pair_end(&p);
	bridge_counters(ring_b, line, sizeof(line), &fw, &ack, &redel, &rej, &rec, &dup);
	if (counted_again)
		cr_assert_gt(redel, 0, "%s", line);
	cr_assert_gt(dup, 0, "%s", line);
}

/* The stream's info does not answer at first (its first three asks fail,
 * a second apart), so the run comes back while whose the journal is is not
 * known yet: it must wait for that, not be pushed. */
Test(bridge, dedup_waits_until_the_record_is_known, .timeout = 120)
{
	dedup_after_crash("dwait", "SHMRING_BRIDGE_STREAM_INFO_FAILS", "3", true);
}

/* nats-server before 2.10.14 (Debian 12 ships 2.9) can deliver a message
 * again with a delivery count of 1 after a failed redelivery (nats-server
 * #5305): the journal must be checked whatever the count. The hook makes
 * every delivery say 1. */
Test(bridge, dedup_drops_a_redelivery_counted_as_first, .timeout = 120)
{
	dedup_after_crash("dfirst", "SHMRING_BRIDGE_DELIVERED_AS_FIRST", "1", false);
}

/* SIGTERM at once after the start (a supervisor stopping what it just
 * restarted): the bridge drains and exits 0, though the signal came before
 * its handler was in place. And one bridge in per ring. */
Test(bridge, sigterm_right_after_the_start_drains)
{
	TEST_NAME(ring, "term");
	struct bridge in = { 0 };

	skip_unless_bridge();
	snprintf(in.log, sizeof(in.log), "/dev/null");
	arg(&in, tool_path());
	arg(&in, "bridge");
	arg(&in, "in");
	arg(&in, "nats://127.0.0.1:1"); /* nobody: it retries, and waits */
	arg(&in, "s");
	arg(&in, ring);
	arg(&in, "--durable");
	arg(&in, "d");
	arg(&in, "--create-stream");
	arg(&in, "S");
	for (int i = 0; i < 5; i++) {
		bridge_start(&in);
		cr_assert_eq(bridge_term(&in), 0, "round %d", i);
	}
	/* A second bridge in for the same ring is refused while the first
	 * lives (they would share the record of what was pushed), and
	 * accepted once it is gone. */
	{
		static struct proc p;

		char *stats[] = { (char *)tool_path(), "bridge", "--stats", (char *)ring,
				  NULL };
		char line[512];
		bool holds = false;

		bridge_start(&in);
		/* It holds the ring once its pid is in the state file. */
		for (int i = 0; i < 200 && !holds; i++) {
			nu_sleep_ms(50);
			holds = proc_run(&p, stats, 10000) == 0 &&
				line_starting(p.outbuf, ring, line, sizeof(line)) &&
				strstr(line, " connecting ");
		}
		cr_assert(holds, "%s", p.outbuf);
		cr_assert_eq(proc_run(&p, in.argv, 10000), 1, "%s", p.errbuf);
		cr_assert(strstr(p.errbuf, "another bridge in feeds this ring"), "%s",
			  p.errbuf);
		cr_assert_eq(nu_stop(in.pid, SIGKILL, 1000), 128 + SIGKILL);
		bridge_start(&in);
		cr_assert_eq(bridge_term(&in), 0);
	}
	bridge_free(&in);
}

/* The state file decides what bridge in does not push again: one another
 * user made in /dev/shm (world-writable) is refused, not trusted. */
Test(bridge, another_users_state_file_is_refused)
{
	static struct proc p;
	TEST_NAME(ring, "squat");
	char path[PATH_MAX];
	char *argv[] = { (char *)tool_path(),  "bridge", "in",
			 "nats://127.0.0.1:1", "s",	 (char *)ring,
			 "--durable",	       "d",	 NULL };
	int fd;

	skip_unless_bridge();
	if (!is_root())
		cr_skip_test("making a file another user owns needs root");
	snprintf(path, sizeof(path), "/dev/shm/shmring-bridge.%s.in", ring);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0666);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(fchown(fd, 65534, 65534), 0);
	cr_assert_eq(fchmod(fd, 0666), 0);
	close(fd);
	cr_assert_eq(proc_run(&p, argv, 10000), 1, "%s", p.errbuf);
	cr_assert(strstr(p.errbuf, "another user's file"), "%s", p.errbuf);
	/* Nothing was written into it. */
	{
		struct stat sb;

		cr_assert_eq(stat(path, &sb), 0);
		cr_assert_eq(sb.st_size, 0);
	}
	unlink(path);
}

Test(bridge, command_line)
{
	static struct proc p;
	char *no_durable[] = {
		(char *)tool_path(), "bridge", "in", "nats://127.0.0.1:1", "s", "r", NULL
	};
	char *run[] = { (char *)tool_path(), "bridge",	 "out",
			"shmring-t-never",   "nats://x", "s",
			"--elem-size",	     "64",	 NULL };
	char *bad[] = { (char *)tool_path(), "bridge", "out", "r", "u", "s",
			"--policy",	     "ring",   NULL };

	if (access(tool_path(), X_OK))
		cr_skip_test("%s is missing", tool_path());
	cr_assert_eq(proc_run(&p, bad, 10000), 2, "%s", p.errbuf);
	cr_assert_eq(proc_run(&p, no_durable, 10000), 2, "%s", p.errbuf);
	cr_assert(strstr(p.errbuf, "--durable"), "%s", p.errbuf);
#if CONFIG_NATS
	(void)run;
#if CONFIG_USDT
	{
		/* The probes of provider shmring_bridge are in the tool. */
		char *readelf[] = { "readelf", "-n", (char *)tool_path(), NULL };
		const char *probes[] = { "publish", "ack",    "fetch",
					 "push",    "reject", "reconnect" };

		if (nu_have("readelf")) {
			cr_assert_eq(proc_run(&p, readelf, 10000), 0);
			for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
				char want[64];
				const char *at = p.outbuf;
				bool found = false;

				snprintf(want, sizeof(want), "Name: %s\n", probes[i]);
				while (!found &&
				       (at = strstr(at, "Provider: shmring_bridge\n"))) {
					at += 25;
					found = !strncmp(strstr(at, "Name: "), want,
							 strlen(want));
				}
				cr_assert(found, "no USDT probe shmring_bridge:%s",
					  probes[i]);
			}
		}
	}
#endif
#else
	cr_assert_eq(proc_run(&p, run, 10000), 1);
	cr_assert(strstr(p.errbuf, "not compiled in"), "%s", p.errbuf);
#endif
}

/* --token: a bridge with the server's token moves messages; one with a wrong
 * token is refused and keeps trying, moving nothing. */
Test(bridge, token_authentication, .timeout = 120)
{
	char base[PATH_MAX], url[128], subject[96], stream[64], durable[64];
	struct bridge out = { 0 }, in = { 0 }, bad = { 0 };
	struct nu_server node;
	unsigned char m[ELEM];
	struct shmring *a, *b, *c;
	TEST_NAME(ring_a, "tka");
	TEST_NAME(ring_b, "tkb");
	TEST_NAME(ring_c, "tkc");

	skip_unless_bridge();
	serialize();
	nu_tmpdir(base, sizeof(base), "token");
	memset(&node, 0, sizeof(node));
	snprintf(node.name, sizeof(node.name), "n1");
	snprintf(node.dir, sizeof(node.dir), "%.400s/n1", base);
	mkdir(node.dir, 0755);
	snprintf(node.conf, sizeof(node.conf), "%.512s/nats.conf", node.dir);
	snprintf(node.log, sizeof(node.log), "%.512s/nats.log", node.dir);
	node.host = "127.0.0.1";
	node.token = "s3cret-token";
	node.port = nu_free_port();
	cr_assert(nu_server_conf(&node, &node, 1) && nu_server_run(&node), "%s",
		  node.log);
	nu_urls(url, sizeof(url), &node, 1);
	snprintf(subject, sizeof(subject), "shmring.test.token.%d", (int)getpid());
	snprintf(stream, sizeof(stream), "Ttoken%d", (int)getpid());
	snprintf(durable, sizeof(durable), "dtoken%d", (int)getpid());
	cr_assert_not_null(a = shmring_producer(SHMRING_SPSC, ring_a, ELEM, 64, NULL));
	cr_assert_not_null(c = shmring_producer(SHMRING_SPSC, ring_c, ELEM, 64, NULL));
	cr_assert_not_null(b = shmring_consumer(SHMRING_SPSC, ring_b, ELEM, 64, NULL));
	{
		struct bridge *bs[3] = { &out, &in, &bad };
		const char *rings[3] = { ring_a, ring_b, ring_c };
		const char *tokens[3] = { "s3cret-token", "s3cret-token", "wrong" };

		for (int i = 0; i < 3; i++) {
			snprintf(bs[i]->log, sizeof(bs[i]->log), "%s/bridge-%d.log", base,
				 i);
			arg(bs[i], tool_path());
			arg(bs[i], "bridge");
			arg(bs[i], i == 1 ? "in" : "out");
			if (i != 1)
				arg(bs[i], rings[i]);
			arg(bs[i], url);
			arg(bs[i], subject);
			if (i == 1) {
				arg(bs[i], rings[i]);
				arg(bs[i], "--durable");
				arg(bs[i], durable);
			}
			arg(bs[i], "--create-stream");
			arg(bs[i], stream);
			arg(bs[i], "--token");
			arg(bs[i], tokens[i]);
			bridge_start(bs[i]);
		}
	}
	for (uint64_t i = 0; i < 10; i++) {
		msg_fill(m, ELEM, 2, i);
		cr_assert_eq(shmring_push(c, m), 0); /* the refused bridge's ring */
	}
	for (uint64_t i = 0; i < 200; i++) {
		msg_fill(m, ELEM, 1, i);
		cr_assert_eq(shmring_push(a, m), 0);
	}
	for (uint64_t i = 0; i < 200; i++) {
		uint32_t prod;
		uint64_t seq;

		cr_assert_eq(shmring_timed_pop(b, m, 20000000000ull), 0,
			     "message %llu missing", (unsigned long long)i);
		cr_assert_eq(msg_check(m, ELEM, &prod, &seq), 0);
		cr_assert_eq(prod, 1, "a message from the bridge with the wrong token");
		cr_assert_eq(seq, i);
	}
	cr_assert_eq(shmring_timed_pop(b, m, 500000000ull), -1);
	/* Still running, still holding its 10 elements, and it said why. */
	cr_assert_eq(waitpid(bad.pid, NULL, WNOHANG), 0);
	cr_assert_eq(shmring_pending(c), 10);
	cr_assert(nu_wait_log(bad.log, "uthorization", 5000), "see %s", bad.log);
	cr_assert_eq(bridge_term(&out), 0);
	cr_assert_eq(bridge_term(&in), 0);
	cr_assert_eq(bridge_term(&bad), 0);
	nu_server_stop(&node, SIGTERM);
	shmring_close(a);
	shmring_close(b);
	shmring_close(c);
	bridge_free(&out);
	bridge_free(&in);
	bridge_free(&bad);
	nu_rmtree(base);
}
