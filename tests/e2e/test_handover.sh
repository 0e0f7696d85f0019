#!/bin/bash
# tunneld restarted and upgraded without dropping a session or a stream
# (tunneld/tun_handover.c), in the users mode, two nodes: while a bridged pod
# on edge-1 keeps a steady request loop to a ClusterIP whose endpoint is on
# edge-2 (proxyd and the tunnel), an ssh session to edge-2 (socksd and the
# tunnel) prints a line every 0.2 s, a keep-alive HTTP connection through
# proxyd asks every 0.2 s, and the issue's 1 GB transfer paced over 35 s so
# that it spans every restart (ssh, sha256 checked both ends; HO_BULK_MB and
# HO_BULK_SECS change its size and pace), tunneld is
# restarted with SIGTERM and started again 5 times (alternating the nodes),
# upgraded once (a second build, another version string), and
# reloaded once (SIGHUP: a new exec in the same pid).  No request may fail,
# every stream must carry on, and no tunneld may log a session lost.
# A third node, cloud-1, has transport ws and cannot reach edge-2 at all
# (its firewall): its session with edge-1, a relay (relayNodes, wsPort 443),
# runs inside a WebSocket, and its session with edge-2 inside a circuit
# edge-1 splices.  A pod on cloud-1 keeps an ssh session and a keep-alive
# connection to edge-2 through both while cloud-1 is restarted twice (the
# WebSocket's dialing end) and edge-1 three times (the WebSocket's
# accepting end and the circuit's relay).
# Then: kill -9 recovery (timed), a crash whose FIN is lost (the peer drops
# the old session when the node dials anew), forged hand-overs refused with
# a clear error and a clean start, and a stop with no start (the parked
# hand-over is closed after 10 s and the peer sees the session end).
. tests/e2e/lib.sh
. tests/e2e/proxy/registry.sh
. tests/e2e/sshd_lib.sh
. tests/e2e/handover_lib.sh
e2e_init handover
# a second build of tunneld to upgrade to (another version string), made
# while the nodes come up; objects in E2E_DIR, removed with it
NEXT="$E2E_DIR/next"
make -s B="$NEXT" CPPFLAGS='-DEM_BUILD_VERSION=\"0.1.0+next\"' "$NEXT/edgemesh-tunneld" \
	>"$E2E_DIR/next-build.log" 2>&1 &
NEXTP=$!
# the daemons run from a copy in E2E_DIR (755): a reload execs tunneld's own
# file as its user, who may not reach a checkout under a 0700 directory
mkdir -p "$E2E_DIR/bin"
cp "$B"/edgemesh-* "$B/edgemeshctl" "$E2E_DIR/bin/"
B=$E2E_DIR/bin
for t in curl ssh sshd python3 nc sha256sum iptables bc; do
	command -v $t >/dev/null || [ -x /usr/sbin/$t ] || { echo "SKIP handover: $t missing"; exit 77; }
done
e2e_topology 3
e2e_registry tests/fixtures/registry
rm -f "$E2E_DIR"/registry/hostname*.yaml "$E2E_DIR"/registry/tcp-echo.yaml
proxy_registry "$E2E_DIR/registry"
RELAY="    relayNodes:
    - nodeName: edge-1
      advertiseAddress: [10.200.0.11]"
printf '    wsPort: 443\n%s\n' "$RELAY" | e2e_config 1 >/dev/null
printf '%s\n' "$RELAY" | e2e_config 2 >/dev/null
printf '    transport: ws\n%s\n' "$RELAY" | e2e_config 3 >/dev/null
for i in 1 2 3; do in_ns n$i ip route add default dev eth0; done
# cloud-1 cannot reach edge-2 (nor edge-2 it): only through the relay
in_ns n3 iptables -A OUTPUT -d 10.200.0.12 -p tcp -j REJECT --reject-with tcp-reset
in_ns n3 iptables -A OUTPUT -d 10.200.0.12 -j DROP
in_ns n3 iptables -A INPUT -s 10.200.0.12 -j DROP

SRV=tests/e2e/proxy/servers.py
in_ns p2 python3 $SRV http 10.201.2.10 9376 "remote-pod" & E2E_PIDS="$E2E_PIDS $!"
wait_for 20 in_ns p2 curl -s -m 1 http://10.201.2.10:9376/ || fail "server up"
e2e_sshd n2 10.200.0.12 "MaxStartups 100"

for i in 1 2 3; do e2e_daemon $i controller; done
for i in 1 2 3; do
	wait_for 10 test -S "$E2E_DIR/n$i/run/controller.sock" || fail "controller $i up"
	e2e_daemon $i tunneld
done
for d in proxyd socksd; do e2e_daemon 1 $d; e2e_daemon 3 $d; done
ok "remote ClusterIP answers from the pod" wait_for 20 in_ns p1 curl -sf -m 3 http://10.96.1.40/
PROXY='ProxyCommand=nc -X 5 -x 169.254.96.16:10800 %h %p'
ok "ssh to edge-2 through socksd and the tunnel" wait_for 20 \
	in_ns p1 timeout 10 $SSH -o "$PROXY" root@edge-2 true
ok "cloud-1's pod reaches edge-2's ClusterIP through the relay" wait_for 40 in_ns p3 curl -sf -m 3 http://10.96.1.40/
peer_is() {	# i node regex : edgemeshctl peers on node i
	e2e_ctl "$1" peers 2>/dev/null | grep "^$2 " | grep -q -- "$3"
}
ok "... cloud-1's session with edge-1 runs over WebSocket (port 443)" peer_is 3 edge-1 '10.200.0.11:443 .* up .*ws'
ok "... and its session with edge-2 through the relay edge-1" peer_is 3 edge-2 ' up .*relay'
ok "ssh from cloud-1's pod to edge-2 (WebSocket, relay)" wait_for 20 \
	in_ns p3 timeout 10 $SSH -o "$PROXY" root@edge-2 true
e2e_ctl 3 peers

# the load: 40 s of it, started before the first restart, ending after the last
in_ns p1 timeout 120 $SSH -o "$PROXY" root@edge-2 \
	'for i in $(seq 1 200); do echo line-$i; sleep 0.2; done' >"$E2E_DIR/ssh.out" 2>"$E2E_DIR/ssh.err" &
SSHP=$!
in_ns p1 timeout 120 python3 tests/tools/keepalive.py 10.96.1.40 80 200 0.2 >"$E2E_DIR/ka.out" 2>&1 &
KAP=$!
in_ns p1 timeout 120 python3 tests/tools/steady_load.py 40 http:10.96.1.40:80 >"$E2E_DIR/load.out" 2>&1 &
LOADP=$!
# cloud-1's: an ssh session and a keep-alive connection, WebSocket and relay
in_ns p3 timeout 120 $SSH -o "$PROXY" root@edge-2 \
	'for i in $(seq 1 200); do echo line-$i; sleep 0.2; done' >"$E2E_DIR/ssh3.out" 2>"$E2E_DIR/ssh3.err" &
SSH3P=$!
in_ns p3 timeout 120 python3 tests/tools/keepalive.py 10.96.1.40 80 200 0.2 >"$E2E_DIR/ka3.out" 2>&1 &
KA3P=$!
# the transfer paced over HO_BULK_SECS, so that every restart below happens during it
MB=${HO_BULK_MB:-1024}
SIZE=$((MB << 20))
cat >"$E2E_DIR/pace.py" <<PY
import sys, time
rate, t0, n = $SIZE / ${HO_BULK_SECS:-35}, time.monotonic(), 0
while True:
    b = sys.stdin.buffer.read(1 << 20)
    if not b:
        break
    sys.stdout.buffer.write(b); sys.stdout.buffer.flush()
    n += len(b)
    time.sleep(max(0, t0 + n / rate - time.monotonic()))
PY
in_ns p1 timeout 300 bash -c "head -c $SIZE /dev/urandom | tee >(sha256sum > $E2E_DIR/bulk.local) |
	python3 $E2E_DIR/pace.py | $SSH -o '$PROXY' root@edge-2 sha256sum > $E2E_DIR/bulk.remote" 2>"$E2E_DIR/bulk.err" &
BULKP=$!
BULK0=$(date +%s.%N)
sleep 2
lost0="$(ho_lost 1) $(ho_lost 2) $(ho_lost 3)"

# 5 restarts (SIGTERM + start), alternating the nodes; one upgrade; one
# reload; and cloud-1 (transport ws) twice in between
for n in 1 3 2 1 3 2 1; do
	ok "restart of $(e2e_node_name $n)'s tunneld: the next process took over" ho_restart $n
	sleep 1.5
done
ok "edge-1 (the relay) took cloud-1's WebSocket over at each restart" \
	test "$(grep -c 'took over [0-9]* sessions and [0-9]* streams (1 sessions over a WebSocket' "$E2E_DIR/n1/tunneld.log")" -eq 3
ok "cloud-1 took its WebSocket over at each restart" \
	test "$(grep -c 'took over [0-9]* sessions and [0-9]* streams (1 sessions over a WebSocket' "$E2E_DIR/n3/tunneld.log")" -eq 2
# the upgrade: the next process is another build (EM_BUILD_VERSION
# 0.1.0+next), compiled in the background since the start
ok "the second build compiled" wait "$NEXTP"
ok "... and says it is 0.1.0+next" test "$("$NEXT/edgemesh-tunneld" -V)" = "edgemesh-tunneld 0.1.0+next"
ok "upgrade of edge-2's tunneld: the other build took over" ho_restart 2 "$NEXT/edgemesh-tunneld"
ok "... it is the one running" test "$(readlink "/proc/$(cat "$E2E_DIR/n2/tunneld.pid")/exe")" = "$NEXT/edgemesh-tunneld"
ok "... build 0.1.0+next took over from build $("$B/edgemesh-tunneld" -V 2>/dev/null | awk '{print $2}')" \
	grep -q "taking over from tunneld pid [0-9]* (build $("$B/edgemesh-tunneld" -V | awk '{print $2}')" "$E2E_DIR/n2/tunneld.log"
sleep 2
n=$(ho_starts 1); P1=$(cat "$E2E_DIR/n1/tunneld.pid")
kill -HUP "$P1"
ok "reload (SIGHUP) of edge-1's tunneld: a new exec in pid $P1 took over" \
	wait_for 10 sh -c "[ \$(grep -c 'took over [0-9]* sessions' '$E2E_DIR/n1/tunneld.log') -gt $n ]"
sleep 1
kill -USR2 "$P1"
ok "and again (SIGUSR2), from the exec'd one, under the sandbox it inherited" \
	wait_for 10 sh -c "[ \$(grep -c 'took over [0-9]* sessions' '$E2E_DIR/n1/tunneld.log') -gt $((n + 1)) ]"

ok "the $MB MB transfer was still going after the last hand-over" kill -0 $BULKP
wait $LOADP; rc=$?
ok "steady requests through the tunnel: none failed ($(grep -o 'ok=[0-9]* fail=[0-9]* refused=[0-9]*' "$E2E_DIR/load.out"))" \
	test "$rc" -eq 0
[ "$rc" -eq 0 ] || cat "$E2E_DIR/load.out"
wait $SSHP; rc=$?
ok "the ssh session carried on (rc=$rc, $(grep -c '^line-' "$E2E_DIR/ssh.out") of 200 lines)" \
	test "$rc" -eq 0 -a "$(grep -c '^line-' "$E2E_DIR/ssh.out")" -eq 200
wait $KAP; rc=$?
ok "the keep-alive connection carried on (rc=$rc, $(grep -c remote-pod "$E2E_DIR/ka.out") of 200 answers)" \
	test "$rc" -eq 0 -a "$(grep -c remote-pod "$E2E_DIR/ka.out")" -eq 200
wait $BULKP; rc=$?
echo "bulk: $MB MB through ssh, socksd and the tunnel in $(echo "$(date +%s.%N) - $BULK0" | bc) s (paced over ${HO_BULK_SECS:-35} s)"
ok "$MB MB across the restarts, sha256 matches (rc=$rc)" \
	test "$rc" -eq 0 -a -s "$E2E_DIR/bulk.local" -a "$(cut -d' ' -f1 "$E2E_DIR/bulk.local")" = "$(cut -d' ' -f1 "$E2E_DIR/bulk.remote" 2>/dev/null)"
wait $SSH3P; rc=$?
ok "cloud-1's ssh session carried on (WebSocket, relay: rc=$rc, $(grep -c '^line-' "$E2E_DIR/ssh3.out") of 200 lines)" \
	test "$rc" -eq 0 -a "$(grep -c '^line-' "$E2E_DIR/ssh3.out")" -eq 200
wait $KA3P; rc=$?
ok "cloud-1's keep-alive connection carried on (rc=$rc, $(grep -c remote-pod "$E2E_DIR/ka3.out") of 200 answers)" \
	test "$rc" -eq 0 -a "$(grep -c remote-pod "$E2E_DIR/ka3.out")" -eq 200
ok "no tunneld lost a session (before: $lost0; after: $(ho_lost 1) $(ho_lost 2) $(ho_lost 3))" \
	test "$(ho_lost 1) $(ho_lost 2) $(ho_lost 3)" = "$lost0"
ok "the controller handed the hand-over back at each restart" \
	test "$(cat "$E2E_DIR"/n[12]/controller.log | grep -c 'handed tunneld its handover~10 socket back')" -eq 6
grep -h 'handed [0-9]* sessions\|took over [0-9]* sessions' "$E2E_DIR"/n[12]/tunneld.log | head -3

# a relay circuit still opening when the relay restarts: edge-2's tunneld is
# stopped (SIGSTOP) so that its answer to the relay's OPEN waits; cloud-1's
# tunneld is killed and started (its session with edge-2 needs a new
# circuit, asked for by a request from its pod); edge-1 is restarted while
# the circuit opens; edge-2 goes on (SIGCONT): the next relay process pairs
# its answer with the opener and the circuit comes up, nothing failed
relaying() { [ "$(grep -c 'circuit cloud-1 -> edge-2: relaying' "$E2E_DIR/n1/tunneld.log")" -gt "$1" ]; }
c0=$(grep -c 'circuit cloud-1 -> edge-2: relaying' "$E2E_DIR/n1/tunneld.log")
f0=$(grep -c 'circuit to edge-2 through relay edge-1 failed' "$E2E_DIR/n3/tunneld.log")
kill -STOP "$(cat "$E2E_DIR/n2/tunneld.pid")"
e2e_kill 3 tunneld KILL
e2e_daemon 3 tunneld
in_ns p3 curl -sf -m 20 http://10.96.1.40/ >"$E2E_DIR/circ.out" 2>&1 &
CURLP=$!
wait_for 10 relaying "$c0" || fail "edge-1 relays a new circuit from cloud-1"
ok "restart of edge-1 (the relay) while the circuit opens: taken over with it" ho_restart 1
kill -CONT "$(cat "$E2E_DIR/n2/tunneld.pid")"
ok "... the next relay process took the opening circuit over" \
	grep -q 'took over [0-9]* sessions .*, 1 relay circuits opening' "$E2E_DIR/n1/tunneld.log"
since_restart() { tac "$E2E_DIR/n1/tunneld.log" | sed '/took over/q'; }
spliced() { since_restart | grep -q 'circuit cloud-1 -> edge-2: up' && ! since_restart | grep -q 'relaying'; }
ok "... and spliced it once edge-2 answered (no new circuit asked for)" wait_for 10 spliced
wait $CURLP; rc=$?
ok "... cloud-1's request over the new circuit was answered (rc=$rc)" test "$rc" -eq 0 -a -s "$E2E_DIR/circ.out"
ok "... and cloud-1 saw no circuit fail" \
	test "$(grep -c 'circuit to edge-2 through relay edge-1 failed' "$E2E_DIR/n3/tunneld.log")" -eq "$f0"

# kill -9: the peer sees the session end at once (FIN), the listener waits in
# the controller, the peer redials; sessions back and new streams served
t0=$(date +%s.%N)
e2e_kill 1 tunneld KILL
e2e_daemon 1 tunneld
wait_for 10 in_ns p1 curl -sf -m 5 http://10.96.1.40/
t1=$(date +%s.%N)
ok "kill -9 of edge-1's tunneld: a new stream is served again" in_ns p1 curl -sf -m 5 http://10.96.1.40/
ok "... edge-2 saw the old session end at once (not by keepalives)" \
	grep -q 'session with edge-1 at .* closed: connection closed by the peer' "$E2E_DIR/n2/tunneld.log"
echo "kill -9 recovery: $(echo "$t1 - $t0" | bc) s from the kill to a request served again"
ok "... well before keepalives would have noticed (under 5 s)" awk -v t="$(echo "$t1 - $t0" | bc)" 'BEGIN { exit !(t < 5) }'

# a crash whose FIN never reaches the peer (edge-2 drops what comes on the
# old session): when edge-1 dials anew, edge-2 drops the old one at once
PORT=$(grep -o 'session up with edge-1 at 10.200.0.11:[0-9]*' "$E2E_DIR/n2/tunneld.log" | tail -1 | cut -d: -f2)
in_ns n2 iptables -I INPUT -p tcp -s 10.200.0.11 --sport "$PORT" -j DROP
t0=$(date +%s.%N)
e2e_kill 1 tunneld KILL
e2e_daemon 1 tunneld
wait_for 10 in_ns p1 curl -sf -m 5 http://10.96.1.40/
t1=$(date +%s.%N)
ok "a crash without FIN: edge-2 closed the old session when edge-1 dialed anew" \
	grep -q "session with edge-1 at 10.200.0.11:$PORT closed: replaced: the peer dialed anew" "$E2E_DIR/n2/tunneld.log"
echo "crash without FIN: $(echo "$t1 - $t0" | bc) s from the kill to a request served again"
in_ns n2 iptables -D INPUT -p tcp -s 10.200.0.11 --sport "$PORT" -j DROP

# a forged hand-over: refused with a clear error, a clean start
for mode in forged version; do
	e2e_kill 2 tunneld KILL
	ho_forge $mode ip netns exec "$(ns n2)" "$B/edgemesh-tunneld" -c "$E2E_DIR/n2/edgemesh.yaml" -d \
		>>"$E2E_DIR/n2/tunneld.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"; echo $! > "$E2E_DIR/n2/tunneld.pid"
	case $mode in
	forged) why='does not authenticate under this node.s static key' ;;
	version) why='hand-over version 99 (from build 0.0.forged) is not one this build' ;;
	esac
	ok "a $mode hand-over is refused: $why" wait_for 10 grep -q "hand-over refused: .*$why.*starting clean" "$E2E_DIR/n2/tunneld.log"
	ok "... and tunneld starts clean: requests served" wait_for 20 in_ns p1 curl -sf -m 5 http://10.96.1.40/
done

# a stop with no start: what was parked is closed after 10 s, the peer sees the session end
wait_for 10 grep -q 'session up with edge-1' "$E2E_DIR/n2/tunneld.log"
n=$(ho_lost 2)
e2e_kill 1 tunneld TERM
ok "tunneld stopped for good: the controller closes the parked hand-over after 10 s" \
	wait_for 20 grep -q "tunneld's handover~10 was not fetched in time: closed" "$E2E_DIR/n1/controller.log"
ok "... and edge-2 sees the session end" wait_for 5 sh -c "[ \$(grep -c 'session with .* closed' '$E2E_DIR/n2/tunneld.log') -gt $n ]"

# a reload keeps a WebSocket listener below 1024 (the exec runs as our user
# with no capability: it could not bind it again)
e2e_daemon 1 tunneld
ws443() { in_ns n1 ss -lntp | grep ':443 ' | grep -q "pid=$1,"; }
P1=$(cat "$E2E_DIR/n1/tunneld.pid")
wait_for 10 ws443 "$P1"
n=$(ho_starts 1)
kill -HUP "$P1"
reloaded_ws() { [ "$(ho_starts 1)" -gt "$n" ] && ws443 "$P1"; }
ok "a reload with wsPort 443: taken over, still listening on 443 in pid $P1" wait_for 10 reloaded_ws
e2e_done
