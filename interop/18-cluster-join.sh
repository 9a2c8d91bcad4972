#!/usr/bin/env bash
# A node joins a running group (docs/cluster.md; issue 14 point 1): three nodes form the group,
# and under publishing with confirms through HAProxy a fourth, with `cluster_join = yes` and only
# node 2 in cluster_peers, joins, copies the store and catches up; every node then lists four
# members. kill -9 of the master: a new master (the newcomer may be it) serves through HAProxy
# within 2 s; the old master restarted rejoins; every confirmed message is delivered.
# Bounded waits; every node's log read for errors. Skipped (77) without haproxy or curl.
cluster_nodes=4
cluster_join_last=1
# shellcheck source=interop/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"

for i in 1 2 3; do start "$i"; done
master=$(wait_master 20000 1 2 3) || fail "no master within 20 s of the start"
start_haproxy
"$client" publish "$front" q "$tmp/confirmed" 2>"$tmp/pub.log" &
pub_pid=$!
wait_confirms 100 10000 || fail "fewer than 100 confirms through HAProxy in 10 s"
t0=$(now_ms)
start 4
caught_up "$master" 4
echo "join: node 4 joined through node 2 and caught up in $(($(now_ms) - t0)) ms (master: node $master)"
all_connected # 4 x 4: each node lists every member
"$builddir/tools/warrenctl" cluster status --data-dir "$tmp/n$master/data" >"$tmp/status" ||
	fail "warrenctl cluster status failed"
[ "$(grep -c " connected" "$tmp/status")" = 4 ] || { cat "$tmp/status"; fail "the master does not list 4 connected members"; }

before=$(wc -l <"$tmp/confirmed")
kill9 "$master"
t0=$(now_ms)
others_than "$master"
new=$(wait_master 5000 "${others[@]}") || fail "no new master within 5 s of kill -9"
wait_confirms $((before + 1)) 10000 || fail "no confirm through HAProxy within 10 s of kill -9"
t1=$(now_ms)
echo "kill -9 of node $master: node $new master, a confirm through HAProxy after $((t1 - t0)) ms"
[ $((t1 - t0)) -le 2000 ] || fail "the first confirm after kill -9 took $((t1 - t0)) ms (bound 2,000)"
start "$master"
caught_up "$new" "$master"
kill -TERM "$pub_pid"
wait "$pub_pid" || fail "the publisher failed"
pub_pid=""
cat "$tmp/pub.log"
check_delivered
check_logs
stop_all
echo "join: ok"
