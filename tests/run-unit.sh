#!/bin/sh
# Run every Check suite; print one "N passed, N failed" summary line.
pass=0; fail=0; failed=""
for t in "$@"; do
	name=$(basename "$t")
	if out=$("$t" 2>&1); then
		pass=$((pass + 1))
		echo "$out" | grep -E '^[0-9]+%: Checks' | sed "s/^/$name: /"
	else
		fail=$((fail + 1)); failed="$failed $name"
		echo "$out" | tail -n 40
		echo "$name: FAILED"
	fi
done
echo "unit suites: $pass passed, $fail failed"
[ "$fail" -eq 0 ] || { echo "failed suites:$failed"; exit 1; }
