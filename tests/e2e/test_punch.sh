#!/bin/bash
# Hole punching and session path migration (tunneld/tun_punch.c,
# tun_migrate.c): the topology of test_tunnel_relay.sh, two edges behind
# separate NAT routers, cloud-1 the relay, plus node-4, a second relay.
#   1. MASQUERADE (endpoint-independent): the relayed edge-1/edge-2 session
#      punches a direct TCP path and moves onto it while a stream runs; the
#      stream's bytes (both ways, sha256) arrive intact; peers shows
#      `punched`; the relay's circuit closes.
#   2. MASQUERADE --random-fully at edge-2's router (a port per connection):
#      edge-2's two relays see it at two ports (symmetric NAT), the punch is
#      called off (or fails), the pair stays relayed, one round only in the
#      window (backoff), one warning, traffic works.
#   3. cloud-1 dies under a paced stream on that relayed session: the
#      session moves to node-4's circuit, the stream goes on intact.
#   B=build bash tests/e2e/test_punch.sh
#
#   n1 edge-1 192.168.1.2 -- r1 192.168.1.1 | 100.64.0.1 --+
#   n2 edge-2 192.168.2.2 -- r2 192.168.2.1 | 100.64.0.2 --+-- wan br0
#   n3 cloud-1 100.64.0.3 ---------------------------------+
#   n4 node-4  100.64.0.4 ---------------------------------+
#   p2 (edge-2's pod) 10.201.2.10 -- n2 10.201.2.1 (cni0)
. "$(dirname "$0")/lib.sh"
e2e_init punch
command -v iptables >/dev/null || { echo "SKIP punch: iptables missing"; exit 77; }

. tests/e2e/punch_lib.sh
punch_wan
punch_public 3
punch_public 4
punch_natted 1
punch_natted 2
punch_pod 2
e2e_registry tests/fixtures/punch

. tests/e2e/tunnel_lib.sh
peer_is() {	# i node regex : edgemeshctl peers on node i
	e2e_ctl "$1" peers 2>/dev/null | grep "^$2 " | grep -q -- "$3"
}
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l | xargs printf '%.3f'; }

for i in 1 2 3 4; do
	e2e_config "$i" >/dev/null <<CFG
    relayNodes:
    - nodeName: cloud-1
      advertiseAddress: [100.64.0.3]
    - nodeName: node-4
      advertiseAddress: [100.64.0.4]
CFG
	e2e_daemon "$i" controller
done
sleep 0.5
start_tunneld 3
start_tunneld 4
start_tunneld 1
start_tunneld 2
bg p2 socat TCP-LISTEN:7000,reuseaddr,fork EXEC:cat
wait_for 10 listening p2 7000
both_up() { peer_is 3 edge-1 ' up ' && peer_is 3 edge-2 ' up ' &&
	peer_is 4 edge-1 ' up ' && peer_is 4 edge-2 ' up '; }
ok "both edges keep a session with both relays" wait_for 20 both_up
ok "cloud-1 tells edge-1 where it sees it (its NAT's address)" \
	wait_for 10 log_has 1 "relay cloud-1 sees our session with it coming from 100.64.0.1:"
seen_port() {	# i relay
	grep "relay $2 sees our session" "$E2E_DIR/n$1/tunneld.log" | tail -1 | sed 's/.*://; s/"//'
}
ok "... and node-4 sees it at the same port (one port for relays, MASQUERADE keeps it)" \
	wait_for 10 bash -c "[ -n \"\$(grep 'relay node-4 sees' $E2E_DIR/n1/tunneld.log)\" ]"
ok "... the same port: $(seen_port 1 cloud-1) and $(seen_port 1 node-4)" \
	test "$(seen_port 1 cloud-1)" = "$(seen_port 1 node-4)"
ok "no symmetric NAT claimed behind MASQUERADE" bash -c "! grep -q symmetric $E2E_DIR/n[12]/tunneld.log"
sleep 1
base3=$(fds 3); base4=$(fds 4)

# --- 1. MASQUERADE: a stream running while the session goes from relayed to punched
tunopen 1 edge-2 10.201.2.10 7000 9000
# 6 MiB through the echo server, 96 KiB every 0.1 s (about 6 s): the
# session comes up relayed with this stream on it and punches under it
gen() { for _ in $(seq 64); do head -c 98304 /dev/urandom; sleep 0.1; done; }
t0=$(now)
( gen | tee >(sha256sum > "$E2E_DIR/sent.sum") |
	in_ns n1 timeout 60 socat -t 30 - TCP:127.0.0.1:9000 | sha256sum > "$E2E_DIR/back.sum" ) &
STREAM=$!
ok "the session comes up through the relay first" \
	wait_for 20 log_has 1 "session up with edge-2 at [a-z0-9-]* (we dialed, through the relay)"
# which relay: the nearer by RTT (tun_relaysel.c), cloud-1 (n3) or node-4 (n4)
R1=$(grep -o "session up with edge-2 at [a-z0-9-]* (we dialed, through the relay)" \
	"$E2E_DIR/n1/tunneld.log" | head -1 | awk '{print $6}')
case "$R1" in node-4) RI=4 RBASE=$base4 ;; *) RI=3 RBASE=$base3 ;; esac
ok "edge-1 offers a punch round with the address the relay saw" \
	wait_for 10 log_has 1 "hole punching with edge-2: round 1 of 4, we are at 100.64.0.1:"
ok "edge-2 answers and connects too" wait_for 10 log_has 2 "hole punching with edge-1: connecting from port"
punched_up() { peer_is 1 edge-2 ' up .*punched'; }
ok "edgemeshctl peers on edge-1: edge-2 up, path punched (NAT address, not the relay)" \
	wait_for 20 punched_up
e2e_ctl 1 peers
ping_punched() { e2e_ctl 1 ping edge-2 2>/dev/null | grep -q punched; }
ok "edgemeshctl ping edge-2 names the path punched" ping_punched
ok "edge-2 sees edge-1 punched too, at edge-1's NAT address" \
	peer_is 2 edge-1 '100.64.0.1:.* up .*punched'
ok "edge-1 logs the move from the relay with the stream on it" \
	log_has 1 "session with edge-2 moved from relay $R1 to 100.64.0.2:[0-9]* (streams kept: 1)"
wait "$STREAM"
ok "the stream ran across the move: every byte back once, in order (sha256)" \
	test -s "$E2E_DIR/sent.sum" -a "$(cut -d' ' -f1 "$E2E_DIR/sent.sum")" = "$(cut -d' ' -f1 "$E2E_DIR/back.sum")"
echo "sent $(cut -c1-16 "$E2E_DIR/sent.sum"), back $(cut -c1-16 "$E2E_DIR/back.sum"), $(since "$t0") s"
circ_gone() { [ "$(fds $RI)" -le "$RBASE" ]; }
ok "the relay's circuit closed ($R1's fds back to $RBASE)" wait_for 15 circ_gone
ok "... and the relay logged it going" log_has $RI "circuit edge-1 -> edge-2: up"
t1=$(now); echo_once 1 9000 "punched"; dp=$(since "$t1")
ok "a new stream on the punched session" echo_once 1 9000 "punched again"
ok "no MIGRATE trouble, no record failed authentication" \
	bash -c "! grep -q 'MIGRATE for\|moving to .* failed\|failed authentication' $E2E_DIR/n[12]/tunneld.log"
ok "one session with edge-2 all along on edge-1 (no new handshake)" \
	test "$(grep -c 'session up with edge-2' "$E2E_DIR/n1/tunneld.log")" = 1

# --- 2. edge-2 behind a symmetric NAT: stays relayed, bounded attempts
# (fresh sessions through the new NAT: kill -9, since a SIGTERM now hands
# the sessions to the next tunneld, tunneld/ARCHITECTURE.md Hand-over)
e2e_kill 1 tunneld KILL; e2e_kill 2 tunneld KILL
in_ns r2 iptables -t nat -R POSTROUTING 1 -o wan0 -j MASQUERADE --random-fully
start_tunneld 1
start_tunneld 2
ok "both edges back with the relay" wait_for 20 both_up
tunopen 1 edge-2 10.201.2.10 7000 9001
t2=$(now)
ok "edge-2 sees its NAT is symmetric (its relays see it at two ports)" \
	wait_for 10 log_has 2 "relays see us at different ports"
ok "through the relay with edge-2's NAT symmetric" wait_for 30 echo_once 1 9001 "symmetric"
dr=$(since "$t2")
t3=$(now); echo_once 1 9001 "relayed"; dr2=$(since "$t3")
rounds() { grep -c "hole punching with edge-2: round [0-9] of" "$E2E_DIR/n1/tunneld.log"; }
sleep 1
ok "edge-1 tried one round" wait_for 10 log_has 1 "hole punching with edge-2: round 1 of 4"
r0=$(rounds)	# both phases: 1 + 1
failed() { grep -c "hole punching with edge-2 failed" "$E2E_DIR/n1/tunneld.log"; }
said_failed() { [ "$(failed)" -ge 1 ]; }	# for wait_for: counted at each try
ok "the round fails and edge-1 says so once" wait_for 15 said_failed
sleep 8
ok "it stays relayed (peers: relay)" peer_is 1 edge-2 ' up .*relay'
ok "no retry storm: no second round within 8 s (backoff 30 s), one warning" \
	test "$(rounds)" = "$r0" -a "$(failed)" = 1
ok "traffic still works through the relay" echo_once 1 9001 "still relayed"

# --- 3. the relay in use dies under a bulk stream: the session moves to
# the other relay; the records in flight with the dead one are written
# again from the sender's ring, the stream goes on intact
via() { e2e_ctl 1 peers 2>/dev/null | grep "^edge-2 " | awk '{print $2}'; }
# the relay is the nearer of the two (RTT), so which one is not fixed
USED=$(via)
case "$USED" in cloud-1) UI=3 OTHER=node-4 ;; node-4) UI=4 OTHER=cloud-1 ;; *) UI= OTHER= ;; esac
ok "the relayed session runs through one of the relays (${USED:-none})" test -n "$UI"
bulk() { head -c 134217728 /dev/urandom; }
flowing() {	# edge-1 has sent 8 MiB or more to edge-2 (peers TX)
	local v; v=$(e2e_ctl 1 peers 2>/dev/null | awk '$1 == "edge-2" {print $(NF-3)}')	# TX (PATH may be words; CIPHER last)
	[[ $v == *MiB ]] && [ "${v%%.*}" -ge 8 ]
}
( bulk | tee >(sha256sum > "$E2E_DIR/sent3.sum") |
	in_ns n1 timeout 60 socat -t 30 - TCP:127.0.0.1:9001 | sha256sum > "$E2E_DIR/back3.sum" ) &
STREAM=$!
wait_for 20 flowing	# 128 MiB each way: killed while it flows
e2e_kill "${UI:-3}" tunneld KILL
ok "edge-1 moves the session to relay $OTHER" \
	wait_for 10 log_has 1 "session with edge-2 moved from relay $USED to relay $OTHER (streams kept: 1)"
ok "edge-2 too" wait_for 10 log_has 2 "session with edge-1 moved from relay $USED to relay $OTHER"
ok "peers on edge-1: edge-2 up, relay, via $OTHER" test "$(via)" = "$OTHER"
wait "$STREAM"
ok "records in flight with the dead relay were written again" \
	bash -c "grep -h 'records the peer missed are sent again' $E2E_DIR/n[12]/tunneld.log"
ok "the stream went on across the relay's death (sha256 both ways)" \
	test -s "$E2E_DIR/sent3.sum" -a "$(cut -d' ' -f1 "$E2E_DIR/sent3.sum")" = "$(cut -d' ' -f1 "$E2E_DIR/back3.sum")"
ok "one session all along (no new handshake with edge-2 on edge-1)" \
	test "$(grep -c 'session up with edge-2' "$E2E_DIR/n1/tunneld.log")" = 2
ok "a new stream after the move" echo_once 1 9001 "via node-4"
grep -h "hole punch\|moved from\|sees our session\|is gone" "$E2E_DIR"/n[12]/tunneld.log | cut -c1-160 | tail -14
echo "time to first answer: through the relay (session set up on demand) ${dr}s;" \
	"relayed session, a new stream ${dr2}s; punched session, a new stream ${dp}s"

e2e_done
