# Helpers of the client-range tests (sourced after lib.sh): a host on the
# LAN that is no node and no pod, routing the bridge address through a node.
lan_host() {	# name addr via : a namespace on the LAN bridge, 169.254.96.16 via node
	ip netns add "$(ns "$1")"
	ip link add "${E2E_PREFIX}$1" type veth peer name eth0 netns "$(ns "$1")"
	ip link set "${E2E_PREFIX}$1" netns "$(ns lan)"
	in_ns lan ip link set "${E2E_PREFIX}$1" master br0 up
	in_ns "$1" ip link set lo up
	in_ns "$1" ip addr add "$2/24" dev eth0
	in_ns "$1" ip link set eth0 up
	in_ns "$1" ip route add 169.254.96.16/32 via "$3"
}
