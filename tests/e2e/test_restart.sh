#!/bin/bash
# Restarts the way admins do them, in the users mode (each daemon started as
# root and switching to edgemesh-<daemon>): proxyd, dnsd, socksd and gatewayd
# each stopped with SIGTERM and started again (systemctl restart), then
# killed with -9 and started half a second later (Restart=always), while a
# bridged pod keeps a steady request loop going: HTTP to a ClusterIP with a
# remote endpoint (through the tunnel) and one with local endpoints, DNS
# through dnsd, SOCKS5 to edge-2's sshd by node name, HTTP through the
# gateway.  No request may be refused or fail, and two long-lived streams
# through the tunnel (an ssh session over SOCKS5, a keep-alive HTTP
# connection through proxyd) must carry on untouched.
. tests/e2e/lib.sh
. tests/e2e/proxy/registry.sh
e2e_init restart
for t in curl ssh sshd python3 nc; do
	command -v $t >/dev/null || [ -x /usr/sbin/$t ] || { echo "SKIP restart: $t missing"; exit 77; }
done
e2e_topology 2
e2e_registry tests/fixtures/registry
rm -f "$E2E_DIR"/registry/hostname*.yaml "$E2E_DIR"/registry/tcp-echo.yaml
proxy_registry "$E2E_DIR/registry"
cp tests/fixtures/gateway/gateway.yaml "$E2E_DIR/registry/"
e2e_config 1 >/dev/null <<'CFG'
  edgeGateway:
    enable: true
CFG
e2e_config 2 </dev/null >/dev/null
for i in 1 2; do in_ns n$i ip route add default dev eth0; done

SRV=tests/e2e/proxy/servers.py
for ip in 10.201.1.10 10.201.1.11 10.201.1.12 10.201.1.30; do
	in_ns p1 python3 $SRV http $ip 9376 "pod-$ip" & E2E_PIDS="$E2E_PIDS $!"
done
in_ns p2 python3 $SRV http 10.201.2.10 9376 "remote-pod" & E2E_PIDS="$E2E_PIDS $!"
for ip in 10.201.1.10 10.201.1.11 10.201.1.12 10.201.1.30 10.201.2.10; do
	wait_for 20 in_ns p${ip:7:1} curl -s -m 1 http://$ip:9376/ || fail "server $ip up"
done

# sshd on edge-2's node address, port 22 (allowedNodePorts default)
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
MaxStartups 100
CFG
in_ns n2 /usr/sbin/sshd -D -e -f "$K/sshd_config" 2>"$E2E_DIR/sshd.log" & E2E_PIDS="$E2E_PIDS $!"

for i in 1 2; do e2e_daemon $i controller; done
for i in 1 2; do
	wait_for 10 test -S "$E2E_DIR/n$i/run/controller.sock" || fail "controller $i up"
	e2e_daemon $i tunneld
done
DAEMONS="proxyd dnsd socksd gatewayd"
for d in $DAEMONS; do e2e_daemon 1 $d; done
e2e_resolver p1

starts() {	# daemon -> how many times it has started
	grep -c 'started (node' "$E2E_DIR/n1/$1.log"
}
synced() {	# daemon [starts]: started more than that often, and the newest start has synced
	[ "$(starts "$1")" -gt "${2:-0}" ] &&
		tac "$E2E_DIR/n1/$1.log" | awk '/synced with the controller/{s=1} /started \(node/{print s+0; exit}' | grep -qx 1
}
for d in $DAEMONS; do wait_for 20 synced $d || fail "$d synced"; done
ok "every daemon runs as its own user" bash -c '
	for d in '"$DAEMONS"'; do
		u=$(awk "/^Uid/{print \$2}" /proc/$(cat '"$E2E_DIR"'/n1/$d.pid)/status)
		[ "$u" = "$(id -u edgemesh-$d)" ] || { echo "$d runs as uid $u"; exit 1; }
	done'
ok "remote ClusterIP answers from the pod" wait_for 20 in_ns p1 curl -sf -m 3 http://10.96.1.40/
ok "gateway answers from the pod" wait_for 20 in_ns p1 curl -sf -m 3 http://10.200.0.11:23333/local

SSH="ssh -F /dev/null -i $K/client -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	-o BatchMode=yes -o ConnectTimeout=10"
PROXY='ProxyCommand=nc -X 5 -x 169.254.96.16:10800 %h %p'
# long-lived stream 1: an ssh session through socksd and the tunnel, a line every 0.25 s
in_ns p1 timeout 120 $SSH -o "$PROXY" root@edge-2 \
	'for i in $(seq 1 200); do echo line-$i; sleep 0.25; done' >"$E2E_DIR/ssh.out" 2>"$E2E_DIR/ssh.err" &
SSHP=$!
# long-lived stream 2: one keep-alive HTTP connection through proxyd and the tunnel
in_ns p1 timeout 120 python3 -c '
import http.client, time
c = http.client.HTTPConnection("10.96.1.40", 80, timeout=10)
for i in range(180):
    c.request("GET", "/"); print(c.getresponse().read().decode(), flush=True)
    time.sleep(0.25)' >"$E2E_DIR/ka.out" 2>&1 &
KAP=$!

# the steady loop from the bridged pod
in_ns p1 timeout 120 python3 tests/tools/steady_load.py 40 \
	http:10.96.1.40:80 http:10.96.1.10:80 dns:169.254.96.16:web.default.svc.cluster.local \
	socks:169.254.96.16:10800:edge-2:22 http:10.200.0.11:23333/local >"$E2E_DIR/load.out" 2>&1 &
LOADP=$!
sleep 2

for d in $DAEMONS; do
	old=$(cat "$E2E_DIR/n1/$d.pid")
	n=$(starts $d)
	e2e_kill 1 $d TERM
	e2e_daemon 1 $d
	wait_for 20 synced $d "$n" || fail "$d back after SIGTERM"
	e2e_kill 1 $d KILL
	sleep 0.5
	e2e_daemon 1 $d
	wait_for 20 synced $d $((n + 1)) || fail "$d back after kill -9"
	ok "$d restarted twice (SIGTERM, kill -9), serving again as pid $(cat "$E2E_DIR/n1/$d.pid") (was $old)" \
		kill -0 "$(cat "$E2E_DIR/n1/$d.pid")"
done
ok "each daemon took its listening sockets back from the controller at both restarts" bash -c "
	for d in $DAEMONS; do
		[ \$(grep -c \"handed \$d its .* socket back\" '$E2E_DIR/n1/controller.log') -ge 2 ] || exit 1
	done"
ok "no daemon failed to listen after a restart" bash -c "! grep -E 'cannot listen|Address already in use' '$E2E_DIR'/n1/*.log"

wait $LOADP; rc=$?
ok "no request refused or failed during 8 restarts ($(grep -c 'ok=' "$E2E_DIR/load.out") kinds: $(grep -o 'ok=[0-9]* fail=[0-9]*' "$E2E_DIR/load.out" | tr '\n' ' '))" \
	test "$rc" -eq 0
[ "$rc" -eq 0 ] || cat "$E2E_DIR/load.out"
wait $SSHP; rc=$?
ok "the ssh session through socksd and the tunnel carried on (rc=$rc, $(grep -c '^line-' "$E2E_DIR/ssh.out") of 200 lines)" \
	test "$rc" -eq 0 -a "$(grep -c '^line-' "$E2E_DIR/ssh.out")" -eq 200
wait $KAP; rc=$?
ok "the keep-alive connection through proxyd and the tunnel carried on (rc=$rc, $(grep -c remote-pod "$E2E_DIR/ka.out") of 180 answers)" \
	test "$rc" -eq 0 -a "$(grep -c remote-pod "$E2E_DIR/ka.out")" -eq 180
e2e_done
