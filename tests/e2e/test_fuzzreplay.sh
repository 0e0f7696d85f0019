#!/bin/bash
# make fuzz-replay's driver (tests/fuzz/replay.c) and runner
# (tests/fuzz/run-all.sh ... replay), on two made-up targets built under
# ASan + UBSan: one that reads a byte past its input when the input holds
# 0xff (no seed does: only a mutation finds it), one that is clean.  The
# first must fail the run with the report and leave the input behind; the
# second must pass; seeds are read and counted.
set -u
. tests/e2e/lib.sh
T=$(mktemp -d /tmp/edgemesh-fuzzreplay.XXXXXX)
trap 'rm -rf "$T"' EXIT
CFL="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=address,undefined -fno-sanitize-recover=undefined"

cat >"$T/bad.c" <<'C'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (d[i] == 0xff)
			return d[n]; /* one past the input */
	return 0;
}
C
sed 's/return d\[n\];/return d[i];/' "$T/bad.c" >"$T/good.c"
mkdir -p "$T/bin" "$T/seeds/fuzz_bad" "$T/seeds/fuzz_good"
printf 'hello, seeds' >"$T/seeds/fuzz_bad/a"
printf 'GET / HTTP/1.1\r\n\r\n' >"$T/seeds/fuzz_bad/b"
cp "$T/seeds/fuzz_bad/"* "$T/seeds/fuzz_good/"
for t in bad good; do
	cc $CFL -o "$T/bin/fuzz_$t" tests/fuzz/replay.c "$T/$t.c" || fail "build fuzz_$t"
done

"$T/bin/fuzz_good" -t 1 "$T/seeds/fuzz_good" >"$T/good.out" 2>&1; rc=$?
ok "a clean target passes ($(cat "$T/good.out"))" test "$rc" -eq 0
ok "... its two seeds were read" grep -q '^2 seeds, [0-9]* inputs, no crash' "$T/good.out"
"$T/bin/fuzz_bad" -t 5 -o "$T/bad.crash" "$T/seeds/fuzz_bad" >"$T/bad.out" 2>&1; rc=$?
ok "a read past the input, found by a mutation, fails the run" test "$rc" -ne 0
ok "... with ASan's report" grep -q 'ERROR: AddressSanitizer: heap-buffer-overflow' "$T/bad.out"
ok "... and the input is left behind (it holds 0xff)" \
	bash -c "od -An -tx1 '$T/bad.crash' | grep -q ff"

# the runner, as make check calls it: one CRASH line and a failing status
# (a copy beside $T/seeds: it takes the seeds from its own directory)
cp tests/fuzz/run-all.sh "$T/run-all.sh"
rm -f "$T/bin/"*.crash
out=$(sh "$T/run-all.sh" "$T/bin" 2 replay 2>&1); rc=$?
echo "$out" | grep -v '^ \|^==\|^$' | head -n 6
ok "run-all.sh replay fails when one target crashes" test "$rc" -ne 0
ok "... names it and shows the report" \
	bash -c "grep -q '^fuzz_bad: CRASH' <<<'$out' && grep -q 'heap-buffer-overflow' <<<'$out'"
ok "... and passes the clean one" bash -c "grep -q '^fuzz_good: 2 seeds' <<<'$out'"
E2E_NAME=fuzzreplay
e2e_done
