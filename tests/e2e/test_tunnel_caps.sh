#!/bin/bash
# What the tunnel hellos negotiate (tunneld/ARCHITECTURE.md, Wire), end to end
# with the real controller, proxyd and tunneld on three nodes:
#  - the transport AEAD: AES-256-GCM between two nodes with AES instructions,
#    ChaCha20-Poly1305 with cloud-1, whose tunneld is forced to offer only it
#    (EDGEMESH_TUN_CIPHERS=chachapoly, a knob for tests);
#  - early data: the request follows the OPEN at once; a refused endpoint
#    leaves it in the client's socket, so proxyd's next endpoint gets it
#    whole (a service with dead and live endpoints on edge-2: every request
#    answered);
#  - an older peer (EDGEMESH_TUN_CIPHERS=v0 plays one) refuses a hello with
#    caps: the dialer falls back to the short hello, ChaChaPoly.
#   B=build bash tests/e2e/test_tunnel_caps.sh
. "$(dirname "$0")/lib.sh"
. tests/e2e/proxy/registry.sh
e2e_init tunnel_caps
e2e_topology 3
e2e_registry tests/fixtures/tunnel
rm -f "$E2E_DIR/registry/services.yaml"
{
	# 10.201.2.10 serves, .11 and .12 have nothing there: refused at the far end
	svc two-eps 10.96.5.10 80 TCP 9376; eps two-eps 9376 TCP edge-2 10.201.2.10 10.201.2.11 10.201.2.12
	svc on-cloud 10.96.5.11 80 TCP 9376; eps on-cloud 9376 TCP cloud-1 10.201.3.10
	svc echo-two 10.96.5.12 7000 TCP 7000; eps echo-two 7000 TCP edge-2 10.201.2.10 10.201.2.11 10.201.2.12
} > "$E2E_DIR/registry/caps-test.yaml"
for i in 1 2 3; do
	e2e_config $i </dev/null >/dev/null
	in_ns n$i ip route add default dev eth0
done
SRV=tests/e2e/proxy/servers.py
in_ns p2 python3 $SRV http 10.201.2.10 9376 "edge-2-pod" & E2E_PIDS="$E2E_PIDS $!"
in_ns p2 socat TCP-LISTEN:7000,bind=10.201.2.10,fork,reuseaddr EXEC:cat & E2E_PIDS="$E2E_PIDS $!"
in_ns p3 python3 $SRV http 10.201.3.10 9376 "cloud-1-pod" & E2E_PIDS="$E2E_PIDS $!"
for i in 1 2 3; do e2e_daemon $i controller; done
e2e_daemon 1 tunneld
e2e_daemon 2 tunneld
EDGEMESH_TUN_CIPHERS=chachapoly e2e_daemon 3 tunneld
e2e_daemon 1 proxyd

get() { in_ns n1 curl -s -m 3 "$1"; }
wait_for 20 get http://10.96.5.11/ || fail "first request to cloud-1 through proxyd"

# 1. the AEAD each session chose, as both ends log it
up() {	# i peer -> the transport named in i's "session up with peer" line
	sed -n "s/.*session up with $2 .*, transport \([A-Za-z]*\).*/\1/p" "$E2E_DIR/n$1/tunneld.log" | tail -n 1
}
R=$(get http://10.96.5.11/)
ok "edge-1 -> cloud-1 through the tunnel ($R)" test "$R" = "cloud-1-pod"
ok "cloud-1 offers ChaChaPoly only: edge-1 logs ChaChaPoly ($(up 1 cloud-1))" test "$(up 1 cloud-1)" = ChaChaPoly
ok "... and so does cloud-1 ($(up 3 edge-1))" test "$(up 3 edge-1)" = ChaChaPoly
wait_for 10 get http://10.96.5.10/ || fail "first request to edge-2"
if grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo; then
	ok "edge-1 and edge-2 have AES: edge-1 logs AESGCM ($(up 1 edge-2))" test "$(up 1 edge-2)" = AESGCM
	ok "... and so does edge-2 ($(up 2 edge-1))" test "$(up 2 edge-1)" = AESGCM
else
	ok "no AES instructions here: edge-1 <-> edge-2 on ChaChaPoly ($(up 1 edge-2))" \
		test "$(up 1 edge-2)" = ChaChaPoly
fi
# ... and as edgemeshctl peers names it: CIPHER, the last column (lower case)
cipher() {	# i peer -> the CIPHER column of peer's row in edgemeshctl peers on i
	e2e_ctl "$1" peers 2>/dev/null | awk -v p="$2" '$1 == p {print $NF}'
}
lc() { tr '[:upper:]' '[:lower:]' <<<"$1"; }
header() { e2e_ctl 1 peers | grep -q 'STREAMS *CIPHER$'; }
ok "peers on edge-1: CIPHER header last" header
ok "peers on edge-1: cloud-1 chachapoly ($(cipher 1 cloud-1))" test "$(cipher 1 cloud-1)" = chachapoly
ok "peers on edge-1: edge-2 $(lc "$(up 1 edge-2)") as logged ($(cipher 1 edge-2))" \
	test "$(cipher 1 edge-2)" = "$(lc "$(up 1 edge-2)")"
ok "peers on cloud-1: edge-1 chachapoly" test "$(cipher 3 edge-1)" = chachapoly
ok "peers -o json: cipher per session" python3 -c '
import json, sys; p = {x["name"]: x for x in json.loads(sys.argv[1])["peers"]}
assert p["cloud-1"]["cipher"] == "chachapoly", p
assert p["edge-2"]["cipher"] == sys.argv[2].lower(), p' "$(e2e_ctl 1 peers -o json)" "$(up 1 edge-2)"

# 2. early data and refused endpoints.  proxyd tries the dead endpoints
# (round robin; a failed one is skipped for 10 s), each open carrying the
# request as early data when the client had sent it by then (on a second try
# it always has); the live endpoint must still get every byte.
early_refused() {	# port -> early bytes of each refused open to a dead endpoint
	grep -A1 "stream to TCP 10.201.2.1[12]:$1 via edge-2 failed: edge-2 refused" \
		"$E2E_DIR/n1/tunneld.log" | sed -n 's/.*its \([0-9]*\) early bytes stay in the client socket.*/\1/p' | tr '\n' ' '
}
N=20 G=0
for i in $(seq 1 $N); do
	[ "$(get http://10.96.5.10/)" = "edge-2-pod" ] && G=$((G + 1))
done
ok "$N requests, two endpoints refused: all answered ($G)" test "$G" -eq "$N"
ok "edge-2 refused the dead endpoints" grep -q "to 10.201.2.1[12]:9376 refused" "$E2E_DIR/n2/tunneld.log"
SENT=$(grep -c "via edge-2 open (early data sent)" "$E2E_DIR/n1/tunneld.log")
ok "opens to the live endpoint carried early data ($SENT)" test "$SENT" -ge 1
# bytes beyond the early part (16 KiB) follow after OPEN_OK, none twice, none
# lost, after refused opens too: 100 kB of random through an echo
head -c 100000 /dev/urandom > "$E2E_DIR/rand"
E=0
for i in 1 2 3 4 5 6; do
	in_ns n1 timeout 10 socat -t 3 - TCP:10.96.5.12:7000 < "$E2E_DIR/rand" > "$E2E_DIR/back" 2>/dev/null
	cmp -s "$E2E_DIR/rand" "$E2E_DIR/back" || E=$((E + 1))
done
ok "6 x 100 kB echoed intact ($E differ)" test "$E" -eq 0
K="$(early_refused 9376)$(early_refused 7000)"
ok "refused opens carried early data, left for the next endpoint (bytes: ${K:-none})" test -n "$K"
# 3. an older peer: cloud-1's tunneld restarted as one from before the caps
# byte (EDGEMESH_TUN_CIPHERS=v0: short hellos, a hello with caps refused).
# edge-1's first dial is refused at msg1; it dials again with the short
# hello and gets a ChaChaPoly session without early data.  (kill -9: a
# SIGTERM would hand the AESGCM session to the next process, which an older
# tunneld could not take; tunneld/ARCHITECTURE.md, Hand-over)
e2e_kill 3 tunneld KILL
rm -f "$E2E_DIR/n3/run/tunnel.sock"
EDGEMESH_TUN_CIPHERS=v0 e2e_daemon 3 tunneld
ok "edge-1 -> cloud-1 (older tunneld) through the tunnel" wait_for 30 sh -c \
	"[ \"\$(ip netns exec $(ns n1) curl -s -m 3 http://10.96.5.11/)\" = cloud-1-pod ]"
ok "edge-1 saw its caps hello refused and fell back" \
	grep -q "cloud-1 closed the connection at msg1 (an older tunneld" "$E2E_DIR/n1/tunneld.log"
ok "... to a ChaChaPoly session ($(up 1 cloud-1))" test "$(up 1 cloud-1)" = ChaChaPoly
e2e_done
