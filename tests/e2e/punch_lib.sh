# shellcheck shell=bash
# The NAT world of tests/e2e/test_punch.sh and bench/punch.sh (sourced after
# lib.sh): a "wan" bridge, public nodes on it, edges on private LANs behind
# NAT routers.
#
#   punch_wan                 the wan bridge (namespace wan, br0)
#   punch_public I            node I (nI) at 100.64.0.I on the wan
#   punch_natted I [ARGS]     node I at 192.168.I.2 behind router rI
#                             (100.64.0.I): MASQUERADE ARGS (e.g. --random-fully)
#   punch_pod I               node I's pod pI at 10.201.I.10 on its bridge cni0
#
# The routers drop unsolicited SYNs to themselves (a gateway's firewall): a
# bare router's RST would close the other side's pinhole unless the two
# SYNs of a simultaneous open cross in flight.
punch_ns() {	# name...
	local n
	for n in "$@"; do
		ip netns add "$(ns "$n")"
		in_ns "$n" ip link set lo up
	done
}
punch_wan() {
	punch_ns wan
	in_ns wan ip link add br0 type bridge
	in_ns wan ip link set br0 up
}
punch_public() {	# i
	punch_ns "n$1"
	e2e_veth "n$1" eth0 "100.64.0.$1/24" wan "w$1" ""
	in_ns wan ip link set "w$1" master br0
}
punch_natted() {	# i [MASQUERADE args]
	local i=$1; shift
	punch_ns "r$i" "n$i"
	e2e_veth "r$i" wan0 "100.64.0.$i/24" wan "w$i" ""
	in_ns wan ip link set "w$i" master br0
	e2e_veth "r$i" lan0 "192.168.$i.1/24" "n$i" eth0 "192.168.$i.2/24"
	in_ns "n$i" ip route add default via "192.168.$i.1"
	in_ns "r$i" sysctl -qw net.ipv4.ip_forward=1
	in_ns "r$i" iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE "$@"
	in_ns "r$i" iptables -A INPUT -i wan0 -p tcp --syn -j DROP
}
punch_pod() {	# i
	e2e_pod "$1"
}
