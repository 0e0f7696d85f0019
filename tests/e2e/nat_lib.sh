# The NAT world of tests/e2e/test_nat.sh and bench/nat.sh (sourced after
# lib.sh and tunnel_lib.sh): two edge sites behind MASQUERADE NAT routers
# (site 1 with edge-1 and edge-3 on its LAN), cloud-1 and cloud-2 on the
# "wan" between the routers, no relayNodes anywhere.
#
#   n1 edge-1 192.168.1.2 --+
#   n5 edge-3 192.168.1.3 --+- s1 br0 -- r1 192.168.1.1 | 100.64.0.1 --+
#   n2 edge-2 192.168.2.2 ---------------- r2 192.168.2.1 | 100.64.0.2 --+-- wan br0
#   n3 cloud-1 100.64.0.3 -----------------------------------------------+
#   n4 cloud-2 100.64.0.4 -----------------------------------------------+
#   pods: p1 10.201.1.10 (edge-1), p2 10.201.2.10 (edge-2), p5 10.201.5.10
#   (edge-3), each on its node's bridge cni0 with br_netfilter on; each
#   serves its pod name over HTTP on 9376 (ClusterIPs 10.96.12.1, .2, .5)
#
#   nat_topology          namespaces, links, routers, pods
#   nat_start             configs, controllers, pod servers, tunnelds, proxyd on 1 and 2

pod() { e2e_pod "$1"; }	# i : pod p<i> 10.201.<i>.10 on node n<i>'s bridge cni0
nat_topology() {
	local n b w l i
	for n in wan s1 r1 r2 n1 n2 n3 n4 n5 p1 p2 p5; do
		ip netns add "$(ns $n)"
		in_ns $n ip link set lo up
	done
	for b in wan s1; do
		in_ns $b ip link add br0 type bridge
		in_ns $b ip link set br0 up
	done
	e2e_veth r1 wan0 100.64.0.1/24 wan w1 ""
	e2e_veth r2 wan0 100.64.0.2/24 wan w2 ""
	e2e_veth n3 eth0 100.64.0.3/24 wan w3 ""
	e2e_veth n4 eth0 100.64.0.4/24 wan w4 ""
	e2e_veth r1 lan0 192.168.1.1/24 s1 l0 ""
	e2e_veth n1 eth0 192.168.1.2/24 s1 l1 ""
	e2e_veth n5 eth0 192.168.1.3/24 s1 l5 ""
	e2e_veth r2 lan0 192.168.2.1/24 n2 eth0 192.168.2.2/24
	for w in w1 w2 w3 w4; do in_ns wan ip link set $w master br0; done
	for l in l0 l1 l5; do in_ns s1 ip link set $l master br0; done
	in_ns n5 ip addr add 10.99.5.3/32 dev lo	# edge-3's other link (see the fixture)
	for i in 1 2; do
		in_ns r$i sysctl -qw net.ipv4.ip_forward=1
		in_ns r$i iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE
	done
	# the other site's LAN is lost somewhere on the way, silently (no ICMP), and
	# the routers drop what the wan sends them: a direct dial hangs until its
	# timeout, as through most NATs
	in_ns r1 ip route add blackhole 192.168.2.0/24
	in_ns r2 ip route add blackhole 192.168.1.0/24
	for i in 1 2; do in_ns r$i iptables -A INPUT -i wan0 -p tcp --syn -j DROP; done
	in_ns n1 ip route add default via 192.168.1.1
	in_ns n5 ip route add default via 192.168.1.1
	in_ns n2 ip route add default via 192.168.2.1
	for i in 1 2 5; do pod $i; done
	e2e_registry tests/fixtures/nat
}

name_of() { case $1 in 4) echo cloud-2 ;; 5) echo edge-3 ;; *) e2e_node_name "$1" ;; esac; }

nat_start() {
	local i
	# node i's config has no relayNodes; nodes 4 and 5 get their fixture names
	for i in 1 2 3 4 5; do
		e2e_config "$i" </dev/null >/dev/null
		sed -i "s/nodeName: .*/nodeName: $(name_of $i)/" "$E2E_DIR/n$i/edgemesh.yaml"
		e2e_daemon "$i" controller
	done
	for i in 1 2 5; do
		in_ns p$i python3 tests/tools/serve_hostname.py --name "pod-$(name_of $i)" \
			--bind 10.201.$i.10 --http 9376 >>"$E2E_DIR/bg.log" 2>&1 &
		E2E_PIDS="$E2E_PIDS $!"
	done
	sleep 0.5
	for i in 3 4 1 2 5; do start_tunneld "$i"; done
	e2e_daemon 1 proxyd
	e2e_daemon 2 proxyd
	for i in 1 2 5; do wait_for 10 listening p$i 9376 || fail "pod server on p$i up"; done
}
