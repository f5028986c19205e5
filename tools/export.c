// SPDX-License-Identifier: MIT
/*
 * Machine-readable output of ring headers: JSON for scripts (`ls --json`,
 * `stat --json`) and the OpenMetrics / Prometheus text formats for
 * node_exporter's textfile collector (`--openmetrics`, `--prometheus`).
 * The field and metric names are an interface: man/shmring.1 documents
 * them, tests/test_tool.c holds them, and they change only by addition.
 */
#include "tool.h"
#include "bridge.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at S (1-4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	uint32_t c;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, c = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

/* S as a JSON string. Ring names are bytes: a byte that is not UTF-8
 * becomes U+FFFD, so the output is always valid JSON. */
static void json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		size_t n = utf8_len(p);

		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else if (n)
			fwrite(p, 1, n, f);
		else
			fputs("\\ufffd", f);
		p += n ? n : 1;
	}
	fputc('"', f);
}

static void json_holders(FILE *f, const char *key, const struct shmring_holder *h,
			 unsigned int n)
{
	fprintf(f, ",\"%s\":[", key);
	for (unsigned int i = 0; i < n; i++)
		fprintf(f, "%s{\"pid\":%d,\"alive\":%s}", i ? "," : "", (int)h[i].pid,
			h[i].alive ? "true" : "false");
	fputc(']', f);
}

void tool_print_json(FILE *f, const struct tool_ring *rings, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		const struct shmring_info *in = &rings[i].info;

		fputs(i ? ",\n{\"name\":" : "\n{\"name\":", f);
		json_string(f, rings[i].name);
		fprintf(f,
			",\"policy\":\"%s\",\"elem_size\":%zu,\"capacity\":%zu"
			",\"pending\":%zu,\"available\":%zu,\"segment_size\":%zu"
			",\"pushed\":%llu,\"popped\":%llu"
			",\"producers_waiting\":%u,\"consumers_waiting\":%u"
			",\"producer_sleeps\":%llu,\"consumer_sleeps\":%llu"
			",\"producer_wakes\":%llu,\"consumer_wakes\":%llu,\"opens\":%llu",
			tool_policy_name(in->policy), in->elem_size, in->capacity,
			in->pending, in->capacity - in->pending, in->segment_size,
			(unsigned long long)in->pushed, (unsigned long long)in->popped,
			in->producers_waiting, in->consumers_waiting,
			(unsigned long long)in->producer_sleeps,
			(unsigned long long)in->consumer_sleeps,
			(unsigned long long)in->producer_wakes,
			(unsigned long long)in->consumer_wakes,
			(unsigned long long)in->opens);
		json_holders(f, "producers", in->producers, in->nproducers);
		json_holders(f, "consumers", in->consumers, in->nconsumers);
		fprintf(f,
			",\"producers_extra\":%llu,\"consumers_extra\":%llu"
			",\"abandoned\":%llu,\"instance\":\"%016llx\"}",
			(unsigned long long)in->producers_extra,
			(unsigned long long)in->consumers_extra,
			(unsigned long long)in->abandoned,
			(unsigned long long)in->instance);
	}
	fputs(n ? "\n]\n" : "]\n", f);
}

/* ---- OpenMetrics ----------------------------------------------------------- */

enum { PRODUCER, CONSUMER };

static unsigned int alive(const struct shmring_holder *h, unsigned int n)
{
	unsigned int a = 0;

	for (unsigned int i = 0; i < n; i++)
		a += h[i].alive;
	return a;
}

/* One metric family: VALUE gives a ring's sample (for ROLE when per_role). */
struct family {
	const char *name; /* without the _total a counter's samples carry */
	const char *type; /* "gauge" or "counter" */
	const char *unit; /* OpenMetrics unit, the name's suffix; NULL: none */
	const char *help;
	bool per_role;
	uint64_t (*value)(const struct shmring_info *in, int role);
};

static uint64_t v_capacity(const struct shmring_info *in, int role)
{
	return (void)role, in->capacity;
}

static uint64_t v_elem(const struct shmring_info *in, int role)
{
	return (void)role, in->elem_size;
}

static uint64_t v_segment(const struct shmring_info *in, int role)
{
	return (void)role, in->segment_size;
}

static uint64_t v_pending(const struct shmring_info *in, int role)
{
	return (void)role, in->pending;
}

static uint64_t v_pushed(const struct shmring_info *in, int role)
{
	return (void)role, in->pushed;
}

static uint64_t v_popped(const struct shmring_info *in, int role)
{
	return (void)role, in->popped;
}

static uint64_t v_waiting(const struct shmring_info *in, int role)
{
	return role == PRODUCER ? in->producers_waiting : in->consumers_waiting;
}

static uint64_t v_sleeps(const struct shmring_info *in, int role)
{
	return role == PRODUCER ? in->producer_sleeps : in->consumer_sleeps;
}

static uint64_t v_wakes(const struct shmring_info *in, int role)
{
	return role == PRODUCER ? in->producer_wakes : in->consumer_wakes;
}

static uint64_t v_opens(const struct shmring_info *in, int role)
{
	return (void)role, in->opens;
}

static uint64_t v_abandoned(const struct shmring_info *in, int role)
{
	return (void)role, in->abandoned;
}

static uint64_t v_holders(const struct shmring_info *in, int role)
{
	return role == PRODUCER ?
		       alive(in->producers, in->nproducers) + in->producers_extra :
		       alive(in->consumers, in->nconsumers) + in->consumers_extra;
}

static const struct family families[] = {
	{ "shmring_capacity", "gauge", NULL, "Slots in the ring.", false, v_capacity },
	{ "shmring_element_bytes", "gauge", "bytes", "Size of one element.", false,
	  v_elem },
	{ "shmring_segment_bytes", "gauge", "bytes", "Size of the shared segment.", false,
	  v_segment },
	{ "shmring_pending", "gauge", NULL,
	  "Elements queued: positions producers claimed that consumers have not taken.",
	  false, v_pending },
	{ "shmring_pushed", "counter", NULL,
	  "Positions producers claimed since the ring was created.", false, v_pushed },
	{ "shmring_popped", "counter", NULL,
	  "Positions consumers took since the ring was created.", false, v_popped },
	{ "shmring_waiting", "gauge", NULL,
	  "Handles asleep now: producers on a full ring, consumers on an empty one.",
	  true, v_waiting },
	{ "shmring_sleeps", "counter", NULL, "Times a handle of this role went to sleep.",
	  true, v_sleeps },
	{ "shmring_wakes", "counter", NULL,
	  "Futex wakes the other side made for sleepers of this role.", true, v_wakes },
	{ "shmring_opens", "counter", NULL,
	  "Handles opened on the ring since it was created.", false, v_opens },
	{ "shmring_abandoned", "counter", NULL,
	  "Slots repaired after their claimer died (src/repair.c).", false, v_abandoned },
	{ "shmring_holders", "gauge", NULL,
	  "Live holders of the role: those in the registry table, plus those beyond "
	  "it.",
	  true, v_holders },
};

/* A label value: backslash, double quote and newline escaped. Other bytes
 * pass as they are (both formats are UTF-8; names are bytes). */
static void label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

void tool_print_metrics(FILE *f, const struct tool_ring *rings, size_t n,
			enum tool_format format)
{
	static const char *const roles[2] = { "producer", "consumer" };
	bool om = format == TOOL_OPENMETRICS;

	for (size_t k = 0; k < sizeof(families) / sizeof(families[0]); k++) {
		const struct family *fam = &families[k];
		/* Prometheus 0.0.4 names a counter's family after its samples. */
		const char *total = !strcmp(fam->type, "counter") ? "_total" : "";

		fprintf(f, "# TYPE %s%s %s\n", fam->name, om ? "" : total, fam->type);
		if (om && fam->unit)
			fprintf(f, "# UNIT %s %s\n", fam->name, fam->unit);
		fprintf(f, "# HELP %s%s %s\n", fam->name, om ? "" : total, fam->help);
		for (size_t i = 0; i < n; i++) {
			for (int role = 0; role < (fam->per_role ? 2 : 1); role++) {
				fprintf(f, "%s%s{ring=\"", fam->name, total);
				label_value(f, rings[i].name);
				fprintf(f, "\",policy=\"%s\"",
					tool_policy_name(rings[i].info.policy));
				if (fam->per_role)
					fprintf(f, ",role=\"%s\"", roles[role]);
				fprintf(f, "} %llu\n",
					(unsigned long long)fam->value(&rings[i].info,
								       role));
			}
		}
	}
	if (om) {
		/* The bridges' counters (tools/bridge.c): of the rings listed,
		 * and only of those. */
		const char **names = calloc(n ? n : 1, sizeof(*names));

		for (size_t i = 0; names && i < n; i++)
			names[i] = rings[i].name;
		if (names)
			bridge_print_openmetrics(f, names, n);
		free(names);
		fputs("# EOF\n", f);
	}
}
