#!/bin/bash
# Metrics and health (modules.edgeTunnel.metricConfig): the controller serves
# the node's metrics, aggregated from every daemon, on the node's own
# address; promtool accepts them; values follow real traffic (curl to a
# remote ClusterIP, a held connection, dig through the zone and a dnsmasq
# upstream, tunnel dials timed out and refused, a peer with another PSK); the health
# endpoints and `edgemeshctl health` (ready, --live) follow a daemon going
# down, hanging (SIGSTOP) and coming back.
. tests/e2e/lib.sh
. tests/e2e/proxy/registry.sh
e2e_init metrics
command -v promtool >/dev/null || { echo "SKIP metrics: promtool missing (Debian: prometheus)"; exit 77; }
e2e_topology 3
e2e_registry tests/fixtures/registry
rm -f "$E2E_DIR"/registry/hostname*.yaml "$E2E_DIR"/registry/tcp-echo.yaml
proxy_registry "$E2E_DIR/registry"
# a service whose endpoint is on cloud-1, which will hold another PSK
{ svc far-web 10.96.1.50 80 TCP 9376; eps far-web 9376 TCP cloud-1 10.201.3.10; } \
	> "$E2E_DIR/registry/far.yaml"
# kept on proxyd's relay by a consistent hash (with a local endpoint and
# round robin the kernel would forward it, and proxyd would count no flow)
{ svc udp-web 10.96.1.60 9000 UDP 9377; eps udp-web 9377 UDP edge-1 10.201.1.10
  dr udp-web "      consistentHash:
        useSourceIp: true"
  # the same pod, default round robin: forwarded by the kernel (proxyd's rules)
  svc udp-k 10.96.1.61 9001 UDP 9377; eps udp-k 9377 UDP edge-1 10.201.1.10; } \
	> "$E2E_DIR/registry/udp.yaml"
cp tests/fixtures/gateway/gateway.yaml "$E2E_DIR/registry/"
e2e_config 1 >/dev/null <<'CFG'
    metricConfig:
      enable: true
  edgeGateway:
    enable: true
  edgeDNS:
    upstreamServers: ["127.0.0.2:5353"]
CFG
for i in 2 3; do e2e_config $i </dev/null >/dev/null; done
for i in 1 2; do in_ns n$i ip route add default dev eth0; done
in_ns p2 python3 tests/e2e/proxy/servers.py http 10.201.2.10 9376 remote-pod & E2E_PIDS="$E2E_PIDS $!"
in_ns p1 python3 tests/e2e/proxy/servers.py http 10.201.1.30 9376 pod-local & E2E_PIDS="$E2E_PIDS $!"
in_ns p1 python3 tests/e2e/proxy/servers.py udp 10.201.1.10 9377 udp-pod & E2E_PIDS="$E2E_PIDS $!"
in_ns n1 dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.2 \
	--port=5353 --address=/example.test/192.0.2.7 --local-ttl=60 >/dev/null 2>&1 & E2E_PIDS="$E2E_PIDS $!"
wait_for 20 in_ns p2 curl -s -m 1 http://10.201.2.10:9376/ || fail "server 10.201.2.10 up"
wait_for 20 in_ns p1 curl -s -m 1 http://10.201.1.30:9376/ || fail "server 10.201.1.30 up"
for i in 1 2; do e2e_daemon $i controller; done
for i in 1 2; do
	wait_for 10 test -S "$E2E_DIR/n$i/run/controller.sock" || fail "controller $i up"
	e2e_daemon $i tunneld
done
e2e_daemon 1 proxyd
e2e_daemon 1 dnsd
e2e_daemon 1 gatewayd

M=http://10.200.0.11:9999
get() { in_ns n1 curl -s -m 3 "$M$1"; }
ctl() { e2e_ctl 1 "$@"; }
code() { in_ns n1 curl -s -o /dev/null -m 3 -w '%{http_code}' "$M$1"; }
# one sample's value, 0 when absent: metric name and label text as rendered
val() {
	get /metrics | awk -v k="$1" 'index($0, k" ") == 1 {print $NF; f=1} END {if (!f) print 0}'
}
val_is() { [ "$(val "$1")" = "$2" ]; } # for wait_for: reports come every 2 s
val_gt() { [ "$(val "$1")" -gt "$2" ]; }
wait_for 15 sh -c "[ \"\$(ip netns exec $(ns n1) curl -s -m 1 -o /dev/null -w '%{http_code}' $M/readyz/proxyd)\" = 200 ]" ||
	fail "proxyd ready"
wait_for 15 sh -c "[ \"\$(ip netns exec $(ns n1) curl -s -m 1 -o /dev/null -w '%{http_code}' $M/readyz/dnsd)\" = 200 ]" ||
	fail "dnsd ready"

ok "metrics bound to the node's own address, not every interface" \
	sh -c "ip netns exec $(ns n1) ss -ltn | grep -q '10.200.0.11:9999' && ! ip netns exec $(ns n1) ss -ltn | grep -q '0.0.0.0:9999'"
get /metrics > "$E2E_DIR/m1.txt"
ok "promtool check metrics accepts the scrape ($(grep -vc '^#' "$E2E_DIR/m1.txt") samples)" \
	sh -c "promtool check metrics < '$E2E_DIR/m1.txt' > '$E2E_DIR/promtool.out' 2>&1"
[ -s "$E2E_DIR/promtool.out" ] && cat "$E2E_DIR/promtool.out"
for d in controller tunneld proxyd dnsd; do
	ok "$d reports its open fds (> 3) and resident memory (> 1 MB)" awk -v d="{daemon=\"$d\"} " '
		index($0, "edgemesh_daemon_open_fds" d) == 1 && $NF > 3 {f++}
		index($0, "edgemesh_daemon_resident_memory_bytes" d) == 1 && $NF > 1e6 {f++}
		END {exit f != 2}' "$E2E_DIR/m1.txt"
done
ok "every daemon up and ready" bash -c "
	for d in tunneld proxyd dnsd; do
		grep -q \"edgemesh_daemon_up{daemon=\\\"\$d\\\"} 1\" '$E2E_DIR/m1.txt' &&
		grep -q \"edgemesh_daemon_ready{daemon=\\\"\$d\\\"} 1\" '$E2E_DIR/m1.txt' || exit 1
	done"

# values follow traffic: 20 requests to a ClusterIP with a remote endpoint
S='edgemesh_service_connections_total{daemon="proxyd",service="default/remote-web",port="80",proto="tcp"}'
P='edgemesh_service_endpoint_picks_total{daemon="proxyd",service="default/remote-web",port="80",endpoint="remote"}'
TX='edgemesh_peer_sent_bytes_total{daemon="tunneld",peer="edge-2"}'
c0=$(val "$S"); p0=$(val "$P"); t0=$(val "$TX")
r0=$(val 'edgemesh_peer_received_bytes_total{daemon="tunneld",peer="edge-2"}')
n=0
for i in $(seq 1 20); do
	[ "$(in_ns n1 curl -s -m 3 http://10.96.1.40/)" = remote-pod ] && n=$((n + 1))
done
ok "20 requests to the remote service answered ($n)" test "$n" -eq 20
ok "connections_total of the service grew by 20 (from $c0)" wait_for 10 val_is "$S" $((c0 + 20))
ok "remote endpoint picks grew by 20 (from $p0)" test "$(val "$P")" -eq $((p0 + 20))
ok "bytes sent to edge-2 grew (from $t0 to $(val "$TX"))" test "$(val "$TX")" -gt "$t0"
RX='edgemesh_peer_received_bytes_total{daemon="tunneld",peer="edge-2"}'
ok "bytes received from edge-2 grew (from $r0 to $(val "$RX"))" test "$(val "$RX")" -gt "$r0"
rtt() { val 'edgemesh_peer_rtt_seconds{daemon="tunneld",peer="edge-2"}' | awk '{exit !($1 > 0 && $1 < 1)}'; }
ok "the session's RTT with edge-2 is measured within a keepalive, in seconds (0 < RTT < 1)" wait_for 8 rtt
ok "completed handshakes counted ($(val 'edgemesh_tunnel_handshakes_total{daemon="tunneld"}'))" \
	test "$(val 'edgemesh_tunnel_handshakes_total{daemon="tunneld"}')" -ge 1
ok "proxyd's rule installs counted ($(val 'edgemesh_proxy_rule_resyncs_total{daemon="proxyd"}'))" \
	test "$(val 'edgemesh_proxy_rule_resyncs_total{daemon="proxyd"}')" -ge 1
# a connection held open through the tunnel: a stream while it lasts
ST='edgemesh_peer_streams{daemon="tunneld",peer="edge-2"}'
in_ns n1 python3 -c 'import socket, time; s = socket.create_connection(("10.96.1.40", 80), 3); time.sleep(4)' &
H=$!
ok "a held connection is an open stream to edge-2" wait_for 4 sh -c "ip netns exec $(ns n1) curl -s $M/metrics | grep -qF '$ST 1'"
wait $H
ok "... and no longer once closed" wait_for 6 sh -c "ip netns exec $(ns n1) curl -s $M/metrics | grep -qF '$ST 0'"
ok "peer edge-2 up on the direct path" \
	sh -c "ip netns exec $(ns n1) curl -s $M/metrics | grep -q 'edgemesh_peer_up{daemon=\"tunneld\",peer=\"edge-2\",path=\"direct\",via=\"\",error=\"\"} 1'"

# a UDP flow through proxyd: the service's flows gauge shows it
U='edgemesh_service_udp_flows{daemon="proxyd",service="default/udp-web",port="9000"}'
R=$(in_ns n1 python3 -c '
import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.connect(("10.96.1.60", 9000)); s.send(b"hi"); print(s.recv(100).decode())' 2>&1)
ok "a UDP request through proxyd is answered ($R)" test "$R" = "udp-pod:hi"
ok "the service's UDP flows gauge shows the flow" wait_for 10 sh -c "ip netns exec $(ns n1) curl -s $M/metrics | grep -qF '$U 1'"
# three flows through the kernel path: not proxyd's; its rule's counter
# (read at proxyd's rules check, every 10 s) is the service's metric
K='edgemesh_service_kernel_udp_flows_total{daemon="proxyd",service="default/udp-k",port="9001"}'
for i in 1 2 3; do
	R=$(in_ns n1 python3 -c '
import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.connect(("10.96.1.61", 9001)); s.send(b"k"); print(s.recv(100).decode())' 2>&1)
done
ok "a UDP request through the kernel path is answered ($R)" test "$R" = "udp-pod:k"
ok "its 3 flows counted from the rule's counter within 25 s" wait_for 25 val_is "$K" 3
ok "proxyd's own flows gauge for it stays 0 (not relayed)" \
	val_is 'edgemesh_service_udp_flows{daemon="proxyd",service="default/udp-k",port="9001"}' 0

# DNS: 5 A queries for a cluster name, 3 for a name that does not exist
Q='edgemesh_dns_queries_total{daemon="dnsd",type="A",rcode="NOERROR"}'
X='edgemesh_dns_queries_total{daemon="dnsd",type="A",rcode="NXDOMAIN"}'
q0=$(val "$Q"); x0=$(val "$X")
for i in 1 2 3 4 5; do in_ns n1 dig +short +time=2 +tries=1 @169.254.96.16 web.default.svc.cluster.local >/dev/null; done
for i in 1 2 3; do in_ns n1 dig +short +time=2 +tries=1 @169.254.96.16 nope.default.svc.cluster.local >/dev/null; done
ok "dns A/NOERROR grew by 5" wait_for 10 val_is "$Q" $((q0 + 5))
ok "dns A/NXDOMAIN grew by 3" test "$(val "$X")" -eq $((x0 + 3))
# a forwarded name asked 3 times: one upstream query (timed), 2 cache hits
CH='edgemesh_dns_cache_hits_total{daemon="dnsd"}'
UL='edgemesh_dns_upstream_latency_seconds_count{daemon="dnsd"}'
h0=$(val "$CH"); u0=$(val "$UL")
for i in 1 2 3; do in_ns n1 dig +short +time=2 +tries=1 @169.254.96.16 www.example.test >/dev/null; done
ok "cache hits grew by 2" wait_for 10 val_is "$CH" $((h0 + 2))
ok "the upstream latency histogram counted one query" wait_for 5 val_is "$UL" $((u0 + 1))
ok "... with its +Inf bucket equal to the count" \
	test "$(val 'edgemesh_dns_upstream_latency_seconds_bucket{daemon="dnsd",le="+Inf"}')" -eq "$(val "$UL")"

# the gateway: requests by route and status code, a latency histogram
G='edgemesh_gateway_requests_total{daemon="gatewayd",route="default/hostname-local:12345",code="200"}'
wait_for 20 in_ns n1 curl -sf -m 2 http://10.200.0.11:23333/local || fail "gateway up"
# the first request is reported within a health period: count from there
wait_for 10 sh -c "ip netns exec $(ns n1) curl -s $M/metrics | grep -q 'route=\"default/hostname-local:12345\",code=\"200\"'"
g0=$(val "$G")
for i in 1 2 3 4 5; do in_ns n1 curl -s -m 3 -o /dev/null http://10.200.0.11:23333/local; done
for i in 1 2; do in_ns n1 curl -s -m 3 -o /dev/null http://10.200.0.11:23333/nope; done
ok "gateway 200s on its route grew by 5" wait_for 10 val_is "$G" $((g0 + 5))
ok "requests with no route counted as 404" test "$(val 'edgemesh_gateway_requests_total{daemon="gatewayd",route="",code="404"}')" -ge 2
ok "the latency histogram counts them too" \
	test "$(val 'edgemesh_gateway_request_duration_seconds_count{daemon="gatewayd",route="default/hostname-local:12345"}')" -ge 5
get /metrics > "$E2E_DIR/m2.txt"
ok "promtool still accepts the scrape with every daemon's samples" \
	sh -c "promtool check metrics < '$E2E_DIR/m2.txt' >/dev/null 2>&1"

# a dial to cloud-1 that gets no answer (SYNs dropped): timeout, by reason
TO='edgemesh_tunnel_handshake_failures_total{daemon="tunneld",reason="timeout"}'
f0=$(val "$TO")
in_ns n3 iptables -I INPUT -p tcp --dport 20006 -j DROP
in_ns n1 curl -s -m 5 http://10.96.1.50/ >/dev/null
ok "an unanswered tunnel dial counted as timeout (from $f0)" wait_for 8 val_gt "$TO" "$f0"
in_ns n3 iptables -D INPUT -p tcp --dport 20006 -j DROP
# a dial to cloud-1 before its tunneld runs: refused, counted by reason
RF='edgemesh_tunnel_handshake_failures_total{daemon="tunneld",reason="refused"}'
f0=$(val "$RF")
in_ns n1 curl -s -m 3 http://10.96.1.50/ >/dev/null
ok "a refused tunnel dial counted as refused (from $f0)" wait_for 10 val_gt "$RF" "$f0"
ok "... and the request as a failure of the service" \
	test "$(val 'edgemesh_service_connection_failures_total{daemon="proxyd",service="default/far-web",port="80",proto="tcp"}')" -ge 1

# a peer with another PSK: counted by reason
F='edgemesh_tunnel_handshake_failures_total{daemon="tunneld",reason="psk_mismatch"}'
e2e_psk "$E2E_DIR/psk3" 'another PSK'
e2e_daemon 3 controller
wait_for 10 test -S "$E2E_DIR/n3/run/controller.sock"
e2e_daemon 3 tunneld --psk-file "$E2E_DIR/psk3"
in_ns n1 curl -s -m 3 http://10.96.1.50/ >/dev/null # edge-1 dials cloud-1
ok "a peer with another PSK counted as psk_mismatch" wait_for 20 val_gt "$F" 0

# health follows a daemon
ok "/healthz: the controller is live" test "$(code /healthz)" = 200
ok "/readyz: the registry has synced" test "$(code /readyz)" = 200
ok "edgemeshctl health proxyd: exit 0, ready ($(ctl health proxyd))" ctl health proxyd
ok "edgemeshctl health (no DAEMON): this node's daemons, socksd (not enabled, never run) left out ($(ctl health))" ctl health
e2e_kill 1 proxyd
ok "/healthz/proxyd 503 once proxyd is gone ($(get /healthz/proxyd))" test "$(code /healthz/proxyd)" = 503
OUT=$(ctl health --live proxyd); rc=$?
ok "edgemeshctl health --live proxyd: exit 1, not connected ($OUT)" bash -c "[ $rc -eq 1 ] && grep -q '^proxyd: not connected' <<<'$OUT'"
e2e_daemon 1 proxyd
ok "/readyz/proxyd 200 again after the restart" wait_for 15 sh -c "[ \"\$(ip netns exec $(ns n1) curl -s -o /dev/null -w '%{http_code}' $M/readyz/proxyd)\" = 200 ]"
ok "edgemeshctl health proxyd: exit 0 again" ctl health proxyd
# a hung daemon (stopped): connected, but no health report: not live
kill -STOP "$(cat "$E2E_DIR/n1/dnsd.pid")"
not_live() { ! ctl health --live "$1"; }
ok "dnsd hung: health --live dnsd exits 1 within 15 s" wait_for 15 not_live dnsd
OUT=$(ctl health --live dnsd)
ok "... it says why ($OUT)" grep -q '^dnsd: not live, state stale; no health report for 10 s' <<<"$OUT"
ok "... /healthz/dnsd 503 ($(get /healthz/dnsd))" test "$(code /healthz/dnsd)" = 503
others_live() { ctl health --live controller && ctl health --live proxyd; }
ok "... the controller and proxyd still live" others_live
kill -CONT "$(cat "$E2E_DIR/n1/dnsd.pid")"
ok "dnsd resumed: live and ready again" wait_for 10 ctl health dnsd
ok "the restart is counted" test "$(val 'edgemesh_daemon_restarts_total{daemon="proxyd"}')" -eq 1
ok "/readyz/socksd 503: not running on this node ($(get /readyz/socksd))" test "$(code /readyz/socksd)" = 503
ok "an unknown daemon is named as such" sh -c "ip netns exec $(ns n1) curl -s $M/readyz/nosuchd | grep -q 'no daemon is called nosuchd'"
ok "an unknown path is 404" test "$(code /nope)" = 404
ok "garbage gets 400 and the server lives on" sh -c "
	printf 'garbage\r\n\r\n' | ip netns exec $(ns n1) timeout 3 nc 10.200.0.11 9999 | grep -q '400 Bad Request' &&
	[ \"\$(ip netns exec $(ns n1) curl -s -o /dev/null -w '%{http_code}' $M/healthz)\" = 200 ]"
e2e_done
