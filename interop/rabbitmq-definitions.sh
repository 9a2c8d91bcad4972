#!/usr/bin/env bash
# Definitions both ways between warrend and a real RabbitMQ 3.10 (Debian's rabbitmq-server),
# `make interop-rabbitmq` (not in make check: a RabbitMQ node takes longer to start than make
# check's budget allows, and test/fixtures/rabbitmq-3.10.8-definitions.json, an export taken from
# one, stands in for it there). A private node on loopback ports of its own, with its own
# directory, is started here: users, a vhost with limits, permissions, topic permissions,
# queues, exchanges and bindings are made in it; its export imports into warrend (its users log
# in with their RabbitMQ passwords); warrend's export imports into a reset node
# (`rabbitmqctl import_definitions`), which then lists the same objects. Skipped (77) without
# rabbitmq-server. Run from the build directory, or set WARREND and WARRENCTL.
set -euo pipefail
name=rabbitmq-definitions
# shellcheck source=tools/private-warrend.sh
. "$(dirname "$0")/../tools/private-warrend.sh"

rmqbin=/usr/lib/rabbitmq/bin
if [ ! -x "$rmqbin/rabbitmq-server" ] || ! command -v curl >/dev/null; then
	echo "$name: SKIP: needs rabbitmq-server (Debian) and curl"
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
# has PATTERN COMMAND...: the command's output matches (read whole: no SIGPIPE under pipefail).
has() {
	local pat=$1 out
	shift
	out=$("$@" 2>/dev/null) || return 1
	grep -q -- "$pat" <<<"$out"
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
cat >"$tmp/objects.json" <<'JSON'
{"queues":[{"name":"orders.q","vhost":"orders","durable":true,"auto_delete":false,"arguments":{"x-max-length":100}}],
"exchanges":[{"name":"orders.x","vhost":"orders","type":"topic","durable":true,"auto_delete":false,"internal":false,"arguments":{"alternate-exchange":"orders.ae"}},{"name":"orders.ae","vhost":"orders","type":"fanout","durable":true,"auto_delete":false,"internal":false,"arguments":{}}],
"bindings":[{"source":"orders.x","vhost":"orders","destination":"orders.q","destination_type":"queue","routing_key":"orders.#","arguments":{}}]}
JSON
ctl import_definitions "$tmp/objects.json" >/dev/null
for _ in $(seq 50); do has orders.q ctl list_queues -p orders name && break; sleep 0.2; done
ctl export_definitions "$tmp/from-rabbitmq.json" >/dev/null

hash=$(printf '%s\n' guest | "$warrenctl" hash-password)
mkdir "$tmp/vhosts"
printf '%s\n' "guest:$hash:administrator" >"$tmp/users"
printf '%s\n' 'vhost /' 'permissions guest .* .* .*' >"$tmp/vhosts/default.vhost"
printf '%s\n' "users_file = $tmp/users" "vhost_dir = $tmp/vhosts" >"$tmp/warren.conf"
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
path=definitions
[ "$(api)" = 200 ] || fail "warrend's export failed"
cp "$tmp/out" "$tmp/from-warren.json"
warrend_stop

ctl stop_app >/dev/null
ctl reset >/dev/null
ctl start_app >/dev/null
ctl import_definitions "$tmp/from-warren.json" >/dev/null || fail "RabbitMQ refused warrend's export"
for _ in $(seq 50); do has orders.q ctl list_queues -p orders name && break; sleep 0.2; done
has '^alice' ctl list_users || fail "RabbitMQ has no alice after the import"
ctl authenticate_user alice s3cret >/dev/null || fail "alice's hash did not survive the round trip"
has '^orders.q' ctl list_queues -p orders name || fail "RabbitMQ has no orders.q"
has 'orders.x.orders\.#' ctl list_bindings -p orders source_name routing_key ||
	fail "RabbitMQ has no orders.x binding"
has '"max-queues":50' ctl list_vhost_limits -p orders || fail "RabbitMQ lost the limits"
has 'alice' ctl list_topic_permissions -p orders || fail "RabbitMQ lost the topic permissions"
echo "$name: RabbitMQ -> Warren -> RabbitMQ: users, hashes, vhosts, limits, permissions, objects kept"
