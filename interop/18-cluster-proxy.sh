#!/usr/bin/env bash
# The PROXY protocol in a cluster (proxy_protocol = true on every node, as behind HAProxy with
# send-proxy-v2): the master sees each client's own address, whether it came through HAProxy
# (version 2 header) or was forwarded by a replica (which passes the client's address on in a
# header of its own), and guest's loopback-only rule is judged by it; a client without a header
# is closed. Bounded in time; every node's log is read for errors. Skipped (77) without haproxy or
# curl (interop/cluster-lib.sh).
# shellcheck source=interop/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"

for i in 1 2 3; do
	printf 'proxy_protocol = true\nhandshake_timeout = 2\n' >>"$tmp/n$i/warren.conf"
done
for i in 1 2 3; do start "$i"; done
master=$(wait_master 20000 1 2 3) || fail "no master"
all_connected
others_than "$master"
replica=${others[0]}
haproxy_server_opts=send-proxy-v2
start_haproxy

peer_listed() { # host port ms: the master's API lists a connection from there within ms
	local bound=$(($(now_ms) + $3))
	until curl -s -u guest:guest "http://127.0.0.1:$(http "$master")/api/connections" |
		grep -q "\"peer_host\":\"$1\",\"peer_port\":$2"; do
		[ "$(now_ms)" -lt "$bound" ] || return 1
		sleep 0.05
	done
}
peer_seen() { # host port: the master's API lists a connection from there
	peer_listed "$1" "$2" 3000 ||
		fail "the master does not show a client at $1:$2: $(curl -s -u guest:guest "http://127.0.0.1:$(http "$master")/api/connections")"
}

# (p1) a client at a replica with its own header (as if HAProxy were in front of that replica):
# forwarded, and the master sees the header's address, not the replica's.
CLUSTER_PROXY="127.0.0.9 40001" CLUSTER_HOLD_MS=8000 "$client" login "$(amqp "$replica")" >"$tmp/p1" &
held=($!)
wait_lines "$tmp/p1" 0 5000 || fail "no login through the replica within 5 s"
grep -q '^ok ' "$tmp/p1" || fail "login through the replica: $(cat "$tmp/p1")"
peer_seen 127.0.0.9 40001
echo "p1: a client forwarded by node $replica shows on the master as 127.0.0.9:40001 (its header's)"

# (p2) through HAProxy (send-proxy-v2): the master sees the client's own port. HAProxy may not
# listen yet, or have no server up, or send the client to a replica before its first health
# checks, then shut that session down when they mark the replica down (on-marked-down
# shutdown-sessions): tried again for 10 s.
front_port=${front##*:}
bound=$(($(now_ms) + 10000))
while :; do
	CLUSTER_HOLD_MS=8000 "$client" login "$front_port" >"$tmp/p2" &
	pid=$!
	wait_lines "$tmp/p2" 0 5000 || fail "no login through HAProxy within 5 s"
	grep -q '^ok ' "$tmp/p2" && peer_listed 127.0.0.1 "$(awk '{ print $4 }' "$tmp/p2")" 3000 &&
		break
	kill "$pid" 2>/dev/null || true
	wait "$pid" || true
	[ "$(now_ms)" -lt "$bound" ] || fail "login through HAProxy, seen by the master: $(cat "$tmp/p2")"
	sleep 0.1
done
held+=("$pid")
echo "p2: a client through HAProxy shows on the master with its own port ($(awk '{ print $4 }' "$tmp/p2"))"

# (p3) guest from a far address (the header's), at the master and through a replica: refused.
for n in "$master" "$replica"; do
	out=$(CLUSTER_PROXY="192.0.2.9 40002" "$client" login "$(amqp "$n")" || true)
	grep -q "^refused .* 403 ACCESS_REFUSED" <<<"$out" ||
		fail "guest from 192.0.2.9 through node $n: $out"
done
[ "$(grep -c "192.0.2.9:40002.*can only connect via localhost" "$tmp/n$master/log")" = 2 ] ||
	fail "the master did not log both refusals of guest at 192.0.2.9:40002"
echo "p3: guest from 192.0.2.9 refused at the master and through a replica (403)"

# (p4) no header: closed, at the master and through a replica (the master reads the replica's
# header, then the client's AMQP bytes where its own header should be).
for n in "$master" "$replica"; do
	out=$("$client" login "$(amqp "$n")" || true)
	grep -q '^failed ' <<<"$out" || fail "a client without a header at node $n: $out"
done
grep -q "not a valid PROXY protocol header" "$tmp/n$master/log" ||
	fail "the master did not log the missing header"
echo "p4: clients without a header closed"
wait "${held[@]}"
check_logs
stop_all
echo "proxy: ok"
