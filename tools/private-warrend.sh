# Sourced by the shell tests (tools/perf-smoke.sh, interop/client-go.sh): a private warrend on an
# ephemeral port of 127.0.0.1 with a temporary data directory. The sourcing script sets `name`
# (its prefix in messages) and may set WARREND (default ./server/warrend, from the build
# directory, as make check runs). Provides: tmp (a temporary directory, removed on exit, with
# warrend.log), fail MESSAGE (prints it and the log's last lines, exits 1), warrend_start (sets
# pid, addr and port, http_port: the management API's, and prom_port: the Prometheus
# endpoint's) and warrend_stop (SIGTERM, then
# exit status 0 within ten seconds).
warrend=${WARREND:-./server/warrend}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
pid=""

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "$name: FAIL: $*" >&2
	[ -f "$tmp/warrend.log" ] && tail -n 30 "$tmp/warrend.log" >&2
	exit 1
}

# warrend writes its bound address to the FIFO once it listens: read it instead of sleeping.
warrend_start() {
	mkfifo "$tmp/ready"
	"$warrend" --listen 127.0.0.1:0 --management-listen 127.0.0.1:0 \
		--prometheus-listen 127.0.0.1:0 --data-dir "$tmp/data" \
		--ready-fd 3 ${WARREND_CONFIG:+--config "$WARREND_CONFIG"} 3>"$tmp/ready" \
		2>"$tmp/warrend.log" &
	pid=$!
	addr=""
	http=""
	prom=""
	{ read -r -t 20 addr; read -r -t 20 http; read -r -t 20 prom; } <"$tmp/ready" || true
	[ -n "$addr" ] || fail "warrend did not report a listening address"
	port=${addr##*:}
	http=${http% http}
	http_port=${http##*:}
	prom=${prom% prometheus}
	prom_port=${prom##*:}
	echo "$name: warrend (pid $pid) on $addr, management API on $http, metrics on $prom"
}

# warrend closes every connection and exits 0 on SIGTERM; give it ten seconds.
warrend_stop() {
	local status=0
	kill -TERM "$pid"
	timeout 10 tail --pid="$pid" -s 0.05 -f /dev/null ||
		fail "warrend still running 10 s after SIGTERM"
	wait "$pid" || status=$?
	pid=""
	[ "$status" -eq 0 ] || fail "warrend exited with status $status"
}
