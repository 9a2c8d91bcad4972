#!/usr/bin/env bash
# Install what is missing, build, and start warrend in the foreground on 127.0.0.1:5672 with the
# embedded defaults and its data in var/data inside the checkout. Extra arguments go to warrend.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/setup.sh"
mkdir -p "$top/var"
exec "$top/build/server/warrend" --listen 127.0.0.1:5672 --data-dir "$top/var/data" "$@"
