# A pod on a Linux bridge, as flannel and the bridge CNI attach pods (until
# tests/e2e/lib.sh's topology puts every pod there):
#   bridged_pod I   -> pod namespace b<I> with 10.202.I.10/24 on bridge cni0
#                      of node I (cni0: 10.202.I.1, the pod's gateway), with
#                      net.bridge.bridge-nf-call-iptables=1 in the node as
#                      kubeadm requires.
bridged_pod() {
	local i=$1
	in_ns n$i ip link add cni0 type bridge
	in_ns n$i ip addr add 10.202.$i.1/24 dev cni0
	in_ns n$i ip link set cni0 up
	ip netns add "$(ns b$i)"
	in_ns b$i ip link set lo up
	ip link add "${E2E_PREFIX}b$i" netns "$(ns n$i)" type veth peer name eth0 netns "$(ns b$i)"
	in_ns n$i ip link set "${E2E_PREFIX}b$i" master cni0 up
	in_ns b$i ip addr add 10.202.$i.10/24 dev eth0
	in_ns b$i ip link set eth0 up
	in_ns b$i ip route add default via 10.202.$i.1
	in_ns n$i sysctl -qw net.bridge.bridge-nf-call-iptables=1
}

# udp_ask NS IP PORT MSG -> the first answer, from a connected UDP socket (as
# nc -u and resolvers use: an answer from another address is dropped)
udp_ask() {
	in_ns "$1" python3 -c '
import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(2)
s.connect((sys.argv[1],int(sys.argv[2]))); s.send(sys.argv[3].encode()); print(s.recv(65536).decode())' "$2" "$3" "$4"
}
