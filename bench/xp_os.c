// SPDX-License-Identifier: MIT
/*
 * What applications use instead of a shared-memory ring, one producer and one
 * consumer each, always blocking:
 *  - pipe: one write and one read per message; the pipe is sized to hold
 *    the same bytes as the ring (up to /proc/sys/fs/pipe-max-size);
 *  - AF_UNIX SOCK_SEQPACKET: one send and one recv per message, default
 *    socket buffers;
 *  - POSIX message queue (mq_send/mq_receive, the kernel's own named message
 *    queue): sized to the ring's capacity as far as the limits allow;
 *  - eventfd-signalled shared memory: messages in a plain array in the
 *    segment; an "items" eventfd counts what the producer published and a
 *    "spaces" eventfd hands freed slots back. The producer writes "items"
 *    once per message; the consumer reads it once per batch it finds and
 *    returns the batch's slots with one write to "spaces". The syscalls
 *    order the slot copies (the eventfd's lock is taken on both sides).
 * The fds are made in the parent and inherited by the processes.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

struct os_h {
	int fd, fd2;
	size_t elem;
	/* eventfd transport */
	unsigned char *slots;
	uint64_t cap, seq, credit, freed;
};

static const char *os_variant(const struct xp_cfg *c)
{
	(void)c;
	return NULL;
}

static void os_teardown(struct xp_chan *ch)
{
	for (int i = 0; i < 2; i++)
		if (ch->fd[i] >= 0)
			close(ch->fd[i]);
	ch->fd[0] = ch->fd[1] = -1;
}

static void os_close(void *h)
{
	free(h);
}

/* Whole-message I/O: a pipe may split a read at a page boundary. */
static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 1;
}

static int read_all(int fd, void *buf, size_t n)
{
	char *p = buf;

	while (n) {
		ssize_t r = read(fd, p, n);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0)
				errno = EPIPE;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 1;
}

static struct os_h *os_handle(int fd, const struct xp_cfg *c)
{
	struct os_h *h = calloc(1, sizeof(*h));

	if (h) {
		h->fd = fd;
		h->elem = c->elem;
	}
	return h;
}

/* ---- pipe ------------------------------------------------------------------- */

static size_t os_nomem(const struct xp_cfg *c)
{
	(void)c;
	return 0;
}

static long pipe_max(void)
{
	long v = 1 << 20;
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = 1 << 20;
		fclose(f);
	}
	return v;
}

static int pipe_setup(struct xp_chan *ch, const struct xp_cfg *c)
{
	long want = (long)(c->elem * c->cap), max = pipe_max();

	if (pipe2(ch->fd, O_CLOEXEC))
		return -1;
	/* The kernel rounds up to a power of two pages; failing to resize
	 * leaves the default 64 KiB, which is still a fair pipe. */
	fcntl(ch->fd[1], F_SETPIPE_SZ, (int)(want < max ? want : max));
	return 0;
}

static void *pipe_open(struct xp_chan *ch, const struct xp_cfg *c, enum shmring_role role)
{
	return os_handle(role == SHMRING_PRODUCER ? ch->fd[1] : ch->fd[0], c);
}

static int fd_push(void *hp, const void *elem)
{
	struct os_h *h = hp;

	return write_all(h->fd, elem, h->elem);
}

static int fd_pop(void *hp, void *elem)
{
	struct os_h *h = hp;

	return read_all(h->fd, elem, h->elem);
}

const struct xp_ops xp_pipe = {
	.name = "pipe",
	.policies = 1u << SHMRING_SPSC,
	.modes = 1u << WAIT_BLOCK,
	.variant = os_variant,
	.memsize = os_nomem,
	.setup = pipe_setup,
	.teardown = os_teardown,
	.open = pipe_open,
	.close = os_close,
	.push_wait = fd_push,
	.pop_wait = fd_pop,
};

/* ---- AF_UNIX SOCK_SEQPACKET ------------------------------------------------ */

static int seqpacket_setup(struct xp_chan *ch, const struct xp_cfg *c)
{
	(void)c;
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch->fd);
}

static void *seqpacket_open(struct xp_chan *ch, const struct xp_cfg *c,
			    enum shmring_role role)
{
	return os_handle(role == SHMRING_PRODUCER ? ch->fd[0] : ch->fd[1], c);
}

static int seqpacket_push(void *hp, const void *elem)
{
	struct os_h *h = hp;
	ssize_t n;

	while ((n = send(h->fd, elem, h->elem, 0)) < 0 && errno == EINTR)
		;
	return n == (ssize_t)h->elem ? 1 : -1;
}

static int seqpacket_pop(void *hp, void *elem)
{
	struct os_h *h = hp;
	ssize_t n;

	while ((n = recv(h->fd, elem, h->elem, 0)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)h->elem && n >= 0)
		errno = EMSGSIZE; /* a short packet is a broken message */
	return n == (ssize_t)h->elem ? 1 : -1;
}

const struct xp_ops xp_seqpacket = {
	.name = "seqpacket",
	.policies = 1u << SHMRING_SPSC,
	.modes = 1u << WAIT_BLOCK,
	.variant = os_variant,
	.memsize = os_nomem,
	.setup = seqpacket_setup,
	.teardown = os_teardown,
	.open = seqpacket_open,
	.close = os_close,
	.push_wait = seqpacket_push,
	.pop_wait = seqpacket_pop,
};

/* ---- eventfd-signalled shared memory --------------------------------------- */

static size_t efd_memsize(const struct xp_cfg *c)
{
	return c->elem * c->cap;
}

static int efd_setup(struct xp_chan *ch, const struct xp_cfg *c)
{
	(void)c;
	ch->fd[0] = eventfd(0, EFD_CLOEXEC); /* items published */
	ch->fd[1] = eventfd(0, EFD_CLOEXEC); /* slots freed */
	return ch->fd[0] < 0 || ch->fd[1] < 0 ? -1 : 0;
}

static void *efd_open(struct xp_chan *ch, const struct xp_cfg *c, enum shmring_role role)
{
	struct os_h *h = os_handle(ch->fd[0], c);

	if (h) {
		h->fd2 = ch->fd[1];
		h->slots = ch->base;
		h->cap = c->cap;
		h->credit = role == SHMRING_PRODUCER ? c->cap : 0;
	}
	return h;
}

static int efd_push(void *hp, const void *elem)
{
	struct os_h *h = hp;
	uint64_t one = 1, v;

	if (!h->credit) {
		if (read_all(h->fd2, &v, sizeof(v)) < 0)
			return -1;
		h->credit += v;
	}
	memcpy(h->slots + (h->seq++ % h->cap) * h->elem, elem, h->elem);
	h->credit--;
	return write_all(h->fd, &one, sizeof(one));
}

static int efd_pop(void *hp, void *elem)
{
	struct os_h *h = hp;
	uint64_t v;

	if (!h->credit) {
		/* Hand the last batch's slots back before waiting for more. */
		if (h->freed && write_all(h->fd2, &h->freed, sizeof(h->freed)) < 0)
			return -1;
		h->freed = 0;
		if (read_all(h->fd, &v, sizeof(v)) < 0)
			return -1;
		h->credit = v;
	}
	memcpy(elem, h->slots + (h->seq++ % h->cap) * h->elem, h->elem);
	h->credit--;
	h->freed++;
	return 1;
}

const struct xp_ops xp_eventfd = {
	.name = "eventfd+shm",
	.policies = 1u << SHMRING_SPSC,
	.modes = 1u << WAIT_BLOCK,
	.variant = os_variant,
	.memsize = efd_memsize,
	.setup = efd_setup,
	.teardown = os_teardown,
	.open = efd_open,
	.close = os_close,
	.push_wait = efd_push,
	.pop_wait = efd_pop,
};

/* ---- POSIX message queue ----------------------------------------------------- */

/* The most messages a queue may hold: /proc/sys/fs/mqueue/msg_max, which a
 * process with CAP_SYS_RESOURCE may exceed up to the kernel's hard limit. */
static long mq_limit(void)
{
	long v = 10;
	FILE *f = fopen("/proc/sys/fs/mqueue/msg_max", "r");

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = 10;
		fclose(f);
	}
	return v;
}

static int mq_setup(struct xp_chan *ch, const struct xp_cfg *c)
{
	char name[64];
	struct mq_attr a = { .mq_maxmsg = (long)c->cap, .mq_msgsize = (long)c->elem };
	mqd_t q;

	snprintf(name, sizeof(name), "/shmring-bench-%d-%p", (int)getpid(), (void *)ch);
	q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &a);
	if (q == (mqd_t)-1 && errno == EINVAL) {
		/* Above what we may ask for: the largest queue we may have. */
		long max = mq_limit();

		a.mq_maxmsg = a.mq_maxmsg < max ? a.mq_maxmsg : max;
		q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &a);
	}
	if (q == (mqd_t)-1)
		return -1;
	mq_unlink(name); /* nothing left behind, even after a crash */
	ch->fd[0] = q;
	return 0;
}

static void *mq_open_h(struct xp_chan *ch, const struct xp_cfg *c, enum shmring_role role)
{
	(void)role;
	return os_handle(ch->fd[0], c);
}

static int mq_push(void *hp, const void *elem)
{
	struct os_h *h = hp;
	int rc;

	while ((rc = mq_send(h->fd, elem, h->elem, 0)) < 0 && errno == EINTR)
		;
	return rc ? -1 : 1;
}

static int mq_pop(void *hp, void *elem)
{
	struct os_h *h = hp;
	ssize_t n;

	while ((n = mq_receive(h->fd, elem, h->elem, NULL)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)h->elem && n >= 0)
		errno = EMSGSIZE;
	return n == (ssize_t)h->elem ? 1 : -1;
}

const struct xp_ops xp_mqueue = {
	.name = "mqueue",
	.policies = 1u << SHMRING_SPSC | 1u << SHMRING_MPSC | 1u << SHMRING_MPMC,
	.modes = 1u << WAIT_BLOCK,
	.variant = os_variant,
	.memsize = os_nomem,
	.setup = mq_setup,
	.teardown = os_teardown,
	.open = mq_open_h,
	.close = os_close,
	.push_wait = mq_push,
	.pop_wait = mq_pop,
};
