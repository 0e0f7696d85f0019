# Shared helpers for the end-to-end tests: nodes and pods in network
# namespaces made by the test, the real daemons, cleanup on every exit.
#
#   . tests/e2e/lib.sh
#   e2e_init mytest            # unique prefix (E2E_NS_PREFIX, default em), work dir, EXIT trap
#   e2e_topology 3             # nodes n1..n3 on one LAN, a pod behind each
#   e2e_registry tests/fixtures/registry
#   e2e_start_node n1          # controller (+ daemons given in $DAEMONS)
#   ok "what" cmd...  / fail "why"
#
# Addresses (they match tests/fixtures/registry): node i is 10.200.0.1i on
# the LAN bridge, its pod network is 10.201.i.0/24 on the node's own bridge
# cni0 (node side .1), as the bridge CNI and flannel attach pods, with
# br_netfilter on (net.bridge.bridge-nf-call-iptables=1, the default in every
# namespace here and what kubeadm requires; E2E_BRNF=0 turns it off).  The
# pod namespace "p<i>" holds 10.201.i.10, .11, .12, .20 and .30 (the pod
# IPs of tests/fixtures/registry; serve them with tests/tools/serve_hostname.py).
# Node names: edge-1, edge-2, cloud-1 for i = 1, 2, 3.
#
# Daemons start the way README and the units start them: as root, switching
# to their own users edgemesh-<daemon> (scripts/add-users.sh); the PSK is
# prepared with README's own commands (owned by edgemesh-tunneld, mode 600).

set -u
B=${B:-build}
E2E_PASS=0
E2E_FAIL=0
E2E_PIDS=""

e2e_init() {
	E2E_NAME=$1
	E2E_PREFIX="${E2E_NS_PREFIX:-em}$(printf '%s' "$1" | cut -c1-4)$$"
	E2E_DIR=$(mktemp -d "/tmp/edgemesh-e2e-$1.XXXXXX")
	trap e2e_cleanup EXIT INT TERM
	[ "$(id -u)" -eq 0 ] || { echo "SKIP $1: needs root for network namespaces"; exit 77; }
	command -v ip >/dev/null || { echo "e2e: iproute2 missing"; exit 1; }
	# the daemons' users, as README says; they read the test's files
	scripts/add-users.sh
	chmod 755 "$E2E_DIR"
}

e2e_node_name() {
	case $1 in
	1) echo edge-1 ;; 2) echo edge-2 ;; 3) echo cloud-1 ;; *) echo "node-$1" ;;
	esac
}

# ns NAME -> the namespace name
ns() { echo "${E2E_PREFIX}-$1"; }
# in NAME cmd... -> run inside node/pod namespace NAME
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }

e2e_topology() {
	local n=$1 i
	ip netns add "$(ns lan)"
	in_ns lan ip link add br0 type bridge
	in_ns lan ip link set br0 up
	in_ns lan ip link set lo up
	for i in $(seq 1 "$n"); do
		ip netns add "$(ns n$i)"
		in_ns n$i ip link set lo up
		ip link add "${E2E_PREFIX}e$i" type veth peer name eth0 netns "$(ns n$i)"
		ip link set "${E2E_PREFIX}e$i" netns "$(ns lan)"
		in_ns lan ip link set "${E2E_PREFIX}e$i" master br0 up
		in_ns n$i ip addr add 10.200.0.1$i/24 dev eth0
		in_ns n$i ip link set eth0 up
		e2e_pod "$i" 10 11 12 20 30
	done
}

# The pod p<i> behind node n<i>, attached the way the bridge CNI and flannel
# attach pods: a veth on the node's bridge cni0 (made here with 10.201.i.1/24
# when the node has none yet), br_netfilter on (E2E_BRNF=0 turns it off),
# forwarding on, the pod's addresses 10.201.i.<a> (default .10), its default
# route via the bridge.  The pod's namespace is made when it does not exist.
# Every test world puts its pods here, so none gets a friendlier plain veth.
# E2E_POD=NAME makes another pod NAME on the same bridge, on its own port.
e2e_pod() {	# i [a...]
	local i=$1 a pod=${E2E_POD:-p$1} veth="${E2E_PREFIX}v$1"; shift
	[ "$pod" = "p$i" ] || veth="${E2E_PREFIX}$pod"
	if ! in_ns "n$i" ip link show cni0 >/dev/null 2>&1; then
		in_ns "n$i" ip link add cni0 type bridge
		in_ns "n$i" ip addr add "10.201.$i.1/24" dev cni0
		in_ns "n$i" ip link set cni0 up
	fi
	in_ns "n$i" sysctl -qw net.ipv4.ip_forward=1
	[ -e /proc/sys/net/bridge ] || modprobe br_netfilter 2>/dev/null
	in_ns "n$i" sysctl -qw net.bridge.bridge-nf-call-iptables="${E2E_BRNF:-1}" ||
		fail "br_netfilter on node $i's bridge (the kernel module br_netfilter is missing)"
	[ -e "/run/netns/$(ns "$pod")" ] || ip netns add "$(ns "$pod")"
	in_ns "$pod" ip link set lo up
	ip link add "$veth" netns "$(ns "n$i")" type veth peer name eth0 netns "$(ns "$pod")"
	in_ns "n$i" ip link set "$veth" master cni0 up
	for a in "${@:-10}"; do
		in_ns "$pod" ip addr add "10.201.$i.$a/24" dev eth0
	done
	in_ns "$pod" ip link set eth0 up
	in_ns "$pod" ip route add default via "10.201.$i.1"
}

# Write node i's config; extra YAML (already indented for top level) on stdin.
# The resolv.conf that `ip netns exec` shows inside namespace NAME (it
# bind-mounts /etc/netns/<ns>/); e2e_cleanup removes it.  The default is
# dnsd on 169.254.96.16 with the Kubernetes search path of namespace default.
e2e_resolver() {	# name [resolv.conf text]
	local d="/etc/netns/$(ns "$1")"
	mkdir -p "$d"
	printf '%s\n' "${2:-nameserver 169.254.96.16
search default.svc.cluster.local svc.cluster.local cluster.local
options ndots:5}" > "$d/resolv.conf"
}

# A PSK file made with README's commands: owned by edgemesh-tunneld, mode 600.
e2e_psk() {	# file [text]
	printf '%s' "${2:-edgemesh e2e test}" > "$1"
	chown edgemesh-tunneld "$1" && chmod 600 "$1"
}

e2e_config() {
	local i=$1 d="$E2E_DIR/n$1"
	mkdir -p "$d/run" "$d/state"
	[ -f "$E2E_DIR/psk" ] || e2e_psk "$E2E_DIR/psk" 'edgemesh e2e test'
	{
		cat <<CFG
commonConfig:
  nodeName: $(e2e_node_name "$i")
  runtimeDir: $d/run
  stateDir: $d/state
registry:
  path: $E2E_DIR/registry
modules:
  edgeTunnel:
    enable: true
    psk:
      path: $E2E_DIR/psk
CFG
		cat
	} > "$d/edgemesh.yaml"
	echo "$d/edgemesh.yaml"
}

e2e_registry() {
	mkdir -p "$E2E_DIR/registry"
	cp "$1"/*.yaml "$E2E_DIR/registry/"
}

# A veth pair between two of the test's namespaces (routers, LANs, wans):
# e2e_veth nsA ifA addrA nsB ifB addrB (an empty address: none).
e2e_veth() {
	ip link add "${E2E_PREFIX}x" type veth peer name "${E2E_PREFIX}y"
	ip link set "${E2E_PREFIX}x" netns "$(ns "$1")" name "$2"
	ip link set "${E2E_PREFIX}y" netns "$(ns "$4")" name "$5"
	[ -n "$3" ] && in_ns "$1" ip addr add "$3" dev "$2"
	[ -n "$6" ] && in_ns "$4" ip addr add "$6" dev "$5"
	in_ns "$1" ip link set "$2" up
	in_ns "$4" ip link set "$5" up
}

# Start one daemon in node i's namespace; logs in $E2E_DIR/n$i/<daemon>.log,
# at debug level (-d) unless E2E_DEBUG=0 (the benches: the units run without).
e2e_daemon() {
	local i=$1 daemon=$2 dbg=-d; shift 2
	local d="$E2E_DIR/n$i"
	[ "${E2E_DEBUG:-1}" = 0 ] && dbg=
	# shellcheck disable=SC2086
	ip netns exec "$(ns n$i)" "$B/edgemesh-$daemon" -c "$d/edgemesh.yaml" $dbg "$@" \
		>>"$d/$daemon.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
	echo $! > "$d/$daemon.pid"
}

e2e_kill() {	# i daemon [signal]
	local p
	p=$(cat "$E2E_DIR/n$1/$2.pid" 2>/dev/null) || return 0
	kill "-${3:-TERM}" "$p" 2>/dev/null
	wait "$p" 2>/dev/null || true
}

# Wait (bounded) until a command succeeds.
wait_for() {	# seconds cmd...
	local t=$1 end; shift
	end=$(( $(date +%s) + t ))
	while [ "$(date +%s)" -le "$end" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# A fake Kubernetes API in node i's namespace holding the objects (a JSON
# list), for EdgeMesh agents; its port in $E2E_DIR/n<i>/api.port.
e2e_fakeapi() {	# i objects-json
	local d="$E2E_DIR/n$1"
	mkdir -p "$d"
	in_ns n$1 python3 tests/fakeapi/fakeapi.py --port-file "$d/api.port" >>"$d/fakeapi.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
	wait_for 10 test -s "$d/api.port" || return 1
	in_ns n$1 curl -sf -X POST "http://127.0.0.1:$(cat "$d/api.port")/_fake/put" -d "$2" >/dev/null
}

e2e_ctl() {	# i args...
	local i=$1; shift
	in_ns n$i "$B/edgemeshctl" -c "$E2E_DIR/n$i/edgemesh.yaml" "$@"
}

ok() {	# description cmd...
	local what=$1; shift
	if "$@"; then
		E2E_PASS=$((E2E_PASS + 1)); echo "ok - $what"
	else
		E2E_FAIL=$((E2E_FAIL + 1)); echo "not ok - $what"
	fi
}

fail() {
	E2E_FAIL=$((E2E_FAIL + 1)); echo "not ok - $1"
}

e2e_cleanup() {
	local p n
	for p in $E2E_PIDS; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in $E2E_PIDS; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	# anything else still running in our namespaces
	for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${E2E_PREFIX}-"); do
		for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$n" 2>/dev/null
		rm -rf "/etc/netns/$n"
	done
	if [ "$E2E_FAIL" -gt 0 ] || [ -n "${E2E_KEEP:-}" ]; then
		for f in "$E2E_DIR"/n*/*.log; do
			[ -f "$f" ] && { echo "--- $f (tail)"; tail -n 25 "$f"; }
		done
	fi
	[ -n "${E2E_KEEP:-}" ] || rm -rf "$E2E_DIR"
}

# A sanitizer build ($B ending in -san: make SAN=1 check): stop the daemons
# with SIGTERM and give each up to 10 s (LeakSanitizer runs at exit), then
# count every ASan, LSan or UBSan report in their logs as a failure.
e2e_san_reports() {
	local p i f
	case $B in *-san) ;; *) return 0 ;; esac
	[ -n "${E2E_DIR:-}" ] || return 0 # a test with its own layout (no e2e_init)
	for p in $E2E_PIDS; do kill "$p" 2>/dev/null; done
	for p in $E2E_PIDS; do
		for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	done
	for f in "$E2E_DIR"/n*/*.log; do
		[ -f "$f" ] || continue
		if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|Sanitizer has encountered a fatal error|runtime error:' "$f"; then
			fail "sanitizer report in ${f#"$E2E_DIR"/}"
			grep -E -A12 'ERROR: (AddressSanitizer|LeakSanitizer)|Sanitizer has encountered a fatal error|runtime error:' "$f" | head -n 40
		fi
	done
}

# Print the summary line and set the exit status.
e2e_done() {
	e2e_san_reports
	echo "$E2E_NAME: $E2E_PASS passed, $E2E_FAIL failed"
	[ "$E2E_FAIL" -eq 0 ]
}
