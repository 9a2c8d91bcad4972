#!/usr/bin/env bash
# bench/api-scale.sh's requests against RabbitMQ (docs/performance.md, "Management and
# Prometheus"): a private RabbitMQ node (Debian's rabbitmq-server) with its management and
# prometheus plugins on loopback gets QUEUES idle queues and CONNS idle connections from
# warren-perf, then the same endpoints are timed the same way.
# usage (from the build directory): ../bench/api-scale-rabbitmq.sh [QUEUES] [RUNS] [CONNS]
set -euo pipefail
queues=${1:-100000}
runs=${2:-9}
conns=${3:-0}
perf=${WARREN_PERF:-./tools/warren-perf}
node=apiscale
port=${RABBIT_PORT:-21672} # below the ephemeral range (the idle connections use it)
http_port=$((port + 1))
prom_port=$((port + 2))
base=$(mktemp -d /tmp/rabbit-apiscale.XXXXXX)
export RABBITMQ_NODENAME=$node@localhost RABBITMQ_NODE_PORT=$port RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
	RABBITMQ_MNESIA_BASE=$base/mnesia RABBITMQ_LOG_BASE=$base/log RABBITMQ_PID_FILE=$base/pid \
	RABBITMQ_DIST_PORT=$((port + 3)) RABBITMQ_CONFIG_FILE=$base/rabbitmq HOME=$base \
	RABBITMQ_ENABLED_PLUGINS_FILE=$base/enabled_plugins
holder=""
stop() {
	[ -z "$holder" ] || kill "$holder" 2>/dev/null || true
	/usr/lib/rabbitmq/bin/rabbitmqctl -n "$node@localhost" stop >/dev/null 2>&1 || true
	rm -rf "$base"
}
trap stop EXIT
[ -z "${KEEP_RABBIT:-}" ] || trap - EXIT
mkdir -p "$base/mnesia" "$base/log"
echo "cookie$node" >"$base/.erlang.cookie"
chmod 400 "$base/.erlang.cookie"
echo '[rabbitmq_management,rabbitmq_prometheus].' >"$base/enabled_plugins"
printf '%s\n' "loopback_users = none" "management.tcp.port = $http_port" \
	"management.tcp.ip = 127.0.0.1" "prometheus.tcp.port = $prom_port" \
	"prometheus.tcp.ip = 127.0.0.1" >"$base/rabbitmq.conf"
setsid /usr/lib/rabbitmq/bin/rabbitmq-server >"$base/start.log" 2>&1 </dev/null &
/usr/lib/rabbitmq/bin/rabbitmqctl -n "$node@localhost" wait "$base/pid" --timeout 120 >/dev/null
rpid=$(cat "$base/pid")
rss() { echo $(($(awk '{print $2}' /proc/"$rpid"/statm) * $(getconf PAGESIZE) / 1024)); }
for _ in $(seq 100); do curl -s -o /dev/null -u guest:guest "http://127.0.0.1:$http_port/api/overview" && break; sleep 0.2; done
before=$(rss)
echo "RabbitMQ $node (pid $rpid) on $port, management $http_port, prometheus $prom_port; declaring $queues queues... (RSS $before KiB)"
t0=$(date +%s)
"$perf" --port "$port" --producer-only --producers 1 --queues "$queues" \
	--queue-pattern 'idle-%d' --pmessages 1 --time 0 --quiet >/dev/null
after=$(rss)
echo "declared in $(($(date +%s) - t0)) s; RSS $after KiB: $(((after - before) * 1024 / queues)) bytes per queue in all"
if [ "$conns" -gt 0 ]; then
	"$perf" --port "$port" --producers 0 --consumers 0 --queue-pattern 'idle-%d' \
		--idle-connections "$conns" --time 100000 >/dev/null 2>"$base/holder.err" &
	holder=$!
	for _ in $(seq 3000); do
		[ "$(grep -c 'idle connections open' "$base/holder.err")" -gt 0 ] && break
		kill -0 "$holder" 2>/dev/null || { cat "$base/holder.err"; exit 1; }
		sleep 0.1
	done
	withconns=$(rss)
	echo "RSS $withconns KiB with $conns idle connections: $(((withconns - after) * 1024 / conns)) bytes per connection"
fi
sleep 10 # the management agent's first samples of the new objects (its interval is 5 s)
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for path in "/api/queues?page=1&page_size=100" \
	"/api/queues?page=1&page_size=100&sort=messages&sort_reverse=true" \
	"/api/queues?page=1&page_size=100&sort=message_stats.publish_details.rate&sort_reverse=true" \
	"/api/overview" "/api/queues/%2F/idle-1" \
	"/api/connections?page=1&page_size=100" "/api/channels?page=1&page_size=100" \
	"prom:/metrics" "prom:/metrics/per-object"; do
	url="http://127.0.0.1:$http_port$path"
	case $path in prom:*) url="http://127.0.0.1:$prom_port${path#prom:}" ;; esac
	for i in $(seq "$runs"); do
		curl -s -m 300 -o "$base/out" -w '%{time_total}\n' -u guest:guest "$url" || echo 300
	done >"$base/times"
	echo "$path: median $(median <"$base/times") s over $runs (min $(sort -n "$base/times" | head -n 1)," \
		"max $(sort -n "$base/times" | tail -n 1)); $(wc -c <"$base/out") bytes"
done
echo "RSS at the end $(rss) KiB"
