#!/bin/bash
# DNS queries per second (printed, never asserted): edgemesh-dnsd against
# dnsmasq and unbound serving the same names, in one run, with dnsperf.
#   cluster: A records of cluster services (dnsd from the registry,
#            dnsmasq --host-record, unbound local-data)
#   cached:  forwarded names, answered from each server's cache (an origin
#            dnsmasq with a long TTL behind all three; warmed first)
# Each server is single-threaded (unbound num-threads: 1).  Runs in its own
# network namespace on 127.0.0.1; needs root, dnsperf; unbound optional.
set -u
B=${B:-build}
SECS=${SECS:-8}
CLIENTS=${CLIENTS:-8}
command -v dnsperf >/dev/null || { echo "dns bench: dnsperf missing (apt-get install dnsperf)"; exit 77; }
[ "$(id -u)" -eq 0 ] || { echo "dns bench: needs root (network namespace)"; exit 77; }
T=$(mktemp -d /tmp/edgemesh-dbench.XXXXXX)
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
bg() { ip netns exec $NS "$@" >>"$T/bg.log" 2>&1 & PIDS="$PIDS $!"; }
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
bg "$B/edgemesh-controller" -c "$T/cfg.yaml" -u root
bg "$B/edgemesh-dnsd" -c "$T/cfg.yaml" -u root --listen 127.0.0.1:5300
# dnsmasq on :5301
bg dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.1 \
	--port=5301 --server=127.0.0.1#5399 --cache-size=10000 --local-ttl=30 $HR
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

qps() {	# port queryfile
	x dnsperf -s 127.0.0.1 -p "$1" -d "$2" -l "$SECS" -c "$CLIENTS" -T 1 -q 100 2>&1 |
		awk '/Queries per second/ {q=$4} /Queries lost/ {l=$3} /Response codes/ {$1=$2=""; r=$0} END {printf "%8.0f qps (lost %s;%s)", q, l, r}'
}
echo "dns bench: $SECS s per run, $CLIENTS clients, dnsperf -T 1, $(nproc) CPUs"
for kind in cluster cached; do
	for sp in $SERVERS; do
		printf '  %-8s %-8s %s\n' "$kind" "${sp%%:*}" "$(qps "${sp##*:}" "$T/$kind.q")"
	done
done
