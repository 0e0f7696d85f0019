#!/bin/bash
# proxyd data-path benchmark (DESIGN §8), printed, never asserted.
#
# Node edge-1 runs the controller, proxyd and tunneld; its pod holds the
# local endpoints (nginx when installable, else python3, which is then the
# bottleneck).  Clients run on the node and reach the Service ClusterIP,
# i.e. OUTPUT dnat -> proxyd -> pod.  Anchors in the same run:
#   - HAProxy in TCP mode on the node, to the same pod;
#   - hanat: that HAProxy behind a DNAT in the node's nat OUTPUT, reached
#     the way proxyd is (a ClusterIP): proxy against proxy, NAT on both;
#   - direct to the pod.
# Figures: wrk keep-alive req/s, with the proxy's own CPU meanwhile (% of
# one core, CPU-us per request) and the whole machine's busy CPU-us per
# request (/proc/stat), new connections/s (wrk with
# "Connection: close", and a 1-byte echo connect loop), UDP datagrams/s
# (echo with a window, no HAProxy anchor: it has no UDP) twice: a service
# whose endpoints are all local, round robin, which the kernel forwards
# (proxyd's rules DNAT it straight to the pod), and one kept on proxyd's
# user-space relay by a consistent hash (name "relay"), 1-byte echo
# latency through proxyd to the local pod; BENCH_REPS interleaved
# repetitions, medians (bench_run).  The remote path (proxyd + tunnel) is
# bench/tunnel.sh's.
#
#   bash bench/proxy.sh [build-dir]     knobs: DUR (2 s per run), PING_N (3000), CONNS (32),
#                                       BENCH_PERF=1 (perf profile of proxyd),
#                                       BENCH_TRACE=1 (strace -c of proxyd),
#                                       PROXY_ONLY="udp http" (only those figures:
#                                       http conns udp echo)
set -u
cd "$(dirname "$0")/.." || exit 1
B=${1:-${B:-build}}
. bench/lib.sh
. tests/e2e/proxy/registry.sh
bench_init proxy

DUR=${DUR:-2}
PING_N=${PING_N:-3000}
CONNS=${CONNS:-32}
POD1=10.201.1.10
VIP_WEB=10.96.2.10 VIP_ECHO=10.96.2.11 VIP_UDP=10.96.2.12 VIP_UDPR=10.96.2.13
VIP_HA=10.96.2.98	# HAProxy behind a DNAT (the hanat anchor)
ECHO=5002 UDP=5003

bench_need_daemons controller proxyd tunneld

# ---- tools (quietly installed when missing; an anchor is skipped if not)
# one apt run for all; if it fails (one package unknown?) try them one by one
bench_apt wrk haproxy nginx-light || for p in wrk haproxy nginx-light; do bench_apt $p || true; done
HAVE_WRK=0 HAVE_HAPROXY=0 HAVE_NGINX=0
command -v wrk >/dev/null 2>&1 && HAVE_WRK=1
[ -x /usr/sbin/haproxy ] && HAVE_HAPROXY=1
[ -x /usr/sbin/nginx ] && HAVE_NGINX=1
[ $HAVE_WRK = 1 ] || echo "  wrk not installable: HTTP keep-alive figures skipped"
[ $HAVE_HAPROXY = 1 ] || echo "  haproxy not installable: HAProxy anchor skipped"

e2e_topology 2
mkdir -p "$E2E_DIR/registry"
cp tests/fixtures/tunnel/nodes.yaml "$E2E_DIR/registry/"
{	# svc and eps: tests/e2e/proxy/registry.sh
	svc web $VIP_WEB 80 TCP 80; eps web 80 TCP edge-1 $POD1
	svc echo $VIP_ECHO $ECHO TCP $ECHO; eps echo $ECHO TCP edge-1 $POD1
	svc udp $VIP_UDP $UDP UDP $UDP; eps udp $UDP UDP edge-1 $POD1
	# the same pod, kept on proxyd's user-space relay by a consistent hash
	svc udp-relay $VIP_UDPR $UDP UDP $UDP; eps udp-relay $UDP UDP edge-1 $POD1
	dr udp-relay "      consistentHash:
        useSourceIp: true"
} > "$E2E_DIR/registry/bench.yaml"

for i in 1 2; do
	e2e_config $i </dev/null >/dev/null
	in_ns n$i ip route add default dev eth0	# ClusterIPs must route for OUTPUT nat
done

# ---- servers in the pods
SERVER=nginx
if [ $HAVE_NGINX = 1 ]; then
	for i in 1 2; do
		d="$E2E_DIR/nginx$i"; mkdir -p "$d/logs"
		cat > "$d/nginx.conf" <<N
user root;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/logs/error.log error;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 1000000;
	client_body_temp_path $d/tmp;
	proxy_temp_path $d/tmp; fastcgi_temp_path $d/tmp;
	uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
	server {
		listen 10.201.$i.10:80 backlog=4096 reuseport;
		location / { return 200 "pod-$i\n"; }
	}
}
N
		mkdir -p "$d/tmp"
		bench_bg p$i /usr/sbin/nginx -p "$d" -c "$d/nginx.conf" -g 'daemon off;'
	done
else
	SERVER="python3 ThreadingHTTPServer (the server is the bottleneck: compare ratios only)"
	echo "  nginx not installable: serving HTTP with python3; the server is the bottleneck"
	for i in 1 2; do bench_bg p$i python3 tests/e2e/proxy/servers.py http 10.201.$i.10 80 "pod-$i"; done
fi
for i in 1 2; do
	bench_bg p$i "$B/embench" echo $ECHO
	bench_bg p$i "$B/embench" udpecho $UDP
done
for i in 1 2; do
	wait_for 10 bench_listening p$i 80 && wait_for 10 bench_listening p$i $ECHO &&
		wait_for 10 bench_listening p$i $UDP u || bench_setup_fail "servers in pod p$i"
done

# ---- daemons
for i in 1 2; do e2e_daemon $i controller; done
sleep 0.3
for i in 1 2; do e2e_daemon $i tunneld; done
e2e_daemon 1 proxyd
get() { in_ns n1 curl -sf -m 2 "$1" >/dev/null; }
wait_for 20 get http://$VIP_WEB/ || bench_setup_fail "no HTTP through proxyd's ClusterIP"
echo_ok() { in_ns n1 timeout 5 "$B/embench" pingpong "$1" 1 3 >/dev/null 2>&1; }
wait_for 10 echo_ok $VIP_ECHO:$ECHO || bench_setup_fail "no echo through proxyd"
PPID1=$(cat "$E2E_DIR/n1/proxyd.pid")

# ---- HAProxy anchor on the node
HA_WEB="" HA_ECHO="" HA_THREADS="" HA_NAT=0
if [ $HAVE_HAPROXY = 1 ]; then
	cat > "$E2E_DIR/haproxy.cfg" <<H
global
	maxconn 8000
	pidfile $E2E_DIR/haproxy.pid
defaults
	mode tcp
	timeout connect 5s
	timeout client 60s
	timeout server 60s
listen web
	bind 10.200.0.11:8080
	server pod $POD1:80
listen echo
	bind 10.200.0.11:8082
	server pod $POD1:$ECHO
H
	bench_bg n1 /usr/sbin/haproxy -db -f "$E2E_DIR/haproxy.cfg"
	HA_PID=$BENCH_LAST_PID
	if wait_for 10 bench_listening n1 8080 && wait_for 5 get http://10.200.0.11:8080/; then
		HA_WEB=http://10.200.0.11:8080/ HA_ECHO=10.200.0.11:8082
		HA_PID=$(pgrep -P "$HA_PID" haproxy || echo "$HA_PID")
		HA_THREADS=$(ls /proc/"$HA_PID"/task 2>/dev/null | wc -l)
		# the same HAProxy behind a ClusterIP-like DNAT, as proxyd is reached:
		# proxy against proxy, the per-packet NAT on both
		in_ns n1 nft -f - <<N && get http://$VIP_HA/ && HA_NAT=1
table ip benchha {
	chain out {
		type nat hook output priority -100;
		ip daddr $VIP_HA tcp dport 80 dnat to 10.200.0.11:8080
		ip daddr $VIP_HA tcp dport $ECHO dnat to 10.200.0.11:8082
	}
}
N
	else
		echo "  haproxy did not start: anchor skipped"; tail -n 5 "$E2E_DIR/bg-n1.log"
	fi
fi

echo "proxy bench: proxyd on edge-1 (netns), local endpoint in a pod, server: $SERVER, $(nproc) cores (shared); HAProxy TCP mode (default threads: ${HA_THREADS:-n/a}) and direct measured in the same run, ${DUR}s per figure"

wrk_rps() {	# url [extra args] -> req/s
	in_ns n1 timeout $((DUR + 20)) wrk -t1 -c"$CONNS" -d"${DUR}s" "$@" 2>>"$E2E_DIR/wrk.err" |
		awk '/^Requests\/sec:/ {printf "%.0f\n", $2}'
}
# keep-alive req/s; meanwhile the proxy's own CPU (utime+stime, all its
# threads) as % of one core and CPU-us per request, and the whole machine's
# busy CPU-us per request (/proc/stat: client, proxy, server and kernel)
sys_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
wrk_keepalive() {	# url [proxy pid] -> "rps=N allus=U [pcpu=P uspr=U]"
	local c0="" t0 s0 rps
	[ -n "${2:-}" ] && c0=$(bench_cpu_ticks "$2")
	s0=$(sys_busy) t0=$(date +%s%N)
	rps=$(wrk_rps "$1")
	[ -n "$rps" ] || return 0
	awk -v c=$(($(bench_cpu_ticks "${2:-0}") - ${c0:-0})) -v sb=$(($(sys_busy) - s0)) \
		-v hz="$(getconf CLK_TCK)" -v ns=$(($(date +%s%N) - t0)) -v r="$rps" -v d="$DUR" -v p="${2:-}" '
		BEGIN { n = r * d; printf "rps=%s allus=%.1f", r, 1e6 * sb / hz / n
			if (p != "") printf " pcpu=%.0f uspr=%.1f", 100 * c / hz / (ns / 1e9), 1e6 * c / hz / n }'
	echo
}
# one repetition for one name (bench_run): key=value figures
pone() {	# proxyd | relay | haproxy | hanat | direct
	local web echo udp r pid=""
	case $1 in
	proxyd) web=http://$VIP_WEB/ echo=$VIP_ECHO:$ECHO udp=$VIP_UDP:$UDP pid=$PPID1 ;;
	relay) web="" echo="" udp=$VIP_UDPR:$UDP ;;	# UDP only: proxyd's relay
	haproxy) web=$HA_WEB echo=$HA_ECHO udp="" pid=$HA_PID ;;	# HAProxy has no UDP
	hanat) web=http://$VIP_HA/ echo=$VIP_HA:$ECHO udp="" pid=$HA_PID ;;
	direct) web=http://$POD1/ echo=$POD1:$ECHO udp=$POD1:$UDP ;;
	esac
	if [ $HAVE_WRK = 1 ] && [ -n "$web" ] && want http; then
		echo "$(wrk_keepalive "$web" "$pid") rpsclose=$(wrk_rps "$web" -H "Connection: close")"
	fi
	if [ -n "$echo" ] && want conns; then
		r=$(in_ns n1 timeout $((DUR + 20)) "$B/embench" connrate "$echo" "$CONNS" "$DUR" 2>>"$E2E_DIR/cr.err")
		echo "conns=$(bench_field "$r" rate)"
	fi
	[ -n "$udp" ] && want udp && echo "udp=$(bench_field "$(in_ns n1 timeout $((DUR + 20)) "$B/embench" udprate "$udp" 32 "$DUR")" rate)"
	if [ -n "$echo" ] && want echo; then
		r=$(in_ns n1 timeout 30 "$B/embench" pingpong "$echo" "$PING_N" 8 2>/dev/null)
		echo "p50=$(bench_field "$r" p50_us) p99=$(bench_field "$r" p99_us)"
	fi
}
# PROXY_ONLY="udp http": only those figures (http conns udp echo; default all)
want() { [ -z "${PROXY_ONLY:-}" ] || [[ " $PROXY_ONLY " == *" $1 "* ]]; }
NAMES="proxyd direct"
[ -n "$HA_WEB" ] && [ -n "$HA_ECHO" ] && NAMES="proxyd haproxy direct"
[ "$HA_NAT" = 1 ] && NAMES="$NAMES hanat"
want udp && NAMES="$NAMES relay"
# shellcheck disable=SC2086
bench_run pone $NAMES
A=$(echo "${NAMES% relay}" | cut -d' ' -f2-)
# shellcheck disable=SC2086
{
	if [ $HAVE_WRK = 1 ] && want http; then
		bench_fig "wrk keep-alive ($CONNS conns), req/s" rps ">= 1.0x haproxy" proxyd $A
		bench_fig "the proxy's CPU during keep-alive, % of one core" pcpu "" proxyd ${A/direct/}
		bench_fig "the proxy's CPU per keep-alive request, us (lower better)" uspr "" proxyd ${A/direct/}
		bench_fig "the machine's busy CPU per keep-alive request, us (lower better)" allus "" proxyd $A
		bench_fig "wrk Connection: close, req/s" rpsclose ">= 1.0x haproxy" proxyd $A
	fi
	want conns && bench_fig "new conns (connect + 1-byte echo + close, $CONNS parallel)/s" conns ">= 1.0x haproxy" proxyd $A
	if want udp; then
		bench_fig "UDP echo, 64-byte dgrams/s (32 in flight), kernel path (local endpoints, round robin)" udp ">= 0.8x direct" proxyd direct
		bench_fig "UDP echo, 64-byte dgrams/s (32 in flight), proxyd's user-space relay (consistent hash)" udp "" relay direct
	fi
	if want echo; then
		bench_fig "1-byte echo p50, us, local endpoint" p50 "" proxyd $A
		bench_fig "1-byte echo p99, us, local endpoint" p99 "" proxyd $A
	fi
}

if [ $HAVE_WRK = 1 ] && want http; then
	bench_perf "proxyd, wrk keep-alive" "$PPID1" in_ns n1 wrk -t1 -c"$CONNS" -d"${DUR}s" http://$VIP_WEB/
	bench_perf "proxyd, wrk Connection: close" "$PPID1" in_ns n1 wrk -t1 -c"$CONNS" -d"${DUR}s" -H "Connection: close" http://$VIP_WEB/
fi
want udp && bench_perf "proxyd, UDP relay" "$PPID1" in_ns n1 "$B/embench" udprate $VIP_UDPR:$UDP 32 "$DUR"

# BENCH_TRACE=1: syscalls of proxyd per request / per datagram (strace -c, slows it down)
ptrace_run() {	# label unit cmd... (cmd prints its count of units last)
	local label=$1 unit=$2 sp n
	shift 2
	strace -c -f -p "$PPID1" -o "$E2E_DIR/strace.proxyd" 2>/dev/null &
	sp=$!
	sleep 0.5
	n=$("$@" 2>/dev/null | tail -n 1)
	kill -INT "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
	echo "  strace -c proxyd ($label, $n ${unit}s): calls per $unit: $(awk -v u="$n" '
		/^-/ || /^% time/ || NF < 5 || u == 0 { next }
		{ printf "%s %.2f  ", $NF, $4 / u }' "$E2E_DIR/strace.proxyd")"
}
wrk_total() { in_ns n1 wrk -t1 -c"$CONNS" -d"${DUR}s" "$@" | awk '/requests in/ { print $1 }'; }
udp_total() { bench_field "$(in_ns n1 timeout $((DUR + 20)) "$B/embench" udprate $VIP_UDPR:$UDP 32 "$DUR")" rate | awk -v d="$DUR" '{ print int($1 * d) }'; }
if [ -n "${BENCH_TRACE:-}" ] && command -v strace >/dev/null 2>&1; then
	[ $HAVE_WRK = 1 ] && want http && ptrace_run "wrk keep-alive" request wrk_total http://$VIP_WEB/
	want udp && ptrace_run "UDP echo, relay" datagram udp_total
fi

echo "proxyd RSS after the run: $(bench_rss "$PPID1") KiB"
[ -s "$E2E_DIR/wrk.err" ] && { echo "  wrk stderr:"; sort "$E2E_DIR/wrk.err" | uniq -c | head -5; }
kill -0 "$PPID1" 2>/dev/null || bench_setup_fail "proxyd died during the run"
bench_done
exit 0
