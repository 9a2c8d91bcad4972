#!/usr/bin/env bash
# The Prometheus endpoint at scale (docs/performance.md, "Management and Prometheus"): a private
# warrend gets QUEUES idle queues (default 100,000, declared by warren-perf), then
#   1. /metrics and /metrics/per-object are timed (RUNS scrapes each, curl's time_total; the
#      answer's size, and warrend's resident memory before and after);
#   2. warrend's CPU time per /metrics scrape (from /proc/PID/stat, over 100 scrapes);
#   3. transient 16 B throughput (warren-perf: 1 producer, 1 consumer, SECONDS each run) is
#      measured alternately without and with a loop scraping /metrics every second, RUNS times
#      each, and the medians compared.
# usage (from the build directory): ../bench/prom-scale.sh [QUEUES] [RUNS] [SECONDS]
set -euo pipefail
queues=${1:-100000}
runs=${2:-5}
secs=${3:-20}
perf=${WARREN_PERF:-./tools/warren-perf}
name=prom-scale
# shellcheck source=tools/private-warrend.sh
. "$(dirname "$0")/../tools/private-warrend.sh"
warrend_start
rss() { echo $(($(awk '{print $2}' /proc/"$pid"/statm) * $(getconf PAGESIZE) / 1024)); }

echo "declaring $queues queues..."
start=$(date +%s.%N)
"$perf" --port "$port" --producer-only --producers 1 --queues "$queues" \
	--queue-pattern 'idle-%d' --pmessages 1 --time 0 --quiet >/dev/null
echo "declared in $(echo "$(date +%s.%N) - $start" | bc) s; warrend RSS $(rss) KiB"

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for path in /metrics /metrics/per-object; do
	for i in $(seq "$runs"); do
		curl -s -o "$tmp/out" -w '%{time_total}\n' "http://127.0.0.1:$prom_port$path"
	done >"$tmp/times"
	echo "$path: median $(median <"$tmp/times") s over $runs (min $(sort -n "$tmp/times" | head -n 1)," \
		"max $(sort -n "$tmp/times" | tail -n 1)); $(wc -c <"$tmp/out") bytes," \
		"$(grep -vc '^#' "$tmp/out") samples; warrend RSS $(rss) KiB"
done

# warrend's own CPU time per /metrics scrape: its utime + stime over 100 scrapes, no traffic.
ticks() { awk '{print $14 + $15}' /proc/"$pid"/stat; }
t0=$(ticks)
for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$prom_port/metrics"; done
echo "/metrics: warrend CPU $(echo "scale=2; ($(ticks) - $t0) * 1000 / $(getconf CLK_TCK) / 100" | bc) ms" \
	"per scrape (100 scrapes): at one scrape a second, that share of one core in tenths of a percent"

throughput() {
	"$perf" --port "$port" --time "$secs" --queue-pattern 'ab-%d' --json --quiet |
		sed -n 's/.*"deliver_rate":\([0-9.]*\).*/\1/p'
}
: >"$tmp/a"
: >"$tmp/b"
for i in $(seq "$runs"); do
	throughput >>"$tmp/a"
	(while :; do
		curl -s -o /dev/null "http://127.0.0.1:$prom_port/metrics"
		sleep 1
	done) &
	loop=$!
	throughput >>"$tmp/b"
	kill "$loop"
	wait "$loop" 2>/dev/null || true
done
a=$(median <"$tmp/a")
b=$(median <"$tmp/b")
echo "16 B transient, delivered msg/s: without scrapes $(tr '\n' ' ' <"$tmp/a")(median $a);" \
	"scraping /metrics every 1 s $(tr '\n' ' ' <"$tmp/b")(median $b);" \
	"cost $(echo "scale=2; ($a - $b) * 100 / $a" | bc) %"
warrend_stop
