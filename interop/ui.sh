#!/usr/bin/env bash
# The web UI in headless Chromium (make check): a private warrend, AMQP clients holding
# connections open (interop/ui-clients), then interop/ui/test.js drives Debian's chromium through
# playwright-core: every page loads with no console error and no failed request, and shows what
# the API says. Screenshots go to $UI_SCREENSHOTS (`make ui-screenshots`: docs/ui/), else to a
# temporary directory. Fails (does not skip) without node, npm or chromium: tools/setup.sh
# installs them. playwright-core comes from the npm registry, at the version
# interop/ui/package-lock.json pins, into interop/ui/node_modules of the build directory
# (`npm ci --ignore-scripts`: no install script runs, no browser is downloaded), once.
set -euo pipefail
name=ui
src=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/private-warrend.sh
. "$src/../tools/private-warrend.sh"

chromium=${CHROMIUM:-/usr/bin/chromium}
command -v node >/dev/null || fail "node is missing: run tools/setup.sh (Debian's nodejs and npm)"
command -v npm >/dev/null || fail "npm is missing: run tools/setup.sh (Debian's npm)"
[ -x "$chromium" ] || fail "$chromium is missing: run tools/setup.sh (Debian's chromium)"
clients=${UI_CLIENTS:-./interop/ui-clients}
[ -x "$clients" ] || fail "$clients is missing: build it (make check builds it)"

# playwright-core, at the pinned version, installed only when it is not there already.
mods=${UI_NODE_DIR:-$PWD/interop/ui}
want=$(sed -n 's/.*"playwright-core": "\([0-9.]*\)".*/\1/p' "$src/ui/package.json")
have=$(sed -n 's/^ *"version": "\([^"]*\)".*/\1/p' "$mods/node_modules/playwright-core/package.json" \
	2>/dev/null | head -n 1 || true)
if [ "$have" != "$want" ]; then
	mkdir -p "$mods"
	cp "$src/ui/package.json" "$src/ui/package-lock.json" "$mods/"
	(cd "$mods" && timeout 120 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
		fail "npm ci of playwright-core $want failed (is the npm registry reachable?)"
fi

shots=${UI_SCREENSHOTS:-$tmp/shots}
mkdir -p "$shots"
# guest/guest in a users file and the default vhost in a vhost file, so that the pages' writes
# (policies) go through.
warrenctl=${WARRENCTL:-./tools/warrenctl}
hash=$(printf '%s\n' guest | "$warrenctl" hash-password)
mkdir "$tmp/vhosts"
printf '%s\n' "guest:$hash:administrator" >"$tmp/users"
printf '%s\n' 'vhost /' 'permissions guest .* .* .*' >"$tmp/vhosts/default.vhost"
printf '%s\n' "users_file = $tmp/users" "vhost_dir = $tmp/vhosts" >"$tmp/warren.conf"
export WARREND_CONFIG=$tmp/warren.conf
warrend_start
[ -n "$http_port" ] || fail "warrend did not report its management API"
# Two clients' connections, each with a channel consuming; they go when their stdin closes.
coproc CLIENTS { exec "$clients" 127.0.0.1 "$port" 2; }
clients_pid=$CLIENTS_PID
read -r -t 20 ready <&"${CLIENTS[0]}" || true
[ "${ready:-}" = ready ] || fail "ui-clients did not connect"
status=0
UI_HTTP="127.0.0.1:$http_port" UI_SHOTS="$shots" UI_NODE_MODULES="$mods/node_modules" \
	CHROMIUM="$chromium" timeout 120 node "$src/ui/test.js" || status=$?
eval "exec ${CLIENTS[1]}>&-"
wait "$clients_pid" 2>/dev/null || true
[ "$status" -eq 0 ] || fail "the UI test failed (status $status)"
warrend_stop
