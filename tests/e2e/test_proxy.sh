#!/bin/bash
# proxyd end to end: edgemesh0 (with fallback), nft rules, TCP and UDP to
# ClusterIPs from the host and from a pod, LB policies, endpoint churn,
# remote endpoints through tunneld, --cleanup, privileges.
. tests/e2e/lib.sh
. tests/e2e/proxy/registry.sh
. tests/e2e/proxy/udp.sh
e2e_init proxy
e2e_topology 2
e2e_registry tests/fixtures/registry
rm -f "$E2E_DIR"/registry/hostname*.yaml "$E2E_DIR"/registry/tcp-echo.yaml
proxy_registry "$E2E_DIR/registry"
for i in 1 2; do
	e2e_config $i </dev/null >/dev/null
	# a node has a default route: ClusterIPs must route for OUTPUT nat to see them
	in_ns n$i ip route add default dev eth0
done
SRV=tests/e2e/proxy/servers.py
for ip in 10.201.1.10 10.201.1.11 10.201.1.12; do
	in_ns p1 python3 $SRV http $ip 9376 "pod-$ip" & E2E_PIDS="$E2E_PIDS $!"
	in_ns p1 python3 $SRV udp $ip 9377 "pod-$ip" & E2E_PIDS="$E2E_PIDS $!"
done
in_ns p2 python3 $SRV http 10.201.2.10 9376 "remote-pod" & E2E_PIDS="$E2E_PIDS $!"
in_ns p2 python3 $SRV udp 10.201.2.10 9377 "remote-pod" & E2E_PIDS="$E2E_PIDS $!"
in_ns p1 python3 $SRV udp 10.201.1.20 53 "dns-local" & E2E_PIDS="$E2E_PIDS $!"
in_ns p2 python3 $SRV udp 10.201.2.10 53 "dns-remote" & E2E_PIDS="$E2E_PIDS $!"
for ip in 10.201.1.10 10.201.1.11 10.201.1.12 10.201.2.10; do
	wait_for 20 in_ns p${ip:7:1} curl -s -m 1 http://$ip:9376/ || fail "server $ip up"
done
for i in 1 2; do e2e_daemon $i controller; e2e_daemon $i tunneld; done
e2e_daemon 1 proxyd

get() {	# ns url [curl args] -> body
	in_ns "$1" curl -s -m 3 "${@:3}" "$2"
}
wait_for 10 get n1 http://10.96.1.10/ || fail "first request through proxyd"

# 1. the device and the address
ok "edgemesh0 has 169.254.96.16 (bridge fallback: no dummy here)" \
	sh -c "ip netns exec $(ns n1) ip -4 addr show edgemesh0 | grep -q 169.254.96.16"
K=$(in_ns n1 ip -d -o link show edgemesh0)
ok "edgemesh0 is a dummy link, or a bridge after a logged dummy attempt" bash -c \
	'[[ $0 == *" dummy "* ]] || { [[ $0 == *" bridge "* ]] && grep -q "as a dummy link" "$1"; }' \
	"$K" "$E2E_DIR/n1/proxyd.log"

# 2. rules
RULES=$(in_ns n1 nft list table ip edgemesh 2>&1)
ok "nft table with the web service element" grep -q "10.96.1.10 . 80" <<<"$RULES"
ok "udp set holds udp-echo" grep -q "10.96.1.20 . 53" <<<"$RULES"
ok "labeled service not proxied (FilterIfLabelExists)" bash -c "! grep -q 10.96.1.30 <<<\"\$0\"" "$RULES"

# 3/4. TCP local from the host and from a pod
ok "curl from the node" bash -c "[[ \$(ip netns exec $(ns n1) curl -s -m 3 http://10.96.1.10/) == pod-* ]]"
ok "curl from a pod" bash -c "[[ \$(ip netns exec $(ns p1) curl -s -m 3 http://10.96.1.10/) == pod-* ]]"
# headless: proxyd has the service, yet makes no rule and no port for it
ok "proxyd got the headless service" grep -q "add services default/headless" "$E2E_DIR/n1/proxyd.log"
TCP=$(in_ns n1 nft list set ip edgemesh svc_tcp | grep -oE '[0-9]+(\.[0-9]+){3} \. [0-9]+' | sort | paste -sd,)
ok "headless not proxied: the TCP rules hold the proxied services only ($TCP)" test "$TCP" = \
	"10.96.1.10 . 80,10.96.1.11 . 80,10.96.1.12 . 80,10.96.1.13 . 80,10.96.1.14 . 80,10.96.1.40 . 80"
ok "headless not proxied: no service port for it" bash -c "! grep -q '(default/headless)' $E2E_DIR/n1/proxyd.log"

# 6. round robin: 30 requests, each of 3 endpoints gets exactly 10
dist() {	# url n [curl args]
	local i
	for i in $(seq 1 "$2"); do get n1 "$1" "${@:3}"; echo; done | sort | uniq -c | awk '{print $1}' | sort -n | tr '\n' ' '
}
D=$(dist http://10.96.1.10/ 30)
ok "round robin 10/10/10 (got $D)" test "$D" = "10 10 10 "
D=$(dist http://10.96.1.11/ 60)
ok "random uses all 3, none above 40 of 60 (got $D)" bash -c "set -- $D; [ \$# -eq 3 ] && [ \$3 -le 40 ]"
D=$(dist http://10.96.1.12/ 20 -H "X-User: alice")
ok "consistent hash: same header -> same endpoint (got $D)" test "$D" = "20 "
N=$(for u in u1 u2 u3 u4 u5 u6 u7 u8 u9 u10 u11 u12; do get n1 http://10.96.1.12/ -H "X-User: $u"; echo; done | sort -u | wc -l)
ok "consistent hash: 12 users spread over >1 endpoints ($N)" test "$N" -gt 1
D=$(dist http://10.96.1.13/ 15)
ok "session affinity ClientIP sticks (got $D)" test "$D" = "15 "
D=$(dist http://10.96.1.14/ 15)
ok "consistent hash useSourceIp sticks (got $D)" test "$D" = "15 "

# 5. UDP from the host and from a pod
R=$(udp_ask n1 10.96.1.20 53 hi 2>&1)
ok "udp echo from the node ($R)" bash -c "[[ '$R' == pod-*:hi ]]"
# the pod is on the node's bridge cni0 with br_netfilter on (kubeadm, flannel, bridge CNI)
ok "br_netfilter on in node 1" test "$(in_ns n1 sysctl -n net.bridge.bridge-nf-call-iptables)" = 1
R=$(udp_ask p1 10.96.1.20 53 hello 2>&1)
ok "udp echo from a bridged pod, br_netfilter on ($R)" bash -c "[[ '$R' == pod-*:hello ]]"
R=$(in_ns p1 sh -c 'echo hi | timeout 3 nc -u -w 2 10.96.1.20 53' 2>&1)
ok "nc -u from a bridged pod ($R)" bash -c "[[ '$R' == pod-*:hi ]]"

# endpoint removed mid-traffic: drop .12 from web, requests keep working
python3 - "$E2E_DIR/registry/proxy-test.yaml" <<'PY'
import sys
p = sys.argv[1]; l = open(p).read().split("\n")
i = next(i for i, x in enumerate(l) if x.strip() == "- ip: 10.201.1.12")
del l[i:i + 3]
open(p + ".tmp", "w").write("\n".join(l))
PY
mv "$E2E_DIR/registry/proxy-test.yaml.tmp" "$E2E_DIR/registry/proxy-test.yaml"
sleep 1.5
D=$(for i in $(seq 1 12); do get n1 http://10.96.1.10/; echo; done | sort | uniq -c | awk '{print $2}' | tr '\n' ' ')
ok "endpoint removed: only 2 endpoints answer (got $D)" bash -c "[[ '$D' != *10.201.1.12* ]] && [ \$(wc -w <<<'$D') -eq 2 ]"
# an endpoint that refuses: failover, no failed request
in_ns p1 ip addr del 10.201.1.11/24 dev eth0
F=0; for i in $(seq 1 10); do get n1 http://10.96.1.10/ >/dev/null || F=$((F+1)); done
ok "dead endpoint skipped, 0 of 10 requests failed ($F)" test "$F" -eq 0
in_ns p1 ip addr add 10.201.1.11/24 dev eth0

# later service changes are nft element updates: one added, then removed
PUT_BACK="changed or removed by someone else"
NB=$(grep -c "$PUT_BACK" "$E2E_DIR/n1/proxyd.log")
# The kernel path: a UDP service whose ready endpoints are all on this node,
# balanced round robin (or at random), no session affinity, is DNATed by
# the kernel straight to its pods (and masqueraded), not relayed by proxyd.
# The client is a pod of its own on cni0 (br_netfilter on), as pods are.
E2E_POD=c1 e2e_pod 1 40
{ svc udp-fast 10.96.1.22 53 UDP 9377; eps udp-fast 9377 UDP edge-1 10.201.1.10 10.201.1.11; } \
	>"$E2E_DIR/registry/.udp-fast"
mv "$E2E_DIR/registry/.udp-fast" "$E2E_DIR/registry/udp-fast.yaml"
kmap() { in_ns n1 nft list map ip edgemesh udp_kernel 2>&1; }
ok "udp-fast (two local endpoints, round robin) is in the kernel's map (an update added it)" \
	wait_for 10 sh -c "ip netns exec $(ns n1) nft list map ip edgemesh udp_kernel | grep -q '10.96.1.22 . 53'"
ok "consistent hash (udp-echo), remote (remote-udp) are not: they stay on proxyd ($(kmap | grep -c ' . 53 :') in the map)" \
	bash -c "! grep -qE '10.96.1.(20|21|41|42) ' <<<\"\$0\"" "$(kmap)"
# four flows (each its own source port) from a connected socket, which drops
# an answer that does not come from the ClusterIP
D=$(kpath_spread)
ok "kernel path from a pod: both endpoints, 2 flows each, answers from the ClusterIP ($D)" \
	test "$D" = "pod-10.201.1.10=2 pod-10.201.1.11=2 "
R=$(in_ns c1 sh -c 'echo hi | timeout 3 nc -u -w 2 10.96.1.22 53' 2>&1)
ok "nc -u from a pod through the kernel path ($R)" bash -c "[[ '$R' == pod-10.201.1.1[01]:hi ]]"
# RANDOM (a DestinationRule): numgen random over the same two pods
kpath_rand_add
ok "udp-rand (RANDOM) takes the kernel path with numgen random" wait_for 10 sh -c \
	"ip netns exec $(ns n1) nft list chain ip edgemesh udp_10_96_1_23_53 2>/dev/null | grep -q 'numgen random mod 2'"
D=$(kpath_rand_spread)
ok "random: 12 flows reach both endpoints ($D)" test "$D" = "pod-10.201.1.10:r pod-10.201.1.11:r "
rm "$E2E_DIR/registry/udp-rand.yaml"
ok "proxyd saw none of these flows" bash -c "! grep -q 'udp flow 10.201.1.40:' '$E2E_DIR/n1/proxyd.log'"
N=$(in_ns n1 nft list chain ip edgemesh udp_10_96_1_22_53 | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p')
ok "the kernel chain counted the 5 flows ($N)" test "$N" = 5
R=$(udp_ask_from c1 10.201.1.40 40201 10.96.1.20 53 hash 2>&1)
ok "consistent hash from that pod: answered ($R)" bash -c "[[ '$R' == pod-*:hash ]]"
ok "... through proxyd (it took the flow)" \
	grep -q "udp flow 10.201.1.40:40201 -> 10.96.1.20:53/udp" "$E2E_DIR/n1/proxyd.log"
R=$(udp_ask_from c1 10.201.1.40 40202 10.96.1.41 53 far 2>&1)
ok "remote endpoint from that pod: answered ($R) through proxyd and tunneld" \
	bash -c "[ '$R' = remote-pod:far ] && grep -q 'udp flow 10.201.1.40:40202 -> 10.96.1.41:53/udp' '$E2E_DIR/n1/proxyd.log'"
R=$(udp_ask_from p1 10.201.1.10 40203 10.96.1.22 53 self 2>&1)
ok "an endpoint asking its own service goes to proxyd, no hairpin needed ($R)" \
	bash -c "[[ '$R' == pod-*:self ]] && grep -q 'udp flow 10.201.1.10:40203 -> 10.96.1.22:53/udp' '$E2E_DIR/n1/proxyd.log'"
R=$(udp_ask n1 10.96.1.22 53 node 2>&1)
ok "kernel path from the node ($R)" bash -c "[[ '$R' == pod-10.201.1.1[01]:node ]]"
# one client flow (same source port) keeps its endpoint; the endpoint leaves
# the service (it still serves): the flow moves to the other one, because
# proxyd deleted its conntrack entry
E1=$(fast_ask a); E2=$(fast_ask b)
ok "one flow keeps its endpoint ($E1, $E2)" bash -c "[[ '$E1' == pod-10.201.1.1[01] ]] && [ '$E1' = '$E2' ]"
# a proxyd restart: the kernel path's flows answer meanwhile and after,
# from the same endpoint (the new proxyd clears only stale entries)
RI=$(grep -c "rules installed for" "$E2E_DIR/n1/proxyd.log")
e2e_kill 1 proxyd
R=$(fast_ask down)
ok "proxyd down: the kernel path still answers, same endpoint ($R)" test "$R" = "$E1"
e2e_daemon 1 proxyd
wait_for 10 sh -c "[ \$(grep -c 'rules installed for' '$E2E_DIR/n1/proxyd.log') -gt $RI ]" ||
	fail "the new proxyd installed its rules"
R=$(fast_ask up)
ok "proxyd back: same flow, same endpoint ($R)" test "$R" = "$E1"
ok "the new proxyd cleared no live flow" \
	bash -c "! grep -q 'conntrack: UDP flow 10.201.1.40:40210 ' '$E2E_DIR/n1/proxyd.log'"
kpath_keep_other "$E1"
ok "its endpoint left: the same flow answers from pod-$KEEP within 10 s (conntrack cleared)" \
	wait_for 10 moved
ok "proxyd logged the cleared flow" \
	grep -q "conntrack: UDP flow 10.201.1.40:40210 -> 10.96.1.22:53 to ${E1#pod-}:9377 cleared" "$E2E_DIR/n1/proxyd.log"
ok "and the flow was never proxyd's" bash -c "! grep -q 'udp flow 10.201.1.40:40210' '$E2E_DIR/n1/proxyd.log'"
# the service leaves the kernel path (a consistent hash now): the flow goes to proxyd
{ svc udp-fast 10.96.1.22 53 UDP 9377; eps udp-fast 9377 UDP edge-1 $KEEP
  dr udp-fast "      consistentHash:
        useSourceIp: true"; } >"$E2E_DIR/registry/.udp-fast"
mv "$E2E_DIR/registry/.udp-fast" "$E2E_DIR/registry/udp-fast.yaml"
to_proxyd() { fast_ask p >/dev/null; grep -q "udp flow 10.201.1.40:40210 -> 10.96.1.22:53/udp" "$E2E_DIR/n1/proxyd.log"; }
ok "left the kernel path: the same flow now goes through proxyd within 10 s" wait_for 10 to_proxyd
ok "... and the kernel map no longer holds it" bash -c "! grep -q '10.96.1.22 . 53' <<<\"\$0\"" "$(kmap)"
rm "$E2E_DIR/registry/udp-fast.yaml"

{ svc web-new 10.96.1.15 80 TCP 9376; eps web-new 9376 TCP edge-1 10.201.1.11; } >"$E2E_DIR/registry/.web-new"
mv "$E2E_DIR/registry/.web-new" "$E2E_DIR/registry/web-new.yaml"
ok "a service added later is reached (its element added by an update)" \
	wait_for 10 get n1 http://10.96.1.15/
rm "$E2E_DIR/registry/web-new.yaml"
ok "a service removed: its element deleted by an update, the others kept" wait_for 10 sh -c \
	"! ip netns exec $(ns n1) nft list set ip edgemesh svc_tcp | grep -q '10.96.1.15 . 80' &&
	ip netns exec $(ns n1) nft list set ip edgemesh svc_tcp | grep -q '10.96.1.10 . 80'"
sleep 11	# a wrong update would be repaired by the next rules check (every 10 s), and logged
ok "the updates were right: the rules check after them put nothing back" \
	test "$(grep -c "$PUT_BACK" "$E2E_DIR/n1/proxyd.log")" -eq "$NB"

# remote endpoints through tunneld
R=$(get n1 http://10.96.1.40/)
ok "remote endpoint via tunneld ($R)" test "$R" = "remote-pod"
R=$(udp_ask n1 10.96.1.41 53 far 2>&1)
ok "remote UDP via tunneld ($R)" test "$R" = "remote-pod:far"
R=$(udp_ask p1 10.96.1.41 53 farbridged 2>&1)
ok "remote UDP via tunneld from a bridged pod ($R)" test "$R" = "remote-pod:farbridged"
in_ns n1 sysctl -qw net.bridge.bridge-nf-call-iptables=0
R=$(udp_ask p1 10.96.1.20 53 nf0 2>&1)
ok "udp from a bridged pod, br_netfilter off ($R)" bash -c "[[ '$R' == pod-*:nf0 ]]"
R=$(udp_ask p1 10.96.1.41 53 farnf0 2>&1)
ok "remote UDP from a bridged pod, br_netfilter off ($R)" test "$R" = "remote-pod:farnf0"
R=$(get p1 http://10.96.1.10/)
ok "TCP from a bridged pod, br_netfilter off ($R)" bash -c "[[ '$R' == pod-* ]]"
R=$(get p1 http://10.96.1.40/)
ok "remote TCP from a bridged pod, br_netfilter off ($R)" test "$R" = "remote-pod"
in_ns n1 sysctl -qw net.bridge.bridge-nf-call-iptables=1
# a pod on a plain veth the node routes, no bridge (as Calico attaches pods)
ip netns add "$(ns q1)"
in_ns q1 ip link set lo up
e2e_veth n1 cali1 10.202.1.1/24 q1 eth0 10.202.1.10/24
in_ns q1 ip route add default via 10.202.1.1
R=$(get q1 http://10.96.1.10/)
ok "TCP from a pod on a plain veth, no bridge ($R)" bash -c "[[ '$R' == pod-* ]]"
R=$(udp_ask q1 10.96.1.41 53 veth 2>&1)
ok "remote UDP from a pod on a plain veth ($R)" test "$R" = "remote-pod:veth"

# flows to endpoint port 53 (DNS) end after 5 s, in proxyd and in both
# tunnelds; the others after udpIdleTimeout (30 s)
R=$(udp_ask_from p1 10.201.1.30 40053 10.96.1.21 53 q1 2>&1)
ok "DNS-port service, local endpoint ($R)" test "$R" = "dns-local:q1"
R=$(udp_ask_from p1 10.201.1.30 40055 10.96.1.42 53 q3 2>&1)
ok "DNS-port service, remote endpoint ($R)" test "$R" = "dns-remote:q3"
R=$(udp_ask_from p1 10.201.1.30 40054 10.96.1.20 53 q2 2>&1)
ok "service port 53, endpoint port 9377 ($R)" bash -c "[[ '$R' == pod-*:q2 ]]"
# one unconnected socket asks two UDP services: each answer comes from its
# own ClusterIP (conntrack keeps the flows apart; proxyd asks it per flow)
R=$(in_ns p1 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.bind(("10.201.1.30", 40060))
got = {}
for vip, msg in (("10.96.1.21", b"a"), ("10.96.1.20", b"b")):
    s.sendto(msg, (vip, 53))
    d, a = s.recvfrom(100)
    got[a[0]] = d.decode()
print(got.get("10.96.1.21"), got.get("10.96.1.20"))' 2>&1)
ok "one socket, two UDP services, each answers from its ClusterIP ($R)" \
	bash -c "[[ '$R' == 'dns-local:a pod-'*':b' ]]"
sleep 7
ok "proxyd ended the local DNS flow within 7 s" \
	grep -q "udp flow 10.201.1.30:40053 closed: idle" "$E2E_DIR/n1/proxyd.log"
ok "proxyd ended the remote DNS flow within 7 s" \
	grep -q "udp flow 10.201.1.30:40055 closed: idle" "$E2E_DIR/n1/proxyd.log"
# one tunneld ends the stream for being idle 5 s; the other did too, or got its RST first
dns_stream_ended() {
	local i o sid
	for i in 1 2; do
		o=$((3 - i))
		sid=$(sed -n 's/.*UDP stream \([0-9]*\) to 10.201.2.10:53 idle 5s: closed.*/\1/p' \
			"$E2E_DIR/n$i/tunneld.log" | tail -n 1)
		[ -n "$sid" ] || continue
		grep -q -e "UDP stream $sid to 10.201.2.10:53 idle 5s: closed" \
			-e "stream $sid: reset by edge-$i: idle" "$E2E_DIR/n$o/tunneld.log" && return 0
	done
	return 1
}
ok "both tunnelds ended its stream within 7 s" dns_stream_ended
ok "the flow to endpoint port 9377 lives on" \
	bash -c "! grep -q 'udp flow 10.201.1.30:40054 closed' '$E2E_DIR/n1/proxyd.log'"

# tunnel.sock takes connections (the file may outlive a tunneld)
tunnel_sock_up() {
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' \
		"$E2E_DIR/n1/run/tunnel.sock" 2>/dev/null
}

# tunneld restarts: proxyd reconnects at once, and a connection that comes
# while tunnel.sock is away waits for it instead of being refused
e2e_kill 1 tunneld
in_ns n1 curl -s -m 8 http://10.96.1.40/ > "$E2E_DIR/tdown.out" 2>&1 &
C=$!
sleep 0.5
e2e_daemon 1 tunneld
wait $C; rc=$?
ok "a connection made while tunneld restarts is served (rc=$rc: $(cat "$E2E_DIR/tdown.out"))" \
	test "$(cat "$E2E_DIR/tdown.out")" = "remote-pod"
e2e_kill 1 tunneld
e2e_daemon 1 tunneld
wait_for 10 tunnel_sock_up
R=$(get n1 http://10.96.1.40/)
ok "right after a tunneld restart, the remote endpoint answers ($R)" test "$R" = "remote-pod"
R=$(udp_ask p1 10.96.1.41 53 after 2>&1)
ok "and remote UDP too ($R)" test "$R" = "remote-pod:after"
# tunneld stays away: a connection waits for it (3 s) in vain; until
# tunnel.sock answers again, the next ones do not wait
e2e_kill 1 tunneld
R=$(get n1 http://10.96.1.40/ -m 8)
ok "tunneld away: the remote service fails (${R:-nothing})" test -z "$R"
T=$(in_ns n1 curl -s -o /dev/null -m 8 -w '%{time_total}' http://10.96.1.40/)
ok "and the next connection fails without waiting again (${T}s)" \
	awk -v t="$T" 'BEGIN { exit !(t < 2) }'
e2e_daemon 1 tunneld
wait_for 10 tunnel_sock_up
R=$(get n1 http://10.96.1.40/)
ok "tunneld back: served at once ($R)" test "$R" = "remote-pod"
ok "no remote endpoint was marked down for tunneld's absence" \
	bash -c "! grep -q 'endpoint edge-2:.* skipped for' '$E2E_DIR/n1/proxyd.log'"

# by name, with dnsd answering on 169.254.96.16 (resolv.conf of the node and
# its pod point there, with the Kubernetes search path)
e2e_daemon 1 dnsd
e2e_resolver n1
e2e_resolver p1
wait_for 10 in_ns n1 dig +short +time=1 +tries=1 web.default.svc.cluster.local @169.254.96.16 ||
	fail "dnsd answers"
R=$(get p1 http://web.default:80/)
ok "by name from a pod, local endpoint (web.default -> $R)" test "${R#pod-10.201.1.}" != "$R"
R=$(get n1 http://remote-web/)
ok "by short name from the node, remote endpoint (remote-web -> $R)" test "$R" = "remote-pod"
R=$(get p1 http://remote-web.default.svc.cluster.local/)
ok "by full name from a pod, remote endpoint ($R)" test "$R" = "remote-pod"

# a remote keep-alive stream survives a proxyd restart (tunneld owns it)
in_ns n1 timeout 20 python3 tests/tools/keepalive.py 10.96.1.40 80 2 3 > "$E2E_DIR/ka.out" 2>&1 &
KA=$!
sleep 1
e2e_kill 1 proxyd
e2e_daemon 1 proxyd
wait $KA
ok "remote stream survives a proxyd restart ($(tr '\n' ' ' < "$E2E_DIR/ka.out"))" \
	test "$(grep -c remote-pod "$E2E_DIR/ka.out")" -eq 2
wait_for 10 get n1 http://10.96.1.10/

# rules put back after someone deletes them
in_ns n1 nft delete table ip edgemesh
ok "rules put back within 15s" wait_for 15 in_ns n1 nft list set ip edgemesh svc_tcp
# deleted just before a service change: the element update fails on the
# missing table, and that is counted as displaced too (edgemeshctl doctor
# reads the count), not only when the 10 s check finds it
n0=$(grep -c "$PUT_BACK" "$E2E_DIR/n1/proxyd.log")
in_ns n1 nft delete table ip edgemesh
{ svc web-late 10.96.1.16 80 TCP 9376; eps web-late 9376 TCP edge-1 10.201.1.11; } >"$E2E_DIR/registry/.web-late"
mv "$E2E_DIR/registry/.web-late" "$E2E_DIR/registry/web-late.yaml"
ok "a table deleted under an element update: the service is reached" wait_for 10 get n1 http://10.96.1.16/
ok "... and the deletion is counted as displaced at once (not at the next check)" \
	test "$(grep -c "$PUT_BACK" "$E2E_DIR/n1/proxyd.log")" -eq $((n0 + 1))
rm "$E2E_DIR/registry/web-late.yaml"
# restart keeps rules; new connections work after restart
e2e_kill 1 proxyd
ok "rules stay across a proxyd exit" in_ns n1 nft list set ip edgemesh svc_tcp
e2e_daemon 1 proxyd
ok "works after restart" wait_for 10 get n1 http://10.96.1.10/
# while proxyd is down its listening socket stays open in the controller:
# a new connection waits in the backlog and is served by the next proxyd
e2e_kill 1 proxyd
in_ns n1 curl -s --max-time 20 http://10.96.1.10/ > "$E2E_DIR/down.out" 2>&1 &
C=$!
sleep 1
e2e_daemon 1 proxyd
wait $C; rc=$?
ok "a connection opened while proxyd was down is served, not refused (curl rc=$rc: $(cat "$E2E_DIR/down.out"))" \
	test "$rc" -eq 0 -a -s "$E2E_DIR/down.out"
ok "proxyd took its sockets back from the controller" \
	grep -q "took the tcp socket back" "$E2E_DIR/n1/proxyd.log"

# --cleanup
e2e_kill 1 proxyd
in_ns n1 "$B/edgemesh-proxyd" -c "$E2E_DIR/n1/edgemesh.yaml" --cleanup >/dev/null 2>&1
ok "--cleanup removes the table" bash -c "! ip netns exec $(ns n1) nft list table ip edgemesh >/dev/null 2>&1"
ok "--cleanup removes edgemesh0" bash -c "! ip netns exec $(ns n1) ip link show edgemesh0 >/dev/null 2>&1"
ok "--cleanup removes the ip rule" bash -c "! ip netns exec $(ns n1) ip rule | grep -q 0x1e0000"

# lo fallback
e2e_daemon 1 proxyd --device-kind lo
ok "lo fallback: address on lo, service works" wait_for 10 get n1 http://10.96.1.10/
ok "lo fallback: 169.254.96.16 on lo" sh -c "ip netns exec $(ns n1) ip -4 addr show lo | grep -q 169.254.96.16"
e2e_kill 1 proxyd
in_ns n1 "$B/edgemesh-proxyd" -c "$E2E_DIR/n1/edgemesh.yaml" --cleanup >/dev/null 2>&1

# privileges: own user, only CAP_NET_ADMIN
d="$E2E_DIR/n1"
ip netns exec "$(ns n1)" "$B/edgemesh-proxyd" -c "$d/edgemesh.yaml" -d >>"$d/proxyd.log" 2>&1 &
PP=$!; E2E_PIDS="$E2E_PIDS $PP"
ok "unprivileged proxyd serves" wait_for 10 get n1 http://10.96.1.10/
CAP=$(awk '/^CapEff/{print $2}' /proc/$PP/status 2>/dev/null)
ok "CapEff is CAP_NET_ADMIN only ($CAP)" test "$CAP" = "0000000000001000"
U=$(awk '/^Uid/{print $2}' /proc/$PP/status 2>/dev/null)
ok "runs as edgemesh-proxyd" test "$U" = "$(id -u edgemesh-proxyd)"
in_ns n1 nft delete element ip edgemesh svc_tcp '{ 10.96.1.11 . 80 }'
ok "unprivileged proxyd puts rules back (nft child with ambient CAP_NET_ADMIN)" \
	wait_for 15 sh -c "ip netns exec $(ns n1) nft list set ip edgemesh svc_tcp | grep -q '10.96.1.11 . 80'"
e2e_done
