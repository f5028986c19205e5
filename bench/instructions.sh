#!/usr/bin/env bash
# Instructions per call of the data path, counted by callgrind (this VM has
# no hardware counters): shmring-bench's `cost` harness (both ends in one
# process, 64-byte elements) runs under valgrind with collection on only
# inside its measured loop, and each exported try call's inclusive count is
# divided by the number of times it was called. The copy is included.
#   bench/instructions.sh [BENCH_BIN] [ELEM]     (make bench-instr)
# Compare two builds by running it on each (e.g. a worktree of an older
# commit: git worktree add /tmp/old REV && make -C /tmp/old bench-build).
set -euo pipefail
bin=${1:-build/bench/shmring-bench}
elem=${2:-64}
command -v valgrind >/dev/null || {
	echo "instructions: valgrind is not installed (scripts/install-deps.sh bench)" >&2
	exit 2
}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

printf '%-6s %12s %12s   (instructions per call, %s-byte elements, %s)\n' \
	policy try_push try_pop "$elem" "$bin"
for p in spsc mpsc mpmc; do
	valgrind --tool=callgrind --callgrind-out-file="$out/$p" --collect-atstart=no \
		--toggle-collect=cost_rounds "$bin" cost -t shmring -p "$p" -e "$elem" \
		-n 160000 >/dev/null 2>"$out/$p.log" || {
		cat "$out/$p.log" >&2
		exit 1
	}
	# callgrind's format: "cfn=(id) name" names a callee (the name only the
	# first time), "calls=N ..." follows, and the line after it carries the
	# inclusive cost of those calls in its second field.
	awk -v policy="$p" '
		/^c?fn=\(/ {
			id = $1; sub(/^c?fn=/, "", id)
			if (NF > 1) name[id] = $2
			if ($1 ~ /^cfn=/) callee = id
			next
		}
		/^calls=/ { split($1, c, "="); n = c[2]; getline; calls[callee] += n; cost[callee] += $2 }
		END {
			for (id in name) {
				if (name[id] == "shmring_try_push") push = cost[id] / calls[id]
				if (name[id] == "shmring_try_pop") pop = cost[id] / calls[id]
			}
			printf "%-6s %12.1f %12.1f\n", policy, push, pop
		}' "$out/$p"
done
