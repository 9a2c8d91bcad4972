# cluster-lib.sh: what the cluster tests share (sourced by interop/18-cluster*.sh, run from the
# build directory): three nodes on loopback with free ports and temporary data directories, their
# start, the master check, /api/cluster, waits with time bounds, HAProxy in front, the final
# consume-and-compare, and the log check. Skips (77) without haproxy or curl.
#
# A test may set cluster_nodes (3 by default; 2 for a designated primary, 4 with cluster_join on
# the last: cluster_join_last=1) before sourcing this.
# A test that sets cluster_netns=1 before sourcing this gets its nodes in network namespaces
# instead (netns_setup, below; skipped with 77 where `ip netns` does not work): each node in a
# namespace of its own on an address of its own, joined by a veth pair to a bridge in a further
# namespace where HAProxy and the test's clients run; link_down and link_up cut a node off and
# join it again. Commands run where they must through ns_run and ns_exec (a node's number, or
# front); on loopback they run as they are.
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
hold_pid=""
follow_pid=""
watchdog_pid=""
cluster_netns=${cluster_netns:-}
cluster_nodes=${cluster_nodes:-3}
cluster_join_last=${cluster_join_last:-}
nodes=$(seq "$cluster_nodes")
netns=""      # the namespaces' common prefix, once netns_setup has made them
netns_made=() # every namespace made so far, removed by cleanup
cleanup() {
	local p
	[ -z "$watchdog_pid" ] || kill "$watchdog_pid" 2>/dev/null || true
	[ -z "$pub_pid" ] || kill -9 "$pub_pid" 2>/dev/null || true
	[ -z "$pub2_pid" ] || kill -9 "$pub2_pid" 2>/dev/null || true
	[ -z "$hold_pid" ] || kill -9 "$hold_pid" 2>/dev/null || true
	[ -z "$follow_pid" ] || kill -9 "$follow_pid" 2>/dev/null || true
	[ -z "$haproxy_pid" ] || kill -9 "$haproxy_pid" 2>/dev/null || true
	# KEEP=1 keeps the directory; KEEP_NODES=1 also leaves the nodes (and namespaces) running.
	[ -n "${KEEP_NODES:-}" ] && echo "nodes left running: ${pids[*]} ${netns_made[*]}" && return
	for p in "${pids[@]}"; do [ "$p" = 0 ] || kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	# Once its processes are gone, removing a namespace removes its veth ends and bridge too.
	for p in "${netns_made[@]}"; do ip netns del "$p" || echo "could not remove netns $p"; done
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
# A signal ends the test through exit, so that cleanup runs (a namespace outlives its test).
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
fail() {
	local i
	echo "FAIL: $*"
	for i in $nodes; do echo "--- node $i"; tail -n 30 "$tmp/n$i/log" || true; done
	exit 1
}
now_ms() { date +%s%3N; }
bound_test() { # seconds: fail the whole test when it runs longer (seen once the command
	# running then returns: each is bounded itself)
	trap 'fail "the test ran over its bound of '"$1"' s"' USR1
	(
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		sleep "$1" &
		s=$!
		wait "$s" && kill -USR1 $$
	) &
	watchdog_pid=$!
}

# ---- where things run: loopback, or network namespaces ----
ns_run() { # node|front command...: run command in the node's (or the clients') namespace
	local where=$1
	shift
	if [ -n "$netns" ]; then ip netns exec "$netns-$where" "$@"; else "$@"; fi
}
ns_exec() { # node|front command...: as ns_run, replacing the shell (for `(ns_exec ...) &`)
	local where=$1
	shift
	if [ -n "$netns" ]; then exec ip netns exec "$netns-$where" "$@"; else exec "$@"; fi
}
netns_skip() { # reason: skip (cleanup removes what netns_setup made)
	echo "SKIP: network namespaces do not work here: $*"
	exit 77
}
netns_setup() { # three node namespaces, veth pairs to a bridge in the clients' namespace
	local i x used err="$tmp/netns.err"
	[ "$(id -u)" = 0 ] || netns_skip "not root"
	command -v ip >/dev/null 2>&1 || netns_skip "no ip command (iproute2)"
	# A 10.213.X.0/24 that no address or route of this namespace uses (the test's own are
	# private to its namespaces, but the choice should not even look like a clash).
	used=$(ip -4 addr show && ip -4 route show) || netns_skip "ip addr/route show failed"
	for x in $(seq $(($$ % 200 + 20)) 254) $(seq 20 $(($$ % 200 + 19))); do
		grep -q "10\.213\.$x\.[0-9]" <<<"$used" && continue
		subnet=10.213.$x
		break
	done
	[ -n "${subnet:-}" ] || netns_skip "every 10.213.X.0/24 is in use"
	netns=warren-$$
	ip netns add "$netns-front" 2>"$err" || netns_skip "ip netns add: $(cat "$err")"
	netns_made+=("$netns-front")
	if ! { ip -n "$netns-front" link set lo up && ip -n "$netns-front" link add br0 type bridge &&
		ip -n "$netns-front" addr add "$subnet.254/24" dev br0 &&
		ip -n "$netns-front" link set br0 up; } 2>"$err"; then
		netns_skip "no bridge: $(cat "$err")"
	fi
	for i in $nodes; do
		ip netns add "$netns-$i" 2>"$err" || netns_skip "ip netns add: $(cat "$err")"
		netns_made+=("$netns-$i")
		if ! { ip -n "$netns-$i" link set lo up &&
			ip -n "$netns-front" link add "v$i" type veth peer name eth0 netns "$netns-$i" &&
			ip -n "$netns-front" link set "v$i" master br0 up &&
			ip -n "$netns-$i" addr add "$subnet.$i/24" dev eth0 &&
			ip -n "$netns-$i" link set eth0 up; } 2>"$err"; then
			netns_skip "no veth pair: $(cat "$err")"
		fi
	done
	front_host=$subnet.254
	echo "netns: nodes at $subnet.1-$cluster_nodes in $netns-1..$cluster_nodes, HAProxy and clients at $front_host in $netns-front"
}
link_down() { # node: its veth end at the bridge down, which cuts it off from the others
	ip -n "$netns-front" link set "v$1" down
}
link_up() { # node
	ip -n "$netns-front" link set "v$1" up
}
front_host=127.0.0.1
[ -z "$cluster_netns" ] || netns_setup
host() { # node: its address
	if [ -n "$netns" ]; then echo "$subnet.$1"; else echo 127.0.0.1; fi
}

mapfile -t P < <("$client" ports $((4 * cluster_nodes + 1)))
# HAProxy's frontend (as cluster-client takes it: HOST:PORT)
front=$front_host:${P[$((4 * cluster_nodes))]}
amqp() { echo "${P[$(($1 - 1))]}"; }
http() { echo "${P[$((cluster_nodes + $1 - 1))]}"; }
repl() { echo "${P[$((2 * cluster_nodes + $1 - 1))]}"; }
amqps() { echo "${P[$((3 * cluster_nodes + $1 - 1))]}"; } # for the tests that add listen_tls

for i in $nodes; do
	mkdir -p "$tmp/n$i"
	peers=""
	for j in $nodes; do [ "$j" = "$i" ] || peers="$peers${peers:+, }$(host "$j"):$(repl "$j")"; done
	# The last node of cluster_join_last joins the others' group through node 2.
	if [ -n "$cluster_join_last" ] && [ "$i" = "$cluster_nodes" ]; then
		peers="$(host 2):$(repl 2)"
		echo "cluster_join = yes" >"$tmp/n$i/join.conf"
	elif [ -n "$cluster_join_last" ]; then
		peers=""
		for j in $nodes; do
			[ "$j" = "$i" ] || [ "$j" = "$cluster_nodes" ] ||
				peers="$peers${peers:+, }$(host "$j"):$(repl "$j")"
		done
	fi
	cat >"$tmp/n$i/warren.conf" <<EOF
listen = $(host "$i"):$(amqp "$i")
management_listen = $(host "$i"):$(http "$i")
prometheus_listen = none
data_dir = $tmp/n$i/data
cluster_listen = $(host "$i"):$(repl "$i")
cluster_peers = $peers
EOF
	[ ! -f "$tmp/n$i/join.conf" ] || cat "$tmp/n$i/join.conf" >>"$tmp/n$i/warren.conf"
	# In namespaces the clients are not on loopback, and guest (loopback only by default) is theirs.
	[ -z "$netns" ] || echo "guest_loopback_only = false" >>"$tmp/n$i/warren.conf"
	# CLUSTER_VERBOSE=1: Berkeley DB's replication messages in each node's log, to debug.
	if [ -n "${CLUSTER_VERBOSE:-}" ]; then
		mkdir -p "$tmp/n$i/data"
		printf 'set_verbose DB_VERB_REP_SYNC\nset_verbose DB_VERB_REPMGR_MISC\nset_verbose DB_VERB_REP_MISC\nset_verbose DB_VERB_REP_ELECT\n' \
			>"$tmp/n$i/data/DB_CONFIG"
	fi
	pids+=(0)
done

start() { # node
	(ns_exec "$1" "$warrend" --config "$tmp/n$1/warren.conf") >>"$tmp/n$1/log" 2>&1 &
	pids[$(($1 - 1))]=$!
}
others_than() { # node: set the array others to every other node
	local i
	others=()
	for i in $nodes; do [ "$i" = "$1" ] || others+=("$i"); done
}
kill9() { # node: SIGKILL, and wait until it is dead
	kill -9 "${pids[$(($1 - 1))]}"
	wait "${pids[$(($1 - 1))]}" 2>/dev/null || true
	pids[$(($1 - 1))]=0
}
stop_all() { # SIGTERM to every node; each must exit 0 within 15 s
	local i p bound=$(($(now_ms) + 15000)) status
	for i in $nodes; do [ "${pids[$((i - 1))]}" = 0 ] || kill -TERM "${pids[$((i - 1))]}"; done
	for i in $nodes; do
		p=${pids[$((i - 1))]}
		[ "$p" != 0 ] || continue
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
health() { # node: the HTTP status of its master check (asked from inside its namespace)
	ns_run "$1" curl -s -o /dev/null -w '%{http_code}' -m 1 -u guest:guest \
		"http://$(host "$1"):$(http "$1")/api/health/checks/master" 2>/dev/null || true
}
cluster_json() { # node
	ns_run "$1" curl -s -m 1 -u guest:guest "http://$(host "$1"):$(http "$1")/api/cluster" \
		2>/dev/null || true
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
all_connected() { # wait (15 s) until every node is connected to all the others
	local bound=$(($(now_ms) + 15000)) i n c
	while :; do
		n=0
		for i in $nodes; do
			c=$(cluster_json "$i" | grep -o '"connected":true' | wc -l || true)
			n=$((n + c))
		done
		# each node lists itself (connected) and its peers
		[ "$n" = $((cluster_nodes * cluster_nodes)) ] && return 0
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
	bind $front
	default_backend warren
backend warren
	option httpchk GET /api/health/checks/master
	http-check send hdr Authorization "Basic $(printf guest:guest | base64)"
	http-check expect status 200
	default-server check inter 100ms fall 2 rise 1 on-marked-down shutdown-sessions
EOF
	for i in $nodes; do
		# haproxy_server_opts: more for each server line (send-proxy-v2, say)
		printf '\tserver n%s %s:%s port %s %s\n' "$i" "$(host "$i")" "$(amqp "$i")" "$(http "$i")" \
			"${haproxy_server_opts:-}" >>"$tmp/haproxy.cfg"
	done
	(ns_exec front haproxy -f "$tmp/haproxy.cfg" -db) >"$tmp/haproxy.log" 2>&1 &
	haproxy_pid=$!
}
wait_lines() { # file n bound_ms: until file has more than n lines (1 after bound_ms)
	local bound=$(($(now_ms) + $3))
	until [ -s "$1" ] && [ "$(wc -l <"$1")" -gt "$2" ]; do
		[ "$(now_ms)" -lt "$bound" ] || return 1
		sleep 0.005
	done
}
wait_confirms() { # n bound_ms: until the confirmed file has more than n lines
	wait_lines "$tmp/confirmed" "$1" "$2"
}
check_delivered() { # [ADDR]: every confirmed message consumed through HAProxy (or ADDR)
	local missing
	ns_run front "$client" consume "${1:-$front}" q "$tmp/delivered" 1000 2>"$tmp/con.log" || {
		cat "$tmp/con.log"
		fail "consuming through ${1:-HAProxy} failed"
	}
	cat "$tmp/con.log"
	# (also-delivered: what a test's own consumer took meanwhile, one body a line)
	touch "$tmp/also-delivered"
	missing=$(sort "$tmp/confirmed" | comm -23 - <(sort -u "$tmp/delivered" "$tmp/also-delivered") | wc -l)
	echo "$(wc -l <"$tmp/confirmed") confirmed, $(wc -l <"$tmp/delivered") delivered, $missing confirmed but missing"
	if [ "$missing" != 0 ]; then
		sort "$tmp/confirmed" | comm -23 - <(sort -u "$tmp/delivered" "$tmp/also-delivered") | head -5
		# Late rather than lost? A second consume, 5 s of quiet (the failure stands either way).
		ns_run front "$client" consume "${1:-$front}" q "$tmp/delivered2" 5000 2>&1 || true
		echo "a second consume found $(sort "$tmp/confirmed" | comm -23 - <(sort -u "$tmp/delivered" "$tmp/also-delivered") | comm -12 - <(sort -u "$tmp/delivered2") | wc -l) of them"
		fail "$missing confirmed messages were lost"
	fi
}
check_logs() { # no error but those a kill explains
	local i
	for i in $nodes; do
		if grep -E " error |berkeley db:|ERROR: AddressSanitizer|runtime error:" "$tmp/n$i/log" \
			>"$tmp/errors"; then
			cat "$tmp/errors"
			fail "node $i logged errors"
		fi
	done
}
