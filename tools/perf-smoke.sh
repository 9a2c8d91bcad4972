#!/usr/bin/env bash
# Smoke test of warren-perf (make check): start a private warrend on an ephemeral port with a
# temporary data directory, run warren-perf for three seconds with one producer, one consumer and
# confirms, and check the JSON summary: every published message confirmed, some delivered, no
# errors. Then stop warrend with SIGTERM and check it exits 0. Bounded in time: 60 s at worst.
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

warrend_stop
echo "perf-smoke: ok (published $published, confirmed $confirmed, delivered $delivered)"
