// SPDX-License-Identifier: MIT
/* `shmring trace`: the eBPF tracer counts exactly the operations a known
 * workload does, sees the ring reach its capacity, follows one process with
 * -p, and says clearly when BPF is not permitted. Needs root (CI runs as
 * root); without the privilege the tests skip with the tool's reason. */
#include "procutil.h"

#include <linux/capability.h>
#include <sys/prctl.h>

#define ELEM	  64
#define CAP	  16
#define WAIT_MS	  30000
#define FINISH_MS 20000

/* Starts `shmring trace ARGS...` and waits until it has attached. Skips the
 * test, with the tool's own explanation, when BPF is not permitted here. */
static void trace_start(struct proc *p, char *const args[])
{
	BUILD_PATH(tool, "shmring");
	char *argv[16] = { (char *)tool, "trace" };
	int n = 2;

	if (!CONFIG_BPF)
		cr_skip_test("built without CONFIG_BPF");
	for (int i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	proc_start(p, argv);
	if (proc_expect(p, "Hit Ctrl-C to end.", WAIT_MS))
		return;
	proc_finish(p, SIGKILL, FINISH_MS);
	if (strstr(p->errbuf, "not permitted"))
		cr_skip_test("%s", p->errbuf);
	cr_assert_fail("trace did not start (status %d): %s%s", p->status, p->outbuf,
		       p->errbuf);
}

/* The "NAME  push=..." line of the totals printed at exit. */
static const char *totals_line(const struct proc *p, const char *name, char *buf,
			       size_t len)
{
	const char *totals = strstr(p->outbuf, "\nTotals over");
	char prefix[128];

	cr_assert_not_null(totals, "no totals: %s", p->outbuf);
	snprintf(prefix, sizeof(prefix), "%s  push=", name);
	cr_assert_not_null(line_starting(totals, prefix, buf, len),
			   "%s not in totals: %s", name, totals);
	return buf;
}

/* Count in the histogram row RANGE of NAME's totals, -1 if there is none. */
static long long hist_count(const struct proc *p, const char *name, const char *range,
			    bool *marked)
{
	const char *block = strstr(strstr(p->outbuf, "\nTotals over"), name);
	const char *row;
	char pat[64];

	snprintf(pat, sizeof(pat), "    %s ", range);
	row = block ? strstr(block, pat) : NULL;
	if (!row)
		return -1;
	*marked = strstr(row, "<- capacity") &&
		  strstr(row, "<- capacity") < strchr(row, '\n');
	return strtoll(row + strlen(pat), NULL, 10);
}

Test(trace, counts_equal_the_operations_of_a_producer_and_a_stalled_consumer,
     .timeout = 120)
{
	TEST_NAME(name, "trace");
	BUILD_PATH(workload, "tests/ring_workload");
	static struct proc tr, wl;
	const uint64_t count = 2000;
	char line[1024], cnt[32];
	SHMRING_INFO(in);
	bool marked = false;
	long long n;

	trace_start(&tr, (char *[]){ (char *)name, NULL });
	snprintf(cnt, sizeof(cnt), "%llu", (unsigned long long)count);
	cr_assert_eq(proc_run(&wl,
			      (char *[]){ (char *)workload, (char *)name, "16", cnt,
					  "300", NULL },
			      60000),
		     0, "workload: %s", wl.errbuf);
	cr_assert_eq(shmring_stat(name, &in), 0);
	cr_assert_eq(proc_finish(&tr, SIGINT, FINISH_MS), 0, "trace: %s", tr.errbuf);

	totals_line(&tr, name, line, sizeof(line));
	cr_expect_eq(field(line, "push"), (long long)count, "%s", line);
	cr_expect_eq(field(line, "pushed"), (long long)count, "%s", line);
	cr_expect_eq(field(line, "pop"), (long long)count, "%s", line);
	cr_expect_eq(field(line, "popped"), (long long)count, "%s", line);
	cr_expect_eq(field(line, "open"), 2, "%s", line);
	cr_expect_eq(field(line, "close"), 2, "%s", line);
	/* The consumer stalled with the ring full: the producer found it so
	 * and slept. The header counts every sleep and wake too. */
	cr_expect_geq(field(line, "full"), 1, "%s", line);
	cr_expect_geq(in.producer_sleeps, 1);
	cr_expect_eq(field(line, "sleep"),
		     (long long)(in.producer_sleeps + in.consumer_sleeps), "%s", line);
	cr_expect_eq(field(line, "wake"), field(line, "sleep"), "%s", line);
	cr_expect_eq(field(line, "notify"),
		     (long long)(in.producer_wakes + in.consumer_wakes), "%s", line);

	n = hist_count(&tr, name, "[16, 32)", &marked);
	cr_expect_gt(n, 0, "occupancy never reached the capacity bucket: %s", tr.outbuf);
	cr_expect(marked, "capacity bucket not marked: %s", tr.outbuf);
	cr_expect(strstr(tr.outbuf, "producers asleep, ns"), "%s", tr.outbuf);
	shmring_unlink(name);
}

struct side {
	const char *name;
	int go; /* read end: the test writes once the tracer is attached */
	uint64_t count;
};

static void wait_go(const struct side *s)
{
	char c;

	while (read(s->go, &c, 1) < 0 && errno == EINTR)
		;
}

static int producer(void *arg)
{
	const struct side *s = arg;
	unsigned char m[ELEM] = { 0 };
	struct shmring *p;

	wait_go(s);
	p = shmring_producer(SHMRING_SPSC, s->name, ELEM, CAP, NULL);
	if (!p)
		return 1;
	for (uint64_t i = 0; i < s->count; i++)
		if (shmring_push(p, m))
			return 2;
	shmring_close(p);
	return 0;
}

static int consumer(void *arg)
{
	const struct side *s = arg;
	unsigned char m[ELEM];
	struct shmring *c;

	wait_go(s);
	c = shmring_consumer(SHMRING_SPSC, s->name, ELEM, CAP, NULL);
	if (!c)
		return 1;
	for (uint64_t i = 0; i < s->count; i++)
		if (shmring_pop(c, m))
			return 2;
	shmring_close(c);
	return 0;
}

Test(trace, p_follows_one_process_of_a_statically_linked_program, .timeout = 120)
{
	TEST_NAME(name, "tracep");
	static struct proc tr;
	int go[2];
	struct side s = { .name = name, .count = 500 };
	char line[1024], pid[16];
	pid_t prod, cons;

	if (!CONFIG_BPF)
		cr_skip_test("built without CONFIG_BPF");
	cr_assert_eq(pipe(go), 0);
	s.go = go[0];
	/* This test program linked libshmring.a: the probes are in its own
	 * executable, which -p finds through /proc/PID/exe. */
	prod = fork_child(producer, &s);
	cons = fork_child(consumer, &s);
	snprintf(pid, sizeof(pid), "%d", (int)prod);
	trace_start(&tr, (char *[]){ "-p", pid, NULL });
	cr_assert_eq(write(go[1], "gg", 2), 2);
	cr_expect_eq(wait_child(prod), 0);
	cr_expect_eq(wait_child(cons), 0);
	cr_assert_eq(proc_finish(&tr, SIGINT, FINISH_MS), 0, "trace: %s", tr.errbuf);

	cr_expect(strstr(tr.outbuf, "tests/test_trace"), "not the executable: %s",
		  tr.outbuf);
	totals_line(&tr, name, line, sizeof(line));
	cr_expect_eq(field(line, "push"), 500, "%s", line);
	cr_expect_eq(field(line, "pushed"), 500, "%s", line);
	cr_expect_eq(field(line, "open"), 1, "%s", line);
	cr_expect_eq(field(line, "close"), 1, "%s", line);
	cr_expect_eq(field(line, "pop"), 0, "the consumer is another process: %s", line);
	shmring_unlink(name);
}

/* In the child, before exec: keep uid 0 but lose the capabilities BPF and
 * uprobes need, for good (the bounding set survives exec). */
static void drop_bpf_caps(void)
{
	static const int caps[] = { CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON };

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		if (prctl(PR_CAPBSET_DROP, caps[i], 0, 0, 0))
			_exit(126);
}

Test(trace, without_permission_it_says_what_is_missing)
{
	BUILD_PATH(tool, "shmring");
	static struct proc p;

	if (!CONFIG_BPF)
		cr_skip_test("built without CONFIG_BPF");
	if (!is_root())
		cr_skip_test("needs root to drop capabilities (as this user, the "
			     "other tests of this file show the message)");
	if (sysctl_read("/proc/sys/kernel/unprivileged_bpf_disabled") == 0)
		cr_skip_test("unprivileged BPF is enabled here: nothing to refuse");
	proc_start_prep(&p, (char *[]){ (char *)tool, "trace", NULL }, drop_bpf_caps);
	cr_expect_eq(proc_finish(&p, 0, FINISH_MS), 1, "%s%s", p.outbuf, p.errbuf);
	cr_expect(strstr(p.errbuf, "not permitted to load BPF programs"), "%s", p.errbuf);
	cr_expect(strstr(p.errbuf, "CAP_BPF"), "%s", p.errbuf);
}
