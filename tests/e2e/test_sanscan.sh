#!/bin/bash
# The sanitizer-report scan that ends every e2e test of a sanitizer build
# (make SAN=1 check; lib.sh, e2e_san_reports), on made-up daemon logs: an
# ASan, LeakSanitizer or UBSan report fails the test, a clean log does not,
# a plain build is not scanned, and a daemon that writes its report while
# exiting (LeakSanitizer runs at exit, after SIGTERM) is waited for.
set -u
. tests/e2e/lib.sh
T=$(mktemp -d /tmp/edgemesh-sanscan.XXXXXX)
trap 'rm -rf "$T"' EXIT

# scan B log-text -> the failures the scan counted
scan() {
	rm -rf "$T/run" && mkdir -p "$T/run/n1"
	printf '%s\n' "level=info daemon=proxyd msg=\"ready\"" "$2" >"$T/run/n1/proxyd.log"
	(B=$1 E2E_DIR=$T/run E2E_PIDS="" E2E_FAIL=0 && e2e_san_reports >/dev/null; echo "$E2E_FAIL")
}
ok "a LeakSanitizer report fails the test" \
	test "$(scan build-san '==41==ERROR: LeakSanitizer: detected memory leaks')" = 1
ok "an AddressSanitizer report fails the test" \
	test "$(scan build-san '==41==ERROR: AddressSanitizer: heap-use-after-free on address 0x1')" = 1
ok "a UBSan report fails the test" \
	test "$(scan build-san 'common/relay.c:120:9: runtime error: signed integer overflow')" = 1
ok "LeakSanitizer unable to run (the sandbox) fails the test" \
	test "$(scan build-san '==41==LeakSanitizer has encountered a fatal error.')" = 1
ok "a clean log does not" test "$(scan build-san 'level=info daemon=proxyd msg="stopping"')" = 0
ok "a plain build is not scanned" \
	test "$(scan build '==41==ERROR: LeakSanitizer: detected memory leaks')" = 0

# a daemon that reports while it exits: SIGTERM, then the report 0.5 s later
mkdir -p "$T/slow/n1"
bash -c 'trap "sleep 0.5; echo \"==42==ERROR: LeakSanitizer: detected memory leaks\" >>$0; exit 0" TERM
	while :; do sleep 0.1; done' "$T/slow/n1/tunneld.log" &
pid=$!
sleep 0.3
n=$(B=build-san E2E_DIR=$T/slow E2E_PIDS=$pid E2E_FAIL=0 && e2e_san_reports >/dev/null; echo "$E2E_FAIL")
ok "a report written at exit, after SIGTERM, is waited for and counted" test "$n" = 1
ok "... and that daemon was stopped" bash -c "! kill -0 $pid 2>/dev/null"
kill -9 "$pid" 2>/dev/null
E2E_NAME=sanscan
e2e_done
