#!/usr/bin/env bash
# Checks the wakeup protocol model with spin: the fenced and the membarrier
# variants must be free of lost wakeups, and the variant without any barrier
# must not be (so the model can tell). Usage: model/check.sh [WORKDIR]
set -euo pipefail
model=$(cd "$(dirname "$0")" && pwd)/eventcount.pml
work=${1:-$(mktemp -d)}
mkdir -p "$work"
cd "$work"
cp "$model" .
status=0
for variant in FENCE MEMBARRIER NONE; do
	spin -D$variant -a eventcount.pml >/dev/null
	cc -O2 -DSAFETY -o pan pan.c
	./pan -m1000000 >pan.out 2>&1 || true
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out)
	states=$(sed -n 's/^ *\([0-9]*\) states, stored.*/\1/p' pan.out)
	if [ "$variant" = NONE ]; then
		want="lost wakeup found"
		[ "$errors" != 0 ] && grep -q "assertion violated" pan.out || status=1
	else
		want="no lost wakeup"
		[ "$errors" = 0 ] || status=1
	fi
	printf '%-11s %s states, %s errors (expected: %s)\n' "$variant" "$states" "$errors" "$want"
	rm -f eventcount.pml.trail
done
[ $status -eq 0 ] && echo "model: ok" || echo "model: FAILED"
exit $status
