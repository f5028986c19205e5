/* SPDX-License-Identifier: MIT */
/* The `shmring` tool's commands, one file each where they are big. */
#ifndef SHMRING_TOOL_H
#define SHMRING_TOOL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

/* Exit statuses: 0 done, 1 failed, 2 bad usage. */
enum { EXIT_USAGE = 2 };

/* "shmring: " + message + newline on stderr, like err(3) without errno. */
__attribute__((format(printf, 1, 2))) void tool_error(const char *fmt, ...);

/* Strict decimal parse of S into *OUT within [MIN, MAX]; false on junk. */
bool tool_parse_long(const char *s, long min, long max, long *out);

/* tools/trace.c; without CONFIG_BPF it only explains what is missing. */
int cmd_trace(int argc, char **argv);

/* tools/bridge.c: rings over NATS JetStream; without CONFIG_NATS it only
 * reads counters and says the bridge is not compiled in. */
int cmd_bridge(int argc, char **argv);

#endif /* SHMRING_TOOL_H */
