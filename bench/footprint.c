// SPDX-License-Identifier: MIT
/*
 * Memory per ring: what shmring_memsize says, split into bytes per slot and
 * fixed overhead (header page and guard line), beside Join's layout and the
 * peers' as laid out here. Bytes per slot come from the public API alone:
 * memsize(capacity + 1) - memsize(capacity).
 *
 * Join (joinframework/join, core/include/join/queue.hpp) rounds the capacity
 * up to a power of two and pads every slot to 64 bytes; multi-producer slots
 * carry a 64-byte-aligned sequence word:
 *   sizeof(QueueSync) + roundPow2(capacity) * sizeof(Slot), QueueSync = 5 * 64.
 */
#include "suite.h"

static const size_t fp_sizes[] = { 8, 64, 256, 1024, 1472, 4096 };
static const size_t fp_caps[] = { 144, 1024, 65536 };

struct footprint {
	size_t payload, shmring, slot, overhead, join, rte, ck;
};

static size_t pow2_at_least(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static size_t join_bytes(enum shmring_policy p, size_t elem, size_t cap)
{
	size_t slot = p == SHMRING_SPSC ? elem : 8 + elem;

	slot = (slot + 63) / 64 * 64;
	return 5 * 64 + pow2_at_least(cap) * slot;
}

static void footprint_of(enum shmring_policy p, size_t elem, size_t cap,
			 struct footprint *fp)
{
	struct xp_cfg c = { .policy = p, .elem = elem, .cap = cap };

	fp->payload = elem * cap;
	fp->shmring = shmring_memsize(p, elem, cap);
	fp->slot = shmring_memsize(p, elem, cap + 1) - fp->shmring;
	fp->overhead = fp->shmring - fp->slot * cap;
	fp->join = join_bytes(p, elem, cap);
	fp->rte = xp_rte_ring.memsize(&c);
	fp->ck = xp_ck_ring.memsize(&c);
}

typedef void (*fp_row)(FILE *f, enum shmring_policy p, const struct footprint *fp,
		       size_t elem, size_t cap);

static void each_ring(FILE *f, bool all_sizes, fp_row row)
{
	for (int p = SHMRING_SPSC; p <= SHMRING_MPMC; p++)
		for (size_t i = 0; i < sizeof(fp_sizes) / sizeof(fp_sizes[0]); i++)
			for (size_t k = 0; k < sizeof(fp_caps) / sizeof(fp_caps[0]);
			     k++) {
				struct footprint fp;

				if (!all_sizes && fp_sizes[i] != 64 &&
				    fp_sizes[i] != 1472)
					continue;
				footprint_of(p, fp_sizes[i], fp_caps[k], &fp);
				row(f, p, &fp, fp_sizes[i], fp_caps[k]);
			}
}

static void text_row(FILE *f, enum shmring_policy p, const struct footprint *fp,
		     size_t elem, size_t cap)
{
	fprintf(f, "  %-5s %5zu %6zu %11zu %11zu %5zu %8zu %11zu %11zu %11zu\n",
		policy_name(p), elem, cap, fp->payload, fp->shmring, fp->slot,
		fp->overhead, fp->join, fp->rte, fp->ck);
}

static void csv_row(FILE *f, enum shmring_policy p, const struct footprint *fp,
		    size_t elem, size_t cap)
{
	fprintf(f, "%s,%zu,%zu,%zu,%zu,%zu,%zu,%zu,%zu,%zu\n", policy_name(p), elem, cap,
		fp->payload, fp->shmring, fp->slot, fp->overhead, fp->join, fp->rte,
		fp->ck);
}

void report_footprint(FILE *f, bool full)
{
	fprintf(f, "\nMemory per ring, bytes (payload = element size x capacity)\n");
	fprintf(f, "  %-5s %5s %6s %11s %11s %5s %8s %11s %11s %11s\n", "", "elem", "cap",
		"payload", "shmring", "/slot", "overhead", "Join", "rte_ring", "ck_ring");
	each_ring(f, full, text_row);
}

int footprint_csv(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "policy,elem,cap,payload,shmring,shmring_slot,shmring_overhead,join,"
		   "rte_ring,ck_ring\n");
	each_ring(f, true, csv_row);
	return fclose(f);
}
