#!/usr/bin/env bash
# Runs each Criterion test program with a time limit; prints a summary and
# fails if any program failed. Usage: run-tests.sh TIMEOUT_S PROGRAM...
set -u
limit=$1
shift
failed=()
here=$(cd "$(dirname "$0")/.." && pwd)
# Sanitizer builds: fail on the first report, ignore Criterion's own leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/tests/lsan.supp:print_suppressions=0}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
# Each program's output is kept, so that a failure's assertions can be
# printed again at the end, where a CI log's tail shows them.
logs=$(mktemp -d /tmp/shmring-run-tests.XXXXXX)
trap 'rm -rf "$logs"' EXIT
for t in "$@"; do
	name=$(basename "$t")
	start=$(date +%s%N)
	# Criterion runs each test in its own process; -j2 matches the 2-core CI.
	timeout --signal=KILL "$limit" "$t" --jobs="${CRITERION_JOBS:-2}" --short-filename \
		${CRITERION_ARGS:-} 2>&1 | tee "$logs/$name"
	rc=${PIPESTATUS[0]}
	ms=$((($(date +%s%N) - start) / 1000000))
	printf '== %-28s %s (%d.%03d s)\n' "$name" "$([ $rc -eq 0 ] && echo ok || echo "FAILED rc=$rc")" \
		$((ms / 1000)) $((ms % 1000))
	[ $rc -eq 0 ] || failed+=("$name")
done
if [ ${#failed[@]} -gt 0 ]; then
	for name in "${failed[@]}"; do
		printf '\n==== what failed in %s\n' "$name"
		grep -a -A6 -E 'Assertion Failed|\[FAIL\]|CRASH|Timed out|ERROR: .*Sanitizer|runtime error' \
			"$logs/$name" | head -60
		# A test that names the directory of its processes' logs (the
		# bridge tests): their last lines.
		for d in $(grep -a -o 'logs in /tmp/[^) ]*' "$logs/$name" | sort -u | cut -c9-); do
			for f in "$d"/*.log; do
				[ -f "$f" ] || continue
				printf -- '---- %s\n' "$f"
				tail -n 12 "$f" | cut -c1-240
			done
		done
	done
	echo "FAILED: ${failed[*]}"
	exit 1
fi
echo "all ${#} test programs passed"
