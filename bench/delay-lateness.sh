#!/usr/bin/env bash
# The delayed exchange's lateness (docs/performance.md, "The delayed exchange"): a private warrend
# on an ephemeral port with a temporary data directory, run with WARREN_TEST_DELAY_STAMP=1 so that
# bench/delay_lateness can tell the broker's lateness from its own, optionally loaded by
# warren-perf on the same broker, then bench/delay_lateness against it. Run from the build
# directory (or set WARREND, WARREN_PERF and DELAY_LATENESS).
#
# usage: ../bench/delay-lateness.sh [-r RUNS] [-l 'WARREN-PERF ARGUMENTS'] [-- DELAY_LATENESS ARGS]
#   -r  runs, each on a fresh warrend (1)
#   -l  load: warren-perf with these arguments (besides --port, --time and --quiet) runs from
#       two seconds before the bench until it is done; for instance -l '' (one producer and one
#       consumer of 16-byte transient messages, as fast as they go) or -l '--persistent
#       --confirm 1000'
#   WARREN_TEST_FLUSH_DELAY_MS in the environment slows every log flush of the store (a slow disk).
# Everything after -- goes to delay_lateness: -P (persistent, durable), -n, -a, -l.
set -euo pipefail
runs=1
load=""
loaded=0
while getopts "r:l:" opt; do
	case $opt in
	r) runs=$OPTARG ;;
	l)
		load=$OPTARG
		loaded=1
		;;
	*)
		sed -n '8,16s/^# \{0,1\}//p' "$0" >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
perf=${WARREN_PERF:-./tools/warren-perf}
bench=${DELAY_LATENESS:-./bench/delay_lateness}
name=delay-lateness
export WARREN_TEST_DELAY_STAMP=1
# shellcheck source=tools/private-warrend.sh
. "$(dirname "$0")/../tools/private-warrend.sh"

status=0
for ((i = 1; i <= runs; i++)); do
	rm -rf "$tmp/ready" "$tmp/data"
	warrend_start
	lpid=""
	if [ "$loaded" -eq 1 ]; then
		# shellcheck disable=SC2086
		"$perf" --port "$port" --time 120 --quiet $load >"$tmp/perf.out" 2>&1 &
		lpid=$!
		sleep 2
	fi
	what="no load"
	[ "$loaded" -eq 0 ] || what="load: warren-perf $load"
	echo "$name: run $i of $runs, $what, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	"$bench" -p "$port" -a 4 "$@" || status=1
	if [ -n "$lpid" ]; then
		kill "$lpid" 2>/dev/null || true
		wait "$lpid" 2>/dev/null || true
	fi
	warrend_stop
done
exit $status
