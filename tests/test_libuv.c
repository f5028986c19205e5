// SPDX-License-Identifier: MIT
/* examples/libuv.c, a libuv loop polling rings' fds, serves every request of
 * its client processes in order with either fd backend, and stops cleanly on
 * SIGTERM. */
#include "procutil.h"

#include <sys/stat.h>

/* Runs the example with BACKEND forced; returns its exit status. */
static int run_example(struct proc *p, const char *backend, char *clients, char *count)
{
	BUILD_PATH(ex, "examples/libuv");
	struct stat st;
	char *argv[] = { (char *)ex, clients, count, NULL };

	if (stat(ex, &st))
		cr_skip_test("%s not built (libuv is not installed)", ex);
	setenv("SHMRING_FD_BACKEND", backend, 1);
	proc_start(p, argv);
	return proc_finish(p, 0, 60000);
}

static void expect_served(const struct proc *p, int clients, unsigned long count)
{
	for (int i = 0; i < clients; i++) {
		char want[64];

		snprintf(want, sizeof(want), "client %d: %lu requests\n", i, count);
		cr_expect(strstr(p->outbuf, want), "no '%s' in:\n%s", want, p->outbuf);
	}
}

Test(libuv, serves_every_request_with_the_io_uring_backend)
{
	static struct proc p;
	int rc = run_example(&p, "uring", "3", "20000");

	if (rc != 0 && strstr(p.errbuf, "Operation not supported"))
		cr_skip_test("no io_uring futex wait on this kernel: %s", p.errbuf);
	cr_assert_eq(rc, 0, "%s%s", p.outbuf, p.errbuf);
	cr_expect(strstr(p.outbuf, "(io_uring backend)"), "%s", p.outbuf);
	expect_served(&p, 3, 20000);
}

Test(libuv, serves_every_request_with_the_thread_backend)
{
	static struct proc p;

	cr_assert_eq(run_example(&p, "thread", "3", "20000"), 0, "%s%s", p.outbuf,
		     p.errbuf);
	cr_expect(strstr(p.outbuf, "(thread backend)"), "%s", p.outbuf);
	expect_served(&p, 3, 20000);
}

Test(libuv, stops_cleanly_on_sigterm)
{
	BUILD_PATH(ex, "examples/libuv");
	static struct proc p;
	struct stat st;
	/* Clients that never finish in time: the signal ends the loop. */
	char *argv[] = { (char *)ex, "2", "1000000000", NULL };

	if (stat(ex, &st))
		cr_skip_test("%s not built", ex);
	proc_start(&p, argv);
	cr_assert(proc_expect(&p, "serving 2 clients", 10000), "%s", p.errbuf);
	cr_assert(proc_expect(&p, "requests/s", 5000), "no status line: %s", p.outbuf);
	/* Exits 1: the clients did not get through their requests. */
	cr_expect_eq(proc_finish(&p, SIGTERM, 10000), 1, "%s%s", p.outbuf, p.errbuf);
	cr_expect(strstr(p.outbuf, "shutting down"), "%s", p.outbuf);
}
