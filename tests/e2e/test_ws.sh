#!/bin/bash
# transport ws end to end: edge-1's firewall drops everything on its uplink
# but TCP to an HTTP proxy (tests/tools/connect_proxy.py) that allows only
# CONNECT to port 443; edge-2 serves the tunnel inside WebSocket on 443 (and
# TCP on 20006).  edge-1 has transport ws and the proxy in HTTPS_PROXY: a pod
# on edge-1 reaches a ClusterIP whose endpoint is a pod on edge-2, through
# proxyd, tunneld, the proxy, the WebSocket; edgemeshctl peers says ws.
# Then: listenInterfaces on edge-2's WebSocket port, a proxy that refuses and
# one that never answers (wsProxy), and the same without the proxy (NO_PROXY;
# firewall: only TCP 443 to edge-2), then a relay reached over WebSocket.
#   B=build bash tests/e2e/test_ws.sh
#
#   p1 10.201.1.10 -- n1 edge-1 10.200.0.11 --x firewall x--+
#                                      px proxy 10.200.0.50 -+-- lan br0
#   p2 10.201.2.10 -- n2 edge-2 10.200.0.12 ----------------+   (:443 ws, :20006 tcp)
. "$(dirname "$0")/lib.sh"
e2e_init ws
command -v iptables >/dev/null || { echo "SKIP ws: iptables missing"; exit 77; }
e2e_topology 3
# the proxy's namespace on the LAN
ip netns add "$(ns px)"
in_ns px ip link set lo up
ip link add "${E2E_PREFIX}ex" type veth peer name eth0 netns "$(ns px)"
ip link set "${E2E_PREFIX}ex" netns "$(ns lan)"
in_ns lan ip link set "${E2E_PREFIX}ex" master br0 up
in_ns px ip addr add 10.200.0.50/24 dev eth0
in_ns px ip link set eth0 up
for i in 1 2 3; do in_ns n$i ip route add default dev eth0; done

mkdir -p "$E2E_DIR/registry"
cat > "$E2E_DIR/registry/ws.yaml" <<'YAML'
apiVersion: v1
kind: Node
metadata: {name: edge-1}
status:
  addresses: [{type: InternalIP, address: 10.200.0.11}]
---
apiVersion: v1
kind: Node
metadata: {name: edge-2}
status:
  addresses: [{type: InternalIP, address: 10.200.0.12}]
---
apiVersion: v1
kind: Node
metadata: {name: cloud-1}
status:
  addresses: [{type: InternalIP, address: 10.200.0.13}]
---
apiVersion: v1
kind: Service
metadata: {name: far-web, namespace: default}
spec:
  clusterIP: 10.96.5.10
  ports: [{name: http, port: 80, protocol: TCP, targetPort: 9376}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: far-web, namespace: default}
subsets:
- addresses: [{ip: 10.201.2.10, nodeName: edge-2}]
  ports: [{name: http, port: 9376, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: far-sink, namespace: default}
spec:
  clusterIP: 10.96.5.12
  ports: [{name: sink, port: 7001, protocol: TCP, targetPort: 7001}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: far-sink, namespace: default}
subsets:
- addresses: [{ip: 10.201.2.10, nodeName: edge-2}]
  ports: [{name: sink, port: 7001, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: near-echo, namespace: default}
spec:
  clusterIP: 10.96.5.11
  ports: [{name: echo, port: 7000, protocol: TCP, targetPort: 7000}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: near-echo, namespace: default}
subsets:
- addresses: [{ip: 10.201.1.10, nodeName: edge-1}]
  ports: [{name: echo, port: 7000, protocol: TCP}]
YAML
. tests/e2e/tunnel_lib.sh
peer_is() {	# i node regex : edgemeshctl peers on node i
	e2e_ctl "$1" peers 2>/dev/null | grep "^$2 " | grep -q -- "$3"
}

# edge-1's firewall: on eth0 only TCP to the proxy (and what answers it).
# Replaced in one iptables-restore: flushing and adding rule by rule left a
# moment with no firewall, in which edge-2 could dial edge-1's (parked)
# tunnel port and leave a plain TCP session that later steps took over.
fw() {	# edge-1's uplink passes only established traffic and $@ (iptables args)
	in_ns n1 iptables-restore <<F
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -o eth0 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A OUTPUT -o eth0 -p tcp $* -j ACCEPT
-A OUTPUT -o eth0 -j DROP
-A INPUT -i eth0 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A INPUT -i eth0 -j DROP
-A FORWARD -o eth0 -j DROP
COMMIT
F
}
fw -d 10.200.0.50 --dport 3128

e2e_config 1 >/dev/null <<CFG
    transport: ws
CFG
e2e_config 2 >/dev/null <<CFG
    wsPort: 443
CFG
SRV=tests/e2e/proxy/servers.py
bg px python3 tests/tools/connect_proxy.py 10.200.0.50 3128 443
bg p2 python3 $SRV http 10.201.2.10 9376 "far-pod"
bg p1 socat TCP-LISTEN:7000,bind=10.201.1.10,reuseaddr,fork EXEC:cat
bg p2 socat -u TCP-LISTEN:7001,bind=10.201.2.10,reuseaddr,fork SYSTEM:'sha256sum > /dev/stderr'
wait_for 10 listening px 3128; wait_for 10 listening p2 9376
wait_for 10 listening p1 7000; wait_for 10 listening p2 7001

# -n says nothing about transport ws (served), and what quic is not
N=$(in_ns n1 "$B/edgemesh-tunneld" -c "$E2E_DIR/n1/edgemesh.yaml" -n 2>&1)
ok "-n with transport ws: configuration OK, no 'not acted on' line" \
	bash -c '[[ $0 == *"configuration OK"* && $0 != *"not acted on"* ]]' "$N"
sed 's/transport: ws/transport: quic/' "$E2E_DIR/n1/edgemesh.yaml" > "$E2E_DIR/quic.yaml"
N=$(in_ns n1 "$B/edgemesh-tunneld" -c "$E2E_DIR/quic.yaml" -n 2>&1)
ok "-n with transport quic: warned (not served)" grep -q "transport is accepted for EdgeMesh but not acted on: quic" <<<"$N"

# a port taken: tunneld exits naming the setting (TCP and WebSocket listeners
# are bound by the one net_listen_tcp)
taken() {	# port setting: edge-2's tunneld, with port held by socat, names it and exits
	ip netns exec "$(ns n2)" socat TCP-LISTEN:"$1",reuseaddr,fork EXEC:true & local h=$!
	wait_for 5 listening n2 "$1"
	in_ns n2 timeout 10 "$B/edgemesh-tunneld" -c "$E2E_DIR/n2/edgemesh.yaml" -d > "$E2E_DIR/taken.log" 2>&1
	local rc=$?
	kill "$h"; wait "$h" 2>/dev/null
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "modules.edgeTunnel.$2 $1: bind: Address already in use" "$E2E_DIR/taken.log"
}
ok "listenPort 20006 taken: tunneld names modules.edgeTunnel.listenPort and exits" taken 20006 listenPort
ok "wsPort 443 taken: tunneld names modules.edgeTunnel.wsPort and exits" taken 443 wsPort

# --- the topology: edge-1 reaches nothing but the proxy, which allows CONNECT to 443 only
ok "edge-1 cannot connect to edge-2's tunnel port" \
	bash -c "! ip netns exec $(ns n1) timeout 3 bash -c 'exec 3<>/dev/tcp/10.200.0.12/20006' 2>/dev/null"
ok "edge-1 cannot connect to edge-2's port 443 directly" \
	bash -c "! ip netns exec $(ns n1) timeout 3 bash -c 'exec 3<>/dev/tcp/10.200.0.12/443' 2>/dev/null"
ok "the proxy refuses CONNECT to port 20006" \
	bash -c "! ip netns exec $(ns n1) curl -s -m 3 -p -x http://10.200.0.50:3128 http://10.200.0.12:20006/ 2>/dev/null"
ok "... and says so in its log" grep -q "CONNECT 10.200.0.12:20006 403" "$E2E_DIR/bg.log"

for i in 1 2; do e2e_daemon $i controller; done
sleep 0.5
start_tunneld 2
HTTPS_PROXY=http://10.200.0.50:3128 start_tunneld 1
e2e_daemon 1 proxyd
ok "edge-1 dials over WebSocket through the proxy from HTTPS_PROXY" \
	log_has 1 "peers are dialed over WebSocket on port 443 through the HTTP proxy 10.200.0.50:3128"
ok "edge-2 serves WebSocket on 443" log_has 2 "WebSocket tunnel listener on port 443"
ok "edge-2 serves the tunnel on eth0 and lo, not cni0 (listenInterfaces *)" \
	bash -c "grep 'serving the tunnel on the addresses of' $E2E_DIR/n2/tunneld.log | grep -v cni0 | grep -q eth0"

# --- a ClusterIP request from a pod on edge-1 to a pod on edge-2
get() { in_ns "$1" curl -s -m 5 "$2"; }
far() { [ "$(get p1 http://10.96.5.10/)" = far-pod ]; }
ok "a pod on edge-1 reaches the ClusterIP of a pod on edge-2 (through the proxy, in WebSocket)" \
	wait_for 30 far
ok "edgemeshctl peers on edge-1: edge-2 up, path ws" peer_is 1 edge-2 '10.200.0.12:443 .* up .*ws'
ok "edgemeshctl peers on edge-2: edge-1 up, path ws" peer_is 2 edge-1 ' up .*ws'
e2e_ctl 1 peers
trace_path() {	# regex: edgemeshctl trace on edge-1 names far-web's tunnel path to edge-2 so
	e2e_ctl 1 trace default/far-web 2>/dev/null | grep -q "on node edge-2, tunnel path: $1"
}
ok "edgemeshctl trace on edge-1: tunnel path ws, as peers says" wait_for 10 trace_path 'ws (inside a WebSocket)'
ok "the proxy carried it: CONNECT 10.200.0.12:443 200" grep -q "CONNECT 10.200.0.12:443 200" "$E2E_DIR/bg.log"
ok "edge-1's session came up with edge-2 at its ws port" log_has 1 "session up with edge-2 at 10.200.0.12:443 (we dialed"
unreached() { log_has 1 "edge-2 reports it cannot reach our tunnel port: connect to 10.200.0.11:20006"; }
ok "edge-2 tells edge-1 it cannot dial edge-1's tunnel port (REACH over the ws session)" wait_for 10 unreached
ok "... ten requests in a row" bash -c 'for k in 1 2 3 4 5 6 7 8 9 10; do [ "$(ip netns exec '"$(ns p1)"' curl -s -m 5 http://10.96.5.10/)" = far-pod ] || exit 1; done'

# --- the other way on the same session: edge-2 opens to a pod on edge-1
tunopen 2 edge-1 10.201.1.10 7000 9000
ok "edge-2 reaches a pod on edge-1 over the WebSocket session edge-1 dialed" echo_once 2 9000 "hello ws"

# --- bulk: frames of every size, flow control across the framing
tunopen 1 edge-2 10.201.2.10 7001 9001
SIZE=16777216
: > "$E2E_DIR/bg.sum"
in_ns n1 timeout 60 bash -c "head -c $SIZE /dev/urandom | tee >(sha256sum > $E2E_DIR/local.sum) | socat -u - TCP:127.0.0.1:9001"
sumok() { grep -q ' -' "$E2E_DIR/bg.log" && [ "$(cut -d' ' -f1 "$E2E_DIR/local.sum")" = "$(grep ' -$' "$E2E_DIR/bg.log" | tail -1 | cut -d' ' -f1)" ]; }
ok "$SIZE bytes edge-1 -> edge-2 through proxy and WebSocket, sha256 matches" wait_for 20 sumok

# --- listenInterfaces: a connection to edge-2's cni0 address is not served
R=$(in_ns p2 curl -s -m 3 -i -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
	http://10.201.2.1:443/edgemesh/tunnel 2>&1)
ok "an upgrade to edge-2's cni0 address gets no answer (filtered, as EdgeMesh's cni prefix)" \
	bash -c '[[ $0 != *"101"* ]]' "$R"
ok "... edge-2 logs why" log_has 2 "connection to 10.201.2.1 refused: cni0 is not in listenInterfaces"
R=$(in_ns n2 curl -s -m 3 -i -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
	http://10.200.0.12:443/edgemesh/tunnel 2>&1)
ok "an upgrade to edge-2's eth0 address is answered 101 with the RFC's accept key" \
	bash -c '[[ $0 == *"101 Switching Protocols"* && $0 == *"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="* ]]' "$R"
R=$(in_ns n2 curl -s -m 3 -i http://10.200.0.12:443/ 2>&1)
ok "a plain GET on the ws port is answered 400" bash -c '[[ $0 == *"400 Bad Request"* ]]' "$R"
# bad frames after a good upgrade: the connection is closed with the reason, tunneld lives
cat > "$E2E_DIR/badws.py" <<'PY'
import os, random, socket, sys
def up():
    s = socket.create_connection(("10.200.0.12", 443), timeout=3)
    s.sendall(b"GET /edgemesh/tunnel HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    h = b""
    while b"\r\n\r\n" not in h:
        d = s.recv(4096)
        if not d:
            sys.exit("no 101")
        h += d
    assert h.startswith(b"HTTP/1.1 101"), h
    return s
def closed(s):
    try:
        while s.recv(4096):
            pass
        return True
    except socket.timeout:
        return False
    except OSError:
        return True
s = up(); s.sendall(b"\x82\x03abc")          # a client frame without a mask
assert closed(s), "unmasked frame: still open"
s = up(); s.sendall(b"\x81\x80abcd")         # a text frame
assert closed(s), "text frame: still open"
random.seed(7)
for i in range(30):                          # garbage after the upgrade
    s = up(); s.sendall(bytes(random.getrandbits(8) for _ in range(random.randrange(1, 300))))
    s.close()
print("badws done")
PY
base2=$(fds 2)
ok "bad frames after an upgrade: each connection closed (unmasked, text, garbage)" \
	bash -c "ip netns exec $(ns n2) python3 $E2E_DIR/badws.py | grep -q 'badws done'"
ok "... with the reason in edge-2's log" log_has 2 "client frame not masked"
ok "... and 'frame opcode 1'" log_has 2 "frame opcode 1 (only binary and control frames are used)"
ok "edge-2's WebSocket listener still serves: the session is up" peer_is 2 edge-1 ' up .*ws'
fds_back() { [ "$(fds 2)" -le "$base2" ]; }
ok "... and holds no fd more than before the 32 bad connections ($base2)" wait_for 10 fds_back
# 80 upgrades that never finish: at most 64 held (oldest dropped), all gone after 3 s
cat > "$E2E_DIR/slowws.py" <<'PY'
import socket, time
held = []
for i in range(80):
    s = socket.create_connection(("10.200.0.12", 443), timeout=3)
    s.sendall(b"GET /edgemesh/tunnel HTTP/1.1\r\nUpgrade: websocket\r\n")  # no end
    held.append(s)
time.sleep(1)
print("held", flush=True)
time.sleep(5)
PY
bg n2 python3 "$E2E_DIR/slowws.py"
wait_for 10 grep -q '^held' "$E2E_DIR/bg.log"
sleep 0.5
ok "80 unfinished upgrades: the oldest are dropped (table of 64)" log_has 2 "WebSocket upgrades: table full, dropping"
ok "... edge-2 holds at most 64 of them ($(fds 2) fds, base $base2)" test "$(fds 2)" -le $((base2 + 64 + 2))
ok "... all dropped within 3 s" wait_for 8 fds_back
ok "... and the ws session with edge-1 is still up" peer_is 2 edge-1 ' up .*ws'

# --- the proxy refuses: the reason reaches edgemeshctl peers
up2=$(fds 2)
e2e_kill 1 tunneld KILL # gone for good: a SIGTERM hands the session over (parked 10 s)
ws_gone() { [ "$(fds 2)" -le $((up2 - 3)) ]; }
ok "edge-1 gone: edge-2 closes the session and frees its 3 fds (socket, socketpair)" wait_for 20 ws_gone
pkill_proxy() { kill "$(in_ns px ss -lntp | grep ':3128 ' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)"; }
pkill_proxy
gone_3128() { ! listening px 3128; }
wait_for 10 gone_3128
bg px python3 tests/tools/connect_proxy.py 10.200.0.50 3128 8443
wait_for 10 listening px 3128
HTTPS_PROXY=http://10.200.0.50:3128 start_tunneld 1
tunopen 1 edge-2 10.201.2.10 9376 9002
in_ns n1 curl -s -m 5 http://127.0.0.1:9002/ >/dev/null
refused() { log_has 1 "ws: to 10.200.0.12:443 through proxy 10.200.0.50:3128: proxy refused CONNECT: 'HTTP/1.1 403 Forbidden'"; }
ok "a proxy that refuses CONNECT to 443: edge-1's log names the proxy and its answer" wait_for 15 refused
not() { ! "$@"; }
ok "... edgemeshctl peers: edge-2 not up" not peer_is 1 edge-2 ' up '
ok "... and the open fails with the proxy's answer" \
	wait_for 10 grep -q "proxy refused CONNECT: 'HTTP/1.1 403 Forbidden'" "$E2E_DIR/tunopen-1-9002.log"

# --- a proxy that never answers: bounded, and named
e2e_kill 1 tunneld
bg px socat TCP-LISTEN:3129,bind=10.200.0.50,reuseaddr,fork EXEC:'sleep 30'
wait_for 10 listening px 3129
fw -d 10.200.0.50 --dport 3128:3129
: > "$E2E_DIR/n1/tunneld.log"
cp "$E2E_DIR/n1/edgemesh.yaml" "$E2E_DIR/n1/plain.yaml"
printf '    wsProxy: http://10.200.0.50:3129\n' >> "$E2E_DIR/n1/edgemesh.yaml"
HTTPS_PROXY=http://10.200.0.50:3128 start_tunneld 1
ok "wsProxy wins over HTTPS_PROXY" log_has 1 "through the HTTP proxy 10.200.0.50:3129 (from modules.edgeTunnel.wsProxy)"
tunopen 1 edge-2 10.201.2.10 9376 9003
# an open asks for a dial; asked again while the log lacks the reason (an
# open that met tunneld still settling would never dial)
silent() {
	log_has 1 "ws: 10.200.0.12:443 through proxy 10.200.0.50:3129: no WebSocket within 3s (no answer from the proxy)" && return 0
	in_ns n1 curl -s -m 5 http://127.0.0.1:9003/ >/dev/null
	log_has 1 "ws: 10.200.0.12:443 through proxy 10.200.0.50:3129: no WebSocket within 3s (no answer from the proxy)"
}
ok "a proxy that never answers: given up after 3 s, the reason named" wait_for 20 silent

# --- direct WebSocket, no proxy: the firewall passes TCP 443 to edge-2 only;
# HTTPS_PROXY is set, NO_PROXY names edge-2's subnet (as curl reads it)
e2e_kill 1 tunneld
cp "$E2E_DIR/n1/plain.yaml" "$E2E_DIR/n1/edgemesh.yaml"
fw -d 10.200.0.12 --dport 443
ok "edge-1 still cannot reach edge-2's tunnel port 20006" \
	bash -c "! ip netns exec $(ns n1) timeout 3 bash -c 'exec 3<>/dev/tcp/10.200.0.12/20006' 2>/dev/null"
before=$(grep -c "CONNECT" "$E2E_DIR/bg.log")
HTTPS_PROXY=http://10.200.0.50:3128 NO_PROXY=localhost,10.200.0.0/24 start_tunneld 1
ok "NO_PROXY is read" log_has 1 "except to the addresses in NO_PROXY 'localhost,10.200.0.0/24'"
ok "direct: a pod on edge-1 reaches the ClusterIP again (WebSocket, no proxy)" wait_for 30 far
ok "direct: edgemeshctl peers on edge-1 says ws" wait_for 10 peer_is 1 edge-2 '10.200.0.12:443 .* up .*ws'
ok "direct: the proxy saw nothing" test "$(grep -c CONNECT "$E2E_DIR/bg.log")" = "$before"
ok "direct: edge-1 dialed edge-2 without the proxy" wait_for 5 bash -c "grep 'dialing edge-2 at 10.200.0.12:443 over WebSocket' $E2E_DIR/n1/tunneld.log | tail -1 | grep -qv 'through proxy'"
# the section's log is truncated by the next restart: show it now if it failed
[ "$E2E_FAIL" -eq 0 ] || grep -E 'edge-2|WebSocket|hand' "$E2E_DIR/n1/tunneld.log" | tail -n 30
ok "tunneld on edge-2 is alive" kill -0 "$(cat "$E2E_DIR/n2/tunneld.pid")"

# --- a relay reached over WebSocket: edge-2 now serves TCP only (no wsPort), so
# edge-1's ws dial to it fails at the proxy; cloud-1 (relayNodes, wsPort 443)
# splices a circuit inside edge-1's ws session to its TCP session with edge-2
# (kill -9: fresh starts with the new configs; a SIGTERM would hand the
# WebSocket session between them over to the next processes)
e2e_kill 1 tunneld KILL
e2e_kill 2 tunneld KILL
pkill_proxy
wait_for 10 gone_3128
bg px python3 tests/tools/connect_proxy.py 10.200.0.50 3128 443
wait_for 10 listening px 3128
fw -d 10.200.0.50 --dport 3128
RELAY="    relayNodes:
    - nodeName: cloud-1
      advertiseAddress: [10.200.0.13]"
printf '%s\n' "$RELAY" | e2e_config 2 >/dev/null
printf '    transport: ws\n%s\n' "$RELAY" | e2e_config 1 >/dev/null
printf '    wsPort: 443\n%s\n' "$RELAY" | e2e_config 3 >/dev/null
e2e_daemon 3 controller
sleep 0.5
start_tunneld 3
start_tunneld 2
HTTPS_PROXY=http://10.200.0.50:3128 start_tunneld 1
ok "relayed: a pod on edge-1 reaches the ClusterIP of edge-2's pod through cloud-1" wait_for 40 far
ok "relayed: peers on edge-1: cloud-1 up over ws" peer_is 1 cloud-1 '10.200.0.13:443 .* up .*ws'
ok "relayed: peers on edge-1: edge-2 up through the relay" peer_is 1 edge-2 ' up .*relay'
ok "relayed: trace on edge-1: tunnel path relayed via cloud-1" wait_for 10 trace_path 'relayed via cloud-1$'
e2e_ctl 1 peers
ok "relayed: edge-1's ws dial to edge-2 failed at the proxy (502)" grep -q "CONNECT 10.200.0.12:443 502" "$E2E_DIR/bg.log"
ok "relayed: cloud-1 splices the circuit" log_has 3 "circuit edge-1 -> edge-2: up"

e2e_done
