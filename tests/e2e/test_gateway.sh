#!/bin/bash
# gatewayd end to end: the real controller (file registry), tunneld and
# gatewayd on edge-1, tunneld on edge-2; clients on edge-2's node namespace.
# HTTP routing by host and path to local and remote (tunneled) endpoints,
# 404/503 answers, keep-alive re-routing, HTTPS SIMPLE and MUTUAL with a
# throwaway CA, TLS passthrough to a pod's openssl s_server, a TCP route to
# an echo pod, load balancing by the destination's DestinationRule
# (ROUND_ROBIN, RANDOM, consistent hash on a header, a cookie, the source
# IP), bulk through the TCP relay, 101 upgrades over HTTP and HTTPS, a
# Gateway change that adds a listener under an open connection, garbage
# and a slow head on a listener.
. tests/e2e/lib.sh
e2e_init gateway
for t in curl openssl python3; do
	command -v $t >/dev/null || { echo "SKIP gateway: $t missing"; exit 77; }
done
e2e_topology 2
mkdir -p "$E2E_DIR/registry"
cp tests/fixtures/registry/nodes.yaml tests/fixtures/gateway/gateway.yaml tests/fixtures/gateway/lb.yaml \
	"$E2E_DIR/registry/"

# a throwaway CA, the gateway's certificate, a client certificate, the pod's own
C="$E2E_DIR/pki"
mkdir -p "$C"
(
	cd "$C" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=e2e-ca
	openssl req -newkey rsa:2048 -nodes -keyout gw.key -out gw.csr -subj /CN=gw.example.com
	printf 'subjectAltName=DNS:gw.example.com\n' > san.ext
	openssl x509 -req -in gw.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out gw.crt -days 1 -extfile san.ext
	openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=e2e-client
	openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout pod.key -out pod.crt -days 1 \
		-subj /CN=secure.example.com -addext subjectAltName=DNS:secure.example.com
) >"$C/log" 2>&1 || { cat "$C/log"; fail "openssl pki"; e2e_done; exit 1; }
python3 - "$C" "$E2E_DIR/registry/secrets.yaml" <<'PY'
import sys
d, out = sys.argv[1], sys.argv[2]
def ind(f):
    return "\n".join("    " + l for l in open(d + "/" + f).read().strip().split("\n"))
docs = []
for name, ca in (("gw-secret", False), ("gw-mtls", True)):
    s = ("apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: default}\n"
         "type: kubernetes.io/tls\nstringData:\n  tls.crt: |\n%s\n  tls.key: |\n%s\n"
         % (name, ind("gw.crt"), ind("gw.key")))
    if ca:
        s += "  ca.crt: |\n%s\n" % ind("ca.crt")
    docs.append(s)
open(out, "w").write("---\n".join(docs))
PY

e2e_config 1 >/dev/null <<'CFG'
  edgeGateway:
    enable: true
CFG
e2e_config 2 </dev/null >/dev/null
SH=tests/tools/serve_hostname.py
in_ns p1 python3 $SH --name pod-local --bind 10.201.1.30 --http 9376 & E2E_PIDS="$E2E_PIDS $!"
in_ns p1 python3 $SH --name pod-echo --bind 10.201.1.20 --echo 2701 & E2E_PIDS="$E2E_PIDS $!"
in_ns p1 python3 $SH --name pod-a --bind 10.201.1.10 --http 9376 & E2E_PIDS="$E2E_PIDS $!"
in_ns p1 python3 $SH --name pod-b --bind 10.201.1.12 --http 9376 & E2E_PIDS="$E2E_PIDS $!"
in_ns p1 python3 - <<'PY' & E2E_PIDS="$E2E_PIDS $!"
# upgrade-echo: answers any request head with 101, then echoes until EOF
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.201.1.10", 9001)); s.listen(16)
def serve(c):
    d = b""
    while b"\r\n\r\n" not in d:
        b = c.recv(4096)
        if not b: return c.close()
        d += b
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
    c.sendall(d.split(b"\r\n\r\n", 1)[1])
    while True:
        b = c.recv(65536)
        if not b: break
        c.sendall(b)
    c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
in_ns p2 python3 $SH --name pod-remote --bind 10.201.2.30 --http 9376 & E2E_PIDS="$E2E_PIDS $!"
in_ns p1 openssl s_server -quiet -accept 10.201.1.11:8443 -cert "$C/pod.crt" -key "$C/pod.key" \
	-www >/dev/null 2>&1 & E2E_PIDS="$E2E_PIDS $!"
for i in 1 2; do e2e_daemon $i controller; e2e_daemon $i tunneld; done
e2e_daemon 1 gatewayd

GW=10.200.0.11
get() {	# path [curl args] -> body, from edge-2's node namespace
	in_ns n2 curl -s -m 5 "${@:2}" "http://$GW:23333$1"
}
code() {	# url [curl args] -> status code
	in_ns n2 curl -s -o /dev/null -m 5 -w '%{http_code}' "${@:2}" "$1"
}
wait_for 20 in_ns n2 curl -sf -m 1 "http://$GW:23333/local" || fail "gateway answers on 23333"
# the remote routes dial edge-2's tunneld: under load it may not listen yet
# when the first request comes (a refused dial fails that request)
edge2_listens() { in_ns n2 ss -lnt | grep -q ':20006 '; }
wait_for 20 edge2_listens || fail "edge-2's tunneld listens on 20006"

# 1. HTTP routing
R=$(get /local); ok "prefix /local -> local endpoint ($R)" test "$R" = pod-local
R=$(get /remote/x); ok "prefix /remote, FQDN destination -> remote endpoint via tunnel ($R)" test "$R" = pod-remote
R=$(get /who/am/i -H 'Host: hostname.org'); ok "Host hostname.org /who -> remote ($R)" test "$R" = pod-remote
R=$(get /anything/at/all -H 'Host: all.example.com:23333'); ok "prefix / matches every path, Host with port ($R)" test "$R" = pod-remote
R=$(get /re/42); ok "regex /re/[0-9]+ (full match) -> local ($R)" test "$R" = pod-local
S=$(code "http://$GW:23333/re/42x"); ok "regex is anchored: /re/42x -> 404 ($S)" test "$S" = 404
S=$(code "http://$GW:23333/nothing-here"); ok "unknown path -> 404, not an empty reply ($S)" test "$S" = 404
R=$(get /nothing-here); ok "404 has a body ($R)" grep -q "no route" <<<"$R"
S=$(code "http://$GW:23333/empty"); ok "service without endpoints -> 503 ($S)" test "$S" = 503
S=$(code "http://$GW:23333/who" -H 'Host: hostname.org'); ok "Host-specific route ($S)" test "$S" = 200
R=$(in_ns n2 curl -s -m 5 -X POST --data-binary 'hello body' "http://$GW:23333/local")
ok "POST with a body passes (501 from the pod is fine, a reply comes back: $R)" test -n "$R"
R=$(in_ns n2 python3 - "$GW" <<'PY'
import http.client, sys
c = http.client.HTTPConnection(sys.argv[1], 23333, timeout=5)
out = []
for p in ("/local", "/remote", "/local", "/nothing"):
    c.request("GET", p); r = c.getresponse(); out.append("%d:%s" % (r.status, r.read().decode().strip()[:9]))
    if r.status == 404: break
print(" ".join(out))
PY
)
ok "keep-alive: each request routed on its own ($R)" test "$R" = "200:pod-local 200:pod-remot 200:pod-local 404:no route "
R=$(in_ns n2 python3 - "$GW" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], 23333), timeout=5)
s.sendall(b"GET /local HTTP/1.1\r\nHost: a\r\n\r\nGET /remote HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
d = b""
while True:
    b = s.recv(65536)
    if not b: break
    d += b
print(d.count(b"HTTP/1.1 200"), b"pod-local" in d, b"pod-remote" in d)
PY
)
ok "pipelined requests both answered ($R)" test "$R" = "2 True True"
# X-Forwarded-For is checked by the unit tests (the pod does not echo headers)

# 1b. load balancing: the DestinationRule of the destination service (lb.yaml)
LB=$(in_ns n2 python3 - "$GW" <<'PY'
import http.client, sys
gw = sys.argv[1]
def get(path, hdrs={}, conn=None):	# one request -> "a" (pod-a), "b" (pod-b) or "?"
    c = conn or http.client.HTTPConnection(gw, 23333, timeout=5)
    c.request("GET", path, headers=hdrs); r = c.getresponse(); b = r.read().decode().strip()
    if conn is None: c.close()
    return b[-1] if b in ("pod-a", "pod-b") else "?"
rr = "".join(get("/lb/rr") for _ in range(8))
rnd = "".join(get("/lb/random") for _ in range(24))
hdr = ["".join(get("/lb/hash", {"X-User": "user%d" % u}) for _ in range(3)) for u in range(8)]
ck = ["".join(get("/lb/cookie", {"Cookie": "theme=dark; user=user%d" % u}) for _ in range(3)) for u in range(8)]
src = "".join(get("/lb/srcip") for _ in range(6))
# one keep-alive connection, the users taking turns: each still reaches its own pod
c = http.client.HTTPConnection(gw, 23333, timeout=5)
ka = all(get("/lb/hash", {"X-User": "user%d" % (i % 8)}, c) == hdr[i % 8][0] for i in range(16))
print(rr, rnd, ",".join(hdr), ",".join(ck), src, ka)
PY
)
read -r RR RND HDR CK SRC KA <<<"$LB"
sticky() {	# "aaa,bbb,..." -> each group one pod, both pods used
	local g
	for g in ${1//,/ }; do [[ $g =~ ^(a+|b+)$ ]] || return 1; done
	[[ $1 == *a* && $1 == *b* ]]
}
ok "ROUND_ROBIN alternates ($RR)" bash -c "[[ $RR == abababab || $RR == babababa ]]"
ok "RANDOM: both pods, not in turns ($RND)" \
	bash -c "[[ $RND == *a* && $RND == *b* ]] && ! [[ $RND =~ ^(ab)+a?\$|^(ba)+b?\$ ]]"
ok "consistentHash httpHeaderName: one pod per X-User, both used ($HDR)" sticky "$HDR"
ok "consistentHash httpCookie: one pod per cookie, both used ($CK)" sticky "$CK"
ok "consistentHash useSourceIp: one pod for this client ($SRC)" bash -c "[[ $SRC =~ ^(a+|b+)\$ ]]"
ok "consistentHash on a keep-alive connection: each request to its user's pod ($KA)" test "$KA" = True

# 1c. 101 Switching Protocols: a raw pipe from there, bytes sent early included
upgrade() {	# port [tls] -> True when 1 MiB came back intact (and EOF after ours, plain)
	in_ns n2 python3 - "$GW" "$1" "${2:-}" "$C/ca.crt" <<'PY'
import socket, ssl, sys, os
gw, port, tls, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.create_connection((gw, port), timeout=10)
if tls:
    s = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname="gw.example.com")
s.sendall(b"GET /upgrade HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly")
d = b""
while b"\r\n\r\n" not in d:
    d += s.recv(4096)
head, got = d.split(b"\r\n\r\n", 1)
data = os.urandom(1 << 20)
s.sendall(data)
while len(got) < 5 + len(data):
    b = s.recv(65536)
    if not b: break
    got += b
ok = head.startswith(b"HTTP/1.1 101") and got == b"early" + data
if not tls:	# our EOF travels on, the pod's comes back
    s.shutdown(socket.SHUT_WR); ok = ok and s.recv(1) == b""
print(ok)
PY
}
R=$(upgrade 23333); ok "101 upgrade: early bytes and 1 MiB echoed through the relay, EOF both ways ($R)" test "$R" = True
R=$(upgrade 23334 tls); ok "101 upgrade over HTTPS: the relay reads and writes through TLS ($R)" test "$R" = True

# 2. TLS SIMPLE
RES="--resolve gw.example.com:23334:$GW --resolve gw.example.com:23335:$GW"
R=$(in_ns n2 curl -s -m 5 --cacert "$C/ca.crt" $RES https://gw.example.com:23334/local)
ok "HTTPS SIMPLE -> local ($R)" test "$R" = pod-local
R=$(in_ns n2 curl -s -m 5 --cacert "$C/ca.crt" $RES https://gw.example.com:23334/remote)
ok "HTTPS SIMPLE -> remote ($R)" test "$R" = pod-remote
S=$(code https://gw.example.com:23334/nope --cacert "$C/ca.crt" $RES)
ok "HTTPS 404 ($S)" test "$S" = 404
ok "TLS 1.1 refused (1.2 minimum)" bash -c "! ip netns exec $(ns n2) curl -s -m 5 --cacert $C/ca.crt $RES --tls-max 1.1 https://gw.example.com:23334/local"
# 3. MUTUAL
R=$(in_ns n2 curl -s -m 5 --cacert "$C/ca.crt" $RES --cert "$C/client.crt" --key "$C/client.key" https://gw.example.com:23335/local)
ok "MUTUAL with a client certificate ($R)" test "$R" = pod-local
ok "MUTUAL without a client certificate is refused" bash -c "! ip netns exec $(ns n2) curl -s -m 5 --cacert $C/ca.crt $RES https://gw.example.com:23335/local"
ok "MUTUAL with a certificate of another CA is refused" bash -c "! ip netns exec $(ns n2) curl -s -m 5 --cacert $C/ca.crt $RES --cert $C/pod.crt --key $C/pod.key https://gw.example.com:23335/local"
# 4. PASSTHROUGH: the pod's certificate, not the gateway's
R=$(in_ns n2 curl -s -m 5 --cacert "$C/pod.crt" --resolve "secure.example.com:23336:$GW" https://secure.example.com:23336/ | head -c 300)
ok "TLS passthrough reaches the pod's s_server with its own cert" grep -qi "s_server\|Ciphers" <<<"$R"
ok "TLS passthrough: unknown SNI is closed" bash -c "! ip netns exec $(ns n2) curl -s -m 5 -k --resolve other.example.com:23336:$GW https://other.example.com:23336/"

# 5. TCP
R=$(in_ns n2 python3 - "$GW" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], 23337), timeout=5)
f = s.makefile("rb")
b = f.readline().decode().strip(); s.sendall(b"ping\n"); e = f.readline().decode().strip()
print(b.endswith("pod-echo.") and e == "ping")
PY
)
ok "TCP route to the echo pod ($R)" test "$R" = True

R=$(in_ns n2 python3 - "$GW" <<'PY'
import socket, sys, threading, hashlib, os
s = socket.create_connection((sys.argv[1], 23337), timeout=20)
f = s.makefile("rb"); f.readline()
data = b"".join(os.urandom(32768).hex().encode() + b"\n" for _ in range(128))
def send():
    s.sendall(data); s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send); t.start()
got = f.read()	# to EOF: the echo pod saw ours and closed
t.join()
print(len(got) == len(data) and hashlib.sha256(got).digest() == hashlib.sha256(data).digest())
PY
)
ok "TCP route: 8 MiB echoed intact through the relay, half-close passed on ($R)" test "$R" = True

# 6. garbage and a slow head do not disturb anything
R=$(in_ns n2 python3 - "$GW" <<'PY'
import socket, sys, os
s = socket.create_connection((sys.argv[1], 23333), timeout=5)
s.sendall(b"\x16\x03\x01\x00\xff" + os.urandom(300) + b"\r\n\r\n")
print(s.recv(100).split(b"\r\n")[0].decode())
PY
)
ok "garbage -> 400 ($R)" test "$R" = "HTTP/1.1 400 Bad Request"
in_ns n2 python3 - "$GW" > "$E2E_DIR/slow.out" 2>&1 <<'PY' &
import socket, sys
s = socket.create_connection((sys.argv[1], 23333), timeout=20)
s.sendall(b"GET /local HTTP/1.1\r\nHost: a\r\n")
print(s.recv(100).split(b"\r\n")[0].decode())
PY
SLOW=$!
R=$(get /local); ok "served while a slow head waits ($R)" test "$R" = pod-local

# 7. a Gateway change adds a listener; an open connection on another stays
in_ns n2 python3 - "$GW" "$E2E_DIR/go" > "$E2E_DIR/hold.out" 2>&1 <<'PY' &
import socket, sys, os, time
s = socket.create_connection((sys.argv[1], 23337), timeout=30)
f = s.makefile("rb"); f.readline()
for _ in range(300):
    if os.path.exists(sys.argv[2]): break
    time.sleep(0.1)
s.sendall(b"still here\n"); print(f.readline().decode().strip())
PY
HOLD=$!
sleep 0.5
cat > "$E2E_DIR/registry/gateway2.yaml" <<'YAML'
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata: {name: edgemesh-gateway2, namespace: default}
spec:
  servers:
    - hosts: ['*']
      port: {name: http-0, number: 23338, protocol: HTTP}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: gw2-vs, namespace: default}
spec:
  gateways: [edgemesh-gateway2]
  hosts: ['*']
  http:
    - route:
      - destination: {host: hostname-local, port: {number: 12345}}
YAML
ok "new Gateway: listener 23338 serves" wait_for 15 in_ns n2 curl -sf -m 1 "http://$GW:23338/x"
touch "$E2E_DIR/go"
wait $HOLD
ok "open TCP connection survived the change ($(cat "$E2E_DIR/hold.out"))" test "$(cat "$E2E_DIR/hold.out")" = "still here"
ok "listeners were not restarted" bash -c "! grep -q 'closed listener' $E2E_DIR/n1/gatewayd.log"
rm -f "$E2E_DIR/registry/gateway2.yaml"
ok "Gateway deleted: listener 23338 closed" wait_for 15 bash -c "! ip netns exec $(ns n2) curl -s -m 1 http://$GW:23338/x"
ok "... and released by the controller too: nothing listens on 23338" \
	wait_for 10 bash -c "! ip netns exec $(ns n1) ss -ltn | grep -q ':23338 '"
R=$(get /local); ok "23333 unaffected ($R)" test "$R" = pod-local

wait $SLOW
ok "slow head -> 408 ($(cat "$E2E_DIR/slow.out"))" test "$(cat "$E2E_DIR/slow.out")" = "HTTP/1.1 408 Request Timeout"
# a port held by another program is skipped, not fatal
# (ip netns exec, not in_ns: $! is then python itself, which the test kills below)
ip netns exec "$(ns n1)" python3 -c 'import socket,time; s=socket.socket(); s.bind(("0.0.0.0",23339)); s.listen(); time.sleep(30)' & E2E_PIDS="$E2E_PIDS $!"
HOLD=$!
wait_for 5 bash -c "ip netns exec $(ns n1) ss -ltn | grep -q ':23339 '" || fail "port 23339 held"
sed 's/edgemesh-gateway2/edgemesh-gateway3/; s/23338/23339/; s/gw2-vs/gw3-vs/' > "$E2E_DIR/registry/gateway3.yaml" <<'YAML'
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata: {name: edgemesh-gateway2, namespace: default}
spec:
  servers:
    - hosts: ['*']
      port: {name: http-0, number: 23338, protocol: HTTP}
YAML
ok "busy port logged and skipped" wait_for 10 grep -q "23339: the port is held" "$E2E_DIR/n1/gatewayd.log"
ok "gatewayd still running" kill -0 "$(cat "$E2E_DIR/n1/gatewayd.pid")"
R=$(get /local); ok "still serving ($R)" test "$R" = pod-local
# ... and gatewayd is live but not ready while a listener is unbound
not_ready() { ! e2e_ctl 1 health gatewayd >/dev/null; }
ok "edgemeshctl health gatewayd: exit 1 while 23339 is unbound" wait_for 5 not_ready
OUT=$(e2e_ctl 1 health gatewayd)
ok "... it says which port ($OUT)" grep -q '^gatewayd: not ready, state degraded; cannot listen on 0.0.0.0:23339' <<<"$OUT"
ok "... health --live gatewayd: exit 0" e2e_ctl 1 health --live gatewayd
kill "$HOLD"
ok "the port released: gatewayd binds it at its next try and is ready (within 15 s)" wait_for 15 e2e_ctl 1 health gatewayd

# a gatewayd restart refuses no connection: its listeners wait in the controller
e2e_kill 1 gatewayd
in_ns n2 curl -s -m 20 "http://$GW:23333/local" > "$E2E_DIR/gwdown.out" 2>&1 &
C=$!
sleep 1
e2e_daemon 1 gatewayd
wait $C
ok "a request sent while gatewayd was down is served by the next one ($(cat "$E2E_DIR/gwdown.out"))" \
	test "$(cat "$E2E_DIR/gwdown.out")" = pod-local
ok "... on the listener taken back from the controller" \
	grep -q "took the listener 0.0.0.0:23333 back" "$E2E_DIR/n1/gatewayd.log"
e2e_done
