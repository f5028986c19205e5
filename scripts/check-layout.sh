#!/usr/bin/env bash
# DESIGN.md §1 lists the tree: every path it names exists, every top-level
# entry git tracks is named, and a directory whose files are listed (indented
# lines under it) has all of its tracked files listed. Lines are NAME... then
# two or more spaces and a description (see the loop below).
#   scripts/check-layout.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	echo "check-layout: not a git work tree, skipped"
	exit 0
fi
status=0
fail() {
	echo "check-layout: $*"
	status=1
}
block=$(awk '/^## 1\. /{on=1} on && /^```/{n++; next} on && n==1' DESIGN.md)
[ -n "$block" ] || {
	echo "check-layout: no layout block in DESIGN.md §1"
	exit 1
}
declare -A listed=() full=()
dir=
# A line is names, then (after two or more spaces) a description; several
# names may share a line ("ring.h ring.c   ..."). A line indented deeper than
# the names column of its directory (past 4 spaces) continues a description.
while IFS= read -r line; do
	[ -n "$line" ] || continue
	indent=$(sed 's/[^ ].*//' <<<"$line" | wc -c)
	indent=$((indent - 1))
	[ $indent -gt 4 ] && continue
	names=$(sed 's/^[[:space:]]*//; s/[[:space:]]\{2,\}.*//' <<<"$line")
	for name in $names; do
		if [ $indent -gt 0 ]; then
			[ -n "$dir" ] || {
				fail "'$name' is indented under no directory"
				continue
			}
			path=$dir$name
			full[$dir]=1
		else
			path=$name
			dir=$([[ $name == */ ]] && echo "$name" || echo "")
		fi
		listed[$path]=1
		[ -e "$path" ] || fail "DESIGN.md §1 names $path, which does not exist"
	done
done <<<"$block"

# Every tracked top-level entry, and every tracked file of a listed directory.
while IFS= read -r f; do
	[ -e "$f" ] || continue # deleted in the work tree
	top=${f%%/*}
	if [[ $f == */* ]]; then
		key=$top/
		[[ $f == .ci/* ]] && key=$f
	else
		key=$f
	fi
	[ -n "${listed[$key]:-}" ] || [ -n "${listed[$f]:-}" ] || [ -n "${listed[${f%/*}/]:-}" ] ||
		fail "$f: its top-level entry $key is not in DESIGN.md §1"
	d=${f%/*}/
	if [[ $f == */* ]] && [ -n "${full[$d]:-}" ] && [ -z "${listed[$f]:-}" ]; then
		fail "$f is not listed under $d in DESIGN.md §1"
	fi
done < <(git ls-files -co --exclude-standard)
[ $status -eq 0 ] && echo "check-layout: DESIGN.md §1 matches the tree (${#listed[@]} entries)"
exit $status
