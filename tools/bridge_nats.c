// SPDX-License-Identifier: MIT
/*
 * `shmring bridge` on the NATS C client (libnats): the two directions.
 *
 * out: RING -> JetStream. The bridge borrows ready elements in place
 * (peek), publishes each asynchronously with the message id
 * "<ring instance hex>-<ring position>", and releases an element only once
 * JetStream acknowledged it and every element before it. So a bridge killed
 * at any moment leaves the unacknowledged elements in the ring; its successor
 * publishes them again with the same ids, and JetStream's duplicate window
 * drops the copies it already stored.
 *
 * Order. Pipelined publishes can reach the stream out of order when a
 * connection dies: message p written into the dying socket is lost, p+1 goes
 * out on the new connection, p is published again after its PubAck timed
 * out and lands behind p+1. So every message whose predecessor is still
 * unacknowledged carries Nats-Expected-Last-Msg-Id = the predecessor's id:
 * JetStream stores it only right behind its predecessor, and rejects it
 * otherwise. After any failure the bridge waits until every message in
 * flight is resolved, then publishes again from the first unacknowledged
 * one, in order. A message whose predecessor is acknowledged needs no
 * condition, so a stream shared with other publishers still works (each
 * interleaving costs one round trip).
 *
 * in: JetStream -> RING. A durable pull consumer fetches at most what the
 * ring has room for, the bridge pushes, then acknowledges and flushes (the
 * server has the acks) before it fetches again; the consumer's MaxAckPending
 * of one batch keeps the server from delivering more while a batch is
 * unacknowledged. A crash between push and that flush makes JetStream deliver
 * those messages again after AckWait: at most one batch of duplicates per
 * crash, which --seq-offset lets the ring's consumers drop, and --dedup (SPSC
 * rings) drops in the bridge.
 */
#include "bridge.h"
#include "tool.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MSGID_HDR "Nats-Msg-Id"
#define MS	  1000000ll

/* ---- connection ---------------------------------------------------------- */

struct conn {
	const struct bridge_opts *o;
	struct bridge_stats *st;
	natsConnection *nc;
	jsCtx *js;
	_Atomic bool up, closing;
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Backoff between reconnection rounds: 50 ms doubling to 2 s, +-25%. */
static int64_t reconnect_delay(natsConnection *nc, int attempts, void *closure)
{
	int64_t d = 50;

	(void)nc;
	(void)closure;
	for (int i = 1; i < attempts && d < 2000; i++)
		d *= 2;
	if (d > 2000)
		d = 2000;
	return d * 3 / 4 + (int64_t)(random() % (d / 2 + 1));
}

static void on_connected(natsConnection *nc, void *closure)
{
	struct conn *c = closure;

	(void)nc;
	c->up = true;
	atomic_store(&c->st->connected, 1);
	bridge_log(c->o, "connected");
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	struct conn *c = closure;

	(void)nc;
	if (c->up && !c->closing && !bridge_stop)
		bridge_log(c->o, "disconnected; reconnecting");
	c->up = false;
	atomic_store(&c->st->connected, 0);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	struct conn *c = closure;
	char url[256] = "";
	uint64_t n = atomic_fetch_add(&c->st->c.reconnects, 1) + 1;

	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	c->up = true;
	atomic_store(&c->st->connected, 1);
	bridge_log(c->o, "reconnected to %s", url);
	BRIDGE_PROBE(reconnect, c->o->ring, n);
}

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err,
			   void *closure)
{
	struct conn *c = closure;

	(void)nc;
	(void)sub;
	if (c->o->verbose || err == NATS_SLOW_CONSUMER)
		bridge_log(c->o, "asynchronous error: %s", natsStatus_GetText(err));
}

static void nats_fail(const struct bridge_opts *o, const char *what, natsStatus s)
{
	bridge_log(o, "%s: %s (%s)", what, natsStatus_GetText(s),
		   nats_GetLastError(NULL));
}

/* Connects (or starts connecting in the background: the server may not be
 * up yet) with infinite reconnection. false after logging why. */
static bool conn_open(struct conn *c, const struct bridge_opts *o,
		      struct bridge_stats *st, jsOptions *jso)
{
	natsOptions *opts = NULL;
	char *urls = strdup(o->url), *save = NULL;
	const char *servers[64];
	int n = 0;
	natsStatus s;

	c->o = o;
	c->st = st;
	for (char *u = strtok_r(urls, ",", &save); u && n < 64;
	     u = strtok_r(NULL, ",", &save))
		servers[n++] = u;
	s = natsOptions_Create(&opts);
	if (s == NATS_OK)
		s = natsOptions_SetServers(opts, servers, n);
	if (s == NATS_OK)
		s = natsOptions_SetName(opts, o->name ? o->name : "shmring-bridge");
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(opts, INT_MAX);
	if (s == NATS_OK)
		s = natsOptions_SetCustomReconnectDelay(opts, reconnect_delay, c);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, c);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(opts, on_disconnected, c);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(opts, on_reconnected, c);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(opts, on_async_error, c);
	/* A server that vanished without closing the socket (a host or
	 * network gone) is noticed within seconds, not minutes. */
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(opts, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPingsOut(opts, 3);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(opts, 2000);
	/* The client coalesces writes in a flusher thread, which costs about
	 * a millisecond per hop; --low-latency writes each one at once. */
	if (s == NATS_OK && o->low_latency)
		s = natsOptions_SetSendAsap(opts, true);
	if (s == NATS_OK && o->creds)
		s = natsOptions_SetUserCredentialsFromFiles(opts, o->creds, NULL);
	if (s == NATS_OK && o->token)
		s = natsOptions_SetToken(opts, o->token);
	if (s == NATS_OK && (o->tls_ca || o->tls_cert))
		s = natsOptions_SetSecure(opts, true);
	if (s == NATS_OK && o->tls_ca)
		s = natsOptions_LoadCATrustedCertificates(opts, o->tls_ca);
	if (s == NATS_OK && o->tls_cert)
		s = natsOptions_LoadCertificatesChain(
			opts, o->tls_cert, o->tls_key ? o->tls_key : o->tls_cert);
	if (s != NATS_OK) {
		nats_fail(o, "NATS options", s);
		natsOptions_Destroy(opts);
		free(urls);
		return false;
	}
	/* A first attempt in the foreground says why it fails (no server,
	 * authorization, TLS); then the client keeps trying in the background. */
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(opts, false, NULL, NULL);
	if (s == NATS_OK) {
		s = natsConnection_Connect(&c->nc, opts);
		if (s != NATS_OK) {
			bridge_log(o, "%s: %s (%s); retrying in the background", o->url,
				   natsStatus_GetText(s),
				   nats_GetLastError(NULL) ? nats_GetLastError(NULL) :
							     "");
			s = natsOptions_SetRetryOnFailedConnect(opts, true, on_connected,
								c);
			if (s == NATS_OK)
				s = natsConnection_Connect(&c->nc, opts);
		}
	}
	natsOptions_Destroy(opts);
	free(urls);
	if (s == NATS_OK) {
		c->up = true;
		atomic_store(&st->connected, 1);
		bridge_log(o, "connected to %s", o->url);
	} else if (s == NATS_NOT_YET_CONNECTED) {
		s = NATS_OK;
	}
	if (s == NATS_OK)
		s = natsConnection_JetStream(&c->js, c->nc, jso);
	if (s != NATS_OK) {
		nats_fail(o, "connect", s);
		return false;
	}
	return true;
}

/* Closes the connection and waits for the client's threads: its callbacks
 * (closed, disconnected, late PubAcks) point into the bridge's state. */
static void conn_close(struct conn *c)
{
	c->closing = true;
	if (c->nc) {
		natsConnection_FlushTimeout(c->nc, 1000);
		natsConnection_Close(c->nc);
	}
	jsCtx_Destroy(c->js);
	natsConnection_Destroy(c->nc);
	c->js = NULL;
	c->nc = NULL;
	nats_CloseAndWait(5000);
}

/* --create-stream: makes the stream for SUBJECT unless it exists. Retries
 * while the server is unreachable. */
static bool ensure_stream(struct conn *c)
{
	const struct bridge_opts *o = c->o;
	const char *subjects[1] = { o->subject };
	long backoff = 100;
	bool looked_again = false;

	while (!bridge_stop) {
		jsStreamInfo *si = NULL;
		jsStreamConfig cfg;
		jsErrCode jerr = 0;
		natsStatus s =
			js_GetStreamInfo(&si, c->js, o->create_stream, NULL, &jerr);

		if (s == NATS_OK) {
			jsStreamInfo_Destroy(si);
			return true;
		}
		if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
			jsStreamConfig_Init(&cfg);
			cfg.Name = o->create_stream;
			cfg.Subjects = subjects;
			cfg.SubjectsLen = 1;
			cfg.Replicas = o->replicas;
			cfg.Storage =
				o->memory_storage ? js_MemoryStorage : js_FileStorage;
			if (o->dup_window_ms)
				cfg.Duplicates = o->dup_window_ms * MS;
			s = js_AddStream(&si, c->js, &cfg, NULL, &jerr);
			if (s == NATS_OK) {
				bridge_log(o, "created stream %s for %s (%d replica%s)",
					   o->create_stream, o->subject, o->replicas,
					   o->replicas > 1 ? "s" : "");
				jsStreamInfo_Destroy(si);
				return true;
			}
			/* The other bridge made it meanwhile: look again, once.
			 * JetStream may say so as "subjects overlap" (10065)
			 * as well as "name in use". */
			if ((jerr == JSStreamNameExistErr || jerr == 10065) &&
			    !looked_again) {
				looked_again = true;
				continue;
			}
		}
		if (jerr && jerr != JSStreamNotFoundErr) {
			bridge_log(o, "stream %s: %s (JetStream error %d)",
				   o->create_stream, nats_GetLastError(NULL), (int)jerr);
			/* A configuration JetStream refuses is final; the
			 * rest (no leader yet, no suitable peers while a
			 * cluster forms, ...) passes: try again. */
			if (jerr == JSStreamNameExistErr ||
			    jerr == 10065 /* subjects overlap */ ||
			    jerr == 10052 /* invalid config */)
				return false;
		} else if (o->verbose) {
			nats_fail(o, "stream", s);
		}
		sleep_ms(backoff);
		backoff = backoff < 2000 ? backoff * 2 : 2000;
	}
	return false;
}

/* ---- out: ring -> JetStream ---------------------------------------------- */

enum { E_SENT = 1, E_ACKED, E_FAILED };

struct out {
	const struct bridge_opts *o;
	struct bridge_stats *st;
	struct conn c;
	struct shmring *ring;
	uint64_t instance;
	size_t elem;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* The window: ring positions [base, base + published) published, one
	 * state each, entry i at state[(head + i) % cap]. It never spans the
	 * ring's wrap (a peek ends there), so positions in it are consecutive. */
	uint64_t base;
	size_t published, head, cap;
	unsigned char *state;
	uint64_t *sent_ns;
	size_t resolved; /* acks or failures since the main loop last looked */
	bool failure;	 /* some entry FAILED: publish again from the first */
	uint64_t last_reject_log;
};

static size_t out_idx(const struct out *b, size_t i)
{
	return (b->head + i) % b->cap;
}

static void msg_id(char *buf, size_t len, uint64_t instance, uint64_t pos)
{
	snprintf(buf, len, "%016" PRIx64 "-%" PRIu64, instance, pos);
}

static bool parse_msg_id(const char *id, uint64_t *instance, uint64_t *pos)
{
	char *end;

	errno = 0;
	*instance = strtoull(id, &end, 16);
	if (errno || *end != '-')
		return false;
	*pos = strtoull(end + 1, &end, 10);
	return !errno && !*end;
}

/* PubAcks, on a NATS thread. */
static void on_puback(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
		      void *closure)
{
	struct out *b = closure;
	const char *id = NULL;
	uint64_t inst, pos;

	(void)js;
	if (natsMsgHeader_Get(msg, MSGID_HDR, &id) != NATS_OK || !id ||
	    !parse_msg_id(id, &inst, &pos) || inst != b->instance)
		goto out;
	pthread_mutex_lock(&b->mu);
	if (pos - b->base < b->published) { /* unsigned: also pos >= base */
		size_t k = out_idx(b, (size_t)(pos - b->base));

		if (pa) {
			b->state[k] = E_ACKED;
			if (pa->Duplicate)
				atomic_fetch_add(&b->st->c.duplicates, 1);
		} else if (b->state[k] == E_SENT) {
			uint64_t now = bridge_now_ns();

			b->state[k] = E_FAILED;
			b->failure = true;
			if (pae && pae->Err != NATS_TIMEOUT) {
				atomic_fetch_add(&b->st->c.rejected, 1);
				BRIDGE_PROBE(reject, b->o->ring, pos, 0);
			}
			if (b->o->verbose || now - b->last_reject_log > 1000000000ull) {
				b->last_reject_log = now;
				bridge_log(b->o,
					   "no PubAck for %s: %s%s%s; publishing again",
					   id, pae ? natsStatus_GetText(pae->Err) : "?",
					   pae && pae->ErrText ? ": " : "",
					   pae && pae->ErrText ? pae->ErrText : "");
			}
		}
		b->resolved++;
		/* Wake the main loop in batches under load, at once when all
		 * in flight are resolved or something failed. */
		if (b->failure || b->resolved >= b->published ||
		    b->resolved >= b->cap / 4)
			pthread_cond_signal(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
out:
	natsMsg_Destroy(msg);
}

/* Publishes window entry I (element DATA) asynchronously. Called without
 * the lock; the entry is marked SENT first. */
static natsStatus out_publish(struct out *b, size_t i, const void *data, bool expect_prev)
{
	char id[64], prev[64];
	jsPubOptions po;
	natsStatus s;
	uint64_t pos = b->base + i;

	msg_id(id, sizeof(id), b->instance, pos);
	jsPubOptions_Init(&po);
	po.MsgId = id;
	po.MaxWait = b->o->ack_wait_ms;
	if (expect_prev && !b->o->unordered) {
		msg_id(prev, sizeof(prev), b->instance, pos - 1);
		po.ExpectLastMsgId = prev;
	}
	s = js_PublishAsync(b->c.js, b->o->subject, data, (int)b->elem, &po);
	if (s == NATS_OK)
		BRIDGE_PROBE(publish, b->o->ring, pos, 1);
	return s;
}

/* Resolves SENT entries the client lost track of (it times PubAcks out by
 * itself; this is the guard behind it). Under the lock. */
static void out_expire(struct out *b, uint64_t now)
{
	uint64_t limit = (uint64_t)(2 * b->o->ack_wait_ms + 1000) * MS;

	for (size_t i = 0; i < b->published; i++) {
		size_t k = out_idx(b, i);

		if (b->state[k] == E_SENT && now - b->sent_ns[k] > limit) {
			b->state[k] = E_FAILED;
			b->failure = true;
		}
	}
}

int bridge_run_out(const struct bridge_opts *o, struct bridge_stats *st)
{
	/* Static: the client's threads may call back until conn_close ends. */
	static struct out b;
	struct shmring_info info;
	jsOptions jso;
	uint64_t drain_deadline = 0, backoff_until = 0;
	long backoff = 10;
	int rc = 1;

	b = (struct out){ .o = o, .st = st, .cap = (size_t)o->max_inflight };
	b.ring = bridge_open_ring(o, SHMRING_CONSUMER, &info);
	if (!b.ring)
		return 1;
	b.instance = info.instance;
	b.elem = info.elem_size;
	b.state = calloc(b.cap, 1);
	b.sent_ns = calloc(b.cap, sizeof(*b.sent_ns));
	pthread_mutex_init(&b.mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&b.cv, &ca);
	}
	jsOptions_Init(&jso);
	jso.Wait = o->ack_wait_ms;
	jso.PublishAsync.AckHandler = on_puback;
	jso.PublishAsync.AckHandlerClosure = &b;
	/* The window bounds what is in flight; the client must never stall. */
	jso.PublishAsync.MaxPending = 4 * (int64_t)b.cap + 64;
	if (!b.state || !b.sent_ns || !conn_open(&b.c, o, st, &jso))
		goto done;
	if (o->create_stream && !ensure_stream(&b.c)) {
		rc = bridge_stop ? 0 : 1; /* asked to stop while waiting */
		goto done;
	}
	bridge_log(o,
		   "%s ring, %zu-byte elements, capacity %zu, instance %016" PRIx64
		   " -> %s (%zu in flight at most)",
		   info.policy == SHMRING_SPSC ? "spsc" :
		   info.policy == SHMRING_MPSC ? "mpsc" :
						 "mpmc",
		   info.elem_size, info.capacity, b.instance, o->subject, b.cap);

	for (;;) {
		void *first = NULL;
		size_t stride = 0, m = 0, k;
		ssize_t got;
		uint64_t now = bridge_now_ns();
		bool draining = bridge_stop, at_wrap;

		if (draining && !drain_deadline) {
			drain_deadline = now + (uint64_t)(o->ack_wait_ms + 1000) * MS;
			bridge_log(o, "stopping: waiting for the PubAcks in flight");
		}
		got = shmring_peek(b.ring, b.cap, &first, &stride);
		if (got < 0) {
			bridge_log(o, "peek: %s", strerror(errno));
			goto done;
		}
		k = (size_t)got;
		/* Fewer than were ready: the run ended at the ring's wrap (or
		 * other consumers of an MPMC ring took some). */
		at_wrap = k < b.cap && shmring_pending(b.ring) > k;
		pthread_mutex_lock(&b.mu);
		if (k) {
			uint64_t pos = shmring_position(b.ring);

			if (b.published && pos != b.base) {
				/* Someone else (another consumer of an MPMC ring)
				 * took elements we had published: start afresh.
				 * Late PubAcks for positions in the new window are
				 * for the same elements (positions never repeat). */
				bridge_log(o,
					   "ring position moved from %" PRIu64
					   " to %" PRIu64 "; restarting the window",
					   b.base, pos);
				b.published = 0;
				b.failure = false;
				memset(b.state, 0, b.cap);
			}
			b.base = pos;
		}
		if (k < b.published) {
			/* Fewer ready than published: elements were taken
			 * from under us; same as above. */
			for (size_t i = k; i < b.published; i++)
				b.state[out_idx(&b, i)] = 0;
			b.published = k;
		}
		out_expire(&b, now);
		/* After a failure: once nothing is in flight, publish again
		 * from the first unacknowledged entry, in order. */
		if (b.failure && now >= backoff_until) {
			bool inflight = false;

			for (size_t i = 0; i < b.published && !inflight; i++)
				inflight = b.state[out_idx(&b, i)] == E_SENT;
			if (!inflight) {
				size_t i = 0;

				while (i < b.published &&
				       b.state[out_idx(&b, i)] == E_ACKED)
					i++;
				for (; i < b.published; i++) {
					size_t x = out_idx(&b, i);
					bool expect =
						i > 0 &&
						b.state[out_idx(&b, i - 1)] != E_ACKED;
					natsStatus s;

					if (b.state[x] == E_ACKED)
						continue;
					b.state[x] = E_SENT;
					b.sent_ns[x] = now;
					pthread_mutex_unlock(&b.mu);
					s = out_publish(&b, i, (char *)first + i * stride,
							expect);
					pthread_mutex_lock(&b.mu);
					if (s != NATS_OK) {
						b.state[x] = E_FAILED;
						break;
					}
					atomic_fetch_add(&st->c.redelivered, 1);
				}
				b.failure = false;
				for (size_t j = 0; j < b.published; j++)
					if (b.state[out_idx(&b, j)] == E_FAILED)
						b.failure = true;
				if (b.failure) {
					backoff_until = now + (uint64_t)backoff * MS;
					backoff = backoff < 1000 ? backoff * 2 : 1000;
				} else {
					backoff = 10;
				}
			}
		}
		/* New elements, unless stopping or recovering. */
		while (!draining && !b.failure && b.published < k &&
		       now >= backoff_until) {
			size_t i = b.published, x = out_idx(&b, i);
			bool expect = i > 0 && b.state[out_idx(&b, i - 1)] != E_ACKED;
			natsStatus s;

			b.state[x] = E_SENT;
			b.sent_ns[x] = now;
			b.published++;
			pthread_mutex_unlock(&b.mu);
			s = out_publish(&b, i, (char *)first + i * stride, expect);
			pthread_mutex_lock(&b.mu);
			if (s != NATS_OK) {
				/* Not handed over (reconnect buffer full, closed):
				 * drop it from the window and try again later. */
				if (b.published == i + 1 && b.state[x] == E_SENT) {
					b.published--;
					b.state[x] = 0;
				}
				if (o->verbose)
					nats_fail(o, "publish", s);
				backoff_until = now + (uint64_t)backoff * MS;
				backoff = backoff < 1000 ? backoff * 2 : 1000;
				break;
			}
			backoff = 10;
			atomic_fetch_add(&st->c.forwarded, 1);
		}
		/* Release the acknowledged prefix. */
		while (m < b.published && b.state[out_idx(&b, m)] == E_ACKED)
			m++;
		pthread_mutex_unlock(&b.mu);
		/* (A peek that found nothing borrowed nothing.) */
		if (k && shmring_release(b.ring, m)) {
			bridge_log(o, "release: %s", strerror(errno));
			goto done;
		}
		pthread_mutex_lock(&b.mu);
		if (m) {
			for (size_t i = 0; i < m; i++)
				b.state[out_idx(&b, i)] = 0;
			b.head = (b.head + m) % b.cap;
			b.published -= m;
			b.base += m;
			atomic_fetch_add(&st->c.acked, m);
			BRIDGE_PROBE(ack, o->ring, b.base - m, m);
		}
		if (draining && (!b.published || now > drain_deadline)) {
			pthread_mutex_unlock(&b.mu);
			if (b.published)
				bridge_log(
					o,
					"%zu element(s) still unacknowledged stay in the ring",
					b.published);
			rc = 0;
			goto done;
		}
		if (!b.published) {
			pthread_mutex_unlock(&b.mu);
			/* Nothing in flight: sleep until the ring has elements. */
			if (now < backoff_until)
				sleep_ms((long)((backoff_until - now) / MS) + 1);
			else if (!draining && shmring_wait(b.ring, 100 * MS) &&
				 errno != ETIMEDOUT && errno != EINTR) {
				bridge_log(o, "wait: %s", strerror(errno));
				goto done;
			}
			continue;
		}
		/* In flight: sleep until PubAcks resolve some of it; after a
		 * failure with nothing in flight, until the backoff ends. While
		 * the window has room, look for new elements every 200 us too:
		 * the ring cannot wake us while we leave elements in it. */
		if (!b.resolved) {
			bool inflight = false, room = !draining && !b.failure &&
						      !at_wrap && b.published < b.cap;
			uint64_t until = now + (room ? 200000 : 100 * MS);

			for (size_t i = 0; i < b.published && !inflight; i++)
				inflight = b.state[out_idx(&b, i)] == E_SENT;
			if (b.failure && !inflight)
				until = backoff_until;
			if (room && shmring_pending(b.ring) > b.published)
				until = now; /* more ready already */
			if (until > now) {
				struct timespec ts = { (time_t)(until / 1000000000ull),
						       (long)(until % 1000000000ull) };

				pthread_cond_timedwait(&b.cv, &b.mu, &ts);
			}
		}
		b.resolved = 0;
		pthread_mutex_unlock(&b.mu);
	}
done:
	conn_close(&b.c);
	shmring_close(b.ring);
	free(b.state);
	free(b.sent_ns);
	if (rc == 0)
		bridge_log(o, "stopped");
	return rc;
}

/* ---- in: JetStream -> ring ----------------------------------------------- */

struct in {
	const struct bridge_opts *o;
	struct bridge_stats *st;
	struct conn c;
	struct shmring *ring;
	natsSubscription *sub;
	size_t elem, batch;
	uint64_t instance;
	uint64_t last_reject_log, last_hold_log, last_sub_log;
	/* Messages may have been delivered toward us and lost (a crash of the
	 * previous bridge, a dropped connection, a fetch that timed out): they
	 * come back only after AckWait, so anything fetched meanwhile would
	 * overtake them. While suspect, a batch is pushed only when the
	 * consumer has no unacknowledged message outside it. */
	bool suspect;
	char stream[256]; /* the consumer's stream, from the messages' metadata */
	/* Tests: SHMRING_BRIDGE_CRASH_AFTER_BATCH=K kills the bridge (SIGKILL)
	 * when it pushed its K-th batch, before it acknowledges it: the moment
	 * that makes JetStream deliver the batch again. By default after the
	 * batch is in the record (it is not pushed again); with
	 * SHMRING_BRIDGE_CRASH_POINT=commit right after its first run of
	 * elements is committed, before the record has it (that run is). */
	long crash_after;
	bool crash_at_commit;
	/* Tests: SHMRING_BRIDGE_STREAM_INFO_FAILS=N: the first N asks for the
	 * stream's info fail (a server slow to answer). */
	long info_fails;
	/* Tests: SHMRING_BRIDGE_DELIVERED_AS_FIRST=1: every delivery counts as
	 * a first one, as nats-server before 2.10.14 can say of a redelivery. */
	bool as_first;
	long batches;
	/* The consumer sequence of the last delivery taken (0: none since the
	 * subscribe). */
	uint64_t last_cseq;
	/* The record (struct bridge_record) is used once it is known to be
	 * this ring's and this stream's; the ack floor is taken into it every
	 * second. */
	bool record_ok;
	int record_tries;
	uint64_t consumer_created; /* as the consumer's info last said */
	uint64_t record_tried_ns, floor_checked_ns, last_stale_log;
};

/* The consumer's stream: as its messages name it, else as given or made. */
static const char *in_stream(const struct in *b)
{
	return b->stream[0]	   ? b->stream :
	       b->o->stream	   ? b->o->stream :
	       b->o->create_stream ? b->o->create_stream :
				     "";
}

/* ---- the record of what was pushed (struct bridge_record) --------------- */

static bool record_has(const struct bridge_record *r, uint64_t seq, uint64_t ts,
		       uint64_t consumer)
{
	/* Nothing pushed yet for this owner, or stored after the top: not
	 * one the record has (a stream restored from a backup keeps its
	 * creation time but numbers new messages as the old ones). */
	if (!seq || !r->top || ts > r->top_ts)
		return false;
	/* The floor is one consumer's: another (of another subject, or made
	 * again) has its own. */
	if (seq <= r->floor && r->floor_consumer == consumer)
		return true;
	return seq <= r->top && r->top - seq < BRIDGE_RECORD_BITS &&
	       (r->bits[(seq % BRIDGE_RECORD_BITS) / 64] >> (seq % 64) & 1);
}

/* Bit SEQ of the record, to V. */
static void record_bit(struct bridge_record *r, uint64_t seq, bool v)
{
	uint64_t *w = &r->bits[(seq % BRIDGE_RECORD_BITS) / 64], m = 1ull << (seq % 64);

	*w = v ? *w | m : *w & ~m;
}

/* SEQ, stored at TS, went into the ring (its run is committed). */
static void record_pushed(struct bridge_record *r, uint64_t seq, uint64_t ts)
{
	if (!seq)
		return;
	if (seq > r->top) {
		/* The sequences between were not pushed (other subjects of
		 * the stream, or not delivered yet): clear their bits, left
		 * from a lap before, before TOP covers them. */
		if (seq - r->top >= BRIDGE_RECORD_BITS)
			memset(r->bits, 0, sizeof(r->bits));
		else
			for (uint64_t s = r->top + 1; s < seq; s++)
				record_bit(r, s, false);
		record_bit(r, seq, true);
		r->top_ts = ts;
		atomic_signal_fence(memory_order_seq_cst); /* bits, time before top */
		r->top = seq;
	} else if (r->top - seq < BRIDGE_RECORD_BITS) {
		record_bit(r, seq, true);
	}
}

/* The record applies to ring instance INSTANCE and the stream made at
 * CREATED; another one starts it over. */
static void record_own(struct bridge_record *r, uint64_t instance, uint64_t created)
{
	if (r->instance == instance && r->stream_created == created)
		return;
	r->instance = 0;
	r->stream_created = 0;
	atomic_signal_fence(memory_order_seq_cst); /* a crash: owned by none */
	r->top = 0;
	r->top_ts = 0;
	r->floor = 0;
	r->floor_consumer = 0;
	memset(r->bits, 0, sizeof(r->bits));
	atomic_signal_fence(memory_order_seq_cst);
	r->instance = instance;
	r->stream_created = created;
}

/* Whose the record is must be checked again (in_own_record), at once. */
static void in_record_unknown(struct in *b)
{
	b->record_ok = false;
	b->record_tries = 0;
	b->record_tried_ns = 0;
}

/* Takes the ack floor in CI into the record (once the record is this
 * stream's): a floor lower than the record's (a server that lost the
 * consumer's state, a cluster leader behind) leaves it. */
static void in_note_floor(struct in *b, const jsConsumerInfo *ci)
{
	/* A consumer made again (by hand, or after its stream was): check
	 * again whose the record is before it drops anything. */
	if (b->consumer_created != (uint64_t)ci->Created) {
		if (b->consumer_created)
			in_record_unknown(b);
		b->consumer_created = (uint64_t)ci->Created;
	}
	if (b->record_ok) {
		struct bridge_record *r = &b->st->record;

		if (r->floor_consumer != b->consumer_created) {
			r->floor = 0;
			atomic_signal_fence(memory_order_seq_cst);
			r->floor_consumer = b->consumer_created;
			atomic_signal_fence(memory_order_seq_cst);
		}
		if (ci->AckFloor.Stream > r->floor)
			r->floor = ci->AckFloor.Stream;
	}
	b->floor_checked_ns = bridge_now_ns();
}

/* The consumer's info from the server (noting its ack floor), or NULL
 * with *SP and *JERR saying why. */
static jsConsumerInfo *in_consumer_info(struct in *b, natsStatus *sp, jsErrCode *jerr)
{
	jsConsumerInfo *ci = NULL;

	*jerr = 0;
	*sp = in_stream(b)[0] ? js_GetConsumerInfo(&ci, b->c.js, in_stream(b),
						   b->o->durable, NULL, jerr) :
				NATS_NOT_FOUND;
	if (*sp != NATS_OK)
		return NULL;
	in_note_floor(b, ci);
	return ci;
}

/* --dedup: the journal, emptied, for ring instance INSTANCE. */
static void journal_empty(struct bridge_journal *j, uint64_t instance)
{
	memset(j, 0, sizeof(*j));
	j->instance = instance;
}

/* --dedup, once the record is known to be this stream's (the journal was
 * emptied if it was not): every entry is a committed push (journal_start
 * dropped the others), so the record takes them all, oldest first. That adds
 * what a dead bridge pushed between its last commit and its record, and
 * anything pushed while the record's owner was unknown; the record then
 * says what was pushed whatever count of deliveries the server gives. */
static void journal_replay(struct in *b)
{
	const struct bridge_journal *j = &b->st->journal;

	for (uint64_t k = 0; k < BRIDGE_JOURNAL; k++) {
		size_t x = (size_t)((j->head + k) % BRIDGE_JOURNAL);

		record_pushed(&b->st->record, j->e[x].seq, j->e[x].ts);
	}
}

/* Asks for the stream's info at most this many times per subscribe; --dedup
 * holds batches back meanwhile, so it tries longer. */
static int in_record_tries(const struct in *b)
{
	return b->o->dedup ? 30 : 5;
}

/* Makes the record this ring's and this stream's (by its creation time),
 * once the stream's name is known; until then nothing is recorded or
 * dropped. */
static void in_own_record(struct in *b)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	uint64_t now = bridge_now_ns();
	natsStatus s;

	/* Asked once a second at most, in_record_tries() times: a user
	 * without the right to read the stream's info (whose requests time
	 * out) gets no record and no drops, and no more waits than that. */
	if (b->record_ok || b->record_tries >= in_record_tries(b) || !in_stream(b)[0] ||
	    now - b->record_tried_ns < 1000000000ull)
		return;
	b->record_tried_ns = now;
	if (b->info_fails > 0) {
		b->info_fails--;
		s = NATS_TIMEOUT;
	} else {
		s = js_GetStreamInfo(&si, b->c.js, in_stream(b), NULL, &jerr);
	}
	if (s != NATS_OK) {
		if (++b->record_tries == in_record_tries(b))
			bridge_log(b->o,
				   "stream %s: %s (JetStream error %d): no record of "
				   "what is pushed, so what JetStream delivers again is "
				   "pushed again",
				   in_stream(b), natsStatus_GetText(s), (int)jerr);
		return;
	}
	if (b->st->record.instance != b->instance ||
	    b->st->record.stream_created != (uint64_t)si->Created) {
		/* Another stream: the --dedup journal's sequences are the old
		 * one's too. */
		journal_empty(&b->st->journal, b->instance);
	}
	record_own(&b->st->record, b->instance, (uint64_t)si->Created);
	jsStreamInfo_Destroy(si);
	if (b->o->dedup)
		journal_replay(b);
	b->record_ok = true;
}

/* Logs the consumer's state as the server reports it, after WHY. */
static void in_log_consumer(struct in *b, const char *why)
{
	jsErrCode jerr;
	natsStatus s;
	jsConsumerInfo *ci = in_consumer_info(b, &s, &jerr);

	if (!ci) {
		bridge_log(b->o, "%s; consumer %s: %s (JetStream error %d)", why,
			   b->o->durable, natsStatus_GetText(s), (int)jerr);
		return;
	}
	bridge_log(b->o,
		   "%s; consumer %s: delivered up to stream message %" PRIu64
		   ", acknowledged up to %" PRIu64 " (%" PRIu64 " here), %" PRId64
		   " unacknowledged, %" PRIu64 " waiting",
		   why, b->o->durable, ci->Delivered.Stream, ci->AckFloor.Stream,
		   b->st->record.floor, ci->NumAckPending, ci->NumPending);
	jsConsumerInfo_Destroy(ci);
}

static bool in_subscribe(struct in *b)
{
	const struct bridge_opts *o = b->o;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;

	jsSubOptions_Init(&so);
	so.Stream = o->stream;
	so.Config.AckPolicy = js_AckExplicit;
	so.Config.AckWait = (int64_t)o->ack_wait_ms * MS;
	so.Config.MaxDeliver = -1;
	/* One batch unacknowledged at most: what a crash can leave behind. */
	so.Config.MaxAckPending = (int64_t)b->batch;
	/* The stream as the messages will name it again: it may be another
	 * one now. */
	b->stream[0] = 0;
	s = js_PullSubscribe(&b->sub, b->c.js, o->subject, o->durable, NULL, &so, &jerr);
	if (s != NATS_OK) {
		uint64_t now = bridge_now_ns();
		const char *why = nats_GetLastError(NULL);

		b->sub = NULL;
		/* Said every 10 s: a durable made with another --batch or
		 * --ack-wait is refused until it is removed or changed. */
		if (o->verbose || now - b->last_sub_log > 10000000000ull) {
			b->last_sub_log = now;
			bridge_log(
				o,
				"pull subscription %s on %s: %s: %s (JetStream error %d)",
				o->durable, o->subject, natsStatus_GetText(s),
				why ? why : "", (int)jerr);
		}
		return false;
	}
	b->suspect = true;
	b->last_cseq = 0;
	in_record_unknown(b);
	in_own_record(b);
	{
		char why[512];

		snprintf(why, sizeof(why), "pulling %s with durable consumer %s",
			 o->subject, o->durable);
		in_log_consumer(b, why);
	}
	return true;
}

/* --dedup: the journal in the counter file. */
static void journal_start(struct in *b)
{
	struct bridge_journal *j = &b->st->journal;
	uint64_t q = shmring_position(b->ring);
	size_t dropped = 0;

	if (j->instance != b->instance) {
		journal_empty(j, b->instance);
		return;
	}
	/* Positions at or above the producer's were never committed, and the
	 * next pushes will use them again. */
	for (size_t i = 0; i < BRIDGE_JOURNAL; i++)
		if (j->e[i].seq && j->e[i].pos >= q) {
			j->e[i].seq = 0;
			dropped++;
		}
	if (dropped)
		bridge_log(b->o,
			   "dedup: %zu message(s) were fetched but not pushed before the "
			   "last stop",
			   dropped);
}

/* Tests: dies (SIGKILL) with stream messages FIRST..LAST pushed. */
static void in_crash(const struct in *b, uint64_t first, uint64_t last)
{
	/* Stopping: the drain is what is tested now. */
	if (bridge_stop)
		return;
	if (b->o->verbose > 1)
		bridge_log(b->o,
			   "crashing after pushing stream messages %" PRIu64 "..%" PRIu64
			   " (%s)",
			   first, last, b->crash_at_commit ? "not recorded" : "recorded");
	raise(SIGKILL);
}

/* Pushes MSGS[0..N) (all of the ring's size) with their stream sequences
 * SEQS and stored times TSS; returns how many went in (fewer only when
 * stopping on a full ring). */
static size_t in_push(struct in *b, natsMsg **msgs, const uint64_t *seqs,
		      const uint64_t *tss, size_t n)
{
	const struct bridge_opts *o = b->o;
	size_t done = 0;
	uint64_t give_up = 0;

	while (done < n) {
		void *first;
		size_t stride;
		ssize_t r = shmring_reserve(b->ring, n - done, &first, &stride);
		uint64_t pos;

		if (r < 0) {
			bridge_log(o, "reserve: %s", strerror(errno));
			return done;
		}
		if (r == 0) {
			/* Full: other producers took the room. Wait; when
			 * stopping, give up after a while (the rest is
			 * delivered again to the next bridge). */
			if (bridge_stop) {
				if (!give_up)
					give_up = bridge_now_ns() + 2000 * MS;
				else if (bridge_now_ns() > give_up)
					return done;
			}
			shmring_wait(b->ring, 100 * MS);
			continue;
		}
		pos = shmring_position(b->ring);
		for (size_t i = 0; i < (size_t)r; i++) {
			char *slot = (char *)first + i * stride;

			memcpy(slot, natsMsg_GetData(msgs[done + i]), b->elem);
			if (o->seq_offset >= 0)
				memcpy(slot + o->seq_offset, &seqs[done + i], 8);
		}
		if (o->dedup) {
			struct bridge_journal *j = &b->st->journal;

			for (size_t i = 0; i < (size_t)r; i++) {
				size_t x = (size_t)(j->head++ % BRIDGE_JOURNAL);

				j->e[x].pos = pos + i;
				j->e[x].ts = tss[done + i];
				j->e[x].seq = seqs[done + i];
			}
			/* The journal is in place before the elements are
			 * published (a killed process's stores stay). */
			atomic_thread_fence(memory_order_seq_cst);
		}
		if (shmring_commit(b->ring, (size_t)r)) {
			bridge_log(o, "commit: %s", strerror(errno));
			if (o->dedup) { /* not pushed: out of the journal */
				struct bridge_journal *j = &b->st->journal;

				for (size_t i = 0; i < (size_t)r; i++)
					j->e[(size_t)(--j->head % BRIDGE_JOURNAL)].seq =
						0;
			}
			return done;
		}
		atomic_fetch_add(&b->st->c.forwarded, (uint64_t)r);
		if (b->crash_at_commit && b->batches == b->crash_after)
			in_crash(b, seqs[done], seqs[done + (size_t)r - 1]);
		/* Right after the commit: a crash between the two is the one
		 * way to push a message twice (--dedup closes it). */
		for (size_t i = 0; b->record_ok && i < (size_t)r; i++)
			record_pushed(&b->st->record, seqs[done + i], tss[done + i]);
		BRIDGE_PROBE(push, o->ring, pos, (size_t)r);
		done += (size_t)r;
	}
	return done;
}

struct fetched {
	natsMsg *m;
	uint64_t seq, delivered, ts;
};

static int fetched_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct fetched *)a)->seq,
		 y = ((const struct fetched *)b)->seq;

	return x < y ? -1 : x > y;
}

/* Nak: delivered again at once, behind what the consumer owes before. */
static void hand_back(struct fetched *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		natsMsg_Nak(f[i].m, NULL);
}

/* While suspect: true when the consumer has no unacknowledged message but
 * the N we hold, so pushing them keeps the stream's order. Otherwise hands
 * them back (Nak), to be delivered again behind the older ones. */
static bool in_in_order(struct in *b, struct fetched *f, size_t n)
{
	jsErrCode jerr;
	natsStatus s;
	/* By name: the subscription's own info call fails (invalid
	 * subscription) when it bound to a durable that existed already. */
	jsConsumerInfo *ci = in_consumer_info(b, &s, &jerr);
	int64_t pending = s == NATS_OK ? ci->NumAckPending : -1;
	uint64_t floor = s == NATS_OK ? ci->AckFloor.Stream : 0, now = bridge_now_ns();
	int queued = 0;

	jsConsumerInfo_Destroy(ci);
	if (s == NATS_OK && natsSubscription_GetPending(b->sub, &queued, NULL) != NATS_OK)
		queued = 0;
	/* In order when nothing older than our batch is unacknowledged: the
	 * server counts no unacknowledged message but ours (counted when it
	 * answered, so also those still on their way to us: a late delivery
	 * only makes us wait); or the ack floor is right below our first
	 * message (a stream of this subject alone) and what the count has
	 * beyond ours is what the client already holds for later fetches
	 * (newer than ours). Both signals must agree for the second. */
	bool contiguous = true;

	/* The second signal needs our batch to follow the floor with no gap:
	 * the client's queue may hold status messages too, so its count
	 * alone cannot vouch for a missing one. */
	for (size_t i = 0; i < n && contiguous; i++)
		contiguous = f[i].seq == floor + 1 + i;
	if (s == NATS_OK &&
	    (pending <= (int64_t)n || (contiguous && pending - queued <= (int64_t)n))) {
		b->suspect = false;
		return true;
	}
	hand_back(f, n);
	if (b->o->verbose || now - b->last_hold_log > 1000000000ull) {
		b->last_hold_log = now;
		if (pending < 0)
			bridge_log(b->o, "consumer info: %s; handing %zu message(s) back",
				   natsStatus_GetText(s), n);
		else
			bridge_log(
				b->o,
				"%lld other message(s) unacknowledged: handing %zu back "
				"until the older ones are delivered again first",
				(long long)(pending - (int64_t)n), n);
	}
	sleep_ms(50);
	return false;
}

/* --dedup: true (the N messages handed back) while whose the record and the
 * journal are is not known yet: a push then could not be told from one of
 * another stream. Bounded by in_record_tries(). */
static bool in_hold(struct in *b, struct fetched *f, size_t n)
{
	if (!b->o->dedup || b->record_ok || b->record_tries >= in_record_tries(b) ||
	    !in_stream(b)[0])
		return false;
	if (b->o->verbose)
		bridge_log(b->o,
			   "handing %zu message(s) back until the stream's info says "
			   "whose the record is",
			   n);
	hand_back(f, n);
	b->suspect = true; /* what comes next must not overtake them */
	sleep_ms(100);
	return true;
}

static void in_batch(struct in *b, natsMsgList *list)
{
	const struct bridge_opts *o = b->o;
	size_t count = (size_t)list->Count, n = 0, pushed;
	struct fetched *f = malloc(count * sizeof(*f));
	natsMsg **keep = malloc(count * sizeof(*keep));
	uint64_t *seqs = malloc(count * sizeof(*seqs)),
		 *tss = malloc(count * sizeof(*tss));

	if (!f || !keep || !seqs || !tss)
		goto out; /* unacknowledged: delivered again */
	for (size_t i = 0; i < count; i++) {
		jsMsgMetaData *meta = NULL;

		f[i] = (struct fetched){ .m = list->Msgs[i], .delivered = 1 };
		if (natsMsg_GetMetaData(&meta, f[i].m) == NATS_OK) {
			if (!b->stream[0] && meta->Stream)
				snprintf(b->stream, sizeof(b->stream), "%s",
					 meta->Stream);
			f[i].seq = meta->Sequence.Stream;
			f[i].delivered = b->as_first ? 1 : meta->NumDelivered;
			f[i].ts = (uint64_t)meta->Timestamp;
			/* The consumer numbers its deliveries: a gap is one
			 * lost on the way (a connection dropped, a slow
			 * consumer's drop in the client), delivered again only
			 * after AckWait: the ones after it must wait. */
			if (b->last_cseq && meta->Sequence.Consumer != b->last_cseq + 1)
				b->suspect = true;
			b->last_cseq = meta->Sequence.Consumer;
			jsMsgMetaData_Destroy(meta);
		}
		if (f[i].delivered > 1) {
			atomic_fetch_add(&b->st->c.redelivered, 1);
			b->suspect = true;
		}
	}
	/* Redeliveries come first in a batch, but not necessarily sorted
	 * against each other and the rest. */
	qsort(f, count, sizeof(*f), fetched_cmp);
	{
		/* Pushed before (the record says so): delivered again after a
		 * crash past the push, acks lost with a server, or a server
		 * that lost the consumer's state. Acknowledged again, never
		 * pushed twice; the others keep their order. */
		size_t stale = 0, kept = 0;
		uint64_t lo = 0, hi = 0;

		in_own_record(b); /* the stream's name may have just come */
		if (in_hold(b, f, count))
			goto out;
		for (size_t i = 0; i < count; i++) {
			/* The same delivery twice in one batch (a late one
			 * queued, then its redelivery): once is enough. */
			bool again = i && f[i].seq && f[i].seq == f[i - 1].seq;

			if (again ||
			    (b->record_ok && record_has(&b->st->record, f[i].seq, f[i].ts,
							b->consumer_created))) {
				natsMsg_Ack(f[i].m, NULL);
				lo = stale++ ? lo : f[i].seq;
				hi = f[i].seq;
			} else {
				f[kept++] = f[i];
			}
		}
		if (stale) {
			uint64_t now = bridge_now_ns();

			atomic_fetch_add(&b->st->c.duplicates, stale);
			if (o->verbose || now - b->last_stale_log > 1000000000ull) {
				char why[160];

				b->last_stale_log = now;
				snprintf(why, sizeof(why),
					 "%zu stream message(s) in %" PRIu64 "..%" PRIu64
					 " delivered again, pushed before: "
					 "acknowledged, not pushed again",
					 stale, lo, hi);
				in_log_consumer(b, why);
			}
			count = kept;
			/* The server has these acks before it counts what
			 * is unacknowledged for the rest. */
			natsConnection_FlushTimeout(b->c.nc, 2000);
			if (!count)
				goto out;
		}
	}
	/* The consumer's info it asks for may have shown a consumer made
	 * again, and so a record whose owner is to be checked again. */
	if (b->suspect && (!in_in_order(b, f, count) || in_hold(b, f, count)))
		goto out;
	for (size_t i = 0; i < count; i++) {
		natsMsg *m = f[i].m;
		int len = natsMsg_GetDataLength(m);

		if (len < 0 || (size_t)len != b->elem) {
			uint64_t now = bridge_now_ns();

			natsMsg_Term(m, NULL);
			atomic_fetch_add(&b->st->c.rejected, 1);
			BRIDGE_PROBE(reject, o->ring, f[i].seq, len);
			if (o->verbose || now - b->last_reject_log > 1000000000ull) {
				b->last_reject_log = now;
				bridge_log(o,
					   "stream message %" PRIu64
					   " has %d bytes, the ring's "
					   "elements %zu: terminated, not pushed",
					   f[i].seq, len, b->elem);
			}
			continue;
		}
		if (o->verbose > 1 && f[i].delivered > 1)
			bridge_log(o,
				   "stream message %" PRIu64 " delivered %" PRIu64
				   " times, pushed",
				   f[i].seq, f[i].delivered);
		keep[n] = m;
		tss[n] = f[i].ts;
		seqs[n++] = f[i].seq;
	}
	b->batches += n > 0;
	pushed = in_push(b, keep, seqs, tss, n);
	if (pushed && !b->crash_at_commit && b->batches == b->crash_after)
		in_crash(b, seqs[0], seqs[pushed - 1]);
	for (size_t i = 0; i < pushed; i++)
		natsMsg_Ack(keep[i], NULL);
	/* What could not be pushed (stopping on a full ring) goes back now
	 * rather than after AckWait. */
	for (size_t i = pushed; i < n; i++)
		natsMsg_Nak(keep[i], NULL);
	if (pushed)
		BRIDGE_PROBE(ack, o->ring, seqs[0], pushed);
	/* The server has the acks before the next fetch (with the consumer's
	 * MaxAckPending of one batch): a crash leaves at most this batch
	 * unacknowledged. */
	if (natsConnection_FlushTimeout(b->c.nc, 2000) == NATS_OK) {
		atomic_fetch_add(&b->st->c.acked, pushed);
	} else {
		b->suspect = true;
		if (o->verbose)
			bridge_log(o, "flush of acks: %s", nats_GetLastError(NULL));
	}
out:
	free(f);
	free(keep);
	free(seqs);
	free(tss);
}

int bridge_run_in(const struct bridge_opts *o, struct bridge_stats *st)
{
	/* Static: the client's threads may call back until conn_close ends. */
	static struct in b;
	struct shmring_info info;
	jsOptions jso;
	long backoff = 100;
	int failures = 0, rc = 1;

	b = (struct in){ .o = o, .st = st };
	{
		const char *e = getenv("SHMRING_BRIDGE_CRASH_AFTER_BATCH"),
			   *p = getenv("SHMRING_BRIDGE_CRASH_POINT"),
			   *f = getenv("SHMRING_BRIDGE_STREAM_INFO_FAILS"),
			   *d = getenv("SHMRING_BRIDGE_DELIVERED_AS_FIRST");

		b.crash_after = e ? atol(e) : 0;
		b.info_fails = f ? atol(f) : 0;
		b.as_first = d && atoi(d) > 0;
		b.crash_at_commit = p && !strcmp(p, "commit");
	}
	b.ring = bridge_open_ring(o, SHMRING_PRODUCER, &info);
	if (!b.ring)
		return 1;
	b.elem = info.elem_size;
	/* A batch must fit the ring, or it could never be pushed whole. */
	b.batch = (size_t)o->batch < info.capacity ? (size_t)o->batch : info.capacity;
	b.instance = info.instance;
	if (o->seq_offset >= 0 && (size_t)o->seq_offset + 8 > b.elem) {
		tool_error(
			"bridge in: --seq-offset %ld: 8 bytes do not fit %zu-byte elements",
			o->seq_offset, b.elem);
		goto done;
	}
	if (o->dedup && info.policy != SHMRING_SPSC) {
		tool_error(
			"bridge in: --dedup needs an SPSC ring (the bridge must be its only "
			"producer); use --seq-offset for the ring's consumers instead");
		goto done;
	}
	if (o->dedup)
		journal_start(&b);
	jsOptions_Init(&jso);
	if (!conn_open(&b.c, o, st, &jso))
		goto done;
	if (o->create_stream && !ensure_stream(&b.c)) {
		rc = bridge_stop ? 0 : 1; /* asked to stop while waiting */
		goto done;
	}
	bridge_log(o, "%s -> %s ring, %zu-byte elements, capacity %zu", o->subject,
		   info.policy == SHMRING_SPSC ? "spsc" :
		   info.policy == SHMRING_MPSC ? "mpsc" :
						 "mpmc",
		   info.elem_size, info.capacity);
	while (!bridge_stop) {
		natsMsgList list = { 0 };
		jsErrCode jerr = 0;
		size_t room;
		natsStatus s;
		int want;

		if (!b.sub && !in_subscribe(&b)) {
			sleep_ms(backoff);
			backoff = backoff < 2000 ? backoff * 2 : 2000;
			continue;
		}
		if (bridge_now_ns() - b.floor_checked_ns > 1000000000ull) {
			/* The ack floor moves on: take it into the record. */
			jsErrCode e;
			natsStatus is;

			jsConsumerInfo *ci;

			in_own_record(&b);
			ci = in_consumer_info(&b, &is, &e);
			b.floor_checked_ns = bridge_now_ns(); /* failed: later */
			/* A consumer (or stream) gone with a server's store:
			 * its fetches only time out. Make it again. */
			if (!ci &&
			    (e == JSConsumerNotFoundErr || e == JSStreamNotFoundErr)) {
				bridge_log(o, "consumer %s: %s; subscribing again",
					   o->durable, natsStatus_GetText(is));
				natsSubscription_Destroy(b.sub);
				b.sub = NULL;
				continue;
			}
			jsConsumerInfo_Destroy(ci);
		}
		room = shmring_available(b.ring);
		if (!room) {
			shmring_wait(b.ring, 100 * MS);
			continue;
		}
		want = room < b.batch ? (int)room : (int)b.batch;
		s = natsSubscription_Fetch(&list, b.sub, want, 500, &jerr);
		if (s == NATS_TIMEOUT) {
			/* A late delivery to this request may be lost. */
			b.suspect = true;
			continue;
		}
		if (s != NATS_OK) {
			b.suspect = true;
			if (o->verbose || failures == 0)
				bridge_log(o, "fetch: %s (JetStream error %d)",
					   natsStatus_GetText(s), (int)jerr);
			/* A consumer gone (deleted, or lost with a server's
			 * store) or a subscription the client closed: make it
			 * again. Otherwise wait for the reconnection. */
			if (++failures >= 10 || jerr == JSConsumerNotFoundErr ||
			    s == NATS_INVALID_SUBSCRIPTION ||
			    s == NATS_CONNECTION_CLOSED) {
				natsSubscription_Destroy(b.sub);
				b.sub = NULL;
				failures = 0;
			}
			sleep_ms(backoff);
			backoff = backoff < 2000 ? backoff * 2 : 2000;
			continue;
		}
		failures = 0;
		backoff = 100;
		BRIDGE_PROBE(fetch, o->ring, want, list.Count);
		in_batch(&b, &list);
		natsMsgList_Destroy(&list);
	}
	bridge_log(o, "stopping");
	rc = 0;
done:
	natsSubscription_Destroy(b.sub);
	conn_close(&b.c);
	shmring_close(b.ring);
	if (rc == 0)
		bridge_log(o, "stopped");
	return rc;
}
