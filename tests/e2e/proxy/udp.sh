# udp_ask NS IP PORT MSG -> the first answer, from a connected UDP socket (as
# nc -u and resolvers use: an answer from another address is dropped)
udp_ask() {
	in_ns "$1" python3 -c '
import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(2)
s.connect((sys.argv[1],int(sys.argv[2]))); s.send(sys.argv[3].encode()); print(s.recv(65536).decode())' "$2" "$3" "$4"
}

# udp_ask_from NS SRCIP SRCPORT IP PORT MSG -> the same, from a given source address
udp_ask_from() {
	in_ns "$1" python3 -c '
import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(2)
s.bind((sys.argv[1],int(sys.argv[2])))
s.connect((sys.argv[3],int(sys.argv[4]))); s.send(sys.argv[5].encode()); print(s.recv(65536).decode())' "$2" "$3" "$4" "$5" "$6"
}

# --- the UDP kernel path, as test_proxy (nft) and test_proxy_ipt see it: pod
# c1 (10.201.1.40) asks udp-fast 10.96.1.22:53 (two local endpoints) and
# udp-rand 10.96.1.23:53 (RANDOM over the same two)
# four flows, each its own source port -> "pod-IP=flows ..." per endpoint
kpath_spread() {
	for i in 1 2 3 4; do udp_ask c1 10.96.1.22 53 "k$i" 2>&1; done | sed 's/:k[0-9]$//' |
		sort | uniq -c | awk '{print $2"="$1}' | tr '\n' ' '
}
kpath_rand_add() {	# udp-rand, balanced by a RANDOM DestinationRule
	{ svc udp-rand 10.96.1.23 53 UDP 9377; eps udp-rand 9377 UDP edge-1 10.201.1.10 10.201.1.11
	  dr udp-rand "      simple: RANDOM"; } >"$E2E_DIR/registry/.udp-rand"
	mv "$E2E_DIR/registry/.udp-rand" "$E2E_DIR/registry/udp-rand.yaml"
}
# twelve flows to udp-rand -> the distinct answers
kpath_rand_spread() { for i in $(seq 1 12); do udp_ask c1 10.96.1.23 53 r 2>&1; done | sort -u | tr '\n' ' '; }
# one flow (source port 40210) to udp-fast: the pod that answers MSG
fast_ask() { udp_ask_from c1 10.201.1.40 40210 10.96.1.22 53 "$1" 2>&1 | sed 's/:[a-z0-9]*$//'; }
kpath_keep_other() {	# pod-IP: udp-fast keeps only its other endpoint, KEEP
	KEEP=10.201.1.11; [ "$1" = pod-10.201.1.11 ] && KEEP=10.201.1.10
	eps udp-fast 9377 UDP edge-1 $KEEP | cat <(svc udp-fast 10.96.1.22 53 UDP 9377) - >"$E2E_DIR/registry/.udp-fast"
	mv "$E2E_DIR/registry/.udp-fast" "$E2E_DIR/registry/udp-fast.yaml"
}
moved() { [ "$(fast_ask m)" = "pod-$KEEP" ]; }
