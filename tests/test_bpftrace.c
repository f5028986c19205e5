// SPDX-License-Identifier: MIT
/* The bpftrace scripts in bpf/ run on their own against the shared library
 * and print the probe counts of a known workload. Needs root and bpftrace
 * (CI has both); otherwise the tests skip with the reason. */
#include "procutil.h"

#define WAIT_MS	  30000
#define FINISH_MS 20000

/* bpf/SCRIPT in the source tree: up from the build directory. */
static const char *script_path(char *buf, size_t len, const char *script)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", build_dir());
	for (;;) {
		char *slash;

		snprintf(buf, len, "%s/bpf/%s", dir, script);
		if (!access(buf, R_OK))
			return buf;
		slash = strrchr(dir, '/');
		cr_assert(slash && slash != dir, "bpf/%s not found above %s", script,
			  build_dir());
		*slash = 0;
	}
}

/* Runs `bpftrace SCRIPT LIBRARY` around one ring_workload run on NAME. */
static void run_script(struct proc *bt, const char *script, const char *name)
{
	BUILD_PATH(lib, "libshmring.so");
	BUILD_PATH(workload, "tests/ring_workload");
	char path[PATH_MAX + 64], real[PATH_MAX];
	static struct proc wl;

	if (!CONFIG_USDT)
		cr_skip_test("built without CONFIG_USDT: no probes to trace");
	cr_assert_not_null(realpath(lib, real));
	proc_start(bt, (char *[]){ "bpftrace",
				   (char *)script_path(path, sizeof(path), script), real,
				   NULL });
	if (!proc_expect(bt, "Hit Ctrl-C to end.", WAIT_MS)) {
		proc_finish(bt, SIGKILL, FINISH_MS);
		if (bt->status == 127)
			cr_skip_test(
				"bpftrace is not installed (apt-get install bpftrace)");
		if (!is_root() || strstr(bt->errbuf, "ermission") ||
		    strstr(bt->errbuf, "not permitted"))
			cr_skip_test("bpftrace may not attach here: %s", bt->errbuf);
		cr_assert_fail("bpftrace did not start (status %d): %s", bt->status,
			       bt->errbuf);
	}
	cr_assert_eq(proc_run(&wl,
			      (char *[]){ (char *)workload, (char *)name, "16", "1000",
					  "200", NULL },
			      60000),
		     0, "workload: %s", wl.errbuf);
	cr_assert_eq(proc_finish(bt, SIGINT, FINISH_MS), 0, "bpftrace: %s", bt->errbuf);
}

/* The value printed as "@MAP[KEY]: N" after "Totals:", or 0 when bpftrace
 * printed no such entry (it prints none for keys never hit). */
static long long total(const struct proc *bt, const char *map, const char *key)
{
	const char *totals = strstr(bt->outbuf, "\nTotals:");
	char prefix[256], line[512];

	cr_assert_not_null(totals, "no totals: %s", bt->outbuf);
	snprintf(prefix, sizeof(prefix), "@%s[%s]: ", map, key);
	if (!line_starting(totals + 1, prefix, line, sizeof(line)))
		return 0;
	return strtoll(line + strlen(prefix), NULL, 10);
}

Test(bpftrace, occupancy_bt_counts_messages_and_reaches_capacity, .timeout = 120)
{
	TEST_NAME(name, "btocc");
	static struct proc bt;
	const char *hist, *row;
	char key[128];

	run_script(&bt, "occupancy.bt", name);
	cr_expect_eq(total(&bt, "pushed", name), 1000, "%s", bt.outbuf);
	cr_expect_eq(total(&bt, "popped", name), 1000, "%s", bt.outbuf);
	cr_expect_geq(total(&bt, "full", name), 1, "the stalled consumer left it full");
	cr_expect_eq(total(&bt, "capacity", name), 16);

	snprintf(key, sizeof(key), "@occupancy[%s]:", name);
	hist = strstr(bt.outbuf, key);
	cr_assert_not_null(hist, "%s", bt.outbuf);
	row = strstr(hist, "\n[16, 32)");
	cr_expect(row && strtoll(row + 10, NULL, 10) > 0,
		  "occupancy never reached the capacity bucket: %s", hist);
	shmring_unlink(name);
}

Test(bpftrace, waits_bt_counts_what_the_header_counts, .timeout = 120)
{
	TEST_NAME(name, "btwait");
	static struct proc bt;
	char key[160];
	SHMRING_INFO(in);

	run_script(&bt, "waits.bt", name);
	cr_assert_eq(shmring_stat(name, &in), 0);
	cr_expect_geq(in.producer_sleeps, 1, "the producer never slept");
	snprintf(key, sizeof(key), "%s, producer", name);
	cr_expect_eq(total(&bt, "sleeps", key), (long long)in.producer_sleeps, "%s",
		     bt.outbuf);
	cr_expect_eq(total(&bt, "wakes", key), (long long)in.producer_sleeps);
	cr_expect_eq(total(&bt, "notifies", key), (long long)in.producer_wakes);
	snprintf(key, sizeof(key), "%s, consumer", name);
	cr_expect_eq(total(&bt, "sleeps", key), (long long)in.consumer_sleeps, "%s",
		     bt.outbuf);
	cr_expect_eq(total(&bt, "wakes", key), (long long)in.consumer_sleeps);
	cr_expect_eq(total(&bt, "notifies", key), (long long)in.consumer_wakes);
	snprintf(key, sizeof(key), "@slept_us[%s, producer]:", name);
	cr_expect(strstr(bt.outbuf, key), "no sleep histogram: %s", bt.outbuf);
	shmring_unlink(name);
}
