#!/usr/bin/env bash
# A real client library's own test suite against Warren (make check): the integration tests of
# amqp091-go, RabbitMQ's Go client, from Debian's golang-github-rabbitmq-amqp091-go-dev (its
# sources, tests included, under /usr/share/gocode). Starts a private warrend on an ephemeral port
# with a temporary data directory, builds the suite with -tags integration, runs it with AMQP_URL
# pointing there, and stops warrend with SIGTERM (exit 0 expected). Skipped (77) when Go or the
# package is missing; tools/setup.sh installs both. Bounded in time: about 5 minutes at worst.
# Run from the build directory (as make check does), or set WARREND.
set -euo pipefail
src=/usr/share/gocode/src/github.com/rabbitmq/amqp091-go
name=client-go
# shellcheck source=tools/private-warrend.sh
. "$(dirname "$0")/../tools/private-warrend.sh"

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

warrend_start

# Every test but TestNotifyClosesAllChansAfterConnectionClose: a unit test of the client alone
# (a fake server in client_test.go, no broker) that races on a loaded machine (it failed once in
# 0.00 s while Warren's log showed nothing wrong; it passes alone). Go 1.19 has no -test.skip.
run=$(AMQP_URL=unused "$tmp/suite.test" -test.list '.*' | grep '^Test' |
	grep -vx 'TestNotifyClosesAllChansAfterConnectionClose' | paste -sd '|')
[ -n "$run" ] || fail "the amqp091-go suite lists no tests"
(cd "$tmp" && AMQP_URL="amqp://guest:guest@$addr/" timeout 240 "$tmp/suite.test" \
	-test.run "^($run)\$" -test.timeout 200s >"$tmp/suite.log" 2>&1) || {
	grep -v "later concurrent close were successful" "$tmp/suite.log" | tail -n 60 >&2
	fail "the amqp091-go suite failed"
}
tests=$(printf '%s\n' "$run" | tr '|' '\n' | grep -c '^Test' || true)
echo "client-go: amqp091-go $(dpkg-query -W -f='${Version}' golang-github-rabbitmq-amqp091-go-dev 2>/dev/null): $tests tests passed"

warrend_stop
echo "client-go: ok"
