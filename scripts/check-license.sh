#!/usr/bin/env bash
# One license: LICENSE says MIT, every C/C++ source, header and bpftrace
# script says MIT in its SPDX line, except the eBPF program, which is also
# offered under GPL-2.0 because the kernel loads a program that calls
# GPL-only helpers only with a GPL-compatible license string (LICENSE explains
# it). Files are the ones git tracks, so build products do not count.
#   scripts/check-license.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	echo "check-license: not a git work tree, skipped"
	exit 0
fi
status=0
fail() {
	echo "check-license: $*"
	status=1
}

head -1 LICENSE | grep -x 'MIT License' >/dev/null || fail "LICENSE does not start with 'MIT License'"

mit='SPDX-License-Identifier: MIT'
dual='SPDX-License-Identifier: MIT OR GPL-2.0-only'
n=0
while IFS= read -r f; do
	[ -f "$f" ] || continue # deleted in the work tree
	n=$((n + 1))
	line=$(head -3 "$f" | grep -o 'SPDX-License-Identifier: .*' | sed 's/ *\*\/$//' || true)
	case $f in
	*.bpf.c)
		[ "$line" = "$dual" ] || fail "$f: '$line', want '$dual'"
		grep -q 'SEC("license") = "Dual MIT/GPL";' "$f" ||
			fail "$f: license string is not \"Dual MIT/GPL\""
		;;
	*)
		[ "$line" = "$mit" ] || fail "$f: '${line:-no SPDX line}', want '$mit'"
		;;
	esac
done < <(git ls-files '*.c' '*.h' '*.hpp' '*.cpp' '*.bt')
# A "license" section anywhere else would be a second license string.
others=$(git grep -l 'SEC("license")' -- '*.c' '*.h' ':!*.bpf.c' || true)
[ -z "$others" ] || fail "license sections outside *.bpf.c: $others"
[ $status -eq 0 ] && echo "check-license: $n files, one license (MIT; the BPF program MIT OR GPL-2.0-only)"
exit $status
