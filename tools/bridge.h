/* SPDX-License-Identifier: MIT */
/*
 * `shmring bridge`: rings over NATS JetStream.
 *
 *   tools/bridge.c       command line, ring opening, the counter file, --stats
 *                        and the OpenMetrics printer (built with or without
 *                        CONFIG_NATS)
 *   tools/bridge_nats.c  the two directions on the NATS C client (CONFIG_NATS)
 *
 * Counters live in a small file in /dev/shm per ring and direction,
 * /dev/shm/shmring-bridge.RING.out (or .in), so `shmring bridge --stats` in
 * another process reads them while the bridge runs and after it died; a
 * restarted bridge keeps counting in the same file. The file is not a ring:
 * `shmring ls` validates it away like any other foreign file.
 */
#ifndef SHMRING_BRIDGE_H
#define SHMRING_BRIDGE_H

#include "shmring.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum bridge_dir { BRIDGE_OUT = 1, BRIDGE_IN = 2 };

/* ---- the counter file ---------------------------------------------------- */

#define BRIDGE_STATS_PREFIX  "shmring-bridge."
#define BRIDGE_STATS_MAGIC   0x6567646972627273ull /* "srbridge" */
#define BRIDGE_STATS_VERSION 3
/* --dedup (bridge in, SPSC rings): how many pushed stream sequences the
 * journal remembers. A redelivered message older than that is pushed again. */
#define BRIDGE_JOURNAL	     65536

/* The counters, in the order the OpenMetrics printer emits them. */
#define BRIDGE_COUNTERS(X)                                                              \
	X(forwarded,                                                                    \
	  "elements moved: published to JetStream (out), pushed into the ring "         \
	  "(in)")                                                                       \
	X(acked, "out: elements JetStream acknowledged and the bridge released; in: "   \
		 "messages acknowledged to JetStream")                                  \
	X(redelivered,                                                                  \
	  "out: elements published again after a failed or lost PubAck (what a "        \
	  "restart publishes again shows as duplicates); in: messages JetStream "       \
	  "delivered more than once")                                                   \
	X(rejected, "out: negative PubAcks (retried); in: messages of the wrong size, " \
		    "terminated")                                                       \
	X(reconnects, "reconnections to a NATS server")                                 \
	X(duplicates, "out: PubAcks that JetStream de-duplicated by message id (a "     \
		      "restarted bridge publishing again); in: messages delivered "     \
		      "again and dropped as already pushed")

struct bridge_counters {
#define X(name, help) _Atomic uint64_t name;
	BRIDGE_COUNTERS(X)
#undef X
};

/* Journal of --dedup: the stream sequence and stored time of each element
 * pushed into an SPSC ring and the ring position it went to, written before
 * the elements are committed. After a restart, an entry is committed iff
 * its position is below the producer's position (the ring is
 * single-producer: nobody else moves it); entries at or above it are
 * dropped at start, since those positions will be written again. */
struct bridge_journal {
	uint64_t instance; /* ring instance the entries belong to */
	uint64_t head;	   /* entries written, ever (index = head % size) */
	struct {
		uint64_t seq, pos, ts; /* seq 0: no entry */
	} e[BRIDGE_JOURNAL];
};

/* bridge in: which stream messages went into the ring, so that one
 * delivered again (a crash after the push, acks lost with a server, a
 * server that lost the consumer's state and starts it over) is acknowledged
 * and not pushed twice. For the ring instance INSTANCE and the stream made
 * at STREAM_CREATED (ns since the epoch; a stream made again numbers from 1
 * again), both checked at start. Written by the bridge alone, each run of
 * elements right after its commit: a bit per stream sequence for the
 * BRIDGE_RECORD_BITS sequences up to TOP (bit s % BITS: s was pushed), and
 * FLOOR, the highest ack floor the server reported (every message at or
 * below it was pushed, or terminated, and acknowledged). The bits before
 * TOP moves over them; INSTANCE and STREAM_CREATED are zeroed first when
 * they change, so a crash leaves a record that claims nothing. */
#define BRIDGE_RECORD_BITS (1u << 20)

struct bridge_record {
	uint64_t instance, stream_created;
	uint64_t top, floor;
	/* The stored time (ns) of the message at TOP, written before TOP: a
	 * message of a sequence the record has but stored later than that is
	 * another stream's (made again under the same name) and not dropped. */
	uint64_t top_ts;
	/* FLOOR is the ack floor of the consumer created at this time (ns):
	 * another consumer on the ring (another subject, or one made again)
	 * starts it over; the bits are facts about the stream and stay. */
	uint64_t floor_consumer;
	uint64_t bits[BRIDGE_RECORD_BITS / 64];
};

struct bridge_stats {
	uint64_t magic;
	uint32_t version, dir;
	_Atomic int32_t pid; /* the bridge that last ran; see bridge_alive() */
	uint32_t pad;
	_Atomic uint64_t starts;
	_Atomic uint64_t started_ns; /* CLOCK_REALTIME of the last start */
	_Atomic uint32_t connected;  /* 1 while connected to a server */
	uint32_t pad2;
	char ring[256], subject[256];
	struct bridge_counters c;
	uint64_t spare[16];
	struct bridge_journal journal;
	struct bridge_record record;
};

/* Opens (creating if needed) the counter file of RING in direction DIR and
 * maps it; NULL with errno. */
struct bridge_stats *bridge_stats_open(const char *ring, enum bridge_dir dir,
				       const char *subject);
void bridge_stats_close(struct bridge_stats *st);
/* Prints the counters of the bridges of RINGS[0..N) (RINGS NULL: of every
 * bridge on this machine) as OpenMetrics metric families (# TYPE, # HELP,
 * one sample per ring and direction), without
 * the closing "# EOF", so `shmring stat --openmetrics` can print them beside
 * its own families. Returns how many bridges were printed. */
int bridge_print_openmetrics(FILE *out, const char *const *rings, size_t n);

/* ---- options ------------------------------------------------------------- */

struct bridge_opts {
	enum bridge_dir dir;
	const char *ring, *url, *subject;
	/* a missing ring is created with these; 0: library defaults */
	enum shmring_policy policy;
	size_t elem_size, capacity;
	/* NATS */
	const char *creds, *token, *tls_ca, *tls_cert, *tls_key, *name;
	const char *create_stream; /* create this stream for SUBJECT if missing */
	const char *stream;	   /* in: bind to this stream (default: by subject) */
	const char *durable;	   /* in: durable pull consumer (required) */
	int replicas;
	long long dup_window_ms;
	bool memory_storage;
	/* out */
	long max_inflight; /* PubAcks awaited at once */
	long ack_wait_ms;  /* out: PubAck timeout; in: consumer AckWait */
	bool unordered;	   /* out: no Nats-Expected-Last-Msg-Id chaining */
	bool low_latency;  /* write each message at once (no coalescing) */
	/* in */
	long batch;	 /* messages fetched at most per request */
	long seq_offset; /* -1: off */
	bool dedup;
	int verbose;
};

/* ---- shared between bridge.c and bridge_nats.c --------------------------- */

extern volatile sig_atomic_t bridge_stop;

/* Opens RING for ROLE: an existing ring with the geometry its header records,
 * a missing one created from O (policy, elem_size, capacity). Fills INFO
 * with the ring's header. NULL after printing why. */
struct shmring *bridge_open_ring(const struct bridge_opts *o, enum shmring_role role,
				 struct shmring_info *info);

__attribute__((format(printf, 2, 3))) void bridge_log(const struct bridge_opts *o,
						      const char *fmt, ...);

uint64_t bridge_now_ns(void);

/* tools/bridge_nats.c: runs one direction until SIGTERM/SIGINT; exit status. */
int bridge_run_out(const struct bridge_opts *o, struct bridge_stats *st);
int bridge_run_in(const struct bridge_opts *o, struct bridge_stats *st);

/* USDT probes, provider shmring_bridge (CONFIG_USDT):
 *   publish   (ring, position, count)       elements handed to the NATS client
 *   ack       (ring, position, count)       elements JetStream acknowledged
 *                                           (out: released from the ring;
 *                                           in: acks sent)
 *   fetch     (ring, asked, got)            a pull request returned (in)
 *   push      (ring, position, count)       elements pushed into the ring (in)
 *   reject    (ring, stream_seq, size)      a message of the wrong size (in) or a
 *                                           negative PubAck (out: size 0)
 *   reconnect (ring, reconnects)            the NATS connection came back
 * RING is the ring's name (a string). Probes have no semaphores: their
 * arguments are values the bridge has at hand anyway. */
#include "config.h"
#if CONFIG_USDT
#define SDT_USE_VARIADIC 1
#include <sys/sdt.h>
#define BRIDGE_PROBE(name, ...) STAP_PROBEV(shmring_bridge, name, __VA_ARGS__)
#else
#define BRIDGE_PROBE(name, ...) \
	do {                    \
	} while (0)
#endif

#endif /* SHMRING_BRIDGE_H */
