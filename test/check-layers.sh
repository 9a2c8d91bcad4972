#!/bin/sh
# check-layers.sh: server/'s layers call one way (docs/architecture.md, "Layers inside server/").
# From the objects make built, every function or variable a file of server/ uses from another
# file of server/ must be defined in its own layer or a lower one; and every server/ header a
# file includes must be its own layer's or a lower one's (persist/ may also include
# model/types.h: it stores the model's objects, and calls none of the model's functions).
# Lowest first: base, then persist and net (which do not use each other), model, proto, admin.
# Run by make check from the build directory; $srcdir is the source tree.
set -eu
srcdir=${srcdir:-.}
NM=${NM:-nm}
rank() {
	case $1 in
	base) echo 0 ;; persist | net) echo 1 ;; model) echo 2 ;; proto) echo 3 ;; admin) echo 4 ;;
	*) echo "check-layers: unknown layer '$1'" >&2; exit 99 ;;
	esac
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

objs=$(find server -name '*.o' | sort)
[ -n "$objs" ] || { echo "check-layers: no objects under server/: build first" >&2; exit 99; }
# Each object: "layer file" for what it defines and uses.
for o in $objs; do
	layer=$(basename "$(dirname "$o")")
	[ "$layer" = server ] && continue
	file=$(basename "$o" .o | sed 's/^[a-z_]*-//')
	$NM "$o" | awk -v l="$layer" -v f="$file" '
		NF == 3 && $2 ~ /^[TDBRCG]$/ { print "D", l, f, $3 }
		$1 == "U" { print "U", l, f, $2 }'
done >"$tmp/syms"
awk -v tmp="$tmp" '
	$1 == "D" { dl[$4] = $2; df[$4] = $3; next }
	{ u[NR] = $0 }
	END {
		for (i in u) {
			split(u[i], a, " ")
			if (a[4] in dl && dl[a[4]] != a[2])
				print a[2], a[3], dl[a[4]], df[a[4]], a[4]
		}
	}' "$tmp/syms" | sort -u >"$tmp/edges"
bad=0
while read -r from ffile to tfile sym; do
	if [ "$(rank "$from")" -le "$(rank "$to")" ]; then
		echo "server/$from/$ffile.c uses $sym of server/$to/$tfile.c: a $from file may use only lower layers" >&2
		bad=$((bad + 1))
	fi
done <"$tmp/edges"
# Includes.
for f in $(cd "$srcdir" && find server -mindepth 2 -name '*.[ch]' | sort); do
	from=$(basename "$(dirname "$f")")
	grep -n '^#include "server/' "$srcdir/$f" | while IFS=: read -r line inc; do
		h=$(echo "$inc" | sed 's/^#include "server\/\([^"]*\)".*/\1/')
		case $h in
		*/*) to=${h%%/*} ;;
		*) echo "$f:$line: includes server/$h: include a layer's header" >&2; echo x; continue ;;
		esac
		[ "$to" = "$from" ] && continue
		[ "$from" = persist ] && [ "$h" = model/types.h ] && continue
		if [ "$(rank "$from")" -le "$(rank "$to")" ]; then
			echo "$f:$line: includes server/$h: a $from file may include only lower layers' headers" >&2
			echo x
		fi
	done
done >"$tmp/incs"
bad=$((bad + $(wc -l <"$tmp/incs")))
n=$(wc -l <"$tmp/edges")
if [ "$bad" -gt 0 ]; then
	echo "check-layers: $bad calls or includes against the layers (of $n between files)" >&2
	exit 1
fi
echo "check-layers: $n uses between files of server/, all downward or within a layer"
