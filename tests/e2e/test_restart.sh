#!/bin/bash
# Restarts the way admins do them, in the users mode (each daemon started as
# root and switching to edgemesh-<daemon>): proxyd, dnsd, socksd and gatewayd
# each stopped with SIGTERM and started again (systemctl restart), then
# killed with -9 and started half a second later (Restart=always), while a
# bridged pod keeps a steady request loop going: HTTP to a ClusterIP with a
# remote endpoint (through the tunnel) and one with local endpoints, DNS
# through dnsd, SOCKS5 to edge-2's sshd by node name, HTTP through the
# gateway.  Under SIGTERM no request may be refused or fail (a daemon
# finishes what it holds; new connections wait in the listening sockets the
# controller keeps); under kill -9 none may be refused, and only a request
# the killed daemon held at that instant may be lost.  Two long-lived
# streams through the tunnel (an ssh session over SOCKS5, a keep-alive HTTP
# connection through proxyd) must carry on untouched through all of it.
. tests/e2e/lib.sh
. tests/e2e/proxy/registry.sh
. tests/e2e/sshd_lib.sh
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
e2e_sshd n2 10.200.0.12 "MaxStartups 100"

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

PROXY='ProxyCommand=nc -X 5 -x 169.254.96.16:10800 %h %p'
# long-lived stream 1: an ssh session through socksd and the tunnel, a line every 0.25 s
in_ns p1 timeout 120 $SSH -o "$PROXY" root@edge-2 \
	'for i in $(seq 1 300); do echo line-$i; sleep 0.25; done' >"$E2E_DIR/ssh.out" 2>"$E2E_DIR/ssh.err" &
SSHP=$!
# long-lived stream 2: one keep-alive HTTP connection through proxyd and the tunnel
in_ns p1 timeout 120 python3 tests/tools/keepalive.py 10.96.1.40 80 280 0.25 >"$E2E_DIR/ka.out" 2>&1 &
KAP=$!

# SIGTERM lets a daemon finish what it holds: a keep-alive connection to a
# local endpoint (proxyd relays it itself) gets its second answer after
# proxyd was told to stop, and only then does proxyd exit
in_ns p1 timeout 30 python3 tests/tools/keepalive.py 10.96.1.10 80 2 2 >"$E2E_DIR/drain.out" 2>&1 &
DP=$!
sleep 1
PP=$(cat "$E2E_DIR/n1/proxyd.pid")
kill -TERM "$PP"
wait $DP
ok "a connection proxyd held when told to stop got its answers ($(tr '\n' ' ' <"$E2E_DIR/drain.out"))" \
	test "$(grep -c '^pod-' "$E2E_DIR/drain.out")" -eq 2
# the client's close and proxyd's exit race the check: give the exit 5 s
ok "... proxyd said it was finishing it, then exited" wait_for 5 bash -c "
	grep -Eq 'finishing [0-9]+ connections in hand' '$E2E_DIR/n1/proxyd.log' && ! kill -0 $PP 2>/dev/null"
wait "$PP" 2>/dev/null
n=$(starts proxyd)
e2e_daemon 1 proxyd
wait_for 20 synced proxyd "$n" || fail "proxyd back after the drain"

# the steady loop from the bridged pod, one run per kind of restart
KINDS="http:10.96.1.40:80 http:10.96.1.10:80 dns:169.254.96.16:web.default.svc.cluster.local
	socks:169.254.96.16:10800:edge-2:22 http:10.200.0.11:23333/local"
load() {	# out [--in-flight N]: 30 s of requests in the background
	local out=$1; shift
	in_ns p1 timeout 120 python3 tests/tools/steady_load.py "$@" 30 $KINDS >"$out" 2>&1 &
	LOADP=$!
	sleep 2
}
restart() {	# daemon signal: stop it, start it again as systemd's Restart= would
	local d=$1 n
	n=$(starts "$d")
	e2e_kill 1 "$d" "$2"
	[ "$2" = KILL ] && sleep 0.5
	e2e_daemon 1 "$d"
	wait_for 20 synced "$d" "$n" || fail "$d back after SIG$2"
}
loaded() {	# out: the load's summary
	echo "$(grep -o 'ok=[0-9]* fail=[0-9]* refused=[0-9]*' "$1" | tr '\n' ' ')"
}

# systemctl restart (SIGTERM): what a daemon holds is finished, nothing fails
load "$E2E_DIR/load-term.out"
for d in $DAEMONS; do restart $d TERM; done
wait $LOADP; rc=$?
ok "SIGTERM restarts of $DAEMONS: no request refused or failed ($(loaded "$E2E_DIR/load-term.out"))" \
	test "$rc" -eq 0
[ "$rc" -eq 0 ] || cat "$E2E_DIR/load-term.out"

# kill -9 (a crash; Restart= starts it again): nothing is refused; only a
# request a daemon held in its own memory at that instant can go with it
load "$E2E_DIR/load-kill.out" --in-flight 2
for d in $DAEMONS; do restart $d KILL; done
wait $LOADP; rc=$?
ok "kill -9 of $DAEMONS: no request refused, at most the ones in flight lost ($(loaded "$E2E_DIR/load-kill.out"))" \
	test "$rc" -eq 0
[ "$rc" -eq 0 ] || cat "$E2E_DIR/load-kill.out"
for d in $DAEMONS; do
	ok "$d serving again as pid $(cat "$E2E_DIR/n1/$d.pid") after both restarts" kill -0 "$(cat "$E2E_DIR/n1/$d.pid")"
done
ok "each daemon took its listening sockets back from the controller at both restarts" bash -c "
	for d in $DAEMONS; do
		[ \$(grep -c \"handed \$d its .* socket back\" '$E2E_DIR/n1/controller.log') -ge 2 ] || exit 1
	done"
ok "no daemon failed to listen after a restart" bash -c "! grep -E 'cannot listen|Address already in use' '$E2E_DIR'/n1/*.log"

wait $SSHP; rc=$?
ok "the ssh session through socksd and the tunnel carried on (rc=$rc, $(grep -c '^line-' "$E2E_DIR/ssh.out") of 300 lines)" \
	test "$rc" -eq 0 -a "$(grep -c '^line-' "$E2E_DIR/ssh.out")" -eq 300
wait $KAP; rc=$?
ok "the keep-alive connection through proxyd and the tunnel carried on (rc=$rc, $(grep -c remote-pod "$E2E_DIR/ka.out") of 280 answers)" \
	test "$rc" -eq 0 -a "$(grep -c remote-pod "$E2E_DIR/ka.out")" -eq 280
e2e_done
