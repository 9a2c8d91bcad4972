#!/usr/bin/env bash
# rabbitmqadmin (Debian's rabbitmq-server) against a private warrend with a users file and a
# vhost directory: it declares and deletes users, vhosts, permissions, policies and vhost limits, exports and imports
# definitions, and each change is checked in the files themselves (comments kept) and by
# logging in as the user it made. Skipped (77) without rabbitmqadmin or python3.
# Run from the build directory (as make check does), or set WARREND and WARRENCTL.
set -euo pipefail
name=rabbitmqadmin-users
# shellcheck source=tools/private-warrend.sh
. "$(dirname "$0")/../tools/private-warrend.sh"

admin=$(command -v rabbitmqadmin || true)
if [ -z "$admin" ] || ! command -v python3 >/dev/null; then
	echo "$name: SKIP: needs rabbitmqadmin (Debian's rabbitmq-server) and python3"
	exit 77
fi
warrenctl=${WARRENCTL:-./tools/warrenctl}

hash=$(printf '%s\n' guest | "$warrenctl" hash-password)
mkdir "$tmp/vhosts"
printf '%s\n' '# users: this comment stays' "guest:$hash:administrator" >"$tmp/users"
printf '%s\n' '# the default vhost' 'vhost /' 'permissions guest .* .* .*' >"$tmp/vhosts/default.vhost"
printf '%s\n' "users_file = $tmp/users" "vhost_dir = $tmp/vhosts" >"$tmp/warren.conf"
WARREND_CONFIG=$tmp/warren.conf warrend_start
[ -n "$http_port" ] || fail "warrend did not report its management API"
ra() { timeout 20 python3 "$admin" -H 127.0.0.1 -P "$http_port" -u guest -p guest "$@"; }
as() { local u=$1 p=$2; shift 2; timeout 20 python3 "$admin" -H 127.0.0.1 -P "$http_port" -u "$u" -p "$p" "$@"; }
expect() {
	local what=$1 pattern=$2 out
	shift 2
	out=$("$@" 2>&1) || fail "$what: rabbitmqadmin failed: $out"
	grep -Eq -- "$pattern" <<<"$out" || fail "$what: no '$pattern' in: $out"
}
n=0
check() { expect "$@"; n=$((n + 1)); }
has() { grep -qF -- "$2" "$1" || fail "$1 lacks '$2': $(cat "$1")"; n=$((n + 1)); }
lacks() { ! grep -qF -- "$2" "$1" || fail "$1 still has '$2': $(cat "$1")"; n=$((n + 1)); }

check "declare user" "user declared" ra declare user name=bob password=bobpw tags=management
has "$tmp/users" "bob:\$scrypt\$ln=14,r=8,p=1\$"
has "$tmp/users" "# users: this comment stays"
check "declare vhost" "vhost declared" ra declare vhost name=ravh
has "$tmp/vhosts/ravh.vhost" "vhost ravh"
check "declare permission" "permission declared" ra declare permission vhost=ravh user=bob \
	configure='^bob\.' write='.*' read='.*'
has "$tmp/vhosts/ravh.vhost" "permissions bob ^bob\\. .* .*"
check "list users" "\| bob +\|" ra list users name
check "list permissions" "\| bob +\| ravh +\|" ra list permissions user vhost
# bob logs in with the new password and sees the vhost he was given
check "bob logs in" "\| ravh" as bob bobpw list vhosts name
check "bob declares" "queue declared" as bob bobpw --vhost=ravh declare queue name=bob.q
out=$(as bob bobpw --vhost=ravh declare queue name=other.q 2>&1) &&
	fail "bob declared outside his configure permission: $out"
check "export" "Exported definitions" ra export "$tmp/defs.json"
grep -q '"name": *"bob"' "$tmp/defs.json" || fail "the export lacks bob: $(cat "$tmp/defs.json")"
check "delete user" "user deleted" ra delete user name=bob
lacks "$tmp/users" "bob:"
lacks "$tmp/vhosts/ravh.vhost" "permissions bob"
out=$(as bob bobpw list vhosts 2>&1) && fail "bob logged in after his delete: $out"
check "import" "Uploaded definitions" ra import "$tmp/defs.json"
has "$tmp/users" "bob:\$scrypt\$"
has "$tmp/vhosts/ravh.vhost" "permissions bob ^bob\\. .* .*"
check "bob is back" "\| ravh" as bob bobpw list vhosts name
out=$(ra declare user name=md5 password_hash=AAAAAAAAAAAAAAAAAAAAAAAA \
	hashing_algorithm=rabbit_password_hashing_md5 tags= 2>&1) &&
	fail "an md5 hash was accepted: $out"
grep -q "cannot be verified" <<<"$out" || fail "md5 hash: $out"
check "delete permission" "permission deleted" ra delete permission vhost=ravh user=bob
lacks "$tmp/vhosts/ravh.vhost" "permissions bob"
check "delete vhost" "vhost deleted" ra delete vhost name=ravh
[ ! -e "$tmp/vhosts/ravh.vhost" ] || fail "ravh.vhost is still there"
has "$tmp/vhosts/default.vhost" "# the default vhost"
# Policies: a line in the vhost file, in force on a queue at once, listed, deleted.
check "declare policy" "policy declared" ra declare policy name=ra-cap pattern='^ra\.' \
	definition='{"max-length": 1}' priority=3 apply-to=queues
has "$tmp/vhosts/default.vhost" "policy ra-cap"
has "$tmp/vhosts/default.vhost" '{"max-length":1} priority 3 apply-to queues'
check "list policies" "\| ra-cap +\| .*\^ra\\\. .*\| queues" ra list policies name pattern apply-to
check "declare queue under it" "queue declared" ra declare queue name=ra.capped durable=false
check "publish 1" "Message published" ra publish routing_key=ra.capped payload=one
check "publish 2" "Message published" ra publish routing_key=ra.capped payload=two
check "capped" "\| ra\.capped +\| 1 +\| ra-cap" ra list queues name messages policy
check "bad policy" "" true
out=$(ra declare policy name=bad pattern=. definition='{"message-ttl": -1}' 2>&1) &&
	fail "a bad policy was accepted: $out"
grep -q "is not a valid message TTL" <<<"$out" || fail "bad policy: $out"
check "delete policy" "policy deleted" ra delete policy name=ra-cap
lacks "$tmp/vhosts/default.vhost" "policy ra-cap"
check "no policy left" "No items" ra list policies name
# Vhost limits: the vhost file's max-queues line, listed, in force, deleted.
check "declare vhost_limit" "vhost_limit declared" ra declare vhost_limit vhost=/ name=max-queues value=40
has "$tmp/vhosts/default.vhost" "max-queues 40"
has "$tmp/vhosts/default.vhost" "# the default vhost"
check "list vhost_limits" '\| / +\| \{"max-queues": 40\}' ra list vhost_limits
out=$(ra declare vhost_limit vhost=/ name=max-channels value=1 2>&1) &&
	fail "an unknown limit was accepted: $out"
grep -q "Unrecognised terms" <<<"$out" || fail "max-channels: $out"
check "delete vhost_limit" "vhost_limit deleted" ra delete vhost_limit vhost=/ name=max-queues
lacks "$tmp/vhosts/default.vhost" "max-queues"
check "no vhost limit left" "No items" ra list vhost_limits
echo "$name: $((n + 2)) checks passed"
warrend_stop
