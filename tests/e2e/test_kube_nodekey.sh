#!/bin/bash
# Node key publishing with the Kubernetes API (tests/fakeapi/fakeapi.py): the
# controller learns its tunneld's public key (tunneld's METRICS) and PATCHes
# its own Node with the annotation edgemesh-c.io/tunnel-key, once; the
# annotation comes back as the peer's pinned key; without RBAC "patch" on
# nodes (403) the refusal is logged, named, and the controller serves on; a
# malformed key annotation drops that Node with an error naming it.
. tests/e2e/lib.sh	# ok, wait_for, e2e_psk (no namespaces)
. tests/e2e/pin_lib.sh
T=$(mktemp -d /tmp/edgemesh-kubekey.XXXXXX)
[ "$(id -u)" -eq 0 ] || { echo "SKIP test_kube_nodekey: needs root (daemon users)"; exit 77; }
scripts/add-users.sh; chmod 755 "$T"
E2E_NAME=kube_nodekey
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "$E2E_FAIL" -eq 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$T"; else
		echo "logs kept in $T"; tail -n 20 "$T"/*.log; fi
}
trap cleanup EXIT INT TERM
command -v openssl >/dev/null || { echo "SKIP test_kube_nodekey: openssl missing"; exit 77; }

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=fake-ca \
	-keyout "$T/ca.key" -out "$T/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
	-keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$T/ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
	-days 1 -extfile "$T/ext" -out "$T/srv.crt" 2>/dev/null
printf 'tok\n' > "$T/token"
chmod 644 "$T"/*.crt "$T/token"
mkdir -p "$T/run" "$T/state"
python3 tests/fakeapi/fakeapi.py --port-file "$T/port" --cert "$T/srv.crt" --key "$T/srv.key" \
	--token-file "$T/token" --request-log "$T/requests.log" >"$T/fake.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 10 test -s "$T/port" || { echo "fake API did not start"; exit 1; }
API=https://127.0.0.1:$(cat "$T/port")
fake() { curl -sf --cacert "$T/ca.crt" -X POST "$API/_fake/$1" -d "${2:-{\}}" >/dev/null; }
knode() {	# name ip [annotations-json]
	printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"%s","annotations":%s},"status":{"addresses":[{"type":"InternalIP","address":"%s"}]}}' "$1" "${3:-{\}}" "$2"
}
annotation() {	# node -> its tunnel-key annotation in the API ("" if none)
	curl -sf --cacert "$T/ca.crt" -H "Authorization: Bearer tok" "$API/api/v1/nodes" |
		python3 -c 'import json,sys; n={i["metadata"]["name"]: i for i in json.load(sys.stdin)["items"]}; print(n[sys.argv[1]]["metadata"].get("annotations", {}).get("edgemesh-c.io/tunnel-key", ""))' "$1"
}
fake put "{\"objects\":[$(knode edge-1 127.0.0.1),$(knode edge-2 127.0.0.2)]}"

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
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
e2e_psk "$T/psk"
cat > "$T/cfg.yaml" <<EOF
kubeAPIConfig:
  kubeConfig: $T/kubeconfig
commonConfig:
  nodeName: edge-1
  runtimeDir: $T/run
  stateDir: $T/state
modules:
  edgeTunnel:
    enable: true
    listenPort: $PORT
    psk:
      path: $T/psk
EOF
start() {	# daemon
	"$B/edgemesh-$1" -c "$T/cfg.yaml" -d >>"$T/$1.log" 2>&1 &
	PIDS="$PIDS $!"
	echo $! > "$T/$1.pid"
}
stop() { kill "$(cat "$T/$1.pid")" 2>/dev/null; wait "$(cat "$T/$1.pid")" 2>/dev/null; }

start controller
wait_for 10 test -S "$T/run/controller.sock" || fail "controller up"
start tunneld
wait_for 10 test -s "$T/state/tunnel.key" || fail "tunneld made its key"
K=$(pubkey "$T/state")
key_is() { [ "$(annotation "$1")" = "$2" ]; }
ok "the controller publishes its tunneld's key on its Node ($K)" wait_for 15 key_is edge-1 "$K"
ok "... logged" grep -q "kube: published tunnel key $K on Node edge-1" "$T/controller.log"
ok "... as a JSON merge patch of the annotation alone" \
	grep -qF "PATCH /api/v1/nodes/edge-1 {\"metadata\":{\"annotations\":{\"edgemesh-c.io/tunnel-key\":\"$K\"}}}" "$T/requests.log"
ok "... the other Node untouched" key_is edge-2 ""
sleep 3
ok "... once (not again at every report)" test "$(grep -c '^PATCH' "$T/requests.log")" -eq 1
ok "the annotation comes back as the peer's pinned key (a second upsert of edge-1)" \
	wait_for 10 sh -c "[ \$(grep -c 'upsert peers edge-1 ' '$T/controller.log') -ge 2 ]"

# no RBAC for it: a 403, named; the controller serves on
stop controller
fake rbac '{"patch_nodes": false}'
start controller
ok "without 'patch' on nodes: the 403 is logged with what the ClusterRole lacks" \
	wait_for 15 grep -q 'cannot publish the tunnel key on Node edge-1: forbidden (the ClusterRole needs .*patch.* on nodes' "$T/controller.log"
ok "... and the controller serves on" sh -c "'$B/edgemeshctl' -c '$T/cfg.yaml' status >/dev/null && kill -0 $(cat "$T/controller.pid")"

# a malformed key annotation: the Node is dropped, named
fake put "{\"object\":$(knode edge-2 127.0.0.2 '{"edgemesh-c.io/tunnel-key":"not-a-key"}')}"
ok "a malformed tunnel-key annotation: an error naming the Node and the field" \
	wait_for 10 grep -q 'edge-2.*tunnel-key.*not a tunnel key' "$T/controller.log"
ok "no daemon was killed by its sandbox" sh -c "! grep -h 'forbidden system call' '$T'/*.log"
e2e_done
