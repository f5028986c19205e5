// SPDX-License-Identifier: MIT
/*
 * `shmring bridge`: command line, rings, the counter file, --stats and the
 * OpenMetrics printer. The NATS side is tools/bridge_nats.c (CONFIG_NATS).
 *
 *   shmring bridge out RING URL SUBJECT [options]
 *   shmring bridge in URL SUBJECT RING --durable NAME [options]
 *   shmring bridge --stats [--openmetrics] [RING]
 */
#include "bridge.h"
#include "tool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SHM_DIR "/dev/shm"

volatile sig_atomic_t bridge_stop;

uint64_t bridge_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void bridge_log(const struct bridge_opts *o, const char *fmt, ...)
{
	char buf[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* One write per line: lines of concurrent bridges do not interleave. */
	fprintf(stderr, "%02d:%02d:%02d.%03ld shmring bridge %s %s: %s\n", tm.tm_hour,
		tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		o->dir == BRIDGE_OUT ? "out" : "in", o->ring, buf);
}

static const char *policy_str(enum shmring_policy p)
{
	return p == SHMRING_SPSC ? "spsc" :
	       p == SHMRING_MPSC ? "mpsc" :
	       p == SHMRING_MPMC ? "mpmc" :
				   "?";
}

/* ---- rings --------------------------------------------------------------- */

struct shmring *bridge_open_ring(const struct bridge_opts *o, enum shmring_role role,
				 struct shmring_info *info)
{
	enum shmring_policy policy = o->policy ? o->policy : SHMRING_SPSC;
	size_t elem = o->elem_size ? o->elem_size : SHMRING_DEFAULT_ELEM_SIZE;
	size_t cap = o->capacity ? o->capacity : SHMRING_DEFAULT_CAPACITY;
	struct shmring *r;
	bool existed;

	*info = (struct shmring_info){ .sz = sizeof(*info) };
	existed = shmring_stat(o->ring, info) == 0;
	if (existed) {
		/* The header is the truth; options that contradict it are an
		 * error rather than a silently different ring. */
		if ((o->policy && o->policy != info->policy) ||
		    (o->elem_size && o->elem_size != info->elem_size) ||
		    (o->capacity && o->capacity != info->capacity)) {
			tool_error(
				"bridge: ring %s exists as %s, %zu-byte elements, capacity "
				"%zu; the options ask for another geometry",
				o->ring, policy_str(info->policy), info->elem_size,
				info->capacity);
			return NULL;
		}
		policy = info->policy;
		elem = info->elem_size;
		cap = info->capacity;
	} else if (errno != ENOENT) {
		tool_error("bridge: ring %s: %s", o->ring,
			   errno == EPROTO ?
				   "not a shmring ring (or another format version)" :
				   strerror(errno));
		return NULL;
	}
	r = role == SHMRING_PRODUCER ?
		    shmring_producer(policy, o->ring, elem, cap, NULL) :
		    shmring_consumer(policy, o->ring, elem, cap, NULL);
	if (!r) {
		int e = errno;

		if (e == EBUSY)
			tool_error(
				"bridge: ring %s: the %s role is held by a live process",
				o->ring,
				role == SHMRING_PRODUCER ? "producer" : "consumer");
		else if (e == EINVAL && !existed)
			tool_error(
				"bridge: ring %s: created meanwhile with another geometry, "
				"or invalid options",
				o->ring);
		else
			tool_error("bridge: ring %s: %s", o->ring, strerror(e));
		return NULL;
	}
	*info = (struct shmring_info){ .sz = sizeof(*info) };
	if (shmring_stat(o->ring, info)) {
		tool_error("bridge: ring %s: %s", o->ring, strerror(errno));
		shmring_close(r);
		return NULL;
	}
	return r;
}

/* ---- the counter file ---------------------------------------------------- */

static const char *dir_str(enum bridge_dir d)
{
	return d == BRIDGE_OUT ? "out" : "in";
}

static int stats_path(char *buf, size_t len, const char *ring, enum bridge_dir dir)
{
	int n = snprintf(buf, len, SHM_DIR "/" BRIDGE_STATS_PREFIX "%s.%s",
			 ring[0] == '/' ? ring + 1 : ring, dir_str(dir));

	if (n < 0 || (size_t)n >= len || strlen(strrchr(buf, '/') + 1) > NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

struct bridge_stats *bridge_stats_open(const char *ring, enum bridge_dir dir,
				       const char *subject)
{
	char path[PATH_MAX];
	struct bridge_stats *st;
	struct stat sb;
	int fd;

	if (stats_path(path, sizeof(path), ring, dir))
		return NULL;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return NULL;
	/* Two bridges starting at once: one initialises, under the lock. */
	if (flock(fd, LOCK_EX) || fstat(fd, &sb))
		goto fail;
	/* The record and the journal decide what is not pushed again: a file
	 * another user made (and can write) is not ours to trust. */
	if (sb.st_uid != geteuid() || !S_ISREG(sb.st_mode)) {
		errno = EPERM;
		goto fail;
	}
	if (dir == BRIDGE_IN) {
		/* One bridge in per ring: two would share (and reset) the
		 * record of what was pushed, and drop each other's messages.
		 * An OFD lock on byte 0, held while this process lives (the
		 * kernel drops it with the process); the flock serialises the
		 * initialisation. Taken before anything is written. */
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1 };

		if (fcntl(fd, F_OFD_SETLK, &fl)) {
			errno = errno == EAGAIN || errno == EACCES ? EBUSY : errno;
			goto fail;
		}
	}
	if ((size_t)sb.st_size != sizeof(*st) && ftruncate(fd, sizeof(*st)))
		goto fail;
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (st == MAP_FAILED)
		goto fail;
	if ((size_t)sb.st_size != sizeof(*st) || st->magic != BRIDGE_STATS_MAGIC ||
	    st->version != BRIDGE_STATS_VERSION || st->dir != (uint32_t)dir) {
		memset(st, 0, sizeof(*st));
		st->version = BRIDGE_STATS_VERSION;
		st->dir = dir;
		snprintf(st->ring, sizeof(st->ring), "%s",
			 ring[0] == '/' ? ring + 1 : ring);
		atomic_thread_fence(memory_order_release);
		st->magic = BRIDGE_STATS_MAGIC;
	}
	snprintf(st->subject, sizeof(st->subject), "%s", subject);
	atomic_store(&st->pid, (int32_t)getpid());
	atomic_fetch_add(&st->starts, 1);
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		atomic_store(&st->started_ns,
			     (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
	}
	atomic_store(&st->connected, 0);
	flock(fd, LOCK_UN);
	if (dir == BRIDGE_IN)
		return st; /* fd stays open: it holds the OFD lock */
	close(fd);
	return st;
fail : {
	int e = errno;

	close(fd);
	errno = e;
}
	return NULL;
}

void bridge_stats_close(struct bridge_stats *st)
{
	if (st) {
		atomic_store(&st->connected, 0);
		munmap(st, sizeof(*st));
	}
}

/* A read-only snapshot of one counter file. */
struct stats_view {
	char ring[256], subject[256];
	enum bridge_dir dir;
	int pid;
	bool alive, connected;
	uint64_t starts, started_ns;
#define X(name, help) uint64_t name;
	BRIDGE_COUNTERS(X)
#undef X
};

static bool pid_alive(int pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* Reads the counter file NAME (in /dev/shm) into V; false if it is not one. */
static bool stats_read(const char *name, struct stats_view *v)
{
	char path[PATH_MAX];
	struct bridge_stats *st;
	struct stat sb;
	int fd;

	snprintf(path, sizeof(path), SHM_DIR "/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return false;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || (size_t)sb.st_size != sizeof(*st)) {
		close(fd);
		return false;
	}
	st = mmap(NULL, sizeof(*st), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (st == MAP_FAILED)
		return false;
	if (st->magic != BRIDGE_STATS_MAGIC || st->version != BRIDGE_STATS_VERSION ||
	    (st->dir != BRIDGE_OUT && st->dir != BRIDGE_IN)) {
		munmap(st, sizeof(*st));
		return false;
	}
	memset(v, 0, sizeof(*v));
	memcpy(v->ring, st->ring, sizeof(v->ring) - 1);
	memcpy(v->subject, st->subject, sizeof(v->subject) - 1);
	v->dir = st->dir;
	v->pid = atomic_load(&st->pid);
	v->connected = atomic_load(&st->connected);
	v->starts = atomic_load(&st->starts);
	v->started_ns = atomic_load(&st->started_ns);
#define X(name, help) v->name = atomic_load(&st->c.name);
	BRIDGE_COUNTERS(X)
#undef X
	munmap(st, sizeof(*st));
	v->alive = pid_alive(v->pid);
	v->connected = v->connected && v->alive;
	return true;
}

struct stats_list {
	struct stats_view *v;
	size_t n;
};

static int view_cmp(const void *a, const void *b)
{
	const struct stats_view *x = a, *y = b;
	int c = strcmp(x->ring, y->ring);

	return c ? c : (int)x->dir - (int)y->dir;
}

/* Every counter file in /dev/shm (RING: only that ring's), sorted. */
static struct stats_list stats_scan(const char *ring)
{
	struct stats_list l = { 0 };
	size_t cap = 0;
	struct dirent *de;
	DIR *d = opendir(SHM_DIR);

	if (ring && ring[0] == '/')
		ring++;
	while (d && (de = readdir(d))) {
		struct stats_view v;

		if (strncmp(de->d_name, BRIDGE_STATS_PREFIX,
			    strlen(BRIDGE_STATS_PREFIX)) ||
		    !stats_read(de->d_name, &v) || (ring && strcmp(v.ring, ring)))
			continue;
		if (l.n == cap) {
			struct stats_view *nv;

			cap = cap ? 2 * cap : 16;
			nv = realloc(l.v, cap * sizeof(*nv));
			if (!nv)
				break;
			l.v = nv;
		}
		l.v[l.n++] = v;
	}
	if (d)
		closedir(d);
	if (l.n) /* qsort's array must not be NULL, even for no elements */
		qsort(l.v, l.n, sizeof(*l.v), view_cmp);
	return l;
}

/* A label value with \, " and newline escaped, as OpenMetrics wants. */
static void om_label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

/* True when RING is one of NAMES[0..N) (with or without its leading '/'). */
static bool ring_listed(const char *ring, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ring, names[i][0] == '/' ? names[i] + 1 : names[i]))
			return true;
	return false;
}

int bridge_print_openmetrics(FILE *out, const char *const *rings, size_t n)
{
	struct stats_list l = stats_scan(NULL);
	size_t kept = 0;

	/* Only the bridges of the rings asked for, when there is a list. */
	for (size_t i = 0; i < l.n; i++)
		if (!rings || ring_listed(l.v[i].ring, rings, n))
			l.v[kept++] = l.v[i];
	l.n = kept;
	if (!l.n) {
		free(l.v);
		return 0;
	}
#define X(name, help)                                                            \
	fprintf(out, "# TYPE shmring_bridge_" #name " counter\n");               \
	fprintf(out, "# HELP shmring_bridge_" #name " " help ".\n");             \
	for (size_t i = 0; i < l.n; i++) {                                       \
		fputs("shmring_bridge_" #name "_total{ring=\"", out);            \
		om_label(out, l.v[i].ring);                                      \
		fprintf(out, "\",direction=\"%s\"} %llu\n", dir_str(l.v[i].dir), \
			(unsigned long long)l.v[i].name);                        \
	}
	BRIDGE_COUNTERS(X)
#undef X
	fputs("# TYPE shmring_bridge_up gauge\n# HELP shmring_bridge_up 1 while the bridge "
	      "process runs and is connected to NATS.\n",
	      out);
	for (size_t i = 0; i < l.n; i++) {
		fputs("shmring_bridge_up{ring=\"", out);
		om_label(out, l.v[i].ring);
		fprintf(out, "\",direction=\"%s\"} %d\n", dir_str(l.v[i].dir),
			l.v[i].connected);
	}
	free(l.v);
	return (int)l.n;
}

static int print_stats(const char *ring)
{
	struct stats_list l = stats_scan(ring);

	if (!l.n) {
		if (ring)
			tool_error("bridge: no bridge counters for ring %s", ring);
		free(l.v);
		return ring ? 1 : 0;
	}
	printf("%-20s %-3s %-8s %12s %12s %11s %8s %10s %10s %6s  %s\n", "RING", "DIR",
	       "STATE", "FORWARDED", "ACKED", "REDELIVERED", "REJECTED", "RECONNECTS",
	       "DUPLICATES", "STARTS", "SUBJECT");
	for (size_t i = 0; i < l.n; i++) {
		const struct stats_view *v = &l.v[i];
		char state[32];

		snprintf(state, sizeof(state), "%s",
			 !v->alive    ? "stopped" :
			 v->connected ? "up" :
					"connecting");
		printf("%-20s %-3s %-8s %12llu %12llu %11llu %8llu %10llu %10llu %6llu  %s\n",
		       v->ring, dir_str(v->dir), state, (unsigned long long)v->forwarded,
		       (unsigned long long)v->acked, (unsigned long long)v->redelivered,
		       (unsigned long long)v->rejected, (unsigned long long)v->reconnects,
		       (unsigned long long)v->duplicates, (unsigned long long)v->starts,
		       v->subject);
	}
	free(l.v);
	return 0;
}

/* ---- command line -------------------------------------------------------- */

static int bridge_usage(FILE *f)
{
	fprintf(f,
		"usage: shmring bridge out RING URL SUBJECT [options]\n"
		"       shmring bridge in URL SUBJECT RING --durable NAME [options]\n"
		"       shmring bridge --stats [--openmetrics] [RING]\n"
		"ring (used when RING does not exist yet; an existing ring keeps its geometry):\n"
		"  --policy spsc|mpsc|mpmc  --elem-size BYTES  --capacity N\n"
		"NATS:\n"
		"  --creds FILE  --token TOKEN  --tls-ca FILE  --tls-cert FILE --tls-key FILE\n"
		"  --name NAME (connection name)\n"
		"  --low-latency (write each message at once instead of coalescing writes)\n"
		"  --create-stream NAME [--replicas N] [--dup-window MS] [--memory]\n"
		"out:  --max-inflight N (256)  --ack-wait MS (PubAck timeout, 5000)\n"
		"      --unordered (no Nats-Expected-Last-Msg-Id: faster, but a reconnection\n"
		"      can reorder the stream)\n"
		"in:   --durable NAME  --stream NAME  --batch N (256)  --ack-wait MS (30000)\n"
		"      --seq-offset OFF (stream sequence, 8 bytes, at byte OFF of each element)\n"
		"      --dedup (SPSC ring: never push a redelivered message twice)\n"
		"  -v  log more\n"
		"URL may list several servers separated by commas.\n");
	return f == stdout ? 0 : EXIT_USAGE;
}

static bool parse_size(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

enum {
	OPT_POLICY = 256,
	OPT_ELEM,
	OPT_CAP,
	OPT_CREDS,
	OPT_TOKEN,
	OPT_TLS_CA,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_NAME,
	OPT_CREATE,
	OPT_REPLICAS,
	OPT_DUPWIN,
	OPT_MEMORY,
	OPT_STREAM,
	OPT_DURABLE,
	OPT_INFLIGHT,
	OPT_ACKWAIT,
	OPT_BATCH,
	OPT_SEQOFF,
	OPT_DEDUP,
	OPT_UNORDERED,
	OPT_LOWLAT,
	OPT_STATS,
	OPT_OM,
};

static void on_stop(int sig)
{
	(void)sig;
	bridge_stop = 1;
}

int cmd_bridge(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "elem-size", required_argument, NULL, OPT_ELEM },
		{ "capacity", required_argument, NULL, OPT_CAP },
		{ "creds", required_argument, NULL, OPT_CREDS },
		{ "token", required_argument, NULL, OPT_TOKEN },
		{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
		{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
		{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "create-stream", required_argument, NULL, OPT_CREATE },
		{ "replicas", required_argument, NULL, OPT_REPLICAS },
		{ "dup-window", required_argument, NULL, OPT_DUPWIN },
		{ "memory", no_argument, NULL, OPT_MEMORY },
		{ "stream", required_argument, NULL, OPT_STREAM },
		{ "durable", required_argument, NULL, OPT_DURABLE },
		{ "max-inflight", required_argument, NULL, OPT_INFLIGHT },
		{ "ack-wait", required_argument, NULL, OPT_ACKWAIT },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "seq-offset", required_argument, NULL, OPT_SEQOFF },
		{ "dedup", no_argument, NULL, OPT_DEDUP },
		{ "unordered", no_argument, NULL, OPT_UNORDERED },
		{ "low-latency", no_argument, NULL, OPT_LOWLAT },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "openmetrics", no_argument, NULL, OPT_OM },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct bridge_opts o = {
		.replicas = 1, .max_inflight = 256, .batch = 256, .seq_offset = -1
	};
	bool stats = false, om = false;
	struct bridge_stats *st;
	struct sigaction sa = { .sa_handler = on_stop };
	long long v;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "vh", lopts, NULL)) != -1) {
		switch (opt) {
		case OPT_POLICY:
			if (!strcmp(optarg, "spsc"))
				o.policy = SHMRING_SPSC;
			else if (!strcmp(optarg, "mpsc"))
				o.policy = SHMRING_MPSC;
			else if (!strcmp(optarg, "mpmc"))
				o.policy = SHMRING_MPMC;
			else
				goto bad;
			break;
		case OPT_ELEM:
			if (!parse_size(optarg, 1, 64 << 20, &v))
				goto bad;
			o.elem_size = (size_t)v;
			break;
		case OPT_CAP:
			if (!parse_size(optarg, 1, 1 << 30, &v))
				goto bad;
			o.capacity = (size_t)v;
			break;
		case OPT_CREDS:
			o.creds = optarg;
			break;
		case OPT_TOKEN:
			o.token = optarg;
			break;
		case OPT_TLS_CA:
			o.tls_ca = optarg;
			break;
		case OPT_TLS_CERT:
			o.tls_cert = optarg;
			break;
		case OPT_TLS_KEY:
			o.tls_key = optarg;
			break;
		case OPT_NAME:
			o.name = optarg;
			break;
		case OPT_CREATE:
			o.create_stream = optarg;
			break;
		case OPT_REPLICAS:
			if (!parse_size(optarg, 1, 5, &v))
				goto bad;
			o.replicas = (int)v;
			break;
		case OPT_DUPWIN:
			if (!parse_size(optarg, 1, 7LL * 24 * 3600 * 1000, &v))
				goto bad;
			o.dup_window_ms = v;
			break;
		case OPT_MEMORY:
			o.memory_storage = true;
			break;
		case OPT_STREAM:
			o.stream = optarg;
			break;
		case OPT_DURABLE:
			o.durable = optarg;
			break;
		case OPT_INFLIGHT:
			if (!parse_size(optarg, 1, 65536, &v))
				goto bad;
			o.max_inflight = (long)v;
			break;
		case OPT_ACKWAIT:
			if (!parse_size(optarg, 10, 3600 * 1000, &v))
				goto bad;
			o.ack_wait_ms = (long)v;
			break;
		case OPT_BATCH:
			if (!parse_size(optarg, 1, 65536, &v))
				goto bad;
			o.batch = (long)v;
			break;
		case OPT_SEQOFF:
			if (!parse_size(optarg, 0, 64 << 20, &v))
				goto bad;
			o.seq_offset = (long)v;
			break;
		case OPT_DEDUP:
			o.dedup = true;
			break;
		case OPT_UNORDERED:
			o.unordered = true;
			break;
		case OPT_LOWLAT:
			o.low_latency = true;
			break;
		case OPT_STATS:
			stats = true;
			break;
		case OPT_OM:
			om = true;
			break;
		case 'v':
			o.verbose++;
			break;
		case 'h':
			return bridge_usage(stdout);
		default:
			goto bad;
		}
	}
	if (stats) {
		const char *ring = optind < argc ? argv[optind] : NULL;

		if (argc - optind > 1)
			return bridge_usage(stderr);
		if (!om)
			return print_stats(ring);
		bridge_print_openmetrics(stdout, ring ? &ring : NULL, 1);
		fputs("# EOF\n", stdout);
		return 0;
	}
	if (argc - optind != 4)
		return bridge_usage(stderr);
	if (!strcmp(argv[optind], "out")) {
		o.dir = BRIDGE_OUT;
		o.ring = argv[optind + 1];
		o.url = argv[optind + 2];
		o.subject = argv[optind + 3];
	} else if (!strcmp(argv[optind], "in")) {
		o.dir = BRIDGE_IN;
		o.url = argv[optind + 1];
		o.subject = argv[optind + 2];
		o.ring = argv[optind + 3];
		if (!o.durable) {
			tool_error("bridge in: --durable NAME is required (the JetStream "
				   "consumer that remembers what was delivered)");
			return EXIT_USAGE;
		}
	} else {
		return bridge_usage(stderr);
	}
	if (o.dir == BRIDGE_IN && o.unordered) {
		tool_error("bridge in: --unordered is an option of bridge out");
		return EXIT_USAGE;
	}
	if (o.dir == BRIDGE_OUT && (o.durable || o.seq_offset >= 0 || o.dedup)) {
		tool_error(
			"bridge out: --durable, --seq-offset and --dedup are options of "
			"bridge in");
		return EXIT_USAGE;
	}
	if (!o.ack_wait_ms)
		o.ack_wait_ms = o.dir == BRIDGE_OUT ? 5000 : 30000;
#if !CONFIG_NATS
	tool_error("bridge: not compiled in (this shmring was built with CONFIG_NATS=n; "
		   "rebuild with libnats-dev installed and CONFIG_NATS=y)");
	return 1;
#endif
	st = bridge_stats_open(o.ring, o.dir, o.subject);
	if (!st) {
		char path[PATH_MAX];

		tool_error("bridge: counter file %s: %s%s",
			   stats_path(path, sizeof(path), o.ring, o.dir) ? o.ring : path,
			   strerror(errno),
			   errno == EPERM ?
				   " (another user's file: remove it, or run as "
				   "its owner)" :
			   errno == EBUSY ?
				   " (another bridge in feeds this ring: one per "
				   "ring; give it a subject with wildcards to carry "
				   "several)" :
				   "");
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	{
		/* A supervisor can start the bridge with SIGTERM blocked, so
		 * that one sent before this point waits for the handler and
		 * drains instead of killing a bridge still starting. */
		sigset_t stop;

		sigemptyset(&stop);
		sigaddset(&stop, SIGINT);
		sigaddset(&stop, SIGTERM);
		sigprocmask(SIG_UNBLOCK, &stop, NULL);
	}
	rc = o.dir == BRIDGE_OUT ? bridge_run_out(&o, st) : bridge_run_in(&o, st);
	bridge_stats_close(st);
	return rc;
bad:
	if (opt != '?')
		tool_error("bridge: bad value for an option: '%s'", optarg ? optarg : "");
	return bridge_usage(stderr);
}

#if !CONFIG_NATS
int bridge_run_out(const struct bridge_opts *o, struct bridge_stats *st)
{
	(void)o;
	(void)st;
	return 1;
}

int bridge_run_in(const struct bridge_opts *o, struct bridge_stats *st)
{
	(void)o;
	(void)st;
	return 1;
}
#endif
