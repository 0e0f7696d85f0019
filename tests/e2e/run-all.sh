#!/bin/sh
# Run every tests/e2e/test_*.sh; one summary line at the end.
B=${1:-build}
export B
pass=0; fail=0; skip=0; failed=""
for t in tests/e2e/test_*.sh; do
	[ -f "$t" ] || continue
	echo "=== $t"
	t0=$(date +%s)
	timeout 600 bash "$t"
	rc=$?
	echo "--- $t: rc $rc, $(($(date +%s) - t0)) s"
	if [ $rc -eq 0 ]; then pass=$((pass + 1))
	elif [ $rc -eq 77 ]; then skip=$((skip + 1))
	else fail=$((fail + 1)); failed="$failed $t"
	fi
done
echo "e2e: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] || { echo "failed:$failed"; exit 1; }
