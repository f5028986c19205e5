// SPDX-License-Identifier: MIT
/*
 * make bench-bridge: ring -> NATS -> ring beside NATS alone, in one run.
 *
 *   bridge   a producer pushes into ring A, `shmring bridge out` publishes to
 *            JetStream, `shmring bridge in` pulls into ring B, a consumer pops
 *   nats     a plain JetStream publisher (async, 256 PubAcks in flight, no
 *            message id) and a plain pull consumer (fetch 256, ack each)
 *   out      the producer and bridge out, into that plain pull consumer: the
 *            share of each hop
 *
 * Both on the same nats-server (started here, file storage, one replica),
 * the same message size, a stream each. Throughput: N messages pushed as
 * fast as they go, timed from the first push to the last pop. Latency: a
 * paced run (RATE messages/s, far below both throughputs) of end-to-end
 * times, push to pop, from a CLOCK_MONOTONIC stamp in each message. The two
 * alternate for REPS rounds; the table gives medians and the ratios of the
 * bridge to NATS alone. Every message is checked (tests/msg.h): a lost,
 * duplicated or reordered one fails the run.
 *
 *   bridge [-n N] [-r RATE] [-l LAT_MSGS] [-s SIZE] [-k REPS] [--short]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <shmring.h>

#include "msg.h"
#include "natsutil.h"

#include <errno.h>
#include <getopt.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static long n_tp = 200000, rate = 2000, n_lat = 4000, reps = 3;
static size_t size = 64;
static char tool[PATH_MAX + 16], base[512], url[128];
static int round_no;

/* Message: bytes 0..7 send time (ns), 8.. a tests/msg.h message of
 * (producer 1, seq). */
#define STAMP 8

static void die(const char *what)
{
	fprintf(stderr, "bench-bridge: %s\n", what);
	exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n ? (double)v[(size_t)(p * (double)(n - 1) + 0.5)] / 1000.0 : 0;
}

static double median(double *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void fill(unsigned char *m, uint64_t seq, uint64_t now)
{
	memcpy(m, &now, 8);
	msg_fill(m + STAMP, size - STAMP, 1, seq);
}

/* Checks M as message SEQ; returns its latency in ns. */
static uint64_t check(const unsigned char *m, uint64_t seq)
{
	uint32_t prod;
	uint64_t s, t;

	if (msg_check(m + STAMP, size - STAMP, &prod, &s) || prod != 1 || s != seq) {
		fprintf(stderr,
			"bench-bridge: message %llu arrived as %u/%llu (or corrupt)\n",
			(unsigned long long)seq, prod, (unsigned long long)s);
		exit(1);
	}
	memcpy(&t, m, 8);
	return nu_now_ns() - t;
}

/* Sleeps until T (CLOCK_MONOTONIC ns). */
static void until(uint64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000ull), (long)(t % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

struct result {
	double rate, p50, p99;
};

/* ---- ring -> NATS -> ring ------------------------------------------------ */

struct ring_run {
	const char *ring;
	long n;
	bool paced;
	uint64_t *lat;
};

static int ring_producer(const struct ring_run *r)
{
	struct shmring *p = shmring_producer(SHMRING_SPSC, r->ring, size, 4096, NULL);
	unsigned char m[65536];
	uint64_t t0 = nu_now_ns();

	if (!p)
		return 1;
	for (long i = 0; i < r->n; i++) {
		if (r->paced)
			until(t0 + (uint64_t)i * 1000000000ull / (uint64_t)rate);
		fill(m, (uint64_t)i, nu_now_ns());
		if (shmring_push(p, m))
			return 2;
	}
	shmring_close(p);
	return 0;
}

/* One ring run: N messages through the bridges; fills LAT, returns the
 * seconds from the first push to the last pop. */
static double ring_once(const char *ring_a, const char *ring_b, long n, bool paced,
			uint64_t *lat)
{
	struct shmring *c = shmring_consumer(SHMRING_SPSC, ring_b, size, 4096, NULL);
	struct ring_run r = { .ring = ring_a, .n = n, .paced = paced };
	unsigned char m[65536];
	uint64_t t0 = nu_now_ns();
	pid_t pid;
	int st;

	if (!c)
		die("open ring B");
	pid = fork();
	if (pid == 0)
		_exit(ring_producer(&r));
	for (long i = 0; i < n; i++) {
		if (shmring_timed_pop(c, m, 30000000000ull))
			die("ring B: a message did not arrive within 30 s");
		lat[i] = check(m, (uint64_t)i);
	}
	waitpid(pid, &st, 0);
	shmring_close(c);
	return (double)(nu_now_ns() - t0) / 1e9;
}

static struct result bench_bridge(bool tp_only, bool low_latency)
{
	char ring_a[64], ring_b[64], subject[64], stream[64], durable[64], sz[16],
		log[700];
	uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)(n_tp > n_lat ? n_tp : n_lat));
	struct result res = { 0 };
	pid_t out, in;
	double secs;

	snprintf(ring_a, sizeof(ring_a), "shmring-bench-bra%d-%d-%d", low_latency,
		 (int)getpid(), round_no);
	snprintf(ring_b, sizeof(ring_b), "shmring-bench-brb%d-%d-%d", low_latency,
		 (int)getpid(), round_no);
	snprintf(subject, sizeof(subject), "bench.bridge%d.%d.%d", low_latency,
		 (int)getpid(), round_no);
	snprintf(stream, sizeof(stream), "BB%d_%d_%d", low_latency, (int)getpid(),
		 round_no);
	snprintf(durable, sizeof(durable), "bb%d_%d_%d", low_latency, (int)getpid(),
		 round_no);
	snprintf(sz, sizeof(sz), "%zu", size);
	snprintf(log, sizeof(log), "%.500s/bridges.log", base);
	{
		struct shmring *b =
			shmring_consumer(SHMRING_SPSC, ring_b, size, 4096, NULL);
		/* NULL-ended; the last slot takes --low-latency or stays NULL. */
		char *aout[] = { tool,
				 "bridge",
				 "out",
				 ring_a,
				 url,
				 subject,
				 "--create-stream",
				 stream,
				 "--elem-size",
				 sz,
				 "--capacity",
				 "4096",
				 NULL,
				 NULL };
		char *ain[] = { tool,	     "bridge", "in",
				url,	     subject,  ring_b,
				"--durable", durable,  "--create-stream",
				stream,	     NULL,     NULL };

		aout[12] = low_latency ? "--low-latency" : NULL;
		ain[10] = low_latency ? "--low-latency" : NULL;
		if (!b)
			die("create ring B");
		shmring_close(b); /* bridge in opens it with its geometry */
		out = nu_spawn(aout, log, NULL);
		in = nu_spawn(ain, log, NULL);
	}
	/* A first message makes sure both bridges and the stream are up. Each
	 * run counts seq from 0 again: the rings keep their positions. */
	ring_once(ring_a, ring_b, 1, false, lat);
	secs = ring_once(ring_a, ring_b, n_tp, false, lat);
	res.rate = (double)n_tp / secs;
	if (!tp_only) {
		ring_once(ring_a, ring_b, n_lat, true, lat);
		res.p50 = pct(lat, (size_t)n_lat, 0.50);
		res.p99 = pct(lat, (size_t)n_lat, 0.99);
	}
	nu_stop(out, SIGTERM, 10000);
	nu_stop(in, SIGTERM, 10000);
	shmring_unlink(ring_a);
	shmring_unlink(ring_b);
	{
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "/dev/shm/shmring-bridge.%s.out", ring_a);
		unlink(path);
		snprintf(path, sizeof(path), "/dev/shm/shmring-bridge.%s.in", ring_b);
		unlink(path);
	}
	free(lat);
	return res;
}

/* ---- NATS alone ---------------------------------------------------------- */

static natsConnection *nc;
static jsCtx *js;

static void ok(natsStatus s, const char *what)
{
	if (s != NATS_OK) {
		fprintf(stderr, "bench-bridge: %s: %s (%s)\n", what,
			natsStatus_GetText(s), nats_GetLastError(NULL));
		exit(1);
	}
}

struct pub_arg {
	const char *subject;
	long n;
	bool paced;
};

static void *publisher(void *p)
{
	const struct pub_arg *a = p;
	unsigned char m[65536];
	uint64_t t0 = nu_now_ns();

	for (long i = 0; i < a->n; i++) {
		if (a->paced)
			until(t0 + (uint64_t)i * 1000000000ull / (uint64_t)rate);
		fill(m, (uint64_t)i, nu_now_ns());
		natsStatus st;

		/* At MaxPending in flight the client stalls up to StallWait,
		 * then says so: publish again. */
		while ((st = js_PublishAsync(js, a->subject, m, (int)size, NULL)) ==
		       NATS_TIMEOUT)
			;
		ok(st, "publish");
	}
	ok(js_PublishAsyncComplete(js, NULL), "publish complete");
	return NULL;
}

/* N messages from a publisher thread, or from a producer process on RING
 * (through bridge out), to the pull consumer SUB. */
static double nats_once(natsSubscription *sub, const char *subject, const char *ring,
			long n, bool paced, uint64_t *lat)
{
	struct pub_arg a = { subject, n, paced };
	struct ring_run r = { .ring = ring, .n = n, .paced = paced };
	uint64_t t0 = nu_now_ns();
	pthread_t t;
	pid_t pid = -1;
	long got = 0;

	if (ring) {
		pid = fork();
		if (pid == 0)
			_exit(ring_producer(&r));
	} else {
		pthread_create(&t, NULL, publisher, &a);
	}
	while (got < n) {
		natsMsgList list;
		natsStatus s = natsSubscription_Fetch(&list, sub, 256, 5000, NULL);

		if (s == NATS_TIMEOUT)
			continue;
		ok(s, "fetch");
		for (int i = 0; i < list.Count; i++) {
			if (natsMsg_GetDataLength(list.Msgs[i]) != (int)size)
				die("NATS alone: a message of the wrong size");
			lat[got] = check(
				(const unsigned char *)natsMsg_GetData(list.Msgs[i]),
				(uint64_t)got);
			got++;
			natsMsg_Ack(list.Msgs[i], NULL);
		}
		natsMsgList_Destroy(&list);
	}
	if (ring)
		waitpid(pid, NULL, 0);
	else
		pthread_join(t, NULL);
	return (double)(nu_now_ns() - t0) / 1e9;
}

/* OUT_ONLY: ring -> bridge out -> JetStream -> plain pull consumer. */
static struct result bench_nats(bool tp_only, bool out_only)
{
	char ring[64], sz[16], log[700];
	pid_t out = -1;
	char subject[64], stream[64], durable[64];
	const char *subjects[1] = { subject };
	uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)(n_tp > n_lat ? n_tp : n_lat));
	struct result res = { 0 };
	natsSubscription *sub = NULL;
	jsStreamConfig cfg;
	jsSubOptions so;
	double secs;

	snprintf(subject, sizeof(subject), "bench.nats%s.%d.%d", out_only ? "o" : "",
		 (int)getpid(), round_no);
	snprintf(stream, sizeof(stream), "BN%s%d_%d", out_only ? "o" : "", (int)getpid(),
		 round_no);
	snprintf(durable, sizeof(durable), "bn%s%d_%d", out_only ? "o" : "",
		 (int)getpid(), round_no);
	jsStreamConfig_Init(&cfg);
	cfg.Name = stream;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	ok(js_AddStream(NULL, js, &cfg, NULL, NULL), "add stream");
	jsSubOptions_Init(&so);
	so.Config.AckPolicy = js_AckExplicit;
	ok(js_PullSubscribe(&sub, js, subject, durable, NULL, &so, NULL),
	   "pull subscribe");
	snprintf(ring, sizeof(ring), "shmring-bench-bro-%d-%d", (int)getpid(), round_no);
	if (out_only) {
		char *aout[] = { tool,	       "bridge", "out",		ring,
				 url,	       subject,	 "--elem-size", sz,
				 "--capacity", "4096",	 NULL };

		snprintf(sz, sizeof(sz), "%zu", size);
		snprintf(log, sizeof(log), "%.500s/bridges.log", base);
		out = nu_spawn(aout, log, NULL);
	}
	secs = nats_once(sub, subject, out_only ? ring : NULL, n_tp, false, lat);
	res.rate = (double)n_tp / secs;
	if (!tp_only) {
		nats_once(sub, subject, out_only ? ring : NULL, n_lat, true, lat);
		res.p50 = pct(lat, (size_t)n_lat, 0.50);
		res.p99 = pct(lat, (size_t)n_lat, 0.99);
	}
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	js_DeleteStream(js, stream, NULL, NULL);
	if (out_only) {
		char path[PATH_MAX];

		nu_stop(out, SIGTERM, 10000);
		shmring_unlink(ring);
		snprintf(path, sizeof(path), "/dev/shm/shmring-bridge.%s.out", ring);
		unlink(path);
	}
	free(lat);
	return res;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = { { "short", no_argument, NULL, 'S' },
					       { 0 } };
	struct nu_server node;
	struct result rb[16], rn[16], ro[16], rl[16];
	jsOptions jso;
	int opt;

	while ((opt = getopt_long(argc, argv, "n:r:l:s:k:", lopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			n_tp = atol(optarg);
			break;
		case 'r':
			rate = atol(optarg);
			break;
		case 'l':
			n_lat = atol(optarg);
			break;
		case 's':
			size = (size_t)atol(optarg);
			break;
		case 'k':
			reps = atol(optarg);
			break;
		case 'S':
			n_tp = 30000;
			n_lat = 1000;
			rate = 1000;
			reps = 1;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-n N] [-r RATE] [-l LAT_MSGS] [-s SIZE] [-k REPS] "
				"[--short]\n",
				argv[0]);
			return 2;
		}
	}
	if (size < STAMP + 16 || size > 65536 || n_tp < 1 || n_lat < 1 || rate < 1 ||
	    reps < 1 || reps > 16)
		die("bad arguments");
	{
		char self[PATH_MAX];
		ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (len <= 0)
			die("readlink /proc/self/exe");
		self[len] = 0;
		*strrchr(self, '/') = 0; /* BUILD/bench */
		*strrchr(self, '/') = 0; /* BUILD */
		snprintf(tool, sizeof(tool), "%.4000s/shmring", self);
	}
	if (access(tool, X_OK))
		die("the shmring tool is not built");
	if (!nu_have("nats-server"))
		die("nats-server is not installed (scripts/install-deps.sh)");
	nu_tmpdir(base, sizeof(base), "bench-bridge");
	if (!base[0] || !nu_cluster_start(&node, 1, base, "127.0.0.1", NULL))
		die("nats-server did not start");
	nu_urls(url, sizeof(url), &node, 1);
	ok(natsConnection_ConnectTo(&nc, url), "connect");
	jsOptions_Init(&jso);
	jso.PublishAsync.MaxPending = 256;
	jso.PublishAsync.StallWait = 5000;
	ok(natsConnection_JetStream(&js, nc, &jso), "jetstream");

	printf("ring -> NATS -> ring (shmring bridge out/in) beside NATS alone (JetStream async "
	       "publish, pull consumer)\n%zu-byte messages, file storage, one server; %ld "
	       "messages for throughput, %ld at %ld/s for latency; %ld round%s\n\n",
	       size, n_tp, n_lat, rate, reps, reps > 1 ? "s, medians" : "");
	fflush(stdout);
	for (round_no = 0; round_no < reps; round_no++) {
		rb[round_no] = bench_bridge(false, false);
		rl[round_no] = bench_bridge(false, true);
		rn[round_no] = bench_nats(false, false);
		ro[round_no] = bench_nats(false, true);
		fprintf(stderr,
			"round %d: bridges %.0f msg/s p50 %.0f us p99 %.0f us (--low-latency "
			"%.0f msg/s p50 %.0f us p99 %.0f us); NATS alone %.0f "
			"msg/s p50 %.0f us p99 %.0f us; bridge out only %.0f msg/s p50 %.0f "
			"us p99 %.0f us\n",
			round_no + 1, rb[round_no].rate, rb[round_no].p50,
			rb[round_no].p99, rl[round_no].rate, rl[round_no].p50,
			rl[round_no].p99, rn[round_no].rate, rn[round_no].p50,
			rn[round_no].p99, ro[round_no].rate, ro[round_no].p50,
			ro[round_no].p99);
	}
	fprintf(stderr, "\n");
	{
		double v[12][16];
		double m[12];

		for (int i = 0; i < reps; i++) {
			v[0][i] = rb[i].rate;
			v[1][i] = rb[i].p50;
			v[2][i] = rb[i].p99;
			v[3][i] = rn[i].rate;
			v[4][i] = rn[i].p50;
			v[5][i] = rn[i].p99;
			v[6][i] = ro[i].rate;
			v[7][i] = ro[i].p50;
			v[8][i] = ro[i].p99;
			v[9][i] = rl[i].rate;
			v[10][i] = rl[i].p50;
			v[11][i] = rl[i].p99;
		}
		for (int k = 0; k < 12; k++)
			m[k] = median(v[k], (int)reps);
		printf("%-34s %12s %10s %10s\n", "", "msgs/s", "p50 us", "p99 us");
		printf("%-34s %12.0f %10.0f %10.0f\n", "ring -> NATS -> ring (bridges)",
		       m[0], m[1], m[2]);
		printf("%-34s %12.0f %10.0f %10.0f\n", "  the same, --low-latency", m[9],
		       m[10], m[11]);
		printf("%-34s %12.0f %10.0f %10.0f\n", "ring -> NATS (bridge out, pull)",
		       m[6], m[7], m[8]);
		printf("%-34s %12.0f %10.0f %10.0f\n", "NATS alone (publisher, pull)",
		       m[3], m[4], m[5]);
		printf("%-34s %11.2fx %9.2fx %9.2fx\n", "bridges / NATS alone",
		       m[0] / m[3], m[1] / m[4], m[2] / m[5]);
		printf("%-34s %11.2fx %9.2fx %9.2fx\n", "  --low-latency / NATS alone",
		       m[9] / m[3], m[10] / m[4], m[11] / m[5]);
	}
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_CloseAndWait(5000);
	nu_server_stop(&node, SIGTERM);
	nu_rmtree(base);
	return 0;
}
