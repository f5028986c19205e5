// SPDX-License-Identifier: MIT
/*
 * Turning repetitions into what a reader trusts: medians, ratios of entries
 * measured in the same round (so machine drift between rounds cancels), the
 * targets of issue 4, CSV files, and data files for bench/plot.gp.
 */
#include "suite.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double median(const double *v, unsigned n)
{
	double s[BENCH_MAX_REPS];

	if (!n)
		return NAN;
	memcpy(s, v, n * sizeof(double));
	qsort(s, n, sizeof(double), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

double paired_ratio(const struct entry *a, const struct entry *b)
{
	double r[BENCH_MAX_REPS];
	unsigned n = a->reps < b->reps ? a->reps : b->reps;

	for (unsigned i = 0; i < n; i++)
		r[i] = a->v[i] / b->v[i];
	return median(r, n);
}

double paired_ratio_near(const struct suite *s, const struct entry *a,
			 const struct entry *b, unsigned *n)
{
	double r[BENCH_MAX_REPS];
	unsigned reps = a->reps < b->reps ? a->reps : b->reps;

	*n = 0;
	for (unsigned i = 0; i < reps; i++)
		if (round_near(s, i))
			r[(*n)++] = a->v[i] / b->v[i];
	return median(r, *n);
}

void report_placement(const struct suite *s, FILE *f)
{
	unsigned near = 0;
	double rt[BENCH_MAX_REPS];
	unsigned n = 0;

	fprintf(f, "\nPlacement: cache-line round trip before each round (p50 ns):");
	for (unsigned i = 0; i < s->reps; i++) {
		fprintf(f, " %.0f%s", s->line_rt[i], round_near(s, i) ? "" : "(far)");
		near += round_near(s, i);
		if (s->line_rt[i] > 0)
			rt[n++] = s->line_rt[i];
	}
	fprintf(f, "\n  median %.0f ns: %s placement; %u of %u rounds near (< %.0f ns)\n",
		median(rt, n), median(rt, n) < NEAR_NS ? "near" : "far", near, s->reps,
		NEAR_NS);
}

/* ---- terminal tables -------------------------------------------------------- */

/* The ratio column: this entry against its reference, paired by round. */
static void ratio_cell(const struct group *g, const struct entry *e, FILE *f)
{
	if (e->ref >= 0)
		fprintf(f, "  %6.2fx %s", paired_ratio(&g->e[e->ref], e),
			g->e[e->ref].label);
	fputc('\n', f);
}

/* "wait%": the median share of the window the processes waited for a CPU. */
static void tp_table(const struct group *g, FILE *f)
{
	fprintf(f, "\n%s (throughput, median of %u)\n", g->title, g->e[0].reps);
	fprintf(f, "  %-24s %9s %8s %6s  %s\n", "transport", "Mmsg/s", "GB/s", "wait%",
		"shmring/peer");
	for (unsigned i = 0; i < g->n; i++) {
		const struct entry *e = &g->e[i];
		double m = median(e->v, e->reps);

		fprintf(f, "  %-24s %9.2f %8.3f %6.1f", e->label, m / 1e6,
			m * (double)e->cfg.elem / 1e9, 100 * median(e->waited, e->reps));
		ratio_cell(g, e, f);
	}
}

static void lat_table(const struct group *g, FILE *f)
{
	fprintf(f, "\n%s (ns, median of %u)\n", g->title, g->e[0].reps);
	fprintf(f, "  %-24s %8s %8s %8s %6s  %s\n", "transport", "p50", "p99", "p99.9",
		"wait%", "p50 shmring/peer");
	for (unsigned i = 0; i < g->n; i++) {
		const struct entry *e = &g->e[i];

		fprintf(f, "  %-24s %8.0f %8.0f %8.0f %6.1f", e->label,
			median(e->v, e->reps), median(e->p99, e->reps),
			median(e->p999, e->reps), 100 * median(e->waited, e->reps));
		ratio_cell(g, e, f);
	}
}

void report_tables(const struct suite *s, FILE *f)
{
	for (unsigned i = 0; i < s->n; i++) {
		if (s->g[i].latency)
			lat_table(&s->g[i], f);
		else
			tp_table(&s->g[i], f);
	}
}

/* ---- targets ------------------------------------------------------------------ */

struct target {
	const char *what, *num, *den;
	double goal;  /* 0: for information, not a target */
	bool at_most; /* the ratio must not exceed the goal */
};

/* The targets of issue 10 (and issue 4's that still hold), and beside them
 * what explains them. The keys are entry_label()'s: kind/policy/producers x
 * consumers/element size/capacity/label. */
#define SPSC64 "tp/spsc/1x1/64/1024/"
#define SPSC56 "tp/spsc/1x1/56/1024/"
#define MPSC11 "tp/mpsc/1x1/64/1024/"
#define MPMC11 "tp/mpmc/1x1/64/1024/"
#define MPSC64 "tp/mpsc/2x1/64/1024/"
#define MPMC64 "tp/mpmc/2x2/64/1024/"
#define SPSC4K "tp/spsc/1x1/4096/1024/"
#define RTT64  "lat/spsc/1x1/64/"
static const struct target targets[] = {
	{ "SPSC 64 B single: shmring / rte_ring sp/sc", SPSC64 "shmring busy",
	  SPSC64 "rte_ring sp/sc", 1.5, false },
	{ "SPSC 56 B single: shmring / rte_ring sp/sc", SPSC56 "shmring busy",
	  SPSC56 "rte_ring sp/sc", 1.8, false },
	{ "MPSC 1x1 64 B: shmring / rte_ring mp/sc", MPSC11 "shmring busy",
	  MPSC11 "rte_ring mp/sc", 2.0, false },
	{ "MPSC 2x1 64 B: shmring / rte_ring mp/sc", MPSC64 "shmring busy",
	  MPSC64 "rte_ring mp/sc", 2.0, false },
	{ "MPMC 1x1 64 B: shmring / rte_ring mp/mc", MPMC11 "shmring busy",
	  MPMC11 "rte_ring mp/mc", 2.0, false },
	{ "MPMC 2x2 64 B: shmring / rte_ring mp/mc", MPMC64 "shmring busy",
	  MPMC64 "rte_ring mp/mc", 2.0, false },
	{ "SPSC 64 B round trip p50: shmring / cache line", RTT64 "1024/shmring busy",
	  RTT64 "1/cache line", 1.5, true },
	{ "SPSC 4096 B zero-copy: shmring / rte_ring single", SPSC4K "shmring zc",
	  SPSC4K "rte_ring sp/sc", 1.5, false },
	{ "SPSC 4096 B copying: shmring / rte_ring single", SPSC4K "shmring busy",
	  SPSC4K "rte_ring sp/sc", 1.0, false },
	{ "SPSC 64 B bursts of 32: shmring / rte_ring", SPSC64 "shmring busy x32",
	  SPSC64 "rte_ring sp/sc x32", 1.0, false },
	{ "SPSC 64 B capacity 144 / capacity 128", "tp/spsc/1x1/64/144/shmring busy",
	  "tp/spsc/1x1/64/128/shmring busy", 0.95, false },
	{ "SPSC 64 B blocking: shmring / POSIX mqueue", SPSC64 "shmring block",
	  SPSC64 "mqueue", 0, false },
	{ "SPSC 64 B blocking: shmring / pipe", SPSC64 "shmring block", SPSC64 "pipe", 0,
	  false },
	{ "MPSC 2x1 64 B: shmring / rte_ring mp/sc RTS", MPSC64 "shmring busy",
	  MPSC64 "rte_ring-rts mp/sc", 0, false },
	{ "MPMC 2x2 64 B: shmring / rte_ring mp/mc RTS", MPMC64 "shmring busy",
	  MPMC64 "rte_ring-rts mp/mc", 0, false },
	{ "SPSC 64 B round trip p50: shmring / cache line x2", RTT64 "1024/shmring busy",
	  RTT64 "2/cache line x2", 0, true },
	{ "SPSC 4096 B: shmring / memcpy bandwidth", SPSC4K "shmring busy",
	  SPSC4K "memcpy", 0, false },
	{ "SPSC 4096 B: shmring x32 / cross-core copy", SPSC4K "shmring busy x32",
	  SPSC4K "cross-core copy", 0, false },
	{ "SPSC 4096 B: cross-core copy / memcpy", SPSC4K "cross-core copy",
	  SPSC4K "memcpy", 0, false },
};

static const struct entry *find(const struct suite *s, const char *key)
{
	for (unsigned i = 0; i < s->n; i++)
		for (unsigned k = 0; k < s->g[i].n; k++)
			if (!strcmp(s->g[i].e[k].key, key) && s->g[i].e[k].reps)
				return &s->g[i].e[k];
	return NULL;
}

/* The target's ratio over all rounds, and over the near ones (*NEAR, in
 * *NNEAR rounds): NAN when not measured. */
static double target_ratio(const struct suite *s, const struct target *t, double *near,
			   unsigned *nnear)
{
	const struct entry *a = find(s, t->num), *b = find(s, t->den);

	*near = NAN;
	*nnear = 0;
	if (!a || !b)
		return NAN;
	*near = paired_ratio_near(s, a, b, nnear);
	return paired_ratio(a, b);
}

/* Judged on near placement only (DESIGN.md, bench/README.md). */
static const char *verdict(const struct target *t, double near, unsigned nnear)
{
	if (!t->goal)
		return "";
	if (!nnear)
		return "not judged: no near round";
	return (t->at_most ? near <= t->goal : near >= t->goal) ? "met" : "MISSED";
}

void report_targets(const struct suite *s, FILE *f, unsigned *met, unsigned *measured)
{
	*met = *measured = 0;
	report_placement(s, f);
	fprintf(f, "\nTargets (issue 10; paired median ratios, judged on near rounds; no "
		   "goal: for information)\n");
	fprintf(f, "  %-52s %9s %9s  %s\n", "", "near", "all", "goal");
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		const struct target *t = &targets[i];
		unsigned nnear;
		double near, r = target_ratio(s, t, &near, &nnear);

		if (isnan(r))
			continue;
		fprintf(f, "  %-52s %8.2fx %8.2fx", t->what, near, r);
		if (t->goal) {
			*measured += nnear > 0; /* judged: near rounds only */
			*met += !strcmp(verdict(t, near, nnear), "met");
			fprintf(f, "  %s %.2fx  %s", t->at_most ? "<=" : ">=", t->goal,
				verdict(t, near, nnear));
		}
		fputc('\n', f);
	}
}

static void targets_csv(const struct suite *s, FILE *f)
{
	fprintf(f, "target,numerator,denominator,ratio_near,near_rounds,ratio_all,goal,"
		   "verdict\n");
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		const struct target *t = &targets[i];
		unsigned nnear;
		double near, r = target_ratio(s, t, &near, &nnear);

		if (isnan(r))
			continue;
		fprintf(f, "\"%s\",\"%s\",\"%s\",%.4f,%u,%.4f,", t->what, t->num, t->den,
			near, nnear, r);
		if (t->goal)
			fprintf(f, "%s%.2f", t->at_most ? "<=" : ">=", t->goal);
		fprintf(f, ",%s\n", verdict(t, near, nnear));
	}
}

/* ---- files -------------------------------------------------------------------- */

static FILE *out_open(const struct suite *s, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", s->out, name);
	f = fopen(path, "w");
	if (!f)
		perror(path);
	return f;
}

static void tp_csv_rows(const struct group *g, FILE *raw, FILE *sum)
{
	for (unsigned i = 0; i < g->n; i++) {
		const struct entry *e = &g->e[i];
		const struct xp_cfg *c = &e->cfg;
		double m = median(e->v, e->reps);

		for (unsigned r = 0; r < e->reps; r++)
			fprintf(raw, "%s,%zu,%zu,%u,%u,%s,%u,%.0f,%.0f,%.3f,%u\n",
				policy_name(c->policy), c->elem, c->cap, c->producers,
				c->consumers, e->label, r, e->v[r],
				e->v[r] * (double)c->elem, e->waited[r], e->attempts[r]);
		fprintf(sum, "%s,%zu,%zu,%s,%u,%.0f,%.0f,%s,%.4f\n",
			policy_name(c->policy), c->elem, c->cap, e->label, e->reps, m,
			m * (double)c->elem, e->ref >= 0 ? g->e[e->ref].label : "",
			e->ref >= 0 ? paired_ratio(&g->e[e->ref], e) : NAN);
	}
}

static void lat_csv_rows(const struct group *g, FILE *raw, FILE *sum)
{
	for (unsigned i = 0; i < g->n; i++) {
		const struct entry *e = &g->e[i];
		const char *pol = policy_name(e->cfg.policy);

		for (unsigned r = 0; r < e->reps; r++)
			fprintf(raw, "%s,%zu,%s,%u,%.1f,%.1f,%.1f,%.3f,%u\n", pol,
				e->cfg.elem, e->label, r, e->v[r], e->p99[r], e->p999[r],
				e->waited[r], e->attempts[r]);
		fprintf(sum, "%s,%zu,%s,%u,%zu,%.1f,%.1f,%.1f,%s,%.4f\n", pol,
			e->cfg.elem, e->label, e->reps, e->samples, median(e->v, e->reps),
			median(e->p99, e->reps), median(e->p999, e->reps),
			e->ref >= 0 ? g->e[e->ref].label : "",
			e->ref >= 0 ? paired_ratio(&g->e[e->ref], e) : NAN);
	}
}

static int csv_files(const struct suite *s)
{
	FILE *f[4] = { out_open(s, "throughput.csv"),
		       out_open(s, "throughput_median.csv"), out_open(s, "latency.csv"),
		       out_open(s, "latency_median.csv") };
	int rc = 0;

	if (f[0] && f[1] && f[2] && f[3]) {
		fprintf(f[0],
			"policy,elem,cap,producers,consumers,transport,rep,msgs_per_s,"
			"bytes_per_s,waited,attempts\n");
		fprintf(f[1], "policy,elem,cap,transport,reps,msgs_per_s,bytes_per_s,ref,"
			      "ratio_ref_over_this\n");
		fprintf(f[2],
			"policy,elem,transport,rep,p50_ns,p99_ns,p999_ns,waited,attempts\n");
		fprintf(f[3],
			"policy,elem,transport,reps,samples,p50_ns,p99_ns,p999_ns,ref,"
			"p50_ratio_ref_over_this\n");
		for (unsigned i = 0; i < s->n; i++) {
			if (s->g[i].latency)
				lat_csv_rows(&s->g[i], f[2], f[3]);
			else
				tp_csv_rows(&s->g[i], f[0], f[1]);
		}
	}
	for (int i = 0; i < 4; i++)
		if (!f[i] || fclose(f[i]))
			rc = -1;
	return rc;
}

/* Plot data: throughput against element size at capacity 1024, one gnuplot
 * data block (index) per transport, for plot.gp. */
static bool plotted(const struct group *g, const struct entry *e, enum shmring_policy p)
{
	return !g->latency && e->cfg.policy == p && e->cfg.cap == 1024;
}

/* The distinct labels of policy P's plotted entries, in suite order. */
static unsigned tp_labels(const struct suite *s, enum shmring_policy p,
			  const char **labels, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < s->n; i++)
		for (unsigned k = 0; k < s->g[i].n; k++) {
			const struct entry *e = &s->g[i].e[k];
			unsigned d = 0;

			while (d < n && strcmp(labels[d], e->label))
				d++;
			if (plotted(&s->g[i], e, p) && d == n && n < max)
				labels[n++] = e->label;
		}
	return n;
}

/* gnuplot blocks are separated by two blank lines; none after the last, or
 * gnuplot counts an empty block. */
static void block_start(FILE *f, unsigned index, const char *label)
{
	fprintf(f, "%s\"%s\"\n", index ? "\n\n" : "", label);
}

static void plot_tp_policy(const struct suite *s, enum shmring_policy p, FILE *f)
{
	const char *labels[64];
	unsigned n = tp_labels(s, p, labels, 64);

	for (unsigned l = 0; l < n; l++) {
		block_start(f, l, labels[l]);
		for (unsigned i = 0; i < s->n; i++)
			for (unsigned k = 0; k < s->g[i].n; k++) {
				const struct entry *e = &s->g[i].e[k];
				double v = median(e->v, e->reps);

				if (plotted(&s->g[i], e, p) &&
				    !strcmp(e->label, labels[l]))
					fprintf(f, "%zu %.4f %.4f\n", e->cfg.elem,
						v / 1e6, v * (double)e->cfg.elem / 1e9);
			}
	}
}

/* Latency at each percentile, for a plot against 1 / (1 - p) on a log axis. */
static void lat_block(FILE *f, unsigned index, const struct entry *e)
{
	static const double pcts[] = { 0,    0.1,   0.25,  0.5,	   0.75,   0.9,	   0.95,
				       0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999 };

	block_start(f, index, e->label);
	for (size_t j = 0; j < sizeof(pcts) / sizeof(pcts[0]) && e->ndist; j++)
		fprintf(f, "%.5f %.1f\n", pcts[j],
			e->dist[(size_t)(pcts[j] * (double)(e->ndist - 1))]);
}

/* The round-trip distributions of the first latency group. */
static void plot_lat(const struct suite *s, FILE *f)
{
	for (unsigned i = 0; i < s->n; i++) {
		if (!s->g[i].latency)
			continue;
		for (unsigned k = 0; k < s->g[i].n; k++)
			lat_block(f, k, &s->g[i].e[k]);
		return;
	}
}

static int plot_files(const struct suite *s)
{
	static const char *const names[] = { "plot_tp_spsc.dat", "plot_tp_mpsc.dat",
					     "plot_tp_mpmc.dat" };
	int rc = 0;

	for (int p = SHMRING_SPSC; p <= SHMRING_MPMC; p++) {
		FILE *f = out_open(s, names[p - 1]);

		if (!f)
			return -1;
		plot_tp_policy(s, p, f);
		rc |= fclose(f);
	}
	FILE *f = out_open(s, "plot_latency.dat");

	if (!f)
		return -1;
	plot_lat(s, f);
	return fclose(f) | rc;
}

int report_files(const struct suite *s)
{
	FILE *f;
	unsigned met, measured;
	char path[512];
	int rc = csv_files(s) | plot_files(s);

	snprintf(path, sizeof(path), "%s/footprint.csv", s->out);
	rc |= footprint_csv(path);
	f = out_open(s, "targets.csv");
	if (!f)
		return -1;
	targets_csv(s, f);
	rc |= fclose(f);
	f = out_open(s, "summary.txt");
	if (!f)
		return -1;
	report_machine(f);
	report_tables(s, f);
	report_targets(s, f, &met, &measured);
	report_footprint(f, false);
	return fclose(f) | rc;
}

/* ---- the machine -------------------------------------------------------------- */

static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, len, "unknown CPU");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && colon) {
			line[strcspn(line, "\n")] = 0;
			snprintf(buf, len, "%s", colon + 2);
			break;
		}
	}
	if (f)
		fclose(f);
}

void report_machine(FILE *f)
{
	struct utsname u;
	char model[128];
	double load[3] = { 0 };

	uname(&u);
	cpu_model(model, sizeof(model));
	getloadavg(load, 3);
	fprintf(f, "machine: %s, %d CPUs usable, Linux %s %s, TSC %.3f GHz, load %.2f\n",
		model, bench_ncpus(), u.release, u.machine, ticks_per_ns(), load[0]);
}
