// SPDX-License-Identifier: MIT
/*
 * shmring: look at the rings on this machine.
 *
 *   shmring ls [PATTERN]                      rings in /dev/shm (and hugetlbfs)
 *   shmring stat NAME                         one ring in detail
 *   shmring watch [-i MS] [-n COUNT] NAME     live occupancy bar
 *   shmring trace [-p PID] [-l PATH] [-i S] [-d S] [-v] [NAME]
 *                                             eBPF histograms (tools/trace.c)
 *   shmring unlink [-f] NAME...               remove rings
 *   shmring bridge out|in ... / --stats       rings over NATS JetStream
 *                                             (tools/bridge.c, bridge_nats.c)
 *
 * Everything but trace reads ring headers through shmring_stat(), which
 * needs read permission on the segment and nothing else: no role is taken,
 * no probe is involved, and files that are not rings are validated away
 * exactly as the library does at open.
 */
#include "shmring.h"
#include "tool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SHM_DIR "/dev/shm"

void tool_error(const char *fmt, ...)
{
	va_list ap;

	fputs("shmring: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool tool_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static const char *policy_name(enum shmring_policy p)
{
	switch (p) {
	case SHMRING_SPSC:
		return "spsc";
	case SHMRING_MPSC:
		return "mpsc";
	case SHMRING_MPMC:
		return "mpmc";
	}
	return "?";
}

static unsigned int percent(size_t part, size_t whole)
{
	return whole ? (unsigned int)((part * 100 + whole / 2) / whole) : 0;
}

/* "1234,1240(dead),+3" into BUF, "-" when nobody holds the role. */
static const char *holders_str(char *buf, size_t len, const struct shmring_holder *h,
			       unsigned int n, uint64_t extra)
{
	size_t off = 0;

	buf[0] = 0;
	for (unsigned int i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%d%s", i ? "," : "",
					(int)h[i].pid, h[i].alive ? "" : "(dead)");
	if (extra && off < len)
		off += (size_t)snprintf(buf + off, len - off, "%s+%llu", off ? "," : "",
					(unsigned long long)extra);
	if (!off)
		snprintf(buf, len, "-");
	return buf;
}

/* Why shmring_stat failed on NAME, for a person. */
static void stat_error(const char *name, int e)
{
	if (e == ENOENT)
		tool_error("%s: no such ring", name);
	else if (e == EPROTO)
		tool_error("%s: not a shmring ring (or another format version)", name);
	else
		tool_error("%s: %s", name, strerror(e));
}

/* ---- ls ------------------------------------------------------------------ */

struct entry {
	char name[NAME_MAX + 1];
	struct shmring_info info;
};

struct listing {
	struct entry *v;
	size_t n, cap;
	unsigned int unreadable;
};

static bool listed(const struct listing *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].name, name))
			return true;
	return false;
}

/* Adds the rings in directory DIR matching PATTERN (NULL: all) to L. */
static void scan_dir(const char *dir, const char *pattern, struct listing *l)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;
		struct entry *e;

		if (de->d_name[0] == '.' || (pattern && fnmatch(pattern, de->d_name, 0)))
			continue;
		/* Only regular files are opened at all: a FIFO or device node
		 * someone left here is no ring, and opening it could block or
		 * have effects. */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(st.st_mode) || listed(l, de->d_name))
			continue;
		if (l->n == l->cap) {
			size_t cap = l->cap ? 2 * l->cap : 64;
			struct entry *v = realloc(l->v, cap * sizeof(*v));

			if (!v)
				break;
			l->v = v;
			l->cap = cap;
		}
		e = &l->v[l->n];
		snprintf(e->name, sizeof(e->name), "%s", de->d_name);
		e->info = (struct shmring_info){ .sz = sizeof(e->info) };
		if (!shmring_stat(e->name, &e->info))
			l->n++;
		else if (errno == EACCES)
			l->unreadable++;
	}
	closedir(d);
}

/* Mounted hugetlbfs file systems, where SHMRING_F_HUGE puts rings. */
static void scan_hugetlbfs(const char *pattern, struct listing *l)
{
	char dev[256], dir[PATH_MAX], type[64];
	FILE *f = fopen("/proc/mounts", "re");

	if (!f)
		return;
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3)
		if (!strcmp(type, "hugetlbfs"))
			scan_dir(dir, pattern, l);
	fclose(f);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static int cmd_ls(int argc, char **argv)
{
	struct listing l = { 0 };
	const char *pattern = NULL;
	int w = 4;

	if (argc > 2) {
		fprintf(stderr, "usage: shmring ls [PATTERN]\n");
		return EXIT_USAGE;
	}
	if (argc == 2)
		pattern = argv[1];
	scan_dir(SHM_DIR, pattern, &l);
	scan_hugetlbfs(pattern, &l);
	qsort(l.v, l.n, sizeof(*l.v), entry_cmp);
	for (size_t i = 0; i < l.n; i++)
		if ((int)strlen(l.v[i].name) > w)
			w = (int)strlen(l.v[i].name);
	printf("%-*s  %-6s %6s %9s %15s %9s  %-16s %s\n", w, "NAME", "POLICY", "ELEM",
	       "CAPACITY", "OCCUPANCY", "WAITING", "PRODUCERS", "CONSUMERS");
	for (size_t i = 0; i < l.n; i++) {
		const struct shmring_info *in = &l.v[i].info;
		char occ[48], waiting[32], prod[256], cons[256];

		snprintf(occ, sizeof(occ), "%zu (%u%%)", in->pending,
			 percent(in->pending, in->capacity));
		snprintf(waiting, sizeof(waiting), "P%u C%u", in->producers_waiting,
			 in->consumers_waiting);
		printf("%-*s  %-6s %6zu %9zu %15s %9s  %-16s %s\n", w, l.v[i].name,
		       policy_name(in->policy), in->elem_size, in->capacity, occ, waiting,
		       holders_str(prod, sizeof(prod), in->producers, in->nproducers,
				   in->producers_extra),
		       holders_str(cons, sizeof(cons), in->consumers, in->nconsumers,
				   in->consumers_extra));
	}
	if (l.unreadable)
		tool_error("%u segment(s) not readable by this user were skipped",
			   l.unreadable);
	free(l.v);
	return 0;
}

/* ---- stat ---------------------------------------------------------------- */

static void print_holders(const char *label, const struct shmring_holder *h,
			  unsigned int n, uint64_t extra)
{
	printf("%-11s", label);
	if (!n && !extra)
		printf(" none");
	for (unsigned int i = 0; i < n; i++)
		printf(" %d (%s)", (int)h[i].pid, h[i].alive ? "alive" : "dead");
	if (extra)
		printf(" and %llu more", (unsigned long long)extra);
	printf("\n");
}

static int cmd_stat(int argc, char **argv)
{
	SHMRING_INFO(in);

	if (argc != 2) {
		fprintf(stderr, "usage: shmring stat NAME\n");
		return EXIT_USAGE;
	}
	if (shmring_stat(argv[1], &in)) {
		stat_error(argv[1], errno);
		return 1;
	}
	printf("name:       %s\n", argv[1][0] == '/' ? argv[1] + 1 : argv[1]);
	printf("policy:     %s\n", policy_name(in.policy));
	printf("element:    %zu bytes\n", in.elem_size);
	printf("capacity:   %zu\n", in.capacity);
	printf("occupancy:  %zu (%u%%), %zu free\n", in.pending,
	       percent(in.pending, in.capacity), in.capacity - in.pending);
	printf("waiting:    %u producers, %u consumers\n", in.producers_waiting,
	       in.consumers_waiting);
	printf("pushed:     %llu\n", (unsigned long long)in.pushed);
	printf("popped:     %llu\n", (unsigned long long)in.popped);
	printf("sleeps:     %llu producers, %llu consumers\n",
	       (unsigned long long)in.producer_sleeps,
	       (unsigned long long)in.consumer_sleeps);
	printf("wakeups:    %llu of producers, %llu of consumers\n",
	       (unsigned long long)in.producer_wakes,
	       (unsigned long long)in.consumer_wakes);
	printf("opens:      %llu\n", (unsigned long long)in.opens);
	printf("segment:    %zu bytes\n", in.segment_size);
	print_holders("producers:", in.producers, in.nproducers, in.producers_extra);
	print_holders("consumers:", in.consumers, in.nconsumers, in.consumers_extra);
	return 0;
}

/* ---- watch --------------------------------------------------------------- */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Messages per second, "12.3M/s" style, into BUF. */
static const char *rate_str(char *buf, size_t len, double per_s)
{
	const char *unit = "";

	if (per_s >= 1e9) {
		per_s /= 1e9;
		unit = "G";
	} else if (per_s >= 1e6) {
		per_s /= 1e6;
		unit = "M";
	} else if (per_s >= 1e3) {
		per_s /= 1e3;
		unit = "K";
	}
	snprintf(buf, len, "%.*f%s/s", *unit ? 1 : 0, per_s, unit);
	return buf;
}

static int digits(size_t v)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static int watch_usage(void)
{
	fprintf(stderr, "usage: shmring watch [-i MS] [-n COUNT] NAME\n");
	return EXIT_USAGE;
}

/* One refresh: NAME [#####.....] occupancy, rates over the last DT seconds
 * (DT 0: none yet), waiters. Fixed-width fields keep the bar in place. */
static void watch_print(const char *name, const struct shmring_info *in, double dt,
			uint64_t pushed, uint64_t popped, int width, bool tty)
{
	char in_rate[32] = "-", out_rate[32] = "-";
	int bar = width - (int)strlen(name) - 58, fill;

	if (dt > 0) {
		rate_str(in_rate, sizeof(in_rate), (double)pushed / dt);
		rate_str(out_rate, sizeof(out_rate), (double)popped / dt);
	}
	bar = bar < 10 ? 10 : bar > 50 ? 50 : bar;
	fill = in->capacity ? (int)(((size_t)bar * in->pending + in->capacity / 2) /
				    in->capacity) :
			      0;
	printf("%s%s [", tty ? "\r\033[K" : "", name);
	for (int c = 0; c < bar; c++)
		putchar(c < fill ? '#' : '.');
	printf("] %*zu/%zu %3u%%  in %8s  out %8s  waiting P%u C%u%s",
	       digits(in->capacity), in->pending, in->capacity,
	       percent(in->pending, in->capacity), in_rate, out_rate,
	       in->producers_waiting, in->consumers_waiting, tty ? "" : "\n");
	fflush(stdout);
}

static int cmd_watch(int argc, char **argv)
{
	long interval_ms = 200, count = 0;
	bool tty = isatty(STDOUT_FILENO);
	struct sigaction sa = { .sa_handler = on_signal };
	struct shmring_info prev = { 0 };
	uint64_t t_prev = 0;
	const char *name;
	struct winsize ws;
	int opt, width = 100; /* logs are wide; a terminal says its width */

	while ((opt = getopt(argc, argv, "+i:n:")) != -1) {
		if (opt == 'i' && tool_parse_long(optarg, 10, 3600000, &interval_ms))
			continue;
		if (opt == 'n' && tool_parse_long(optarg, 1, LONG_MAX, &count))
			continue;
		return watch_usage();
	}
	if (optind != argc - 1)
		return watch_usage();
	name = argv[optind];
	if (tty && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col >= 40)
		width = ws.ws_col;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (long i = 0; !stop && (!count || i < count); i++) {
		struct timespec ts = { interval_ms / 1000,
				       (interval_ms % 1000) * 1000000 };
		uint64_t now = mono_ns();
		SHMRING_INFO(in);

		if (shmring_stat(name, &in)) {
			if (tty)
				printf("\n");
			stat_error(name, errno);
			return 1;
		}
		/* Rates from the positions the header counts anyway: no probe. */
		watch_print(name, &in, t_prev ? (double)(now - t_prev) / 1e9 : 0,
			    in.pushed - prev.pushed, in.popped - prev.popped, width, tty);
		t_prev = now;
		prev = in;
		if (!count || i + 1 < count)
			nanosleep(&ts, NULL); /* a signal cuts it short: we stop */
	}
	if (tty)
		printf("\n");
	return 0;
}

/* ---- unlink -------------------------------------------------------------- */

static int cmd_unlink(int argc, char **argv)
{
	bool force = false;
	int opt, rc = 0;

	while ((opt = getopt(argc, argv, "+f")) != -1) {
		if (opt != 'f') {
			fprintf(stderr, "usage: shmring unlink [-f] NAME...\n");
			return EXIT_USAGE;
		}
		force = true;
	}
	if (optind == argc) {
		fprintf(stderr, "usage: shmring unlink [-f] NAME...\n");
		return EXIT_USAGE;
	}
	for (int i = optind; i < argc; i++) {
		const char *name = argv[i];
		SHMRING_INFO(in);

		if (shmring_stat(name, &in)) {
			/* -f removes what is not (or no longer) a ring too, but
			 * a name that is not there is an error either way. */
			if (errno == ENOENT || !force) {
				stat_error(name, errno);
				if (errno == EPROTO)
					tool_error("%s: use -f to remove it anyway",
						   name);
				rc = 1;
				continue;
			}
		} else {
			for (unsigned int j = 0; j < in.nproducers + in.nconsumers; j++) {
				const struct shmring_holder *h =
					j < in.nproducers ?
						&in.producers[j] :
						&in.consumers[j - in.nproducers];

				if (h->alive)
					tool_error("%s: still open in process %d, which "
						   "keeps using it; new openers get a "
						   "new ring",
						   name, (int)h->pid);
			}
		}
		if (shmring_unlink(name)) {
			tool_error("%s: %s", name, strerror(errno));
			rc = 1;
		}
	}
	return rc;
}

/* ---- main ---------------------------------------------------------------- */

static int usage(FILE *f)
{
	fprintf(f,
		"usage: shmring COMMAND [ARGS]\n"
		"  ls [PATTERN]                 list the rings in /dev/shm (and on hugetlbfs)\n"
		"  stat NAME                    show one ring's header in detail\n"
		"  watch [-i MS] [-n COUNT] NAME\n"
		"                               live occupancy bar and rates\n"
		"  trace [-p PID] [-l PATH] [-i SEC] [-d SEC] [-v] [NAME]\n"
		"                               eBPF histograms of occupancy and sleep time\n"
		"  unlink [-f] NAME...          remove rings\n"
		"  bridge out RING URL SUBJECT [OPTIONS]\n"
		"  bridge in URL SUBJECT RING --durable NAME [OPTIONS]\n"
		"  bridge --stats [--openmetrics] [RING]\n"
		"                               rings over NATS JetStream (bridge --help)\n");
	return f == stdout ? 0 : EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "ls", cmd_ls },	  { "stat", cmd_stat },
		{ "watch", cmd_watch },	  { "trace", cmd_trace },
		{ "unlink", cmd_unlink }, { "bridge", cmd_bridge },
	};

	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help"))
		return usage(stdout);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	tool_error("unknown command '%s'", argv[1]);
	return usage(stderr);
}
