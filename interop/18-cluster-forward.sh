#!/usr/bin/env bash
# Clients connecting to any node of a three-node Warren cluster (docs/cluster.md, issue 14
# point 5): a replica forwards each AMQP connection, as bytes, to the master's advertised address,
# and refuses it with a clear reason when there is no master.
#   (f1) through each replica: persistent publishes with confirms, all on the master (consumed
#        through it), and consumed through a replica;
#   (f2) kill -9 of the master: a client connecting to a surviving replica reaches the new master;
#        a client with a list of addresses (the dead master first) gets in at the next one;
#   (f3) no master (the new master killed too; a lone node never becomes master): a connection to
#        the survivor is refused quickly with 320 CONNECTION_FORCED and the reason;
#   amqps (where openssl is installed): passed through a replica untouched, TLS terminated by the
#   master (its certificate answers), and refused the same way without a master;
#   the connect time (login) through a replica and straight to the master, printed.
# Every wait is bounded; every node's log is read for errors at the end. Skipped (77) without
# haproxy or curl (interop/cluster-lib.sh).
# shellcheck source=interop/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"

# login_until node bound_ms pattern: log in to a node until the outcome matches pattern (ERE),
# every try bounded (2 s in the client); the last outcome on stdout, or fail.
login_until() {
	local bound=$(($(now_ms) + $2)) out
	while :; do
		out=$("$client" login "$(amqp "$1")" || true)
		if grep -Eq "$3" <<<"$out"; then
			echo "$out"
			return 0
		fi
		[ "$(now_ms)" -lt "$bound" ] || fail "node $1: no login matching '$3' within $2 ms (last: $out)"
		sleep 0.05
	done
}
median_login_ms() { # node: the median of 21 logins' times (ms, from TCP connect to open-ok)
	local i
	for i in $(seq 21); do "$client" login "$(amqp "$1")" | awk '$1 == "ok" { print $3 }'; done |
		sort -g | sed -n 11p
}

# amqps too, where openssl can make the certificates: each node its own, named after it, so
# that the one answering through a replica shows who terminated TLS.
tls=""
if command -v openssl >/dev/null 2>&1; then
	tls=yes
	for i in 1 2 3; do
		openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/n$i/key.pem" \
			-out "$tmp/n$i/cert.pem" -days 2 -subj "/CN=warren-node-$i" >/dev/null 2>&1 ||
			fail "openssl could not make a certificate"
		cat >>"$tmp/n$i/warren.conf" <<EOF
listen_tls = 127.0.0.1:$(amqps "$i")
tls_cert = $tmp/n$i/cert.pem
tls_key = $tmp/n$i/key.pem
EOF
	done
else
	echo "openssl is missing: amqps forwarding not tested"
fi
# tls_subject port: the subject of the certificate that answers a TLS handshake on port.
tls_subject() {
	timeout 5 openssl s_client -connect "127.0.0.1:$1" </dev/null 2>/dev/null |
		openssl x509 -noout -subject 2>/dev/null || true
}

for i in 1 2 3; do start "$i"; done
master=$(wait_master 20000 1 2 3) || fail "no master within 20 s of the start"
replicas=()
for i in 1 2 3; do [ "$i" = "$master" ] || replicas+=("$i"); done
echo "start: node $master is master, nodes ${replicas[*]} replicas"

# ---- (f1) publishing and consuming through the replicas ----
for r in "${replicas[@]}"; do
	login_until "$r" 5000 '^ok ' >/dev/null
	"$client" send "$(amqp "$r")" fq "$tmp/sent$r" 50 || fail "publishing 50 through replica $r failed"
done
"$client" consume "$(amqp "$master")" fq "$tmp/got-master" 1000 2>"$tmp/con.log" ||
	fail "consuming from the master failed: $(cat "$tmp/con.log")"
missing=$(cat "$tmp/sent${replicas[0]}" "$tmp/sent${replicas[1]}" | sort | comm -23 - <(sort -u "$tmp/got-master") | wc -l)
echo "(f1) 100 published with confirms through the replicas, $(wc -l <"$tmp/got-master") consumed from the master, $missing missing"
[ "$missing" = 0 ] || fail "$missing messages confirmed through replicas are not on the master"
"$client" send "$(amqp "$master")" fq2 "$tmp/sent-m" 20 || fail "publishing 20 to the master failed"
"$client" consume "$(amqp "${replicas[1]}")" fq2 "$tmp/got-r" 1000 2>"$tmp/con.log" ||
	fail "consuming through replica ${replicas[1]} failed: $(cat "$tmp/con.log")"
missing=$(sort "$tmp/sent-m" | comm -23 - <(sort -u "$tmp/got-r") | wc -l)
echo "(f1) 20 published to the master, $(wc -l <"$tmp/got-r") consumed through replica ${replicas[1]}, $missing missing"
[ "$missing" = 0 ] || fail "$missing messages were not consumed through the replica"

if [ -n "$tls" ]; then
	for r in "${replicas[@]}"; do
		subject=$(tls_subject "$(amqps "$r")")
		grep -q "warren-node-$master" <<<"$subject" ||
			fail "TLS through replica $r was answered by '$subject', not the master $master"
		out=$(CLUSTER_TLS=1 "$client" login "$(amqps "$r")") ||
			fail "an amqps login through replica $r failed: $out"
	done
	echo "(f1) amqps through both replicas: TLS answered by the master's certificate ($subject), login $out"
fi

# The cost of a connection: logins (TCP connect to connection.open-ok) through a replica and
# straight to the master, medians of 21.
echo "connect (login) median: $(median_login_ms "$master") ms to the master, $(median_login_ms "${replicas[0]}") ms through a replica"

# ---- (f2) kill -9 of the master: the replicas forward to the new master ----
kill9 "$master"
t0=$(now_ms)
out=$(login_until "${replicas[0]}" 5000 '^ok ')
t1=$(now_ms)
echo "(f2) kill -9 of node $master: a login through replica ${replicas[0]} after $((t1 - t0)) ms ($out)"
new=$(wait_master 5000 "${replicas[@]}") || fail "no new master within 5 s of kill -9"
survivor=${replicas[0]}
[ "$new" = "$survivor" ] && survivor=${replicas[1]}
login_until "$survivor" 5000 '^ok ' >/dev/null
"$client" send "$(amqp "$survivor")" fq3 "$tmp/sent-s" 20 ||
	fail "publishing through replica $survivor to the new master $new failed"
echo "(f2) node $new is the new master; 20 published with confirms through replica $survivor"
# A client with a list of addresses, the dead node first: refused there, in at the next.
"$client" login "$(amqp "$master")" "$(amqp "$survivor")" "$(amqp "$new")" >"$tmp/list" ||
	fail "a client with a list of addresses did not get in: $(cat "$tmp/list")"
cat "$tmp/list"
grep -q "^failed $(amqp "$master") " "$tmp/list" || fail "the dead node $master let a client in"
grep -q "^ok $(amqp "$survivor") " "$tmp/list" || fail "the list did not get in at node $survivor"

# ---- (f3) no master: the survivor refuses with 320 and the reason, quickly ----
kill9 "$new"
t0=$(now_ms)
out=$(login_until "$survivor" 5000 '^refused [0-9]+ [0-9.]+ 320 CONNECTION_FORCED - no master in the cluster at the moment; try again in a moment$')
t1=$(now_ms)
echo "(f3) node $new killed too: node $survivor refuses after $((t1 - t0)) ms: $out"
# Each refusal is quick (the client's own bound is 2 s); ten more, all the same.
for i in $(seq 10); do
	out=$("$client" login "$(amqp "$survivor")" || true)
	grep -Eq '^refused [0-9]+ [0-9.]+ 320 CONNECTION_FORCED - no master in the cluster' <<<"$out" ||
		fail "node $survivor without a master answered: $out"
	ms=$(awk '{ print $3 }' <<<"$out")
	awk -v ms="$ms" 'BEGIN { exit !(ms <= 500) }' || fail "the refusal took $ms ms (bound 500)"
done
echo "(f3) ten more refusals, each within 500 ms (last $ms ms)"
if [ -n "$tls" ]; then
	out=$(CLUSTER_TLS=1 "$client" login "$(amqps "$survivor")" || true)
	grep -Eq '^refused [0-9]+ [0-9.]+ 320 CONNECTION_FORCED - no master in the cluster' <<<"$out" ||
		fail "node $survivor without a master answered amqps with: $out"
	echo "(f3) amqps: $out"
fi

# The two killed come back: a master again, and the survivor forwards to it.
start "$master"
start "$new"
m=$(wait_master 20000 1 2 3) || fail "no master within 20 s of the restarts"
for i in 1 2 3; do [ "$i" = "$m" ] || login_until "$i" 10000 '^ok ' >/dev/null; done
echo "restarted: node $m is master, both replicas forward to it"
stop_all
check_logs
echo "PASS"
