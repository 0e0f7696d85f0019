#!/bin/bash
# Mixed cluster (issue 15): edge-1 runs our controller and tunneld with
# modules.edgeTunnel.edgemeshAgents: true; edge-2 runs KubeEdge's
# edgemesh-agent v1.17 ($EDGEMESH_AGENT names a built binary)
# on a fake Kubernetes API (tests/fakeapi/fakeapi.py in its namespace) with
# the same PSK file and edge-1 as its relay node; cloud-1 runs another
# agent with another PSK.  A pod on edge-2 calls a ClusterIP Service whose
# endpoint is a pod on edge-1: the agent proxies it over libp2p to our
# tunneld, which checks the endpoint against its allowlist and dials it.
#   EDGEMESH_AGENT=path B=build bash tests/e2e/test_interop.sh
# Without EDGEMESH_AGENT: "skipped: no EdgeMesh agent", exit 77.
[ -n "${EDGEMESH_AGENT:-}" ] && EDGEMESH_AGENT=$(readlink -f "$EDGEMESH_AGENT")
if [ -z "${EDGEMESH_AGENT:-}" ] || [ ! -x "$EDGEMESH_AGENT" ]; then
	echo "test_interop: skipped: no EdgeMesh agent (set EDGEMESH_AGENT to its binary)"
	exit 77
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sshd_lib.sh"
e2e_init interop
e2e_topology 3
mkdir -p "$E2E_DIR/registry"
cp tests/fixtures/tunnel/nodes.yaml "$E2E_DIR/registry/"
# what our controller reads: the echo Service only (not the "stray" one)
cat >"$E2E_DIR/registry/interop.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: interop-echo, namespace: default}
spec:
  clusterIP: 10.96.7.10
  ports: [{name: p, port: 7007, protocol: TCP, targetPort: 7007}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: interop-echo, namespace: default}
subsets:
- addresses: [{ip: 10.201.1.10, nodeName: edge-1}]
  ports: [{name: p, port: 7007, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: interop-udp, namespace: default}
spec:
  clusterIP: 10.96.7.12
  ports: [{name: u, port: 7009, protocol: UDP, targetPort: 7009}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: interop-udp, namespace: default}
subsets:
- addresses: [{ip: 10.201.1.10, nodeName: edge-1}]
  ports: [{name: u, port: 7009, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: interop-back, namespace: default}
spec:
  clusterIP: 10.96.7.20
  ports: [{name: p, port: 7010, protocol: TCP, targetPort: 7010}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: interop-back, namespace: default}
subsets:
- addresses: [{ip: 10.201.2.10, nodeName: edge-2}]
  ports: [{name: p, port: 7010, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: interop-udp-back, namespace: default}
spec:
  clusterIP: 10.96.7.21
  ports: [{name: u, port: 7011, protocol: UDP, targetPort: 7011}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: interop-udp-back, namespace: default}
subsets:
- addresses: [{ip: 10.201.2.10, nodeName: edge-2}]
  ports: [{name: u, port: 7011, protocol: UDP}]
YAML

H="$E2E_DIR/echo.py"
cat >"$H" <<'PY'
import socket, sys, threading
def serve(c):
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1])))
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
U="$E2E_DIR/udp.py"
cat >"$U" <<'PY'
import os, socket, sys
if sys.argv[1] == 'server':
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', int(sys.argv[2])))
    while True:
        d, a = s.recvfrom(65535)
        s.sendto(d, a)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[2], int(sys.argv[3])))
s.settimeout(1)
for i in range(20):                 # the first datagram opens the flow
    s.send(b'hello')
    try:
        if s.recv(65535) == b'hello':
            break
    except socket.timeout:
        pass
else:
    print('no UDP echo'); sys.exit(1)
while True:                         # drain late duplicates
    try:
        s.settimeout(0.5)
        if s.recv(65535) != b'hello':
            break
    except socket.timeout:
        break
s.settimeout(3)
sizes = [1, 100, 1400, 4000]
for n in sizes:
    m = os.urandom(n)
    s.send(m)
    if s.recv(65535) != m:
        print('datagram of', n, 'bytes came back wrong'); sys.exit(1)
print('udp datagrams echoed with boundaries:', len(sizes))
PY
M="$E2E_DIR/many.py"
cat >"$M" <<'PY'
import os, socket, sys, threading
host, port, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ok = []
def one():
    try:
        s = socket.create_connection((host, port), timeout=20)
        data = os.urandom(size)
        threading.Thread(target=s.sendall, args=(data,), daemon=True).start()
        got = b''
        while len(got) < size:
            d = s.recv(65536)
            if not d:
                break
            got += d
        ok.append(got == data)
    except OSError:
        ok.append(False)
ts = [threading.Thread(target=one) for _ in range(n)]
for t in ts: t.start()
for t in ts: t.join()
print(sum(ok), 'of', n, 'concurrent echoes intact')
sys.exit(0 if sum(ok) == n else 1)
PY
C="$E2E_DIR/client.py"
cat >"$C" <<'PY'
import hashlib, os, socket, sys, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=10)
data = os.urandom(n)
def send():
    s.sendall(data)
threading.Thread(target=send, daemon=True).start()
got = b''
while len(got) < n:
    d = s.recv(65536)
    if not d:
        break
    got += d
print(len(got), hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest())
sys.exit(0 if got == data else 1)
PY

# --- edge-1: ours
e2e_config 1 >/dev/null <<CFG
    edgemeshAgents: true
CFG
# a node has a default route: ClusterIPs must route for OUTPUT nat to see them
in_ns n1 ip route add default dev eth0
e2e_daemon 1 controller
sleep 0.5
rm -f "$E2E_DIR/n1/run/tunnel.sock"
e2e_daemon 1 tunneld
wait_for 10 test -S "$E2E_DIR/n1/run/tunnel.sock" || fail "our tunneld did not start"
e2e_daemon 1 proxyd
e2e_daemon 1 socksd
# sshd on both nodes (port 22: allowedNodePorts' default), the same keys
e2e_sshd n1 10.200.0.11
sed -e 's/^ListenAddress .*/ListenAddress 10.200.0.12/' -e "s|^PidFile .*|PidFile $K/sshd2.pid|" \
	"$K/sshd_config" >"$K/sshd2_config"
in_ns n2 /usr/sbin/sshd -D -e -f "$K/sshd2_config" 2>"$E2E_DIR/sshd2.log" &
E2E_PIDS="$E2E_PIDS $!"
in_ns p2 python3 "$H" 7010 >>"$E2E_DIR/bg.log" 2>&1 &
E2E_PIDS="$E2E_PIDS $!"
in_ns p2 python3 "$U" server 7011 >>"$E2E_DIR/bg.log" 2>&1 &
E2E_PIDS="$E2E_PIDS $!"
in_ns p1 python3 "$H" 7007 >>"$E2E_DIR/bg.log" 2>&1 &
E2E_PIDS="$E2E_PIDS $!"
in_ns p1 python3 "$H" 7008 >>"$E2E_DIR/bg.log" 2>&1 &
E2E_PIDS="$E2E_PIDS $!"
in_ns p1 python3 "$U" server 7009 >>"$E2E_DIR/bg.log" 2>&1 &
E2E_PIDS="$E2E_PIDS $!"

# --- edge-2 (our PSK) and cloud-1 (another PSK): EdgeMesh agents
objects() {
	python3 - <<'PY'
import json
objs = []
def svc(name, ip, port, ep, proto="TCP"):
    meta = {"namespace": "default", "name": name}
    objs.append({"apiVersion": "v1", "kind": "Service", "metadata": meta,
                 "spec": {"clusterIP": ip, "type": "ClusterIP", "ports": [
                     {"name": "p", "port": port, "protocol": proto, "targetPort": port}]}})
    objs.append({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta,
                 "subsets": [{"addresses": [{"ip": ep, "nodeName": "edge-1"}],
                              "ports": [{"name": "p", "port": port, "protocol": proto}]}]})
    objs.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                 "metadata": {"namespace": "default", "name": name + "-x",
                              "labels": {"kubernetes.io/service-name": name}},
                 "addressType": "IPv4",
                 "endpoints": [{"addresses": [ep], "nodeName": "edge-1",
                                "conditions": {"ready": True}}],
                 "ports": [{"name": "p", "port": port, "protocol": proto}]})
svc("interop-echo", "10.96.7.10", 7007, "10.201.1.10")
svc("interop-udp", "10.96.7.12", 7009, "10.201.1.10", "UDP")
# an endpoint our registry does not have: our allowlist must refuse it
svc("stray", "10.96.7.11", 7008, "10.201.1.11")
for i, n in ((1, "edge-1"), (2, "edge-2"), (3, "cloud-1")):
    objs.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n},
                 "status": {"addresses": [{"type": "InternalIP", "address": "10.200.0.1%d" % i}]}})
    # EdgeMesh's SOCKS5 resolves a node name through the agent pod on it (hostNetwork):
    # our DaemonSet keeps the name and labels, so this pod stands for ours on edge-1 too
    objs.append({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"namespace": "kubeedge", "name": "edgemesh-agent-%d" % i,
                              "labels": {"k8s-app": "kubeedge", "kubeedge": "edgemesh-agent"}},
                 "spec": {"nodeName": n, "hostNetwork": True},
                 "status": {"podIP": "10.200.0.1%d" % i, "hostIP": "10.200.0.1%d" % i}})
print(json.dumps({"objects": objs}))
PY
}
printf 'another PSK' >"$E2E_DIR/psk-other"
start_agent() {	# i node-name psk-file [relayNodes yaml [rendezvous]]
	local i=$1 d="$E2E_DIR/n$1" port
	e2e_fakeapi "$i" "$(objects)" || return 1
	port=$(cat "$d/api.port")
	cat >"$d/edgemesh-agent.yaml" <<Y
apiVersion: agent.edgemesh.config.kubeedge.io/v1alpha1
kind: EdgeMeshAgent
kubeAPIConfig:
  master: http://127.0.0.1:$port
  contentType: application/json
modules:
  edgeDNS: {enable: true}
  edgeProxy: {enable: true, socks5Proxy: {enable: true, listenPort: 10800}}
  edgeTunnel:
    enable: true
    listenPort: 20006
    transport: tcp
    psk: {enable: true, path: $3}
    relayNodes: ${4:-[{nodeName: edge-1, advertiseAddress: [10.200.0.11]\}]}
    rendezvous: ${5:-EDGEMESH_PLAYGOUND}
Y
	# from its node's directory: its DNS module writes a Corefile there
	(cd "$d" && exec ip netns exec "$(ns n$i)" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		NODE_NAME="$2" NAMESPACE=kubeedge "$EDGEMESH_AGENT" \
		--config-file "$d/edgemesh-agent.yaml") >>"$d/agent.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
	echo $! >"$d/agent.pid"
}
start_agent 2 edge-2 "$E2E_DIR/psk" || fail "EdgeMesh agent on edge-2 did not start"
start_agent 3 cloud-1 "$E2E_DIR/psk-other" || fail "EdgeMesh agent on cloud-1 did not start"

log_has() { grep -q -- "$2" "$E2E_DIR/n$1/tunneld.log"; }
echo_ok() {	# bytes
	in_ns p2 timeout 20 python3 "$C" 10.96.7.10 7007 "$1" >>"$E2E_DIR/client.log" 2>&1
}

ok "the agent on edge-2 is served: libp2p session up, named by node and peer ID" \
	wait_for 60 log_has 1 "EdgeMesh agent edge-2 (12D3KooW.* at 10.200.0.12:.*): libp2p session up"
agents_shown() { e2e_ctl 1 status 2>/dev/null | grep -q "tunneld.*edgemesh_agents=1"; }
ok "edgemeshctl status counts the agent's connection" wait_for 10 agents_shown
ok "a pod on edge-2 reaches a pod on edge-1 through a ClusterIP (agent -> our tunneld)" \
	wait_for 60 echo_ok 5
ok "1 MiB echoed intact both ways across the camps" echo_ok 1048576
# the other way: our proxyd hands the connection to tunneld, which opens a
# stream on the agent's connection (the agent dials the pod on its node)
back_ok() {	# bytes
	in_ns p1 timeout 20 python3 "$C" 10.96.7.20 7010 "$1" >>"$E2E_DIR/client.log" 2>&1
}
ok "a pod on edge-1 (ours) reaches a pod on edge-2 (EdgeMesh) through a ClusterIP" \
	wait_for 30 back_ok 5
ok "... 1 MiB intact both ways" back_ok 1048576
ok "... over the agent's libp2p connection" \
	log_has 1 "open for tcp 10.201.2.10:7010 on edge-2 through its EdgeMesh agent"
# ssh by node name across the camps: our socksd -> the agent's node, and the
# agent's SOCKS5 proxy -> our node (a node address on allowedNodePorts)
PROXY='ProxyCommand=nc -X 5 -x 169.254.96.16:10800 %h %p'
ssh_to() {	# from-node to-name -> its eth0 address
	in_ns "$1" timeout 30 $SSH -o "$PROXY" "root@$2" 'ip -4 -o addr show dev eth0' \
		2>>"$E2E_DIR/ssh.err"
}
wait_for 10 in_ns n1 sh -c "ss -lnt | grep -q 169.254.96.16:10800" || fail "socksd listening"
OUT=$(ssh_to n1 edge-2)
ok "ssh root@edge-2 from our node through our socksd lands on the EdgeMesh node" \
	grep -q "10.200.0.12/24" <<<"$OUT"
wait_for 30 in_ns n2 sh -c "ss -lnt | grep -q 169.254.96.16:10800" || fail "agent's SOCKS5 listening"
OUT=$(ssh_to n2 edge-1)
ok "ssh root@edge-1 from the EdgeMesh node through its SOCKS5 proxy lands on ours" \
	grep -q "10.200.0.11/24" <<<"$OUT"
udp_ok() { in_ns p2 timeout 30 python3 "$U" client 10.96.7.12 7009 >>"$E2E_DIR/client.log" 2>&1; }
ok "UDP through a ClusterIP across the camps, datagram boundaries kept" wait_for 40 udp_ok
udp_back_ok() { in_ns p1 timeout 30 python3 "$U" client 10.96.7.21 7011 >>"$E2E_DIR/client.log" 2>&1; }
ok "UDP the other way: a pod on edge-1 through a ClusterIP to a pod on edge-2" \
	wait_for 40 udp_back_ok
ok "50 concurrent 256 KiB echoes from the agent's side (streams, windows)" \
	in_ns p2 timeout 60 python3 "$M" 10.96.7.10 7007 50 262144
ok "50 concurrent 256 KiB echoes from our side" \
	in_ns p1 timeout 60 python3 "$M" 10.96.7.20 7010 50 262144
ten() { local i; for i in $(seq 10); do echo_ok 1000 || return 1; done; }
ok "10 connections in a row" ten

# an endpoint the agent knows but our registry does not: refused, named
stray() { in_ns p2 timeout 20 python3 "$C" 10.96.7.11 7008 5 >>"$E2E_DIR/client.log" 2>&1; }
ok "a pod on edge-2 gets no echo from an endpoint outside our allowlist" eval '! stray'
ok "... the CONNECT was refused and logged with the reason" \
	wait_for 20 log_has 1 "CONNECT tcp 10.201.1.11:7008 refused: TCP 10.201.1.11:7008 is neither a service endpoint"

ok "the agent with another PSK is logged as such" \
	wait_for 60 log_has 1 "10.200.0.13:.*not libp2p with our PSK: an EdgeMesh agent with another PSK?"

# hostile bytes on the libp2p path: pnet with our PSK, then garbage
HB="$E2E_DIR/hostile.py"
cat >"$HB" <<'PY'
import hashlib, base64, os, socket, sys
from ctypes import CDLL, c_char_p, c_ulonglong, create_string_buffer
sodium = CDLL("libsodium.so.23")
psk_file = open(sys.argv[1], 'rb').read()
key = base64.b64decode(hashlib.sha256(psk_file).hexdigest())[:32]
nonce = os.urandom(24)
def xs(data):
    out = create_string_buffer(len(data))
    sodium.crypto_stream_xsalsa20_xor(out, c_char_p(data), c_ulonglong(len(data)),
                                      c_char_p(nonce), c_char_p(key))
    return out.raw
s = socket.create_connection(('10.200.0.11', 20006), timeout=5)
s.sendall(nonce + xs(b'\x13/multistream/1.0.0\n' + b'\xff' * 40))
try:
    s.recv(100)
except OSError:
    pass
PY
in_ns n2 python3 "$HB" "$E2E_DIR/psk" >>"$E2E_DIR/client.log" 2>&1
ok "hostile bytes after a valid pnet start are named (multistream)" \
	wait_for 10 log_has 1 "EdgeMesh agent at 10.200.0.12:.*multistream"
ok "... and the daemon lives on: the ClusterIP still answers" echo_ok 100
ok "our tunneld never crashed" kill -0 "$(cat "$E2E_DIR/n1/tunneld.pid")"

# an agent that does not list us: our dial draws its pnet nonce, we learn
# that edge-2 speaks libp2p, and the waiting open goes through our libp2p dial
kill "$(cat "$E2E_DIR/n2/agent.pid")"; wait "$(cat "$E2E_DIR/n2/agent.pid")" 2>/dev/null
wait_for 10 log_has 1 "EdgeMesh agent edge-2 .*connection closed"
# (another rendezvous: our mDNS answers must not bring it to us first)
start_agent 2 edge-2 "$E2E_DIR/psk" "[]" OTHER_RENDEZVOUS ||
	fail "EdgeMesh agent on edge-2 did not restart"
wait_for 30 in_ns n2 sh -c "ss -lnt | grep -q ':20006 '"
ok "edge-2 not connected to us: a pod on edge-1 still reaches a pod on edge-2" \
	wait_for 40 back_ok 5
ok "... we learnt edge-2 speaks libp2p from its answer to our handshake" \
	log_has 1 "edge-2 at .* answered our handshake with a libp2p private-network nonce"
ok "... and dialled its agent (peer ID checked against the name)" \
	log_has 1 "EdgeMesh agent edge-2 (12D3KooW.* at 10.200.0.12:20006): libp2p session up (pnet, Noise XX, yamux, dialled by us)"
ok "... 1 MiB intact both ways over our dial" back_ok 1048576

# an agent with no relayNodes and the usual rendezvous finds us by mDNS
kill "$(cat "$E2E_DIR/n2/agent.pid")"; wait "$(cat "$E2E_DIR/n2/agent.pid")" 2>/dev/null
start_agent 2 edge-2 "$E2E_DIR/psk" "[]" || fail "EdgeMesh agent on edge-2 did not restart"
ok "an agent without relayNodes finds us by mDNS and tells its node name (discovery)" \
	wait_for 40 log_has 1 "EdgeMesh agent edge-2 .* says it is node edge-2 (discovery, MDNS)"
ok "... and a pod behind it reaches a pod on edge-1 through a ClusterIP" wait_for 30 echo_ok 5

# the key off (the default): agents with our PSK are refused, and say so
e2e_kill 1 tunneld
e2e_config 1 >/dev/null </dev/null
rm -f "$E2E_DIR/n1/run/tunnel.sock"
e2e_daemon 1 tunneld
wait_for 10 test -S "$E2E_DIR/n1/run/tunnel.sock" || fail "our tunneld did not restart"
# edge-2's agent with edge-1 as its relay again: it dials us at start
kill "$(cat "$E2E_DIR/n2/agent.pid")"; wait "$(cat "$E2E_DIR/n2/agent.pid")" 2>/dev/null
start_agent 2 edge-2 "$E2E_DIR/psk" || fail "EdgeMesh agent on edge-2 did not restart"
ok "edgemeshAgents off: the ClusterIP across the camps gets no echo" eval '! echo_ok 5'
ok "... the agent's connection is refused, naming the key" \
	wait_for 30 log_has 1 "10.200.0.12:.* is an EdgeMesh agent with our PSK: refused, modules.edgeTunnel.edgemeshAgents is false"
e2e_done
