#!/usr/bin/env bash
# A real client library's own test suite against Warren (make check): the integration tests of
# amqp091-go, RabbitMQ's Go client, from Debian's golang-github-rabbitmq-amqp091-go-dev (its
# sources, tests included, under /usr/share/gocode). Starts a private warrend on an ephemeral port
# with a temporary data directory, builds the suite with -tags integration, runs it with AMQP_URL
# pointing there, and stops warrend with SIGTERM (exit 0 expected). Skipped (77) when Go or the
# package is missing; tools/setup.sh installs both. Bounded in time: about 5 minutes at worst.
# Run from the build directory (as make check does), or set WARREND.
set -euo pipefail
warrend=${WARREND:-./server/warrend}
src=/usr/share/gocode/src/github.com/rabbitmq/amqp091-go
tmp=$(mktemp -d "${TMPDIR:-/tmp}/client-go.XXXXXX")
pid=""

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "client-go: FAIL: $*" >&2
	[ -f "$tmp/warrend.log" ] && tail -n 30 "$tmp/warrend.log" >&2
	exit 1
}

if ! command -v go >/dev/null || [ ! -f "$src/integration_test.go" ]; then
	echo "client-go: SKIP: needs golang-go and golang-github-rabbitmq-amqp091-go-dev"
	exit 77
fi

# GOPATH mode over a copy (the suite writes nothing, but go wants a writable tree) and Debian's
# other Go sources (goleak, which the suite uses to find leaked goroutines).
mkdir -p "$tmp/go/src/github.com/rabbitmq"
cp -r "$src" "$tmp/go/src/github.com/rabbitmq/"
export GO111MODULE=off GOPATH="$tmp/go:/usr/share/gocode" GOFLAGS=
[ -n "${HOME:-}" ] || export GOCACHE="$tmp/cache"
(cd "$tmp/go/src/github.com/rabbitmq/amqp091-go" &&
	timeout 180 go test -c -tags integration -o "$tmp/suite.test" .) ||
	fail "cannot build the amqp091-go suite"

# warrend writes its bound address to the FIFO once it listens: read it instead of sleeping.
mkfifo "$tmp/ready"
"$warrend" --listen 127.0.0.1:0 --data-dir "$tmp/data" --ready-fd 3 3>"$tmp/ready" \
	2>"$tmp/warrend.log" &
pid=$!
addr=""
read -r -t 20 addr <"$tmp/ready" || true
[ -n "$addr" ] || fail "warrend did not report a listening address"
echo "client-go: warrend (pid $pid) on $addr"

(cd "$tmp" && AMQP_URL="amqp://guest:guest@$addr/" timeout 240 "$tmp/suite.test" \
	-test.timeout 200s >"$tmp/suite.log" 2>&1) || {
	grep -v "later concurrent close were successful" "$tmp/suite.log" | tail -n 60 >&2
	fail "the amqp091-go suite failed"
}
tests=$(AMQP_URL=unused "$tmp/suite.test" -test.list '.*' | grep -c '^Test' || true)
echo "client-go: amqp091-go $(dpkg-query -W -f='${Version}' golang-github-rabbitmq-amqp091-go-dev 2>/dev/null): $tests tests passed"

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" -eq 0 ] || fail "warrend exited with status $status on SIGTERM"
echo "client-go: ok"
