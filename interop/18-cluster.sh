#!/usr/bin/env bash
# A three-node Warren cluster on loopback behind HAProxy (docs/cluster.md, issue 14 point 7):
#   (a) kill -9 of the master under persistent publishing with confirms through HAProxy: a new
#       master serves within 2 s, and every confirmed message is delivered afterwards, those a
#       consumer held unacked on the old master with redelivered set;
#   (c) a replica killed and restarted catches up (its log position reaches the master's);
#   (d) all three stopped and started again: every confirmed message is still there.
#   a master without a majority: publishers get basic.nack, the health check fails;
#   (b) SIGSTOP of the master for 6 s, then SIGCONT: a new master meanwhile; the old one closes
#       its clients with 320 naming the new master and rejoins as a replica;
# Each node has a temporary data directory and ports chosen free (interop/cluster-lib.sh); every
# wait is bounded; every node's log is read for errors at the end. Skipped (77) without haproxy or
# curl.
# shellcheck source=interop/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"

# ---- start: any order, a master within 20 s ----
for i in 1 2 3; do start "$i"; done
master=$(wait_master 20000 1 2 3) || fail "no master within 20 s of the start"
echo "start: node $master is master"

start_haproxy

# ---- (a) kill -9 of the master under publishing with confirms ----
"$client" publish "$front" q "$tmp/confirmed" 2>"$tmp/pub.log" &
pub_pid=$!
wait_confirms 199 10000 || fail "fewer than 200 confirms through HAProxy in 10 s"
# A consumer on the master holds 5 deliveries unacked: after the failover they come back with
# redelivered set (checked at the end, when everything is consumed).
"$client" hold "$(amqp "$master")" q "$tmp/held" 5 2>"$tmp/hold.log" &
hold_pid=$!
wait_lines "$tmp/held" 4 5000 || fail "the consumer on the master did not get 5 messages in 5 s"
before=$(wc -l <"$tmp/confirmed")
# Timed from the master's death (the wait), not the signal: a process in fsync dies only once
# that returns, which on a busy disk took up to a second.
kill -9 "${pids[$((master - 1))]}"
wait "${pids[$((master - 1))]}" 2>/dev/null || true
t0=$(now_ms)
pids[$((master - 1))]=0
others_than "$master"
new=$(wait_master 5000 "${others[@]}") || fail "no new master within 5 s of kill -9"
kill -TERM "$hold_pid" 2>/dev/null || true
wait "$hold_pid" 2>/dev/null || true
hold_pid=""
t1=$(now_ms)
# Serving: a confirm through HAProxy after the kill.
bound=$((t0 + 10000))
until [ "$(wc -l <"$tmp/confirmed")" -gt "$((before + 1))" ]; do
	[ "$(now_ms)" -lt "$bound" ] || fail "no confirm through HAProxy within 10 s of kill -9"
	sleep 0.005
done
t2=$(now_ms)
echo "(a) kill -9 of node $master: node $new master after $((t1 - t0)) ms, a confirm through HAProxy after $((t2 - t0)) ms"
# Issue 14: a new master serves within 2 s (most failovers take 250-300 ms here).
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
caught_up "$new" "$master"
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
caught_up "$new" "$replica"
echo "(c) node $replica killed and restarted: caught up (log position $(json_field "$(cluster_json "$replica")" log_position)) in $(($(now_ms) - t0)) ms"
# Replication Manager's counters, as numbers (the replica has received the master's log).
cj=$(cluster_json "$replica")
for f in log_queued_total log_requested msgs_dropped; do
	[[ "$(json_field "$cj" "$f")" =~ ^[0-9]+$ ]] || fail "/api/cluster lacks $f as a number: $cj"
done
echo "(c) replica $replica: $(json_field "$cj" log_queued_total) log records parked out of order, $(json_field "$cj" log_requested) asked for again"


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
others_than "$old"
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
# 320 naming the new master (when the resumed claim made both give up the role, DUPMASTER, the
# old master waits up to 2 s for the election that follows to name one).
grep -q -E "connection.close 320 .*this node is no longer the master; the master is now 127.0.0.1:($(repl "${others[0]}")|$(repl "${others[1]}"))'" \
	"$tmp/pub4.log" || fail "the old master's client was not closed with 320 naming the new master"
grep -q "no longer the master" "$tmp/n$old/log" || fail "the old master did not log its demotion"
echo "(b) node $old resumed: its clients closed with 320, it rejoined as a replica and caught up"

# ---- (d) all three stopped and started again ----
all_connected # a node that lost the master role may be starting again: SIGTERM would kill it
stop_all
for i in 1 2 3; do start "$i"; done
master=$(wait_master 20000 1 2 3) || fail "no master within 20 s of restarting all three"
echo "(d) all three restarted: node $master is master"
"$builddir/tools/warrenctl" cluster status --data-dir "$tmp/n$master/data" >"$tmp/status" ||
	fail "warrenctl cluster status failed"
cat "$tmp/status"
grep -q "^this node: master" "$tmp/status" || fail "warrenctl cluster status: not master"
[ "$(grep -c " connected" "$tmp/status")" = 3 ] || fail "warrenctl cluster status: not 3 connected"
# Every node says which users and vhost files it runs on: here the built-in user on all three.
for i in 1 2 3; do
	"$builddir/tools/warrenctl" cluster status --data-dir "$tmp/n$i/data" | grep -q \
		"^users and vhost files: none (the built-in guest user)$" ||
		fail "warrenctl cluster status on node $i: no line about the users and vhost files"
done
check_delivered
# The old master's unacked deliveries came back marked redelivered.
missing=$(sort "$tmp/held" | comm -23 - <(sort -u "$tmp/delivered.redelivered") | wc -l)
[ "$missing" = 0 ] || fail "$missing of the 5 held deliveries came back without redelivered set"
echo "(a) the 5 deliveries held unacked on the old master came back with redelivered set"

# ---- warrenctl cluster remove: a stopped replica taken out of the group ----
ctl() { "$builddir/tools/warrenctl" cluster "$@" --data-dir "$tmp/n$master/data"; }
gone=1
[ "$gone" != "$master" ] || gone=2
kill -TERM "${pids[$((gone - 1))]}"
wait "${pids[$((gone - 1))]}" || fail "node $gone exited badly on SIGTERM"
pids[$((gone - 1))]=0
ctl remove "127.0.0.1:$(repl "$gone")" || fail "warrenctl cluster remove failed"
ctl status >"$tmp/status" || fail "warrenctl cluster status failed"
cat "$tmp/status"
grep -q "127.0.0.1:$(repl "$gone") " "$tmp/status" && fail "the removed node is still listed"
ctl remove "127.0.0.1:$(repl "$gone")" 2>"$tmp/err" && fail "removing a non-member succeeded"
grep -q "is not a member of the group" "$tmp/err" || fail "removing a non-member: $(cat "$tmp/err")"
ctl remove "127.0.0.1:$(repl "$master")" 2>"$tmp/err" && fail "a node removed itself"
[ "$(health "$master")" = 200 ] || fail "the master of the two left fails its health check"
echo "node $gone removed from the group; the two left serve"
check_logs
echo "PASS"
