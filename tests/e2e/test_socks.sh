#!/bin/bash
# socksd end to end: ssh to a node by its name through the SOCKS5 proxy
# (EdgeMesh's documented ProxyCommand, with netcat-openbsd's -X 5), the
# stream crossing the tunnel; RFC 1928 refusals with the right reply codes;
# bad input dropped while the daemon lives on.
. tests/e2e/lib.sh
. tests/e2e/sshd_lib.sh
. tests/e2e/clients_lib.sh
e2e_init socks
e2e_topology 2
e2e_registry tests/fixtures/registry
for i in 1 2; do e2e_config $i </dev/null >/dev/null; done
# clients on edge-1 reach socksd on the bridge address (proxyd would add it)
in_ns n1 ip addr add 169.254.96.16/32 dev lo

# sshd on edge-2, port 22 (allowedNodePorts default), throwaway keys
e2e_sshd n2 10.200.0.12

for i in 1 2; do e2e_daemon $i controller; done
for i in 1 2; do
	wait_for 10 test -S "$E2E_DIR/n$i/run/controller.sock" || fail "controller $i up"
	e2e_daemon $i tunneld
done
e2e_daemon 1 socksd
wait_for 10 in_ns n1 sh -c "ss -lnt | grep -q 169.254.96.16:10800" || fail "socksd listening"
wait_for 10 sh -c "grep -q 'synced with the controller' '$E2E_DIR/n1/socksd.log'"

PROXY='ProxyCommand=nc -X 5 -x 169.254.96.16:10800 %h %p'
OUT=$(in_ns n1 timeout 30 $SSH -o "$PROXY" root@edge-2 'ip -4 -o addr show dev eth0' 2>"$E2E_DIR/ssh.err")
ok "ssh root@edge-2 through SOCKS5 lands on edge-2 ($(awk '{print $4}' <<<"$OUT"))" \
	grep -q "10.200.0.12/24" <<<"$OUT"
ok "... through the tunnel (edge-1's tunneld opened a stream to edge-2)" \
	grep -q "connected through the tunnel" "$E2E_DIR/n1/socksd.log"
# a second session, and data both ways: 1 MiB up, checksum back
head -c 1048576 /dev/urandom > "$E2E_DIR/blob"
SUM=$(sha256sum < "$E2E_DIR/blob" | cut -c1-64)
R=$(in_ns n1 timeout 30 $SSH -o "$PROXY" root@edge-2 'sha256sum | cut -c1-64' < "$E2E_DIR/blob" 2>>"$E2E_DIR/ssh.err")
ok "1 MiB through ssh over SOCKS5, checksum matches" test "$R" = "$SUM"
# EdgeMesh's documented form, with nmap's ncat (Debian's ncat package)
if command -v ncat >/dev/null; then
	OUT=$(in_ns n1 timeout 30 $SSH -o "ProxyCommand=ncat --proxy-type socks5 --proxy 169.254.96.16:10800 %h %p" \
		root@edge-2 'ip -4 -o addr show dev eth0' 2>>"$E2E_DIR/ssh.err")
	ok "EdgeMesh's ProxyCommand form (ncat --proxy-type socks5) lands on edge-2" \
		grep -q "10.200.0.12/24" <<<"$OUT"
else
	fail "ncat missing (scripts/deps.sh installs it)"
fi

# raw SOCKS5: the reply codes
socks() {	# python3 client: greeting, then CONNECT to host:port; prints the reply code
	socks_from n1 "$@"
}
socks_from() {	# ns host port
	local n=$1; shift
	in_ns "$n" timeout 15 python3 - "$@" <<'PY'
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection(("169.254.96.16", 10800), timeout=12)
try:
    s.sendall(b"\x05\x01\x00")
    g = s.recv(2)
except ConnectionResetError:
    g = b""
if g != b"\x05\x00":
    print("greeting refused" if g else "closed"); sys.exit(0)
if host.replace(".", "").isdigit():
    req = b"\x05\x01\x00\x01" + socket.inet_aton(host)
else:
    req = b"\x05\x01\x00\x03" + bytes([len(host)]) + host.encode()
s.sendall(req + struct.pack(">H", port))
r = s.recv(10)
print(r[1] if len(r) >= 2 else "closed")
PY
}
ok "unknown node name: host unreachable (4)" test "$(socks no-such-node 22)" = 4
ok "a port outside allowedNodePorts: not allowed (2)" test "$(socks edge-2 23)" = 2
ok "tunneld logged why, naming socksd" \
	grep -q "refused: socksd (uid [0-9]*, edgemesh-socksd) may open only node addresses on allowedNodePorts: port 23 of node edge-2 is not in" "$E2E_DIR/n1/tunneld.log"
ok "an address that is no node: not allowed (2)" test "$(socks 10.201.2.10 22)" = 2
ok "a node address works like its name (0)" test "$(socks 10.200.0.12 22)" = 0
ok "this node: not allowed (2)" test "$(socks edge-1 22)" = 2
R=$(in_ns n1 timeout 10 python3 -c '
import socket
s = socket.create_connection(("169.254.96.16", 10800), timeout=5)
s.sendall(b"\x05\x01\x02")
print(s.recv(2).hex())')
ok "no acceptable method: 05 ff ($R)" test "$R" = "05ff"
R=$(in_ns n1 timeout 10 python3 -c '
import socket
s = socket.create_connection(("169.254.96.16", 10800), timeout=5)
s.sendall(b"\x05\x01\x00"); s.recv(2)
s.sendall(b"\x05\x02\x00\x03\x06edge-2\x00\x16")
print(s.recv(10)[1])')
ok "BIND: command not supported (7)" test "$R" = 7
# only this node and its pods are clients (commonConfig.clientSourceRanges
# unset: loopback, edge-1's addresses, the subnets of its pod-side links)
ok "a pod on edge-1 is served (0)" test "$(socks_from p1 10.200.0.12 22)" = 0
# a host on the LAN that routes 169.254.96.16 through edge-1
lan_host lanh 10.200.0.50 10.200.0.11
ok "the LAN host reaches edge-1's 169.254.96.16 at all (TCP connect)" \
	in_ns lanh timeout 5 python3 -c 'import socket; socket.create_connection(("169.254.96.16", 10800), timeout=3)'
ok "a LAN host routing 169.254.96.16 through edge-1 is refused (closed, no greeting)" \
	test "$(socks_from lanh 10.200.0.12 22)" = closed
OUT=$(in_ns lanh timeout 20 $SSH -o "$PROXY" root@edge-2 'echo in' 2>>"$E2E_DIR/ssh.err")
ok "... and its ssh through edge-1's socksd fails" test -z "$OUT"
ok "... logged with the reason" \
	grep -q "socks connection from 10.200.0.50 refused: not in commonConfig.clientSourceRanges" \
	"$E2E_DIR/n1/socksd.log"

# clients that hold half-negotiated connections (a greeting, then nothing)
# do not lock out others: 16 per source, and past 256 the oldest goes
HOLD="$E2E_DIR/hold.py"
cat > "$HOLD" <<'PY'
import select, socket, sys, time
srcs, per, secs = sys.argv[1].split(","), int(sys.argv[2]), float(sys.argv[3])
held = []
for src in srcs:
    for _ in range(per):
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(3)
        try:
            s.connect(("169.254.96.16", 10800))
            s.sendall(b"\x05\x01\x00")   # greeting; the request never comes
        except OSError:
            pass
        held.append(s)
time.sleep(1)
def alive(s):
    try:
        while select.select([s], [], [], 0)[0]:
            if not s.recv(16):
                return False
        return True
    except OSError:
        return False
print("opened %d" % len(held), flush=True)
end = time.time() + secs
while time.time() < end:
    time.sleep(0.2)
state = [alive(s) for s in held]
print("alive %d first %d last %d" % (sum(state), int(state[0]), int(state[-1])), flush=True)
PY
in_ns p1 timeout 30 python3 "$HOLD" 10.201.1.10 300 4 > "$E2E_DIR/hold1.out" &
HP=$!
wait_for 10 grep -q opened "$E2E_DIR/hold1.out"
OUT=$(in_ns n1 timeout 20 $SSH -o "$PROXY" root@edge-2 'echo alive' 2>>"$E2E_DIR/ssh.err")
ok "one client holding 300 half-open connections: another client's ssh works" \
	test "$OUT" = "alive"
wait $HP
ok "... it kept 16 of them ($(tail -1 "$E2E_DIR/hold1.out"))" grep -q "^alive 16 " "$E2E_DIR/hold1.out"
SRCS=""
for a in $(seq 40 59); do in_ns p1 ip addr add 10.201.1.$a/24 dev eth0; SRCS="$SRCS,10.201.1.$a"; done
in_ns p1 timeout 40 python3 "$HOLD" "${SRCS#,}" 16 4 > "$E2E_DIR/hold2.out" &
HP=$!
wait_for 20 grep -q opened "$E2E_DIR/hold2.out"
OUT=$(in_ns n1 timeout 20 $SSH -o "$PROXY" root@edge-2 'echo alive' 2>>"$E2E_DIR/ssh.err")
ok "20 sources holding 320 half-open connections: ssh still works" test "$OUT" = "alive"
wait $HP
ok "... the oldest half-open ones were closed, the newest kept ($(tail -1 "$E2E_DIR/hold2.out"))" \
	grep -q "^alive 25[0-9] first 0 last 1" "$E2E_DIR/hold2.out"
ok "... logged" grep -q "closing the oldest" "$E2E_DIR/n1/socksd.log"

# garbage and a client that never finishes: dropped, others unaffected
in_ns n1 timeout 5 python3 -c '
import socket, os
for _ in range(50):
    s = socket.create_connection(("169.254.96.16", 10800), timeout=2)
    s.sendall(os.urandom(300)); s.close()
s = socket.create_connection(("169.254.96.16", 10800), timeout=2)
s.sendall(b"\x05")' 2>/dev/null
OUT=$(in_ns n1 timeout 30 $SSH -o "$PROXY" root@edge-2 'echo alive' 2>>"$E2E_DIR/ssh.err")
ok "after garbage and a stalled client, ssh still works" test "$OUT" = "alive"
ok "socksd still running" kill -0 "$(cat "$E2E_DIR/n1/socksd.pid")"
ok "socksd reports health to the controller" \
	wait_for 10 sh -c "'$B/edgemeshctl' -c '$E2E_DIR/n1/edgemesh.yaml' status 2>/dev/null | grep -q '^socksd *yes.*opened='"
# status asks the daemons for fresh reports (HEALTH_REQ): an open shows at
# once, not at socksd's next periodic report (2 s); three in a row, each
# checked right after (a report falling in between by chance is < 1 in 8)
opened() { e2e_ctl 1 status 2>/dev/null | sed -n 's/^socksd .* opened=\([0-9]*\).*/\1/p'; }
SEEN="" BAD=0
for i in 1 2 3; do
	O1=$(opened)
	R=$(socks 10.200.0.12 22)
	O2=$(opened)
	SEEN="$SEEN $O1->$O2($R)"
	[ "$O2" = $((O1 + 1)) ] || BAD=$((BAD + 1))
done
ok "status right after each open counts it (opened before->after:$SEEN)" test "$BAD" = 0
e2e_kill 1 socksd
ok "socksd exits on SIGTERM" sh -c "! kill -0 $(cat "$E2E_DIR/n1/socksd.pid") 2>/dev/null"
# a restart refuses nothing: the listening socket waits in the controller,
# and an ssh started while no socksd runs is served by the next one
in_ns n1 timeout 40 $SSH -o "$PROXY" root@edge-2 'echo served' > "$E2E_DIR/down.out" 2>>"$E2E_DIR/ssh.err" &
SP=$!
sleep 1
e2e_daemon 1 socksd
wait $SP
ok "an ssh started while socksd was down is served by the next socksd ($(cat "$E2E_DIR/down.out"))" \
	test "$(cat "$E2E_DIR/down.out")" = "served"
ok "... on the socket taken back from the controller" \
	grep -q "took the listening socket back" "$E2E_DIR/n1/socksd.log"

# commonConfig.clientSourceRanges set: exactly those sources are clients (a
# LAN the admin lists is served; the pods, no longer in the list, are not)
e2e_kill 1 socksd
sed -i '/^commonConfig:/a\  clientSourceRanges: [10.200.0.0/24]' "$E2E_DIR/n1/edgemesh.yaml"
e2e_daemon 1 socksd
wait_for 10 sh -c "[ \$(grep -c 'synced with the controller' '$E2E_DIR/n1/socksd.log') -ge 2 ]"
ok "clientSourceRanges [10.200.0.0/24]: the LAN host is served (0)" test "$(socks_from lanh 10.200.0.12 22)" = 0
ok "... and a pod on edge-1 is refused (closed)" test "$(socks_from p1 10.200.0.12 22)" = closed

# socksd up before its controller (a slow controller): after 3 s it serves
# with what it has, and names resolve once the controller comes
e2e_kill 1 socksd
e2e_kill 1 controller
e2e_daemon 1 socksd
ok "socksd without its controller serves after 3 s" \
	wait_for 10 grep -q "serving SOCKS5: the controller has not answered yet" "$E2E_DIR/n1/socksd.log"
e2e_daemon 1 controller
by_name() { [ "$(socks_from lanh edge-2 22)" = 0 ]; }
ok "... and, the controller back, edge-2 by name is served (0)" wait_for 20 by_name
e2e_done
