#!/usr/bin/env bash
# Definitions both ways between warrend and a real RabbitMQ 3.10 (Debian's rabbitmq-server),
# `make interop-rabbitmq` (not in make check: a RabbitMQ node takes longer to start than make
# check's budget allows, and test/fixtures/rabbitmq-3.10.8-definitions.json, an export taken from
# one, stands in for it there). A private node on loopback ports of its own, with its own
# directory, is started here: users, a vhost with limits, permissions, topic permissions,
# policies, queues, exchanges and bindings are made in it; its export imports into warrend (its users log
# in with their RabbitMQ passwords), where a user with a scrypt hash is added; warrend's export
# (`warrenctl export_definitions`, over the control socket: the same document as GET
# /api/definitions) imports into a reset node with `rabbitmqctl import_definitions`, which then
# lists the same objects and users, the scrypt one as warren_scrypt; and that node's export,
# imported into a new warrend with `warrenctl import_definitions`, gives the scrypt user its
# password back. Skipped (77) without rabbitmq-server, curl or python3. Run from the build
# directory, or set WARREND and WARRENCTL.
set -euo pipefail
name=rabbitmq-definitions
# shellcheck source=tools/private-warrend.sh
. "$(dirname "$0")/../tools/private-warrend.sh"

rmqbin=/usr/lib/rabbitmq/bin
if [ ! -x "$rmqbin/rabbitmq-server" ] || ! command -v curl >/dev/null ||
	! command -v python3 >/dev/null; then
	echo "$name: SKIP: needs rabbitmq-server (Debian), curl and python3"
	exit 77
fi
warrenctl=${WARRENCTL:-./tools/warrenctl}
port=$((30000 + RANDOM % 20000))
node=warrendefs$$
export RABBITMQ_NODENAME=$node@localhost RABBITMQ_NODE_PORT=$port \
	RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE=$tmp/rmq/mnesia \
	RABBITMQ_LOG_BASE=$tmp/rmq/log RABBITMQ_PID_FILE=$tmp/rmq/pid \
	RABBITMQ_DIST_PORT=$((port + 10000)) RABBITMQ_CONFIG_FILE=$tmp/rmq/rabbitmq HOME=$tmp/rmq
mkdir -p "$tmp/rmq/mnesia" "$tmp/rmq/log"
echo "cookie$node" >"$tmp/rmq/.erlang.cookie"
chmod 400 "$tmp/rmq/.erlang.cookie"
echo "loopback_users = none" >"$tmp/rmq/rabbitmq.conf"
ctl() { timeout 120 "$rmqbin/rabbitmqctl" -n "$node@localhost" "$@"; }
# rabbitmqctl import_definitions returns before the node has applied everything: wait for the
# binding, which RabbitMQ imports last.
imported() {
	for _ in $(seq 100); do
		ctl list_bindings -p orders source_name routing_key 2>/dev/null | grep -q 'orders.x.orders\.#' &&
			return
		sleep 0.2
	done
}
setsid "$rmqbin/rabbitmq-server" >"$tmp/rmq/start.log" 2>&1 </dev/null &
trap 'ctl stop >/dev/null 2>&1 || true; cleanup' EXIT
ctl wait "$tmp/rmq/pid" --timeout 90 >/dev/null || fail "RabbitMQ did not start"

ctl add_user alice s3cret >/dev/null
ctl set_user_tags alice management monitoring >/dev/null
ctl add_vhost orders >/dev/null
ctl set_permissions -p orders alice '^alice\.' '.*' '.*' >/dev/null
ctl set_permissions -p orders guest '.*' '.*' '.*' >/dev/null
ctl set_topic_permissions -p orders alice amq.topic '^orders\.' '.*' >/dev/null
ctl set_vhost_limits -p orders '{"max-connections": 100, "max-queues": 50}' >/dev/null
# Policies: one Warren acts on, one with RabbitMQ's mirroring keys (accepted, no effect).
ctl set_policy -p orders --priority 2 --apply-to queues orders-cap '^orders\.' \
	'{"max-length": 10, "dead-letter-exchange": "orders.ae"}' >/dev/null
ctl set_policy -p orders ha-all '.*' '{"ha-mode": "all", "ha-sync-mode": "automatic"}' >/dev/null
cat >"$tmp/objects.json" <<'JSON'
{"queues":[{"name":"orders.q","vhost":"orders","durable":true,"auto_delete":false,"arguments":{"x-max-length":100}}],
"exchanges":[{"name":"orders.x","vhost":"orders","type":"topic","durable":true,"auto_delete":false,"internal":false,"arguments":{"alternate-exchange":"orders.ae"}},{"name":"orders.ae","vhost":"orders","type":"fanout","durable":true,"auto_delete":false,"internal":false,"arguments":{}}],
"bindings":[{"source":"orders.x","vhost":"orders","destination":"orders.q","destination_type":"queue","routing_key":"orders.#","arguments":{}}]}
JSON
ctl import_definitions "$tmp/objects.json" >/dev/null
imported
ctl export_definitions "$tmp/from-rabbitmq.json" >/dev/null

# A new warrend: guest (scrypt) in a users file, the default vhost, nothing else.
warren_files() {
	local hash
	hash=$(printf '%s\n' guest | "$warrenctl" hash-password)
	rm -rf "$tmp/vhosts" "$tmp/data" "$tmp/ready"
	mkdir "$tmp/vhosts"
	printf '%s\n' "guest:$hash:administrator" >"$tmp/users"
	printf '%s\n' 'vhost /' 'permissions guest .* .* .*' >"$tmp/vhosts/default.vhost"
	printf '%s\n' "users_file = $tmp/users" "vhost_dir = $tmp/vhosts" >"$tmp/warren.conf"
}
# The same document, whatever the whitespace and order of keys.
same_json() { python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' "$1" "$2"; }
warren_files
WARREND_CONFIG=$tmp/warren.conf warrend_start
api() { curl -sS -u "${U:-guest:guest}" -o "$tmp/out" -w '%{http_code}' "$@" "http://127.0.0.1:$http_port/api/$path"; }
path=definitions
[ "$(api -X POST -H 'Content-Type: application/json' --data-binary @"$tmp/from-rabbitmq.json")" = 204 ] ||
	fail "RabbitMQ's export did not import: $(cat "$tmp/out")"
grep -q '^alice:\$rabbitmq-sha256\$' "$tmp/users" || fail "alice is not in the users file"
path=whoami
[ "$(U=alice:s3cret api)" = 200 ] || fail "alice cannot log in with her RabbitMQ password"
path=queues/orders/orders.q
[ "$(api)" = 200 ] || fail "orders.q was not declared: $(cat "$tmp/out")"
grep -q '"policy":"orders-cap"' "$tmp/out" || fail "orders.q has no policy: $(cat "$tmp/out")"
grep -q '^policy orders-cap .*priority 2 apply-to queues' "$tmp/vhosts/orders.vhost" ||
	fail "orders.vhost lacks the policy line: $(cat "$tmp/vhosts/orders.vhost")"
grep -q '^policy ha-all ' "$tmp/vhosts/orders.vhost" || fail "orders.vhost lacks ha-all"
# carol's hash is Warren's own (scrypt): RabbitMQ must take it too.
path=users/carol
[ "$(api -X PUT -H 'Content-Type: application/json' --data-binary '{"password":"pw","tags":"management"}')" = 201 ] ||
	fail "PUT /api/users/carol: $(cat "$tmp/out")"
grep -q '^carol:\$scrypt\$' "$tmp/users" || fail "carol has no scrypt hash in the users file"
"$warrenctl" export_definitions --data-dir "$tmp/data" "$tmp/from-warren.json" >/dev/null ||
	fail "warrenctl export_definitions failed"
path=definitions
[ "$(api)" = 200 ] || fail "warrend's export failed"
same_json "$tmp/out" "$tmp/from-warren.json" ||
	fail "warrenctl export_definitions and GET /api/definitions differ"
carol_hash=$(python3 -c 'import json, sys; u = [u for u in json.load(open(sys.argv[1]))["users"] if u["name"] == "carol"][0]; assert u["hashing_algorithm"] == "warren_scrypt", u; print(u["password_hash"])' "$tmp/from-warren.json") ||
	fail "carol is not warren_scrypt in warrend's export"
warrend_stop

ctl stop_app >/dev/null
ctl reset >/dev/null
ctl start_app >/dev/null
ctl import_definitions "$tmp/from-warren.json" >/dev/null || fail "RabbitMQ refused warrend's export"
imported
ctl list_users | grep -q '^alice' || fail "RabbitMQ has no alice after the import"
ctl authenticate_user alice s3cret >/dev/null || fail "alice's hash did not survive the round trip"
ctl list_queues -p orders name | grep -q '^orders.q' || fail "RabbitMQ has no orders.q"
ctl list_bindings -p orders source_name routing_key | grep -q 'orders.x.orders\.#' ||
	fail "RabbitMQ has no orders.x binding"
ctl list_vhost_limits -p orders | grep -q '"max-queues":50' || fail "RabbitMQ lost the limits"
ctl list_policies -p orders | grep -q 'orders-cap' || fail "RabbitMQ lost the policy"
ctl list_topic_permissions -p orders | grep -q 'alice' || fail "RabbitMQ lost the topic permissions"
ctl list_users | grep -q "^carol[[:space:]]\[management\]" || fail "RabbitMQ has no carol (warren_scrypt) after the import"
# RabbitMQ keeps carol's hash as it came (it cannot check it: she needs a password there) ...
ctl export_definitions "$tmp/back.json" >/dev/null || fail "RabbitMQ's second export failed"
python3 -c 'import json, sys; u = [u for u in json.load(open(sys.argv[1]))["users"] if u["name"] == "carol"][0]; sys.exit(u["hashing_algorithm"] != "warren_scrypt" or u["password_hash"] != sys.argv[2])' "$tmp/back.json" "$carol_hash" ||
	fail "RabbitMQ changed carol's warren_scrypt hash"
# ... so a new warrend that imports it gives carol her password back.
warren_files
WARREND_CONFIG=$tmp/warren.conf warrend_start
"$warrenctl" import_definitions --data-dir "$tmp/data" "$tmp/back.json" >/dev/null ||
	fail "warrenctl import_definitions of RabbitMQ's export failed"
grep -q '^carol:\$scrypt\$' "$tmp/users" || fail "carol's scrypt hash did not come back"
path=whoami
[ "$(U=carol:pw api)" = 200 ] || fail "carol cannot log in to warrend after the round trip"
[ "$(U=alice:s3cret api)" = 200 ] || fail "alice cannot log in to warrend after the round trip"
path=queues/orders/orders.q
[ "$(api)" = 200 ] || fail "orders.q was not declared: $(cat "$tmp/out")"
warrend_stop
echo "$name: RabbitMQ -> Warren -> RabbitMQ -> Warren: users, hashes (RabbitMQ's and warren_scrypt), vhosts, limits, permissions, policies, objects kept"
