#!/bin/sh
# Run every built fuzzer for N seconds on its own corpus (plus the read-only
# seeds in tests/fuzz/seeds/NAME when there are some); a crash fails.
DIR=$1
SEEDS=$(dirname "$0")/seeds
SECS=${2:-30}
pass=0; fail=0
for f in "$DIR"/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	mkdir -p "$DIR/corpus/$name"
	seeds=
	[ -d "$SEEDS/$name" ] && seeds="$SEEDS/$name"
	# shellcheck disable=SC2086
	if "$f" -max_total_time="$SECS" -max_len=8192 -print_final_stats=1 \
	    -artifact_prefix="$DIR/$name-" "$DIR/corpus/$name" $seeds >"$DIR/$name.log" 2>&1; then
		runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$DIR/$name.log" | grep -o '[0-9]*$')
		echo "$name: ${runs:-?} inputs in ${SECS}s, no crash"
		pass=$((pass + 1))
	else
		echo "$name: CRASH (see $DIR/$name.log and $DIR/$name-*)"
		tail -n 30 "$DIR/$name.log"
		fail=$((fail + 1))
	fi
done
echo "fuzzers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
