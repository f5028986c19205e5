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

# The figure from the table's last line (Mmsg/s for tp, p50 for lat) and
# the round's cache-line round trip, as "figure rt".
figure() {
	local bin=$1 out
	shift
	out=$("$bin" "$cmd" "$@" --reps 1)
	printf '%s %s\n' \
		"$(printf '%s\n' "$out" | sed -n '/^  transport/,/^$/p' | grep -E '^  [a-z]' |
			grep -v '^  transport' | tail -1 |
			awk '{ for (i = 1; i <= NF; i++)
			if ($i ~ /^[0-9.]+$/) { print $i; exit } }')" \
		"$(printf '%s\n' "$out" | sed -n 's/^Placement:.*: \([0-9]*\).*/\1/p')"
}

median() {
	sort -g | awk '{ v[NR] = $1 }
		END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      else print "-" }'
}

# A round is near when both trials saw a round trip under NEAR_NS (250 ns,
# as bench/report.c): ratios are given over all rounds and over near ones.
near_ns=${NEAR_NS:-250}
ra=() rb=() ratio=() near=() placement=()
for ((i = 0; i < rounds; i++)); do
	read -r x xa < <(figure "$a" "$@")
	read -r y yb < <(figure "$b" "$@")
	ra+=("$x") rb+=("$y")
	r=$(awk -v x="$x" -v y="$y" 'BEGIN { print (x > 0) ? y / x : "inf" }')
	ratio+=("$r")
	if [ "${xa:-999999}" -lt "$near_ns" ] && [ "${yb:-999999}" -lt "$near_ns" ]; then
		near+=("$r") placement+=("near")
	else
		placement+=("far(${xa:-?}/${yb:-?})")
	fi
done
echo "A: ${ra[*]}"
echo "B: ${rb[*]}"
echo "placement: ${placement[*]}"
printf 'median A %s, median B %s, median of per-round B/A %s (%d rounds), near rounds only %s (%d)\n' \
	"$(printf '%s\n' "${ra[@]}" | median)" "$(printf '%s\n' "${rb[@]}" | median)" \
	"$(printf '%s\n' "${ratio[@]}" | median)" "$rounds" \
	"$(if [ ${#near[@]} -gt 0 ]; then printf '%s\n' "${near[@]}" | median; else echo -; fi)" "${#near[@]}"
