/* SPDX-License-Identifier: MIT */
/* The `shmring` tool's commands, one file each where they are big. */
#ifndef SHMRING_TOOL_H
#define SHMRING_TOOL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "shmring.h"

/* Exit statuses: 0 done, 1 failed, 2 bad usage. */
enum { EXIT_USAGE = 2 };

/* "shmring: " + message + newline on stderr, like err(3) without errno. */
__attribute__((format(printf, 1, 2))) void tool_error(const char *fmt, ...);

/* Strict decimal parse of S into *OUT within [MIN, MAX]; false on junk. */
bool tool_parse_long(const char *s, long min, long max, long *out);

/* COMMAND's help: on stdout with status 0 when OK (--help), else on stderr
 * with status EXIT_USAGE (bad usage). */
int tool_usage(const char *command, bool ok);

/* Why shmring_stat failed on NAME, for a person. */
void tool_stat_error(const char *name, int e);

const char *tool_policy_name(enum shmring_policy p);
unsigned int tool_percent(size_t part, size_t whole);

/* A ring as the listing commands print it. */
struct tool_ring {
	char name[256];
	struct shmring_info info;
};

/* tools/export.c: machine-readable output of RINGS (N of them). */
enum tool_format {
	TOOL_TEXT,
	TOOL_JSON,	  /* a JSON array, one object per ring */
	TOOL_OPENMETRICS, /* OpenMetrics text format, ending in # EOF */
	TOOL_PROMETHEUS,  /* Prometheus text format 0.0.4 */
};
void tool_print_json(FILE *f, const struct tool_ring *rings, size_t n);
void tool_print_metrics(FILE *f, const struct tool_ring *rings, size_t n,
			enum tool_format format);

/* tools/watch.c */
int cmd_watch(int argc, char **argv);

/* tools/trace.c; without CONFIG_BPF it only explains what is missing. */
int cmd_trace(int argc, char **argv);

/* tools/bridge.c: rings over NATS JetStream; without CONFIG_NATS it only
 * reads counters and says the bridge is not compiled in. */
int cmd_bridge(int argc, char **argv);

#endif /* SHMRING_TOOL_H */
