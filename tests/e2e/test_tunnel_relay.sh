#!/bin/bash
# tunneld relaying end to end: edge-1 and edge-2 on separate private LANs
# behind separate NAT routers (MASQUERADE), cloud-1 (the relay, in
# relayNodes with its advertiseAddress) on the "wan" both routers reach.
# edge-1 cannot reach edge-2 directly; streams go through a circuit at
# cloud-1 carrying an end-to-end Noise session between the edges.
#   B=build bash tests/e2e/test_tunnel_relay.sh
#
#   n1 edge-1 192.168.1.2 -- r1 192.168.1.1 | 100.64.0.1 --+
#   n2 edge-2 192.168.2.2 -- r2 192.168.2.1 | 100.64.0.2 --+-- wan br0
#   n3 cloud-1 100.64.0.3 ---------------------------------+
#   p2 (edge-2's pod) 10.201.2.10 -- n2 10.201.2.1 (cni0)
. "$(dirname "$0")/lib.sh"
e2e_init tunnelrelay
command -v iptables >/dev/null || { echo "SKIP tunnelrelay: iptables missing"; exit 77; }

for n in wan r1 r2 n1 n2 n3 p2; do
	ip netns add "$(ns $n)"
	in_ns $n ip link set lo up
done
in_ns wan ip link add br0 type bridge
in_ns wan ip link set br0 up
e2e_veth n3 eth0 100.64.0.3/24 wan w3 ""
e2e_veth r1 wan0 100.64.0.1/24 wan w1 ""
e2e_veth r2 wan0 100.64.0.2/24 wan w2 ""
for w in w1 w2 w3; do in_ns wan ip link set $w master br0; done
for i in 1 2; do
	e2e_veth r$i lan0 192.168.$i.1/24 n$i eth0 192.168.$i.2/24
	in_ns n$i ip route add default via 192.168.$i.1
	in_ns r$i sysctl -qw net.ipv4.ip_forward=1
	in_ns r$i iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE
done
# edge-2's router maps every connection to a random port (a symmetric NAT),
# so the pair cannot punch a direct path (test_punch.sh does that) and this
# test sees the relayed session all along, whatever the SYNs' timing
in_ns r2 iptables -t nat -R POSTROUTING 1 -o wan0 -j MASQUERADE --random-fully
# edge-2's pod, on edge-2's bridge cni0 with br_netfilter on
e2e_pod 2
e2e_registry tests/fixtures/relay

. tests/e2e/tunnel_lib.sh
peer_is() {	# i node regex : edgemeshctl peers on node i
	e2e_ctl "$1" peers 2>/dev/null | grep "^$2 " | grep -q -- "$3"
}

for i in 1 2 3; do
	e2e_config "$i" >/dev/null <<CFG
    relayNodes:
    - nodeName: cloud-1
      advertiseAddress: [100.64.0.3]
CFG
	e2e_daemon "$i" controller
done
sleep 0.5
start_tunneld 3
start_tunneld 1
start_tunneld 2
bg p2 socat TCP-LISTEN:7000,reuseaddr,fork EXEC:cat
bg p2 socat -u TCP-LISTEN:7001,reuseaddr,fork SYSTEM:'sha256sum > /dev/stderr'
wait_for 10 listening p2 7000; wait_for 10 listening p2 7001

# --- the topology: NAT-ed edges reach the relay, not each other
ok "edge-1 reaches cloud-1's advertiseAddress (through its NAT)" \
	in_ns n1 timeout 5 bash -c 'exec 3<>/dev/tcp/100.64.0.3/20006'
ok "edge-1 cannot connect to edge-2 directly" \
	bash -c "! ip netns exec $(ns n1) timeout 5 bash -c 'exec 3<>/dev/tcp/192.168.2.2/20006' 2>/dev/null"
both_up() { peer_is 3 edge-1 ' up ' && peer_is 3 edge-2 ' up '; }
ok "both edges keep a session with the relay (edgemeshctl peers on cloud-1)" wait_for 20 both_up
ok "edge-1's session with cloud-1 went to the advertiseAddress" peer_is 1 cloud-1 '100.64.0.3.* up .*direct'
sleep 1
base3=$(fds 3); base2=$(fds 2)

# --- a stream from edge-1 to edge-2's pod, through the relay
tunopen 1 edge-2 10.201.2.10 7000 9000
ok "TCP echo from edge-1 to a pod on edge-2 through the relay" wait_for 30 echo_once 1 9000 "hello relay"
ok "edgemeshctl peers on edge-1: edge-2 up, path relay" peer_is 1 edge-2 ' up .*relay'
e2e_ctl 1 peers
ok "edge-2 sees edge-1 through the relay too" peer_is 2 edge-1 ' up .*relay'
ok "cloud-1's log shows the circuit" log_has 3 "circuit edge-1 -> edge-2: up"
ok "edge-2's log shows the circuit from edge-1" log_has 2 "circuit from edge-1 through relay cloud-1"
ok "the end-to-end session is up on edge-1 (through the relay)" \
	log_has 1 "session up with edge-2 at cloud-1 (we dialed, through the relay)"
ok "a second stream reuses the relayed session" echo_once 1 9000 "again"

# --- bulk through the circuit (windows end to end)
tunopen 1 edge-2 10.201.2.10 7001 9001
SIZE=33554432
ok "$SIZE bytes through the relay, sha256 matches" bulk_sha $SIZE 9001

# --- the relay, then edge-2, restarted (SIGTERM and start: tunneld hands its
# sessions, circuits and relayed sessions to the next process): an echo
# stream through the circuit carries on, no session is lost anywhere
cat >"$E2E_DIR/relay_echo.py" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", 9000), timeout=10)
for i in range(80):
    m = b"relay-%d\n" % i
    s.sendall(m)
    got = b""
    while len(got) < len(m):
        b = s.recv(100)
        if not b:
            sys.exit("closed at %d" % i)
        got += b
    if got != m:
        sys.exit("got %r" % got)
    time.sleep(0.1)
print("echoed 80")
PY
in_ns n1 timeout 30 python3 "$E2E_DIR/relay_echo.py" >"$E2E_DIR/relay_echo.out" 2>&1 &
EP=$!
sleep 1
lost() { grep -h 'session with .* closed' "$E2E_DIR"/n[123]/tunneld.log | grep -vc 'drained'; }
l0=$(lost)
for n in 3 2; do
	e2e_kill $n tunneld
	start_tunneld $n
	ok "node $n's tunneld restarted: the next process took its sessions over" \
		wait_for 10 log_has $n 'took over [1-9][0-9]* sessions'
	sleep 2
done
wait $EP; rc=$?
ok "an echo stream through the circuit carried on across both restarts ($(cat "$E2E_DIR/relay_echo.out"))" test "$rc" -eq 0
ok "... and no session was lost on any node" test "$(lost)" -eq "$l0"
ok "a new stream through the relay after the restarts" echo_once 1 9000 "after the hand-overs"

# --- the circuit ends: relay and edge-2 streams close, fds back
echo "fds during the circuit: cloud-1 $(fds 3) (base $base3), edge-2 $(fds 2) (base $base2)"
e2e_kill 1 tunneld KILL
gone() { [ "$(fds 3)" -lt "$base3" ] && [ "$(fds 2)" -le "$base2" ]; }
ok "edge-1 gone: the relay's circuit streams and edge-2's relayed session close" wait_for 20 gone
echo "fds after: cloud-1 $(fds 3) (base $base3), edge-2 $(fds 2) (base $base2)"
ok "edge-2 logs the end of the relayed session" log_has 2 "session with edge-1 at cloud-1 closed"
start_tunneld 1
tunopen 1 edge-2 10.201.2.10 7000 9003	# the old forwarder went with tunnel.sock
ok "edge-1 restarted: through the relay again" wait_for 30 echo_once 1 9003 "after restart"
ok "edge-2 took the relayed session as edge-1's (authenticated end to end)" \
	log_has 2 "session up with edge-1 at cloud-1 (they dialed, through the relay)"

# --- a direct path appears (a route between the routers): it replaces the
# relayed session (background redials with backoff), which drains.  A round
# of redials tries each of edge-2's addresses (192.168.2.2, and 100.64.0.2
# where cloud-1 sees it) back to back, so the path is found within one
# backoff period (at most 30 s), not one per address.
ok "a round of redials tries edge-2's next address at once" \
	log_has 1 'redialing edge-2 in 0.0s'
# each round (the dials between two backoffs, once edge-2 is in use) tries
# both addresses, wherever the last one stopped: a round that tried only
# 100.64.0.2 and then waited a whole period before 192.168.2.2 is a defect
rounds_whole() {	# in each tunneld process, from its first use of the relay
	awk '/PSK fingerprint/ { on = 0 }
	/no direct path to edge-2/ && !on { on = 1; a = b = 0 }
	!on { next }
	/"dialing edge-2 at 192\.168\.2\.2:/ { a = 1 }
	/"dialing edge-2 at 100\.64\.0\.2:/ { b = 1 }
	/redialing edge-2 in / && !/ in 0\.0s/ { n++; if (b && !a) bad++; a = b = 0 }
	END { print n " rounds, " bad + 0 " without 192.168.2.2"; exit bad > 0 || n == 0 }' \
		"$E2E_DIR/n1/tunneld.log"
}
ok "... and every round tries both addresses ($(rounds_whole))" rounds_whole
dials=$(grep -c 'dialing edge-2 at' "$E2E_DIR/n1/tunneld.log")
ok "... and the rounds back off: $dials direct dials of edge-2 so far, no storm" test "$dials" -lt 40
in_ns r1 ip route add 192.168.2.0/24 via 100.64.0.2
direct_up() { peer_is 1 edge-2 ' up .*direct'; }
ok "a direct path appears: edge-1 moves to it within a backoff period (peers: direct)" \
	wait_for 35 direct_up
# the relayed session closes once drained: by edge-1's tick ("duplicate
# session drained") or, first, by edge-2's (then the circuit closes under it)
relayed_gone() {
	sed -n '/session up with edge-2 at 192.168.2.2/,$p' "$E2E_DIR/n1/tunneld.log" |
		grep -q "session with edge-2 at cloud-1 closed"
}
ok "... and the relayed session drained and closed" wait_for 20 relayed_gone
ok "streams use the direct session" echo_once 1 9003 "direct now"
in_ns r1 ip route del 192.168.2.0/24 via 100.64.0.2

# --- a wrong PSK at edge-2: no session with the relay, the circuit is refused
e2e_psk "$E2E_DIR/psk2" 'a different PSK'
e2e_kill 2 tunneld
start_tunneld 2 --psk-file "$E2E_DIR/psk2"
tunopen 1 edge-2 10.201.2.10 7000 9002
wait_for 20 log_has 2 "PSK mismatch with cloud-1"
# (a circuit edge-1 tried while cloud-1 still held the old process's
# session with edge-2 fails at the relay another way: the other half gone)
echo x | in_ns n1 timeout 15 socat -t 12 - TCP:127.0.0.1:9002 >/dev/null 2>&1
wait_for 15 grep -q "failed" "$E2E_DIR/tunopen-1-9002.log"
ok "wrong PSK at edge-2: one fingerprint line on edge-2" \
	test "$(grep -c 'PSK mismatch with cloud-1 at 100.64.0.3: ours [0-9a-f]*' "$E2E_DIR/n2/tunneld.log")" = 1
ok "wrong PSK at edge-2: one fingerprint line on cloud-1 (edge-2's NAT address)" \
	test "$(grep -c 'PSK mismatch with edge-2 at 100.64.0.2: ours [0-9a-f]*' "$E2E_DIR/n3/tunneld.log")" = 1
ok "wrong PSK at edge-2: the open on edge-1 fails with the relay's reason" \
	grep -Eq "through relay cloud-1: relay cloud-1: (no session with edge-2|the other half of the circuit is gone)" \
		"$E2E_DIR/tunopen-1-9002.log"
# a dial from the punch port whose 4-tuple is still in TIME_WAIT (the
# direct session just closed) is made again at once from another port: it
# is not what an open fails with
ok "no open failed on a punch-port 4-tuple in TIME_WAIT (redialed from any port)" \
	bash -c "! grep -h 'Cannot assign requested address' '$E2E_DIR'/tunopen-1-*.log"
grep -h "PSK mismatch\|circuit" "$E2E_DIR"/n[123]/tunneld.log | tail -8
cat "$E2E_DIR/tunopen-1-9002.log" | tail -3

e2e_done
