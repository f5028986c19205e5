#!/usr/bin/env bash
# Checks the wakeup protocol models with spin (make model, .ci/run):
#   eventcount.pml  blocking waits: two producers, two consumers, both
#                   directions, store buffers (src/wait.c, mp.h)
#   waitfd.pml      pollable fds: the waiter thread and io_uring backends
#                   with a publisher (src/waitfd.c)
# Every safe variant must have no error; every control must fail (the model
# can tell: a lost wakeup found where the code would have one); every
# witness must fail (the model reaches the situation named). The search is
# exhaustive everywhere: no bitstate, no hash compaction. -DSAFETY (no
# cycle checks: the properties are assertions) and -DCOLLAPSE (lossless
# state compression, for memory only).
#
# Usage: model/check.sh [WORKDIR]    (JOBS=n runs n checks at once: nproc)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-$(mktemp -d)}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
mkdir -p "$work"
work=$(cd "$work" && pwd)

# name | model | spin -D flags | expected: safe, lost (a control), reached
# (a witness) | what it is
variants=(
	"FENCE|eventcount.pml|-DFENCE|safe|publishers fence; waiters fence"
	"MEMBARRIER|eventcount.pml|-DMEMBARRIER|safe|fenceless publishers; waiters membarrier"
	"MIXED|eventcount.pml|-DMIXED|safe|one fenced, one fenceless process per side"
	"SLICED|eventcount.pml|-DSLICED|safe|fenceless producers; consumers without membarrier: slices"
	"SLICED_MIXED|eventcount.pml|-DSLICED_MIXED|safe|sliced and membarrier waiters on both sides"
	"FENCE.3x2|eventcount.pml|-DFENCE -DNMSG=3 -DCAP=2|safe|as FENCE, 3 elements, capacity 2"
	"MEMBARRIER.3x2|eventcount.pml|-DMEMBARRIER -DNMSG=3 -DCAP=2|safe|as MEMBARRIER, 3 elements, capacity 2"
	"MIXED.3x2|eventcount.pml|-DMIXED -DNMSG=3 -DCAP=2|safe|as MIXED, 3 elements, capacity 2"
	"NONE|eventcount.pml|-DNONE|lost|control: no barrier anywhere, not sliced"
	"NO_W2|eventcount.pml|-DNO_W2|lost|control: publishers fence, waiters have no W2"
	"LATE_FLAG|eventcount.pml|-DSLICED -DLATE_FLAG|lost|control: SLICED, flag set after the first publish"
	"NO_TIMEOUT|eventcount.pml|-DSLICED -DNO_TIMEOUT|lost|control: SLICED, waits ignore their slice"
	"REACH_CAS_RETRY|eventcount.pml|-DMEMBARRIER -DREACH_CAS_RETRY|reached|witness: a CAS fails, bit 0 set, the retry wins"
	"REACH_WAKE_TWO|eventcount.pml|-DMEMBARRIER -DREACH_WAKE_TWO|reached|witness: one wake dequeues both consumers"
	"REACH_WAKE_PRODUCER|eventcount.pml|-DMEMBARRIER -DREACH_WAKE_PRODUCER|reached|witness: a FREE wakes a producer"
	"THREAD.FENCE|waitfd.pml|-DFENCE|safe|waiter thread; fenced publisher"
	"THREAD.MEMBARRIER|waitfd.pml|-DMEMBARRIER|safe|waiter thread; fenceless publisher, membarrier"
	"THREAD.SLICED|waitfd.pml|-DSLICED|safe|waiter thread; fenceless publisher, sliced waits"
	"THREAD_NO_SLICE|waitfd.pml|-DTHREAD_NO_SLICE|lost|control: defect 2, the thread ignores the slice"
	"BUSY_AFTER_WRITE|waitfd.pml|-DSLICED -DBUSY_AFTER_WRITE|lost|control: busy cleared after the eventfd write"
	"SETUP_NO_FENCE|waitfd.pml|-DSLICED -DSETUP_NO_FENCE|lost|control: the flag a plain store, no fence"
	"URING.FENCE|waitfd.pml|-DURING -DFENCE|safe|io_uring; fenced publisher"
	"URING.MEMBARRIER|waitfd.pml|-DURING -DMEMBARRIER|safe|io_uring; fenceless publisher, membarrier"
	"URING.SLICED|waitfd.pml|-DURING -DSLICED|safe|io_uring; sliced: linked timeout"
	"URING_NO_SLICE|waitfd.pml|-DURING -DURING_NO_SLICE|lost|control: io_uring wait without its timeout"
)

# One check in its own directory: spin, cc, pan; a line of results.
run_one() {
	local name=$1 model=$2 flags=$3 opt=$4 dir=$work/$1
	mkdir -p "$dir"
	cp "$here/$model" "$dir/"
	cd "$dir"
	# shellcheck disable=SC2086
	spin $flags -a "$model" >spin.out 2>&1 || { echo "spin failed" >pan.out; return 0; }
	cc "$opt" -w -DSAFETY -DCOLLAPSE -o pan pan.c >cc.out 2>&1 || { echo "cc failed" >pan.out; return 0; }
	# -m: search depth (pan says so if it is too small); -w: 2^24 hash
	# slots; -E is not given: invalid end states (all blocked, not at an
	# end label) are errors too.
	local TIMEFORMAT='%R %U'
	{ time ./pan -m100000 -w24 >pan.out 2>&1 || true; } 2>time.out
}

# Runs the checks, JOBS at a time: the long ones (the safe variants of
# eventcount.pml, the largest last in the table) first.
order=()
for ((i = ${#variants[@]} - 1; i >= 0; i--)); do
	case ${variants[i]} in *"|eventcount.pml|"*"|safe|"*) order+=("${variants[i]}") ;; esac
done
for v in "${variants[@]}"; do
	case $v in *"|eventcount.pml|"*"|safe|"*) ;; *) order+=("$v") ;; esac
done
for v in "${order[@]}"; do
	IFS='|' read -r name model flags want what <<<"$v"
	# pan.c takes longer to optimise than small searches take to run
	opt=-O0
	[ "$model" = eventcount.pml ] && [ "$want" = safe ] && opt=-O2
	run_one "$name" "$model" "$flags" "$opt" &
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n || true
	done
done
wait

status=0
printf '%-20s %-15s %9s %6s  %-6s %s\n' variant model states errors result "(search time) expected: what"
for v in "${variants[@]}"; do
	IFS='|' read -r name model flags want what <<<"$v"
	out=$work/$name/pan.out
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$out")
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$out")
	# wall and CPU seconds of the search
	secs=$(awk '{ printf "%ss, cpu %ss", $1, $2 }' "$work/$name/time.out" 2>/dev/null || echo "?")
	complete=yes
	grep -q "Search not completed" "$out" && complete=no
	grep -q "max search depth too small" "$out" && complete=no
	case $want in
	safe)
		# Exhaustive and clean.
		if [ "${errors:-x}" = 0 ] && [ $complete = yes ]; then
			result=ok
		else
			result=FAILED
		fi
		expect="no lost wakeup"
		;;
	lost)
		if [ "${errors:-0}" != 0 ] && grep -q "assertion violated *0 \|invalid end state" "$out"; then
			result=ok
		else
			result=FAILED
		fi
		expect="lost wakeup found"
		;;
	reached)
		if [ "${errors:-0}" != 0 ] && grep -q "assertion violated *!" "$out"; then
			result=ok
		else
			result=FAILED
		fi
		expect="reached"
		;;
	esac
	[ $result = ok ] || status=1
	printf '%-20s %-15s %9s %6s  %-6s (%s) %s: %s\n' "$name" "$model" \
		"${states:-?}" "${errors:-?}" "$result" "$secs" "$expect" "$what"
done
echo "exhaustive searches (-DSAFETY -DCOLLAPSE, no bitstate), $jobs at a time: ${SECONDS}s in all; outputs and trails in $work"
[ $status -eq 0 ] && echo "model: ok" || echo "model: FAILED"
exit $status
