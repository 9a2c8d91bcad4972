#!/usr/bin/env bash
# Issue 14 point 7 (f): a network partition. Three nodes, each in a network namespace of its own
# with a veth pair to a bridge; HAProxy and the test's clients in a fourth namespace on that bridge
# (interop/cluster-lib.sh, cluster_netns=1; all four made with the test's PID in their names and
# removed on every exit). Under persistent publishing with confirms through HAProxy, and a
# second publisher inside the master's namespace straight to it, the master's link goes down:
#   * the isolated master confirms nothing once it is cut off (at most the one message in flight
#     at the cut, which the others may have acked), and its publisher gets basic.nack;
#   * its health check, asked from inside its namespace, answers 503 (bound 3 s), and goes on
#     answering 503 once its publisher is stopped (SIGSTOP) and nothing fails to say so: its peers
#     count as disconnected (TCP_USER_TIMEOUT on repmgr's connections, store/repl.c);
#   * a new master serves through HAProxy within 2 s (the first confirm after the cut, printed);
# then the link comes up again:
#   * the old master closes its publisher with 320 (naming the new master when one is known),
#     rejoins as a replica and catches up;
#   * every message anyone confirmed is consumed through HAProxy (0 lost), every node exits 0 on
#     SIGTERM, and no node logged an error.
# The whole test is bounded (120 s), and so is every wait. Skipped (77) where `ip netns` does not
# work (not root, no iproute2, no bridge or veth), or without haproxy or curl.
cluster_netns=1
# shellcheck source=interop/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
bound_test 120

for i in 1 2 3; do start "$i"; done
master=$(wait_master 20000 1 2 3) || fail "no master within 20 s of the start"
echo "start: node $master is master"
start_haproxy
(ns_exec front "$client" publish "$front" q "$tmp/confirmed") 2>"$tmp/pub.log" &
pub_pid=$!
# Its confirms are awaited 10 s (2 s for the other): after the heal, the 320 can come 2 s after a
# publish (the demoted node waits for the new master's name before it closes its clients).
(ns_exec "$master" "$client" publish "$(host "$master"):$(amqp "$master")" q "$tmp/direct" 10000) \
	2>"$tmp/direct.log" &
pub2_pid=$!
wait_confirms 200 10000 || fail "fewer than 200 confirms through HAProxy in 10 s"
wait_lines "$tmp/direct" 49 10000 || fail "fewer than 50 confirms straight from the master in 10 s"

# ---- the master's link down ----
link_down "$master"
t0=$(now_ms)
# Counted once the link is down (publishing goes on while `ip` runs): a confirm written after this
# was sent before the cut (the one message in flight then: each publisher waits for its confirm
# before the next) or by a new master through HAProxy, or, in the master's namespace, by a master
# cut off from its majority, which must confirm nothing.
before=$(wc -l <"$tmp/confirmed")
direct0=$(wc -l <"$tmp/direct")
others_than "$master"
t503="" tnew="" tconf="" new=""
while [ -z "$t503" ] || [ -z "$tnew" ] || [ -z "$tconf" ]; do
	[ "$(now_ms)" -lt $((t0 + 10000)) ] ||
		fail "10 s after the cut: 503 at ${t503:-none}, a new master at ${tnew:-none}, a confirm at ${tconf:-none} (ms since epoch; cut at $t0)"
	[ -n "$t503" ] || [ "$(health "$master")" != 503 ] || t503=$(now_ms)
	if [ -z "$tnew" ]; then
		for i in "${others[@]}"; do
			[ "$(health "$i")" = 200 ] || continue
			tnew=$(now_ms)
			new=$i
		done
	fi
	[ -n "$tconf" ] || [ "$(wc -l <"$tmp/confirmed")" -le $((before + 1)) ] || tconf=$(now_ms)
	sleep 0.01
done
echo "cut: node $master answers 503 after $((t503 - t0)) ms; node $new master after $((tnew - t0)) ms, a confirm through HAProxy after $((tconf - t0)) ms"
[ $((t503 - t0)) -le 3000 ] || fail "the isolated master passed its health check for $((t503 - t0)) ms"
# Issue 14 asks for 2 s. The replicas notice the silence after the 1 s heartbeat timeout; before
# Berkeley DB's one-second polls were cut to 5 ms (store/repl.c, short_polls), a replica's sync
# with the new master could add a second to that (docs/cluster.md).
[ $((tconf - t0)) -le 2000 ] || fail "the first confirm after the cut took $((tconf - t0)) ms (bound 2,000)"

# The isolated master idle from now on: no commit of its own fails its quorum ack any more.
kill -STOP "$pub2_pid"
# The partition lasts 6 s, and the new master confirms 100 more meanwhile.
wait_confirms $((before + 100)) 10000 || fail "the new master confirmed fewer than 100 in 10 s"
# From 3.5 s after the cut (its last failed commit a second behind, its peers' connections
# broken after 2 s without an acknowledgement) the idle isolated master must fail every check.
while [ "$(now_ms)" -lt $((t0 + 3500)) ]; do sleep 0.05; done
n=0
while [ "$(now_ms)" -lt $((t0 + 6000)) ]; do
	code=$(health "$master")
	[ "$code" = 503 ] ||
		fail "the isolated master, idle, answered its health check $code $(($(now_ms) - t0)) ms after the cut"
	n=$((n + 1))
	sleep 0.02
done
echo "cut: node $master idle, 503 to all $n checks 3.5-6 s after the cut"
direct1=$(wc -l <"$tmp/direct")
[ "$direct1" -le $((direct0 + 1)) ] ||
	fail "the isolated master confirmed $((direct1 - direct0)) messages after the cut"

# ---- the link up again: the old master rejoins ----
link_up "$master"
t1=$(now_ms)
kill -CONT "$pub2_pid"
bound=$((t1 + 30000))
until [ "$(json_field "$(cluster_json "$master")" role)" = replica ]; do
	[ "$(now_ms)" -lt "$bound" ] || fail "the old master did not become a replica in 30 s"
	sleep 0.05
done
t2=$(now_ms)
# Its claim can make the new master give up the role too (DUPMASTER): whoever is master now.
new=$(wait_master 10000 1 2 3) || fail "no master 10 s after the old master became a replica"
caught_up "$new" "$master"
echo "heal: node $master a replica $((t2 - t1)) ms after the link came up, caught up after $(($(now_ms) - t1)) ms; node $new is master"
wait_confirms "$(($(wc -l <"$tmp/confirmed") + 50))" 10000 || fail "no confirms after the heal"
kill -TERM "$pub_pid" "$pub2_pid"
wait "$pub_pid" || fail "the publisher through HAProxy failed"
wait "$pub2_pid" || fail "the publisher in the master's namespace failed"
pub_pid=""
pub2_pid=""
grep -v "unconfirmed (" "$tmp/pub.log" || true
cat "$tmp/direct.log"
grep -q " 0 nacked" "$tmp/direct.log" && fail "the isolated master sent no basic.nack"
grep -q -E "connection.close 320 .*this node is no longer the master(; the master is now ($(host "${others[0]}"):$(repl "${others[0]}")|$(host "${others[1]}"):$(repl "${others[1]}")))?'" \
	"$tmp/direct.log" || fail "the old master's client was not closed with 320"
grep -q "the master is now" "$tmp/direct.log" ||
	echo "heal: the old master's 320 named no master: none was known yet (both gave up the role)"
grep -q "no longer the master" "$tmp/n$master/log" || fail "the old master did not log its demotion"
echo "$((direct1 - direct0)) confirmed by the isolated master after the cut"

# Every message anyone confirmed, the isolated master's publisher's included.
cat "$tmp/direct" >>"$tmp/confirmed"
check_delivered
all_connected
stop_all
check_logs
echo "PASS"
