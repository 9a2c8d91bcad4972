#!/usr/bin/env bash
# The management API and the Prometheus endpoint at scale (docs/performance.md, "Management and
# Prometheus"): a private warrend gets QUEUES idle queues (default 100,000, declared by
# warren-perf) and CONNS idle connections (default 0; each with a channel, held by warren-perf
# --idle-connections), then
#   GET /api/queues?page=1&page_size=100 (sorted by name, the API's default), the same sorted by
#   messages and by publish rate, /api/overview, /api/queues/%2F/idle-1, a page of connections and
#   of channels, /metrics and /metrics/per-object are timed (RUNS requests each, curl's
#   time_total, median, min and max, and warrend's CPU time per request), with warrend's resident memory before and after the queues
#   and the connections.
# usage (from the build directory): ../bench/api-scale.sh [QUEUES] [RUNS] [CONNS]
set -euo pipefail
queues=${1:-100000}
runs=${2:-9}
conns=${3:-0}
perf=${WARREN_PERF:-./tools/warren-perf}
name=api-scale
# shellcheck source=tools/private-warrend.sh
. "$(dirname "$0")/../tools/private-warrend.sh"
warrend_start
trap 'cleanup; [ -z "$holder" ] || kill "$holder" 2>/dev/null || true' EXIT
holder=""
rss() { echo $(($(awk '{print $2}' /proc/"$pid"/statm) * $(getconf PAGESIZE) / 1024)); }
before=$(rss)
echo "declaring $queues queues... (warrend RSS $before KiB)"
"$perf" --port "$port" --producer-only --producers 1 --queues "$queues" \
	--queue-pattern 'idle-%d' --pmessages 1 --time 0 --quiet >/dev/null
after=$(rss)
echo "warrend RSS $after KiB: $(((after - before) * 1024 / queues)) bytes per queue in all"
if [ "$conns" -gt 0 ]; then
	"$perf" --port "$port" --producers 0 --consumers 0 --queue-pattern 'idle-%d' \
		--idle-connections "$conns" --time 100000 >/dev/null 2>"$tmp/holder.err" &
	holder=$!
	for _ in $(seq 600); do
		[ "$(grep -c 'idle connections open' "$tmp/holder.err")" -gt 0 ] && break
		kill -0 "$holder" 2>/dev/null || fail "warren-perf --idle-connections: $(cat "$tmp/holder.err")"
		sleep 0.1
	done
	[ "$(grep -c 'idle connections open' "$tmp/holder.err")" -gt 0 ] || fail "$conns connections not open in 60 s"
	withconns=$(rss)
	echo "warrend RSS $withconns KiB with $conns idle connections:" \
		"$(((withconns - after) * 1024 / conns)) bytes per connection (with its channel)"
fi
# warrend's user and system time so far, in milliseconds (what a request cost it, whatever the load)
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' /proc/"$pid"/stat; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for path in "/api/queues?page=1&page_size=100" \
	"/api/queues?page=1&page_size=100&sort=messages&sort_reverse=true" \
	"/api/queues?page=1&page_size=100&sort=message_stats.publish_details.rate&sort_reverse=true" \
	"/api/overview" "/api/queues/%2F/idle-1" \
	"/api/connections?page=1&page_size=100" "/api/channels?page=1&page_size=100" \
	"prom:/metrics" "prom:/metrics/per-object"; do
	url="http://127.0.0.1:$http_port$path"
	case $path in prom:*) url="http://127.0.0.1:$prom_port${path#prom:}" ;; esac
	curl -s -o /dev/null -u guest:guest "$url" # the login's cache
	c0=$(cpu_ms)
	for i in $(seq "$runs"); do
		curl -s -o "$tmp/out" -w '%{time_total}\n' -u guest:guest "$url"
	done >"$tmp/times"
	c1=$(cpu_ms)
	echo "$path: median $(median <"$tmp/times") s over $runs (min $(sort -n "$tmp/times" | head -n 1)," \
		"max $(sort -n "$tmp/times" | tail -n 1)); $(wc -c <"$tmp/out") bytes;" \
		"warrend's CPU $(((c1 - c0) / runs)) ms a request"
done
if [ -n "$holder" ]; then
	kill -TERM "$holder" 2>/dev/null || true
	wait "$holder" 2>/dev/null || true
fi
warrend_stop
