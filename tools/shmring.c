// SPDX-License-Identifier: MIT
/*
 * shmring: look at the rings on this machine.
 *
 *   shmring ls [--json|--openmetrics|--prometheus|--names] [PATTERN]
 *   shmring stat [--json|--openmetrics|--prometheus] NAME...
 *   shmring watch [-i MS] [-n COUNT] [-w COLS] NAME       (tools/watch.c)
 *   shmring trace [-p PID] [-l PATH] [-i S] [-d S] [-v] [NAME] (tools/trace.c)
 *   shmring unlink [-f] NAME...
 *   shmring bridge out|in ... / --stats       rings over NATS JetStream
 *                                             (tools/bridge.c, bridge_nats.c)
 *   shmring help [COMMAND], shmring COMMAND --help, shmring --version
 *
 * Everything but trace reads ring headers through shmring_stat(), which
 * needs read permission on the segment and nothing else: no role is taken,
 * no probe is involved, and files that are not rings are validated away
 * exactly as the library does at open. man/shmring.1 is the manual.
 */
#include "tool.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHM_DIR "/dev/shm"

/* ---- help ------------------------------------------------------------------ */

static const struct command_help {
	const char *name, *synopsis, *summary, *options;
} helps[] = {
	{ "ls", "ls [--json | --openmetrics | --prometheus | --names] [PATTERN]",
	  "list the rings in /dev/shm and on hugetlbfs mounts",
	  "  PATTERN             a shell pattern the names must match (quote it)\n"
	  "      --json          a JSON array, one object per ring (see shmring(1))\n"
	  "      --openmetrics   counters in the OpenMetrics text format\n"
	  "      --prometheus    counters in the Prometheus text format 0.0.4\n"
	  "      --names         only the names, one a line\n" },
	{ "stat", "stat [--json | --openmetrics | --prometheus] NAME...",
	  "show rings' headers in detail",
	  "      --json          a JSON array, one object per ring (see shmring(1))\n"
	  "      --openmetrics   counters in the OpenMetrics text format\n"
	  "      --prometheus    counters in the Prometheus text format 0.0.4\n" },
	{ "watch", "watch [-i MS] [-n COUNT] [-w COLS] NAME",
	  "a live occupancy bar with push and pop rates",
	  "  -i, --interval=MS   refresh every MS milliseconds (default 200)\n"
	  "  -n, --count=COUNT   stop after COUNT refreshes (default: Ctrl-C)\n"
	  "  -w, --width=COLS    fit COLS columns (default: the terminal's, or 100)\n" },
	{ "trace", "trace [-p PID] [-l PATH] [-i SEC] [-d SEC] [-v] [NAME]",
	  "eBPF histograms of occupancy and sleep time, per ring",
	  "  -p, --pid=PID       trace process PID only\n"
	  "  -l, --lib=PATH      attach to the probes in PATH (a libshmring or a\n"
	  "                      program that linked libshmring.a)\n"
	  "  -i, --interval=SEC  print every SEC seconds (default 1)\n"
	  "  -d, --duration=SEC  stop after SEC seconds (default: Ctrl-C)\n"
	  "  -v, --verbose       show libbpf's messages\n"
	  "  NAME                only this ring (a warning, and status 1 at the\n"
	  "                      end, if it does not exist and nobody makes it)\n" },
	{ "unlink", "unlink [-f] NAME...", "remove rings",
	  "  -f, --force         also remove files that are not rings; a missing\n"
	  "                      NAME is not an error\n" },
	{ "bridge",
	  "bridge out RING URL SUBJECT [OPTIONS] | in URL SUBJECT RING --durable NAME "
	  "[OPTIONS] | --stats [--openmetrics] [RING]",
	  "carry rings over NATS JetStream, and their counters",
	  "  see `shmring bridge --help` for the options\n" },
	{ "help", "help [COMMAND]", "show the help of shmring or of COMMAND", "" },
};

static const struct command_help *find_help(const char *name)
{
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
		if (!strcmp(helps[i].name, name))
			return &helps[i];
	return NULL;
}

int tool_usage(const char *command, bool ok)
{
	const struct command_help *h = find_help(command);
	FILE *f = ok ? stdout : stderr;

	fprintf(f, "usage: shmring %s\n", h->synopsis);
	if (ok)
		fprintf(f, "%s.\n\n%s  -h, --help          show this help\n", h->summary,
			h->options);
	return ok ? 0 : EXIT_USAGE;
}

static int usage(bool ok)
{
	FILE *f = ok ? stdout : stderr;

	fprintf(f, "usage: shmring [--help | --version] COMMAND [ARGS]\n");
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
		fprintf(f, "  %-8s %s\n", helps[i].name, helps[i].summary);
	if (ok)
		fprintf(f, "\n`shmring help COMMAND` or `shmring COMMAND --help` shows a "
			   "command's options; man shmring has them all.\n");
	return ok ? 0 : EXIT_USAGE;
}

static int cmd_help(int argc, char **argv)
{
	if (argc == 1)
		return usage(true);
	if (argc == 2 && find_help(argv[1]))
		return tool_usage(argv[1], true);
	if (argc == 2)
		tool_error("no command '%s'", argv[1]);
	return tool_usage("help", false);
}

/* ---- helpers --------------------------------------------------------------- */

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

const char *tool_policy_name(enum shmring_policy p)
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

unsigned int tool_percent(size_t part, size_t whole)
{
	return whole ? (unsigned int)((part * 100 + whole / 2) / whole) : 0;
}

void tool_stat_error(const char *name, int e)
{
	if (e == ENOENT)
		tool_error("%s: no such ring", name);
	else if (e == EPROTO)
		tool_error("%s: not a shmring ring (or another format version)", name);
	else
		tool_error("%s: %s", name, strerror(e));
}

/* The name as the library shows it: without the leading '/'. */
static const char *bare_name(const char *name)
{
	return name[0] == '/' ? name + 1 : name;
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

/* Parses the output options shared by ls and stat. Returns the option's
 * character, or -1 at the end of the options. */
static int format_opt(int argc, char **argv, enum tool_format *fmt, bool *names)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "openmetrics", no_argument, NULL, 'o' },
		{ "prometheus", no_argument, NULL, 'P' },
		{ "names", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt = getopt_long(argc, argv, "h", opts, NULL);

	if (opt == 'j' || opt == 'o' || opt == 'P') {
		enum tool_format f = opt == 'j' ? TOOL_JSON :
				     opt == 'o' ? TOOL_OPENMETRICS :
						  TOOL_PROMETHEUS;

		if ((*fmt != TOOL_TEXT && *fmt != f) || *names)
			return '?'; /* one output format at a time */
		*fmt = f;
	} else if (opt == 'N') {
		if (*fmt != TOOL_TEXT)
			return '?';
		*names = true;
	}
	return opt;
}

/* ---- ls -------------------------------------------------------------------- */

struct listing {
	struct tool_ring *v;
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
		struct tool_ring *e;

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
			struct tool_ring *v = realloc(l->v, cap * sizeof(*v));

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

/* Natural order: runs of digits compare as numbers, so soak_2 comes before
 * soak_10; equal numbers with more leading zeros come later. */
static int natural_cmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			const char *da = a, *db = b;
			size_t la, lb;
			int c;

			while (*da == '0')
				da++;
			while (*db == '0')
				db++;
			for (la = 0; isdigit((unsigned char)da[la]); la++)
				;
			for (lb = 0; isdigit((unsigned char)db[lb]); lb++)
				;
			if (la != lb)
				return la < lb ? -1 : 1;
			c = memcmp(da, db, la);
			if (c)
				return c;
			if (da - a != db - b) /* 7 before 07 */
				return da - a < db - b ? -1 : 1;
			a = da + la;
			b = db + lb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

static int ring_cmp(const void *a, const void *b)
{
	return natural_cmp(((const struct tool_ring *)a)->name,
			   ((const struct tool_ring *)b)->name);
}

static void print_table(const struct tool_ring *v, size_t n)
{
	int w = 4;

	for (size_t i = 0; i < n; i++)
		if ((int)strlen(v[i].name) > w)
			w = (int)strlen(v[i].name);
	printf("%-*s  %-6s %6s %9s %15s %9s  %-16s %s\n", w, "NAME", "POLICY", "ELEM",
	       "CAPACITY", "OCCUPANCY", "WAITING", "PRODUCERS", "CONSUMERS");
	for (size_t i = 0; i < n; i++) {
		const struct shmring_info *in = &v[i].info;
		char occ[48], waiting[32], prod[256], cons[256];

		snprintf(occ, sizeof(occ), "%zu (%u%%)", in->pending,
			 tool_percent(in->pending, in->capacity));
		snprintf(waiting, sizeof(waiting), "P%u C%u", in->producers_waiting,
			 in->consumers_waiting);
		printf("%-*s  %-6s %6zu %9zu %15s %9s  %-16s %s\n", w, v[i].name,
		       tool_policy_name(in->policy), in->elem_size, in->capacity, occ,
		       waiting,
		       holders_str(prod, sizeof(prod), in->producers, in->nproducers,
				   in->producers_extra),
		       holders_str(cons, sizeof(cons), in->consumers, in->nconsumers,
				   in->consumers_extra));
	}
}

static void print_rings(const struct tool_ring *v, size_t n, enum tool_format fmt)
{
	if (fmt == TOOL_JSON)
		tool_print_json(stdout, v, n);
	else if (fmt != TOOL_TEXT)
		tool_print_metrics(stdout, v, n, fmt);
	else
		print_table(v, n);
}

static int cmd_ls(int argc, char **argv)
{
	enum tool_format fmt = TOOL_TEXT;
	struct listing l = { 0 };
	const char *pattern = NULL;
	bool names = false;
	int opt;

	while ((opt = format_opt(argc, argv, &fmt, &names)) != -1) {
		if (opt == 'h')
			return tool_usage("ls", true);
		if (opt == '?')
			return tool_usage("ls", false);
	}
	if (argc - optind > 1)
		return tool_usage("ls", false);
	if (optind < argc)
		pattern = argv[optind];
	scan_dir(SHM_DIR, pattern, &l);
	scan_hugetlbfs(pattern, &l);
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), ring_cmp);
	if (names)
		for (size_t i = 0; i < l.n; i++)
			printf("%s\n", l.v[i].name);
	else
		print_rings(l.v, l.n, fmt);
	if (l.unreadable)
		tool_error("%u segment(s) not readable by this user were skipped",
			   l.unreadable);
	free(l.v);
	return 0;
}

/* ---- stat ------------------------------------------------------------------ */

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

static void print_stat(const char *name, const struct shmring_info *in)
{
	printf("name:       %s\n", name);
	printf("policy:     %s\n", tool_policy_name(in->policy));
	printf("element:    %zu bytes\n", in->elem_size);
	printf("capacity:   %zu\n", in->capacity);
	printf("occupancy:  %zu (%u%%), %zu free\n", in->pending,
	       tool_percent(in->pending, in->capacity), in->capacity - in->pending);
	printf("waiting:    %u producers, %u consumers\n", in->producers_waiting,
	       in->consumers_waiting);
	printf("pushed:     %llu\n", (unsigned long long)in->pushed);
	printf("popped:     %llu\n", (unsigned long long)in->popped);
	printf("sleeps:     %llu producers, %llu consumers\n",
	       (unsigned long long)in->producer_sleeps,
	       (unsigned long long)in->consumer_sleeps);
	printf("wakeups:    %llu of producers, %llu of consumers\n",
	       (unsigned long long)in->producer_wakes,
	       (unsigned long long)in->consumer_wakes);
	printf("opens:      %llu\n", (unsigned long long)in->opens);
	printf("abandoned:  %llu (slots repaired after their claimer died)\n",
	       (unsigned long long)in->abandoned);
	printf("instance:   %016llx\n", (unsigned long long)in->instance);
	printf("segment:    %zu bytes\n", in->segment_size);
	print_holders("producers:", in->producers, in->nproducers, in->producers_extra);
	print_holders("consumers:", in->consumers, in->nconsumers, in->consumers_extra);
}

static int cmd_stat(int argc, char **argv)
{
	enum tool_format fmt = TOOL_TEXT;
	struct tool_ring *v;
	bool names = false;
	size_t n = 0;
	int opt, rc = 0;

	while ((opt = format_opt(argc, argv, &fmt, &names)) != -1) {
		if (opt == 'h')
			return tool_usage("stat", true);
		if (opt == '?' || opt == 'N')
			return tool_usage("stat", false);
	}
	if (optind == argc)
		return tool_usage("stat", false);
	v = calloc((size_t)(argc - optind), sizeof(*v));
	if (!v) {
		tool_error("stat: %s", strerror(errno));
		return 1;
	}
	for (int i = optind; i < argc; i++) {
		struct tool_ring *r = &v[n];

		r->info = (struct shmring_info){ .sz = sizeof(r->info) };
		if (shmring_stat(argv[i], &r->info)) {
			tool_stat_error(argv[i], errno);
			rc = 1;
			continue;
		}
		snprintf(r->name, sizeof(r->name), "%s", bare_name(argv[i]));
		if (fmt == TOOL_TEXT) /* one block each, a blank line between */
			printf("%s", n ? "\n" : "");
		if (fmt == TOOL_TEXT)
			print_stat(r->name, &r->info);
		n++;
	}
	if (fmt != TOOL_TEXT)
		print_rings(v, n, fmt);
	free(v);
	return rc;
}

/* ---- unlink ---------------------------------------------------------------- */

static int cmd_unlink(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool force = false;
	int opt, rc = 0;

	while ((opt = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		if (opt == 'h')
			return tool_usage("unlink", true);
		if (opt != 'f')
			return tool_usage("unlink", false);
		force = true;
	}
	if (optind == argc)
		return tool_usage("unlink", false);
	for (int i = optind; i < argc; i++) {
		const char *name = argv[i];
		SHMRING_INFO(in);

		if (shmring_stat(name, &in)) {
			/* Like rm -f: with -f a missing name is no error, and
			 * what is not (or no longer) a ring goes too. */
			int e = errno;

			if (force && e == ENOENT)
				continue;
			if (!force) {
				tool_stat_error(name, e);
				if (e == EPROTO)
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

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "ls", cmd_ls },	  { "stat", cmd_stat },
		{ "watch", cmd_watch },	  { "trace", cmd_trace },
		{ "unlink", cmd_unlink }, { "help", cmd_help },
		{ "bridge", cmd_bridge },
	};

	if (argc < 2)
		return usage(false);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return usage(true);
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		/* The tool's own version, and the library's it runs with. */
		printf("shmring %d.%d.%d (libshmring %s)\n", SHMRING_VERSION_MAJOR,
		       SHMRING_VERSION_MINOR, SHMRING_VERSION_PATCH, shmring_version());
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	tool_error("unknown command '%s'", argv[1]);
	return usage(false);
}
