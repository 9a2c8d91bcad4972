#!/usr/bin/env bash
# Install the Debian packages Warren needs (only those missing), then configure and build into
# build/ (or the directory named by BUILD_DIR, with extra configure arguments in CONFIGURE_ARGS).
# Run from anywhere; needs root (or sudo) only when a package is missing.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

PACKAGES="build-essential autoconf automake libtool pkg-config libevent-dev libssl-dev openssl
libdb5.3-dev check librabbitmq-dev libsasl2-dev clang libclang-rt-14-dev clang-format procps
golang-go golang-github-rabbitmq-amqp091-go-dev fuse3 libfuse3-dev libjansson-dev
rabbitmq-server prometheus chromium curl haproxy"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# node and npm run the web UI's test (interop/ui.sh, with chromium): Debian's, unless a node that
# has npm is installed already (NodeSource's nodejs package carries npm and conflicts with it).
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
if [ -n "$missing" ]; then
	echo "setup: installing$missing"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	# rabbitmq-server is here for its tools (rabbitmqadmin, and a private node for comparisons):
	# packages must not start their services, which would take AMQP's and the API's ports.
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null
		$sudo chmod 755 $policy
		trap '$sudo rm -f "$policy"' EXIT
	fi
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
	[ -z "$policy" ] || $sudo rm -f "$policy"
fi

cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
build=${BUILD_DIR:-build}
mkdir -p "$build"
cd "$build"
args="--enable-werror ${CONFIGURE_ARGS:-}"
if [ ! -f Makefile ] || [ "$(cat .warren-configure-args 2>/dev/null)" != "$args" ] ||
	[ ../configure -nt Makefile ]; then
	# shellcheck disable=SC2086
	../configure -q $args
	echo "$args" >.warren-configure-args
fi
make -s -j"$(nproc)"
