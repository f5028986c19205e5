// SPDX-License-Identifier: MIT
/*
 * shmring-bench: the command line. `run` is what make bench runs; `tp` and
 * `lat` measure one configuration (to run under perf stat or callgrind);
 * `footprint` prints memory per ring; `list` names the transports.
 */
#include "suite.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] =
	"usage: shmring-bench run [--quick | --full] [--reps N] [--retries N] [--out DIR]\n"
	"       shmring-bench tp  [options]   throughput of one configuration\n"
	"       shmring-bench lat [options]   round trip of one configuration\n"
	"       shmring-bench cost [options] [-n COUNT]  the calls alone: both ends\n"
	"                         in one process, ns per message (push + pop)\n"
	"       shmring-bench footprint | list\n"
	"options for tp and lat:\n"
	"  -t NAME   transport (list shows them; tp also takes memcpy and c2c, lat\n"
	"            cacheline,"
	" with -c 1 or 2 cache lines each way)\n"
	"  -p POL    spsc | mpsc | mpmc            (spsc)\n"
	"  -e BYTES  element size                  (64)\n"
	"  -c N      capacity                      (1024)\n"
	"  -m MODE   busy | block | sleep | fd | zc (busy)\n"
	"  -b N      burst size, busy mode only    (1)\n"
	"  -P N -C N producers, consumers          (from the policy: 1x1, 2x1, 2x2)\n"
	"  --ms MS   length of each trial          (500)\n"
	"  --reps N  repetitions                   (5)\n"
	"  --retries N  run a trial again, up to N times, while its processes\n"
	"            waited for a CPU more than 10% of the time (0)\n";

double ticks_per_ns(void)
{
	static double rate;

	if (!rate) {
		struct timespec nap = { 0, 20000000 };
		uint64_t t0 = ticks(), n0 = now_ns();

		nanosleep(&nap, NULL);
		rate = (double)(ticks() - t0) / (double)(now_ns() - n0);
	}
	return rate;
}

static int parse_policy(const char *s, enum shmring_policy *p)
{
	static const char *const names[] = { "spsc", "mpsc", "mpmc" };

	for (int i = 0; i < 3; i++)
		if (!strcmp(s, names[i])) {
			*p = (enum shmring_policy)(SHMRING_SPSC + i);
			return 0;
		}
	return -1;
}

static int parse_mode(const char *s, enum wait_mode *m)
{
	for (int i = 0; i < WAIT_MODES; i++)
		if (!strcmp(s, mode_name((enum wait_mode)i))) {
			*m = (enum wait_mode)i;
			return 0;
		}
	return -1;
}

struct cli {
	bool quick, full;
	unsigned reps, ms, retries;
	uint64_t count;
	bool transport_given;
	const char *out, *transport;
	struct xp_cfg cfg;
};

static const struct option long_opts[] = {
	{ "quick", no_argument, NULL, 'q' },
	{ "full", no_argument, NULL, 'f' },
	{ "reps", required_argument, NULL, 'r' },
	{ "out", required_argument, NULL, 'o' },
	{ "ms", required_argument, NULL, 'M' },
	{ "retries", required_argument, NULL, 'R' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_opt(struct cli *a, int opt)
{
	switch (opt) {
	case 'q':
		a->quick = true;
		return 0;
	case 'f':
		a->full = true;
		return 0;
	case 'r':
		a->reps = (unsigned)atoi(optarg);
		return 0;
	case 'o':
		a->out = optarg;
		return 0;
	case 'M':
		a->ms = (unsigned)atoi(optarg);
		return 0;
	case 'R':
		a->retries = (unsigned)atoi(optarg);
		return 0;
	case 't':
		a->transport = optarg;
		a->transport_given = true;
		return 0;
	case 'n':
		a->count = (uint64_t)atoll(optarg);
		return 0;
	case 'p':
		return parse_policy(optarg, &a->cfg.policy);
	case 'e':
		a->cfg.elem = (size_t)atol(optarg);
		return 0;
	case 'c':
		a->cfg.cap = (size_t)atol(optarg);
		return 0;
	case 'm':
		return parse_mode(optarg, &a->cfg.mode);
	case 'b':
		a->cfg.burst = (unsigned)atoi(optarg);
		return 0;
	case 'P':
		a->cfg.producers = (unsigned)atoi(optarg);
		return 0;
	case 'C':
		a->cfg.consumers = (unsigned)atoi(optarg);
		return 0;
	default:
		return -1;
	}
}

static int parse(struct cli *a, int argc, char **argv)
{
	int opt;

	*a = (struct cli){ .reps = 5,
			   .ms = 500,
			   .count = 2000000,
			   .out = "build/bench",
			   .transport = "shmring" };
	a->cfg = (struct xp_cfg){
		.policy = SHMRING_SPSC, .elem = 64, .cap = 1024, .burst = 1
	};
	while ((opt = getopt_long(argc, argv, "t:p:e:c:m:b:P:C:n:h", long_opts, NULL)) !=
	       -1)
		if (parse_opt(a, opt))
			return -1;
	if (!a->cfg.producers)
		a->cfg.producers = a->cfg.policy == SHMRING_SPSC ? 1 : 2;
	if (!a->cfg.consumers)
		a->cfg.consumers = a->cfg.policy == SHMRING_MPMC ? 2 : 1;
	if (a->cfg.producers > BENCH_MAX_PROCS / 2 ||
	    a->cfg.consumers > BENCH_MAX_PROCS / 2 || a->cfg.elem < 8 || !a->cfg.cap ||
	    !a->reps || a->reps > BENCH_MAX_REPS)
		return -1;
	return optind == argc ? 0 : -1;
}

static int cmd_run(struct cli *a)
{
	struct suite s = { .out = a->out };
	unsigned met, measured;
	int rc = a->full ? suite_full(&s) : suite_quick(&s);

	if (!rc && a->reps != 5)
		s.reps = a->reps;
	s.retries = a->retries;
	if (mkdir(a->out, 0755) && errno != EEXIST) {
		perror(a->out);
		rc = -1;
	}
	report_machine(stdout);
	if (!rc)
		rc = suite_run(&s);
	if (!rc) {
		report_tables(&s, stdout);
		report_targets(&s, stdout, &met, &measured);
		report_footprint(stdout, a->full);
		rc = report_files(&s);
		report_machine(
			stdout); /* the load again: did it change during the run? */
		if (measured)
			printf("\n%u of %u targets met (judged on near rounds); files in %s/\n",
			       met, measured, a->out);
		else
			printf("\ntargets not judged: no round ran on near placement; "
			       "files in %s/\n",
			       a->out);
	}
	suite_free(&s);
	return rc ? 1 : 0;
}

/* tp / lat: one configuration, the given number of repetitions. */
static int cmd_one(struct cli *a, bool latency)
{
	struct suite s = { .out = a->out };
	const struct xp_ops *ops = xp_by_name(a->transport);
	enum entry_kind kind = latency ? E_LAT : E_TP;
	int rc;

	if (!strcmp(a->transport, latency ? "cacheline" : "memcpy"))
		kind = latency ? E_LINE : E_MEMCPY;
	else if (!latency && !strcmp(a->transport, "c2c"))
		kind = E_C2C;
	else if (!ops) {
		fprintf(stderr, "unknown transport %s\n", a->transport);
		return 2;
	}
	if (kind == E_LINE && a->cfg.cap > 2)
		a->cfg.cap = 1; /* for cacheline, -c is the lines each way: 1 or 2 */
	if (suite_single(&s, kind, kind == E_LAT || kind == E_TP ? ops : NULL, &a->cfg)) {
		fprintf(stderr, "%s cannot run that configuration\n", a->transport);
		return 2;
	}
	s.reps = a->reps;
	s.retries = a->retries;
	s.tp = (struct run_opts){ .dur_ns = a->ms * 1000000ull, .warm_ns = 20000000ull };
	s.lat = s.tp;
	s.lat.lat_samples = 4000000;
	rc = suite_run(&s);
	if (!rc) {
		report_tables(&s, stdout);
		report_placement(&s, stdout);
	}
	suite_free(&s);
	return rc ? 1 : 0;
}

static const char *const transport_names[] = { "shmring",     "rte_ring", "rte_ring-rts",
					       "ck_ring",     "pipe",	  "seqpacket",
					       "eventfd+shm", "mqueue" };
#define NTRANSPORTS (sizeof(transport_names) / sizeof(transport_names[0]))

/* cost: each transport that can run the configuration (the rings polled,
 * the others blocking), or only -t's. */
static int cmd_cost(struct cli *a)
{
	int rc = 0;

	printf("%s %zu B, capacity %zu: one process, both ends, ns per message\n",
	       policy_name(a->cfg.policy), a->cfg.elem, a->cfg.cap);
	for (size_t i = 0; i < NTRANSPORTS; i++) {
		const struct xp_ops *ops = xp_by_name(transport_names[i]);
		struct xp_cfg c = a->cfg;
		char label[64];
		double ns;

		if (a->transport_given && strcmp(a->transport, ops->name))
			continue;
		if (!a->transport_given && !(ops->modes & 1u << c.mode))
			c.mode = WAIT_BLOCK;
		c.producers = c.consumers = 1;
		if (!xp_supports(ops, &c))
			continue;
		xp_label(ops, &c, label, sizeof(label));
		ns = cost_run(ops, &c, a->count);
		printf("  %-24s %8.1f\n", label, ns);
		rc |= ns < 0;
	}
	return rc;
}

static void cmd_list(void)
{
	for (size_t i = 0; i < NTRANSPORTS; i++) {
		const struct xp_ops *o = xp_by_name(transport_names[i]);

		printf("%-12s policies:%s%s%s modes:%s%s%s%s\n", o->name,
		       o->policies & 1u << SHMRING_SPSC ? " spsc" : "",
		       o->policies & 1u << SHMRING_MPSC ? " mpsc" : "",
		       o->policies & 1u << SHMRING_MPMC ? " mpmc" : "",
		       o->modes & 1u << WAIT_BUSY ? " busy" : "",
		       o->modes & 1u << WAIT_BLOCK ? " block" : "",
		       o->modes & 1u << WAIT_SLEEP ? " sleep" : "",
		       o->bursts ? " bursts" : "");
	}
	printf("memcpy       (tp only: one core's copy bandwidth)\n"
	       "c2c          (tp only: copy bandwidth from one core to the other)\n"
	       "cacheline    (lat only: the round-trip floor)\n");
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	struct cli a;

	if (parse(&a, argc - 1, argv + 1) || (a.quick && a.full)) {
		fputs(usage, stderr);
		return 2;
	}
	ticks_per_ns(); /* calibrate before any trial */
	if (!strcmp(cmd, "run"))
		return cmd_run(&a);
	if (!strcmp(cmd, "tp") || !strcmp(cmd, "lat"))
		return cmd_one(&a, !strcmp(cmd, "lat"));
	if (!strcmp(cmd, "cost"))
		return cmd_cost(&a) ? 1 : 0;
	if (!strcmp(cmd, "footprint")) {
		report_footprint(stdout, true);
		return 0;
	}
	if (!strcmp(cmd, "list")) {
		cmd_list();
		return 0;
	}
	fputs(usage, stderr);
	return 2;
}
