#!/bin/bash
# NAT traversal with no relayNodes anywhere: two edge sites behind
# MASQUERADE NAT routers (site 1 with two nodes on its LAN), two cloud
# nodes with public addresses.  The clouds are dialled by the edges, so
# they are proven reachable and offer relaying; the edges, which nobody
# outside can dial, keep sessions with both and reach each other through
# one; the two nodes of site 1 talk over their LAN.  Killing the relay in
# use: new requests go through the other cloud within 3 s.  The world:
# tests/e2e/nat_lib.sh (drawing there).
#   B=build bash tests/e2e/test_nat.sh
. "$(dirname "$0")/lib.sh"
e2e_init nat
command -v iptables >/dev/null || { echo "SKIP nat: iptables missing"; exit 77; }
. tests/e2e/tunnel_lib.sh
. tests/e2e/nat_lib.sh
nat_topology
# edge-2's NAT maps each connection to its own port (symmetric): the two
# sites stay relayed for the relay checks below (through two MASQUERADE
# NATs the pair punches a direct path: test_punch.sh, test_mesh_nat.sh)
in_ns r2 iptables -t nat -R POSTROUTING 1 -o wan0 -j MASQUERADE --random-fully
nat_start

peer_is() {	# i node regex : edgemeshctl peers on node i
	e2e_ctl "$1" peers 2>/dev/null | grep "^$2 " | grep -q -- "$3"
}
get() {	# pod url -> body
	in_ns "$1" curl -s -m 3 "$2"
}
answers() { [ "$(get "$1" "$2")" = "$3" ]; }

# --- the topology: the edges reach the clouds, not each other
ok "edge-1 cannot connect to edge-2 (another site, behind NAT)" \
	bash -c "! ip netns exec $(ns n1) timeout 3 bash -c 'exec 3<>/dev/tcp/192.168.2.2/20006' 2>/dev/null"
ok "cloud-1 cannot connect to edge-1 (behind NAT)" \
	bash -c "! ip netns exec $(ns n3) timeout 3 bash -c 'exec 3<>/dev/tcp/192.168.1.2/20006' 2>/dev/null"

# --- relays found, not configured
ok "cloud-1 is proven reachable by an edge and offers relaying" \
	wait_for 20 log_has 3 "reachable: edge-[123] dialled us from 100.64.0.[12]: offering relaying"
ok "cloud-2 too" wait_for 20 log_has 4 "reachable: edge-[123] dialled us from 100.64.0.[12]: offering relaying"
two_relays() { peer_is "$1" cloud-1 ' up .*direct' && peer_is "$1" cloud-2 ' up .*direct'; }
for i in 1 2 5; do
	ok "$(name_of $i) keeps sessions with both clouds (no relayNodes)" wait_for 20 two_relays $i
done
ok "edge-1 knows it needs relays and names them by RTT" \
	wait_for 10 log_has 1 "not reachable from outside our subnets: relays cloud-[12] (.*ms), cloud-[12] (.*ms)"
ok "the edges never offer relaying (nobody outside their site dialled them)" \
	bash -c "! grep -q 'offering relaying' $E2E_DIR/n1/tunneld.log $E2E_DIR/n2/tunneld.log $E2E_DIR/n5/tunneld.log"
ok "a relay tells edge-2 the address it sees it at (its NAT's)" \
	wait_for 10 log_has 2 "cloud-[12] sees us at 100.64.0.2:"
ok "edge-1 learns edge-2's address as the relays see it (a dial candidate)" \
	wait_for 10 log_has 1 "learned address 100.64.0.2 of edge-2"

# --- Service traffic between the sites: relayed
T0=$(date +%s.%N)
wait_for 20 answers p1 http://10.96.12.2/ pod-edge-2
T1=$(date +%s.%N)
ok "curl from edge-1's pod to a ClusterIP served on edge-2 (other site)" answers p1 http://10.96.12.2/ pod-edge-2
awk -v a="$T0" -v b="$T1" 'BEGIN { printf "time to the first answer through a relay (cold, from edge-1'\''s pod): %.3f s\n", b - a }'
ok "edgemeshctl peers on edge-1: edge-2 relayed via a cloud" peer_is 1 edge-2 ' up .*relayed via cloud-[12]'
json_path() {	# i node -> "path via"
	e2e_ctl "$1" peers -o json | python3 -c 'import json, sys
for r in json.load(sys.stdin)["peers"]:
    if r["name"] == sys.argv[1]: print(r["path"], r["via"] or "-")' "$2"
}
ok "peers -o json: edge-2 path relayed, via the relay node" \
	bash -c "[[ '$(json_path 1 edge-2)' =~ ^relayed\ cloud-[12]$ ]]"
ok "curl from edge-2's pod to a ClusterIP served on edge-1 (the other way)" \
	wait_for 20 answers p2 http://10.96.12.1/ pod-edge-1
ok "edgemeshctl peers on edge-2: edge-1 relayed via a cloud" peer_is 2 edge-1 ' up .*relayed via cloud-[12]'
e2e_ctl 1 peers

# --- the same site: over the LAN, never through a relay
ok "curl from edge-1's pod to a ClusterIP served on edge-3 (same site)" \
	wait_for 20 answers p1 http://10.96.12.5/ pod-edge-3
ok "edgemeshctl peers on edge-1: edge-3 direct at its LAN address" \
	peer_is 1 edge-3 '192.168.1.3:20006 .* up .*direct'
ok "peers -o json: edge-3 path direct, via none" test "$(json_path 1 edge-3)" = "direct -"
ok "edge-1 never went through a relay to edge-3" \
	bash -c "! grep -q 'session up with edge-3 at cloud\|no direct path to edge-3\|dialing edge-3 at 10.99' $E2E_DIR/n1/tunneld.log"

# --- the relay in use dies: new requests go through the other within 3 s.
# First its host goes silent (SIGSTOP: no FIN, no RST, sockets left open),
# then, back, the relay used after that is killed (its sockets close).
relay_in_use() {
	e2e_ctl 1 peers | grep '^edge-2 ' | grep -o 'relayed via cloud-[12]' | grep -o 'cloud-[12]'
}
failover() {	# signal : the relay in use gets it under a request loop
	local via vi other K late_fail late_ok first LOOP
	via=$(relay_in_use)
	case $via in cloud-1) vi=3; other=cloud-2 ;; cloud-2) vi=4; other=cloud-1 ;;
	*) fail "a relay in use ($1)"; return ;; esac
	# 60 requests, one every 0.1 s (each at most 2 s): "start-time ok|fail"
	in_ns p1 bash -c 'for n in $(seq 60); do
		s=$(date +%s.%N)
		if [ "$(curl -s -m 2 http://10.96.12.2/)" = pod-edge-2 ]; then r=ok; else r=fail; fi
		echo "$s $r"; sleep 0.1
	done' > "$E2E_DIR/loop.log" 2>&1 &
	LOOP=$!
	sleep 1.5
	K=$(date +%s.%N)
	if [ "$1" = STOP ]; then kill -STOP "$(cat "$E2E_DIR/n$vi/tunneld.pid")"; else e2e_kill $vi tunneld "$1"; fi
	wait $LOOP
	late_fail=$(awk -v k="$K" '$1 >= k + 3 && $2 != "ok"' "$E2E_DIR/loop.log" | wc -l)
	late_ok=$(awk -v k="$K" '$1 >= k + 3 && $2 == "ok"' "$E2E_DIR/loop.log" | wc -l)
	first=$(awk -v k="$K" '$1 >= k && $2 == "ok" { printf "%.2f", $1 - k; exit }' "$E2E_DIR/loop.log")
	echo "relay $via got SIG$1: requests $(wc -l < "$E2E_DIR/loop.log"), failed $(grep -c fail "$E2E_DIR/loop.log"), first answer after it at +${first:-none} s"
	ok "relay $via got SIG$1: no request started 3 s after it fails ($late_fail failed, $late_ok ok)" \
		test "$late_fail" -eq 0 -a "$late_ok" -gt 10
	ok "edge-1 now reaches edge-2 relayed via $other" peer_is 1 edge-2 " up .*relayed via $other"
	[ "$1" = STOP ] && kill -CONT "$(cat "$E2E_DIR/n$vi/tunneld.pid")"
}
failover STOP
ok "edge-1 says why it left the silent relay" log_has 1 "no answer through relay cloud-[12] within 1s"
sleep 1
failover KILL

# --- relayNodes is a hint, reloaded when the file changes
cat >>"$E2E_DIR/n1/edgemesh.yaml" <<'CFG'
    relayNodes:
    - nodeName: cloud-2
      advertiseAddress: [100.64.0.4]
CFG
ok "relayNodes edited: tunneld reloads it without a restart" \
	wait_for 10 log_has 1 "relayNodes now: cloud-2"
ok "... and so does the controller (the peers' relay flags)" \
	wait_for 10 grep -q "relayNodes: 1 node(s)" "$E2E_DIR/n1/controller.log"
echo "  relayNodes: [" >>"$E2E_DIR/n1/edgemesh.yaml"
ok "a broken edit is reported with its place and the running config stays" \
	wait_for 10 log_has 1 "does not load, keeping the running one: $E2E_DIR/n1/edgemesh.yaml:[0-9]*:[0-9]*"
ok "tunneld lives on and still serves" answers p1 http://10.96.12.5/ pod-edge-3

e2e_done
