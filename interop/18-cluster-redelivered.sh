#!/usr/bin/env bash
# Deliveries on a cluster's master wait for the group (docs/cluster.md; issue 14 point 4): a
# delivery of a message the group already holds leaves the master only once the commit that
# records it (its delivered mark; for no-ack, its removal) is replicated. Every group is slowed
# by 200 ms (WARREN_TEST_FLUSH_DELAY_MS) so that a master killed right after a delivery would die
# inside that commit:
#   12 persistent messages confirmed on the master; 2 taken by basic.get with no-ack, then a
#   consumer holds 4 unacked and the master is killed with -9 as soon as they came;
#   on the new master: the 10 not taken, none of the 2 taken (a no-ack delivery is forgotten by
#   the group before it is sent), and exactly the 4 held with redelivered set.
# Bounded waits; every node's log read for errors. Skipped (77) without haproxy or curl.
# shellcheck source=interop/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
bound_test 120

export WARREN_TEST_FLUSH_DELAY_MS=200
for i in 1 2 3; do start "$i"; done
master=$(wait_master 20000 1 2 3) || fail "no master within 20 s of the start"
all_connected
echo "start: node $master is master, commits slowed by ${WARREN_TEST_FLUSH_DELAY_MS} ms"

"$client" send "$(amqp "$master")" q "$tmp/sent" 12 2>"$tmp/send.log" ||
	fail "sending 12 confirmed messages failed: $(cat "$tmp/send.log")"
t0=$(now_ms)
"$client" take "$(amqp "$master")" q "$tmp/taken" 2 2>"$tmp/take.log" ||
	fail "basic.get with no-ack failed: $(cat "$tmp/take.log")"
t1=$(now_ms)
"$client" hold "$(amqp "$master")" q "$tmp/held" 4 2>"$tmp/hold.log" &
hold_pid=$!
wait_lines "$tmp/held" 3 10000 || fail "the consumer on the master did not get 4 messages in 10 s"
t2=$(now_ms)
kill9 "$master"
echo "2 basic.get no-ack took $((t1 - t0)) ms, 4 deliveries $((t2 - t1)) ms; node $master killed"
# Each waited for a replicated commit (200 ms or more), not for the previous one only.
[ $((t1 - t0)) -ge 400 ] || fail "2 no-ack gets came in $((t1 - t0)) ms: not after their commits"
others_than "$master"
new=$(wait_master 5000 "${others[@]}") || fail "no new master within 5 s of kill -9"
kill -TERM "$hold_pid" 2>/dev/null || true
wait "$hold_pid" 2>/dev/null || true
hold_pid=""

"$client" consume "$(amqp "$new")" q "$tmp/delivered" 1500 2>"$tmp/con.log" ||
	fail "consuming on the new master (node $new) failed: $(cat "$tmp/con.log")"
cat "$tmp/con.log"
[ "$(sort "$tmp/taken" "$tmp/delivered" | uniq -d | wc -l)" = 0 ] ||
	fail "a message taken with no-ack on the old master came again: $(sort "$tmp/taken" "$tmp/delivered" | uniq -d | tr '\n' ' ')"
missing=$(sort "$tmp/sent" | comm -23 - <(sort -u "$tmp/taken" "$tmp/delivered") | wc -l)
[ "$missing" = 0 ] || fail "$missing confirmed messages were lost"
[ "$(wc -l <"$tmp/delivered")" = 10 ] || fail "$(wc -l <"$tmp/delivered") delivered, not 10"
if ! diff <(sort "$tmp/held") <(sort "$tmp/delivered.redelivered") >"$tmp/diff"; then
	cat "$tmp/diff"
	fail "the messages redelivered by node $new are not the 4 the old master's consumer held"
fi
echo "node $new: the 10 not taken, the 4 held (only they) redelivered, none of the 2 taken"
check_logs
echo "PASS"
