#!/usr/bin/env bash
# Warren and RabbitMQ side by side, with the null broker as the machine's ceiling.
#
# Starts a private RabbitMQ node (installing rabbitmq-server from Debian if it is missing), a
# private warrend and bench/nullbroker on loopback, runs each scenario with warren-perf against
# each broker in turn (Warren, RabbitMQ[, null], Warren, RabbitMQ, ... for ROUNDS rounds), reads
# each broker's CPU time from /proc/PID/stat around every run and its RSS idle, under load and with
# 1 M queued messages, then rewrites the "Side by side" section of docs/performance.md.
#
# usage: bench/compare.sh [-t SECONDS] [-r ROUNDS] [-b BUILD_DIR] [-o FILE] [-s SCENARIOS] [-n]
#   -t  seconds per run (10)            -r  rounds per broker and scenario (2)
#   -b  build directory (build)         -o  the markdown file to update (docs/performance.md)
#   -s  scenarios to run, comma-separated (all; see SCENARIOS below)
#   -n  do not touch the markdown file; print the section on stdout
# Environment: RABBIT_PORT (5675) and RABBIT_NODE (compare) name the private RabbitMQ node;
# DRAIN_MESSAGES (1000000) sizes the drain scenario; KEEP=1 keeps the work directory.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
command_line="bench/compare.sh $*"
duration=10
rounds=2
build=build
outfile=docs/performance.md
only=""
write=1
while getopts "t:r:b:o:s:n" opt; do
	case $opt in
	t) duration=$OPTARG ;;
	r) rounds=$OPTARG ;;
	b) build=$OPTARG ;;
	o) outfile=$OPTARG ;;
	s) only=,$OPTARG, ;;
	n) write=0 ;;
	*) sed -n '10,17p' "$0" >&2; exit 2 ;;
	esac
done
case $build in /*) ;; *) build=$top/$build ;; esac
case $outfile in /*) ;; *) outfile=$top/$outfile ;; esac
rabbit_port=${RABBIT_PORT:-5675}
rabbit_node=${RABBIT_NODE:-compare}
drain_messages=${DRAIN_MESSAGES:-1000000}
work=$(mktemp -d "${TMPDIR:-/tmp}/warren-compare.XXXXXX")
perf=$build/tools/warren-perf
clk_tck=$(getconf CLK_TCK)
start_time=$(date +%s)

log() { echo "compare: $*" >&2; }
die() { log "$*"; exit 1; }

# ---- Scenarios: name|label|warren-perf arguments|headline (deliver, publish, latency, churn)|null?
SCENARIOS="
t16|transient 16 B, 1 producer, 1 consumer|--size 16|deliver|null
t4k|transient 4 KiB, 1 producer, 1 consumer|--size 4096|deliver|null
p16|persistent 16 B, confirms (window 1000)|--size 16 --persistent --confirm 1000|deliver|
p4k|persistent 4 KiB, confirms (window 1000)|--size 4096 --persistent --confirm 1000|deliver|
p4|persistent 16 B, confirms, 4 producers, 4 consumers, 4 queues|--size 16 --persistent --confirm 1000 --producers 4 --consumers 4 --queues 4|deliver|
p8|persistent 16 B, confirms, 8 producers, 8 consumers, 8 queues|--size 16 --persistent --confirm 1000 --producers 8 --consumers 8 --queues 8|deliver|
fanout|fanout, 1 producer to 8 queues (8 consumers)|--size 16 --exchange-type fanout --queues 8 --consumers 8|deliver|
m8|8 producers, 8 consumers, 8 queues|--size 16 --producers 8 --consumers 8 --queues 8|deliver|null
lat1k|latency at 1,000 msg/s, 16 B|--size 16 --rate 1000|latency|
lat10k|latency at 10,000 msg/s, 16 B|--size 16 --rate 10000|latency|
pub|publish only, 16 B, no consumer|--size 16 --producer-only|publish|
drain|consume only: drain a queue of $drain_messages 16 B messages|--size 16|deliver|
churn|connection churn, 4 threads (connect, channel, queue.declare, close)|--churn --producers 4|churn|
"

want() { [ -z "$only" ] || [[ $only == *",$1,"* ]]; }

# ---- Brokers ----

declare -A port pid
brokers="warren rabbit"

cpu_ticks() { # utime + stime of a process, in clock ticks
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# Start a daemon that reports "ADDR:PORT" on fd 3; sets REPLY to "PID PORT".
start_ready_fd() {
	local name=$1 fifo=$work/$1.ready addr=""
	shift
	rm -f "$fifo"
	mkfifo "$fifo"
	"$@" 3>"$fifo" 2>"$work/$name.log" &
	local p=$!
	read -r -t 30 addr <"$fifo" || true
	[ -n "$addr" ] || { tail -n 20 "$work/$name.log" >&2; die "$name did not start"; }
	REPLY="$p ${addr##*:}"
}

start_warren() {
	rm -rf "$work/warren-data"
	start_ready_fd warrend "$build/server/warrend" --listen 127.0.0.1:0 \
		--management-listen none --prometheus-listen none --data-dir "$work/warren-data" \
		--ready-fd 3
	read -r "pid[warren]" "port[warren]" <<<"$REPLY"
}

start_null() {
	start_ready_fd nullbroker "$build/bench/nullbroker" --listen 127.0.0.1:0 --ready-fd 3
	read -r "pid[null]" "port[null]" <<<"$REPLY"
}

rabbit_node_sh() { # the shared helper if present, else the same steps here
	local helper=/work/shared/tools/rabbitmq-node.sh
	if [ -f "$helper" ]; then
		(cd /tmp && sh "$helper" "$1" "$rabbit_node" "$rabbit_port")
		return
	fi
	local base=/tmp/rabbit-$rabbit_node
	export RABBITMQ_NODENAME=$rabbit_node@localhost RABBITMQ_NODE_PORT=$rabbit_port \
		RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE=$base/mnesia \
		RABBITMQ_LOG_BASE=$base/log RABBITMQ_PID_FILE=$base/pid \
		RABBITMQ_DIST_PORT=$((rabbit_port + 20000)) RABBITMQ_CONFIG_FILE=$base/rabbitmq
	case $1 in
	start)
		mkdir -p "$base/mnesia" "$base/log"
		if [ ! -f "$base/.erlang.cookie" ]; then
			echo "cookie$rabbit_node" >"$base/.erlang.cookie"
			chmod 400 "$base/.erlang.cookie"
		fi
		echo "loopback_users = none" >"$base/rabbitmq.conf"
		HOME=$base setsid /usr/lib/rabbitmq/bin/rabbitmq-server >"$base/start.log" 2>&1 </dev/null &
		HOME=$base /usr/lib/rabbitmq/bin/rabbitmqctl -n "$rabbit_node@localhost" wait \
			"$base/pid" --timeout 60 >/dev/null ;;
	stop)
		HOME=$base /usr/lib/rabbitmq/bin/rabbitmqctl -n "$rabbit_node@localhost" stop \
			>/dev/null 2>&1 || true ;;
	esac
}

start_rabbit() {
	if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
		log "installing rabbitmq-server"
		local sudo=""
		[ "$(id -u)" -eq 0 ] || sudo=sudo
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq rabbitmq-server >/dev/null
	fi
	# A fresh node: no queues left from an earlier run, and a true idle RSS.
	rabbit_node_sh stop
	rm -rf "/tmp/rabbit-$rabbit_node/mnesia"
	rabbit_node_sh start >/dev/null
	pid[rabbit]=$(cat "/tmp/rabbit-$rabbit_node/pid")
	port[rabbit]=$rabbit_port
	[ "$(cat "/proc/${pid[rabbit]}/comm")" = beam.smp ] || die "no beam.smp at pid ${pid[rabbit]}"
}

cleanup() {
	for b in warren null; do
		if [ -n "${pid[$b]:-}" ]; then kill "${pid[$b]}" 2>/dev/null || true; fi
	done
	if [ -n "${pid[rabbit]:-}" ]; then rabbit_node_sh stop; fi
	if [ "${KEEP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# After each run: a dead warrend is a finding; restart it so that the other scenarios still run.
check_alive() {
	local b=$1 logf
	kill -0 "${pid[$b]}" 2>/dev/null && return 0
	case $b in warren) logf=$work/warrend.log ;; null) logf=$work/nullbroker.log ;;
	*) logf=/tmp/rabbit-$rabbit_node/start.log ;; esac
	log "$b (pid ${pid[$b]}) died during $2; its log ends with:"
	tail -n 20 "$logf" >&2 || true
	echo "$b died during $2 (log kept in $work/$b-died-$2.log)" >>"$work/incidents"
	cp "$logf" "$work/$b-died-$2.log" 2>/dev/null || true
	case $b in warren) start_warren ;; null) start_null ;; rabbit) start_rabbit ;; esac
	return 1
}

# ---- One run ----

# jget FIELD FILE: a number from warren-perf's JSON summary (0 if absent).
jget() { sed -n "s/.*\"$1\":\([0-9.][0-9.]*\).*/\1/p" "$2" | head -n 1 | grep . || echo 0; }

# RSS sampler: the largest VmRSS of a process while a run lasts.
sample_rss() {
	local p=$1 out=$2 max=0 r
	while kill -0 "$p" 2>/dev/null && [ ! -f "$out.stop" ]; do
		r=$(rss_kib "$p" 2>/dev/null || echo 0)
		[ "$r" -gt "$max" ] && max=$r && echo "$max" >"$out"
		sleep 0.5 # a sampling period, not a synchronisation
	done
}

# run_perf SCENARIO BROKER ROUND ARGS...: one warren-perf run; appends a row to results.tsv.
run_perf() {
	local sc=$1 b=$2 round=$3
	shift 3
	local json=$work/$sc-$b-$round.json c0 c1 rc=0 sampler=""
	c0=$(cpu_ticks "${pid[$b]}")
	if [ "$sc" = t16 ]; then
		rm -f "$work/rss-$b.$sc.$round" "$work/rss-$b.$sc.$round.stop"
		sample_rss "${pid[$b]}" "$work/rss-$b.$sc.$round" &
		sampler=$!
	fi
	timeout $((duration + 180)) "$perf" --port "${port[$b]}" --json --quiet "$@" \
		>"$json" 2>"$work/$sc-$b-$round.err" || rc=$?
	if [ -n "$sampler" ]; then
		touch "$work/rss-$b.$sc.$round.stop"
		wait "$sampler" || true
	fi
	c1=$(cpu_ticks "${pid[$b]}" 2>/dev/null || echo "$c0")
	if ! check_alive "$b" "$sc"; then
		rc=99
	fi
	[ $rc -eq 0 ] || { log "$sc on $b (round $round): warren-perf exit $rc"; cat "$work/$sc-$b-$round.err" >&2; echo "$sc on $b round $round: warren-perf exit $rc: $(tr '\n' ' ' <"$work/$sc-$b-$round.err")" >>"$work/incidents"; }
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$b" "$round" \
		"$(jget publish_rate "$json")" "$(jget deliver_rate "$json")" \
		"$(jget p50 "$json")" "$(jget p99 "$json")" \
		"$(awk -v t=$((c1 - c0)) -v h="$clk_tck" 'BEGIN { printf "%.2f", t / h }')" \
		"$(jget published "$json")" "$(jget confirmed "$json")" "$(jget delivered "$json")" \
		"$(jget connection_rate "$json")" "$(jget connections "$json")" \
		"$(jget blocked "$json")" "$(jget client_cpu_s "$json")" >>"$work/results.tsv"
	log "$sc $b round $round: $(tail -n 1 "$work/results.tsv" | cut -f4-15 | tr '\t' ' ')"
}

# A fresh broker, so that an RSS reading shows what is queued now, not what earlier runs left.
restart_broker() {
	case $1 in
	warren | null)
		kill "${pid[$1]}"
		wait "${pid[$1]}" 2>/dev/null || true
		if [ "$1" = warren ]; then start_warren; else start_null; fi ;;
	rabbit) start_rabbit ;;
	esac
}

# The drain scenario: prefill (not measured), RSS with the queue full, then the measured drain.
# Before its first round, the RSS each broker kept after the earlier scenarios (all their queues
# deleted); then every prefill starts on a fresh broker.
run_drain() {
	local b=$1 round=$2 q="cmp-drain-$1-$2-%d" rss
	[ "$round" -gt 1 ] || rss_kib "${pid[$b]}" >"$work/rss-$b.after"
	restart_broker "$b"
	timeout 600 "$perf" --port "${port[$b]}" --producer-only --pmessages "$drain_messages" \
		--confirm 10000 --time 0 --size 16 --queue-pattern "$q" --json --quiet \
		>"$work/prefill-$b-$round.json" 2>&1 || log "prefill on $b failed"
	rss=$(rss_kib "${pid[$b]}")
	echo "$rss" >"$work/rss-$b.queued.$round"
	log "$b with $drain_messages queued: RSS $rss KiB"
	run_perf drain "$b" "$round" --consumer-only --time $((duration * 12)) --size 16 \
		--queue-pattern "$q" --cleanup
}

# ---- Main ----

make -C "$build" -s -j2 server/warrend tools/warren-perf bench/nullbroker
: >"$work/results.tsv"
: >"$work/incidents"

log "work directory $work"
start_rabbit
start_warren
start_null
log "warrend pid ${pid[warren]} port ${port[warren]}; rabbitmq pid ${pid[rabbit]} port ${port[rabbit]}; null pid ${pid[null]} port ${port[null]}"

# Idle RSS, once each has settled (RabbitMQ keeps starting plugins after it answers).
sleep 5 # let RabbitMQ finish booting before the idle reading
for b in warren rabbit null; do rss_kib "${pid[$b]}" >"$work/rss-$b.idle"; done

# Does this warrend keep persistent messages? Publish 100 with confirms to a durable queue, kill
# -9 a second warrend, restart it on the same data directory and count what is there.
probe_persistence() {
	local data=$work/probe-data n=0
	start_ready_fd probe "$build/server/warrend" --listen 127.0.0.1:0 --management-listen none \
		--prometheus-listen none --data-dir "$data" --ready-fd 3
	read -r ppid pport <<<"$REPLY"
	timeout 60 "$perf" --port "$pport" --producer-only --persistent --confirm 10 --pmessages 100 \
		--time 0 --queue-pattern probe-%d --quiet >/dev/null 2>&1 || true
	kill -KILL "$ppid"
	wait "$ppid" 2>/dev/null || true
	start_ready_fd probe "$build/server/warrend" --listen 127.0.0.1:0 --management-listen none \
		--prometheus-listen none --data-dir "$data" --ready-fd 3
	read -r ppid pport <<<"$REPLY"
	timeout 60 "$perf" --port "$pport" --consumer-only --persistent --time 10 \
		--queue-pattern probe-%d --json --quiet >"$work/probe.json" 2>&1 || true
	n=$(jget delivered "$work/probe.json")
	kill "$ppid"
	wait "$ppid" 2>/dev/null || true
	echo "$n"
}
persisted=$(probe_persistence)
log "persistence probe: $persisted of 100 persistent messages survived kill -9"

# fd 9, so that nothing the loop runs can read the scenario list
while IFS='|' read -r -u 9 sc label args _ with_null; do
	if [ -z "$sc" ] || ! want "$sc"; then continue; fi
	log "scenario $sc: $label"
	for round in $(seq "$rounds"); do
		targets=$brokers
		[ -n "$with_null" ] && targets="$targets null"
		for b in $targets; do
			if [ "$sc" = drain ]; then
				run_drain "$b" "$round"
				continue
			fi
			# shellcheck disable=SC2086 # args is a list of options
			run_perf "$sc" "$b" "$round" $args --time "$duration" \
				--queue-pattern "cmp-$sc-$b-$round-%d" --cleanup
		done
	done
done 9< <(echo "$SCENARIOS")

# ---- Report ----

elapsed=$(($(date +%s) - start_time))
machine=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
hyper=$(lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -n 1)
cores=$(nproc)
mem=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
kernel=$(uname -r)
os=$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release)
rabbit_version=$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo unknown)
erlang_version=$(dpkg-query -W -f='${Version}' erlang-base 2>/dev/null || echo unknown)
commit=$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)
cc_version=$(${CC:-gcc} --version | head -n 1)

rss_max() { # the largest of the RSS files given, in MiB
	cat "$@" 2>/dev/null | awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { printf "%.0f", m / 1024 }'
}

section() {
	echo "## Side by side"
	echo
	echo "Warren against RabbitMQ on the same machine in the same run, with the null broker"
	echo "(\`bench/nullbroker.c\`: handshake, \`-ok\` answers, each publish relayed at once as a"
	echo "delivery) as the ceiling the clients and the loopback allow. Generated by"
	echo "\`bench/compare.sh\`; do not edit by hand."
	echo
	echo "* Date: $(date -u '+%Y-%m-%d %H:%M UTC'); the run took $((elapsed / 60)) min $((elapsed % 60)) s."
	echo "* Command: \`$command_line\` ($rounds rounds of $duration s per broker and scenario, brokers in turn: Warren, RabbitMQ, null, Warren, ...)."
	echo "* Machine: $machine${hyper:+ ($hyper)}, $cores cores, $mem, Linux $kernel, $os."
	echo "* Warren: \`$commit\`, $cc_version, configure defaults (-O2). RabbitMQ $rabbit_version (Debian), Erlang $erlang_version, default configuration, a private node."
	echo "* Client: \`warren-perf\` for every broker, one thread and one connection per producer and consumer, on the same 2 cores as the broker."
	if [ "$persisted" -ge 100 ] 2>/dev/null; then
		echo "* Persistence: this warrend kept $persisted of 100 confirmed persistent messages across \`kill -9\` (probe in the script), so the persistent scenarios write to its store, as RabbitMQ's do."
	else
		echo "* Persistence: this warrend kept $persisted of 100 confirmed persistent messages across \`kill -9\`: it does not persist messages yet, so its persistent scenarios measure the transient path with confirms. RabbitMQ writes them to disk."
	fi
	echo
	echo "Rates are the mean of the rounds, in messages per second at the consumers (publishes for"
	echo "\"publish only\", connections for churn). Latency is end to end (the producer's send time is"
	echo "in the body) as p50 / p99 in µs, the mean of the rounds; without a rate limit the producers"
	echo "fill every buffer, so there it measures buffering, not the broker. CPU is the broker's"
	echo "user + system time from \`/proc/PID/stat\` around each run, per million messages delivered"
	echo "(published for \"publish only\"; per thousand connections for churn)."
	echo
	echo "| scenario | Warren | RabbitMQ | Warren / RabbitMQ | Warren p50 / p99 µs | RabbitMQ p50 / p99 µs | Warren CPU s | RabbitMQ CPU s |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	echo "$SCENARIOS" | while IFS='|' read -r sc label _ headline _; do
		[ -n "$sc" ] || continue
		awk -F'\t' -v sc="$sc" -v label="$label" -v h="$headline" '
			$1 != sc { next }
			{
				b = $2; n[b]++
				r = (h == "publish") ? $4 : (h == "churn") ? $12 : $5
				rate[b] += r; p50[b] += $6; p99[b] += $7; cpu[b] += $8
				m = (h == "publish") ? $9 : (h == "churn") ? $13 / 1000 : $11
				msgs[b] += m
			}
			function fmt(x,  s, o) {
				if (x < 100) return sprintf("%.1f", x)
				s = sprintf("%.0f", x); o = ""
				while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
				return s o
			}
			function lat(b) { return n[b] ? sprintf("%.0f / %.0f", p50[b] / n[b], p99[b] / n[b]) : "-" }
			function cpum(b) {
				if (!n[b] || msgs[b] == 0) return "-"
				return sprintf("%.2f", cpu[b] / (h == "churn" ? msgs[b] : msgs[b] / 1e6))
			}
			END {
				if (!n["warren"] && !n["rabbit"]) exit
				w = n["warren"] ? rate["warren"] / n["warren"] : 0
				r = n["rabbit"] ? rate["rabbit"] / n["rabbit"] : 0
				ratio = r > 0 ? sprintf("%.2f", w / r) : "-"
				if (h == "latency") { ratio = "-" }
				# no latency without consumers, and a drain measures time spent in the queue
				nolat = h == "churn" || h == "publish" || sc == "drain"
				printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", label, fmt(w), fmt(r), ratio,
				    nolat ? "-" : lat("warren"), nolat ? "-" : lat("rabbit"),
				    cpum("warren"), cpum("rabbit")
			}' "$work/results.tsv"
	done
	echo
	awk -F'\t' '
		$1 == "t16" && ($2 == "warren" || $2 == "null") { s[$2] += $5; n[$2]++ }
		END {
			if (n["warren"] && n["null"]) {
				w = s["warren"] / n["warren"]; z = s["null"] / n["null"]
				printf "Warren moves transient 16-byte messages at %.0f%% of the null broker'\''s rate (%.0f against %.0f msg/s).\n", 100 * w / z, w, z
			}
		}' "$work/results.tsv"
	echo
	echo "Memory (VmRSS; for RabbitMQ the beam.smp process), MiB:"
	echo
	echo "| | Warren | RabbitMQ | null broker |"
	echo "|---|---:|---:|---:|"
	echo "| idle, after start | $(rss_max "$work/rss-warren.idle") | $(rss_max "$work/rss-rabbit.idle") | $(rss_max "$work/rss-null.idle") |"
	echo "| under load (largest sample every 0.5 s of the transient 16 B runs, the first scenario) | $(rss_max "$work"/rss-warren.t16.*) | $(rss_max "$work"/rss-rabbit.t16.*) | $(rss_max "$work"/rss-null.t16.*) |"
	echo "| $drain_messages 16-byte messages queued (a fresh broker, after the prefill's last confirm) | $(rss_max "$work"/rss-warren.queued.*) | $(rss_max "$work"/rss-rabbit.queued.*) | - |"
	echo "| kept after every scenario before the drain, their queues deleted | $(rss_max "$work/rss-warren.after") | $(rss_max "$work/rss-rabbit.after") | - |"
	echo
	echo "Every run (rates in msg/s; broker and client CPU in seconds over the run; \"blocked\": how"
	echo "many times the broker sent connection.blocked, e.g. at its memory limit):"
	echo
	echo "| scenario | broker | round | published/s | delivered/s | p50 µs | p99 µs | broker CPU s | client CPU s | published | confirmed | delivered | connections/s | blocked |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk -F'\t' '{ printf "| %s | %s | %s | %.0f | %.0f | %.0f | %.0f | %s | %s | %s | %s | %s | %.0f | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $15, $9, $10, $11, $12, $14 }' "$work/results.tsv"
	echo
	awk -F'\t' '$14 > 0 { printf "%s%s on %s round %s", n++ ? "; " : "The broker blocked the publishers during: ", $1, $2, $3 }
		END { if (n) print ". A blocked publisher'\''s rate counts only the time before it was blocked." }' "$work/results.tsv"
	echo
	if [ -s "$work/incidents" ]; then
		echo "Incidents during the run:"
		echo
		sed 's/^/* /' "$work/incidents"
	else
		echo "No broker died and every warren-perf run exited 0."
	fi
}

section >"$work/section.md"
if [ "$write" = 1 ]; then
	# Replace the section (up to the next "## " heading) or append it.
	awk -v f="$work/section.md" '
		/^## Side by side/ { while ((getline l < f) > 0) print l; skip = 1; done = 1; next }
		skip && /^## / { skip = 0; print "" }
		!skip { print }
		END { if (!done) { print ""; while ((getline l < f) > 0) print l } }' \
		"$outfile" >"$work/out.md"
	cp "$work/out.md" "$outfile"
	log "wrote the Side by side section of $outfile"
else
	cat "$work/section.md"
fi
