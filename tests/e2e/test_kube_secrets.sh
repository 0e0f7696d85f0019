#!/bin/bash
# Gateway TLS Secrets from the Kubernetes API (tests/fakeapi/fakeapi.py):
# the controller fetches only the Secrets that a Gateway server's
# tls.credentialName names, in the Gateway's namespace, one list+watch
# each (fieldSelector=metadata.name=...), and stops when no Gateway names
# them any more.  The fake API's request log shows what was fetched.
#
#   Gateway default/gw -> credentialName gw-a: default/gw-a listed, watched,
#     its material in the published gateway (a change re-publishes it)
#   unreferenced default/unref and other/gw-a: never requested
#   second Gateway naming gw-a: still one watch; deleting one keeps it
#   deleting the last Gateway: the watch stops, the Secret leaves the state
#   gateway disabled (the agent): no Secret requested at all
. tests/e2e/lib.sh	# ok, wait_for (no namespaces: no e2e_init)
T=$(mktemp -d /tmp/edgemesh-ksec.XXXXXX)
# the controller runs as its own user, as README starts it: it reads what is here
[ "$(id -u)" -eq 0 ] && { scripts/add-users.sh; chmod 755 "$T"; }
FAKE_PID=""
CTL_PID=""

cleanup() {
	[ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null
	[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null
	wait 2>/dev/null
	if [ "$E2E_FAIL" -eq 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "logs kept in $T"; fi
}
trap cleanup EXIT INT TERM


[ -x "$B/edgemesh-controller" ] || { echo "test_kube_secrets: $B/edgemesh-controller missing"; exit 1; }

python3 tests/fakeapi/fakeapi.py --port-file "$T/port" --request-log "$T/requests" \
	--bookmark-interval 0.5 >"$T/fake.log" 2>&1 &
FAKE_PID=$!
wait_for 10 test -s "$T/port" || { echo "fake API did not start"; cat "$T/fake.log"; exit 1; }
P=$(cat "$T/port")
API=http://127.0.0.1:$P

fake() { curl -sf -X POST "$API/_fake/$1" -d "${2:-{\}}" >/dev/null; }
put() { fake put "{\"object\":$1}"; }
secret() {	# ns name crt-base64
	printf '{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/tls","metadata":{"namespace":"%s","name":"%s"},"data":{"tls.crt":"%s","tls.key":"S0VZ"}}' "$@"
}
gateway() {	# ns name credentialName
	printf '{"apiVersion":"networking.istio.io/v1alpha3","kind":"Gateway","metadata":{"namespace":"%s","name":"%s"},"spec":{"selector":{"kubeedge":"edgemesh-gateway"},"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["*"],"tls":{"mode":"SIMPLE","credentialName":"%s"}}]}}' "$@"
}
del_gw() { fake delete "{\"apiVersion\":\"networking.istio.io/v1alpha3\",\"kind\":\"Gateway\",\"namespace\":\"$1\",\"name\":\"$2\"}"; }
log_has() { grep -q -- "$1" "$T/ctl.log"; }
req_has() { grep -q -- "$1" "$T/requests"; }
nreq() { grep -c -- "$1" "$T/requests"; }
upserts() { grep -c "upsert gateways $1 " "$T/ctl.log"; }

put "$(secret default gw-a Q0VSVC1B)"
put "$(secret default unref Q0VSVC1C)"
put "$(secret other gw-a Q0VSVC1P)"
put '{"apiVersion":"v1","kind":"Node","metadata":{"name":"edge-1"},"status":{"addresses":[{"type":"InternalIP","address":"10.200.0.11"}]}}'

mkdir -p "$T/run" "$T/state"
cat > "$T/cfg.yaml" <<EOF
kubeAPIConfig:
  master: $API
commonConfig:
  nodeName: edge-1
  runtimeDir: $T/run
  stateDir: $T/state
modules:
  edgeGateway:
    enable: true
EOF
start_ctl() {	# cfg
	EDGEMESH_KUBE_WATCH_TIMEOUT=3 "$B/edgemesh-controller" -c "$1" -d >>"$T/ctl.log" 2>&1 &
	CTL_PID=$!
}
stop_ctl() { kill "$CTL_PID" 2>/dev/null; wait "$CTL_PID" 2>/dev/null; CTL_PID=""; }

# ---- no Gateway: no Secret ----
start_ctl "$T/cfg.yaml"
ok "synced" wait_for 15 log_has "kube: synced"
sleep 1
ok "no Gateway: no Secret requested" sh -c "! grep -q secrets '$T/requests'"

# ---- a Gateway naming gw-a ----
put "$(gateway default gw gw-a)"
ok "Gateway -> watch of its credentialName" \
	wait_for 10 log_has "kube: secret default/gw-a: named by a Gateway; watching it"
ok "listed by name in the Gateway's namespace" wait_for 10 \
	req_has "GET /api/v1/namespaces/default/secrets?limit=500&fieldSelector=metadata.name%3Dgw-a"
ok "and watched by name" wait_for 10 \
	req_has "GET /api/v1/namespaces/default/secrets?watch=1&.*fieldSelector=metadata.name%3Dgw-a"
ok "the Secret was listed (1 object)" wait_for 10 log_has "secret default/gw-a: listed 1 objects"
ok "gateway published, then re-published with the Secret's material" \
	wait_for 10 sh -c "[ \$(grep -c 'upsert gateways default/gw ' '$T/ctl.log') -ge 2 ]"
n=$(upserts default/gw)
put "$(secret default gw-a Q0VSVC1BMg==)"
ok "a change of the Secret re-publishes the gateway (its material is in it)" \
	wait_for 10 sh -c "[ \$(grep -c 'upsert gateways default/gw ' '$T/ctl.log') -gt $n ]"
n=$(upserts default/gw)
put "$(secret default unref Q0VSVC1CMg==)"
put "$(secret other gw-a Q0VSVC1PMg==)"
sleep 2
ok "changes of unreferenced Secrets publish nothing" test "$(upserts default/gw)" -eq "$n"
ok "the unreferenced Secret was never requested" sh -c "! grep -q 'unref' '$T/requests'"
ok "no cluster-wide Secret list or watch" sh -c "! grep -q 'GET /api/v1/secrets' '$T/requests'"
ok "no Secret of another namespace requested" sh -c "! grep -q 'namespaces/other' '$T/requests'"

# ---- a second Gateway naming the same Secret; then delete them ----
put "$(gateway default gw2 gw-a)"
sleep 1
ok "a second Gateway naming gw-a adds no watch" \
	test "$(grep -c 'secret default/gw-a: named by a Gateway' "$T/ctl.log")" -eq 1
del_gw default gw
sleep 1
ok "deleting one of two Gateways keeps the watch" sh -c "! grep -q 'secret default/gw-a: no Gateway' '$T/ctl.log'"
del_gw default gw2
ok "deleting the last Gateway stops the watch" \
	wait_for 10 log_has "kube: secret default/gw-a: no Gateway names it any more; watch stopped"
sleep 1
n=$(nreq 'namespaces/default/secrets')
sleep 8	# the other watches restart 2-3 times meanwhile (timeout 3-6 s)
ok "no Secret request after the watch stopped" test "$(nreq 'namespaces/default/secrets')" -eq "$n"
ok "the fixed watches kept going" test "$(nreq 'watch=1')" -gt 6
ok "no Secret in the disk cache" sh -c "! grep -q '\"kind\":\"Secret\"' '$T/state/controller/registry-cache.json'* 2>/dev/null"

# ---- a Gateway that is there at start (also from the disk cache) ----
put "$(gateway default gw3 gw-a)"
wait_for 10 log_has "secret default/gw-a: named by a Gateway" >/dev/null
sleep 3	# the cache is written 2 s after a change
stop_ctl
: > "$T/requests"
fake down
n0=$(grep -c 'secret default/gw-a: named by a Gateway' "$T/ctl.log")
start_ctl "$T/cfg.yaml"
ok "restart with the API down: the cached Gateway's Secret is asked for" \
	wait_for 10 sh -c "[ \$(grep -c 'secret default/gw-a: named by a Gateway' '$T/ctl.log') -gt $n0 ]"
fake up
ok "API back: the Secret is listed" wait_for 20 \
	req_has "namespaces/default/secrets?limit=500&fieldSelector=metadata.name%3Dgw-a"
stop_ctl

# ---- the agent (gateway disabled): never a Secret ----
: > "$T/requests"
sed -i 's/enable: true/enable: false/' "$T/cfg.yaml"
# count from here: an earlier run may have stopped before it synced
n0=$(grep -c 'kube: synced' "$T/ctl.log")
start_ctl "$T/cfg.yaml"
ok "gateway disabled: synced" wait_for 15 sh -c "[ \$(grep -c 'kube: synced' '$T/ctl.log') -gt $n0 ]"
sleep 1
ok "gateway disabled: no Secret requested though a Gateway names one" \
	sh -c "grep -q gateways '$T/requests' && ! grep -q secrets '$T/requests'"
stop_ctl

# ---- kubeAPIConfig.qps/burst: a token bucket on request starts ----
sed -i 's|^  master: .*|&\n  qps: 2\n  burst: 1|' "$T/cfg.yaml"
n0=$(grep -c 'kube: synced' "$T/ctl.log")
start_ctl "$T/cfg.yaml"
ok "qps 2, burst 1: synced" wait_for 20 sh -c "[ \$(grep -c 'kube: synced' '$T/ctl.log') -gt $n0 ]"
t=$(grep -o 'synced in [0-9.]*' "$T/ctl.log" | tail -1 | cut -d' ' -f3)
ok "qps 2, burst 1: 6 lists take >= 2.4 s (took ${t}s)" sh -c "echo '$t >= 2.4' | bc -l | grep -q 1"
stop_ctl

echo "test_kube_secrets: $E2E_PASS passed, $E2E_FAIL failed"
[ "$E2E_FAIL" -eq 0 ]
