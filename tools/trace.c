// SPDX-License-Identifier: MIT
/*
 * shmring trace: loads bpf/shmring.bpf.c, attaches it to the shmring USDT
 * probes and prints, every interval, per ring: event counts and log2
 * histograms of occupancy and of the time producers and consumers slept.
 * On exit (Ctrl-C, SIGTERM or -d) it prints the totals since it started.
 *
 * What gets traced. USDT probes live in a file (the shared library, or a
 * program that linked libshmring.a) and the kernel traces every process that
 * maps that file, including processes started later. By default the tool
 * attaches to the libshmring it runs with itself and to every other
 * libshmring.so* that a running process has mapped; -p PID attaches to the
 * library PID maps (or its executable, when it linked shmring statically)
 * and counts only PID's events; -l PATH attaches to PATH.
 */
#include "config.h"
#include "shmring.h"
#include "tool.h"

#include <string.h>

#if !CONFIG_BPF
int cmd_trace(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return tool_usage("trace", true);
	tool_error("trace: this shmring was built without CONFIG_BPF (or CONFIG_USDT); "
		   "rebuild with both, or use the bpftrace scripts in bpf/");
	return 1;
}
#else

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/types.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shmring_trace.h"
#include "bpf/shmring.skel.h"

#define MAX_TARGETS 16

/* Probe names (src/probes.h) in the order of struct shmring_trace_event. */
static const char *const probe_names[SHMRING_EV_COUNT] = {
	[SHMRING_EV_OPEN] = "open",	[SHMRING_EV_CLOSE] = "close",
	[SHMRING_EV_PUSH] = "push",	[SHMRING_EV_POP] = "pop",
	[SHMRING_EV_FULL] = "full",	[SHMRING_EV_EMPTY] = "empty",
	[SHMRING_EV_SLEEP] = "sleep",	[SHMRING_EV_WAKE] = "wake",
	[SHMRING_EV_NOTIFY] = "notify",
};

struct target {
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;
};

struct targets {
	struct target v[MAX_TARGETS];
	int n;
};

/* Adds PATH unless the same file is there already (by device and inode:
 * the kernel places uprobes on inodes, so two names of one file are one). */
static void target_add(struct targets *t, const char *path)
{
	struct stat st;

	if (t->n == MAX_TARGETS || stat(path, &st) || !S_ISREG(st.st_mode))
		return;
	for (int i = 0; i < t->n; i++)
		if (t->v[i].dev == st.st_dev && t->v[i].ino == st.st_ino)
			return;
	if (!realpath(path, t->v[t->n].path))
		snprintf(t->v[t->n].path, sizeof(t->v[t->n].path), "%s", path);
	t->v[t->n].dev = st.st_dev;
	t->v[t->n].ino = st.st_ino;
	t->n++;
}

/* Adds the libshmring shared objects that process PID has mapped. */
static void targets_from_maps(struct targets *t, pid_t pid)
{
	char path[64], line[PATH_MAX + 256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *file = strchr(line, '/'), *base;
		size_t len;

		if (!file)
			continue;
		len = strcspn(file, "\n");
		file[len] = 0;
		base = strrchr(file, '/') + 1;
		if (strncmp(base, "libshmring.so", 13) || strstr(file, " (deleted)"))
			continue;
		target_add(t, file);
	}
	fclose(f);
}

static void targets_from_all_processes(struct targets *t)
{
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (isdigit((unsigned char)de->d_name[0]))
			targets_from_maps(t, (pid_t)atoi(de->d_name));
	closedir(d);
}

/* The libshmring this tool itself runs with. */
static void target_self(struct targets *t)
{
	Dl_info info;

	if (dladdr((void *)shmring_stat, &info) && info.dli_fname &&
	    strstr(info.dli_fname, "libshmring.so"))
		target_add(t, info.dli_fname);
}

/* ---- reading the map ------------------------------------------------------ */

struct ring {
	struct shmring_trace_key key;
	struct shmring_trace_stats st;
};

struct rings {
	struct ring *v;
	size_t n, cap;
};

#define STAT_WORDS (sizeof(struct shmring_trace_stats) / sizeof(__u64))

/* Sums the per-CPU copies; capacity is a value, not a count. */
static void stats_sum(const struct shmring_trace_stats *percpu, int ncpu,
		      struct shmring_trace_stats *out)
{
	__u64 *o = (__u64 *)out;

	memset(out, 0, sizeof(*out));
	for (int c = 0; c < ncpu; c++) {
		const __u64 *w = (const __u64 *)&percpu[c];

		for (size_t i = 0; i < STAT_WORDS; i++)
			o[i] += w[i];
		if (percpu[c].capacity > 0)
			out->capacity = percpu[c].capacity;
	}
}

static int rings_read(int fd, int ncpu, struct rings *r)
{
	struct shmring_trace_key key, next, *prev = NULL;
	struct shmring_trace_stats *percpu = calloc((size_t)ncpu, sizeof(*percpu));

	if (!percpu)
		return -ENOMEM;
	r->n = 0;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, percpu))
			continue; /* deleted meanwhile: cannot happen, we never delete */
		if (r->n == r->cap) {
			size_t cap = r->cap ? 2 * r->cap : 16;
			struct ring *v = realloc(r->v, cap * sizeof(*v));

			if (!v)
				break;
			r->v = v;
			r->cap = cap;
		}
		r->v[r->n].key = key;
		stats_sum(percpu, ncpu, &r->v[r->n].st);
		r->n++;
	}
	free(percpu);
	return 0;
}

static const struct ring *rings_find(const struct rings *r,
				     const struct shmring_trace_key *key)
{
	for (size_t i = 0; i < r->n; i++)
		if (!memcmp(&r->v[i].key, key, sizeof(*key)))
			return &r->v[i];
	return NULL;
}

/* ---- printing ------------------------------------------------------------ */

static __u32 log2_slot(__u64 v)
{
	__u32 s = v ? 64 - (__u32)__builtin_clzll(v) : 0;

	return s < SHMRING_TRACE_SLOTS ? s : SHMRING_TRACE_SLOTS - 1;
}

/* 2^EXP as bpftrace prints it: 512, 1K, 64K, 2M ... */
static const char *pow2_str(char *buf, size_t len, unsigned int exp)
{
	static const char units[] = "KMGTPE";

	if (exp < 10)
		snprintf(buf, len, "%u", 1u << exp);
	else
		snprintf(buf, len, "%u%c", 1u << (exp % 10), units[exp / 10 - 1]);
	return buf;
}

static void print_hist(const char *title, const __u64 *slots, int mark_slot,
		       const char *mark)
{
	char range[48], lo_s[16], hi_s[16];
	int lo = -1, hi = -1;
	__u64 max = 0;

	for (int i = 0; i < SHMRING_TRACE_SLOTS; i++) {
		if (!slots[i])
			continue;
		if (lo < 0)
			lo = i;
		hi = i;
		if (slots[i] > max)
			max = slots[i];
	}
	if (lo < 0)
		return;
	printf("  %s\n", title);
	for (int i = lo; i <= hi; i++) {
		int bar = (int)(slots[i] * 40 / max);

		if (i < 2)
			snprintf(range, sizeof(range), "[%d]", i);
		else
			snprintf(range, sizeof(range), "[%s, %s)",
				 pow2_str(lo_s, sizeof(lo_s), (unsigned int)i - 1),
				 pow2_str(hi_s, sizeof(hi_s), (unsigned int)i));
		printf("    %-14s %10llu |%.*s%*s|%s\n", range,
		       (unsigned long long)slots[i], bar,
		       "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@", 40 - bar, "",
		       i == mark_slot ? mark : "");
	}
}

static const char *ring_label(char *buf, size_t len, const struct shmring_trace_key *k)
{
	if (k->name[0])
		snprintf(buf, len, "%.*s", SHMRING_TRACE_NAME_LEN, k->name);
	else
		snprintf(buf, len, "(unnamed, pid %u, handle 0x%llx)", k->tgid,
			 (unsigned long long)k->handle);
	return buf;
}

static bool stats_idle(const struct shmring_trace_stats *s)
{
	for (int i = 0; i < SHMRING_EV_COUNT; i++)
		if (s->events[i])
			return false;
	return true;
}

static void print_ring(const struct shmring_trace_key *k,
		       const struct shmring_trace_stats *s)
{
	static const char *const role[2] = { "producers", "consumers" };
	char label[SHMRING_TRACE_NAME_LEN + 64], title[128];
	const __u64 *e = s->events;

	printf("%s  push=%llu pushed=%llu pop=%llu popped=%llu full=%llu empty=%llu "
	       "sleep=%llu wake=%llu notify=%llu open=%llu close=%llu\n",
	       ring_label(label, sizeof(label), k),
	       (unsigned long long)e[SHMRING_EV_PUSH], (unsigned long long)s->moved[0],
	       (unsigned long long)e[SHMRING_EV_POP], (unsigned long long)s->moved[1],
	       (unsigned long long)e[SHMRING_EV_FULL],
	       (unsigned long long)e[SHMRING_EV_EMPTY],
	       (unsigned long long)e[SHMRING_EV_SLEEP],
	       (unsigned long long)e[SHMRING_EV_WAKE],
	       (unsigned long long)e[SHMRING_EV_NOTIFY],
	       (unsigned long long)e[SHMRING_EV_OPEN],
	       (unsigned long long)e[SHMRING_EV_CLOSE]);
	snprintf(title, sizeof(title), "occupancy after push/pop (capacity %llu)",
		 (unsigned long long)s->capacity);
	print_hist(title, s->occupancy, s->capacity ? (int)log2_slot(s->capacity) : -1,
		   " <- capacity");
	for (int i = 0; i < 2; i++) {
		__u64 n = 0;

		for (int j = 0; j < SHMRING_TRACE_SLOTS; j++)
			n += s->slept[i][j];
		if (!n)
			continue;
		snprintf(title, sizeof(title), "%s asleep, ns (%llu sleeps, avg %.1f us)",
			 role[i], (unsigned long long)n,
			 (double)s->slept_ns[i] / n / 1e3);
		print_hist(title, s->slept[i], -1, "");
	}
}

static bool wanted(const struct shmring_trace_key *k, const char *name)
{
	return !name || !strncmp(k->name, name, SHMRING_TRACE_NAME_LEN);
}

/* Whether the ring NAME exists now (as a file: stat's ENOENT). */
static bool ring_exists(const char *name)
{
	SHMRING_INFO(in);

	return !shmring_stat(name, &in) || errno != ENOENT;
}

/* Prints what happened since PREV (NULL: since the start). Returns whether
 * anything was seen for NAME (any ring when NULL) since PREV. */
static bool print_rings(const struct rings *cur, const struct rings *prev,
			const char *name)
{
	int shown = 0;

	for (size_t i = 0; i < cur->n; i++) {
		const struct ring *was = prev ? rings_find(prev, &cur->v[i].key) : NULL;
		struct shmring_trace_stats d = cur->v[i].st;

		if (!wanted(&cur->v[i].key, name))
			continue;
		if (was) {
			__u64 *dw = (__u64 *)&d;
			const __u64 *pw = (const __u64 *)&was->st;

			for (size_t j = 0; j < STAT_WORDS; j++)
				dw[j] -= pw[j];
			d.capacity = cur->v[i].st.capacity;
		}
		if (stats_idle(&d))
			continue;
		print_ring(&cur->v[i].key, &d);
		shown++;
	}
	/* A ring that is not there has no activity to show: say which. */
	if (!shown && name && !ring_exists(name))
		printf("  no ring %s (yet)\n", name);
	else if (!shown)
		printf("  no activity\n");
	return shown > 0;
}

/* ---- main loop --------------------------------------------------------------- */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
	return 0;
}

static int libbpf_loud(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return vfprintf(stderr, fmt, ap);
}

static long sysctl_value(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "re");

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void not_permitted(const char *what, int e)
{
	tool_error("trace: not permitted to %s (%s)", what, strerror(e));
	fprintf(stderr,
		"  Tracing needs root, or CAP_BPF and CAP_PERFMON (for example: setcap "
		"cap_bpf,cap_perfmon+ep shmring).\n"
		"  Here: euid %d, kernel.unprivileged_bpf_disabled=%ld, "
		"kernel.perf_event_paranoid=%ld.\n"
		"  `shmring ls`, `stat` and `watch` need no privileges.\n",
		(int)geteuid(),
		sysctl_value("/proc/sys/kernel/unprivileged_bpf_disabled"),
		sysctl_value("/proc/sys/kernel/perf_event_paranoid"));
}

static bool permission_error(int e)
{
	return e == EPERM || e == EACCES;
}

struct trace_opts {
	pid_t pid;
	const char *lib;
	long interval_s, duration_s;
	bool verbose;
	const char *name;
};

/* Returns 0, or the exit status when there is nothing to trace (--help,
 * bad usage). */
static int parse(int argc, char **argv, struct trace_opts *o)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "lib", required_argument, NULL, 'l' },
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	long v;
	int opt;

	*o = (struct trace_opts){ .interval_s = 1 };
	while ((opt = getopt_long(argc, argv, "p:l:i:d:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			tool_usage("trace", true);
			return -1;
		case 'p':
			if (!tool_parse_long(optarg, 1, INT_MAX, &v))
				return tool_usage("trace", false);
			o->pid = (pid_t)v;
			break;
		case 'l':
			o->lib = optarg;
			break;
		case 'i':
			if (!tool_parse_long(optarg, 1, 86400, &o->interval_s))
				return tool_usage("trace", false);
			break;
		case 'd':
			if (!tool_parse_long(optarg, 1, LONG_MAX / 1000, &o->duration_s))
				return tool_usage("trace", false);
			break;
		case 'v':
			o->verbose = true;
			break;
		default:
			return tool_usage("trace", false);
		}
	}
	if (optind < argc - 1)
		return tool_usage("trace", false);
	if (optind == argc - 1)
		o->name = argv[optind][0] == '/' ? argv[optind] + 1 : argv[optind];
	return 0;
}

static int find_targets(const struct trace_opts *o, struct targets *t)
{
	char exe[64];

	if (o->lib) {
		target_add(t, o->lib);
		if (!t->n) {
			tool_error("trace: %s: %s", o->lib,
				   strerror(errno ? errno : EINVAL));
			return -1;
		}
		return 0;
	}
	if (o->pid) {
		if (kill(o->pid, 0) && errno == ESRCH) {
			tool_error("trace: no process %d", (int)o->pid);
			return -1;
		}
		targets_from_maps(t, o->pid);
		/* No shared libshmring: it may have linked libshmring.a. */
		snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)o->pid);
		if (!t->n)
			target_add(t, exe);
		if (!t->n) {
			tool_error("trace: cannot read the binaries of process %d",
				   (int)o->pid);
			return -1;
		}
		return 0;
	}
	target_self(t);
	targets_from_all_processes(t);
	if (!t->n) {
		tool_error("trace: no libshmring found; name the binary with -l PATH");
		return -1;
	}
	return 0;
}

/* Attaches every program to its probe in every target. Returns the number of
 * targets that had probes, or a negative errno that stops everything. */
static int attach_all(struct shmring_bpf *skel, const struct trace_opts *o,
		      const struct targets *t, struct bpf_link **links, int *nlinks)
{
	struct bpf_program *progs[SHMRING_EV_COUNT] = {
		[SHMRING_EV_OPEN] = skel->progs.on_open,
		[SHMRING_EV_CLOSE] = skel->progs.on_close,
		[SHMRING_EV_PUSH] = skel->progs.on_push,
		[SHMRING_EV_POP] = skel->progs.on_pop,
		[SHMRING_EV_FULL] = skel->progs.on_full,
		[SHMRING_EV_EMPTY] = skel->progs.on_empty,
		[SHMRING_EV_SLEEP] = skel->progs.on_sleep,
		[SHMRING_EV_WAKE] = skel->progs.on_wake,
		[SHMRING_EV_NOTIFY] = skel->progs.on_notify,
	};
	int with_probes = 0;

	for (int i = 0; i < t->n; i++) {
		int found = 0;

		for (int p = 0; p < SHMRING_EV_COUNT; p++) {
			struct bpf_link *l = bpf_program__attach_usdt(
				progs[p], o->pid ? o->pid : -1, t->v[i].path, "shmring",
				probe_names[p], NULL);

			if (!l) {
				int e = errno;

				if (permission_error(e))
					return -e;
				/* A binary without this probe (or without
				 * any: built with CONFIG_USDT=n). */
				continue;
			}
			links[(*nlinks)++] = l;
			found++;
		}
		if (found) {
			with_probes++;
		} else {
			tool_error("trace: %s has no shmring probes, skipped",
				   t->v[i].path);
		}
	}
	return with_probes;
}

static void sleep_until(uint64_t deadline_ns)
{
	struct timespec ts = { (time_t)(deadline_ns / 1000000000ull),
			       (long)(deadline_ns % 1000000000ull) };

	/* EINTR from a signal ends it early: the loop then sees stop. */
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Traces until told to stop; returns whether NAME (any ring) was seen. */
static bool run(struct shmring_bpf *skel, const struct trace_opts *o)
{
	bool seen = false;
	struct rings cur = { 0 }, prev = { 0 }, tmp;
	int fd = bpf_map__fd(skel->maps.rings), ncpu = libbpf_num_possible_cpus();
	uint64_t start = mono_ns(), next = start;
	char when[16];

	while (!stop) {
		time_t now;

		next += (uint64_t)o->interval_s * 1000000000ull;
		if (o->duration_s &&
		    next > start + (uint64_t)o->duration_s * 1000000000ull)
			next = start + (uint64_t)o->duration_s * 1000000000ull;
		sleep_until(next);
		if (rings_read(fd, ncpu, &cur))
			break;
		now = time(NULL);
		strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
		printf("%s\n", when);
		print_rings(&cur, &prev, o->name);
		if (skel->bss->dropped)
			tool_error("trace: %llu events dropped: more than %d rings",
				   (unsigned long long)skel->bss->dropped,
				   SHMRING_TRACE_RINGS);
		fflush(stdout);
		tmp = prev;
		prev = cur;
		cur = tmp;
		if (o->duration_s &&
		    mono_ns() >= start + (uint64_t)o->duration_s * 1000000000ull)
			break;
	}
	if (!rings_read(fd, ncpu, &cur)) {
		printf("\nTotals over %.1f s:\n", (double)(mono_ns() - start) / 1e9);
		seen = print_rings(&cur, NULL, o->name);
	}
	fflush(stdout);
	free(cur.v);
	free(prev.v);
	return seen;
}

int cmd_trace(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct bpf_link *links[MAX_TARGETS * SHMRING_EV_COUNT];
	struct targets targets = { .n = 0 };
	struct shmring_bpf *skel;
	struct trace_opts o;
	int rc = 1, nlinks = 0, n;

	n = parse(argc, argv, &o);
	if (n)
		return n < 0 ? 0 : n;
	/* A name that is no ring would only ever show "no activity". A file
	 * that is not a ring never will be one; a ring that does not exist
	 * may be created while we trace: say so, and fail in the end if it
	 * never came. */
	if (o.name) {
		SHMRING_INFO(in);

		if (shmring_stat(o.name, &in) && errno == EPROTO) {
			tool_stat_error(o.name, errno);
			return 1;
		}
		if (!ring_exists(o.name))
			tool_error(
				"trace: %s: no such ring (yet); `shmring ls` lists the "
				"rings. Tracing it should a process create it.",
				o.name);
	}
	libbpf_set_print(o.verbose ? libbpf_loud : libbpf_quiet);
	if (find_targets(&o, &targets))
		return 1;
	skel = shmring_bpf__open();
	if (!skel) {
		tool_error("trace: cannot open the BPF program: %s", strerror(errno));
		return 1;
	}
	skel->rodata->target_tgid = (__u32)o.pid;
	if (shmring_bpf__load(skel)) {
		int e = errno;

		if (permission_error(e))
			not_permitted("load BPF programs", e);
		else
			tool_error("trace: cannot load the BPF program: %s (-v shows "
				   "libbpf's log)",
				   strerror(e));
		goto out;
	}
	n = attach_all(skel, &o, &targets, links, &nlinks);
	if (n < 0) {
		not_permitted("attach to USDT probes", -n);
		goto out;
	}
	if (n == 0) {
		tool_error("trace: no shmring probes to attach to%s",
			   o.pid ? " in that process" : "");
		goto out;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (int i = 0; i < targets.n; i++)
		printf("Probing %s\n", targets.v[i].path);
	if (o.pid)
		printf("Tracing shmring in process %d. Hit Ctrl-C to end.\n", (int)o.pid);
	else
		printf("Tracing shmring in every process using these files. Hit Ctrl-C "
		       "to end.\n");
	fflush(stdout);
	rc = 0;
	if (!run(skel, &o) && o.name && !ring_exists(o.name)) {
		tool_error("trace: %s: no such ring: nothing was traced", o.name);
		rc = 1;
	}
out:
	for (int i = 0; i < nlinks; i++)
		bpf_link__destroy(links[i]);
	shmring_bpf__destroy(skel);
	return rc;
}
#endif /* CONFIG_BPF */
