#!/usr/bin/env bash
# Smoke test of warren-perf (make check): start a private warrend on an ephemeral port with a
# temporary data directory, run warren-perf for three seconds with one producer, one consumer and
# confirms, and check the JSON summary: every published message confirmed, some delivered, no
# errors. Then stop warrend with SIGTERM and check it exits 0. Bounded in time: 60 s at worst.
# Run from the build directory (as make check does), or set WARREND and WARREN_PERF.
set -euo pipefail
warrend=${WARREND:-./server/warrend}
perf=${WARREN_PERF:-./tools/warren-perf}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/perf-smoke.XXXXXX")
pid=""

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "perf-smoke: FAIL: $*" >&2
	[ -f "$tmp/warrend.log" ] && tail -n 20 "$tmp/warrend.log" >&2
	exit 1
}

# warrend writes its bound address to the FIFO once it listens: read it instead of sleeping.
mkfifo "$tmp/ready"
"$warrend" --listen 127.0.0.1:0 --data-dir "$tmp/data" --ready-fd 3 3>"$tmp/ready" \
	2>"$tmp/warrend.log" &
pid=$!
addr=""
read -r -t 20 addr <"$tmp/ready" || true
[ -n "$addr" ] || fail "warrend did not report a listening address"
port=${addr##*:}
echo "perf-smoke: warrend (pid $pid) on $addr"

timeout 40 "$perf" --port "$port" --time 3 --producers 1 --consumers 1 --confirm 100 \
	--json --quiet --cleanup >"$tmp/summary.json" 2>"$tmp/perf.err" ||
	{ cat "$tmp/perf.err" >&2; fail "warren-perf exited with status $?"; }
cat "$tmp/summary.json"

field() {
	sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" "$tmp/summary.json"
}
published=$(field published)
confirmed=$(field confirmed)
delivered=$(field delivered)
errors=$(field errors)
if [ -z "$published" ] || [ -z "$confirmed" ] || [ -z "$delivered" ]; then
	fail "no summary"
fi
[ "$published" -gt 0 ] || fail "nothing published"
[ "$published" -eq "$confirmed" ] || fail "published $published but confirmed $confirmed"
[ "$delivered" -gt 0 ] || fail "nothing delivered"
[ "$errors" -eq 0 ] || fail "$errors worker(s) failed"

# warrend closes every connection and exits 0 on SIGTERM; give it ten seconds.
kill -TERM "$pid"
timeout 10 tail --pid="$pid" -s 0.05 -f /dev/null || fail "warrend still running 10 s after SIGTERM"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" -eq 0 ] || fail "warrend exited with status $status"
echo "perf-smoke: ok (published $published, confirmed $confirmed, delivered $delivered)"
