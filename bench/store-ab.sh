#!/bin/bash
# store-ab.sh: one node's store, side by side: an older warrend (OLD), this build's and a private
# RabbitMQ node (classic durable queues), in turn, round after round. Each round and broker: 4
# producers publish persistent messages of SIZE bytes with confirms (window 256) over 4 queues for
# SECS seconds, no consumer; then 4 consumers drain the queues. Printed: msg/s of each phase and
# bytes written per message (the broker processes' write_bytes in /proc/PID/io).
#
# usage (from the build directory): ../bench/store-ab.sh OLD_WARREND [ROUNDS] [SIZE] [SECS]
#   e.g. an older commit built beside: git worktree add /tmp/old COMMIT, configure and make there.
# RabbitMQ comes from ../shared/tools/rabbitmq-node.sh (Debian's rabbitmq-server); without it,
# only the two warrends run. Ports 25690-25691; data under a temporary directory, removed at exit.
set -euo pipefail
old=${1:?usage: store-ab.sh OLD_WARREND [ROUNDS] [SIZE] [SECS]}
rounds=${2:-2}
size=${3:-4096}
secs=${4:-8}
srcdir=$(cd "$(dirname "$0")/.." && pwd)
perf=$(pwd)/tools/warren-perf
new=$(pwd)/server/warrend
node=$srcdir/../shared/tools/rabbitmq-node.sh
if [ ! -x "$perf" ] || [ ! -x "$new" ] || [ ! -x "$old" ]; then
	echo "run from the build directory after make, with OLD_WARREND an executable"
	exit 2
fi
tmp=$(mktemp -d /tmp/store-ab-XXXXXX)
rabbit=0
cleanup() {
	[ "$rabbit" = 0 ] || sh "$node" stop storeab 25690 || true
	rm -rf "$tmp" /tmp/rabbit-storeab
}
trap cleanup EXIT
io() { # pids...: their bytes written so far
	local t=0 p
	for p in "$@"; do t=$((t + $(awk '/^write_bytes/{print $2}' "/proc/$p/io"))); done
	echo "$t"
}
run() { # name port pids...
	local name=$1 port=$2 w0 w1 w2 pub n drain
	shift 2
	w0=$(io "$@")
	pub=$("$perf" --port "$port" --producers 4 --queues 4 --producer-only --persistent \
		--confirm 256 --size "$size" --time "$secs" --quiet | grep "^published")
	w1=$(io "$@")
	n=${pub##*confirmed }
	n=${n%%,*}
	drain=$("$perf" --port "$port" --consumers 4 --queues 4 --consumer-only --persistent \
		--prefetch 256 --size "$size" --time 0 --cleanup --quiet | grep "^delivered")
	sleep 1 # the acks' writes
	w2=$(io "$@")
	echo "$name: publish $(sed 's/.*(\([0-9.]*\) msg\/s).*/\1/' <<<"$pub") msg/s, $(((w1 - w0) / (n + 1))) B/msg written; drain $(sed 's/.*(\([0-9.]*\) msg\/s).*/\1/' <<<"$drain") msg/s, $(((w2 - w1) / (n + 1))) B/msg written"
}
if [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] && [ -f "$node" ]; then
	sh "$node" start storeab 25690 >/dev/null
	rabbit=1
fi
for round in $(seq "$rounds"); do
	for which in old new; do
		bin=$new
		[ "$which" = new ] || bin=$old
		rm -rf "$tmp/data"
		mkdir "$tmp/data"
		"$bin" --listen 127.0.0.1:25691 --management-listen none --prometheus-listen none \
			--data-dir "$tmp/data" --log-level warn >"$tmp/$which.log" 2>&1 &
		pid=$!
		for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/25691) 2>/dev/null && break; sleep 0.1; done
		run "warrend ($which) round $round" 25691 "$pid"
		kill "$pid"
		wait "$pid" || true
	done
	# shellcheck disable=SC2046
	[ "$rabbit" = 0 ] || run "rabbitmq round $round" 25690 $(pgrep -f "rabbit-storeab" | tr '\n' ' ')
done
echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
