#!/bin/bash
# UDP soak across nodes: a pod on a bridge (br_netfilter on) on edge-1 sends
# 10^5 datagrams from 10^4 source ports to a ClusterIP UDP service whose
# endpoint is a pod on edge-2 (proxyd, tunneld, tunneld, the pod).  At least
# 99.9% must be answered; once the flows are idle (udpIdleTimeout: 2 s
# here), proxyd's flow table and the tunneld streams on both nodes are
# empty and their fds and memory are back where they were.  Then, with the
# default 30 s idle, 6000 flows at once: beyond the bound of 4096 the least
# recently used flows and streams are evicted, nothing is refused, and TCP
# through the same session still works.
. tests/e2e/lib.sh
. tests/e2e/proxy/registry.sh
. tests/e2e/proxy/udp.sh
e2e_init udpsoak
T0=$(date +%s)
e2e_topology 2
e2e_registry tests/fixtures/registry
rm -f "$E2E_DIR"/registry/hostname*.yaml "$E2E_DIR"/registry/tcp-echo.yaml
{
	svc soak-udp 10.96.1.50 12345 UDP 9377; eps soak-udp 9377 UDP edge-2 10.201.2.10
	svc soak-tcp 10.96.1.51 80 TCP 9376; eps soak-tcp 9376 TCP edge-2 10.201.2.10
} > "$E2E_DIR/registry/soak.yaml"
C=p1 # on cni0 of edge-1, br_netfilter on (lib.sh)
IDLE=2
for i in 1 2; do
	e2e_config $i >/dev/null <<Y
  edgeProxy:
    udpIdleTimeout: $IDLE
Y
	in_ns n$i ip route add default dev eth0
done
in_ns p2 python3 tests/e2e/proxy/servers.py udp 10.201.2.10 9377 echo & E2E_PIDS="$E2E_PIDS $!"
in_ns p2 python3 tests/e2e/proxy/servers.py http 10.201.2.10 9376 echo-http & E2E_PIDS="$E2E_PIDS $!"
for i in 1 2; do e2e_daemon $i controller; e2e_daemon $i tunneld; done
e2e_daemon 1 proxyd
wait_for 15 udp_ask $C 10.96.1.50 12345 first || fail "first datagram through the mesh"

pid() { cat "$E2E_DIR/n$1/$2.pid"; }
nfd() { ls "/proc/$1/fd" | wc -l; }
rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
P1=$(pid 1 proxyd); T1=$(pid 1 tunneld); T2=$(pid 2 tunneld)
status() { e2e_ctl "$1" status 2>/dev/null; }
# proxyd's UDP flows and the tunneld streams, from the health reports (every 2 s)
flows() { status 1 | sed -n 's/.*proxyd.* udp=\([0-9]*\).*/\1/p'; }
streams() { status "$1" | sed -n 's/.*tunneld.* streams=\([0-9]*\).*/\1/p'; }
settled() {	# every count back at its baseline
	[ "$(flows)" = 0 ] && [ "$(streams 1)" = 0 ] && [ "$(streams 2)" = 0 ] &&
		[ "$(nfd "$P1")" -le "$B_P1" ] && [ "$(nfd "$T1")" -le "$B_T1" ] &&
		[ "$(nfd "$T2")" -le "$B_T2" ]
}

# warm up with the soak's shape (the heaps grow to their working size: as
# many flows at once), let it go idle, then take the baseline; a leak shows
# as growth over it after more than twice as many flows
no_flows() { [ "$(flows)" = 0 ]; }
W=$(in_ns $C timeout 30 "$B/udp_soak" -t 10.96.1.50:12345 -n 40000 -p 4000 -b 40000 -w 128 -T 1000)
echo "# warm-up: $W; flows=$(flows)"
sleep "$IDLE"
wait_for 15 no_flows || fail "warm-up flows ended"
# the baseline after a trim: each daemon's next periodic report (2 s) gives
# its free heap pages back (daemon_trim)
sleep 2.5
B_P1=$(nfd "$P1"); B_T1=$(nfd "$T1"); B_T2=$(nfd "$T2")
R_P1=$(rss "$P1"); R_T1=$(rss "$T1"); R_T2=$(rss "$T2")
echo "# baseline fds proxyd=$B_P1 tunneld1=$B_T1 tunneld2=$B_T2; RSS kB $R_P1 $R_T1 $R_T2"

# the soak: 10^5 datagrams, 10^4 source ports, 10 from each, 128 in flight
S=$(date +%s)
OUT=$(in_ns $C timeout 60 "$B/udp_soak" -t 10.96.1.50:12345 -n 100000 -p 10000 -b 20000 \
	-w 128 -T 1000)
echo "# $OUT in $(($(date +%s) - S)) s; during: flows=$(flows) streams=$(streams 1)/$(streams 2)"
set -- $OUT
ok "all 100000 datagrams sent from 10000 ports ($OUT)" test "${2:-0}" -eq 100000 -a "${8:-0}" -eq 10000
ok "at least 99.9% answered (${4:-0} of 100000)" test "${4:-0}" -ge 99900

# idle: everything back to the baseline within the idle time and a few health reports
S=$(date +%s)
wait_for $((IDLE + 15)) settled
echo "# settled after $(($(date +%s) - S)) s: flows=$(flows) streams=$(streams 1)/$(streams 2)" \
	"fds $(nfd "$P1")/$(nfd "$T1")/$(nfd "$T2"); RSS kB $(rss "$P1") $(rss "$T1") $(rss "$T2")"
ok "proxyd's UDP flow table is empty ($(flows))" test "$(flows)" = 0
ok "tunneld streams on both nodes are gone ($(streams 1), $(streams 2))" \
	test "$(streams 1)" = 0 -a "$(streams 2)" = 0
ok "proxyd fds back to baseline ($(nfd "$P1") <= $B_P1)" test "$(nfd "$P1")" -le "$B_P1"
ok "tunneld fds back to baseline ($(nfd "$T1") <= $B_T1, $(nfd "$T2") <= $B_T2)" \
	test "$(nfd "$T1")" -le "$B_T1" -a "$(nfd "$T2")" -le "$B_T2"
# memory: freed flows go back to the allocator, and its free pages to the
# kernel at the daemon's next periodic report (daemon_trim, every 2 s: the
# counts above are fresh, status asks for them, so it may not have run yet);
# allow 1 MB of heap left over (not under ASan: its quarantine keeps freed
# memory on purpose)
rss_near() { [ "$(rss "$1")" -le "$2" ]; }	# pid kB
if grep -qa __asan_init "$B/edgemesh-proxyd"; then
	echo "# RSS not compared: ASan build"
else
	for x in "proxyd $P1 $R_P1" "tunneld-1 $T1 $R_T1" "tunneld-2 $T2 $R_T2"; do
		set -- $x
		wait_for 6 rss_near "$2" $(($3 + 1024))
		ok "$1 RSS back near baseline ($(rss "$2") kB, baseline $3 kB)" \
			test "$(rss "$2")" -le $(($3 + 1024))
	done
fi

# the default idle (30 s) and 6000 flows at once: above the bound of 4096
# the least recently used go, in proxyd and in tunneld; none is refused
for i in 1 2; do e2e_config $i </dev/null >/dev/null; e2e_kill $i tunneld; e2e_daemon $i tunneld; done
e2e_kill 1 proxyd
e2e_daemon 1 proxyd
wait_for 15 udp_ask $C 10.96.1.50 12345 again || fail "service back after the restarts"
OUT=$(in_ns $C timeout 30 "$B/udp_soak" -t 10.96.1.50:12345 -n 6000 -p 6000 -b 50000 -w 128 -T 1000)
sleep 2.5 # a health report
echo "# $OUT; flows=$(flows) streams=$(streams 1)/$(streams 2)"
set -- $OUT
ok "6000 flows above the bound: at least 99.9% answered (${4:-0} of 6000)" test "${4:-0}" -ge 5994
ok "proxyd evicted the least recently used flows" \
	grep -q "the least recently used ones are evicted" "$E2E_DIR/n1/proxyd.log"
ok "proxyd's flow table stays at the bound ($(flows) <= 4096)" test "$(flows)" -le 4096
ok "tunneld evicted UDP streams too, and stays at its bound ($(streams 1) <= 4096)" \
	bash -c "grep -q 'UDP streams with edge-2: the least recently used' '$E2E_DIR/n1/tunneld.log' &&
		[ $(streams 1) -le 4096 ] && [ $(streams 2) -le 4096 ]"
# 9000 more UDP streams straight through tunnel.sock (more than the 8192
# streams a session takes): TCP on the same session must still open
in_ns n1 "$B/udp_streams" -r "$E2E_DIR/n1/run" -n edge-2 -t 10.201.2.10 -p 9377 -c 9000 -s 15 \
	> "$E2E_DIR/streams.out" 2>&1 &
US=$!
wait_for 20 grep -q opened "$E2E_DIR/streams.out"
sleep 2.5 # a health report
echo "# udp_streams: $(cat "$E2E_DIR/streams.out"); streams=$(streams 1)/$(streams 2)"
R=$(in_ns $C curl -s -m 5 http://10.96.1.51/)
ok "TCP opens on the session after 9000 more UDP streams ($R)" test "$R" = echo-http
ok "UDP streams stay at their bound ($(streams 1), $(streams 2) <= 4097)" \
	test "$(streams 1)" -le 4097 -a "$(streams 2)" -le 4097
kill $US 2>/dev/null; wait $US 2>/dev/null
echo "# script time $(($(date +%s) - T0)) s"
e2e_done
