#!/bin/bash
# The Kubernetes API registry source against tests/fakeapi/fakeapi.py:
# the real edgemesh-controller, edgemeshctl as the subscriber, TLS with a
# throwaway CA, bearer tokens.  No network namespaces needed (127.0.0.1).
#
#   initial sync of 1200 services (3 pages of 500) + slices + nodes
#   add / change / delete -> deltas; no duplicate deltas on relist
#   410 as HTTP status and as in-stream ERROR -> relist with a correct delta
#   API down: the last state keeps serving; back: changes flow again
#   garbage in the stream, a stalled stream, token rotation, a wrong token
#   restart with the API down: served from stateDir/controller/registry-cache.json
#   EndpointSlices not served -> Endpoints; in-cluster and metaServer modes
. tests/e2e/lib.sh	# ok, wait_for (no namespaces: no e2e_init)
T=$(mktemp -d /tmp/edgemesh-kube.XXXXXX)
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


command -v openssl >/dev/null || { echo "SKIP test_kube: openssl missing"; exit 77; }
[ -x "$B/edgemesh-controller" ] || { echo "test_kube: $B/edgemesh-controller missing"; exit 1; }

# ---- a throwaway CA and a server certificate for 127.0.0.1 ----
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=fake-ca \
	-keyout "$T/ca.key" -out "$T/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
	-keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$T/ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
	-days 1 -extfile "$T/ext" -out "$T/srv.crt" 2>/dev/null

printf 'token-one\n' > "$T/server-token"	# what the API accepts
printf 'token-one\n' > "$T/token"		# what the controller sends
mkdir -p "$T/sa" "$T/run" "$T/state"
cp "$T/ca.crt" "$T/sa/ca.crt"

python3 tests/fakeapi/fakeapi.py --port-file "$T/port" --cert "$T/srv.crt" --key "$T/srv.key" \
	--token-file "$T/server-token" --bookmark-interval 0.5 >"$T/fake.log" 2>&1 &
FAKE_PID=$!
wait_for 10 test -s "$T/port" || { echo "fake API did not start"; cat "$T/fake.log"; exit 1; }
P=$(cat "$T/port")
API=https://127.0.0.1:$P

fake() {	# op [json]
	curl -sf --cacert "$T/ca.crt" -X POST "$API/_fake/$1" -d "${2:-{\}}" >/dev/null
}
stats() { curl -sf --cacert "$T/ca.crt" "$API/_fake/stats"; }

svc() {	# ns name ip port
	printf '{"apiVersion":"v1","kind":"Service","metadata":{"namespace":"%s","name":"%s"},"spec":{"clusterIP":"%s","ports":[{"name":"http","port":%s,"protocol":"TCP","targetPort":8080}]}}' "$@"
}
slice() {	# ns svc ip node
	printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"namespace":"%s","name":"%s-x1","labels":{"kubernetes.io/service-name":"%s"}},"addressType":"IPv4","endpoints":[{"addresses":["%s"],"nodeName":"%s","conditions":{"ready":true}}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]}' "$1" "$2" "$2" "$3" "$4"
}
node() {	# name ip
	printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"%s"},"status":{"addresses":[{"type":"InternalIP","address":"%s"}]}}' "$@"
}
put() { fake put "{\"object\":$1}"; }
del_svc() { fake delete "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"namespace\":\"$1\",\"name\":\"$2\"}"; }

# 1200 services in 3 pages, a slice for each of the first 100, 3 nodes
python3 - "$T/bulk.json" <<'EOF'
import json, sys
objs = []
for i in range(1200):
    objs.append({"apiVersion": "v1", "kind": "Service",
        "metadata": {"namespace": "bulk", "name": "s%d" % i},
        "spec": {"clusterIP": "10.96.%d.%d" % (i // 250, i % 250 + 1),
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
for i in range(100):
    objs.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"namespace": "bulk", "name": "s%d-a" % i,
                     "labels": {"kubernetes.io/service-name": "s%d" % i}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.201.1.%d" % (i + 1)], "nodeName": "edge-1",
                       "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
for i, n in enumerate(["edge-1", "edge-2", "cloud-1"]):
    objs.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.200.0.1%d" % (i + 1)}]}})
json.dump({"objects": objs}, open(sys.argv[1], "w"))
EOF
curl -sf --cacert "$T/ca.crt" -X POST "$API/_fake/put" --data-binary @"$T/bulk.json" >/dev/null
put "$(svc default web 10.96.100.10 80)"
put "$(slice default web 10.201.1.10 edge-1)"
put '{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/tls","metadata":{"namespace":"default","name":"gw-cert"},"data":{"tls.crt":"Q0VSVA==","tls.key":"S0VZ"}}'
put '{"apiVersion":"v1","kind":"Secret","type":"Opaque","metadata":{"namespace":"default","name":"other"},"data":{"x":"eA=="}}'

cat > "$T/kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: fake
contexts:
- name: fake
  context: {cluster: fake, user: ctl}
clusters:
- name: fake
  cluster:
    server: $API
    certificate-authority: ca.crt
users:
- name: ctl
  user:
    tokenFile: $T/token
EOF
cat > "$T/cfg.yaml" <<EOF
kubeAPIConfig:
  kubeConfig: $T/kubeconfig
commonConfig:
  nodeName: edge-1
  runtimeDir: $T/run
  stateDir: $T/state
modules:
  edgeGateway:
    enable: true
EOF

start_ctl() {	# cfg [env...]
	local cfg=$1; shift
	env "$@" EDGEMESH_KUBE_WATCH_TIMEOUT=3 "$B/edgemesh-controller" -c "$cfg" -d >>"$T/ctl.log" 2>&1 &
	CTL_PID=$!
}
stop_ctl() { kill "$CTL_PID" 2>/dev/null; wait "$CTL_PID" 2>/dev/null; CTL_PID=""; }
services() { "$B/edgemeshctl" -c "${CFG:-$T/cfg.yaml}" services 2>/dev/null; }
nsvc() { services | sed -n '1s/^\([0-9]*\) services.*/\1/p'; }
has_svc() { services | grep -q "^$1 "; }
no_svc() { services >/dev/null && ! services | grep -q "^$1 "; }
count_is() { [ "$(nsvc)" = "$1" ]; }
log_has() { grep -q -- "$1" "$T/ctl.log"; }

# ---- initial sync ----
start_ctl "$T/cfg.yaml"
ok "initial sync: 1201 services over TLS + token from a kubeconfig" wait_for 15 count_is 1201
ok "services were listed in pages (limit=500, continue)" \
	log_has "services: listed 1201 objects"
ok "endpoints joined from the EndpointSlice" \
	sh -c "'$B/edgemeshctl' -c '$T/cfg.yaml' services | grep -A1 '^default/web ' | grep -q '10.201.1.10 *node=edge-1'"
ok "istio CRDs listed (empty)" log_has "virtualservices: listed 0 objects"
ok "no Secret fetched while no Gateway names one (gateway enabled)" \
	sh -c "! grep -q 'kube: secret' '$T/ctl.log'"
ok "peers published from Node objects" log_has "upsert peers edge-2 "

# ---- add / change / delete ----
put "$(svc default api 10.96.100.11 8443)"
ok "ADDED reaches the subscriber" wait_for 10 has_svc default/api
put "$(svc default api 10.96.100.11 9443)"
ok "MODIFIED reaches the subscriber" wait_for 10 sh -c "'$B/edgemeshctl' -c '$T/cfg.yaml' services | grep '^default/api ' | grep -q 9443"
del_svc default api
ok "DELETED reaches the subscriber" wait_for 10 no_svc default/api
ok "one upsert delta per change (no duplicates)" \
	test "$(grep -c 'upsert services default/api ' "$T/ctl.log")" -eq 2

# ---- 410 as HTTP status: the watch's version expired while we were away ----
fake down
sleep 0.5
del_svc default web
put "$(svc default gone1 10.96.100.12 80)"
fake compact '{"mode":"status"}'
fake up
ok "410 (HTTP status) -> relist: the vanished service is deleted" wait_for 15 no_svc default/web
ok "410 (HTTP status) -> relist: the new service is added" wait_for 10 has_svc default/gone1
ok "relist logged the delta" log_has "services: listed 1201 objects (1 gone since the last list)"
n=$(grep -c 'upsert services bulk/s7 ' "$T/ctl.log")
ok "relist re-sent no unchanged object" test "$n" -eq 1

# ---- 410 as an in-stream ERROR ----
fake down; sleep 0.5
del_svc default gone1
put "$(svc default gone2 10.96.100.13 80)"
fake compact '{"mode":"event"}'
fake up
ok "410 (in-stream ERROR) -> relist with a correct delta" \
	wait_for 15 sh -c "'$B/edgemeshctl' -c '$T/cfg.yaml' services | grep -q '^default/gone2 ' && ! '$B/edgemeshctl' -c '$T/cfg.yaml' services | grep -q '^default/gone1 '"
ok "410 in the stream was seen" log_has "watch: 410 Gone"
put "$(svc default gone3 10.96.100.14 80)"
fake gone
ok "410 ERROR pushed into an open watch -> relist, changes keep flowing" wait_for 15 has_svc default/gone3

# ---- API down: the last state keeps serving ----
fake down
sleep 2
ok "API down: the last known state keeps serving" count_is 1202
put "$(svc default back 10.96.100.15 80)"
fake up
ok "API back: changes flow again" wait_for 20 has_svc default/back

# ---- garbage and stalls ----
fake garbage
sleep 0.3
put "$(svc default aftergarbage 10.96.100.16 80)"
ok "garbage in the stream: logged, watch resumes, nothing lost" wait_for 10 has_svc default/aftergarbage
ok "garbage logged" log_has "watch: invalid JSON"
fake stall
sleep 0.2
put "$(svc default afterstall 10.96.100.17 80)"
ok "stalled stream detected and restarted" wait_for 20 has_svc default/afterstall
ok "stall logged" log_has "watch stalled"

# ---- tokens ----
printf 'token-two\n' > "$T/server-token"
printf 'token-two\n' > "$T/token.new"; mv "$T/token.new" "$T/token"
fake drop
put "$(svc default rotated 10.96.100.18 80)"
ok "rotated token file is re-read" wait_for 15 has_svc default/rotated
ok "rotation logged" log_has "token in $T/token changed"
printf 'wrong\n' > "$T/token.new"; mv "$T/token.new" "$T/token"
fake drop
sleep 1.5
ok "wrong token: 401 logged, state kept" sh -c "grep -q '401 Unauthorized' '$T/ctl.log' && test \"\$('$B/edgemeshctl' -c '$T/cfg.yaml' services | head -1 | cut -d' ' -f1)\" -ge 1200"
printf 'token-two\n' > "$T/token.new"; mv "$T/token.new" "$T/token"
put "$(svc default fixed 10.96.100.19 80)"
ok "token fixed: recovers" wait_for 40 has_svc default/fixed

# ---- restart with the API down: served from the disk cache ----
sleep 3	# the cache is written at most every 10 s, 2 s after a change
wait_for 15 sh -c "grep -q '\"fixed\"' '$T/state/controller/registry-cache.json'"
ok "registry cache written" test -s "$T/state/controller/registry-cache.json"
ok "no secrets in the cache" sh -c "! grep -q '\"kind\":\"Secret\"' '$T/state/controller/registry-cache.json'"
stop_ctl
fake down
start_ctl "$T/cfg.yaml"
ok "restart with the API down: served from the cache" wait_for 10 has_svc default/fixed
del_svc default fixed
fake up
ok "API answers: the cache converges (deleted meanwhile -> gone)" wait_for 30 no_svc default/fixed
stop_ctl

# ---- EndpointSlices not served: v1 Endpoints ----
fake serve '{"resource":"endpointslices","on":false}'
fake serve '{"resource":"virtualservices","on":false}'
put '{"apiVersion":"v1","kind":"Endpoints","metadata":{"namespace":"default","name":"back"},"subsets":[{"addresses":[{"ip":"10.201.2.10","nodeName":"edge-2"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]}]}'
start_ctl "$T/cfg.yaml"
ok "no EndpointSlices (404): v1 Endpoints used" wait_for 15 sh -c "'$B/edgemeshctl' -c '$T/cfg.yaml' services | grep -A1 '^default/back ' | grep -q 10.201.2.10"
ok "a missing CRD (404) does not block the start" log_has "virtualservices not served (404"
stop_ctl
fake serve '{"resource":"endpointslices","on":true}'
fake serve '{"resource":"virtualservices","on":true}'

# ---- in-cluster service account ----
printf 'token-two\n' > "$T/sa/token"
mkdir -p "$T/run2" "$T/state2"
cat > "$T/cfg2.yaml" <<EOF
commonConfig:
  nodeName: edge-1
  runtimeDir: $T/run2
  stateDir: $T/state2
EOF
start_ctl "$T/cfg2.yaml" KUBERNETES_PORT=tcp://127.0.0.1:$P KUBERNETES_SERVICE_HOST=127.0.0.1 \
	KUBERNETES_SERVICE_PORT=$P EDGEMESH_KUBE_SA_DIR="$T/sa"
CFG=$T/cfg2.yaml
ok "in-cluster mode (KUBERNETES_PORT, SA token and CA)" wait_for 15 has_svc default/back
stop_ctl

# ---- edge: metaServer with requireAuthorization (https + SA token) ----
rm -rf "$T/state2"; mkdir -p "$T/state2"
cat > "$T/cfg2.yaml" <<EOF
kubeAPIConfig:
  metaServer:
    server: http://127.0.0.1:$P
    security:
      requireAuthorization: true
      tlsCaFile: $T/ca.crt
commonConfig:
  nodeName: edge-1
  runtimeDir: $T/run2
  stateDir: $T/state2
EOF
start_ctl "$T/cfg2.yaml" -u KUBERNETES_PORT EDGEMESH_KUBE_SA_DIR="$T/sa"
ok "edge mode: metaServer, requireAuthorization -> https + SA token" wait_for 15 has_svc default/back
ok "metaServer mode logged" log_has "registry from metaServer https://127.0.0.1:$P token"
stop_ctl
CFG=

echo "test_kube: $E2E_PASS passed, $E2E_FAIL failed"
[ "$E2E_FAIL" -eq 0 ]
