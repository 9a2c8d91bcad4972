#!/usr/bin/env bash
# The management API at scale (docs/performance.md, "Management and Prometheus"): a private
# warrend gets QUEUES idle queues (default 100,000, declared by warren-perf), then
#   GET /api/queues?page=1&page_size=100 (sorted by name, the API's default), the same sorted by
#   messages, /api/overview and /api/queues/%2F/idle-1 are timed (RUNS requests each, curl's
#   time_total, median, min and max), with warrend's resident memory before and after the queues.
# usage (from the build directory): ../bench/api-scale.sh [QUEUES] [RUNS]
set -euo pipefail
queues=${1:-100000}
runs=${2:-9}
perf=${WARREN_PERF:-./tools/warren-perf}
name=api-scale
# shellcheck source=tools/private-warrend.sh
. "$(dirname "$0")/../tools/private-warrend.sh"
warrend_start
rss() { echo $(($(awk '{print $2}' /proc/"$pid"/statm) * $(getconf PAGESIZE) / 1024)); }
before=$(rss)
echo "declaring $queues queues... (warrend RSS $before KiB)"
"$perf" --port "$port" --producer-only --producers 1 --queues "$queues" \
	--queue-pattern 'idle-%d' --pmessages 1 --time 0 --quiet >/dev/null
after=$(rss)
echo "warrend RSS $after KiB: $(((after - before) * 1024 / queues)) bytes per queue in all"
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for path in "/api/queues?page=1&page_size=100" \
	"/api/queues?page=1&page_size=100&sort=messages&sort_reverse=true" \
	"/api/queues?page=1&page_size=100&sort=message_stats.publish_details.rate&sort_reverse=true" \
	"/api/overview" "/api/queues/%2F/idle-1"; do
	curl -s -o /dev/null -u guest:guest "http://127.0.0.1:$http_port$path" # the login's cache
	for i in $(seq "$runs"); do
		curl -s -o "$tmp/out" -w '%{time_total}\n' -u guest:guest "http://127.0.0.1:$http_port$path"
	done >"$tmp/times"
	echo "$path: median $(median <"$tmp/times") s over $runs (min $(sort -n "$tmp/times" | head -n 1)," \
		"max $(sort -n "$tmp/times" | tail -n 1)); $(wc -c <"$tmp/out") bytes"
done
warrend_stop
