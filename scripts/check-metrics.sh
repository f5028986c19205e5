#!/usr/bin/env bash
# What `shmring stat --openmetrics` / `--prometheus` are for: node_exporter's
# textfile collector. Runs a known workload on a ring, writes both formats
# into a textfile directory, starts prometheus-node-exporter on a loopback
# port with only that collector, scrapes it and checks that it read the files
# without error and serves the ring's counters with their values.
#   scripts/check-metrics.sh [BUILD]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
make=${MAKE:-make}
scripts/install-deps.sh -q metrics
$make --no-print-directory -j2 BUILD="$build" all "$build/tests/ring_workload" >/dev/null
tool=$build/shmring
ring=shmring-metrics-$$
dir=$(mktemp -d)
exporter=
cleanup() {
	[ -z "$exporter" ] || kill "$exporter" 2>/dev/null || true
	"$tool" unlink -f "$ring" || true
	rm -rf "$dir"
}
trap cleanup EXIT
fail() {
	echo "check-metrics: FAILED: $*" >&2
	[ ! -f "$dir/log" ] || sed 's/^/  node_exporter: /' "$dir/log" >&2
	exit 1
}

# 100 messages through a 16-slot ring, with a stalled consumer: the producer
# sleeps at least once.
"$build/tests/ring_workload" "$ring" 16 100 50 >/dev/null
mkdir "$dir/om" "$dir/prom"
# As the textfile collector's documentation says: write, then rename.
"$tool" stat --openmetrics "$ring" >"$dir/om/shmring.prom.tmp"
mv "$dir/om/shmring.prom.tmp" "$dir/om/shmring.prom"
"$tool" stat --prometheus "$ring" >"$dir/prom/shmring.prom.tmp"
mv "$dir/prom/shmring.prom.tmp" "$dir/prom/shmring.prom"

scrape() { # DIR -> the exporter's /metrics on stdout
	local port
	port=$((20000 + RANDOM % 20000))
	prometheus-node-exporter --web.listen-address="127.0.0.1:$port" \
		--collector.disable-defaults --collector.textfile \
		--collector.textfile.directory="$1" >"$dir/log" 2>&1 &
	exporter=$!
	/usr/bin/python3 - "$port" <<'PY' || fail "no answer from node_exporter on port $port"
import sys, time, urllib.request
for _ in range(100):
    try:
        sys.stdout.write(urllib.request.urlopen(
            "http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=2).read().decode())
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
	kill "$exporter"
	wait "$exporter" 2>/dev/null || true
	exporter=
}

n=0
for fmt in om prom; do
	out=$(scrape "$dir/$fmt")
	labels="policy=\"spsc\",ring=\"$ring\""
	grep -qx 'node_textfile_scrape_error 0' <<<"$out" || fail "$fmt: scrape error: $(grep textfile <<<"$out")"
	for want in "shmring_pushed_total{$labels} 100" "shmring_popped_total{$labels} 100" \
		"shmring_capacity{$labels} 16" "shmring_pending{$labels} 0" \
		"shmring_element_bytes{$labels} 64"; do
		grep -qxF "$want" <<<"$out" || fail "$fmt: no '$want' in: $(grep shmring_ <<<"$out")"
	done
	sleeps=$(sed -n "s/^shmring_sleeps_total{$labels,role=\"producer\"} //p" <<<"$out")
	[ "${sleeps:-0}" -ge 1 ] 2>/dev/null || fail "$fmt: producer sleeps '${sleeps}'"
	n=$((n + 1))
done
# The Prometheus format keeps the counters' type through the collector; the
# OpenMetrics one (counter family "shmring_pushed", samples "_total") is
# read by node_exporter's Prometheus parser as untyped samples.
grep -q '^# TYPE shmring_pushed_total counter$' <<<"$out" || fail "prom: counters lost their type"
n=$((n + 1))
echo "check-metrics: $n passed, 0 failed"
