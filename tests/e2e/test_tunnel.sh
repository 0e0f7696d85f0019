#!/bin/bash
# tunneld end to end: three nodes (edge-1, edge-2, cloud-1) with a pod each,
# the real controller (file registry tests/fixtures/tunnel) and tunneld on
# every node; tests/tools/tunopen plays proxyd's part on edge-1.
#   B=build bash tests/e2e/test_tunnel.sh      (TUN_QUICK=1 skips the 1 GiB run)
. "$(dirname "$0")/lib.sh"
e2e_init tunnel
e2e_topology 3
e2e_registry tests/fixtures/tunnel
# an Endpoints object that points a service at edge-2's loopback (anyone who
# may write Endpoints could publish one): the far end must not follow it
cat > "$E2E_DIR/registry/loopback-endpoints.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: tun-lo, namespace: default}
spec:
  clusterIP: 10.96.1.11
  ports: [{name: lo, port: 7005, protocol: TCP, targetPort: 7005}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: tun-lo, namespace: default}
subsets:
- addresses: [{ip: 127.0.0.1, nodeName: edge-2}, {ip: 169.254.96.16, nodeName: edge-2}]
  ports: [{name: lo, port: 7005, protocol: TCP}]
YAML

H="$E2E_DIR/tunhelp.py"
cat > "$H" <<'PY'
import asyncio, os, socket, sys, time

def echo_server(port):
    async def handle(r, w):
        try:
            while True:
                d = await r.read(65536)
                if not d:
                    break
                w.write(d)
                await w.drain()
        except Exception:
            pass
        w.close()
    async def main():
        srv = await asyncio.start_server(handle, '0.0.0.0', port, backlog=4096)
        await srv.serve_forever()
    asyncio.run(main())

def source_server(port):
    async def handle(r, w):
        chunk = b'x' * 65536
        try:
            while True:
                w.write(chunk)
                await w.drain()
        except Exception:
            pass
        w.close()
    async def main():
        srv = await asyncio.start_server(handle, '0.0.0.0', port)
        await srv.serve_forever()
    asyncio.run(main())

def udp_echo(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', port))
    while True:
        d, a = s.recvfrom(65535)
        s.sendto(d, a)

def many(port, n):
    async def one(i, gate, held):
        r, w = await asyncio.open_connection('127.0.0.1', port)
        msg = b'stream %d\n' % i
        w.write(msg)
        await w.drain()
        got = await r.readexactly(len(msg))
        assert got == msg, (got, msg)
        held.append(1)
        await gate.wait()           # all open at once
        w.close()
        return 1
    async def main():
        gate = asyncio.Event()
        held = []
        tasks = [asyncio.create_task(one(i, gate, held)) for i in range(n)]
        t0 = time.time()
        while len(held) < n and time.time() - t0 < 60:
            if any(t.done() and t.exception() is not None for t in tasks):
                break
            await asyncio.sleep(0.05)
        print('concurrent', len(held))
        gate.set()
        res = await asyncio.gather(*tasks, return_exceptions=True)
        ok = sum(1 for x in res if x == 1)
        print('ok', ok)
        return ok
    ok = asyncio.run(asyncio.wait_for(main(), 90))
    sys.exit(0 if ok == n else 1)

def stall(src_port, echo_port):
    a = socket.create_connection(('127.0.0.1', src_port))   # never read: window fills
    time.sleep(3)
    b = socket.create_connection(('127.0.0.1', echo_port))
    b.settimeout(10)
    t0 = time.time()
    b.sendall(b'ping\n')
    got = b''
    while len(got) < 5:
        d = b.recv(100)
        if not d:
            break
        got += d
    dt = time.time() - t0
    print('interactive echo %r after %.3fs next to a stalled stream' % (got, dt))
    a.settimeout(10)
    alive = len(a.recv(65536)) > 0
    print('stalled stream still delivers:', alive)
    sys.exit(0 if got == b'ping\n' and alive else 1)

def udp_client(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(('127.0.0.1', port))
    s.settimeout(0.3)
    for i in range(30):             # the flow's first datagram opens it
        s.send(b'hello')
        try:
            if s.recv(65535) == b'hello':
                break
        except socket.timeout:
            pass
    else:
        print('no UDP echo'); sys.exit(1)
    s.settimeout(3)
    while True:                     # drain duplicate hellos
        try:
            s.settimeout(0.3)
            if s.recv(65535) != b'hello': break
        except socket.timeout:
            break
    s.settimeout(3)
    sizes = [1, 100, 1400, 8000, 30000, 1, 512]
    for n in sizes:
        m = os.urandom(n)
        s.send(m)
        if s.recv(65535) != m:
            print('datagram of', n, 'bytes came back wrong'); sys.exit(1)
    print('udp datagrams echoed with boundaries:', len(sizes))

cmd = sys.argv[1]
if cmd == 'echo-server': echo_server(int(sys.argv[2]))
elif cmd == 'source-server': source_server(int(sys.argv[2]))
elif cmd == 'udp-echo': udp_echo(int(sys.argv[2]))
elif cmd == 'many': many(int(sys.argv[2]), int(sys.argv[3]))
elif cmd == 'stall': stall(int(sys.argv[2]), int(sys.argv[3]))
elif cmd == 'udp-client': udp_client(int(sys.argv[2]))
PY

. tests/e2e/tunnel_lib.sh

e2e_psk "$E2E_DIR/psk3" 'a different PSK'
for i in 1 2 3; do
	e2e_config "$i" >/dev/null <<CFG
    allowedNodePorts: [22, 2222]
CFG
	e2e_daemon "$i" controller
done
sleep 0.5
start_tunneld 1
start_tunneld 2
start_tunneld 3 --psk-file "$E2E_DIR/psk3"

bg p2 python3 "$H" echo-server 7000
bg p2 python3 "$H" source-server 7003
bg p2 python3 "$H" udp-echo 7002
bg p1 python3 "$H" echo-server 7000
bg p3 python3 "$H" echo-server 7000
bg p2 socat -u TCP-LISTEN:7001,reuseaddr,fork SYSTEM:'sha256sum > /dev/stderr'
for p in 7000 7001 7002 7003; do wait_for 10 listening p2 $p; done
wait_for 10 listening p1 7000; wait_for 10 listening p3 7000

# --- keys and files: started as root with README's PSK recipe (the file
# owned by edgemesh-tunneld, mode 600), tunneld runs as edgemesh-tunneld and
# makes the node key for that user
ok "tunneld runs as edgemesh-tunneld" test "$(awk '/^Uid/{print $2}' \
	"/proc/$(cat "$E2E_DIR/n1/tunneld.pid")/status")" = "$(id -u edgemesh-tunneld)"
ok "static key created 0600 in stateDir, owned by edgemesh-tunneld ($(stat -c '%a %U' "$E2E_DIR/n1/state/tunnel.key"))" \
	test "$(stat -c '%a %U' "$E2E_DIR/n1/state/tunnel.key")" = "600 edgemesh-tunneld"
chmod 644 "$E2E_DIR/psk"
in_ns n1 "$B/edgemesh-tunneld" -c "$E2E_DIR/n1/edgemesh.yaml" \
	--psk-file "$E2E_DIR/psk" >"$E2E_DIR/badpsk.log" 2>&1
ok "a group/world-readable PSK file is refused with the fix" grep -q "chmod 600" "$E2E_DIR/badpsk.log"
chmod 600 "$E2E_DIR/psk"

# --- one TCP stream to a pod on another node
tunopen 1 edge-2 10.201.2.10 7000 9000 -v
# the first stream also waits for the session to come up: retry, bounded
ok "TCP echo through the tunnel to a pod on edge-2" wait_for 30 echo_once 1 9000 "hello tunnel"
peers_up() { e2e_ctl 1 peers | grep edge-2 | grep -q 'up .*direct'; }
ok "edgemeshctl peers shows edge-2 up, direct" peers_up
e2e_ctl 1 peers

# --- the allowlist on the far end
tunopen 1 edge-2 10.201.2.10 7999 9010
echo x | in_ns n1 timeout 5 socat -t 2 - TCP:127.0.0.1:9010 >/dev/null 2>&1
wait_for 5 grep -q "failed" "$E2E_DIR/tunopen-1-9010.log"
ok "a port that is no service endpoint is refused, reason in TUN_RESULT" \
	grep -q "not a ready endpoint port" "$E2E_DIR/tunopen-1-9010.log"
ok "... and logged on the far end" log_has 2 "refused: TCP 10.201.2.10:7999"
tunopen 1 edge-2 10.201.2.11 7000 9011
echo x | in_ns n1 timeout 5 socat -t 2 - TCP:127.0.0.1:9011 >/dev/null 2>&1
wait_for 5 grep -q "failed" "$E2E_DIR/tunopen-1-9011.log"
ok "a not-ready endpoint is refused" grep -q "refused" "$E2E_DIR/tunopen-1-9011.log"
tunopen 1 edge-2 10.200.0.12 23 9012
echo x | in_ns n1 timeout 5 socat -t 2 - TCP:127.0.0.1:9012 >/dev/null 2>&1
wait_for 5 grep -q "failed" "$E2E_DIR/tunopen-1-9012.log"
ok "a node port outside allowedNodePorts is refused" \
	grep -q "not in modules.edgeTunnel.allowedNodePorts" "$E2E_DIR/tunopen-1-9012.log"
bg n2 socat TCP-LISTEN:2222,reuseaddr,fork EXEC:cat
sleep 0.2
tunopen 1 edge-2 10.200.0.12 2222 9013
ok "a node port in allowedNodePorts is reached" echo_once 1 9013 "node port"

# --- each daemon opens only what its job needs (the near end's wall, by uid)
cp "$B/tunopen" "$E2E_DIR/tunopen" # its path must be open to the daemons' users
tunopen_as() {	# user lport ip port
	in_ns n1 setpriv --reuid="$1" --regid="$1" --clear-groups "$E2E_DIR/tunopen" \
		-r "$E2E_DIR/n1/run" -n edge-2 -t "$3" -p "$4" -l "127.0.0.1:$2" \
		>>"$E2E_DIR/tunopen-1-$2.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
	wait_for 20 grep -q listening "$E2E_DIR/tunopen-1-$2.log"
}
refused_near() {	# lport reason
	echo x | in_ns n1 timeout 5 socat -t 2 - "TCP:127.0.0.1:$1" >/dev/null 2>&1
	wait_for 5 grep -q "failed" "$E2E_DIR/tunopen-1-$1.log" &&
		grep -q -- "$2" "$E2E_DIR/tunopen-1-$1.log" && log_has 1 "refused: .*$2"
}
tunopen_as edgemesh-socksd 9040 10.201.2.10 7000
ok "socksd may not open a service endpoint (refused near, logged with its name)" \
	refused_near 9040 "edgemesh-socksd) may open only node addresses on allowedNodePorts: that is a service endpoint"
tunopen_as edgemesh-socksd 9041 10.200.0.12 2222
ok "socksd opens a node port in allowedNodePorts" echo_once 1 9041 "socks node port"
tunopen_as edgemesh-proxyd 9042 10.200.0.12 2222
ok "proxyd may not open a node port" \
	refused_near 9042 "edgemesh-proxyd) may open only service endpoints: that is a node port"
tunopen_as edgemesh-proxyd 9043 10.201.2.10 7000
ok "proxyd opens a service endpoint" echo_once 1 9043 "proxyd endpoint"
tunopen_as edgemesh-gatewayd 9044 10.201.2.10 7999
ok "gatewayd may not open what is no service endpoint" \
	refused_near 9044 "edgemesh-gatewayd) may open only service endpoints: TCP 10.201.2.10:7999 is not a ready endpoint port"
tunopen_as edgemesh-gatewayd 9045 10.201.2.10 7000
ok "gatewayd may not open an endpoint of a Service no gateway route sends to" \
	refused_near 9045 "edgemesh-gatewayd) may open only the destinations of its routes: 10.201.2.10:7000 on edge-2 is an endpoint of no Service a gateway route sends to"
cat > "$E2E_DIR/registry/gw-route.yaml" <<'YAML'
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  servers:
    - hosts: ['*']
      port: {name: tcp-0, number: 23400, protocol: TCP}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: gw-vs, namespace: default}
spec:
  gateways: [gw]
  hosts: ['*']
  tcp:
    - route:
      - destination: {host: tun-echo.default.svc.cluster.local, port: {number: 7000}}
YAML
wait_for 10 log_has 1 "add gateways default/gw"
tunopen_as edgemesh-gatewayd 9046 10.201.2.10 7000
ok "... and opens it once a route sends there" echo_once 1 9046 "gatewayd route"
rm -f "$E2E_DIR/registry/gw-route.yaml"

# --- never the far node's loopback, link-local or unadvertised addresses:
# services bound there are the node's alone (sshd on 127.0.0.1:22 here)
bg n2 socat TCP-LISTEN:22,bind=127.0.0.1,reuseaddr,fork SYSTEM:'echo loopback-only'
bg n2 socat TCP-LISTEN:7005,bind=127.0.0.1,reuseaddr,fork SYSTEM:'echo loopback-only'
in_ns n2 ip addr add 169.254.96.16/32 dev lo
bg n2 socat TCP-LISTEN:7005,bind=169.254.96.16,reuseaddr,fork SYSTEM:'echo loopback-only'
wait_for 10 listening n2 22; wait_for 10 listening n2 7005
refused_far() {	# lport ip port reason-regex : the open fails, reason back and logged
	local lport=$1 ip=$2 port=$3 re=$4 out
	tunopen 1 edge-2 "$ip" "$port" "$lport"
	out=$(echo x | in_ns n1 timeout 5 socat -t 2 - "TCP:127.0.0.1:$lport" 2>/dev/null)
	wait_for 5 grep -q "failed" "$E2E_DIR/tunopen-1-$lport.log"
	[ "$out" != loopback-only ] &&
		grep -Eq "$re" "$E2E_DIR/tunopen-1-$lport.log" &&
		grep -Eq "refused: TCP $ip:$port .*$re" "$E2E_DIR/n2/tunneld.log"
}
ok "127.0.0.1:22 on the far node (an allowed node port) is refused, reason logged" \
	refused_far 9014 127.0.0.1 22 "is a loopback address"
ok "... also as an IPv4-mapped address (::ffff:127.0.0.1)" \
	refused_far 9015 ::ffff:127.0.0.1 22 "is a loopback address"
ok "... and 127.0.0.2, any loopback address" refused_far 9016 127.0.0.2 22 "is a loopback address"
ok "... and 0.0.0.0, which a connect takes for the node itself" \
	refused_far 9022 0.0.0.0 22 "is an unspecified address"
ok "a node address edge-2 does not advertise (its pod-side 10.201.2.1) is refused" \
	refused_far 9017 10.201.2.1 2222 "nor an address it advertises"
ok "an Endpoints object pointing at edge-2's loopback is not followed" \
	refused_far 9018 127.0.0.1 7005 "is a loopback address"
ok "... nor one pointing at its link-local 169.254.96.16" \
	refused_far 9019 169.254.96.16 7005 "is a link-local address"

# --- edge-2 out of local ports toward a pod: each closed stream leaves its
# port in TIME_WAIT on edge-2 (its tunneld sends the FIN first), so with two
# ports the third open fails.  The reason says what to do, at both ends;
# the same failure, repeated by every new connection, is logged once a
# second, with the count held back said on the next line.
PR=$(in_ns n2 sysctl -n net.ipv4.ip_local_port_range | tr -s '\t ' ' ')
in_ns n2 sysctl -qw net.ipv4.ip_local_port_range="40000 40001"
tunopen 1 edge-2 10.201.2.10 7000 9030
for i in $(seq 1 30); do echo x | in_ns n1 timeout 2 socat -t 1 - TCP:127.0.0.1:9030 >/dev/null 2>&1; done
sleep 1.2	# past the second: the next one is logged again, with the count
echo x | in_ns n1 timeout 2 socat -t 1 - TCP:127.0.0.1:9030 >/dev/null 2>&1
in_ns n2 sysctl -qw net.ipv4.ip_local_port_range="$PR"
NOPORT="refused: connect 10.201.2.10:7000: no local port free (TIME_WAIT from recent connections: widen net.ipv4.ip_local_port_range or set net.ipv4.tcp_tw_reuse=1)"
FAILS=$(grep -c "failed: .*no local port free" "$E2E_DIR/tunopen-1-9030.log")
LINES=$(grep -cF "$NOPORT" "$E2E_DIR/n2/tunneld.log")
echo "# out of ports: $FAILS opens failed, edge-2 logged $LINES lines"
ok "edge-2 out of local ports for a pod: the open fails with what to do, at the opener" \
	test "$FAILS" -ge 10
ok "... logged on edge-2, a few lines for $FAILS failures" test "$LINES" -ge 1 -a "$LINES" -lt "$FAILS"
held_said() { grep -F "$NOPORT; " "$E2E_DIR/n2/tunneld.log" | grep -q "; [0-9]* more like it held back\"$"; }
ok "... the next line after a second says how many were held back" held_said
noport_fault() { e2e_ctl 2 doctor | grep -q "FAULT out-of-ports: tunneld found no local port free to connect to 10.201.2.10:7000"; }
ok "... edgemeshctl doctor on edge-2 names it, with the fix" wait_for 10 noport_fault
ok "... and edge-2 has its ports back: new streams work" echo_once 1 9030 "ports back"

# --- UDP
tunopen 1 edge-2 10.201.2.10 7002 9002 -u
ok "UDP echo, one datagram per frame" in_ns n1 timeout 30 python3 "$H" udp-client 9002

# --- wrong PSK on cloud-1
tunopen 1 cloud-1 10.201.3.10 7000 9003
echo x | in_ns n1 timeout 8 socat -t 4 - TCP:127.0.0.1:9003 >/dev/null 2>&1
wait_for 5 grep -q "failed" "$E2E_DIR/tunopen-1-9003.log"
ok "wrong PSK: the open fails with a reason" grep -q "PSK mismatch" "$E2E_DIR/tunopen-1-9003.log"
ok "wrong PSK: one fingerprint line on edge-1" \
	test "$(grep -c 'PSK mismatch with cloud-1 at 10.200.0.13: ours [0-9a-f]*' "$E2E_DIR/n1/tunneld.log")" = 1
ok "wrong PSK: one fingerprint line on cloud-1" \
	test "$(grep -c 'PSK mismatch with edge-1 at 10.200.0.11: ours [0-9a-f]*' "$E2E_DIR/n3/tunneld.log")" = 1
grep -h "PSK mismatch" "$E2E_DIR"/n[13]/tunneld.log
e2e_kill 3 tunneld
start_tunneld 3
ok "after the PSK is fixed cloud-1 is reached (reconnect)" \
	wait_for 30 echo_once 1 9003 "psk fixed"

# --- a stalled reader next to an interactive stream
tunopen 1 edge-2 10.201.2.10 7003 9004
ok "interactive echo completes next to a stalled bulk stream" \
	in_ns n1 timeout 30 python3 "$H" stall 9004 9000

# --- 1000 concurrent streams, fd counts back to baseline
sleep 1
base1=$(fds 1); base2=$(fds 2)
ok "1000 concurrent streams" in_ns n1 timeout 120 python3 "$H" many 9000 1000
back() { [ "$(fds 1)" -le "$base1" ] && [ "$(fds 2)" -le "$base2" ]; }
ok "fd counts back to baseline ($base1, $base2)" wait_for 20 back
echo "fds now: $(fds 1) $(fds 2)"

# --- 1 GiB with matching sha256 (client -> pod, FIN, sum back)
tunopen 1 edge-2 10.201.2.10 7001 9001
if [ -z "${TUN_QUICK:-}" ]; then SIZE=1073741824; else SIZE=67108864; fi
t0=$(date +%s.%N)
ok "$SIZE bytes through the tunnel, sha256 matches" \
	bulk_sha $SIZE 9001 "head -c $SIZE /dev/zero | openssl enc -aes-128-ctr -pass pass:x -nosalt -pbkdf2 2>/dev/null"
t1=$(date +%s.%N)
echo "bulk: $SIZE bytes and the sum check in $(echo "$t1 - $t0" | bc) s"

# --- idle past a keepalive tick, the session's write buffer goes back to its
# first size (tun_session.c wbuf_shrink); the next bulk grows it again
shrunk() { grep -q "session with edge-2: write buffer back from" "$E2E_DIR/n1/tunneld.log"; }
ok "an idle session gives its grown write buffer back" wait_for 12 shrunk
ok "... and 64 MiB through it after that, sha256 matches" bulk_sha 67108864 9001

# --- kill -9 and recovery, both sides; edgemeshctl status follows the
# session at once (tunneld reports health on the change, not at its 2 s tick)
sessions1() { e2e_ctl 1 status 2>/dev/null | grep -o 'sessions=[0-9]*' | head -n1 | cut -d= -f2; }
n0=$(sessions1)	# edge-2's and cloud-1's, in the report of 2 s ago at most
e2e_kill 2 tunneld KILL
sleep 0.5
ok "edge-1's status shows the session gone within 0.5 s ($n0 -> $(sessions1))" \
	test "$(sessions1)" = $((n0 - 1))
start_tunneld 2
peer_up() { e2e_ctl 1 peers 2>/dev/null | grep -q '^edge-2 .* up '; }
wait_for 30 peer_up
sleep 0.3
ok "... and back within 0.3 s of peers showing it up ($(sessions1))" test "$(sessions1)" = "$n0"
ok "edge-2 tunneld killed and restarted: new streams work" wait_for 30 echo_once 1 9000 "after kill 2"
e2e_kill 1 tunneld KILL
start_tunneld 1
tunopen 1 edge-2 10.201.2.10 7000 9020
ok "edge-1 tunneld killed and restarted: new streams work" wait_for 30 echo_once 1 9020 "after kill 1"

# --- tunneld up before its controller (a slow controller, a unit started
# first): after 2 s it serves tunnel.sock with what it has, and the opens
# work once the controller comes
e2e_kill 1 controller
e2e_kill 1 tunneld KILL
start_tunneld 1
ok "tunneld without its controller serves with what it has after 2 s" \
	wait_for 10 log_has 1 "not synced with the controller after 2 s"
e2e_daemon 1 controller
tunopen 1 edge-2 10.201.2.10 7000 9022
ok "... and, the controller back, new streams work" wait_for 30 echo_once 1 9022 "late controller"

# --- both sides open at once: one session survives, both directions work
e2e_kill 1 tunneld KILL; e2e_kill 2 tunneld KILL
start_tunneld 1; start_tunneld 2
tunopen 1 edge-2 10.201.2.10 7000 9021
tunopen 2 edge-1 10.201.1.10 7000 9031
echo_once 1 9021 "a->b" & p1=$!
echo_once 2 9031 "b->a" & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
ok "simultaneous opens from both ends both work" test $r1 = 0 -a $r2 = 0
peers1() { e2e_ctl 1 peers 2>/dev/null | grep -c '^edge-2 .* up '; }
ok "... over one session per node pair" test "$(peers1)" = 1
ok "new streams still work after the duplicate was resolved" echo_once 1 9021 "again"
grep -h "two sessions\|duplicate" "$E2E_DIR"/n[12]/tunneld.log

e2e_done
