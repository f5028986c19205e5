/* SPDX-License-Identifier: MIT */
/*
 * Every message a benchmark moves is checked, built on tests/msg.h.
 *
 * A full msg_fill/msg_check costs a keystream and a checksum over the whole
 * message: for 4096 B that is microseconds, far more than the ring, and it
 * would measure the checker instead of the transport. So:
 *  - sampled messages (seq a multiple of vmsg_every(size)) are full tests/msg.h
 *    messages and get a full msg_check;
 *  - the others carry the msg.h id word (producer << 48 | seq), a header word
 *    derived from it and, from 24 B up, a tail word derived from it, and are
 *    checked on those three words.
 * The id catches loss, duplication and reordering of every message; the
 * header and tail words catch a slot copied from another message, or only in
 * part; the sample checks payloads byte for byte. Messages under 24 B are
 * always full msg.h messages (that is as cheap as the short form).
 */
#ifndef SHMRING_BENCH_VERIFY_H
#define SHMRING_BENCH_VERIFY_H

#include "msg.h"

#include <stdbool.h>

/* Producer id of the messages that end a trial. */
#define VMSG_STOP     0xffffu
#define VMSG_HDR_KEY  0x5bd1e9955bd1e995ull
#define VMSG_TAIL_KEY 0xc2b2ae3d27d4eb4full

/* Full checks every 64 messages up to 256 B, then rarer so that the full
 * check stays a few percent of the copy: one in ~size/4 messages. */
static inline uint64_t vmsg_every(size_t size)
{
	uint64_t n = 64;

	while (n < size / 4)
		n <<= 1;
	return n;
}

static inline bool vmsg_full(size_t size, uint64_t seq)
{
	return size < 24 || (seq & (vmsg_every(size) - 1)) == 0;
}

static inline void vmsg_stamp(void *buf, size_t size, uint32_t producer, uint64_t seq)
{
	unsigned char *m = buf;
	uint64_t id = (uint64_t)producer << MSG_SEQ_BITS | (seq & MSG_SEQ_MASK);
	uint64_t hdr = id ^ VMSG_HDR_KEY, tail = id ^ VMSG_TAIL_KEY;

	if (vmsg_full(size, seq)) {
		msg_fill(buf, size, producer, seq);
		return;
	}
	memcpy(m, &id, 8);
	memcpy(m + 8, &hdr, 8);
	memcpy(m + size - 8, &tail, 8);
}

/* 0 if BUF is a well-formed message; its producer and seq go out. */
static inline int vmsg_check(const void *buf, size_t size, uint32_t *producer,
			     uint64_t *seq)
{
	const unsigned char *m = buf;
	uint64_t id, hdr, tail;

	memcpy(&id, m, 8);
	*producer = (uint32_t)(id >> MSG_SEQ_BITS);
	*seq = id & MSG_SEQ_MASK;
	if (vmsg_full(size, *seq))
		return msg_check(buf, size, producer, seq);
	memcpy(&hdr, m + 8, 8);
	memcpy(&tail, m + size - 8, 8);
	return hdr == (id ^ VMSG_HDR_KEY) && tail == (id ^ VMSG_TAIL_KEY) ? 0 : -1;
}

#endif /* SHMRING_BENCH_VERIFY_H */
