#!/bin/bash
# socksd end to end: ssh to a node by its name through the SOCKS5 proxy
# (EdgeMesh's documented ProxyCommand, with netcat-openbsd's -X 5), the
# stream crossing the tunnel; RFC 1928 refusals with the right reply codes;
# bad input dropped while the daemon lives on.
. tests/e2e/lib.sh
e2e_init socks
e2e_topology 2
e2e_registry tests/fixtures/registry
for i in 1 2; do e2e_config $i </dev/null >/dev/null; done
# clients on edge-1 reach socksd on the bridge address (proxyd would add it)
in_ns n1 ip addr add 169.254.96.16/32 dev lo

# sshd on edge-2, port 22 (allowedNodePorts default), throwaway keys
K="$E2E_DIR/ssh"
mkdir -p "$K" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$K/host" && ssh-keygen -q -t ed25519 -N '' -f "$K/client"
cp "$K/client.pub" "$K/authorized_keys"
cat > "$K/sshd_config" <<CFG
Port 22
ListenAddress 10.200.0.12
HostKey $K/host
PidFile $K/sshd.pid
AuthorizedKeysFile $K/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
CFG
in_ns n2 /usr/sbin/sshd -D -e -f "$K/sshd_config" 2>"$E2E_DIR/sshd.log" &
E2E_PIDS="$E2E_PIDS $!"

for i in 1 2; do e2e_daemon $i controller; done
for i in 1 2; do
	wait_for 10 test -S "$E2E_DIR/n$i/run/controller.sock" || fail "controller $i up"
	e2e_daemon $i tunneld
done
e2e_daemon 1 socksd
wait_for 10 in_ns n1 sh -c "ss -lnt | grep -q 169.254.96.16:10800" || fail "socksd listening"
wait_for 10 sh -c "grep -q 'synced with the controller' '$E2E_DIR/n1/socksd.log'"

SSH="ssh -F /dev/null -i $K/client -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	-o BatchMode=yes -o ConnectTimeout=10"
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

# raw SOCKS5: the reply codes
socks() {	# python3 client: greeting, then CONNECT to host:port; prints the reply code
	in_ns n1 timeout 15 python3 - "$@" <<'PY'
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection(("169.254.96.16", 10800), timeout=12)
s.sendall(b"\x05\x01\x00")
if s.recv(2) != b"\x05\x00":
    print("greeting refused"); sys.exit(0)
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
ok "the far tunneld logged why" grep -q "allowedNodePorts" "$E2E_DIR/n2/tunneld.log"
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
e2e_done
