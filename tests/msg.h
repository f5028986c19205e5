/* SPDX-License-Identifier: MIT */
/*
 * Self-checking messages for stress tests, the demo and the benchmarks.
 *
 * A message of any size >= 8 carries its producer id and sequence number and
 * is filled with bytes derived from them; msg_check recomputes everything, so
 * a lost, duplicated, torn or reordered message is caught, not just counted.
 *
 *   bytes 0..7    producer << 48 | seq  (seq < 2^48)
 *   bytes 8..15   checksum of the rest (when size >= 16)
 *   bytes 16..    payload: a keystream of (producer, seq)
 */
#ifndef SHMRING_TEST_MSG_H
#define SHMRING_TEST_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MSG_SEQ_BITS 48
#define MSG_SEQ_MASK ((1ull << MSG_SEQ_BITS) - 1)

static inline uint64_t msg_mix(uint64_t x)
{
	/* splitmix64 finaliser */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Checksum of the payload (bytes 16..size) and the id word. */
static inline uint64_t msg_sum(const unsigned char *m, size_t size, uint64_t id)
{
	uint64_t h = msg_mix(id ^ (uint64_t)size);
	size_t i = 16;

	for (; i + 8 <= size; i += 8) {
		uint64_t w;

		memcpy(&w, m + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
	}
	for (; i < size; i++)
		h = (h ^ m[i]) * 0x100000001b3ull;
	return h;
}

static inline void msg_fill(void *buf, size_t size, uint32_t producer, uint64_t seq)
{
	unsigned char *m = buf;
	uint64_t id = (uint64_t)producer << MSG_SEQ_BITS | (seq & MSG_SEQ_MASK);
	uint64_t k = msg_mix(id);

	memcpy(m, &id, size < 8 ? size : 8);
	if (size < 16) {
		for (size_t i = 8; i < size; i++)
			m[i] = (unsigned char)(k >> (8 * (i % 8)));
		return;
	}
	for (size_t i = 16; i < size; i += 8) {
		size_t n = size - i < 8 ? size - i : 8;

		k = msg_mix(k);
		memcpy(m + i, &k, n);
	}
	uint64_t sum = msg_sum(m, size, id);
	memcpy(m + 8, &sum, 8);
}

/* 0 if BUF is a well-formed message; its producer and seq go out. */
static inline int msg_check(const void *buf, size_t size, uint32_t *producer,
			    uint64_t *seq)
{
	unsigned char want[16];
	const unsigned char *m = buf;
	uint64_t id, sum;

	memcpy(&id, m, 8);
	*producer = (uint32_t)(id >> MSG_SEQ_BITS);
	*seq = id & MSG_SEQ_MASK;
	if (size < 16) {
		msg_fill(want, size, *producer, *seq);
		return memcmp(want, m, size) ? -1 : 0;
	}
	memcpy(&sum, m + 8, 8);
	if (sum != msg_sum(m, size, id))
		return -1;
	/* The checksum covers the payload; the payload must also be the one
	 * this (producer, seq) writes, so a stale but intact slot is caught. */
	uint64_t k = msg_mix(id), w = 0;
	if (size >= 24) {
		k = msg_mix(k);
		memcpy(&w, m + 16, 8);
		if (w != k)
			return -1;
	}
	return 0;
}

#endif /* SHMRING_TEST_MSG_H */
