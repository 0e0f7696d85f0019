#!/bin/sh
# Run every bench/*.sh but this one and print what they print (`make bench`
# calls `bench/run-all.sh build`).  Benchmarks measure and print; they never
# fail on a number, only when they cannot run.
B=${1:-build}
export B
cd "$(dirname "$0")/.." || exit 1
rc=0
failed=""
for b in bench/*.sh; do
	[ "$b" = bench/run-all.sh ] && continue
	[ -f "$b" ] || continue
	echo "=== $b"
	if ! timeout 600 bash "$b" "$B"; then
		rc=1
		failed="$failed $b"
	fi
	echo
done
[ $rc -eq 0 ] || echo "benchmarks that could not run:$failed"
exit $rc
