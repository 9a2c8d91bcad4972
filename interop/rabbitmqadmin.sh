#!/usr/bin/env bash
# rabbitmqadmin, the management API's own command-line client (Debian's rabbitmq-server ships
# it), against a private warrend (make check): it lists, declares, binds, publishes, gets, purges
# and deletes, and what it declares is checked through the API's JSON as well as its tables.
# Skipped (77) without rabbitmqadmin or python3; tools/setup.sh installs rabbitmq-server.
# Run from the build directory (as make check does), or set WARREND.
set -euo pipefail
name=rabbitmqadmin
# shellcheck source=tools/private-warrend.sh
. "$(dirname "$0")/../tools/private-warrend.sh"

admin=$(command -v rabbitmqadmin || true)
if [ -z "$admin" ] || ! command -v python3 >/dev/null; then
	echo "rabbitmqadmin: SKIP: needs rabbitmqadmin (Debian's rabbitmq-server) and python3"
	exit 77
fi

warrend_start
[ -n "$http_port" ] || fail "warrend did not report its management API"
ra() { timeout 20 python3 "$admin" -H 127.0.0.1 -P "$http_port" -u guest -p guest "$@"; }
# expect WHAT PATTERN COMMAND...: the command succeeds and its output matches PATTERN.
expect() {
	local what=$1 pattern=$2 out
	shift 2
	out=$("$@" 2>&1) || fail "$what: rabbitmqadmin failed: $out"
	grep -Eq -- "$pattern" <<<"$out" || fail "$what: no '$pattern' in: $out"
}
n=0
check() { expect "$@"; n=$((n + 1)); }

check "declare queue" "queue declared" ra declare queue name=ra.q durable=true \
	arguments='{"x-max-length": 100}'
check "declare exchange" "exchange declared" ra declare exchange name=ra.x type=topic durable=true
check "declare binding" "binding declared" ra declare binding source=ra.x destination=ra.q \
	routing_key='ra.#'
check "list queues" "\| ra\.q +\|" ra list queues name durable
check "list exchanges" "\| ra\.x +\| topic" ra list exchanges name type
check "list bindings" "\| ra\.x +\| ra\.q +\| ra\.# +\|" ra list bindings source destination routing_key
check "raw json" '"x-max-length": ?100' ra -f raw_json list queues name arguments
check "publish" "Message published" ra publish exchange=ra.x routing_key=ra.one payload=hello
check "publish unroutable" "NOT routed" ra publish exchange=ra.x routing_key=other payload=x
check "publish 2" "Message published" ra publish exchange=amq.default routing_key=ra.q payload=second
check "queue depth" "\| ra\.q +\| 2 +\|" ra list queues name messages
check "get (requeue)" "\| ra\.one +\| ra\.x +\| 1 +\| hello" ra get queue=ra.q ackmode=ack_requeue_true
check "get (ack)" "hello" ra get queue=ra.q ackmode=ack_requeue_false count=1
check "get second" "second" ra get queue=ra.q ackmode=ack_requeue_false
check "get empty" "No items" ra get queue=ra.q ackmode=ack_requeue_false
check "purge" "queue purged" ra purge queue name=ra.q
check "overview" "3\.10\.8" ra show overview
check "nodes" "warren@" ra list nodes
check "vhosts" "\| / " ra list vhosts name
check "delete binding" "binding deleted" ra delete binding source=ra.x destination=ra.q \
	destination_type=queue properties_key='ra.%23'
check "no binding left" "No items|\| +\| ra\.q" ra list bindings source destination
check "delete queue" "queue deleted" ra delete queue name=ra.q
check "delete exchange" "exchange deleted" ra delete exchange name=ra.x
out=$(ra list queues name)
grep -q "ra\.q" <<<"$out" && fail "ra.q still listed after its delete"
out=$(ra delete queue name=ra.q 2>&1) && fail "deleting a missing queue succeeded: $out"
grep -q "Not found" <<<"$out" || fail "deleting a missing queue: $out"
out=$(timeout 20 python3 "$admin" -H 127.0.0.1 -P "$http_port" -u guest -p wrong list queues 2>&1) &&
	fail "a wrong password was accepted: $out"
grep -q "Access refused" <<<"$out" || fail "wrong password: $out"
echo "rabbitmqadmin: $((n + 2)) checks passed"
warrend_stop
