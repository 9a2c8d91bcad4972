#!/usr/bin/env bash
# A three-node Warren cluster on loopback behind HAProxy (docs/cluster.md, issue 14 point 7):
#   (a) kill -9 of the master under persistent publishing with confirms through HAProxy: a new
#       master serves within 2 s, and every confirmed message is delivered afterwards;
#   (c) a replica killed and restarted catches up (its log position reaches the master's);
#   (d) all three stopped and started again: every confirmed message is still there.
#   a master without a majority: publishers get basic.nack, the health check fails;
#   (b) SIGSTOP of the master for 6 s, then SIGCONT: a new master meanwhile; the old one closes
#       its clients with 320 naming the new master and rejoins as a replica;
# Each node has a temporary data directory and ports chosen free; every wait is bounded; every
# node's log is read for errors at the end. Skipped (77) without haproxy or curl.
set -euo pipefail
builddir=$(pwd)
warrend=$builddir/server/warrend
client=$builddir/interop/cluster-client
command -v haproxy >/dev/null 2>&1 || { echo "SKIP: haproxy is not installed (tools/setup.sh)"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl is not installed"; exit 77; }

tmp=$(mktemp -d /tmp/warren-cluster-XXXXXX)
pids=()
haproxy_pid=""
pub_pid=""
pub2_pid=""
cleanup() {
	local p
	[ -z "$pub_pid" ] || kill -9 "$pub_pid" 2>/dev/null || true
	[ -z "$pub2_pid" ] || kill -9 "$pub2_pid" 2>/dev/null || true
	[ -z "$haproxy_pid" ] || kill -9 "$haproxy_pid" 2>/dev/null || true
	for p in "${pids[@]}"; do [ "$p" = 0 ] || kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	local i
	echo "FAIL: $*"
	for i in 1 2 3; do echo "--- node $i"; tail -n 30 "$tmp/n$i/log" || true; done
	exit 1
}
now_ms() { date +%s%3N; }

mapfile -t P < <("$client" ports 10)
front=${P[9]}
amqp() { echo "${P[$(($1 - 1))]}"; }
http() { echo "${P[$(($1 + 2))]}"; }
repl() { echo "${P[$(($1 + 5))]}"; }

for i in 1 2 3; do
	mkdir -p "$tmp/n$i"
	peers=""
	for j in 1 2 3; do [ "$j" = "$i" ] || peers="$peers${peers:+, }127.0.0.1:$(repl "$j")"; done
	cat >"$tmp/n$i/warren.conf" <<EOF
listen = 127.0.0.1:$(amqp "$i")
management_listen = 127.0.0.1:$(http "$i")
prometheus_listen = none
data_dir = $tmp/n$i/data
cluster_listen = 127.0.0.1:$(repl "$i")
cluster_peers = $peers
EOF
	pids+=(0)
done

start() { # node
	"$warrend" --config "$tmp/n$1/warren.conf" >>"$tmp/n$1/log" 2>&1 &
	pids[$(($1 - 1))]=$!
}
health() { # node: the HTTP status of its master check
	curl -s -o /dev/null -w '%{http_code}' -m 1 -u guest:guest \
		"http://127.0.0.1:$(http "$1")/api/health/checks/master" 2>/dev/null || true
}
cluster_json() { # node
	curl -s -m 1 -u guest:guest "http://127.0.0.1:$(http "$1")/api/cluster" 2>/dev/null || true
}
wait_master() { # bound_ms [nodes...]: echo the master's number, or fail
	local bound=$(($(now_ms) + $1)) i
	shift
	while [ "$(now_ms)" -lt "$bound" ]; do
		for i in "$@"; do
			if [ "$(health "$i")" = 200 ]; then
				echo "$i"
				return 0
			fi
		done
		sleep 0.02
	done
	return 1
}
json_field() { # json key: the first string or number value of key
	grep -o "\"$2\":\"\{0,1\}[^\",}]*" <<<"$1" | head -n 1 | sed 's/^[^:]*://; s/"//g' || true
}

# ---- start: any order, a master within 20 s ----
for i in 1 2 3; do start "$i"; done
master=$(wait_master 20000 1 2 3) || fail "no master within 20 s of the start"
echo "start: node $master is master"

cat >"$tmp/haproxy.cfg" <<EOF
global
	maxconn 1000
defaults
	mode tcp
	timeout connect 250ms
	retries 2
	option redispatch 1
	timeout client 60s
	timeout server 60s
frontend amqp
	bind 127.0.0.1:$front
	default_backend warren
backend warren
	option httpchk GET /api/health/checks/master
	http-check send hdr Authorization "Basic $(printf guest:guest | base64)"
	http-check expect status 200
	default-server check inter 100ms fall 2 rise 1 on-marked-down shutdown-sessions
	server n1 127.0.0.1:$(amqp 1) port $(http 1)
	server n2 127.0.0.1:$(amqp 2) port $(http 2)
	server n3 127.0.0.1:$(amqp 3) port $(http 3)
EOF
haproxy -f "$tmp/haproxy.cfg" -db >"$tmp/haproxy.log" 2>&1 &
haproxy_pid=$!

# ---- (a) kill -9 of the master under publishing with confirms ----
"$client" publish "$front" q "$tmp/confirmed" 2>"$tmp/pub.log" &
pub_pid=$!
bound=$(($(now_ms) + 10000))
until [ -s "$tmp/confirmed" ] && [ "$(wc -l <"$tmp/confirmed")" -ge 200 ]; do
	[ "$(now_ms)" -lt "$bound" ] || fail "fewer than 200 confirms through HAProxy in 10 s"
	sleep 0.05
done
before=$(wc -l <"$tmp/confirmed")
# Timed from the master's death (the wait), not the signal: a process in fsync dies only once
# that returns, which on a busy disk took up to a second.
kill -9 "${pids[$((master - 1))]}"
wait "${pids[$((master - 1))]}" 2>/dev/null || true
t0=$(now_ms)
pids[$((master - 1))]=0
others=()
for i in 1 2 3; do [ "$i" = "$master" ] || others+=("$i"); done
new=$(wait_master 5000 "${others[@]}") || fail "no new master within 5 s of kill -9"
t1=$(now_ms)
# Serving: a confirm through HAProxy after the kill.
bound=$((t0 + 10000))
until [ "$(wc -l <"$tmp/confirmed")" -gt "$((before + 1))" ]; do
	[ "$(now_ms)" -lt "$bound" ] || fail "no confirm through HAProxy within 10 s of kill -9"
	sleep 0.005
done
t2=$(now_ms)
echo "(a) kill -9 of node $master: node $new master after $((t1 - t0)) ms, a confirm through HAProxy after $((t2 - t0)) ms"
[ $((t2 - t0)) -le 2000 ] || fail "the first confirm after kill -9 took $((t2 - t0)) ms (bound 2,000)"
sleep 1
kill -TERM "$pub_pid"
wait "$pub_pid" || fail "the publisher failed"
pub_pid=""
cat "$tmp/pub.log"

# The old master comes back as a replica and catches up.
start "$master"
bound=$(($(now_ms) + 15000))
until [ "$(json_field "$(cluster_json "$master")" role)" = replica ]; do
	[ "$(now_ms)" -lt "$bound" ] || fail "the old master did not rejoin as a replica in 15 s"
	sleep 0.05
done
bound=$(($(now_ms) + 15000))
while :; do
	m=$(json_field "$(cluster_json "$new")" log_position)
	r=$(json_field "$(cluster_json "$master")" log_position)
	[ -n "$m" ] && [ "$m" = "$r" ] && break
	[ "$(now_ms)" -lt "$bound" ] || fail "the old master is at $r, the master at $m after 15 s"
	sleep 0.05
done
echo "(a) the old master (node $master) rejoined as a replica and caught up"

# ---- (c) a replica killed, publishing goes on, the replica restarted catches up ----
replica=${others[0]}
[ "$replica" != "$new" ] || replica=${others[1]}
kill -9 "${pids[$((replica - 1))]}"
wait "${pids[$((replica - 1))]}" 2>/dev/null || true
pids[$((replica - 1))]=0
"$client" publish "$front" q "$tmp/confirmed" 2>"$tmp/pub2.log" &
pub_pid=$!
sleep 1
kill -TERM "$pub_pid"
wait "$pub_pid" || fail "the publisher failed (c)"
pub_pid=""
cat "$tmp/pub2.log"
grep -q " 0 acked" "$tmp/pub2.log" && fail "nothing was confirmed with one replica down"
t0=$(now_ms)
start "$replica"
bound=$((t0 + 15000))
while :; do
	m=$(json_field "$(cluster_json "$new")" log_position)
	r=$(json_field "$(cluster_json "$replica")" log_position)
	[ -n "$m" ] && [ "$m" = "$r" ] && break
	[ "$(now_ms)" -lt "$bound" ] || fail "the restarted replica is at $r, the master at $m after 15 s"
	sleep 0.05
done
echo "(c) node $replica killed and restarted: caught up (log position $r) in $(($(now_ms) - t0)) ms"

caught_up() { # a b: wait (15 s) until node b's log position is node a's
	local bound=$(($(now_ms) + 15000)) m r
	while :; do
		m=$(json_field "$(cluster_json "$1")" log_position)
		r=$(json_field "$(cluster_json "$2")" log_position)
		[ -n "$m" ] && [ "$m" = "$r" ] && return 0
		[ "$(now_ms)" -lt "$bound" ] || fail "node $2 is at $r, the master (node $1) at $m after 15 s"
		sleep 0.05
	done
}

# ---- a master without a majority: nothing confirmed, and the health check fails ----
for i in 1 2 3; do
	[ "$i" = "$new" ] && continue
	kill -9 "${pids[$((i - 1))]}"
	wait "${pids[$((i - 1))]}" 2>/dev/null || true
	pids[$((i - 1))]=0
done
"$client" publish "$(amqp "$new")" q "$tmp/confirmed" 2>"$tmp/pub3.log" &
pub_pid=$!
sleep 2.5
code=$(health "$new")
kill -TERM "$pub_pid"
wait "$pub_pid" || fail "the publisher failed (alone)"
pub_pid=""
cat "$tmp/pub3.log"
grep -q " 0 acked" "$tmp/pub3.log" || fail "a master without a majority confirmed a message"
grep -q " 0 nacked" "$tmp/pub3.log" && fail "a master without a majority sent no basic.nack"
[ "$code" = 503 ] || fail "a master without a majority passed its health check ($code)"
echo "alone: node $new nacks and fails its health check"
for i in 1 2 3; do [ "$i" = "$new" ] || start "$i"; done
for i in 1 2 3; do [ "$i" = "$new" ] || caught_up "$new" "$i"; done

# ---- (b) the master stopped for 6 s (SIGSTOP), then resumed ----
old=$new
# Its confirms are awaited 10 s: through the stop, to see what the old master answers after it.
"$client" publish "$(amqp "$old")" q "$tmp/confirmed" 10000 2>"$tmp/pub4.log" &
pub_pid=$!
"$client" publish "$front" q "$tmp/confirmed" 2>"$tmp/pub5.log" &
pub2_pid=$!
sleep 1
kill -STOP "${pids[$((old - 1))]}"
t0=$(now_ms)
others=()
for i in 1 2 3; do [ "$i" = "$old" ] || others+=("$i"); done
new=$(wait_master 5000 "${others[@]}") || fail "no new master within 5 s of SIGSTOP"
t1=$(now_ms)
echo "(b) SIGSTOP of node $old: node $new master after $((t1 - t0)) ms"
while [ "$(now_ms)" -lt $((t0 + 6000)) ]; do sleep 0.05; done
kill -CONT "${pids[$((old - 1))]}"
bound=$(($(now_ms) + 15000))
until [ "$(json_field "$(cluster_json "$old")" role)" = replica ]; do
	[ "$(now_ms)" -lt "$bound" ] || fail "the resumed master did not become a replica in 15 s"
	sleep 0.05
done
# The resumed master's claim can force another election: whoever is master now.
new=$(wait_master 5000 "${others[@]}") || fail "no master after SIGCONT"
caught_up "$new" "$old"
kill -TERM "$pub_pid" "$pub2_pid"
wait "$pub_pid" || fail "the publisher to the old master failed"
wait "$pub2_pid" || fail "the publisher through HAProxy failed"
pub_pid=""
pub2_pid=""
cat "$tmp/pub4.log" "$tmp/pub5.log"
grep -q -E "connection.close 320 .*the master is now 127.0.0.1:($(repl "${others[0]}")|$(repl "${others[1]}"))'" \
	"$tmp/pub4.log" || fail "the old master's client was not closed with 320 naming the new master"
grep -q "no longer the master" "$tmp/n$old/log" || fail "the old master did not log its demotion"
echo "(b) node $old resumed: its clients closed with 320, it rejoined as a replica and caught up"

# ---- (d) all three stopped and started again ----
for i in 1 2 3; do kill -TERM "${pids[$((i - 1))]}"; done
for i in 1 2 3; do
	wait "${pids[$((i - 1))]}" || fail "node $i exited badly on SIGTERM"
	pids[$((i - 1))]=0
done
for i in 1 2 3; do start "$i"; done
master=$(wait_master 20000 1 2 3) || fail "no master within 20 s of restarting all three"
echo "(d) all three restarted: node $master is master"
"$builddir/tools/warrenctl" cluster status --data-dir "$tmp/n$master/data" >"$tmp/status" ||
	fail "warrenctl cluster status failed"
cat "$tmp/status"
grep -q "^this node: master" "$tmp/status" || fail "warrenctl cluster status: not master"
[ "$(grep -c " connected" "$tmp/status")" = 3 ] || fail "warrenctl cluster status: not 3 connected"
"$client" consume "$front" q "$tmp/delivered" 1000 2>"$tmp/con.log" || {
	cat "$tmp/con.log"
	fail "consuming through HAProxy failed"
}
cat "$tmp/con.log"
missing=$(sort "$tmp/confirmed" | comm -23 - <(sort -u "$tmp/delivered") | wc -l)
echo "$(wc -l <"$tmp/confirmed") confirmed, $(wc -l <"$tmp/delivered") delivered, $missing confirmed but missing"
[ "$missing" = 0 ] || fail "$missing confirmed messages were lost"

# ---- every node's log: no error but those a kill -9 explains ----
for i in 1 2 3; do
	if grep -E " error |berkeley db:|ERROR: AddressSanitizer|runtime error:" "$tmp/n$i/log" |
		grep -v -E "DB_LOCK_DEADLOCK|Locker killed" >"$tmp/errors"; then
		cat "$tmp/errors"
		fail "node $i logged errors"
	fi
done
echo "PASS"
