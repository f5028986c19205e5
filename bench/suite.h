/* SPDX-License-Identifier: MIT */
/*
 * A suite is a list of groups; a group is what one table shows: shmring and
 * its peers on one configuration, each entry compared to a reference entry
 * of the same group (shmring in the matching mode). Repetitions run
 * round-robin over the whole suite, so the entries of a group are measured
 * minutes apart from their own earlier repetitions but seconds apart from
 * each other: ratios pair entries of the same round.
 */
#ifndef SHMRING_BENCH_SUITE_H
#define SHMRING_BENCH_SUITE_H

#include "bench.h"

#include <stdio.h>

enum entry_kind {
	E_TP,	  /* throughput of a transport */
	E_MEMCPY, /* memcpy bandwidth (throughput ceiling) */
	E_C2C,	  /* cross-core copy bandwidth (throughput ceiling of a ring) */
	E_LAT,	  /* round trip of a transport */
	E_LINE,	  /* cache-line round trip (latency floor) */
};

#define GROUP_MAX 16

struct entry {
	enum entry_kind kind;
	const struct xp_ops *ops; /* NULL for the machine limits */
	struct xp_cfg cfg;
	char label[48]; /* "rte_ring sp/sc x32" */
	char key[96];	/* "tp/spsc/64/1024/rte_ring/busy/32", for the targets */
	int ref;	/* entry this one's ratio is against, -1 for none */
	unsigned reps;
	double v[BENCH_MAX_REPS]; /* msgs/s (throughput), p50 ns (latency) */
	double p99[BENCH_MAX_REPS], p999[BENCH_MAX_REPS];
	double waited[BENCH_MAX_REPS]; /* share of the window the processes
					  waited for a CPU (struct window) */
	unsigned attempts[BENCH_MAX_REPS];
	size_t samples;
	double *dist; /* latency: sorted round trips of the last repetition */
	size_t ndist;
};

struct group {
	char title[80];
	bool latency;
	struct entry e[GROUP_MAX];
	unsigned n;
};

struct suite {
	struct group *g;
	unsigned n, alloc;
	unsigned reps;
	unsigned retries; /* extra attempts for a disturbed trial (suite.c) */
	struct run_opts tp, lat;
	const char *out; /* directory for CSV and plot data */
	/* Placement: the cache-line round trip (p50, ns) measured before each
	 * round. The host places the two vCPUs "near" (about 100 ns) or "far"
	 * (about 500 ns), and designs rank differently on each: targets are
	 * judged on the near rounds only (report.c). */
	double line_rt[BENCH_MAX_REPS];
};

/* A round whose cache-line round trip is below this ran on near placement. */
#define NEAR_NS 250.0
static inline bool round_near(const struct suite *s, unsigned rep)
{
	return s->line_rt[rep] > 0 && s->line_rt[rep] < NEAR_NS;
}

/* Build the quick (make bench) or full (make bench-full) suite. */
int suite_quick(struct suite *s);
int suite_full(struct suite *s);
/* One group with one entry, for the tp and lat subcommands. */
int suite_single(struct suite *s, enum entry_kind kind, const struct xp_ops *ops,
		 const struct xp_cfg *c);
/* Runs every repetition; stops at the first failed trial (-1). */
int suite_run(struct suite *s);
void suite_free(struct suite *s);

const struct xp_ops *xp_by_name(const char *name);
void entry_label(struct entry *e);

/* report.c */
double median(const double *v, unsigned n);
/* Median over repetitions of A[i] / B[i]; NAN when there is none. */
double paired_ratio(const struct entry *a, const struct entry *b);
/* The same over the rounds S ran on near placement only; *N gets their
 * number. */
double paired_ratio_near(const struct suite *s, const struct entry *a,
			 const struct entry *b, unsigned *n);
/* "placement: ..." for the report. */
void report_placement(const struct suite *s, FILE *f);
void report_tables(const struct suite *s, FILE *f);
/* Prints the targets; returns how many were met and how many judged (goals
 * measured in at least one near round). */
void report_targets(const struct suite *s, FILE *f, unsigned *met, unsigned *measured);
int report_files(const struct suite *s);
void report_footprint(FILE *f, bool full);
int footprint_csv(const char *path);
void report_machine(FILE *f);

#endif /* SHMRING_BENCH_SUITE_H */
