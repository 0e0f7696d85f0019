#!/bin/bash
# DNS queries per second (printed, never asserted): edgemesh-dnsd against
# dnsmasq and unbound serving the same names, in one run, with dnsperf.
#   cluster: A records of cluster services (dnsd from the registry,
#            dnsmasq --host-record, unbound local-data)
#   cached:  forwarded names, answered from each server's cache (an origin
#            dnsmasq with a long TTL behind all three; warmed first)
# Each server is single-threaded (unbound num-threads: 1).  Runs in its own
# network namespace on 127.0.0.1; needs root, dnsperf; unbound is installed
# from Debian when it can be, else its anchor is skipped.
# On 2 cores one dnsperf thread is the limit (it runs at ~95% of a core):
# queries/s then tells which server keeps up with the client, not what a
# server can do.  So each run also takes the server's CPU (utime+stime) and
# prints queries per CPU-second of the server: its capacity on one core.
set -u
B=${B:-build}
SECS=${SECS:-3}
CLIENTS=${CLIENTS:-8}
[ "$(id -u)" -eq 0 ] || { echo "dns bench: needs root (network namespace)"; exit 77; }
T=$(mktemp -d /tmp/edgemesh-dbench.XXXXXX)
. bench/lib.sh
E2E_DIR=$T bench_apt dnsperf
command -v dnsperf >/dev/null || { echo "dns bench: dnsperf missing and not installable (apt-get install dnsperf)"; rm -rf "$T"; exit 77; }
E2E_DIR=$T bench_apt unbound || echo "  unbound not installable: its anchor is skipped"
NS=emdbench$$
PIDS=""
cleanup() {
	local p
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	ip netns del $NS 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
ip netns add $NS
x() { ip netns exec $NS "$@"; }
bg() { ip netns exec $NS "$@" >>"$T/bg.log" 2>&1 & PIDS="$PIDS $!"; BG_PID=$!; }
x ip link set lo up

# the same cluster names for all three
mkdir -p "$T/registry" "$T/run" "$T/state"
cp tests/fixtures/registry/*.yaml tests/fixtures/dns/*.yaml "$T/registry/"
NAMES="hostname-svc.default.svc.cluster.local:10.96.0.10 hostname-udp-svc.default.svc.cluster.local:10.96.0.11
tcp-echo-service.default.svc.cluster.local:10.96.0.12 hostname-lb-svc.default.svc.cluster.local:10.96.0.13
dual.data.svc.cluster.local:10.96.5.5 unnamed.data.svc.cluster.local:10.96.5.6"
: > "$T/cluster.q"; HR=""; UL=""
for nv in $NAMES; do
	n=${nv%%:*}; v=${nv##*:}
	echo "$n A" >> "$T/cluster.q"
	HR="$HR --host-record=$n,$v"
	UL="$UL  local-data: \"$n. 30 IN A $v\"
"
done
: > "$T/cached.q"
for i in $(seq 1 50); do echo "n$i.example.test A" >> "$T/cached.q"; done

# origin for forwarded names: long TTL so every cache keeps them
bg dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.1 \
	--port=5399 --address=/example.test/192.0.2.7 --local-ttl=3600
# dnsd on :5300
cat > "$T/cfg.yaml" <<Y
commonConfig: {nodeName: edge-1, runtimeDir: $T/run, stateDir: $T/state}
registry: {path: $T/registry}
modules:
  edgeDNS:
    enable: true
    upstreamServers: ["127.0.0.1:5399"]
Y
# as README starts them: as root, each switching to its own user
scripts/add-users.sh
chmod 755 "$T"
bg "$B/edgemesh-controller" -c "$T/cfg.yaml"
bg "$B/edgemesh-dnsd" -c "$T/cfg.yaml" --listen 127.0.0.1:5300
PID_dnsd=$BG_PID
# dnsmasq on :5301
bg dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.1 \
	--port=5301 --server=127.0.0.1#5399 --cache-size=10000 --local-ttl=30 $HR
PID_dnsmasq=$BG_PID
# unbound on :5302
if command -v unbound >/dev/null; then
	cat > "$T/unbound.conf" <<U
server:
  interface: 127.0.0.1@5302
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$T"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "iterator"
  local-zone: "test." nodefault
  local-zone: "cluster.local." static
$UL
forward-zone:
  name: "example.test."
  forward-addr: 127.0.0.1@5399
remote-control:
  control-enable: no
U
	bg unbound -c "$T/unbound.conf"
	PID_unbound=$BG_PID
fi
SERVERS="dnsd:5300 dnsmasq:5301"
command -v unbound >/dev/null && SERVERS="$SERVERS unbound:5302"
for sp in $SERVERS; do
	p=${sp##*:}
	for i in $(seq 1 100); do
		x dig @127.0.0.1 -p "$p" +time=1 +tries=1 +short hostname-svc.default.svc.cluster.local |
			grep -q 10.96.0.10 && break
		sleep 0.1
	done
	# warm the caches
	while read -r n t; do x dig @127.0.0.1 -p "$p" +short "$n" "$t" >/dev/null; done < "$T/cached.q"
done

HZ=$(getconf CLK_TCK)
qps() {	# key port queryfile pid -> "key=qps keycpu=queries per CPU-second of pid"
	local a b out
	a=$(bench_cpu_ticks "$4")
	out=$(x dnsperf -s 127.0.0.1 -p "$2" -d "$3" -l "$SECS" -c "$CLIENTS" -T 1 -q 100 2>&1 | tee -a "$T/dnsperf.log")
	b=$(bench_cpu_ticks "$4")
	awk -v k="$1" -v a="$a" -v b="$b" -v hz="$HZ" '
		/Queries completed/ { n = $3 }
		/Queries per second/ { q = $4 }
		END { printf "%s=%.0f", k, q; if (b > a) printf " %scpu=%.0f", k, n / ((b - a) / hz) }' <<<"$out"
}
one() {	# server -> key=value
	local sp pid
	for sp in $SERVERS; do [ "${sp%%:*}" = "$1" ] && break; done
	pid=PID_$1
	echo "$(qps cluster "${sp##*:}" "$T/cluster.q" "${!pid}") $(qps cached "${sp##*:}" "$T/cached.q" "${!pid}")"
}
bench_reps_init dns "$T"
echo "dns bench: $SECS s per run, $CLIENTS clients, dnsperf -T 1, $(nproc) CPUs, $BENCH_REPS interleaved repetitions"
# shellcheck disable=SC2046
bench_run one $(for sp in $SERVERS; do echo "${sp%%:*}"; done)
A=$(for sp in $SERVERS; do echo "${sp%%:*}"; done | tail -n +2 | tr '\n' ' ')
# shellcheck disable=SC2086
{
	bench_fig "cluster names, queries/s (one dnsperf thread: client-bound)" cluster ">= 1.5x dnsmasq, > unbound" dnsd $A
	bench_fig "cluster names, queries per CPU-second of the server" clustercpu ">= 1.5x dnsmasq, > unbound" dnsd $A
	bench_fig "cached forwarded names, queries/s (client-bound)" cached ">= 1.5x dnsmasq, > unbound" dnsd $A
	bench_fig "cached forwarded names, queries per CPU-second of the server" cachedcpu ">= 1.5x dnsmasq, > unbound" dnsd $A
}
grep -h "Queries lost" "$T/dnsperf.log" | sort | uniq -c | sort -rn | head -n 3 | sed 's/^/  dnsperf:/'
bench_done
