#!/usr/bin/env bash
# The exported symbols, three ways, must agree: the functions include/shmring.h
# declares with SHMRING_API, the version script src/libshmring.map, and what
# the built shared library exports. Usage: check-exports.sh LIBSHMRING_SO
set -euo pipefail
cd "$(dirname "$0")/.."
so=$1
header=$(tr '\n' ' ' <include/shmring.h | grep -o 'SHMRING_API[^;(]*(' |
	grep -o 'shmring_[a-z0-9_]*($' | tr -d '(' | sort -u)
map=$(sed -n 's/^[[:space:]]*\(shmring_[a-z0-9_]*\);$/\1/p' src/libshmring.map | sort -u)
lib=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDB]$/ && $3 ~ /^shmring_/ {sub(/@.*/, "", $3); print $3}' | sort -u)
status=0
if [ "$header" != "$map" ]; then
	echo "check-exports: include/shmring.h and src/libshmring.map differ:"
	diff <(echo "$header") <(echo "$map") || true
	status=1
fi
if [ "$map" != "$lib" ]; then
	echo "check-exports: src/libshmring.map and $so differ:"
	diff <(echo "$map") <(echo "$lib") || true
	status=1
fi
[ $status -eq 0 ] && echo "check-exports: $(echo "$map" | wc -l) symbols agree"
exit $status
