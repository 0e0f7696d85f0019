#!/bin/bash
# proxyd with modules.edgeProxy.rulesBackend: iptables (KUBE-PORTALS-* chains).
. tests/e2e/lib.sh
. tests/e2e/proxy/registry.sh
. tests/e2e/proxy/udp.sh
e2e_init proxyipt
e2e_topology 1
e2e_registry tests/fixtures/registry
rm -f "$E2E_DIR"/registry/hostname*.yaml "$E2E_DIR"/registry/tcp-echo.yaml
proxy_registry "$E2E_DIR/registry"
e2e_config 1 >/dev/null <<'Y'
    metricConfig:
      enable: true
  edgeProxy:
    rulesBackend: iptables
Y
in_ns n1 ip route add default dev eth0
SRV=tests/e2e/proxy/servers.py
for ip in 10.201.1.10 10.201.1.11 10.201.1.12; do
	in_ns p1 python3 $SRV http $ip 9376 "pod-$ip" & E2E_PIDS="$E2E_PIDS $!"
	in_ns p1 python3 $SRV udp $ip 9377 "pod-$ip" & E2E_PIDS="$E2E_PIDS $!"
done
wait_for 20 in_ns p1 curl -s -m 1 http://10.201.1.12:9376/ || fail "servers up"
# what a proxyd that used UDP TPROXY left: mangle chains and their jumps
JC="handle ClusterIPs; NOTE: this must be before the NodePort rules"
for c in "PREROUTING KUBE-PORTALS-CONTAINER" "OUTPUT KUBE-PORTALS-HOST"; do
	set -- $c
	in_ns n1 iptables -w -t mangle -N "$2"
	in_ns n1 iptables -w -t mangle -A "$2" -p udp -d 10.96.1.20/32 --dport 53 -j MARK --set-xmark 0x1e0000/0xff0000
	in_ns n1 iptables -w -t mangle -I "$1" -m comment --comment "$JC" -j "$2"
done
e2e_daemon 1 controller
e2e_daemon 1 proxyd
ok "curl through iptables rules" wait_for 10 in_ns n1 curl -s -m 2 http://10.96.1.10/
ok "KUBE-PORTALS-HOST has the service with EdgeMesh's comment" \
	sh -c "ip netns exec $(ns n1) iptables-save -t nat | grep -q 'KUBE-PORTALS-HOST.*default/web:p'"
R=$(udp_ask n1 10.96.1.20 53 host 2>&1)
ok "udp from the node through iptables DNAT ($R)" bash -c "[[ '$R' == pod-*:host ]]"
R=$(udp_ask p1 10.96.1.20 53 bridged 2>&1)
ok "udp from a bridged pod, br_netfilter on ($R)" bash -c "[[ '$R' == pod-*:bridged ]]"
R=$(in_ns p1 sh -c 'echo hi | timeout 3 nc -u -w 2 10.96.1.20 53' 2>&1)
ok "nc -u from a bridged pod ($R)" bash -c "[[ '$R' == pod-*:hi ]]"
in_ns n1 sysctl -qw net.bridge.bridge-nf-call-iptables=0
R=$(udp_ask p1 10.96.1.20 53 nf0 2>&1)
ok "udp from a bridged pod, br_netfilter off ($R)" bash -c "[[ '$R' == pod-*:nf0 ]]"
in_ns n1 sysctl -qw net.bridge.bridge-nf-call-iptables=1
ok "no mangle rules (UDP is DNATed, not TPROXYed; an older version's are removed)" \
	sh -c "! ip netns exec $(ns n1) iptables-save -t mangle | grep -q KUBE-PORTALS"
# the kernel path (a UDP service with only local endpoints, round robin):
# its own chain, DNAT straight to the pods; the client a pod on its own port
E2E_POD=c1 e2e_pod 1 40
{ svc udp-fast 10.96.1.22 53 UDP 9377; eps udp-fast 9377 UDP edge-1 10.201.1.10 10.201.1.11; } \
	>"$E2E_DIR/registry/.udp-fast"
mv "$E2E_DIR/registry/.udp-fast" "$E2E_DIR/registry/udp-fast.yaml"
KC=KUBE-PORTALS-U0A6001160035
ok "udp-fast has its chain $KC, jumped to from KUBE-PORTALS-CONTAINER (an update added it)" \
	wait_for 10 sh -c "ip netns exec $(ns n1) iptables-save -t nat | grep -q -- '-A KUBE-PORTALS-CONTAINER .*-j $KC'"
ok "udp-echo (consistent hash) has none: it stays on proxyd" \
	sh -c "! ip netns exec $(ns n1) iptables-save -t nat | grep -q KUBE-PORTALS-U0A6001140035"
D=$(kpath_spread)
ok "kernel path from a pod: both endpoints, 2 flows each (statistic nth), answers from the ClusterIP ($D)" \
	test "$D" = "pod-10.201.1.10=2 pod-10.201.1.11=2 "
ok "proxyd saw none of these flows" bash -c "! grep -q 'udp flow 10.201.1.40:' '$E2E_DIR/n1/proxyd.log'"
# RANDOM (a DestinationRule): statistic random, probability 1/2 then the rest
kpath_rand_add
ok "udp-rand (RANDOM) takes the kernel path with statistic random" wait_for 10 sh -c \
	"ip netns exec $(ns n1) iptables-save -t nat | grep -q -- '-A KUBE-PORTALS-U0A6001170035 .*--mode random --probability 0.5'"
D=$(kpath_rand_spread)
ok "random: 12 flows reach both endpoints ($D)" test "$D" = "pod-10.201.1.10:r pod-10.201.1.11:r "
rm "$E2E_DIR/registry/udp-rand.yaml"
kflows() {	# the kernel path's flows in proxyd's metrics (iptables-save -c, every 10 s)
	in_ns n1 curl -s -m 3 http://10.200.0.11:9999/metrics | awk 'index($0, "edgemesh_service_kernel_udp_flows_total{daemon=\"proxyd\",service=\"default/udp-fast\",port=\"53\"} ") == 1 {print $NF}'
}
kflows_ge() { local n; n=$(kflows); [ "${n:-0}" -ge "$1" ]; }
ok "the 4 flows are in proxyd's metrics, from the DNAT rules' counters, within 25 s" wait_for 25 kflows_ge 4
R=$(udp_ask_from c1 10.201.1.40 40201 10.96.1.20 53 hash 2>&1)
ok "consistent hash from that pod goes through proxyd ($R)" bash -c "[[ '$R' == pod-*:hash ]] &&
	grep -q 'udp flow 10.201.1.40:40201 -> 10.96.1.20:53/udp' '$E2E_DIR/n1/proxyd.log'"
E1=$(fast_ask a)
kpath_keep_other "$E1"
ok "its endpoint ($E1) left: the same flow answers from pod-$KEEP within 10 s (conntrack cleared)" \
	wait_for 10 moved
rm "$E2E_DIR/registry/udp-fast.yaml"
ok "udp-fast removed: its chain and jumps deleted by an update" wait_for 10 sh -c \
	"! ip netns exec $(ns n1) iptables-save -t nat | grep -q $KC"
# later changes are deltas (iptables-restore --noflush): a service added, then removed
{ svc web-new 10.96.1.15 80 TCP 9376; eps web-new 9376 TCP edge-1 10.201.1.11; } >"$E2E_DIR/registry/.web-new"
mv "$E2E_DIR/registry/.web-new" "$E2E_DIR/registry/web-new.yaml"
ok "a service added later is reached (its rules added by an update)" \
	wait_for 10 in_ns n1 curl -s -m 2 http://10.96.1.15/
rm "$E2E_DIR/registry/web-new.yaml"
ok "a service removed: its rules deleted by an update, the others kept" wait_for 10 sh -c \
	"! ip netns exec $(ns n1) iptables-save -t nat | grep -q default/web-new: &&
	ip netns exec $(ns n1) iptables-save -t nat | grep -q default/web:"
# a wrong update would be repaired by the next rules check (every 10 s), and logged
sleep 11
ok "the updates were right: the rules check after them put nothing back" \
	bash -c "! grep -q 'changed or removed by someone else' $E2E_DIR/n1/proxyd.log"
# the nat table wiped (an iptables-restore, a firewall reload) just before a
# service change: the update fails on the missing chains, and that counts as
# displaced at once (edgemeshctl doctor reads the count)
in_ns n1 iptables -w -t nat -F
in_ns n1 iptables -w -t nat -X
{ svc web-late 10.96.1.16 80 TCP 9376; eps web-late 9376 TCP edge-1 10.201.1.11; } >"$E2E_DIR/registry/.web-late"
mv "$E2E_DIR/registry/.web-late" "$E2E_DIR/registry/web-late.yaml"
ok "nat table wiped under an update: the new service is reached" \
	wait_for 10 in_ns n1 curl -s -m 2 http://10.96.1.16/
ok "... and the wipe is counted as displaced once" \
	test "$(grep -c 'changed or removed by someone else' "$E2E_DIR/n1/proxyd.log")" -eq 1
rm "$E2E_DIR/registry/web-late.yaml"
# a kernel-path chain and the masquerade chain are there when proxyd exits
{ svc udp-fast 10.96.1.22 53 UDP 9377; eps udp-fast 9377 UDP edge-1 10.201.1.10 10.201.1.11; } \
	>"$E2E_DIR/registry/.udp-fast"
mv "$E2E_DIR/registry/.udp-fast" "$E2E_DIR/registry/udp-fast.yaml"
wait_for 10 sh -c "ip netns exec $(ns n1) iptables-save -t nat | grep -q ':$KC'" ||
	fail "udp-fast's chain back before the cleanup"
e2e_kill 1 proxyd
in_ns n1 "$B/edgemesh-proxyd" -c "$E2E_DIR/n1/edgemesh.yaml" --cleanup >/dev/null 2>&1
ok "--cleanup removes KUBE-PORTALS-* (the kernel path's and KUBE-PORTALS-MASQ too)" \
	sh -c "! ip netns exec $(ns n1) iptables-save | grep -q KUBE-PORTALS"
e2e_done
