# A throwaway systemd machine for test_units.sh and test_deb.sh: a minimal
# Debian root bootstrapped once (cached outside the checkout, read-only
# afterwards) and booted by systemd-nspawn over an overlay, so each run starts
# clean and nothing touches this machine's own file system or network
# (--private-network: the container has its own network namespace).
#
#   nspawn_root_ensure        build the cached root when missing (SKIP: return 1;
#                             also for a sanitizer build, which it could not run)
#   nspawn_boot NAME          boot an overlay of it as machine NAME
#   nsx CMD...                run CMD inside the booted machine (as root)
#   nspawn_stop               power it off, remove the overlay
EM_ROOT_CACHE=${EM_ROOT_CACHE:-/var/cache/edgemesh-test-root}
EM_ROOT_SUITE=${EM_ROOT_SUITE:-bookworm}
# systemd for the units; the daemons' shared libraries (the package depends on
# them, dpkg -i does not fetch); passwd for useradd; the tools the test drives.
EM_ROOT_PKGS="systemd,dbus,iproute2,nftables,iptables,passwd,procps,curl,socat,\
libev4,libsodium23,libmsgpackc2,libyaml-0-2,libjansson4,libcurl4,libssl3"

nspawn_root_ensure() {
	local tmp
	case ${B:-build} in *-san)
		echo "SKIP: $B is a sanitizer build (make SAN=1): the Debian root has no libasan to run it"
		return 1 ;;
	esac
	if ! command -v systemd-nspawn >/dev/null 2>&1; then
		echo "SKIP: systemd-nspawn is missing (apt-get install systemd-container)"
		return 1
	fi
	# built for this package list (a new list builds a new root)
	[ "$(cat "$EM_ROOT_CACHE/.complete" 2>/dev/null)" = "$EM_ROOT_PKGS" ] && return 0
	if ! command -v mmdebstrap >/dev/null 2>&1; then
		echo "SKIP: no cached root at $EM_ROOT_CACHE and no mmdebstrap (apt-get install mmdebstrap)"
		return 1
	fi
	echo "# bootstrapping a $EM_ROOT_SUITE root into $EM_ROOT_CACHE (once; a few minutes)"
	tmp="$EM_ROOT_CACHE.tmp.$$"
	rm -rf "$tmp"
	if ! mmdebstrap --quiet --variant=minbase --include="$EM_ROOT_PKGS" \
		"$EM_ROOT_SUITE" "$tmp" >"$tmp.log" 2>&1; then
		echo "SKIP: bootstrapping a Debian root failed (no route to the archive?):"
		tail -5 "$tmp.log"
		rm -rf "$tmp" "$tmp.log"
		return 1
	fi
	rm -f "$tmp.log"
	# quiet, quick boots: no getty, no network wait
	ln -sf /dev/null "$tmp/etc/systemd/system/getty.target"
	ln -sf /dev/null "$tmp/etc/systemd/system/console-getty.service"
	: >"$tmp/etc/machine-id"
	echo "$EM_ROOT_PKGS" >"$tmp/.complete"
	rm -rf "$EM_ROOT_CACHE"
	mv "$tmp" "$EM_ROOT_CACHE"
}

# Boot an overlay of the cached root (fresh upper layer) as machine $1.
# systemd-nspawn registers with no machined (this machine's PID 1 is not
# systemd) and keeps its own cgroup; nsx enters the container's namespaces
# through its PID 1.
nspawn_boot() {
	NS_NAME=$1
	NS_DIR=$(mktemp -d "/tmp/edgemesh-nspawn-$1.XXXXXX")
	mkdir -p "$NS_DIR/upper" "$NS_DIR/work" "$NS_DIR/root"
	mount -t overlay overlay -o "lowerdir=$EM_ROOT_CACHE,upperdir=$NS_DIR/upper,workdir=$NS_DIR/work" \
		"$NS_DIR/root" || return 1
	systemd-nspawn -q -D "$NS_DIR/root" -M "$NS_NAME" --register=no --keep-unit \
		--private-network -b --console=passive >"$NS_DIR/console.log" 2>&1 &
	NS_PID=$!
	NS_INIT=""
	local i s
	for i in $(seq 1 300); do
		[ -z "$NS_INIT" ] && NS_INIT=$(pgrep -P "$NS_PID" -x systemd | head -1)
		if [ -n "$NS_INIT" ]; then
			s=$(nsx systemctl is-system-running 2>/dev/null)
			case $s in running | degraded) return 0 ;; esac
		fi
		kill -0 "$NS_PID" 2>/dev/null || break
		sleep 0.2
	done
	echo "nspawn: $NS_NAME did not boot:"
	tail -20 "$NS_DIR/console.log"
	return 1
}

nsx() { nsenter -t "$NS_INIT" -a -- "$@"; }

nspawn_stop() {
	[ -n "${NS_PID:-}" ] || return 0
	kill -TERM "$NS_PID" 2>/dev/null	# nspawn powers the container off
	timeout 20 tail --pid="$NS_PID" -f /dev/null 2>/dev/null || kill -9 "$NS_PID" 2>/dev/null
	wait "$NS_PID" 2>/dev/null
	umount "$NS_DIR/root" 2>/dev/null || umount -l "$NS_DIR/root"
	# nspawn leaves this directory when /run is not a tmpfs
	rmdir "/run/systemd/nspawn/propagate/$NS_NAME" 2>/dev/null
	[ -n "${E2E_KEEP:-}" ] || rm -rf "$NS_DIR"
	NS_PID=""
}

# Inside the booted machine: the users (scripts/add-users.sh), a config on
# the embedded file registry with one Service (web: 10.96.7.10:80, by name
# web.default.svc.cluster.local) whose endpoint 10.77.0.2:8080 is a socat
# answering "backend" on a veth, a PSK made as README says, and DNS
# through dnsd; Service slow (10.96.7.11:80) answers the same after a second;
# Service given has no clusterIP: the controller gives one and keeps it.
# $1: skip the users (the package makes them).
NS_SVC_IP=10.96.7.10
NS_SVC_NAME=web.default.svc.cluster.local
nspawn_mesh_setup() {
	local r=$NS_DIR/root
	if [ "${1:-}" != nousers ]; then
		cp scripts/add-users.sh "$r/var/tmp/" && nsx sh /var/tmp/add-users.sh
	fi
	mkdir -p "$r/etc/edgemesh/registry"
	cat >"$r/etc/edgemesh/edgemesh.yaml" <<CFG
commonConfig:
  nodeName: hs-node
registry:
  path: /etc/edgemesh/registry
modules:
  edgeDNS:
    enable: true
  edgeProxy:
    enable: true
  edgeTunnel:
    enable: true
    psk:
      enable: true
      path: /etc/edgemesh/psk
  edgeGateway:
    enable: true
CFG
	cat >"$r/etc/edgemesh/registry/web.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.7.10
  ports: [{name: http, protocol: TCP, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: default}
subsets:
- addresses: [{ip: 10.77.0.2, nodeName: hs-node}]
  ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: slow, namespace: default}
spec:
  clusterIP: 10.96.7.11
  ports: [{name: http, protocol: TCP, port: 80, targetPort: 8081}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: slow, namespace: default}
subsets:
- addresses: [{ip: 10.77.0.2, nodeName: hs-node}]
  ports: [{name: http, port: 8081, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: given, namespace: default}
spec:
  ports: [{name: http, protocol: TCP, port: 80}]
YAML
	nsx sh -c 'edgemeshctl gen-psk >/etc/edgemesh/psk &&
		chown edgemesh-tunneld /etc/edgemesh/psk && chmod 600 /etc/edgemesh/psk'
	nsx sh -c 'ip link add hsb0 type veth peer name hsb1 && ip addr add 10.77.0.2/24 dev hsb0 &&
		ip link set hsb1 up && ip link set hsb0 up && ip route add default dev hsb0'
	mv "$r/etc/resolv.conf" "$NS_DIR/resolv.conf.orig"
	echo "nameserver 169.254.96.16" >"$r/etc/resolv.conf"
	# drains the request head, then answers
	cat >"$r/var/tmp/answer.sh" <<'SH'
while read -r l; do case $l in "" | "$(printf '\r')") break ;; esac; done
printf 'HTTP/1.0 200 OK\r\nContent-Length: 8\r\n\r\nbackend\n'
SH
	nsx systemd-run -q --unit=hs-backend socat TCP-LISTEN:8080,bind=10.77.0.2,fork,reuseaddr \
		EXEC:"sh /var/tmp/answer.sh"
	# slow: answers after a second
	nsx systemd-run -q --unit=hs-slow socat TCP-LISTEN:8081,bind=10.77.0.2,fork,reuseaddr \
		SYSTEM:"sleep 1; sh /var/tmp/answer.sh"
}

# One request through proxyd, by ClusterIP or by name (dnsd): prints the body.
nspawn_get() {	# ip|name
	local h=$NS_SVC_IP
	[ "$1" = name ] && h=$NS_SVC_NAME
	nsx curl -s -m 3 "http://$h/"
}

# A second node for nspawn_mesh_setup's machine (test_units): hs-peer, its
# own network namespace inside the machine, linked to hs-node by a veth
# (10.78.0.1 / 10.78.0.2, the Node objects' InternalIPs), running the
# installed controller and tunneld as transient units (root, switching to
# their users; runtime and state dirs of its own).  Service far
# (10.96.7.12:80) has its one endpoint 10.79.0.2:8082 on hs-peer, reachable
# from hs-node only through the tunnel; hs-peer:22 (allowedNodePorts'
# default) answers SOCKS5 clients by node name; gatewayd on hs-node routes
# 10.78.0.1:23333 to far.  Each answers "peer".
nspawn_peer_setup() {
	local r=$NS_DIR/root
	nsx sh -c 'ip netns add hspeer && ip link add hsp0 type veth peer name hsp1 netns hspeer &&
		ip addr add 10.78.0.1/24 dev hsp0 && ip link set hsp0 up &&
		ip -n hspeer link set lo up && ip -n hspeer addr add 10.78.0.2/24 dev hsp1 &&
		ip -n hspeer link set hsp1 up && ip -n hspeer addr add 10.79.0.2/32 dev lo &&
		install -d -m 1775 -g edgemesh /run/hs-peer && mkdir -p /etc/hs-peer' || return 1
	cat >"$r/etc/hs-peer/edgemesh.yaml" <<CFG
commonConfig:
  nodeName: hs-peer
  runtimeDir: /run/hs-peer
  stateDir: /var/lib/hs-peer
registry:
  path: /etc/edgemesh/registry
modules:
  edgeDNS:
    enable: false
  edgeProxy:
    enable: false
  edgeTunnel:
    enable: true
    psk:
      enable: true
      path: /etc/edgemesh/psk
CFG
	cat >"$r/etc/edgemesh/registry/far.yaml" <<'YAML'
apiVersion: v1
kind: Node
metadata: {name: hs-node}
status: {addresses: [{type: InternalIP, address: 10.78.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: hs-peer}
status: {addresses: [{type: InternalIP, address: 10.78.0.2}]}
---
apiVersion: v1
kind: Service
metadata: {name: far, namespace: default}
spec:
  clusterIP: 10.96.7.12
  ports: [{name: http, protocol: TCP, port: 80, targetPort: 8082}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: far, namespace: default}
subsets:
- addresses: [{ip: 10.79.0.2, nodeName: hs-peer}]
  ports: [{name: http, port: 8082, protocol: TCP}]
---
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata: {name: edgemesh-gateway, namespace: default}
spec:
  selector: {kubeedge: edgemesh-gateway}
  servers:
  - hosts: ['*']
    port: {name: http-0, number: 23333, protocol: HTTP}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: far-route, namespace: default}
spec:
  gateways: [edgemesh-gateway]
  hosts: ['*']
  http:
  - match: [{uri: {prefix: /}}]
    route: [{destination: {host: far, port: {number: 80}}}]
YAML
	sed 's/backend/peer/; s/Length: 8/Length: 5/' "$r/var/tmp/answer.sh" >"$r/var/tmp/answer-peer.sh"
	local d
	for d in controller tunneld; do
		nsx systemd-run -q --unit="hs-peer-$d" -p NetworkNamespacePath=/run/netns/hspeer \
			"/usr/sbin/edgemesh-$d" -c /etc/hs-peer/edgemesh.yaml || return 1
	done
	nsx systemd-run -q --unit=hs-peer-backend -p NetworkNamespacePath=/run/netns/hspeer \
		socat TCP-LISTEN:8082,bind=10.79.0.2,fork,reuseaddr EXEC:"sh /var/tmp/answer-peer.sh"
	nsx systemd-run -q --unit=hs-peer-ssh -p NetworkNamespacePath=/run/netns/hspeer \
		socat TCP-LISTEN:22,fork,reuseaddr EXEC:"sh /var/tmp/answer-peer.sh"
}
