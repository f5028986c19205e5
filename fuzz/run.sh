#!/usr/bin/env bash
# Runs one libFuzzer harness for a while on a scratch copy of its seed
# corpus, then says what it did; fails on anything the fuzzer found.
#   fuzz/run.sh HARNESS SEEDS WORKDIR SECONDS TIMEOUT [libFuzzer flags...]
# WORKDIR is emptied first; it ends up holding corpus/ (seeds and what the
# run added), artifacts/ (crash-*, timeout-*, leak-*, oom-*) and fuzz.log.
set -euo pipefail
bin=$1 seeds=$2 work=$3 secs=$4 timeout=$5
shift 5
name=$(basename "$bin")

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
[ -d "$seeds" ] && cp "$seeds"/* "$work/corpus/" 2>/dev/null || true
log=$work/fuzz.log
echo "fuzz: $name for ${secs}s, ${timeout}s per input, $(ls "$work/corpus" | wc -l) seeds"

set +e
# -rss_limit_mb: the harnesses hold a few fixed buffers, far below it.
"$bin" -max_total_time="$secs" -timeout="$timeout" -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" \
	"$work/corpus" >"$log" 2>&1 &
pid=$!
wait $pid
rc=$?
set -e
# fuzz_attach's file, which a crash or a timeout leaves behind.
rm -f "/dev/shm/shmring-fuzz-attach-$pid"

# The last status line: "#N DONE cov: C ft: F corp: U/S ..." (or the last
# pulse/NEW line when the run stopped early).
status=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$status")
found=$(ls "$work/artifacts")

echo "fuzz: $name: ${execs:-?} executions (${speed:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
if [ $rc -ne 0 ] || [ -n "$found" ]; then
	echo "fuzz: $name FAILED (exit $rc); the end of $log:" >&2
	tail -n 80 "$log" >&2
	for f in $found; do
		echo "fuzz: $name found $work/artifacts/$f" >&2
		echo "  reproduce: $bin $work/artifacts/$f" >&2
	done
	exit 1
fi
