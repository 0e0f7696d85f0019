#!/bin/sh
# Run every built fuzzer in DIR for N seconds on its own corpus (plus the
# read-only seeds in tests/fuzz/seeds/NAME when there are some); a crash
# fails.  With "replay" the binaries are the libFuzzer-less ones of
# tests/fuzz/replay.c (make fuzz-replay): seeds, then blind mutations, at most
# N seconds each.
#   tests/fuzz/run-all.sh DIR [seconds] [replay]
DIR=$1
SEEDS=$(dirname "$0")/seeds
SECS=${2:-30}
MODE=${3:-fuzz}
pass=0; fail=0
for f in "$DIR"/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	seeds=
	[ -d "$SEEDS/$name" ] && seeds="$SEEDS/$name"
	if [ "$MODE" = replay ]; then
		# shellcheck disable=SC2086
		"$f" -t "$SECS" -o "$DIR/$name.crash" $seeds >"$DIR/$name.log" 2>&1
	else
		mkdir -p "$DIR/corpus/$name"
		# shellcheck disable=SC2086
		"$f" -max_total_time="$SECS" -max_len=8192 -print_final_stats=1 \
		    -artifact_prefix="$DIR/$name-" "$DIR/corpus/$name" $seeds >"$DIR/$name.log" 2>&1
	fi
	if [ $? -eq 0 ]; then
		if [ "$MODE" = replay ]; then
			echo "$name: $(tail -n 1 "$DIR/$name.log")"
		else
			runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$DIR/$name.log" | grep -o '[0-9]*$')
			echo "$name: ${runs:-?} inputs in ${SECS}s, no crash"
		fi
		pass=$((pass + 1))
	else
		echo "$name: CRASH (see $DIR/$name.log and $DIR/$name-* or $DIR/$name.crash)"
		grep -m1 -A16 'ERROR: \|runtime error' "$DIR/$name.log" || tail -n 30 "$DIR/$name.log"
		fail=$((fail + 1))
	fi
done
echo "fuzz targets ($MODE): $pass passed, $fail failed"
[ "$fail" -eq 0 ]
