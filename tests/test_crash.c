// SPDX-License-Identifier: MIT
/*
 * make check's share of the crash campaign and the soak (issue 9): their
 * tiny forms, run as the programs `make crash` and `make soak` run, so that
 * the tree's tests cover them. Each program checks every message itself and
 * exits non-zero on any violation; here we also hold it to a time limit,
 * read its totals (it really killed, faulted and checked something) and
 * look for rings it left behind.
 */
#include "procutil.h"

#include <glob.h>

/* The number after LABEL in TEXT's line that starts with PREFIX, or -1. */
static long long total(const char *text, const char *prefix, const char *label)
{
	char line[2048];
	const char *s;

	if (!line_starting(text, prefix, line, sizeof(line)))
		return -1;
	s = strstr(line, label);
	return s ? strtoll(s + strlen(label), NULL, 10) : -1;
}

/* Rings named after PID that are still there. */
static size_t leftovers(const char *tag, pid_t pid)
{
	char pat[128];
	glob_t g;
	size_t n;

	snprintf(pat, sizeof(pat), "/dev/shm/shmring-%s-%d-*", tag, (int)pid);
	if (glob(pat, 0, NULL, &g))
		return 0;
	n = g.gl_pathc;
	for (size_t i = 0; i < n; i++)
		unlink(g.gl_pathv[i]);
	globfree(&g);
	return n;
}

static void show(const struct proc *p)
{
	fprintf(stderr, "---- stdout\n%s---- stderr\n%s----\n", p->outbuf, p->errbuf);
}

Test(crash, tiny_campaign_every_message_accounted_for, .timeout = 240)
{
	BUILD_PATH(prog, "tests/crash");
	char *argv[] = { (char *)prog, "--tiny", NULL };
	static struct proc p;
	int st = proc_run(&p, argv, 200 * 1000);
	const char *t = "crash TOTAL:";

	if (st)
		show(&p);
	cr_expect_eq(st, 0, "crash --tiny: status %d", st);
	cr_expect_eq(total(p.outbuf, t, "TOTAL: "), 30, "every configuration ran");
	cr_expect_eq(total(p.outbuf, t, "configurations ("), 0, "configurations failed");
	cr_expect_eq(total(p.outbuf, t, "violations "), 0);
	cr_expect_gt(total(p.outbuf, t, "kills "), 100, "workers were killed");
	cr_expect_gt(total(p.outbuf, t, "mid-copy deaths "), 0,
		     "deaths mid-copy happened");
	cr_expect_gt(total(p.outbuf, t, "repairs "), 0, "dead claims were repaired");
	cr_expect_gt(total(p.outbuf, t, "messages checked "), 10000);
	cr_expect_eq(leftovers("crash", p.pid), 0, "rings left in /dev/shm");
}

Test(crash, tiny_soak_with_signals_and_eintr, .timeout = 240)
{
	BUILD_PATH(prog, "tests/soak");
	char *argv[] = { (char *)prog, "--tiny", "--inject-eintr", NULL };
	static struct proc p;
	int st = proc_run(&p, argv, 200 * 1000);
	const char *t = "soak TOTAL:";

	if (st)
		show(&p);
	cr_expect_eq(st, 0, "soak --tiny: status %d", st);
	/* 10^5 per policy, rounded up to whole lanes (1 SPSC, 3 MPSC/MPMC). */
	cr_expect_eq(total(p.outbuf, t, "TOTAL: "), 100000 + 2 * 100002);
	cr_expect_eq(total(p.outbuf, t, "signals sent, "), 0, "policies failed");
	cr_expect_gt(total(p.outbuf, "soak mpmc:", "signals handled "), 0);
	cr_expect_gt(total(p.outbuf, "soak mpmc:", "injected "), 0, "EINTR was retried");
	/* Handles opened with SHMRING_F_EINTR: the library's own EINTR. */
	cr_expect_gt(total(p.outbuf, "soak spsc:", "EINTR from the library ") +
			     total(p.outbuf, "soak mpsc:", "EINTR from the library ") +
			     total(p.outbuf, "soak mpmc:", "EINTR from the library "),
		     0, "no blocking call returned EINTR");
	cr_expect_eq(leftovers("soak", p.pid), 0, "rings left in /dev/shm");
}
