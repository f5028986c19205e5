// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * shmring's eBPF tracer (libbpf CO-RE): attached by `shmring trace` to the
 * library's USDT probes, it keeps per-ring statistics in a per-CPU hash map
 * that user space reads every second. See src/probes.h for the probes and
 * their arguments, bpf/shmring_trace.h for the map's layout.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "shmring_trace.h"

/* The USDT argument readers call bpf_probe_read_user, a GPL-only helper: the
 * kernel loads this program only with a GPL-compatible license string. This
 * file alone is dual licensed for that reason (see LICENSE). */
char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by user space before load: trace only this process (0: all). */
const volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SHMRING_TRACE_RINGS);
	__type(key, struct shmring_trace_key);
	__type(value, struct shmring_trace_stats);
} rings SEC(".maps");

/* The key is too big for comfort on the 512-byte stack next to the helpers'
 * frames: build it in a per-CPU scratch slot instead. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shmring_trace_key);
} scratch SEC(".maps");

/* Events lost because the map was full: user space warns. */
__u64 dropped = 0;

static const struct shmring_trace_stats zero_stats;

static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 r = 0;

	if (!v)
		return 0;
	/* floor(log2(v)) by halving: BPF has no count-leading-zeros. */
	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	r += 1;
	return r < SHMRING_TRACE_SLOTS ? r : SHMRING_TRACE_SLOTS - 1;
}

/* The statistics of the ring (HANDLE, NAME) in this process, created on
 * first use; NULL when the process is filtered out or the map is full. */
static __always_inline struct shmring_trace_stats *ring_stats(const void *handle,
							      const char *name)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, zero = 0;
	struct shmring_trace_stats *st;
	struct shmring_trace_key *key;

	if (target_tgid && tgid != target_tgid)
		return NULL;
	key = bpf_map_lookup_elem(&scratch, &zero);
	if (!key)
		return NULL;
	/* The whole key takes part in hashing: clear what the name does not
	 * fill. */
	__builtin_memset(key, 0, sizeof(*key));
	if (bpf_probe_read_user_str(key->name, sizeof(key->name), name) <= 1) {
		key->name[0] = 0;
		key->tgid = tgid;
		key->handle = (__u64)(unsigned long)handle;
	}
	st = bpf_map_lookup_elem(&rings, key);
	if (st)
		return st;
	/* BPF_NOEXIST: another CPU may have created it meanwhile, fine. */
	if (bpf_map_update_elem(&rings, key, &zero_stats, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&rings, key)) {
		__sync_fetch_and_add(&dropped, 1);
		return NULL;
	}
	return bpf_map_lookup_elem(&rings, key);
}

static __always_inline int role_index(long role)
{
	return role == 2 ? 1 : 0; /* SHMRING_CONSUMER : SHMRING_PRODUCER */
}

/* The map is per-CPU and a probe runs to completion on one CPU: plain
 * increments suffice. */
static __always_inline void moved(const void *ring, const char *name, long occupancy,
				  long capacity, long count, int ev)
{
	struct shmring_trace_stats *st = ring_stats(ring, name);

	if (!st)
		return;
	st->capacity = capacity;
	st->events[ev]++;
	st->moved[ev == SHMRING_EV_POP] += count;
	st->occupancy[log2_slot(occupancy)]++;
}

static __always_inline void event(const void *ring, const char *name, int ev)
{
	struct shmring_trace_stats *st = ring_stats(ring, name);

	if (st)
		st->events[ev]++;
}

SEC("usdt")
int BPF_USDT(on_open, void *ring, const char *name, int policy, int role, long elem_size,
	     long capacity)
{
	struct shmring_trace_stats *st = ring_stats(ring, name);

	if (st) {
		st->capacity = capacity;
		st->events[SHMRING_EV_OPEN]++;
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(on_close, void *ring, const char *name)
{
	event(ring, name, SHMRING_EV_CLOSE);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_push, void *ring, const char *name, long occupancy, long capacity,
	     long count)
{
	moved(ring, name, occupancy, capacity, count, SHMRING_EV_PUSH);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_pop, void *ring, const char *name, long occupancy, long capacity,
	     long count)
{
	moved(ring, name, occupancy, capacity, count, SHMRING_EV_POP);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_full, void *ring, const char *name, long capacity)
{
	struct shmring_trace_stats *st = ring_stats(ring, name);

	if (st) {
		st->capacity = capacity;
		st->events[SHMRING_EV_FULL]++;
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(on_empty, void *ring, const char *name)
{
	event(ring, name, SHMRING_EV_EMPTY);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_sleep, void *ring, const char *name)
{
	event(ring, name, SHMRING_EV_SLEEP);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_wake, void *ring, const char *name, int role, long slept_ns)
{
	struct shmring_trace_stats *st = ring_stats(ring, name);
	int i = role_index(role);

	if (!st)
		return 0;
	st->events[SHMRING_EV_WAKE]++;
	st->slept[i][log2_slot(slept_ns)]++;
	st->slept_ns[i] += slept_ns;
	return 0;
}

SEC("usdt")
int BPF_USDT(on_notify, void *ring, const char *name)
{
	event(ring, name, SHMRING_EV_NOTIFY);
	return 0;
}
