#!/usr/bin/env bash
# The Prometheus endpoint (make check): a private warrend gets queues and traffic from
# rabbitmqadmin (over the management API) and warren-perf (over AMQP); then /metrics,
# /metrics/per-object and /metrics/detailed are scraped, each scrape must pass `promtool check
# metrics`, and specific values are checked (message and queue counts, connections while a client
# is connected, the vhost filter). A per-object scrape of 2,000 queues is streamed in chunks
# while half of them are deleted, and must stay valid. Hostile requests get 404, 405, 400 or 413
# and leave warrend serving. Skipped (77) without promtool (Debian's prometheus), rabbitmqadmin
# or python3; tools/setup.sh installs them. Run from the build directory, or set WARREND and
# WARREN_PERF. Every wait is bounded (about 60 s in all).
set -euo pipefail
name=prometheus
perf=${WARREN_PERF:-./tools/warren-perf}
# shellcheck source=tools/private-warrend.sh
. "$(dirname "$0")/../tools/private-warrend.sh"

admin=$(command -v rabbitmqadmin || true)
if [ -z "$admin" ] || ! command -v python3 >/dev/null || ! command -v promtool >/dev/null; then
	echo "prometheus: SKIP: needs promtool (Debian's prometheus), rabbitmqadmin and python3"
	exit 77
fi

warrend_start
[ -n "$prom_port" ] || fail "warrend did not report its Prometheus endpoint"
ra() { timeout 20 python3 "$admin" -H 127.0.0.1 -P "$http_port" -u guest -p guest "$@" >/dev/null; }
n=0
ok() { n=$((n + 1)); }

# http METHOD PATH [EXTRA_HEADER]: the status on the first line, then the body.
http() {
	timeout 20 python3 - "$prom_port" "$@" <<'EOF'
import http.client, sys
port, method, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
headers = {}
if len(sys.argv) > 4:
    k, v = sys.argv[4].split(":", 1)
    headers[k] = v
c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
c.request(method, path, headers=headers)
r = c.getresponse()
sys.stdout.write("%d\n" % r.status)
sys.stdout.buffer.write(r.read())
EOF
}

# scrape PATH FILE: 200, text format 0.0.4, and valid under promtool.
scrape() {
	http GET "$1" >"$2.raw" || fail "GET $1 failed"
	[ "$(head -n 1 "$2.raw")" = 200 ] || fail "GET $1: status $(head -n 1 "$2.raw")"
	tail -n +2 "$2.raw" >"$2"
	promtool check metrics <"$2" >"$2.lint" 2>&1 ||
		fail "promtool check metrics on $1: $(head -n 5 "$2.lint")"
	ok
}

# value FILE SERIES: the value of the sample whose name and labels are exactly SERIES.
value() {
	awk -v s="$2" 'substr($0, 1, length(s) + 1) == s " " { print substr($0, length(s) + 2) }' "$1"
}

# expect FILE SERIES WANT
expect() {
	local got
	got=$(value "$1" "$2")
	[ "$got" = "$3" ] || fail "$2: got '${got}', expected $3 (in $1)"
	ok
}

# wait_for PATH SERIES WANT: scrape until SERIES is WANT, for at most 10 s.
wait_for() {
	local i
	for i in $(seq 100); do
		http GET "$1" | tail -n +2 >"$tmp/wait.txt"
		[ "$(value "$tmp/wait.txt" "$2")" = "$3" ] && return 0
		sleep 0.1
	done
	fail "$2 did not become $3 within 10 s: $(value "$tmp/wait.txt" "$2")"
}

# ---- Traffic: the management API (rabbitmqadmin) and AMQP (warren-perf) ----
ra declare queue name=pq.a durable=true
ra declare queue name=pq.b
for i in 1 2 3 4 5; do ra publish routing_key=pq.a payload="m$i"; done
ra publish routing_key=pq.nowhere payload=lost
ra get queue=pq.a ackmode=ack_requeue_false count=2
timeout 30 "$perf" --port "$port" --producer-only --producers 1 --queues 1 \
	--queue-pattern 'pq.perf-%d' --pmessages 100 --confirm 10 --time 0 --quiet \
	>"$tmp/perf1.out" 2>&1 || fail "warren-perf: $(tail -n 3 "$tmp/perf1.out")"

# ---- /metrics ----
scrape /metrics "$tmp/agg.txt"
expect "$tmp/agg.txt" rabbitmq_queues 3
expect "$tmp/agg.txt" rabbitmq_queue_messages_ready 103
expect "$tmp/agg.txt" rabbitmq_queue_messages 103
expect "$tmp/agg.txt" rabbitmq_queue_messages_ready_bytes 1606 # 3 x 2 B + 100 x 16 B
expect "$tmp/agg.txt" rabbitmq_queues_created_total 3
expect "$tmp/agg.txt" rabbitmq_queue_messages_published_total 105
expect "$tmp/agg.txt" 'rabbitmq_global_messages_received_total{protocol="amqp091"}' 106
expect "$tmp/agg.txt" 'rabbitmq_global_messages_routed_total{protocol="amqp091"}' 105
expect "$tmp/agg.txt" 'rabbitmq_global_messages_unroutable_dropped_total{protocol="amqp091"}' 1
expect "$tmp/agg.txt" 'rabbitmq_global_messages_received_confirm_total{protocol="amqp091"}' 100
expect "$tmp/agg.txt" 'rabbitmq_global_messages_confirmed_total{protocol="amqp091"}' 100
expect "$tmp/agg.txt" \
	'rabbitmq_global_messages_delivered_get_manual_ack_total{protocol="amqp091",queue_type="rabbit_classic_queue"}' 2
expect "$tmp/agg.txt" \
	'rabbitmq_global_messages_acknowledged_total{protocol="amqp091",queue_type="rabbit_classic_queue"}' 2
expect "$tmp/agg.txt" rabbitmq_channel_messages_published_total 106
expect "$tmp/agg.txt" rabbitmq_connections_opened_total 2 # warren-perf: setup, producer
expect "$tmp/agg.txt" rabbitmq_connections 0
expect "$tmp/agg.txt" 'rabbitmq_auth_attempts_succeeded_total{protocol="amqp091"}' 2
expect "$tmp/agg.txt" 'rabbitmq_auth_attempts_failed_total{protocol="amqp091"}' 0
grep -q '^rabbitmq_identity_info{rabbitmq_node="warren@[^"]*",rabbitmq_cluster="warren@[^"]*"} 1$' \
	"$tmp/agg.txt" || fail "no rabbitmq_identity_info"
ok
grep -q '^rabbitmq_build_info{rabbitmq_version="3.10.8",.*product_name="Warren".*} 1$' \
	"$tmp/agg.txt" || fail "no rabbitmq_build_info"
ok
grep -q '^# TYPE rabbitmq_global_messages_received_total counter$' "$tmp/agg.txt" ||
	fail "rabbitmq_global_messages_received_total is not a counter"
ok
! grep -q '{vhost=' "$tmp/agg.txt" || fail "/metrics has per-object samples"
ok

# ---- /metrics/per-object ----
scrape /metrics/per-object "$tmp/obj.txt"
expect "$tmp/obj.txt" 'rabbitmq_queue_messages_ready{vhost="/",queue="pq.a"}' 3
expect "$tmp/obj.txt" 'rabbitmq_queue_messages_ready{vhost="/",queue="pq.b"}' 0
expect "$tmp/obj.txt" 'rabbitmq_queue_messages_ready{vhost="/",queue="pq.perf-0"}' 100
expect "$tmp/obj.txt" 'rabbitmq_queue_messages_bytes{vhost="/",queue="pq.perf-0"}' 1600
expect "$tmp/obj.txt" 'rabbitmq_queue_messages_published_total{queue_vhost="/",queue="pq.a"}' 5
expect "$tmp/obj.txt" 'rabbitmq_queue_consumer_capacity{vhost="/",queue="pq.a"}' 0
expect "$tmp/obj.txt" 'rabbitmq_queue_consumer_utilisation{vhost="/",queue="pq.a"}' 0
[ "$(value "$tmp/obj.txt" 'rabbitmq_queue_process_memory_bytes{vhost="/",queue="pq.a"}')" -gt 0 ] ||
	fail "no queue memory"
ok
# no timestamp property on pq.a's head: no sample, as RabbitMQ
! grep -q '^rabbitmq_queue_head_message_timestamp{vhost="/",queue="pq.a"}' "$tmp/obj.txt" ||
	fail "a head message timestamp for a message without one"
ok
expect "$tmp/obj.txt" rabbitmq_queues 3
grep -q '^process_start_time_seconds' "$tmp/obj.txt" && fail "per-object has the process family"
ok

# ---- /metrics/detailed ----
scrape '/metrics/detailed?family=queue_coarse_metrics&family=exchange_names&vhost=%2F' "$tmp/det.txt"
expect "$tmp/det.txt" 'rabbitmq_detailed_queue_messages_ready{vhost="/",queue="pq.a"}' 3
expect "$tmp/det.txt" \
	'rabbitmq_cluster_exchange_name{vhost="/",exchange="warren-perf-direct",type="direct"}' 1
grep -q '^rabbitmq_queues ' "$tmp/det.txt" && fail "detailed has the totals"
grep -q '^rabbitmq_detailed_queue_consumers' "$tmp/det.txt" && fail "detailed has unasked families"
ok
scrape '/metrics/detailed?family=queue_coarse_metrics&vhost=nosuch' "$tmp/det2.txt"
grep -q '^rabbitmq_detailed_queue_messages_ready{' "$tmp/det2.txt" && fail "vhost filter ignored"
ok
scrape '/metrics/detailed' "$tmp/det3.txt"
[ "$(grep -vc '^#' "$tmp/det3.txt")" = 2 ] || fail "detailed without a family: not only the info"
ok

# ---- While a client is connected ----
timeout 40 "$perf" --port "$port" --queues 1 --queue-pattern 'pq.live-%d' --rate 20 --time 30 \
	--quiet >"$tmp/perf2.out" 2>&1 &
perf_pid=$!
wait_for /metrics rabbitmq_connections 2
wait_for /metrics rabbitmq_consumers 1
scrape /metrics/per-object "$tmp/live.txt"
[ "$(grep -c '^rabbitmq_connection_channels{channel="127\.0\.0\.1:[0-9]* -> 127\.0\.0\.1:' "$tmp/live.txt")" = 2 ] ||
	fail "not two connections in per-object"
ok
expect "$tmp/live.txt" 'rabbitmq_queue_consumers{vhost="/",queue="pq.live-0"}' 1
kill "$perf_pid" 2>/dev/null || true
wait "$perf_pid" 2>/dev/null || true
wait_for /metrics rabbitmq_connections 0

# ---- 2,000 queues, half deleted while the scrape is streamed ----
# Long names make the answer (about 7 MB) larger than the socket buffers can hold (4 MB).
long=$(printf 'l%.0s' $(seq 200))
timeout 60 "$perf" --port "$port" --producer-only --producers 1 --queues 2000 \
	--queue-pattern "pq.many-$long-%d" --pmessages 2000 --time 0 --quiet >"$tmp/perf3.out" 2>&1 ||
	fail "warren-perf (2,000 queues): $(tail -n 3 "$tmp/perf3.out")"
timeout 60 python3 - "$prom_port" "$http_port" "$long" >"$tmp/churn.txt" 2>"$tmp/churn.err" <<'EOF' ||
import base64, http.client, socket, sys, urllib.parse
prom, api, long = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", prom, timeout=30)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow reader: warrend must wait
s.connect(("127.0.0.1", prom))
c.sock = s
c.request("GET", "/metrics/per-object")
r = c.getresponse()
first = r.read(20000)  # the first chunk; the rest waits in warrend
a = http.client.HTTPConnection("127.0.0.1", api, timeout=30)
auth = {"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()}
for i in range(0, 2000, 2):
    a.request("DELETE", "/api/queues/%2F/" + urllib.parse.quote("pq.many-%s-%d" % (long, i)), headers=auth)
    resp = a.getresponse()
    resp.read()
    if resp.status != 204:
        sys.exit("delete pq.many-%d: %d" % (i, resp.status))
sys.stdout.buffer.write(first + r.read())
EOF
	fail "streamed scrape with deletes: $(tail -n 3 "$tmp/churn.err")"
promtool check metrics <"$tmp/churn.txt" >"$tmp/churn.lint" 2>&1 ||
	fail "promtool on the streamed scrape: $(head -n 5 "$tmp/churn.lint")"
ok
dups=$(grep -v '^#' "$tmp/churn.txt" | awk '{print $1}' | sort | uniq -d | head -n 3)
[ -z "$dups" ] || fail "duplicate series in the streamed scrape: $dups"
ok
many=$(grep -c '^rabbitmq_queue_messages_ready{vhost="/",queue="pq\.many-' "$tmp/churn.txt")
[ "$many" -ge 1000 ] && [ "$many" -le 2000 ] || fail "$many pq.many queues in the streamed scrape"
ok
# The deletes happened while the scrape was under way: the last queue family lost them.
last=$(grep -c '^rabbitmq_queue_messages_published_total{queue_vhost="/",queue="pq\.many-' \
	"$tmp/churn.txt")
[ "$last" -ge 1000 ] && [ "$many" -gt "$last" ] ||
	fail "the scrape was not streamed across the deletes ($many, then $last queues)"
ok
echo "prometheus: a streamed scrape saw $many, then $last of the 2,000 queues as half were deleted"
scrape /metrics "$tmp/agg2.txt"
expect "$tmp/agg2.txt" rabbitmq_queues 1004
expect "$tmp/agg2.txt" rabbitmq_queues_deleted_total 1000

# ---- Hostile requests ----
out=$(http GET /nope)
[ "$(head -n 1 <<<"$out")" = 404 ] && grep -q '"error":"Object Not Found"' <<<"$out" ||
	fail "unknown path: $out"
ok
out=$(http GET /metrics/per-object/x)
[ "$(head -n 1 <<<"$out")" = 404 ] || fail "path under per-object: $out"
ok
out=$(http POST /metrics)
[ "$(head -n 1 <<<"$out")" = 405 ] || fail "POST: $out"
ok
out=$(http GET '/metrics/detailed?family=nope')
[ "$(head -n 1 <<<"$out")" = 400 ] && grep -q "unknown metric family 'nope'" <<<"$out" ||
	fail "bad family: $out"
ok
out=$(http GET "/metrics/detailed?family=queue_coarse_metrics$(printf '&vhost=v%d' $(seq 65))")
[ "$(head -n 1 <<<"$out")" = 400 ] || fail "65 vhost filters: $out"
ok
out=$(http GET /metrics "X-Big:$(head -c 20000 /dev/zero | tr '\0' a)" 2>&1 || true)
[ "$(head -n 1 <<<"$out")" != 200 ] || fail "20 KB of headers answered 200"
ok
out=$(timeout 20 python3 - "$prom_port" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 2000)
print(s.recv(200).decode(errors="replace").split("\r\n")[0])
EOF
)
grep -q ' 413 ' <<<"$out" || fail "a 100 KB body: $out"
ok
# Still serving after all that.
scrape /metrics "$tmp/agg3.txt"

warrend_stop
echo "prometheus: ok ($n checks)"
