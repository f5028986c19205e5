#!/usr/bin/env bash
# A/B of two builds of shmring-bench on one configuration, for judging a
# library change on a noisy machine: the two binaries run alternately, one
# trial each per round, and the ratio B/A is taken per round (both measured
# seconds apart), then the median over rounds.
#   bench/ab.sh BIN_A BIN_B ROUNDS tp|lat [shmring-bench options...]
# e.g. bench/ab.sh build/bench/shmring-bench /tmp/patched/build/bench/shmring-bench \
#        9 tp -t shmring -p spsc -e 64 --ms 150
# Throughput compares Mmsg/s (B/A > 1: B is faster); latency compares p50
# (B/A < 1: B is faster).
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,10p' "$0"; exit 2; }
a=$1 b=$2 rounds=$3 cmd=$4
shift 4

# The figure from the table's last line: Mmsg/s for tp, p50 for lat.
figure() {
	local bin=$1
	shift
	"$bin" "$cmd" "$@" --reps 1 | grep -E '^  [a-z]' | grep -v '^  transport' | tail -1 |
		awk '{ for (i = 1; i <= NF; i++)
		if ($i ~ /^[0-9.]+$/) { print $i; exit } }'
}

median() {
	sort -g | awk '{ v[NR] = $1 }
		END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ra=() rb=() ratio=()
for ((i = 0; i < rounds; i++)); do
	x=$(figure "$a" "$@")
	y=$(figure "$b" "$@")
	ra+=("$x") rb+=("$y")
	ratio+=("$(awk -v x="$x" -v y="$y" 'BEGIN { print (x > 0) ? y / x : "inf" }')")
done
echo "A: ${ra[*]}"
echo "B: ${rb[*]}"
printf 'median A %s, median B %s, median of per-round B/A %s (%d rounds)\n' \
	"$(printf '%s\n' "${ra[@]}" | median)" "$(printf '%s\n' "${rb[@]}" | median)" \
	"$(printf '%s\n' "${ratio[@]}" | median)" "$rounds"
