#!/bin/bash
# The daemons' sandbox (common/sandbox.c, <daemon>/<daemon>_sandbox.c) and
# node key pinning (tunneld/tun_pin.c), end to end:
#   - each daemon's own lists (sandbox_probe links them): a forbidden system
#     call ends the process with a line naming it; a file outside the rules
#     is EACCES while what the daemon needs still opens; EDGEMESH_SANDBOX=off
#     lifts it; without Landlock in the kernel (sandbox_nolandlock.py) the
#     state is "unsupported" and seccomp still holds
#   - the running daemons: Seccomp 2 and NoNewPrivs 1 in /proc, Landlock "on"
#     in their own report (edgemeshctl status), and they keep serving
#   - the controller asked to read a registry file outside its rules (a
#     symlink out of the registry dir): refused and named, the controller
#     serves on and takes the next good file
#   - pinning with the file registry: first use logged with the key; the key
#     published in the Node; a node holding the PSK but presenting another
#     key refused with both keys named; the right key accepted again
. tests/e2e/lib.sh
. tests/e2e/pin_lib.sh
. tests/e2e/proxy/registry.sh
. tests/e2e/tunnel_lib.sh
e2e_init sandbox
e2e_topology 2
mkdir -p "$E2E_DIR/registry"
cp tests/fixtures/registry/nodes.yaml "$E2E_DIR/registry/"
{ svc remote-web 10.96.1.40 80 TCP 9376; eps remote-web 9376 TCP edge-2 10.201.2.10; } \
	> "$E2E_DIR/registry/svc.yaml"
for i in 1 2; do e2e_config $i </dev/null >/dev/null; done
for i in 1 2; do in_ns n$i ip route add default dev eth0; done
in_ns p2 python3 tests/e2e/proxy/servers.py http 10.201.2.10 9376 remote-pod & E2E_PIDS="$E2E_PIDS $!"

# ---- each daemon's lists, applied to a probe ----
mkdir -p "$E2E_DIR/outside"
echo "not for daemons" > "$E2E_DIR/outside/secret.txt"
chmod 644 "$E2E_DIR/outside/secret.txt"
for d in controller dnsd proxyd tunneld socksd gatewayd; do
	OUT=$("$B/sandbox_probe" $d "$E2E_DIR/n1/edgemesh.yaml" call 2>&1); rc=$?
	ok "$d's list: a forbidden call (mount) ends the process, the call named" \
		bash -c "[ $rc -eq 159 ] && grep -q 'daemon=$d msg=\"sandbox: forbidden system call mount' <<<'$OUT'"
	OUT=$("$B/sandbox_probe" $d "$E2E_DIR/n1/edgemesh.yaml" open "$E2E_DIR/outside/secret.txt" 2>&1); rc=$?
	ok "$d's rules: a file outside them is refused (EACCES), its state dir still opens" \
		bash -c "[ $rc -eq 0 ] && grep -q 'Permission denied' <<<'$OUT' && grep -q 'landlock on' <<<'$OUT'"
done
# a kernel without Landlock: "unsupported", the daemon goes on, seccomp still holds
OUT=$(python3 tests/e2e/sandbox_nolandlock.py "$B/sandbox_probe" dnsd "$E2E_DIR/n1/edgemesh.yaml" state 2>&1)
ok "no Landlock in the kernel: the state says unsupported, the daemon goes on" \
	bash -c "grep -q '^landlock unsupported' <<<'$OUT' && grep -q 'Landlock unsupported by this kernel' <<<'$OUT'"
OUT=$(python3 tests/e2e/sandbox_nolandlock.py "$B/sandbox_probe" dnsd "$E2E_DIR/n1/edgemesh.yaml" call 2>&1); rc=$?
ok "... and seccomp still ends a forbidden call" \
	bash -c "[ $rc -eq 159 ] && grep -q 'forbidden system call mount' <<<'$OUT'"
OUT=$(EDGEMESH_SANDBOX=off "$B/sandbox_probe" dnsd "$E2E_DIR/n1/edgemesh.yaml" call 2>&1)
ok "EDGEMESH_SANDBOX=off lifts it (and says so)" \
	bash -c "grep -q 'not stopped' <<<'$OUT' && grep -q 'sandbox: off' <<<'$OUT'"

# ---- the daemons, sandboxed ----
for i in 1 2; do e2e_daemon $i controller; done
for i in 1 2; do wait_for 10 test -S "$E2E_DIR/n$i/run/controller.sock"; done
for i in 1 2; do start_tunneld $i; done
e2e_daemon 1 proxyd
e2e_daemon 1 dnsd
e2e_daemon 1 socksd
wait_for 20 in_ns n1 curl -sf -m 2 http://10.96.1.40/ || fail "remote service answers"
ok "proxyd and tunneld serve, sandboxed: remote service through the tunnel" \
	in_ns n1 curl -sf -m 5 http://10.96.1.40/
ok "first use of edge-2's key logged on edge-1 (not published yet)" \
	wait_for 10 log_has 1 "node edge-2 at .*no tunnel key published; first use of key"
ST=$(e2e_ctl 1 status -o json)
ok "every daemon: Seccomp 2 and NoNewPrivs 1 in /proc, Landlock on by its report" python3 -c '
import json, sys
d = json.loads(sys.argv[1]); seen = set()
for r in d["daemons"]:
    if not r["connected"] or r["privileges"] is None:
        continue
    st = dict(l.split(":", 1) for l in open("/proc/%d/status" % r["pid"]).read().splitlines())
    assert st["Seccomp"].strip() == "2" and st["NoNewPrivs"].strip() == "1", (r["name"], st["Seccomp"])
    assert r["privileges"]["seccomp"] == "filter" and r["privileges"]["landlock"] == "on", r
    seen.add(r["name"])
assert {"tunneld", "proxyd", "dnsd", "socksd"} <= seen, seen' "$ST"
CPID=$(cat "$E2E_DIR/n1/controller.pid")
ok "the controller too: Seccomp 2 in /proc" grep -Eq '^Seccomp:\s+2$' "/proc/$CPID/status"

# ---- the controller asked to read outside its rules ----
svc sneaky 10.96.1.77 80 TCP 9376 > "$E2E_DIR/outside/sneaky.yaml"
chmod 755 "$E2E_DIR/outside"; chmod 644 "$E2E_DIR/outside/sneaky.yaml"
ln -s "$E2E_DIR/outside/sneaky.yaml" "$E2E_DIR/registry/sneaky.yaml"
ok "a registry file outside the controller's rules: refused, named" \
	wait_for 10 grep -q "sneaky.yaml.*Permission denied\|Permission denied.*sneaky.yaml" "$E2E_DIR/n1/controller.log"
svc fine 10.96.1.78 80 TCP 9376 > "$E2E_DIR/registry/fine.yaml"
ok "... the controller serves on: the next good file is taken" \
	wait_for 10 sh -c "'$B/edgemeshctl' -c '$E2E_DIR/n1/edgemesh.yaml' services 2>/dev/null | grep -q fine"
ok "... and the refused one is not" sh -c "! '$B/edgemeshctl' -c '$E2E_DIR/n1/edgemesh.yaml' services | grep -q sneaky"
ok "... same process" test "$(cat "$E2E_DIR/n1/controller.pid")" = "$CPID"
kill -0 "$CPID" || fail "controller alive"

# ---- pinning (file registry) ----
K2=$(pubkey "$E2E_DIR/n2/state")
ok "the key logged at first use is edge-2's ($K2)" log_has 1 "first use of key $K2"
# publish it: the operator's annotation on the Node
python3 - "$E2E_DIR/registry/nodes.yaml" "$K2" <<'PY'
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
for d in docs:
    if d and d["metadata"]["name"] == "edge-2":
        d["metadata"].setdefault("annotations", {})["edgemesh-c.io/tunnel-key"] = sys.argv[2]
open(sys.argv[1] + ".tmp", "w").write(yaml.safe_dump_all(docs))
PY
mv "$E2E_DIR/registry/nodes.yaml.tmp" "$E2E_DIR/registry/nodes.yaml"
sleep 1
# edge-2 comes back with the PSK but another key
e2e_kill 2 tunneld
mkdir -p "$E2E_DIR/n2/other"
STATE_DIRECTORY="$E2E_DIR/n2/other" start_tunneld 2
K2X=$(wait_for 10 test -s "$E2E_DIR/n2/other/tunnel.key" && pubkey "$E2E_DIR/n2/other")
in_ns n1 curl -s -m 3 http://10.96.1.40/ >/dev/null
ok "another key for edge-2: refused, both keys named" \
	wait_for 15 log_has 1 "node edge-2 at .* presented tunnel key $K2X but its published key is $K2: refused"
no_session_after_refusal() {
	! sed -n '/presented tunnel key/,$p' "$E2E_DIR/n1/tunneld.log" | grep -q 'session up with edge-2'
}
ok "... no session with it" no_session_after_refusal
ok "... the service through it fails" sh -c "! ip netns exec $(ns n1) curl -sf -m 3 http://10.96.1.40/ >/dev/null"
# the right key again
e2e_kill 2 tunneld
start_tunneld 2
ok "edge-2 with its published key: accepted, the service answers" \
	wait_for 20 in_ns n1 curl -sf -m 2 http://10.96.1.40/
ok "every sandboxed daemon on edge-1 still runs" sh -c "
	for d in controller tunneld proxyd dnsd socksd; do kill -0 \$(cat '$E2E_DIR/n1/'\$d.pid) || exit 1; done"
ok "no daemon was killed by its sandbox" sh -c "! grep -h 'forbidden system call' '$E2E_DIR'/n*/*.log"
e2e_done
