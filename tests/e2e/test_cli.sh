#!/bin/bash
# edgemeshctl ping, trace and -o json against real daemons: ping over the
# tunnel session in band (and its failures named), trace of a Service by
# name, by ClusterIP:port, by ns/name and ns/name:port hop by hop (dnsd, the
# service, the policy, local and remote endpoints with the tunnel path and
# the far end's dial, the probe through the rules and proxyd; a missing or
# bad port named; a UDP service's endpoints named, not probed), and the JSON
# shapes of status, services, peers, ping, trace and doctor: exactly the keys
# README documents (tests/e2e/json_shape.py).
. tests/e2e/lib.sh
. tests/e2e/proxy/registry.sh
e2e_init cli
e2e_topology 3
mkdir -p "$E2E_DIR/registry"
cp tests/fixtures/registry/nodes.yaml "$E2E_DIR/registry/"
{
	svc web 10.96.1.10 80 TCP 9376; eps web 9376 TCP edge-1 10.201.1.10
	svc remote-web 10.96.1.40 80 TCP 9376; eps remote-web 9376 TCP edge-2 10.201.2.10
	svc dead-web 10.96.1.41 80 TCP 9376; eps dead-web 9376 TCP edge-2 10.201.2.11
	svc udp-web 10.96.1.42 53 UDP 5353; eps udp-web 5353 UDP edge-1 10.201.1.10
} > "$E2E_DIR/registry/svc.yaml"
for i in 1 2 3; do e2e_config $i </dev/null >/dev/null; done
for i in 1 2; do in_ns n$i ip route add default dev eth0; done
in_ns p1 python3 tests/e2e/proxy/servers.py http 10.201.1.10 9376 local-pod & E2E_PIDS="$E2E_PIDS $!"
in_ns p2 python3 tests/e2e/proxy/servers.py http 10.201.2.10 9376 remote-pod & E2E_PIDS="$E2E_PIDS $!"
for i in 1 2 3; do e2e_daemon $i controller; done
for i in 1 2 3; do wait_for 10 test -S "$E2E_DIR/n$i/run/controller.sock"; done
for i in 1 2; do e2e_daemon $i tunneld; done
e2e_daemon 1 proxyd
e2e_daemon 1 dnsd
ctl() { e2e_ctl 1 "$@"; }
wait_for 20 in_ns n1 curl -sf -m 2 http://10.96.1.40/ || fail "remote service answers"

# ping
OUT=$(ctl ping edge-2); rc=$?
ok "ping edge-2: a round trip over the tunnel, direct ($OUT)" \
	bash -c "[ $rc -eq 0 ] && grep -Eq '^edge-2: [0-9.]+ ms over the tunnel, direct \(10.200.0.12:[0-9]+\)' <<<'$OUT'"
ok "ping -o json: ok, rtt_ms > 0, path direct" python3 -c '
import json, sys; d = json.loads(sys.argv[1])
assert d["ok"] is True and d["rtt_ms"] > 0 and d["path"] == "direct" and d["node"] == "edge-2", d' \
	"$(ctl ping edge-2 -o json)"
OUT=$(ctl ping cloud-1); rc=$?
ok "ping a node whose tunneld is down fails and says why ($OUT)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'cloud-1: no answer: no session within 5 s: .*10.200.0.13' <<<'$OUT'"
OUT=$(ctl ping nosuch); rc=$?
ok "ping an unknown node: named ($OUT)" bash -c "[ $rc -eq 1 ] && grep -q 'nosuch is not a known node' <<<'$OUT'"

# trace by name: every hop
e2e_resolver n1
OUT=$(ctl trace remote-web.default); rc=$?
echo "$OUT" | sed 's/^/    /'
ok "trace by name exits 0" test $rc -eq 0
ok "... dnsd answered the name with the ClusterIP" grep -Eq '^name +ok .* remote-web.default.svc.cluster.local -> 10.96.1.40' <<<"$OUT"
ok "... the service and its port" grep -q 'default/remote-web 10.96.1.40:80/TCP' <<<"$OUT"
ok "... the policy" grep -q 'ROUND_ROBIN over 1 ready of 1 endpoints' <<<"$OUT"
ok "... the endpoint's node and the tunnel path" grep -q '10.201.2.10:9376 on node edge-2, tunnel path: direct' <<<"$OUT"
ok "... the far end's dial, timed" grep -Eq '^far-dial +ok +[0-9.]+ ms +edge-2 dialled 10.201.2.10:9376' <<<"$OUT"
ok "... the probe through the rules and proxyd, timed" grep -Eq '^probe +ok +[0-9.]+ ms +10.96.1.40:80 through the rules and proxyd' <<<"$OUT"
OUT=$(ctl trace 10.96.1.10:80); rc=$?
ok "trace by ClusterIP:port, a local endpoint connected ($rc)" \
	bash -c "[ $rc -eq 0 ] && grep -Eq '^endpoint +ok .*10.201.1.10:9376 on this node' <<<'$OUT'"
OUT=$(ctl trace default/dead-web); rc=$?
ok "trace names the failing hop: the far end could not dial the endpoint" \
	bash -c "[ $rc -eq 1 ] && grep -Eq '^far-dial +FAIL .*edge-2 could not reach 10.201.2.11:9376: .*refused' <<<'$OUT'"
OUT=$(ctl trace default/dead-web); rc=$?
ok "... and the probe through proxyd is closed: no usable endpoint" \
	grep -Eq '^probe +FAIL .*10.96.1.41:80 through the rules and proxyd: .*no usable endpoint' <<<"$OUT"
OUT=$(ctl trace default/remote-web:80); rc=$?
ok "trace SERVICE:PORT (ns/name:80): the port, the far dial, the probe ($rc)" bash -c "[ $rc -eq 0 ] &&
	grep -q 'default/remote-web 10.96.1.40:80/TCP' <<<'$OUT' && grep -Eq '^far-dial +ok' <<<'$OUT' && grep -Eq '^probe +ok' <<<'$OUT'"
OUT=$(ctl trace remote-web.default:81); rc=$?
ok "trace NAME:PORT with a port the service lacks: named ($OUT)" bash -c "[ $rc -eq 1 ] && grep -q 'default/remote-web has no port 81' <<<'$OUT'"
OUT=$(ctl trace default/remote-web:http); rc=$?
ok "trace with a port that is no number: named ($OUT)" bash -c "[ $rc -eq 1 ] && grep -q 'default/remote-web:http: not SERVICE\[:PORT\], IP:PORT or NAME\[:PORT\]' <<<'$OUT'"
OUT=$(ctl trace default/udp-web); rc=$?
ok "trace of a UDP service: the endpoint named, not probed with TCP ($rc)" bash -c "[ $rc -eq 0 ] &&
	grep -Eq '^endpoint +ok .*10.201.1.10:5353/UDP on this node \(not probed: only TCP is\)' <<<'$OUT'"
OUT=$(ctl trace default/nothere); rc=$?
ok "trace of a service that does not exist: named" bash -c "[ $rc -eq 1 ] && grep -q 'no service default/nothere' <<<'$OUT'"
ok "trace -o json: target, ok and the hops in order" python3 -c '
import json, sys; d = json.loads(sys.argv[1])
assert d["target"] == "remote-web.default" and d["ok"] is True, d
kinds = [h["hop"] for h in d["hops"]]
assert kinds == ["name", "service", "policy", "node", "far-dial", "probe"], kinds
assert all(set(h) == {"hop", "ok", "ms", "what"} for h in d["hops"])' "$(ctl trace remote-web.default -o json)"

# -o json shapes
ok "status -o json" python3 -c '
import json, sys; d = json.loads(sys.argv[1])
names = {r["name"]: r for r in d["daemons"]}
assert names["controller"]["connected"] and names["proxyd"]["connected"] and names["tunneld"]["state"] == "ok", d
assert d["registry"].startswith("file:") and d["state_version"] > 0' "$(ctl status -o json)"
ok "status shows each daemon's uid, capabilities, seccomp (filter: Seccomp 2), no_new_privs and Landlock as /proc says" python3 -c '
import json, sys
d = json.loads(sys.argv[1]); seen = 0
for r in d["daemons"]:
    if not r["connected"] or r["name"] == "controller" and r["privileges"] is None:
        continue
    p = r["privileges"]; assert p is not None, r
    st = dict(l.split(":", 1) for l in open("/proc/%d/status" % r["pid"]).read().splitlines())
    assert p["uid"] == st["Uid"].split()[0], (r["name"], p, st["Uid"])
    assert p["caps"] == st["CapEff"].strip(), (r["name"], p, st["CapEff"])
    assert p["seccomp"] == ["disabled", "strict", "filter"][int(st["Seccomp"])], p
    assert p["no_new_privs"] == st["NoNewPrivs"].strip() == "1", p
    assert st["Seccomp"].strip() == "2" and p["seccomp"] == "filter", (r["name"], p)
    assert p["landlock"] == "on", (r["name"], p)
    seen += 1
assert seen >= 4, seen' "$(ctl status -o json)"
ok "status prints the privileges table" bash -c "ip netns exec $(ns n1) $B/edgemeshctl -c $E2E_DIR/n1/edgemesh.yaml status | grep -Eq '^proxyd +[0-9]+ +0000000000001000 +filter +1 +on'"
ok "services -o json" python3 -c '
import json, sys; d = json.loads(sys.argv[1])
s = {x["namespace"] + "/" + x["name"]: x for x in d["services"]}["default/remote-web"]
assert s["cluster_ip"] == "10.96.1.40" and s["ports"][0]["port"] == 80 and s["lb"] == "ROUND_ROBIN", s
assert s["endpoints"] == [{"ip": "10.201.2.10", "node": "edge-2", "ready": True, "pod": "pod-10.201.2.10"}], s' \
	"$(ctl services -o json)"
ok "peers -o json" python3 -c '
import json, sys; d = json.loads(sys.argv[1])
p = {x["name"]: x for x in d["peers"]}
assert d["node"] == "edge-1" and len(d["psk_fingerprint"]) > 0, d
assert p["edge-2"]["state"] == "up" and p["edge-2"]["path"] == "direct" and p["edge-2"]["tx_bytes"] > 0, p' \
	"$(ctl peers -o json)"
# every -o json document has exactly the keys README.md documents, at every level
printf 'modules:\n  edged:\n    tailoredKubeletConfig:\n      clusterDNS: [10.96.0.10]\n' > "$E2E_DIR/edgecore.yaml"
shape() {	# command args...
	local j
	j=$(ctl "$@" -o json 2>&1)
	ok "$1 -o json: the keys README documents" python3 tests/e2e/json_shape.py README.md "$1" <<<"$j"
}
shape status
shape services
shape peers
shape ping edge-2
shape trace remote-web.default
shape doctor --edgecore "$E2E_DIR/edgecore.yaml"
ok "a bad -o value is a usage error" bash -c "! ip netns exec $(ns n1) $B/edgemeshctl -c $E2E_DIR/n1/edgemesh.yaml -o yaml status >/dev/null 2>&1"
e2e_done
