// SPDX-License-Identifier: MIT
/* The `shmring` tool's header commands (ls, stat, watch, unlink) on rings in
 * known states, next to files in /dev/shm that are not rings. */
#include "procutil.h"

#include <pty.h>
#include <sys/ioctl.h>
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

/* ---- conventions: help, version, long options ------------------------------ */

static const char *const commands[] = { "ls", "stat", "watch", "trace", "unlink" };

Test(tool, every_command_has_help_on_stdout_and_exits_0)
{
	static struct proc p;
	char want[64];

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char *cmd = (char *)commands[i];

		snprintf(want, sizeof(want), "usage: shmring %s", cmd);
		cr_expect_eq(SHMRING(&p, cmd, "--help"), 0, "%s --help: %s", cmd,
			     p.errbuf);
		cr_expect(strstr(p.outbuf, want) == p.outbuf, "%s --help: %s", cmd,
			  p.outbuf);
		cr_expect(strstr(p.outbuf, "-h, --help"), "%s", p.outbuf);
		cr_expect_eq(p.errlen, 0, "%s --help wrote to stderr: %s", cmd, p.errbuf);
		/* What ls and stat did with --help before: a table, a lookup. */
		cr_expect_null(strstr(p.outbuf, "NAME  POLICY"), "%s", p.outbuf);
		cr_expect_null(strstr(p.errbuf, "no such ring"));

		cr_expect_eq(SHMRING(&p, cmd, "-h"), 0, "%s -h", cmd);
		cr_expect(strstr(p.outbuf, want) == p.outbuf);
		cr_expect_eq(SHMRING(&p, "help", cmd), 0, "help %s", cmd);
		cr_expect(strstr(p.outbuf, want) == p.outbuf, "help %s: %s", cmd,
			  p.outbuf);
	}
	cr_expect_eq(SHMRING(&p, "help"), 0);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		snprintf(want, sizeof(want), "\n  %s ", commands[i]);
		cr_expect(strstr(p.outbuf, want), "help lacks %s: %s", commands[i],
			  p.outbuf);
	}
	cr_expect_eq(SHMRING(&p, "help", "frobnicate"), 2);
	cr_expect(strstr(p.errbuf, "no command 'frobnicate'"), "%s", p.errbuf);
	/* Bad usage: the command's synopsis on stderr, status 2. */
	cr_expect_eq(SHMRING(&p, "unlink", "--frobnicate", "x"), 2);
	cr_expect(strstr(p.errbuf, "usage: shmring unlink"), "%s", p.errbuf);
	cr_expect_eq(p.outlen, 0);
	cr_expect_eq(SHMRING(&p, "ls", "--json", "--openmetrics"), 2);
}

Test(tool, version_names_the_tool_and_the_library)
{
	static struct proc p;
	char want[96];

	snprintf(want, sizeof(want), "shmring %d.%d.%d (libshmring %s)\n",
		 SHMRING_VERSION_MAJOR, SHMRING_VERSION_MINOR, SHMRING_VERSION_PATCH,
		 shmring_version());
	cr_expect_eq(SHMRING(&p, "--version"), 0);
	cr_expect_str_eq(p.outbuf, want);
	cr_expect_eq(SHMRING(&p, "-V"), 0);
	cr_expect_str_eq(p.outbuf, want);
}

Test(tool, long_options_work_like_short_ones)
{
	TEST_NAME(name, "long");
	struct shmring *prod = shmring_producer(SHMRING_SPSC, name, ELEM, CAP, NULL);
	static struct proc p;
	int lines = 0;

	cr_assert_not_null(prod);
	cr_expect_eq(SHMRING(&p, "watch", "--count", "2", "--interval=20", "--width",
			     "80", (char *)name),
		     0, "%s", p.errbuf);
	for (const char *l = p.outbuf; (l = strstr(l, name)); l++)
		lines++;
	cr_expect_eq(lines, 2, "%s", p.outbuf);
	shmring_close(prod);
	cr_expect_eq(SHMRING(&p, "unlink", "--force", (char *)name), 0, "%s", p.errbuf);
	cr_expect_eq(access("/dev/shm", F_OK), 0);
	{
		SHMRING_INFO(in);

		cr_expect_eq(shmring_stat(name, &in), -1);
	}
}

/* ---- unlink -f, trace of a missing ring ----------------------------------- */

Test(tool, unlink_force_of_a_missing_ring_succeeds_like_rm_f)
{
	TEST_NAME(missing, "gone");
	TEST_NAME(name, "there");
	struct shmring *prod = shmring_producer(SHMRING_SPSC, name, ELEM, CAP, NULL);
	static struct proc p;
	SHMRING_INFO(in);

	cr_assert_not_null(prod);
	shmring_close(prod);
	cr_expect_eq(SHMRING(&p, "unlink", "-f", (char *)missing), 0, "%s", p.errbuf);
	cr_expect_eq(p.errlen, 0, "rm -f is silent: %s", p.errbuf);
	/* A missing name does not stop the others from going. */
	cr_expect_eq(SHMRING(&p, "unlink", "-f", (char *)missing, (char *)name), 0, "%s",
		     p.errbuf);
	cr_expect_eq(shmring_stat(name, &in), -1);
	cr_expect_eq(errno, ENOENT);
	/* Without -f a missing ring is still an error. */
	cr_expect_eq(SHMRING(&p, "unlink", (char *)missing), 1);
	cr_expect(strstr(p.errbuf, "no such ring"), "%s", p.errbuf);
}

Test(tool, trace_of_a_missing_ring_fails_and_says_so)
{
	TEST_NAME(missing, "notraced");
	TEST_NAME(junk, "notaring");
	static struct proc p;

	/* Not there: a warning at once (before tracing needs privileges), a
	 * line that says so instead of "no activity", and failure at the end
	 * when it never came. */
	cr_expect_eq(SHMRING(&p, "trace", "-d", "1", (char *)missing), 1);
#if CONFIG_BPF
	cr_expect(strstr(p.errbuf, "no such ring (yet)"), "%s", p.errbuf);
	if (geteuid() == 0) {
		cr_expect(strstr(p.outbuf, "no ring "), "%s", p.outbuf);
		cr_expect(strstr(p.errbuf, "no such ring: nothing was traced"), "%s",
			  p.errbuf);
	}
#endif
	cr_expect_null(strstr(p.outbuf, "no activity"), "%s", p.outbuf);
	/* A file that is not a ring never becomes one: no tracing at all. */
	write_shm_file(junk, "not a ring", 10);
	cr_expect_eq(SHMRING(&p, "trace", "-d", "1", (char *)junk), 1);
#if CONFIG_BPF
	cr_expect(strstr(p.errbuf, "not a shmring ring"), "%s", p.errbuf);
	cr_expect_eq(p.outlen, 0, "%s", p.outbuf);
#endif
	shmring_unlink(junk);
}

/* ---- natural sort ----------------------------------------------------------- */

Test(tool, ls_sorts_numbers_in_names_by_value)
{
	static const char *const order[] = { "soak_1",	 "soak_2",   "soak_9", "soak_10",
					     "soak_10a", "soak_100", "soakx" };
	char prefix[64], names[7][128], pattern[80];
	struct shmring *r[7];
	static struct proc p;
	const char *at = NULL;

	snprintf(prefix, sizeof(prefix), "shmring-t-nat-%d-", (int)getpid());
	snprintf(pattern, sizeof(pattern), "%s*", prefix);
	/* Created out of order, so directory order proves nothing. */
	for (int i = 6; i >= 0; i--) {
		snprintf(names[i], sizeof(names[i]), "%s%s", prefix, order[i]);
		cr_assert_not_null(
			r[i] = shmring_producer(SHMRING_SPSC, names[i], ELEM, CAP, NULL));
	}
	cr_assert_eq(SHMRING(&p, "ls", "--names", pattern), 0, "%s", p.errbuf);
	for (int i = 0; i < 7; i++) {
		char line[1024];
		const char *next;

		snprintf(line, sizeof(line), "%s\n", names[i]);
		next = strstr(p.outbuf, line);
		cr_expect_not_null(next, "%s missing: %s", names[i], p.outbuf);
		cr_expect(!at || next > at, "%s out of order:\n%s", names[i], p.outbuf);
		at = next;
	}
	cr_assert_eq(SHMRING(&p, "ls", pattern), 0);
	cr_expect(strstr(p.outbuf, "soak_2 ") < strstr(p.outbuf, "soak_10 "), "%s",
		  p.outbuf);
	for (int i = 0; i < 7; i++) {
		shmring_close(r[i]);
		shmring_unlink(names[i]);
	}
}

/* ---- JSON ------------------------------------------------------------------- */

Test(tool, json_has_one_object_per_ring_with_stable_fields)
{
	TEST_NAME(name, "json");
	char odd[128];
	struct shmring *prod = shmring_producer(SHMRING_MPSC, name, ELEM, CAP, NULL);
	struct shmring *cons = shmring_consumer(SHMRING_MPSC, name, ELEM, CAP, NULL);
	struct shmring *oddp;
	static struct proc p, py;
	unsigned char m[ELEM];
	char want[512];

	/* A name with a quote, a backslash and a byte that is not UTF-8. */
	snprintf(odd, sizeof(odd), "%s-q\"b\\\xff", name);
	cr_assert(prod && cons);
	cr_assert_not_null(oddp = shmring_producer(SHMRING_SPSC, odd, ELEM, CAP, NULL));
	push_n(prod, 12);
	cr_assert_eq(shmring_try_pop(cons, m), 0);

	cr_assert_eq(SHMRING(&p, "stat", "--json", (char *)name), 0, "%s", p.errbuf);
	snprintf(want, sizeof(want),
		 "{\"name\":\"%s\",\"policy\":\"mpsc\",\"elem_size\":64,\"capacity\":16,"
		 "\"pending\":11,\"available\":5,\"segment_size\":",
		 name);
	cr_expect(strstr(p.outbuf, want), "%s", p.outbuf);
	cr_expect(strstr(p.outbuf, "\"pushed\":12,\"popped\":1,\"producers_waiting\":0,"
				   "\"consumers_waiting\":0,\"producer_sleeps\":0,"
				   "\"consumer_sleeps\":0,\"producer_wakes\":0,"
				   "\"consumer_wakes\":0,\"opens\":2,"),
		  "%s", p.outbuf);
	snprintf(want, sizeof(want),
		 "\"producers\":[{\"pid\":%d,\"alive\":true}],\"consumers\":[{\"pid\":%d,"
		 "\"alive\":true}],\"producers_extra\":0,\"consumers_extra\":0,"
		 "\"abandoned\":0,\"instance\":\"",
		 (int)getpid(), (int)getpid());
	cr_expect(strstr(p.outbuf, want), "%s", p.outbuf);

	/* Valid JSON, one object per ring, for ls and stat alike; the odd name
	 * comes back with its bad byte as U+FFFD. */
	cr_assert_eq(SHMRING(&p, "stat", "--json", (char *)name, odd), 0, "%s", p.errbuf);
	snprintf(want, sizeof(want),
		 "import json\nv = json.load(sys.stdin)\n"
		 "assert [r['name'] for r in v] == ['%s', '%s-q\"b\\\\\\ufffd'], v\n"
		 "assert v[0]['pending'] == 11 and v[0]['available'] == 5, v\n"
		 "assert v[1]['policy'] == 'spsc' and v[1]['consumers'] == []\n",
		 name, name);
	cr_expect_eq(python(&py, want, p.outbuf), 0, "%s\n%s", py.errbuf, p.outbuf);
	snprintf(want, sizeof(want), "%s*", name);
	cr_assert_eq(SHMRING(&p, "ls", "--json", want), 0, "%s", p.errbuf);
	cr_expect_eq(python(&py,
			    "import json\nv = json.load(sys.stdin)\n"
			    "assert len(v) == 2, v\n"
			    "keys = ['name','policy','elem_size','capacity','pending',"
			    "'available','segment_size','pushed','popped',"
			    "'producers_waiting','consumers_waiting','producer_sleeps',"
			    "'consumer_sleeps','producer_wakes','consumer_wakes','opens',"
			    "'producers','consumers','producers_extra','consumers_extra',"
			    "'abandoned','instance']\n"
			    "assert all(list(r) == keys for r in v), v\n",
			    p.outbuf),
		     0, "%s\n%s", py.errbuf, p.outbuf);
	/* Nothing matches: an empty array, not nothing. */
	cr_assert_eq(SHMRING(&p, "ls", "--json", "shmring-t-no-such-ring-*"), 0);
	cr_expect_str_eq(p.outbuf, "[]\n");

	shmring_close(prod);
	shmring_close(cons);
	shmring_close(oddp);
	shmring_unlink(name);
	shmring_unlink(odd);
}

/* ---- OpenMetrics ------------------------------------------------------------ */

/* Checks TEXT against the OpenMetrics text format as far as this tool uses
 * it: every sample belongs to the family the # TYPE before it declared,
 * families are contiguous and declared once, counters' samples end in
 * _total, names start with shmring_, labels are ring, policy and (for per-
 * role families) role, or ring and direction for a bridge's families,
 * values are integers, and # EOF ends it. Returns the
 * number of samples. */
static int check_openmetrics(const char *text)
{
	char family[128] = "", type[16] = "", seen[64][128];
	int nseen = 0, samples = 0;
	const char *l = text, *eof = strstr(text, "# EOF\n");

	cr_assert_not_null(eof, "no # EOF");
	cr_assert_str_eq(eof + 6, "", "text after # EOF");
	for (; l < eof; l = strchr(l, '\n') + 1) {
		char name[128], labels[512], value[64], extra[8];

		cr_assert_not_null(strchr(l, '\n'), "unterminated line");
		if (!strncmp(l, "# TYPE ", 7)) {
			cr_assert_eq(sscanf(l, "# TYPE %127s %15s", family, type), 2,
				     "%.80s", l);
			cr_expect(!strncmp(family, "shmring_", 8), "%s", family);
			cr_expect(!strcmp(type, "gauge") || !strcmp(type, "counter"),
				  "%s", type);
			for (int i = 0; i < nseen; i++)
				cr_expect_str_neq(seen[i], family, "%s declared twice",
						  family);
			if (nseen < 64)
				snprintf(seen[nseen++], sizeof(seen[0]), "%s", family);
			continue;
		}
		if (!strncmp(l, "# HELP ", 7) || !strncmp(l, "# UNIT ", 7)) {
			cr_expect(!strncmp(l + 7, family, strlen(family)) &&
					  l[7 + strlen(family)] == ' ',
				  "metadata of another family: %.80s", l);
			if (!strncmp(l, "# UNIT ", 7))
				cr_expect(strstr(family, "_bytes"), "%s", family);
			continue;
		}
		cr_assert_neq(l[0], '#', "unknown comment: %.80s", l);
		cr_assert_eq(sscanf(l, "%127[a-z_]{%511[^}]} %63s%7[^\n]", name, labels,
				    value, extra),
			     3, "bad sample line: %.120s", l);
		if (!strcmp(type, "counter")) {
			char want[160];

			snprintf(want, sizeof(want), "%s_total", family);
			cr_expect_str_eq(name, want);
		} else {
			cr_expect_str_eq(name, family);
		}
		cr_expect(!strncmp(labels, "ring=\"", 6), "%s", labels);
		/* A bridge's families (shmring bridge) name its direction. */
		if (!strncmp(family, "shmring_bridge_", 15))
			cr_expect(strstr(labels, "\",direction=\"in\"") ||
					  strstr(labels, "\",direction=\"out\""),
				  "%s", labels);
		else
			cr_expect(strstr(labels, "\",policy=\""), "%s", labels);
		if (strstr(labels, ",role="))
			cr_expect(strstr(labels, ",role=\"producer\"") ||
					  strstr(labels, ",role=\"consumer\""),
				  "%s", labels);
		cr_expect(strspn(value, "0123456789") == strlen(value), "value %s",
			  value);
		samples++;
	}
	return samples;
}

/* The value of the sample "NAME{LABELS}" in TEXT, or -1. */
static long long sample(const char *text, const char *name, const char *labels)
{
	char pat[512];
	const char *s;

	snprintf(pat, sizeof(pat), "\n%s{%s} ", name, labels);
	s = strstr(text, pat);
	return s ? strtoll(s + strlen(pat), NULL, 10) : -1;
}

Test(tool, openmetrics_output_is_valid_and_carries_the_counters)
{
	TEST_NAME(name, "om");
	struct shmring *prod = shmring_producer(SHMRING_MPMC, name, ELEM, CAP, NULL);
	struct shmring *cons = shmring_consumer(SHMRING_MPMC, name, ELEM, CAP, NULL);
	static struct proc p, py;
	unsigned char m[ELEM];
	char labels[256], code[1024];

	cr_assert(prod && cons);
	push_n(prod, 7);
	cr_assert_eq(shmring_try_pop(cons, m), 0);
	cr_assert_eq(shmring_try_pop(cons, m), 0);
	cr_assert_eq(SHMRING(&p, "stat", "--openmetrics", (char *)name), 0, "%s",
		     p.errbuf);
	/* 8 families with a sample per ring, 4 with one per role. */
	cr_expect_eq(check_openmetrics(p.outbuf), 8 + 4 * 2, "%s", p.outbuf);
	snprintf(labels, sizeof(labels), "ring=\"%s\",policy=\"mpmc\"", name);
	cr_expect_eq(sample(p.outbuf, "shmring_capacity", labels), CAP);
	cr_expect_eq(sample(p.outbuf, "shmring_element_bytes", labels), ELEM);
	cr_expect_eq(sample(p.outbuf, "shmring_pending", labels), 5);
	cr_expect_eq(sample(p.outbuf, "shmring_pushed_total", labels), 7);
	cr_expect_eq(sample(p.outbuf, "shmring_popped_total", labels), 2);
	cr_expect_eq(sample(p.outbuf, "shmring_opens_total", labels), 2);
	cr_expect_eq(sample(p.outbuf, "shmring_abandoned_total", labels), 0);
	snprintf(labels, sizeof(labels), "ring=\"%s\",policy=\"mpmc\",role=\"consumer\"",
		 name);
	cr_expect_eq(sample(p.outbuf, "shmring_holders", labels), 1);
	cr_expect_eq(sample(p.outbuf, "shmring_waiting", labels), 0);
	cr_expect_eq(sample(p.outbuf, "shmring_sleeps_total", labels), 0);

	/* The reference parser agrees (python3-prometheus-client's OpenMetrics
	 * parser is strict: # EOF, _total, units, label escapes). */
	snprintf(
		code, sizeof(code),
		"from prometheus_client.openmetrics.parser import "
		"text_string_to_metric_families as parse\n"
		"fams = {f.name: f for f in parse(sys.stdin.read())}\n"
		"assert fams['shmring_pushed'].type == 'counter', fams\n"
		"assert fams['shmring_element_bytes'].unit == 'bytes'\n"
		"s = fams['shmring_popped'].samples[0]\n"
		"assert s.value == 2 and s.labels == {'ring': '%s', 'policy': 'mpmc'}, s\n",
		name);
	cr_expect_eq(python(&py, code, p.outbuf), 0, "%s\n%s", py.errbuf, p.outbuf);

	/* ls --openmetrics: the same families for every ring matched, and a
	 * valid document when none is. */
	snprintf(code, sizeof(code), "%s*", name);
	cr_assert_eq(SHMRING(&p, "ls", "--openmetrics", code), 0);
	cr_expect_eq(check_openmetrics(p.outbuf), 8 + 4 * 2);
	cr_assert_eq(SHMRING(&p, "ls", "--openmetrics", "shmring-t-no-such-ring-*"), 0);
	cr_expect_eq(check_openmetrics(p.outbuf), 0);

	/* Prometheus 0.0.4 (what node_exporter's textfile collector parses):
	 * counters are declared under their samples' name, and no # EOF. */
	cr_assert_eq(SHMRING(&p, "stat", "--prometheus", (char *)name), 0);
	cr_expect(strstr(p.outbuf, "# TYPE shmring_pushed_total counter\n"), "%s",
		  p.outbuf);
	cr_expect_null(strstr(p.outbuf, "# EOF"));
	cr_expect_null(strstr(p.outbuf, "# UNIT"));
	cr_expect_eq(python(&py,
			    "from prometheus_client.parser import "
			    "text_string_to_metric_families as parse\n"
			    "fams = {f.name: f for f in parse(sys.stdin.read())}\n"
			    "assert fams['shmring_pushed'].type == 'counter', fams\n"
			    "assert fams['shmring_pushed'].samples[0].value == 7\n",
			    p.outbuf),
		     0, "%s\n%s", py.errbuf, p.outbuf);
	shmring_close(prod);
	shmring_close(cons);
	shmring_unlink(name);
}

/* ---- watch on a terminal ---------------------------------------------------- */

struct term {
	pid_t pid;
	int master;
	char buf[65536];
	size_t len;
};

/* Runs `shmring watch ARGS` on a pseudo-terminal COLS wide. */
static void term_start(struct term *t, int cols, char *const args[])
{
	struct winsize ws = { .ws_row = 24, .ws_col = (unsigned short)cols };
	BUILD_PATH(tool, "shmring");
	char *argv[16] = { (char *)tool, "watch" };

	for (int i = 0; args[i] && i < 13; i++)
		argv[i + 2] = args[i];
	memset(t, 0, sizeof(*t));
	t->pid = forkpty(&t->master, NULL, NULL, &ws);
	cr_assert_geq(t->pid, 0);
	if (t->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execv(argv[0], argv);
		_exit(127);
	}
}

/* Reads what the terminal shows for MS milliseconds. */
static void term_read(struct term *t, int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;
	uint64_t now;

	while ((now = now_ns()) < end && t->len < sizeof(t->buf) - 1) {
		struct pollfd pfd = { t->master, POLLIN, 0 };
		ssize_t n;

		if (poll(&pfd, 1, (int)((end - now) / 1000000) + 1) <= 0)
			continue;
		n = read(t->master, t->buf + t->len, sizeof(t->buf) - 1 - t->len);
		if (n <= 0)
			break;
		t->len += (size_t)n;
	}
	t->buf[t->len] = 0;
}

/* The widest and the last line drawn since offset FROM ("\r\033[K" starts
 * each redraw). */
static void term_lines(const struct term *t, size_t from, size_t *widest, size_t *last)
{
	*widest = *last = 0;
	for (const char *l = strstr(t->buf + from, "\r\033[K"); l;
	     l = strstr(l + 1, "\r\033[K")) {
		size_t n = strcspn(l + 4, "\r\n");

		*last = n;
		if (n > *widest)
			*widest = n;
	}
}

static void term_resize(struct term *t, int cols)
{
	struct winsize ws = { .ws_row = 24, .ws_col = (unsigned short)cols };

	/* The kernel sends SIGWINCH to the terminal's foreground group. */
	cr_assert_eq(ioctl(t->master, TIOCSWINSZ, &ws), 0);
}

Test(tool, watch_fits_the_terminal_and_follows_its_size)
{
	TEST_NAME(name, "watchterm");
	struct shmring *prod = shmring_producer(SHMRING_SPSC, name, ELEM, CAP, NULL);
	static struct term t;
	size_t widest, last, mark;

	cr_assert_not_null(prod);
	push_n(prod, 8);
	/* Slow refreshes: a redraw between them can only come from SIGWINCH. */
	term_start(&t, 60, (char *[]){ "-i", "1500", "-n", "3", (char *)name, NULL });
	term_read(&t, 500);
	term_lines(&t, 0, &widest, &last);
	cr_expect_gt(widest, 0, "nothing drawn: %s", t.buf);
	cr_expect_leq(widest, 59, "wider than 60 columns: %s", t.buf);
	cr_expect(strstr(t.buf, " 8/16  50%"), "%s", t.buf);

	mark = t.len;
	term_resize(&t, 130);
	term_read(&t, 400);
	term_lines(&t, mark, &widest, &last);
	cr_expect_gt(last, 60, "no redraw at 130 columns within 400 ms: %s",
		     t.buf + mark);
	cr_expect_leq(widest, 129);
	cr_expect(strstr(t.buf + mark, "waiting P0 C0"), "%s", t.buf + mark);

	mark = t.len;
	term_resize(&t, 30);
	term_read(&t, 400);
	term_lines(&t, mark, &widest, &last);
	cr_expect_gt(last, 0, "no redraw at 30 columns: %s", t.buf + mark);
	cr_expect_leq(widest, 29, "wider than 30 columns: %s", t.buf + mark);
	cr_expect(strstr(t.buf + mark, "8/16"), "the count goes last: %s", t.buf + mark);

	/* Read until the tool has exited (EOF on the terminal): closing the
	 * master first would hang it up, and a sanitizer's exit takes time. */
	kill(t.pid, SIGTERM);
	term_read(&t, 10000);
	close(t.master);
	cr_expect_eq(wait_child(t.pid), 0);
	shmring_close(prod);
	shmring_unlink(name);
}

Test(tool, watch_without_a_terminal_fits_the_width_asked)
{
	TEST_NAME(name, "watchw");
	struct shmring *prod = shmring_producer(SHMRING_SPSC, name, ELEM, CAP, NULL);
	static struct proc p;

	cr_assert_not_null(prod);
	for (int w = 20; w <= 140; w += 40) {
		char width[16];

		snprintf(width, sizeof(width), "%d", w);
		cr_assert_eq(SHMRING(&p, "watch", "-n", "2", "-i", "10", "-w", width,
				     (char *)name),
			     0, "%s", p.errbuf);
		for (const char *l = p.outbuf; *l; l = strchr(l, '\n') + 1)
			cr_expect_leq((int)strcspn(l, "\n"), w - 1, "-w %d: %s", w, l);
	}
	shmring_close(prod);
	shmring_unlink(name);
}

/* ---- bash completion -------------------------------------------------------- */

/* Completes the words of LINE (the cursor at its end) with the installed
 * completion script; the candidates come back one a line. */
static int complete(struct proc *p, const char *line)
{
	char script[2048];
	BUILD_PATH(dir, "");

	snprintf(
		script, sizeof(script),
		"export PATH='%s':\"$PATH\"\n"
		"source '%s/completion/shmring' || exit 3\n"
		"COMP_LINE='%s'; COMP_POINT=${#COMP_LINE}\n"
		"read -ra COMP_WORDS <<<\"$COMP_LINE\"\n"
		"[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')\n"
		"COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
		"_shmring shmring \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"\n"
		"printf '%%s\\n' \"${COMPREPLY[@]}\"\n",
		dir, dir, line);
	{
		char *argv[] = { "bash", "-c", script, NULL };

		return proc_run(p, argv, 20000);
	}
}

Test(tool, bash_completion_knows_commands_options_and_rings)
{
	TEST_NAME(name, "compl");
	struct shmring *prod = shmring_producer(SHMRING_SPSC, name, ELEM, CAP, NULL);
	static struct proc p;
	char line[256], want[160];

	cr_assert_not_null(prod);
	cr_assert_eq(complete(&p, "shmring "), 0, "%s", p.errbuf);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		snprintf(want, sizeof(want), "%s\n", commands[i]);
		cr_expect(strstr(p.outbuf, want), "no %s: %s", commands[i], p.outbuf);
	}
	cr_assert_eq(complete(&p, "shmring st"), 0);
	cr_expect_str_eq(p.outbuf, "stat\n");
	cr_assert_eq(complete(&p, "shmring stat --"), 0);
	cr_expect(strstr(p.outbuf, "--json\n") && strstr(p.outbuf, "--openmetrics\n"),
		  "%s", p.outbuf);
	cr_assert_eq(complete(&p, "shmring watch --i"), 0);
	cr_expect_str_eq(p.outbuf, "--interval\n");
	/* Ring names, from shmring ls. */
	snprintf(line, sizeof(line), "shmring stat %.*s", (int)strlen(name) - 2, name);
	cr_assert_eq(complete(&p, line), 0, "%s", p.errbuf);
	snprintf(want, sizeof(want), "%s\n", name);
	cr_expect(strstr(p.outbuf, want), "%s", p.outbuf);
	cr_assert_eq(complete(&p, "shmring help w"), 0);
	cr_expect_str_eq(p.outbuf, "watch\n");
	shmring_close(prod);
	shmring_unlink(name);
}
