#!/usr/bin/env bash
# The management API over TLS (management_tls_listen, amqps' TLS context): rabbitmqadmin --ssl
# and curl verify warrend's certificate against the test's CA and are served; plain HTTP to the
# HTTPS port and a client that does not trust the CA are refused; the plain listener is off, as
# asked; a reload's new certificate is what new HTTPS clients see.
# Skipped (77) without rabbitmqadmin, python3, curl or openssl; tools/setup.sh installs them.
# Run from the build directory (as make check does), or set WARREND.
set -euo pipefail
name=management-tls
for c in rabbitmqadmin python3 curl openssl; do
	command -v "$c" >/dev/null || { echo "$name: SKIP: needs $c"; exit 77; }
done
warrend=${WARREND:-./server/warrend}
warrenctl=${WARRENCTL:-./tools/warrenctl}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
pid=""
cleanup() {
	[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "$name: FAIL: $*" >&2
	tail -n 30 "$tmp/warrend.log" >&2 || true
	exit 1
}
n=0
ok() { n=$((n + 1)); }

# A CA, and a server certificate for 127.0.0.1 from it; a second CA the clients do not trust.
(
	cd "$tmp"
	exec >/dev/null 2>&1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3 \
		-subj '/CN=Warren Test CA'
	openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 3 \
		-subj '/CN=Other CA'
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
	for ca in ca other; do
		openssl req -newkey rsa:2048 -nodes -keyout server-$ca.key -out server-$ca.csr \
			-subj '/CN=127.0.0.1'
		openssl x509 -req -in server-$ca.csr -CA $ca.crt -CAkey $ca.key -CAcreateserial \
			-out server-$ca.crt -days 3 -extfile san.ext
	done
	cp server-ca.crt server.crt
	cp server-ca.key server.key
) || fail "openssl could not make the certificates"
cat >"$tmp/warren.conf" <<CONF
tls_cert = $tmp/server.crt
tls_key = $tmp/server.key
management_listen = none
management_tls_listen = 127.0.0.1:0
prometheus_listen = none
control_socket = $tmp/control.sock
CONF

mkfifo "$tmp/ready"
"$warrend" --config "$tmp/warren.conf" --listen 127.0.0.1:0 --data-dir "$tmp/data" \
	--ready-fd 3 3>"$tmp/ready" 2>"$tmp/warrend.log" &
pid=$!
amqp="" https=""
{ read -r -t 20 amqp; read -r -t 20 https; } <"$tmp/ready" || true
[ -n "$amqp" ] || fail "warrend did not report its AMQP address"
case $https in *" https") ;; *) fail "no https line on the ready fd (got '$https')" ;; esac
https=${https% https}
port=${https##*:}
grep -q "management API on https://$https/api/" "$tmp/warrend.log" || fail "no https log line"
ok
# The plain listener is off: warrend wrote no http line.
grep -q "management API on http://" "$tmp/warrend.log" && fail "plain HTTP listening"
ok

ra() { timeout 20 python3 "$(command -v rabbitmqadmin)" -H 127.0.0.1 -P "$port" -u guest -p guest \
	--ssl --ssl-ca-cert-file "$tmp/ca.crt" "$@"; }
out=$(ra declare queue name=tls.q durable=false 2>&1) || fail "rabbitmqadmin --ssl declare: $out"
ok
out=$(ra list queues name 2>&1) || fail "rabbitmqadmin --ssl list: $out"
grep -q '| tls.q ' <<<"$out" || fail "queue not listed over TLS: $out"
ok
code=$(curl -s -o "$tmp/overview" -w '%{http_code}' --cacert "$tmp/ca.crt" -u guest:guest \
	"https://127.0.0.1:$port/api/overview") || fail "curl over TLS failed"
[ "$code" = 200 ] || fail "GET /api/overview over TLS: $code"
grep -q '"management_version"' "$tmp/overview" || fail "overview without management_version"
ok
# Wrong credentials over TLS: 401 as over HTTP.
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/ca.crt" -u guest:nope \
	"https://127.0.0.1:$port/api/overview") || fail "curl over TLS (bad password) failed"
[ "$code" = 401 ] || fail "bad password over TLS: $code, not 401"
ok
# A client that does not trust the server's CA refuses it.
if curl -s -o /dev/null --cacert "$tmp/other.crt" -u guest:guest \
	"https://127.0.0.1:$port/api/overview"; then
	fail "a client without the CA was served"
fi
ok
# Plain HTTP to the HTTPS port: no answer as HTTP, and warrend goes on.
code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -u guest:guest \
	"http://127.0.0.1:$port/api/overview" || true)
[ "$code" != 200 ] || fail "plain HTTP served on the HTTPS port"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/ca.crt" -u guest:guest \
	"https://127.0.0.1:$port/api/overview")
[ "$code" = 200 ] || fail "HTTPS after a plain HTTP request: $code"
ok
# A reload with a certificate from the other CA: new HTTPS clients see it.
cp "$tmp/server-other.crt" "$tmp/server.crt"
cp "$tmp/server-other.key" "$tmp/server.key"
"$warrenctl" reload --socket "$tmp/control.sock" >"$tmp/reload" 2>&1 ||
	fail "reload: $(cat "$tmp/reload")"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/other.crt" -u guest:guest \
	"https://127.0.0.1:$port/api/overview") || fail "curl after the reload failed"
[ "$code" = 200 ] || fail "HTTPS with the reloaded certificate: $code"
ok

kill -TERM "$pid"
timeout 10 tail --pid="$pid" -s 0.05 -f /dev/null || fail "warrend still running after SIGTERM"
st=0
wait "$pid" || st=$?
pid=""
[ "$st" -eq 0 ] || fail "warrend exited with status $st"
echo "$name: $n checks passed"
