#!/bin/bash
# Issue 12 in one world: the pieces of test_nat.sh (relays found, not
# configured; failover), test_punch.sh (hole punching, path migration) and
# test_ws.sh (the tunnel in WebSocket through an HTTP CONNECT proxy) at once,
# with no relayNodes anywhere.
#   - Service traffic (curl from a pod on its node's bridge to a ClusterIP)
#     and ssh by node name through socksd between every pair of edges;
#   - edge-1 and edge-2 (endpoint-independent NATs) punch a direct path,
#     shown in edgemeshctl peers and used;
#   - edge-6 (symmetric NAT) stays relayed, bounded punch attempts;
#   - edge-7 reaches nothing but an HTTP proxy that allows CONNECT to 443:
#     transport ws, every path relayed through a cloud reached in WebSocket;
#   - the relay in use between edge-1 and edge-6 killed under request
#     loops (edge-1 -> edge-6, edge-7 -> edge-1): no request started 3 s
#     after it fails.
#   B=build bash tests/e2e/test_mesh_nat.sh
#
#   n1 edge-1 192.168.1.2 -- r1 MASQUERADE                 | 100.64.0.1 --+
#   n2 edge-2 192.168.2.2 -- r2 MASQUERADE                 | 100.64.0.2 --+
#   n6 edge-6 192.168.6.2 -- r6 MASQUERADE --random-fully  | 100.64.0.6 --+-- wan br0
#   n7 edge-7 192.168.7.2 -- r7 forwards nothing; proxy    | 100.64.0.7 --+
#                            192.168.7.1:3128 (CONNECT to 443 only)       |
#   n3 cloud-1 100.64.0.3 ------------------------------------------------+
#   n4 cloud-2 100.64.0.4 ------------------------------------------------+
#   pods pI 10.201.I.10 on nI's bridge cni0 serve "pod-<node>" on 9376,
#   ClusterIP 10.96.13.I port 80; sshd on each edge's node address.
#   Routers drop unsolicited SYNs to themselves and, silently, what goes to
#   another site's LAN (punch_lib.sh).
. "$(dirname "$0")/lib.sh"
e2e_init mesh_nat
for t in iptables curl ssh nc python3; do
	command -v $t >/dev/null || { echo "SKIP mesh_nat: $t missing"; exit 77; }
done
[ -x /usr/sbin/sshd ] || { echo "SKIP mesh_nat: sshd missing"; exit 77; }
. tests/e2e/tunnel_lib.sh
. tests/e2e/punch_lib.sh
. tests/e2e/nat_lib.sh # pod()
. tests/e2e/sshd_lib.sh

EDGES="1 2 6 7"
name_of() { case $1 in 3) echo cloud-1 ;; 4) echo cloud-2 ;; *) echo "edge-$1" ;; esac; }
addr_of() { case $1 in 3 | 4) echo "100.64.0.$1" ;; *) echo "192.168.$1.2" ;; esac; }

# --- the world
punch_wan
punch_public 3
punch_public 4
punch_natted 1
punch_natted 2
punch_natted 6 --random-fully
punch_natted 7
for i in 1 2 6 7; do in_ns r$i ip route add blackhole 192.168.0.0/16; done
in_ns r7 ip route del blackhole 192.168.0.0/16 # the proxy's failures are quick
in_ns r7 iptables -P FORWARD DROP              # edge-7's site: nothing out but the proxy
for i in $EDGES; do
	punch_ns p$i
	pod $i
done
mkdir -p "$E2E_DIR/registry"
for i in 1 2 3 4 6 7; do
	cat <<YAML
---
apiVersion: v1
kind: Node
metadata: {name: $(name_of $i)}
spec: {podCIDR: 10.201.$i.0/24}
status:
  addresses: [{type: InternalIP, address: $(addr_of $i)}]
YAML
done > "$E2E_DIR/registry/nodes.yaml"
for i in $EDGES; do
	cat <<YAML
---
apiVersion: v1
kind: Service
metadata: {name: mesh-edge$i, namespace: default}
spec:
  clusterIP: 10.96.13.$i
  ports: [{name: http, port: 80, protocol: TCP, targetPort: 9376}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: mesh-edge$i, namespace: default}
subsets:
- addresses: [{ip: 10.201.$i.10, nodeName: edge-$i}]
  ports: [{name: http, port: 9376, protocol: TCP}]
YAML
done > "$E2E_DIR/registry/services.yaml"

# --- configs: no relayNodes; edge-7 dials in WebSocket, the others serve it on 443
for i in 1 2 3 4 6 7; do
	if [ "$i" = 7 ]; then echo "    transport: ws"; else echo "    wsPort: 443"; fi |
		e2e_config "$i" >/dev/null
	sed -i "s/nodeName: .*/nodeName: $(name_of $i)/" "$E2E_DIR/n$i/edgemesh.yaml"
	e2e_daemon "$i" controller
done
bg r7 python3 tests/tools/connect_proxy.py 192.168.7.1 3128 443
for i in $EDGES; do
	bg p$i python3 tests/tools/serve_hostname.py --name "pod-edge-$i" --bind 10.201.$i.10 --http 9376
done
# an sshd on each edge's node address (port 22: allowedNodePorts), one key pair
e2e_sshd n1 192.168.1.2
for i in 2 6 7; do
	sed "s/^ListenAddress .*/ListenAddress 192.168.$i.2/; s/^PidFile .*/PidFile \/dev\/null/" \
		"$K/sshd_config" > "$K/sshd_config.$i"
	in_ns n$i /usr/sbin/sshd -D -e -f "$K/sshd_config.$i" 2>>"$E2E_DIR/sshd.log" &
	E2E_PIDS="$E2E_PIDS $!"
done
sleep 0.5
for i in 3 4 1 2 6; do start_tunneld $i; done
HTTPS_PROXY=http://192.168.7.1:3128 start_tunneld 7
for i in $EDGES; do e2e_daemon $i proxyd; done
socks_up() { in_ns n$1 ss -lnt | grep -q 169.254.96.16:10800; }
for i in $EDGES; do
	wait_for 10 in_ns n$i ip -o addr show edgemesh0 || fail "proxyd on edge-$i made edgemesh0"
	e2e_daemon $i socksd
done
for i in $EDGES; do
	wait_for 10 listening p$i 9376 || fail "pod server on p$i up"
	wait_for 10 listening n$i 22 || fail "sshd on edge-$i up"
	wait_for 10 socks_up $i || fail "socksd on edge-$i up"
done
T0=$(date +%s.%N)

peer_is() { # i node regex : edgemeshctl peers on node i
	e2e_ctl "$1" peers 2>/dev/null | grep "^$2 " | grep -q -- "$3"
}
not() { ! "$@"; }

# --- the world is what it says
ok "edge-7 cannot connect to cloud-1's tunnel port (firewall)" \
	bash -c "! ip netns exec $(ns n7) timeout 2 bash -c 'exec 3<>/dev/tcp/100.64.0.3/20006' 2>/dev/null"
ok "edge-7 cannot connect to cloud-1's port 443 but through the proxy" \
	bash -c "! ip netns exec $(ns n7) timeout 2 bash -c 'exec 3<>/dev/tcp/100.64.0.3/443' 2>/dev/null"
ok "cloud-1 cannot connect to edge-1 (behind NAT)" \
	bash -c "! ip netns exec $(ns n3) timeout 2 bash -c 'exec 3<>/dev/tcp/192.168.1.2/20006' 2>/dev/null"

# --- relays found, not configured
for i in 3 4; do
	ok "$(name_of $i) is proven reachable by an edge and offers relaying" \
		wait_for 20 log_has $i "reachable: edge-[1267] dialled us from 100.64.0.[1267]: offering relaying"
done
two_relays() { peer_is "$1" cloud-1 ' up ' && peer_is "$1" cloud-2 ' up '; }
for i in $EDGES; do
	ok "edge-$i keeps sessions with both clouds (no relayNodes)" wait_for 20 two_relays $i
done
both_ws() { peer_is 7 cloud-1 '100.64.0.3:443 .* up .*ws' && peer_is 7 cloud-2 '100.64.0.4:443 .* up .*ws'; }
ok "edge-7 holds them in WebSocket through the proxy" both_ws
ok "the proxy carried them: CONNECT 100.64.0.3:443 200" grep -q "CONNECT 100.64.0.3:443 200" "$E2E_DIR/bg.log"
ok "no edge offers relaying" \
	bash -c "! grep -q 'offering relaying' $E2E_DIR/n[1267]/tunneld.log"

# --- Service traffic between every pair of edges
answers() { [ "$(in_ns "p$1" curl -s -m 3 "http://10.96.13.$2/")" = "pod-edge-$2" ]; }
for i in $EDGES; do
	for j in $EDGES; do
		[ "$i" = "$j" ] && continue
		ok "curl from edge-$i's pod to the ClusterIP of edge-$j's pod" wait_for 25 answers $i $j
	done
done
echo "every pair answered $(echo "$(date +%s.%N) - $T0" | bc -l | xargs printf '%.1f') s after start"
e2e_ctl 1 peers
e2e_ctl 7 peers

# --- ssh by node name between every pair of edges, through socksd and the tunnel
PROXY='ProxyCommand=nc -X 5 -x 169.254.96.16:10800 %h %p'
ssh_lands() { # i j
	[ "$(in_ns n$1 timeout 20 $SSH -o "$PROXY" root@edge-$2 'ip -4 -o addr show dev eth0' \
		2>>"$E2E_DIR/ssh.err" | awk '{print $4}')" = "192.168.$2.2/24" ]
}
for i in $EDGES; do
	for j in $EDGES; do
		[ "$i" = "$j" ] && continue
		ok "ssh root@edge-$j from edge-$i through socksd lands on edge-$j" ssh_lands $i $j
	done
done

# --- edge-1 and edge-2 (endpoint-independent NATs): a punched path, used
ok "edgemeshctl peers on edge-1: edge-2 up, punched (at edge-2's NAT address)" \
	wait_for 20 peer_is 1 edge-2 '100.64.0.2:[0-9]* .* up .*punched'
ok "edgemeshctl peers on edge-2: edge-1 up, punched" peer_is 2 edge-1 '100.64.0.1:[0-9]* .* up .*punched'
ok "edge-1 logs the hole punched" log_has 1 "hole punched: session with edge-2 is direct now, at 100.64.0.2:"
ok "... its session moved from the relay to the punched path" \
	log_has 1 "session with edge-2 moved from relay cloud-[12] to 100.64.0.2:[0-9]* (streams kept: [0-9]*)"
ok "... and the punch left from the port the relays see (one port for both)" \
	bash -c "[ \$(grep -o 'relay cloud-[12] sees our session with it coming from .*' $E2E_DIR/n1/tunneld.log | sed 's/.*://' | sort -u | wc -l) = 1 ]"
tx() { e2e_ctl 1 peers -o json | python3 -c 'import json, sys
for r in json.load(sys.stdin)["peers"]:
    if r["name"] == "edge-2": print(r["path"], r["tx_bytes"])'; }
before=$(tx)
head -c 1048576 /dev/urandom > "$E2E_DIR/blob"
SUM=$(sha256sum < "$E2E_DIR/blob" | cut -c1-64)
R=$(in_ns n1 timeout 20 $SSH -o "$PROXY" root@edge-2 'sha256sum | cut -c1-64' < "$E2E_DIR/blob" 2>>"$E2E_DIR/ssh.err")
ok "1 MiB edge-1 -> edge-2 over ssh by name, checksum matches" test "$R" = "$SUM"
after=$(tx)
echo "edge-1 -> edge-2 session: before '$before', after '$after'"
ok "... carried by the punched session (path punched, its TX grew by 1 MiB or more)" \
	test "${after%% *}" = punched -a "${before%% *}" = punched -a \
	"$(( ${after##* } - ${before##* } ))" -ge 1048576
ok "... and the answer from edge-2's pod still comes" answers 1 2

# --- edge-6 (symmetric NAT): stays relayed, bounded attempts
ok "edge-6 sees its NAT is symmetric" log_has 6 "relays see us at different ports"
ok "edgemeshctl peers on edge-1: edge-6 relayed via a cloud" peer_is 1 edge-6 ' up .*relayed via cloud-[12]'
ok "edgemeshctl peers on edge-6: edge-2 relayed via a cloud" peer_is 6 edge-2 ' up .*relayed via cloud-[12]'
ok "edgemeshctl peers on edge-1: edge-7 relayed (edge-7 reaches only the proxy)" \
	peer_is 1 edge-7 ' up .*relayed via cloud-[12]'
ok "edge-7 claims no symmetric NAT (its relays see its proxy's connections, in WebSocket)" \
	not log_has 7 "relays see us at different ports"
ok "edge-1 and edge-2 claim none either (one punch port for every relay)" \
	bash -c "! grep -q 'relays see us at different ports' $E2E_DIR/n[12]/tunneld.log"
ok "no punched path with edge-6 anywhere" bash -c "! grep -q 'hole punched: session with edge-6' $E2E_DIR/n*/tunneld.log"
rounds() { cat "$E2E_DIR"/n[127]/tunneld.log | grep -c "hole punching with edge-6: round [0-9] of"; }
ok "punch rounds with edge-6 bounded (one per relayed session so far: $(rounds))" test "$(rounds)" -le 3

# --- the relay in use between edge-1 and edge-6 dies under a request loop
relay_in_use() { e2e_ctl 1 peers | grep '^edge-6 ' | grep -o 'relayed via cloud-[12]' | grep -o 'cloud-[12]'; }
via=$(relay_in_use)
case $via in cloud-1) vi=3 other=cloud-2 ;; cloud-2) vi=4 other=cloud-1 ;; *) vi='' other='' ;; esac
ok "edge-1 reaches edge-6 through a relay (${via:-none})" test -n "$vi"
relay7() { e2e_ctl 7 peers | grep "^edge-$1 " | grep -o 'relayed via cloud-[12]' | grep -o 'cloud-[12]'; }
# edge-7's loop: to a pair relayed through the same relay if there is one
j7=1
for j in 1 2 6; do [ "$(relay7 $j)" = "$via" ] && { j7=$j; break; }; done
via7=$(relay7 $j7)
# from edge-1's pod to edge-6's and from edge-7's pod (in WebSocket) to
# edge-j7's: 70 requests each, one every 0.1 s (each at most 2 s): "start-time ok|fail"
loop() { # pod clusterip body log
	in_ns "$1" bash -c 'for n in $(seq 70); do
		s=$(date +%s.%N)
		if [ "$(curl -s -m 2 http://'"$2"'/)" = '"$3"' ]; then r=ok; else r=fail; fi
		echo "$s $r"; sleep 0.1
	done' > "$E2E_DIR/$4" 2>&1
}
loop p1 10.96.13.6 pod-edge-6 loop.log &
LOOP=$!
loop p7 10.96.13.$j7 pod-edge-$j7 loop7.log &
LOOP7=$!
sleep 1.5
K=$(date +%s.%N)
e2e_kill "${vi:-3}" tunneld KILL
wait $LOOP $LOOP7
for l in loop loop7; do
	late_fail=$(awk -v k="$K" '$1 >= k + 3 && $2 != "ok"' "$E2E_DIR/$l.log" | wc -l)
	late_ok=$(awk -v k="$K" '$1 >= k + 3 && $2 == "ok"' "$E2E_DIR/$l.log" | wc -l)
	first=$(awk -v k="$K" '$1 >= k && $2 == "ok" { printf "%.2f", $1 - k; exit }' "$E2E_DIR/$l.log")
	case $l in loop) what="edge-1 -> edge-6 (through $via)" ;; *) what="edge-7 -> edge-$j7 (through ${via7:-none})" ;; esac
	echo "relay $via killed, $what: requests $(wc -l < "$E2E_DIR/$l.log"), failed $(grep -c fail "$E2E_DIR/$l.log"), first answer after it at +${first:-none} s"
	ok "$what: no request started 3 s after the kill fails ($late_fail failed, $late_ok ok)" \
		test "$late_fail" -eq 0 -a "$late_ok" -gt 10
done
ok "edge-1 now reaches edge-6 relayed via $other" peer_is 1 edge-6 " up .*relayed via $other"
ok "edgemeshctl peers on edge-7: edge-$j7 relayed via $other" peer_is 7 edge-$j7 " up .*relayed via $other"
ok "the punched edge-1/edge-2 path did not care" peer_is 1 edge-2 ' up .*punched'
echo "whole test: $(echo "$(date +%s.%N) - $T0" | bc -l | xargs printf '%.1f') s after the daemons started"

e2e_done
