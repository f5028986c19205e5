#!/usr/bin/env bash
# The manual in man/: every page passes `mandoc -T lint` with no message of
# level warning or above; every exported function (src/libshmring.map) and
# shmring_prep_wait (static inline, include/shmring/uring.h) has a section-3
# page; alias pages are one `.so man3/PAGE.3` line whose PAGE exists and
# names the alias in its NAME section (mandoc calls every .so "fragile" at
# warning level, which is the one message let through, on alias pages only).
#   scripts/check-man.sh       (make man-lint)
set -euo pipefail
cd "$(dirname "$0")/../man"
status=0
fail() {
	echo "check-man: $*"
	status=1
}
pages=0 aliases=0
for f in man1/*.1 man3/*.3 man7/*.7; do
	if head -1 "$f" | grep '^\.so ' >/dev/null; then
		aliases=$((aliases + 1))
		[ "$(wc -l <"$f")" -eq 1 ] || fail "$f: an alias page is one .so line"
		target=$(sed -n '1s/^\.so //p' "$f")
		[ -f "$target" ] || {
			fail "$f: .so $target: no such page"
			continue
		}
		name=$(basename "$f" .3)
		sed -n '/^\.SH NAME/,/^\.SH/p' "$target" | grep -w "$name" >/dev/null ||
			fail "$f: $target's NAME does not list $name"
		out=$(mandoc -T lint -W warning "$f" 2>&1 | grep -v 'WARNING: .so is fragile' || true)
	else
		pages=$((pages + 1))
		out=$(mandoc -T lint -W warning "$f" 2>&1 || true)
	fi
	[ -z "$out" ] || fail "$out"
done
want=$(sed -n 's/^[[:space:]]*\(shmring_[a-z0-9_]*\);$/\1/p' ../src/libshmring.map)
for fn in $want shmring_prep_wait; do
	[ -f "man3/$fn.3" ] || fail "no page for $fn (man3/$fn.3)"
done
[ $status -eq 0 ] && echo "check-man: $pages pages and $aliases aliases lint clean; every exported function has a page"
exit $status
