#!/bin/bash
# edgemeshctl doctor: each fault caused for real and named, with its fix;
# exit 1 while any is there, 0 and "no faults found" on a healthy node;
# -o json with the documented shape.  Faults: a peer that cannot dial our
# tunnel port (its own report), a peer with another PSK, a
# relay that cannot be reached, relayNodes left at EdgeMesh's placeholders,
# a daemon down, the DNS upstream unreachable, edgecore's clusterDNS not
# pointing at us, proxyd's rules displaced, a Service with no ready
# endpoint (none, or only not-ready ones), and (Kubernetes source, fake API
# server) the Istio CRDs missing and the API unreachable, from the start (the
# controller live but not ready: `edgemeshctl health`) and once synced.
. tests/e2e/lib.sh
. tests/e2e/proxy/registry.sh
e2e_init doctor
e2e_topology 3
mkdir -p "$E2E_DIR/registry"
cp tests/fixtures/registry/nodes.yaml "$E2E_DIR/registry/"
{
	svc web 10.96.1.10 80 TCP 9376
	eps web 9376 TCP edge-1 10.201.1.10
} > "$E2E_DIR/registry/web.yaml"
# node 1 relays through cloud-1; its DNS forwards to an address nobody serves
e2e_config 1 >/dev/null <<'CFG'
    relayNodes:
    - nodeName: cloud-1
      advertiseAddress: [10.200.0.13]
  edgeDNS:
    enable: true
    upstreamServers: ["10.200.0.99:53"]
  edgeProxy:
    enable: true
CFG
e2e_config 2 </dev/null >/dev/null
e2e_config 3 </dev/null >/dev/null
in_ns p1 python3 tests/e2e/proxy/servers.py http 10.201.1.10 9376 pod & E2E_PIDS="$E2E_PIDS $!"
for i in 1 2 3; do e2e_daemon $i controller; done
for i in 1 2 3; do wait_for 10 test -S "$E2E_DIR/n$i/run/controller.sock"; done
for i in 1 2 3; do e2e_daemon $i tunneld; done
e2e_daemon 1 proxyd
e2e_daemon 1 dnsd
C1="$E2E_DIR/n1/edgemesh.yaml"
doctor() { in_ns n1 "$B/edgemeshctl" -c "${CFG:-$C1}" doctor "$@"; }
healthy() { doctor > "$E2E_DIR/doctor.out" 2>&1; }

ok "a healthy node: doctor exits 0 with no faults" wait_for 20 healthy
grep -q "no faults found" "$E2E_DIR/doctor.out" || { cat "$E2E_DIR/doctor.out"; fail "no faults found printed"; }
R=$(doctor -o json 2>&1)
ok "-o json on a healthy node: {ok: true, faults: []}" python3 -c '
import json, sys; d = json.loads(sys.argv[1]); assert d == {"ok": True, "faults": []}, d' "$R"

# expect KIND SUBJECT TEXT: doctor names the fault (bounded wait: reports come every 2 s)
names() {
	local out
	out=$(doctor 2>&1)
	[ $? -eq 1 ] && grep -q "FAULT $1: .*$3" <<<"$out" && grep -q "fix: " <<<"$out"
}
expect() { ok "doctor names $1 ($3)" wait_for "${4:-20}" names "$@"; }

# the tunnel port unreachable from a peer: edge-1 drops inbound connections
# to 20006; its own dial to edge-2 works, and edge-2 reports it cannot dial back
in_ns n1 iptables -I INPUT -p tcp --dport 20006 --syn -j DROP
in_ns n1 "$B/edgemeshctl" -c "$C1" ping edge-2 >/dev/null
expect tunnel-port-unreachable edge-2 "peer edge-2 cannot reach this node's tunnel port: connect to 10.200.0.11:20006: Connection timed out"
ok "... and edge-1's tunneld logged the report" grep -q "edge-2 reports it cannot reach our tunnel port" "$E2E_DIR/n1/tunneld.log"
# the same report on a node with transport ws (a doctor-only copy of the
# config): the fix is about its WebSocket port, not TCP 20006
sed 's|^    relayNodes:|    transport: ws\n    wsPort: 8443\n    relayNodes:|' "$C1" > "$E2E_DIR/n1/ws.yaml"
OUT=$(CFG="$E2E_DIR/n1/ws.yaml" doctor 2>&1)
ok "transport ws: the fix names wsPort 8443 and says TCP 20006 need not be open" bash -c '
	grep -A1 "FAULT tunnel-port-unreachable" <<<"$0" | grep -q "fix: this node dials its peers over WebSocket (transport ws), so TCP 20006 need not be open; for peers to dial it too, make its wsPort 8443 reachable" &&
	! grep -q "open TCP 20006" <<<"$0"' "$OUT"

# the DNS upstream: a forwarded name gets SERVFAIL, the upstream is named
in_ns n1 dig +time=3 +tries=1 @169.254.96.16 example.org >/dev/null
expect dns-upstream 10.200.0.99:53 "DNS upstream 10.200.0.99:53 did not answer"

# a service with no ready endpoint
{ svc empty 10.96.1.20 80 TCP 9376; } > "$E2E_DIR/registry/empty.yaml"
expect no-ready-endpoint default/empty "service default/empty (10.96.1.20) has no ready endpoint"
# ... and one whose only endpoint is not ready (a pod failing its readiness probe)
{
	svc unready 10.96.1.21 80 TCP 9376
	printf -- '---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: unready, namespace: default}\n'
	printf 'subsets:\n- notReadyAddresses:\n  - {ip: 10.201.1.11, nodeName: edge-1}\n'
	printf '  ports:\n  - {name: p, port: 9376, protocol: TCP}\n'
} > "$E2E_DIR/registry/unready.yaml"
expect no-ready-endpoint default/unready "service default/unready (10.96.1.21) has no ready endpoint"

# proxyd's rules displaced by someone else
in_ns n1 nft delete table ip edgemesh
expect rules-displaced proxyd "displaced or deleted 1 times" 25

# a daemon down
e2e_kill 1 dnsd
expect daemon-down dnsd "dnsd is down: .*disconnected"

# a peer with another PSK: cloud-1 (also the relay) restarts with another PSK
e2e_kill 3 tunneld
e2e_psk "$E2E_DIR/psk3" 'not the cluster PSK'
e2e_daemon 3 tunneld --psk-file "$E2E_DIR/psk3"
expect psk-mismatch cloud-1 "peer cloud-1 presents another PSK: fingerprint [0-9a-f]*.*, ours [0-9a-f]*" 30

# the relay unreachable: cloud-1's tunneld gone
e2e_kill 3 tunneld
expect relay-unreachable cloud-1 "relay cloud-1 is unreachable" 30
OUT=$(CFG="$E2E_DIR/n1/ws.yaml" doctor 2>&1)
ok "transport ws: the relay's fix names its WebSocket port, not TCP 20006" bash -c '
	grep -A1 "FAULT relay-unreachable" <<<"$0" | grep -q "fix: this node dials over WebSocket (transport ws): serve a wsPort on cloud-1" &&
	! grep -q "on TCP 20006" <<<"$0"' "$OUT"

# relayNodes left at EdgeMesh's placeholders (a doctor-only copy of the config)
sed 's|^    relayNodes:|    relayNodes:\n    - nodeName: <your relay node name1>\n      advertiseAddress: [1.1.1.1]|' \
	"$C1" > "$E2E_DIR/n1/placeholder.yaml"
OUT=$(CFG="$E2E_DIR/n1/placeholder.yaml" doctor 2>&1)
ok "relay placeholders named (node name and example address)" bash -c '
	grep -q "FAULT relay-placeholder: relayNodes\[0\] is EdgeMesh.s example placeholder \"<your relay node name1>\"" <<<"$0" &&
	grep -q "advertises 1.1.1.1, EdgeMesh.s example address" <<<"$0"' "$OUT"

# edgecore's clusterDNS
printf 'modules:\n  edged:\n    tailoredKubeletConfig:\n      clusterDNS: [10.96.0.10]\n' > "$E2E_DIR/edgecore.yaml"
OUT=$(doctor --edgecore "$E2E_DIR/edgecore.yaml" 2>&1)
ok "edgecore's clusterDNS not pointing at us is named" \
	grep -q "FAULT edgecore-clusterdns: edgecore's clusterDNS is \"10.96.0.10\", not this node's DNS address 169.254.96.16" <<<"$OUT"
printf 'modules:\n  edged:\n    tailoredKubeletConfig:\n      clusterDNS: [169.254.96.16]\n' > "$E2E_DIR/edgecore.yaml"
OUT=$(doctor --edgecore "$E2E_DIR/edgecore.yaml" 2>&1)
ok "edgecore's clusterDNS set right: not a fault" bash -c '! grep -q edgecore-clusterdns <<<"$0"' "$OUT"

R=$(doctor -o json 2>&1)
ok "-o json lists the faults with kind, subject, what and fix" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["ok"] is False and len(d["faults"]) >= 5, d
kinds = {f["kind"] for f in d["faults"]}
assert {"no-ready-endpoint", "rules-displaced", "daemon-down", "relay-unreachable"} <= kinds, kinds
assert all(set(f) == {"kind", "subject", "what", "fix"} for f in d["faults"]), d' "$R"

# the Kubernetes source: Istio CRDs not served, then the API down
T="$E2E_DIR/kube"
mkdir -p "$T"
python3 tests/fakeapi/fakeapi.py --port-file "$T/port" --unserved destinationrules,gateways,virtualservices \
	>"$T/fake.log" 2>&1 & E2E_PIDS="$E2E_PIDS $!"
wait_for 10 test -s "$T/port" || fail "fake API up"
mkdir -p "$T/run" "$T/state"
chmod 755 "$T" "$T/run"
# metricConfig.address set: its health endpoints there (a free port of the host)
MP=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'kubeAPIConfig:\n  master: http://127.0.0.1:%s\ncommonConfig:\n  nodeName: edge-1\n  runtimeDir: %s/run\n  stateDir: %s/state\n' \
	"$(cat "$T/port")" "$T" "$T" > "$T/cfg.yaml"
printf 'modules:\n  edgeTunnel:\n    metricConfig:\n      enable: true\n      address: 127.0.0.1\n      port: %s\n' "$MP" >> "$T/cfg.yaml"
# the API refuses everything until the controller has started: live, not ready
fake() { curl -s -X POST "http://127.0.0.1:$(cat "$T/port")/_fake/$1" >/dev/null; }
fake down
"$B/edgemesh-controller" -c "$T/cfg.yaml" -d >"$T/ctl.log" 2>&1 & E2E_PIDS="$E2E_PIDS $!"
kdoctor() { "$B/edgemeshctl" -c "$T/cfg.yaml" doctor 2>&1; }
knames() { kdoctor | grep -q "FAULT $1: .*$2"; }
kh() { "$B/edgemeshctl" -c "$T/cfg.yaml" health "$@"; }
ok "API down from the start: health --live controller exits 0" wait_for 10 kh --live controller
OUT=$(kh controller); rc=$?
ok "... health controller (ready) exits 1: the registry has not synced ($OUT)" \
	bash -c "[ $rc -eq 1 ] && grep -q '^controller: not ready, state starting; the registry has not synced yet' <<<'$OUT'"
ok "... doctor names the API unreachable" wait_for 10 knames registry "the registry kubernetes-api is unreachable"
code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$MP$1"; }
codes() { [ "$(code /healthz)/$(code /readyz)" = "$1" ]; }
ok "... on metricConfig.address (bound within a second): /healthz 200, /readyz 503" wait_for 5 codes 200/503
ok "... /readyz says why ($(curl -s -m 2 "http://127.0.0.1:$MP/readyz"))" \
	sh -c "curl -s -m 2 http://127.0.0.1:$MP/readyz | grep -q 'the registry has not synced yet'"
fake up
ok "the API back: health controller exits 0" wait_for 20 kh controller
ok "... and /readyz 200" codes 200/200
ok "doctor names the missing Istio CRDs" wait_for 20 knames istio-crds "the Istio CRDs are not installed"
fake down
fake drop
ok "doctor names the API unreachable once synced" wait_for 30 knames registry "the registry kubernetes-api is unreachable: http://127.0.0.1"
e2e_done
