#!/usr/bin/env bash
# Smoke test of warren-perf (make check): start a private warrend on an ephemeral port with a
# temporary data directory, run warren-perf for three seconds with one producer, one consumer and
# confirms, and check the JSON summary: every published message confirmed, some delivered, no
# errors. Then a memory check: one producer publishes transient 16-byte messages for 10 s with no
# consumer (tens of millions, paged out past the memory limit), the queue is deleted, and
# warrend's resident set must fall below 200 MiB within 20 s (it kept 500 MiB when malloc's
# freed memory was trimmed only once, before the store thread had freed its part; skipped under
# AddressSanitizer, whose quarantine is resident too). Then stop warrend with SIGTERM and check
# it exits 0. Bounded in time: 90 s at worst.
# Run from the build directory (as make check does), or set WARREND and WARREN_PERF.
set -euo pipefail
perf=${WARREN_PERF:-./tools/warren-perf}
name=perf-smoke
# shellcheck source=tools/private-warrend.sh
. "$(dirname "$0")/private-warrend.sh"
warrend_start

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

if ldd "$warrend" 2>/dev/null | grep -q libasan; then
	echo "perf-smoke: the memory check skipped under AddressSanitizer"
else
	timeout 40 "$perf" --port "$port" --time 10 --producers 1 --producer-only --size 16 \
		--queue-pattern 'smoke-big-%d' --quiet --cleanup >"$tmp/big.out" 2>&1 ||
		{ cat "$tmp/big.out" >&2; fail "warren-perf (publish only) failed"; }
	grep '^published' "$tmp/big.out"
	rss=0
	for _ in $(seq 40); do # a poll of /proc: no event tells that memory went back
		rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
		[ "$rss" -lt $((200 * 1024)) ] && break
		sleep 0.5
	done
	[ "$rss" -lt $((200 * 1024)) ] || fail "resident set $rss KiB 20 s after the queue was deleted"
	echo "perf-smoke: resident set $rss KiB after the queue was deleted"
fi

warrend_stop
echo "perf-smoke: ok (published $published, confirmed $confirmed, delivered $delivered)"
