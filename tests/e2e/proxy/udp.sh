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
