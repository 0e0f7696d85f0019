#!/bin/bash
# Every installed binary answers --help and --version (exit 0, on stdout),
# edgemeshctl has help per command, a bad option exits 2; plain `make` on a
# machine without the build packages names them and the command that
# installs them (simulated: pkg-config and the libev header reported missing).
set -u
B=${B:-build}
PASS=0 FAIL=0
ok() { local w=$1; shift; if "$@"; then PASS=$((PASS + 1)); echo "ok - $w"; else FAIL=$((FAIL + 1)); echo "not ok - $w"; fi; }
T=$(mktemp -d /tmp/edgemesh-help.XXXXXX)
trap 'rm -rf "$T"' EXIT

for b in edgemesh-controller edgemesh-dnsd edgemesh-proxyd edgemesh-tunneld edgemesh-socksd \
	edgemesh-gatewayd edgemeshctl; do
	"$B/$b" --version >"$T/out" 2>"$T/err"; rc=$?
	ok "$b --version: exit 0, \"$(head -c 40 "$T/out")\"" \
		bash -c "[ $rc -eq 0 ] && grep -qx '$b [0-9][0-9.]*' $T/out"
	"$B/$b" --help >"$T/out" 2>"$T/err"; rc=$?
	ok "$b --help: exit 0, usage on stdout" bash -c "[ $rc -eq 0 ] && grep -q '^usage: $b' $T/out"
	"$B/$b" --no-such-option >"$T/out" 2>"$T/err"; rc=$?
	ok "$b --no-such-option: exit 2, usage on stderr" \
		bash -c "[ $rc -eq 2 ] && grep -q '^usage: $b' $T/err && [ ! -s $T/out ]"
done
ok "-h is --help, -V is --version" bash -c "$B/edgemesh-proxyd -h | grep -q -- --cleanup && $B/edgemesh-proxyd -V | grep -q '^edgemesh-proxyd '"

for c in status services peers ping trace doctor gen-psk health; do
	"$B/edgemeshctl" help "$c" >"$T/a" 2>&1; r1=$?
	"$B/edgemeshctl" "$c" --help >"$T/b" 2>&1; r2=$?
	ok "edgemeshctl help $c and $c --help: exit 0, the same text" \
		bash -c "[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && grep -q '^usage: edgemeshctl \[-c file\] $c' $T/a && cmp -s $T/a $T/b"
done
ok "the commands' help texts differ" bash -c "[ \"\$($B/edgemeshctl help peers)\" != \"\$($B/edgemeshctl help status)\" ]"
"$B/edgemeshctl" help no-such >/dev/null 2>"$T/err"; rc=$?
ok "edgemeshctl help no-such: exit 2, names it" bash -c "[ $rc -eq 2 ] && grep -q no-such $T/err"

# make without the build packages: a pkg-config that finds nothing
mkdir -p "$T/bin" && printf '#!/bin/sh\nexit 1\n' >"$T/bin/pkg-config" && chmod +x "$T/bin/pkg-config"
PATH="$T/bin:$PATH" make -n >"$T/out" 2>&1; rc=$?
ok "make fails without the build packages" test $rc -ne 0
ok "and names them and scripts/deps.sh" bash -c "grep -q 'libsodium-dev' $T/out && grep -q 'libmsgpack-dev' $T/out && grep -q 'scripts/deps.sh' $T/out && grep -q 'apt-get install' $T/out"
ok "make deps is not stopped by the check" bash -c "PATH=$T/bin:\$PATH make -n deps >/dev/null 2>&1"
echo "help: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
