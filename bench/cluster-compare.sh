#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# bench/cluster-compare.sh: Warren's three-node group against a three-node RabbitMQ cluster with
# quorum queues, in one run on one machine (docs/performance.md, "The cluster against RabbitMQ's
# quorum queues"); issue 14, point 8.
#
# It starts three warrend nodes on loopback as interop/18-cluster.sh does (interop/cluster-lib.sh:
# free ports, a temporary directory), a single warrend with its data on the same disk, and three
# private RabbitMQ nodes (Debian's rabbitmq-server: distinct node names, ports below 32768, their
# own mnesia, log and plugins files under the temporary directory, one Erlang cookie) joined with
# stop_app, join_cluster and start_app. Then each workload runs against the Warren master, the
# quorum queues' leader node and the single warrend in turn (rounds interleaved, so drifting load
# falls on all three alike), and the median of the rounds is printed with the ratios. Last, the
# failover time of both groups: bench/failover_client publishes one message at a time through
# the list of nodes, the script kills -9 the Warren master, then the RabbitMQ node that leads the
# quorum queue, and reports the time from the kill to the first confirm after it.
#
# usage (from the build directory): ../bench/cluster-compare.sh [-t SECONDS] [-r ROUNDS]
#        [-f FAILOVERS] [-s SCENARIOS]
#   SCENARIOS (comma-separated; all by default): c16 c4k p16 p4k l16 l4k o16 o4k
#     c: 4 producers and 4 consumers over 4 queues, confirm window 256
#     p: the same 4 producers, no consumers (every message written)
#     l: 1 producer and 1 consumer, one confirm at a time
#     o: 1 producer, no consumer, one confirm at a time (each message's commit: its latency)
# Environment: RABBIT_BASE (23100): the RabbitMQ nodes take AMQP ports BASE+1..3 and
# distribution ports BASE+11..13. Everything stopped and removed on exit.
set -euo pipefail
secs=10
rounds=3
failovers=3
scenarios="c16,c4k,p16,p4k,l16,l4k,o16,o4k"
while getopts t:r:f:s: o; do
	case $o in
	t) secs=$OPTARG ;;
	r) rounds=$OPTARG ;;
	f) failovers=$OPTARG ;;
	s) scenarios=$OPTARG ;;
	*) exit 2 ;;
	esac
done
srcdir=$(cd "$(dirname "$0")/.." && pwd)
perf=$(pwd)/tools/warren-perf
fclient=$(pwd)/bench/failover_client
[ -x "$perf" ] && [ -x "$fclient" ] && [ -x server/warrend ] && [ -x interop/cluster-client ] ||
	{ echo "run from the build directory after make and make interop/cluster-client"; exit 2; }
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || { echo "rabbitmq-server is not installed"; exit 2; }

# The three-node Warren group: $tmp, start, kill9, wait_master, health, all_connected, caught_up.
CLUSTER_TMP=${CLUSTER_TMP:-/tmp/cmp3-bench}
# shellcheck source=../interop/cluster-lib.sh
. "$srcdir/interop/cluster-lib.sh"
rbase=${RABBIT_BASE:-23100}
rnode() { echo "cc$rbase-$1@localhost"; }
rport() { echo $((rbase + $1)); }
rdir() { echo "$tmp/rabbit$1"; }
rpids=(0 0 0)
single_pid=0
fpid=0
rabbit_env() { # node: the environment of its server and of rabbitmqctl
	local d
	d=$(rdir "$1")
	echo RABBITMQ_NODENAME="$(rnode "$1")" RABBITMQ_NODE_PORT="$(rport "$1")" \
		RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_DIST_PORT=$((rbase + 10 + $1)) \
		RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log" RABBITMQ_PID_FILE="$d/pid" \
		RABBITMQ_CONFIG_FILE="$d/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
		HOME="$d"
}
rctl() { # node args...: rabbitmqctl against that node, bounded
	local n=$1
	shift
	# shellcheck disable=SC2046
	env $(rabbit_env "$n") timeout 120 /usr/lib/rabbitmq/bin/rabbitmqctl -n "$(rnode "$n")" "$@"
}
all_cleanup() {
	local i
	[ "$fpid" = 0 ] || kill -9 "$fpid" 2>/dev/null || true
	[ "$single_pid" = 0 ] || kill -9 "$single_pid" 2>/dev/null || true
	for i in 1 2 3; do
		if [ "${rpids[$((i - 1))]}" != 0 ]; then
			rctl "$i" stop >/dev/null 2>&1 || kill -9 "${rpids[$((i - 1))]}" 2>/dev/null || true
		fi
	done
	cleanup # cluster-lib's: the Warren nodes, then $tmp
}
trap all_cleanup EXIT
log() { echo "$(date +%T) $*" >&2; }

# ---- RabbitMQ: three private nodes, one cluster ----
for i in 1 2 3; do
	for p in $(rport "$i") $((rbase + 10 + i)); do
		! ss -ltnH "sport = :$p" | grep -q . || { echo "port $p is taken: set RABBIT_BASE"; exit 2; }
	done
done
rabbit_start() { # node
	local d
	d=$(rdir "$1")
	mkdir -p "$d/mnesia" "$d/log"
	rm -f "$d/pid" # a node killed -9 leaves its own
	[ -f "$d/.erlang.cookie" ] || { echo "cookiecc$rbase" >"$d/.erlang.cookie"; chmod 400 "$d/.erlang.cookie"; }
	echo "loopback_users = none" >"$d/rabbitmq.conf"
	echo "[]." >"$d/enabled_plugins"
	# shellcheck disable=SC2046
	env $(rabbit_env "$1") setsid /usr/lib/rabbitmq/bin/rabbitmq-server >"$d/start.log" 2>&1 </dev/null &
	rctl "$1" wait "$d/pid" --timeout 120 >>"$tmp/rabbitmqctl.log" 2>&1 ||
		{ tail -n 20 "$d/start.log"; echo "RabbitMQ node $1 did not start"; exit 1; }
	rpids[$(($1 - 1))]=$(cat "$d/pid")
	[ "$(cat "/proc/${rpids[$(($1 - 1))]}/comm")" = beam.smp ] || { echo "no beam.smp for RabbitMQ node $1"; exit 1; }
}
log "starting three RabbitMQ nodes ($(rnode 1) ...) on ports $(rport 1)-$(rport 3)"
for i in 1 2 3; do rabbit_start "$i"; done
for i in 2 3; do
	rctl "$i" stop_app >>"$tmp/rabbitmqctl.log" 2>&1
	rctl "$i" join_cluster "$(rnode 1)" >>"$tmp/rabbitmqctl.log" 2>&1
	rctl "$i" start_app >>"$tmp/rabbitmqctl.log" 2>&1
done
rctl 1 cluster_status --formatter json | grep -o '"running_nodes":\[[^]]*\]' >&2

# ---- Warren: three nodes, and a single one ----
log "starting three Warren nodes"
for i in 1 2 3; do start "$i"; done
wmaster=$(wait_master 30000 1 2 3) || fail "no Warren master within 30 s"
all_connected
mkdir -p "$tmp/single"
sport=$("$client" ports 1)
cat >"$tmp/single/warren.conf" <<EOF
listen = 127.0.0.1:$sport
management_listen = none
prometheus_listen = none
data_dir = $tmp/single/data
EOF
server/warrend --config "$tmp/single/warren.conf" >>"$tmp/single/log" 2>&1 &
single_pid=$!
for _ in $(seq 300); do
	(exec 3<>"/dev/tcp/127.0.0.1/$sport") 2>/dev/null && break
	sleep 0.05
done
log "Warren master: node $wmaster (port $(amqp "$wmaster")); single warrend on $sport"

# ---- The workloads ----
declare -A result wresult
json_num() { grep -o "\"$2\":[0-9.]*" <<<"$1" | head -n 1 | cut -d: -f2; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
scenario_args() { # name: warren-perf's arguments for it
	local size
	case $1 in *16) size=16 ;; *4k) size=4096 ;; *) echo "unknown scenario $1" >&2; exit 2 ;; esac
	case $1 in
	c*) echo "--producers 4 --consumers 4 --queues 4 --confirm 256 --size $size" ;;
	p*) echo "--producers 4 --producer-only --queues 4 --confirm 256 --size $size" ;;
	l*) echo "--producers 1 --consumers 1 --confirm 1 --size $size" ;;
	o*) echo "--producers 1 --producer-only --confirm 1 --size $size" ;;
	*) echo "unknown scenario $1" >&2; exit 2 ;;
	esac
}
target_args() { # target: port and queue type
	case $1 in
	cluster) echo "--port $(amqp "$wmaster")" ;;
	rabbit) echo "--port $(rport 1) --queue-type quorum" ;;
	single) echo "--port $sport" ;;
	esac
}
target_pids() { # target: its processes
	case $1 in
	cluster) echo "${pids[@]}" ;;
	rabbit) echo "${rpids[@]}" ;;
	single) echo "$single_pid" ;;
	esac
}
written() { # pids...: the bytes they have had written to disk (write_bytes of /proc/PID/io)
	local p n=0
	for p in "$@"; do
		[ "$p" = 0 ] || n=$((n + $(awk '/^write_bytes/ {print $2}' "/proc/$p/io" 2>/dev/null || echo 0)))
	done
	echo "$n"
}
ticks() { # pids...: their CPU time so far, in clock ticks
	local p n=0
	for p in "$@"; do
		[ "$p" = 0 ] || n=$((n + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$n"
}
settle() { # target: wait (60 s at most) until its processes are idle: under 10% of a core over
	# 0.5 s. A run's --cleanup deletes its queues, and a broker deletes the messages left in them
	# in the background (Warren's reaping, replicated on a group): the next run must not pay for it.
	local t0 a b start
	start=$(now_ms)
	while [ $(($(now_ms) - start)) -lt 60000 ]; do
		# shellcheck disable=SC2046
		a=$(ticks $(target_pids "$1"))
		sleep 0.5
		# shellcheck disable=SC2046
		b=$(ticks $(target_pids "$1"))
		[ $((b - a)) -ge $(($(getconf CLK_TCK) / 20)) ] || break
	done
	t0=$(($(now_ms) - start))
	[ "$t0" -lt 1000 ] || log "$1 busy for $t0 ms before the run"
}
run_one() { # scenario target round
	local out rate nacked w0 w1 wpm
	settle "$2"
	# shellcheck disable=SC2046
	w0=$(written $(target_pids "$2"))
	# shellcheck disable=SC2046
	out=$("$perf" $(scenario_args "$1") $(target_args "$2") --persistent --time "$secs" \
		--queue-pattern "cc-$1-$3-%d" --cleanup --json --quiet 2>>"$tmp/perf.err") ||
		{ cat "$tmp/perf.err"; fail "warren-perf failed: $1 against $2"; }
	# shellcheck disable=SC2046
	w1=$(written $(target_pids "$2"))
	rate=$(json_num "$out" publish_rate)
	nacked=$(json_num "$out" nacked)
	wpm=$(awk -v w=$((w1 - w0)) -v r="$rate" -v t="$secs" 'BEGIN { printf "%.0f", (r > 0 ? w / (r * t) : 0) }')
	echo "$wpm" >>"$tmp/w-$1-$2"
	[ "$(json_num "$out" errors)" = 0 ] || { echo "$out"; fail "warren-perf reported errors: $1 against $2"; }
	echo "$1 $2 round $3: $rate msg/s published, $(json_num "$out" deliver_rate) delivered, $nacked nacked, client CPU $(json_num "$out" client_cpu_s) s, $wpm bytes written to disk per message" >&2
	echo "$rate" >>"$tmp/r-$1-$2"
}
for s in ${scenarios//,/ }; do
	for r in $(seq "$rounds"); do
		for t in cluster rabbit single; do
			log "load $(cut -d' ' -f1-3 /proc/loadavg)"
			run_one "$s" "$t" "$r"
		done
	done
	for t in cluster rabbit single; do
		result[$s-$t]=$(median <"$tmp/r-$s-$t")
		wresult[$s-$t]=$(median <"$tmp/w-$s-$t")
	done
done

# ---- Failover ----
fail_ms=() # "warren MS" and "rabbit MS" lines
wait_line() { # file n bound_ms: until file has n lines
	local bound=$(($(now_ms) + $3))
	until [ -s "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; do
		[ "$(now_ms)" -lt "$bound" ] || return 1
		sleep 0.005
	done
}
failover_warren() { # round
	local f=$tmp/fo-warren-$1 t0 line
	: >"$f"
	"$fclient" "fo-warren-$1" - "$f" "$(amqp "$wmaster")" "$(amqp 1)" "$(amqp 2)" "$(amqp 3)" 2>>"$tmp/fclient.log" &
	fpid=$!
	wait_line "$f" 1 10000 || fail "the failover client got no confirm from the Warren master"
	sleep 1 # a second of steady publishing before the kill
	t0=$(now_ms)
	kill9 "$wmaster"
	wait_line "$f" 2 30000 || { tail -n 20 "$tmp/fclient.log"; fail "no confirm within 30 s of killing Warren's master"; }
	line=$(sed -n 2p "$f")
	kill -TERM "$fpid"
	wait "$fpid" || true
	fpid=0
	set -- $line
	log "Warren: master node $wmaster killed; first confirm from port $2 after $(($4 - t0)) ms (last before the kill $((t0 - $3)) ms earlier)"
	fail_ms+=("warren $(($4 - t0))")
	old=$wmaster
	wmaster=$(wait_master 10000 1 2 3) || fail "no Warren master after the failover"
	start "$old"
	caught_up "$wmaster" "$old"
	all_connected
}
rabbit_leader() { # node queue: the node that leads the quorum queue, asked of node
	local l
	l=$(rctl "$1" list_queues name leader --formatter json 2>/dev/null | grep -o "\"name\":\"$2\",\"leader\":\"[^\"]*\"" | sed 's/.*"leader":"//; s/"$//')
	for i in 1 2 3; do [ "$l" = "$(rnode "$i")" ] && echo "$i" && return 0; done
	return 1
}
failover_rabbit() { # round
	local f=$tmp/fo-rabbit-$1 t0 line leader alive i
	: >"$f"
	alive=""
	for i in 1 2 3; do [ "${rpids[$((i - 1))]}" = 0 ] || alive="$alive $(rport "$i")"; done
	# shellcheck disable=SC2086
	"$fclient" "fo-rabbit-$1" quorum "$f" $alive 2>>"$tmp/fclient.log" &
	fpid=$!
	wait_line "$f" 1 30000 || fail "the failover client got no confirm from RabbitMQ"
	for i in 1 2 3; do [ "${rpids[$((i - 1))]}" = 0 ] || { leader=$(rabbit_leader "$i" "fo-rabbit-$1") && break; }; done
	[ -n "${leader:-}" ] || fail "no leader for the quorum queue fo-rabbit"
	sleep 1
	t0=$(now_ms)
	kill -9 "${rpids[$((leader - 1))]}"
	rpids[$((leader - 1))]=0
	wait_line "$f" 2 60000 || { tail -n 20 "$tmp/fclient.log"; fail "no confirm within 60 s of killing RabbitMQ's leader"; }
	line=$(sed -n 2p "$f")
	kill -TERM "$fpid"
	wait "$fpid" || true
	fpid=0
	set -- $line
	log "RabbitMQ: leader node $leader killed; first confirm from port $2 after $(($4 - t0)) ms (last before the kill $((t0 - $3)) ms earlier)"
	fail_ms+=("rabbit $(($4 - t0))")
	# the node back, as a member again, before the next round
	rabbit_start "$leader"
	for _ in $(seq 600); do
		[ "$(rctl "$leader" cluster_status --formatter json 2>/dev/null | grep -o '"running_nodes":\[[^]]*\]' | grep -o '@' | wc -l)" = 3 ] && break
		sleep 0.1
	done
}
for r in $(seq "$failovers"); do
	failover_warren "$r"
	failover_rabbit "$r"
done

# ---- The table ----
name() {
	case $1 in
	c16) echo "persistent 16 B, 4P/4C over 4 queues, window 256" ;;
	c4k) echo "persistent 4 KiB, 4P/4C over 4 queues, window 256" ;;
	p16) echo "persistent 16 B, 4 producers only, 4 queues, window 256" ;;
	p4k) echo "persistent 4 KiB, 4 producers only, 4 queues, window 256" ;;
	l16) echo "persistent 16 B, 1P/1C, one confirm at a time" ;;
	l4k) echo "persistent 4 KiB, 1P/1C, one confirm at a time" ;;
	o16) echo "persistent 16 B, 1 producer only, one confirm at a time" ;;
	o4k) echo "persistent 4 KiB, 1 producer only, one confirm at a time" ;;
	esac
}
echo
echo "median of $rounds rounds of $secs s, msg/s published (confirmed); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| scenario | Warren 3 nodes | RabbitMQ 3 nodes, quorum | Warren / RabbitMQ | Warren 1 node | 3 nodes / 1 node |"
echo "|---|---:|---:|---:|---:|---:|"
for s in ${scenarios//,/ }; do
	c=${result[$s-cluster]}
	q=${result[$s-rabbit]}
	o=${result[$s-single]}
	printf '| %s | %.0f | %.0f | %s | %.0f | %s |\n' "$(name "$s")" "$c" "$q" \
		"$(awk -v a="$c" -v b="$q" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')" "$o" \
		"$(awk -v a="$c" -v b="$o" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
done
echo
echo "bytes written to disk per message (all the nodes' write_bytes, median):"
echo "| scenario | Warren 3 nodes | RabbitMQ 3 nodes | Warren 1 node |"
echo "|---|---:|---:|---:|"
for s in ${scenarios//,/ }; do
	echo "| $(name "$s") | ${wresult[$s-cluster]} | ${wresult[$s-rabbit]} | ${wresult[$s-single]} |"
done
echo
for b in warren rabbit; do
	printf '%s' "failover ($b, kill -9 to the first confirm after it), ms:"
	for l in "${fail_ms[@]}"; do [ "${l%% *}" = "$b" ] && printf ' %s' "${l#* }"; done
	echo
done
check_logs # the group's nodes; then the single node and the clients
if grep -E " error |berkeley db:|ERROR: (Address|Leak)Sanitizer|runtime error:" "$tmp/single/log" \
	"$tmp/fclient.log" "$tmp/perf.err" 2>/dev/null; then
	fail "errors in the single node's or a client's output"
fi
