# cluster-lib.sh: what the cluster tests share (sourced by interop/18-cluster*.sh, run from the
# build directory): three nodes on loopback with free ports and temporary data directories, their
# start, the master check, /api/cluster, waits with time bounds, HAProxy in front, the final
# consume-and-compare, and the log check. Skips (77) without haproxy or curl.
set -euo pipefail
builddir=$(pwd)
warrend=$builddir/server/warrend
client=$builddir/interop/cluster-client
command -v haproxy >/dev/null 2>&1 || { echo "SKIP: haproxy is not installed (tools/setup.sh)"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl is not installed"; exit 77; }

# CLUSTER_TMP (/tmp/warren-cluster) names the temporary directory, XXXXXX appended.
tmp=$(mktemp -d "${CLUSTER_TMP:-/tmp/warren-cluster}-XXXXXX")
pids=()
haproxy_pid=""
pub_pid=""
pub2_pid=""
cleanup() {
	local p
	[ -z "$pub_pid" ] || kill -9 "$pub_pid" 2>/dev/null || true
	[ -z "$pub2_pid" ] || kill -9 "$pub2_pid" 2>/dev/null || true
	[ -z "$haproxy_pid" ] || kill -9 "$haproxy_pid" 2>/dev/null || true
	# KEEP=1 keeps the directory; KEEP_NODES=1 also leaves the nodes running, to debug them.
	[ -n "${KEEP_NODES:-}" ] && echo "nodes left running: ${pids[*]}" && return
	for p in "${pids[@]}"; do [ "$p" = 0 ] || kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	local i
	echo "FAIL: $*"
	for i in 1 2 3; do echo "--- node $i"; tail -n 30 "$tmp/n$i/log" || true; done
	exit 1
}
now_ms() { date +%s%3N; }

mapfile -t P < <("$client" ports 10)
front=${P[9]}
amqp() { echo "${P[$(($1 - 1))]}"; }
http() { echo "${P[$(($1 + 2))]}"; }
repl() { echo "${P[$(($1 + 5))]}"; }

for i in 1 2 3; do
	mkdir -p "$tmp/n$i"
	peers=""
	for j in 1 2 3; do [ "$j" = "$i" ] || peers="$peers${peers:+, }127.0.0.1:$(repl "$j")"; done
	cat >"$tmp/n$i/warren.conf" <<EOF
listen = 127.0.0.1:$(amqp "$i")
management_listen = 127.0.0.1:$(http "$i")
prometheus_listen = none
data_dir = $tmp/n$i/data
cluster_listen = 127.0.0.1:$(repl "$i")
cluster_peers = $peers
EOF
	# CLUSTER_VERBOSE=1: Berkeley DB's replication messages in each node's log, to debug.
	if [ -n "${CLUSTER_VERBOSE:-}" ]; then
		mkdir -p "$tmp/n$i/data"
		printf 'set_verbose DB_VERB_REP_SYNC\nset_verbose DB_VERB_REPMGR_MISC\nset_verbose DB_VERB_REP_MISC\nset_verbose DB_VERB_REP_ELECT\n' \
			>"$tmp/n$i/data/DB_CONFIG"
	fi
	pids+=(0)
done

start() { # node
	"$warrend" --config "$tmp/n$1/warren.conf" >>"$tmp/n$1/log" 2>&1 &
	pids[$(($1 - 1))]=$!
}
kill9() { # node: SIGKILL, and wait until it is dead
	kill -9 "${pids[$(($1 - 1))]}"
	wait "${pids[$(($1 - 1))]}" 2>/dev/null || true
	pids[$(($1 - 1))]=0
}
stop_all() { # SIGTERM to every node; each must exit 0 within 15 s
	local i p bound=$(($(now_ms) + 15000)) status
	for i in 1 2 3; do kill -TERM "${pids[$((i - 1))]}"; done
	for i in 1 2 3; do
		p=${pids[$((i - 1))]}
		while kill -0 "$p" 2>/dev/null && [ -z "$(ps -o stat= -p "$p" | grep Z)" ]; do
			if [ "$(now_ms)" -ge "$bound" ]; then
				command -v gdb >/dev/null && gdb -p "$p" -batch -ex "thread apply all bt 12" 2>/dev/null | grep -E "^(Thread|#)" | grep -v "^#[0-9] .*\(futex\|pthread_cond\|clone3\|start_thread\)" | head -80
				fail "node $i did not exit within 15 s of SIGTERM"
			fi
			sleep 0.05
		done
		status=0
		wait "$p" || status=$?
		pids[$((i - 1))]=0
		[ "$status" = 0 ] || fail "node $i exited with status $status on SIGTERM"
	done
}
health() { # node: the HTTP status of its master check
	curl -s -o /dev/null -w '%{http_code}' -m 1 -u guest:guest \
		"http://127.0.0.1:$(http "$1")/api/health/checks/master" 2>/dev/null || true
}
cluster_json() { # node
	curl -s -m 1 -u guest:guest "http://127.0.0.1:$(http "$1")/api/cluster" 2>/dev/null || true
}
wait_master() { # bound_ms [nodes...]: echo the master's number, or fail
	local bound=$(($(now_ms) + $1)) i
	shift
	while [ "$(now_ms)" -lt "$bound" ]; do
		for i in "$@"; do
			if [ "$(health "$i")" = 200 ]; then
				echo "$i"
				return 0
			fi
		done
		sleep 0.02
	done
	return 1
}
json_field() { # json key: the first string or number value of key
	grep -o "\"$2\":\"\{0,1\}[^\",}]*" <<<"$1" | head -n 1 | sed 's/^[^:]*://; s/"//g' || true
}
lsn_ge() { # r m: is log position r (FILE/OFFSET) at or past m?
	[ -n "$1" ] && [ -n "$2" ] || return 1
	[ "${1%/*}" -gt "${2%/*}" ] || { [ "${1%/*}" = "${2%/*}" ] && [ "${1#*/}" -ge "${2#*/}" ]; }
}
caught_up() { # a b: wait (15 s) until replica b has synced and reached where master a was
	local bound=$(($(now_ms) + 15000)) m r j
	while :; do
		m=$(json_field "$(cluster_json "$1")" log_position)
		j=$(cluster_json "$2")
		r=$(json_field "$j" log_position)
		# A restarted old master is ahead with a tail the group never had until it has synced.
		[ "$(json_field "$j" caught_up)" = true ] && lsn_ge "$r" "$m" && return 0
		[ "$(now_ms)" -lt "$bound" ] || fail "node $2 is at $r, the master (node $1) at $m after 15 s"
		sleep 0.05
	done
}
all_connected() { # wait (15 s) until every node is connected to both others
	local bound=$(($(now_ms) + 15000)) i n c
	while :; do
		n=0
		for i in 1 2 3; do
			c=$(cluster_json "$i" | grep -o '"connected":true' | wc -l || true)
			n=$((n + c))
		done
		[ "$n" = 9 ] && return 0 # each node lists itself (connected) and its two peers
		[ "$(now_ms)" -lt "$bound" ] || fail "the nodes are not all connected after 15 s"
		sleep 0.05
	done
}
start_haproxy() {
	cat >"$tmp/haproxy.cfg" <<EOF
global
	maxconn 1000
defaults
	mode tcp
	timeout connect 250ms
	retries 2
	option redispatch 1
	timeout client 60s
	timeout server 60s
frontend amqp
	bind 127.0.0.1:$front
	default_backend warren
backend warren
	option httpchk GET /api/health/checks/master
	http-check send hdr Authorization "Basic $(printf guest:guest | base64)"
	http-check expect status 200
	default-server check inter 100ms fall 2 rise 1 on-marked-down shutdown-sessions
	server n1 127.0.0.1:$(amqp 1) port $(http 1)
	server n2 127.0.0.1:$(amqp 2) port $(http 2)
	server n3 127.0.0.1:$(amqp 3) port $(http 3)
EOF
	haproxy -f "$tmp/haproxy.cfg" -db >"$tmp/haproxy.log" 2>&1 &
	haproxy_pid=$!
}
wait_confirms() { # n bound_ms: until the confirmed file has more than n lines
	local bound=$(($(now_ms) + $2))
	until [ -s "$tmp/confirmed" ] && [ "$(wc -l <"$tmp/confirmed")" -gt "$1" ]; do
		[ "$(now_ms)" -lt "$bound" ] || return 1
		sleep 0.005
	done
}
check_delivered() { # every confirmed message consumed through HAProxy
	local missing
	"$client" consume "$front" q "$tmp/delivered" 1000 2>"$tmp/con.log" || {
		cat "$tmp/con.log"
		fail "consuming through HAProxy failed"
	}
	cat "$tmp/con.log"
	missing=$(sort "$tmp/confirmed" | comm -23 - <(sort -u "$tmp/delivered") | wc -l)
	echo "$(wc -l <"$tmp/confirmed") confirmed, $(wc -l <"$tmp/delivered") delivered, $missing confirmed but missing"
	[ "$missing" = 0 ] || fail "$missing confirmed messages were lost"
}
check_logs() { # no error but those a kill explains
	local i
	for i in 1 2 3; do
		if grep -E " error |berkeley db:|ERROR: AddressSanitizer|runtime error:" "$tmp/n$i/log" \
			>"$tmp/errors"; then
			cat "$tmp/errors"
			fail "node $i logged errors"
		fi
	done
}
