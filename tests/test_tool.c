// SPDX-License-Identifier: MIT
/* The `shmring` tool's header commands (ls, stat, watch, unlink) on rings in
 * known states, next to files in /dev/shm that are not rings. */
#include "procutil.h"

#include <sys/stat.h>

#define ELEM 64
#define CAP  16

static void push_n(struct shmring *p, size_t n)
{
	unsigned char m[ELEM] = { 0 };

	for (size_t i = 0; i < n; i++)
		cr_assert_eq(shmring_try_push(p, m), 0);
}

/* Runs the tool with ARGS (NULL-terminated); returns its exit status. */
#define SHMRING(p, ...)                                               \
	({                                                            \
		BUILD_PATH(tool_, "shmring");                         \
		char *argv_[] = { (char *)tool_, __VA_ARGS__, NULL }; \
		proc_run(p, argv_, 20000);                            \
	})

static int die_holding_producer(void *arg)
{
	struct shmring *p = shmring_producer(SHMRING_SPSC, arg, ELEM, CAP, NULL);

	if (!p)
		return 1;
	push_n(p, 5);
	_exit(0); /* no close: the registry keeps this pid */
}

/* One ls row, split into its columns. */
struct row {
	char name[128], policy[8], occ[16], pct[8], waitp[8], waitc[8], prod[64],
		cons[64];
	size_t elem, cap;
};

static bool ls_row(const char *out, const char *name, struct row *r)
{
	char line[512], prefix[160];

	snprintf(prefix, sizeof(prefix), "%s ", name);
	if (!line_starting(out, prefix, line, sizeof(line)))
		return false;
	return sscanf(line, "%127s %7s %zu %zu %15s %7s %7s %7s %63s %63s", r->name,
		      r->policy, &r->elem, &r->cap, r->occ, r->pct, r->waitp, r->waitc,
		      r->prod, r->cons) == 10;
}

Test(tool, ls_shows_rings_in_known_states_and_skips_other_files)
{
	char prefix[64], empty[96], half[96], full[96], dead[96], junk[96], fifo[96],
		pattern[80], me[16], path[160];
	struct shmring *pe, *ce, *ph, *pf, *cm[2], *pm;
	static struct proc p;
	struct row r;
	pid_t child;

	snprintf(prefix, sizeof(prefix), "shmring-t-ls-%d", (int)getpid());
	snprintf(pattern, sizeof(pattern), "%s-*", prefix);
	snprintf(empty, sizeof(empty), "%s-empty", prefix);
	snprintf(half, sizeof(half), "%s-half", prefix);
	snprintf(full, sizeof(full), "%s-full", prefix);
	snprintf(dead, sizeof(dead), "%s-dead", prefix);
	snprintf(junk, sizeof(junk), "%s-junk", prefix);
	snprintf(fifo, sizeof(fifo), "%s-fifo", prefix);
	snprintf(me, sizeof(me), "%d", (int)getpid());

	cr_assert_not_null(pe = shmring_producer(SHMRING_SPSC, empty, ELEM, CAP, NULL));
	cr_assert_not_null(ce = shmring_consumer(SHMRING_SPSC, empty, ELEM, CAP, NULL));
	cr_assert_not_null(ph = shmring_producer(SHMRING_SPSC, half, ELEM, CAP, NULL));
	push_n(ph, CAP / 2);
	cr_assert_not_null(pf = shmring_producer(SHMRING_MPMC, full, 1472, 144, NULL));
	cr_assert_not_null(cm[0] = shmring_consumer(SHMRING_MPMC, full, 1472, 144, NULL));
	cr_assert_not_null(cm[1] = shmring_consumer(SHMRING_MPMC, full, 1472, 144, NULL));
	{
		unsigned char m[1472] = { 0 };

		for (int i = 0; i < 144; i++)
			cr_assert_eq(shmring_try_push(pf, m), 0);
	}
	child = fork_child(die_holding_producer, dead);
	cr_assert_eq(wait_child(child), 0);
	pm = shmring_consumer(SHMRING_SPSC, dead, ELEM, CAP, NULL);
	cr_assert_not_null(pm);
	write_shm_file(junk, "not a ring at all", 17);
	snprintf(path, sizeof(path), "/dev/shm/%s", fifo);
	cr_assert_eq(mkfifo(path, 0600), 0);

	cr_assert_eq(SHMRING(&p, "ls", pattern), 0, "stderr: %s", p.errbuf);
	cr_expect(strstr(p.outbuf, "NAME") == p.outbuf, "header first: %s", p.outbuf);

	cr_assert(ls_row(p.outbuf, empty, &r), "%s", p.outbuf);
	cr_expect_str_eq(r.policy, "spsc");
	cr_expect_eq(r.elem, ELEM);
	cr_expect_eq(r.cap, CAP);
	cr_expect_str_eq(r.occ, "0");
	cr_expect_str_eq(r.pct, "(0%)");
	cr_expect_str_eq(r.waitp, "P0");
	cr_expect_str_eq(r.waitc, "C0");
	cr_expect_str_eq(r.prod, me);
	cr_expect_str_eq(r.cons, me);

	cr_assert(ls_row(p.outbuf, half, &r), "%s", p.outbuf);
	cr_expect_str_eq(r.occ, "8");
	cr_expect_str_eq(r.pct, "(50%)");
	cr_expect_str_eq(r.prod, me);
	cr_expect_str_eq(r.cons, "-");

	cr_assert(ls_row(p.outbuf, full, &r), "%s", p.outbuf);
	cr_expect_str_eq(r.policy, "mpmc");
	cr_expect_eq(r.elem, 1472);
	cr_expect_eq(r.cap, 144);
	cr_expect_str_eq(r.occ, "144");
	cr_expect_str_eq(r.pct, "(100%)");
	{
		char two[40];

		snprintf(two, sizeof(two), "%s,%s", me, me);
		cr_expect_str_eq(r.cons, two);
	}

	cr_assert(ls_row(p.outbuf, dead, &r), "%s", p.outbuf);
	cr_expect_str_eq(r.occ, "5");
	{
		char want[32];

		snprintf(want, sizeof(want), "%d(dead)", (int)child);
		cr_expect_str_eq(r.prod, want);
		cr_expect_str_eq(r.cons, me);
	}

	cr_expect_null(strstr(p.outbuf, junk), "junk listed: %s", p.outbuf);
	cr_expect_null(strstr(p.outbuf, fifo), "fifo listed: %s", p.outbuf);

	shmring_close(pe);
	shmring_close(ce);
	shmring_close(ph);
	shmring_close(pf);
	shmring_close(cm[0]);
	shmring_close(cm[1]);
	shmring_close(pm);
	shmring_unlink(empty);
	shmring_unlink(half);
	shmring_unlink(full);
	shmring_unlink(dead);
	shmring_unlink(junk);
	unlink(path);
}

Test(tool, ls_of_all_of_dev_shm_never_fails)
{
	TEST_NAME(junk, "lsall");
	static struct proc p;

	/* Whatever else is in /dev/shm (other tests' rings being created and
	 * removed, other programs' files), ls reads it and exits 0. */
	write_shm_file(junk, "\x53\x53\x48\x4d\x52\x49\x4e\x47",
		       8); /* the magic, then EOF */
	cr_expect_eq(SHMRING(&p, "ls"), 0, "stderr: %s", p.errbuf);
	cr_expect_null(strstr(p.outbuf, junk));
	shmring_unlink(junk);
}

Test(tool, stat_prints_the_header)
{
	TEST_NAME(name, "stat");
	struct shmring *prod = shmring_producer(SHMRING_MPSC, name, ELEM, CAP, NULL);
	struct shmring *cons = shmring_consumer(SHMRING_MPSC, name, ELEM, CAP, NULL);
	unsigned char m[ELEM];
	static struct proc p;
	char want[64], line[256];

	cr_assert(prod && cons);
	push_n(prod, 12);
	cr_assert_eq(shmring_try_pop(cons, m), 0);
	cr_assert_eq(SHMRING(&p, "stat", (char *)name), 0, "stderr: %s", p.errbuf);
	cr_expect(line_starting(p.outbuf, "policy:     mpsc", line, sizeof(line)), "%s",
		  p.outbuf);
	cr_expect(line_starting(p.outbuf, "element:    64 bytes", line, sizeof(line)));
	cr_expect(line_starting(p.outbuf, "capacity:   16", line, sizeof(line)));
	cr_expect(line_starting(p.outbuf, "occupancy:  11 (69%), 5 free", line,
				sizeof(line)),
		  "%s", p.outbuf);
	cr_expect(line_starting(p.outbuf, "pushed:     12", line, sizeof(line)));
	cr_expect(line_starting(p.outbuf, "popped:     1", line, sizeof(line)));
	cr_expect(line_starting(p.outbuf, "opens:      2", line, sizeof(line)));
	snprintf(want, sizeof(want), "producers:  %d (alive)", (int)getpid());
	cr_expect(line_starting(p.outbuf, want, line, sizeof(line)), "%s", p.outbuf);
	shmring_close(prod);
	shmring_close(cons);
	shmring_unlink(name);
}

Test(tool, stat_and_unlink_refuse_files_that_are_not_rings)
{
	TEST_NAME(junk, "notring");
	TEST_NAME(missing, "missing");
	static struct proc p;
	char path[160];
	struct stat st;

	write_shm_file(junk, "hello", 5);
	snprintf(path, sizeof(path), "/dev/shm/%s", junk);
	cr_expect_eq(SHMRING(&p, "stat", (char *)junk), 1);
	cr_expect(strstr(p.errbuf, "not a shmring ring"), "%s", p.errbuf);
	cr_expect_eq(SHMRING(&p, "unlink", (char *)junk), 1);
	cr_expect(strstr(p.errbuf, "use -f"), "%s", p.errbuf);
	cr_expect_eq(stat(path, &st), 0, "unlink without -f removed a non-ring");
	cr_expect_eq(SHMRING(&p, "unlink", "-f", (char *)junk), 0, "%s", p.errbuf);
	cr_expect_eq(stat(path, &st), -1);

	cr_expect_eq(SHMRING(&p, "stat", (char *)missing), 1);
	cr_expect(strstr(p.errbuf, "no such ring"), "%s", p.errbuf);
	cr_expect_eq(SHMRING(&p, "unlink", (char *)missing), 1);
}

Test(tool, unlink_removes_a_ring_and_warns_about_live_holders)
{
	TEST_NAME(name, "unlink");
	struct shmring *prod = shmring_producer(SHMRING_SPSC, name, ELEM, CAP, NULL);
	SHMRING_INFO(in);
	static struct proc p;

	cr_assert_not_null(prod);
	cr_expect_eq(SHMRING(&p, "unlink", (char *)name), 0, "%s", p.errbuf);
	cr_expect(strstr(p.errbuf, "still open in process"), "%s", p.errbuf);
	cr_expect_eq(shmring_stat(name, &in), -1);
	cr_expect_eq(errno, ENOENT);
	shmring_close(prod);
}

Test(tool, watch_prints_an_occupancy_bar_per_refresh)
{
	TEST_NAME(name, "watch");
	struct shmring *prod = shmring_producer(SHMRING_SPSC, name, ELEM, CAP, NULL);
	static struct proc p;
	int lines = 0;

	cr_assert_not_null(prod);
	push_n(prod, 4);
	cr_assert_eq(SHMRING(&p, "watch", "-n", "3", "-i", "20", (char *)name), 0, "%s",
		     p.errbuf);
	for (const char *l = p.outbuf; (l = strstr(l, name)); l++) {
		char bar[256];

		lines++;
		cr_expect(sscanf(l + strlen(name), " [%255[#.]]", bar) == 1, "%s", l);
		cr_expect(strstr(l, " 4/16  25%"), "%s", l);
		/* A quarter of the bar is filled, give or take rounding. */
		size_t fill = strspn(bar, "#");
		cr_expect(fill * 4 >= strlen(bar) - 4 && fill * 4 <= strlen(bar) + 4,
			  "bar %s", bar);
	}
	cr_expect_eq(lines, 3, "%s", p.outbuf);
	shmring_close(prod);
	shmring_unlink(name);
	cr_expect_eq(SHMRING(&p, "watch", "-n", "1", (char *)name), 1);
	cr_expect(strstr(p.errbuf, "no such ring"), "%s", p.errbuf);
}

Test(tool, bad_usage_exits_2)
{
	static struct proc p;

	cr_expect_eq(SHMRING(&p, "frobnicate"), 2);
	cr_expect_eq(SHMRING(&p, "stat"), 2);
	cr_expect_eq(SHMRING(&p, "watch", "-i", "x", "name"), 2);
#if CONFIG_BPF
	cr_expect_eq(SHMRING(&p, "trace", "-p", "nope"), 2);
#endif
	cr_expect_eq(SHMRING(&p, "--help"), 0);
	cr_expect(strstr(p.outbuf, "usage: shmring"));
}
