#!/bin/bash
# registry.serviceCIDR end to end: EdgeMesh's examples/hostname.yaml as it
# is, without a clusterIP (tests/fixtures/manifests/hostname.yaml), in the
# file registry of two nodes, each with its own controller:
#
#   - both controllers give hostname-svc the same ClusterIP, inside the
#     default range 10.96.0.0/12 (edgemeshctl services on each node)
#   - dnsd answers the name with it on both nodes
#   - a pod on node 1 reaches the service's pod on node 2 by name
#   - the address survives a controller restart; the controller keeps it
#     in stateDir/controller/clusterips and uses what it kept; a corrupt table is
#     reported with its file and line, and the address recomputed
#   - a Service that sets that address as its clusterIP takes it; both
#     nodes move hostname-svc to the same next address
#   - EdgeMesh's other examples, unchanged beside it (hostname-udp,
#     hostname-lb-random, tcp-echo-service, cloudzone, edgezone): every
#     Service gets its own address, dnsd answers each; the issue's UDP case
#     `echo hi | nc -u hostname-udp-svc 12345` from a bridged pod answers
#   - registry.serviceCIDR set on both nodes: after a controller restart
#     the addresses are given from that range, the same on both nodes
. "$(dirname "$0")/lib.sh"
e2e_init ralloc
for t in dig curl python3; do
	command -v $t >/dev/null || { echo "SKIP registry_alloc: $t missing"; exit 77; }
done
WAIT=10
SVC=default/hostname-svc

e2e_topology 2
mkdir -p "$E2E_DIR/registry"
# the manifest unchanged (Deployment + Service without clusterIP), the nodes,
# and the Endpoints the endpoints controller would make for the Deployment's
# one pod, which runs on edge-2
EXAMPLES="hostname hostname-udp hostname-lb-random tcp-echo-service cloudzone edgezone"
for f in $EXAMPLES; do cp "tests/fixtures/manifests/$f.yaml" "$E2E_DIR/registry/"; done
cp tests/fixtures/registry/nodes.yaml "$E2E_DIR/registry/"
cat >"$E2E_DIR/registry/hostname-endpoints.yaml" <<'EOF'
apiVersion: v1
kind: Endpoints
metadata:
  name: hostname-svc
  namespace: default
subsets:
- addresses:
  - ip: 10.201.2.10
    nodeName: edge-2
    targetRef: {kind: Pod, namespace: default, name: hostname-edge-5cd75b689f-4gxhp}
  ports:
  - name: http-0
    port: 9376
    protocol: TCP
---
apiVersion: v1
kind: Endpoints
metadata:
  name: hostname-udp-svc
  namespace: default
subsets:
- addresses:
  - ip: 10.201.2.10
    nodeName: edge-2
  ports:
  - name: udp-0
    port: 9376
    protocol: UDP
EOF
for f in $EXAMPLES; do
	grep -q clusterIP "$E2E_DIR/registry/$f.yaml" && fail "the fixture $f.yaml must carry no clusterIP"
done
for i in 1 2; do
	e2e_config $i </dev/null >/dev/null
	# a node has a default route: ClusterIPs must route for OUTPUT nat to see them
	in_ns n$i ip route add default dev eth0
done
in_ns p2 python3 tests/tools/serve_hostname.py --name hostname-edge-5cd75b689f-4gxhp \
	--bind 10.201.2.10 --http 9376 --udp 9376 >"$E2E_DIR/serve.log" 2>&1 &
E2E_PIDS="$E2E_PIDS $!"
wait_for 20 in_ns p2 curl -s -m 1 http://10.201.2.10:9376/ || fail "the pod's server is up"
for i in 1 2; do
	for d in controller tunneld proxyd dnsd; do e2e_daemon $i $d; done
done
e2e_resolver p1

# the ClusterIP `edgemeshctl services` shows on node i, "" if none
cip() { e2e_ctl "$1" services 2>/dev/null | awk -v s="$SVC" '$1 == s { print $2 }'; }
cip_is() { [ "$(cip "$1")" = "$2" ]; }
has_ip() { [ -n "$(cip "$1" | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$')" ]; }
in_range() {	# ip cidr
	python3 -c 'import ipaddress, sys
n = ipaddress.ip_network(sys.argv[2]); a = ipaddress.ip_address(sys.argv[1])
sys.exit(not (a in n and a not in (n.network_address, n.broadcast_address)))' "$1" "$2"
}
dig_is() {	# i ip
	[ "$(in_ns n$1 dig +short +time=1 +tries=1 hostname-svc.default.svc.cluster.local @169.254.96.16)" = "$2" ]
}
curl_pod() { in_ns p1 curl -s -m 3 http://hostname-svc:12345/; }
curl_is_pod() { [ "$(curl_pod)" = hostname-edge-5cd75b689f-4gxhp ]; }
table_has() {	# i ip
	grep -qxF "$SVC $2" "$E2E_DIR/n$1/state/controller/clusterips"
}
restart_controller() {	# i
	e2e_kill "$1" controller
	e2e_daemon "$1" controller
	wait_for $WAIT e2e_ctl "$1" status
}

ok "node 1 gives $SVC a ClusterIP" wait_for $WAIT has_ip 1
ok "node 2 gives $SVC a ClusterIP" wait_for $WAIT has_ip 2
IP=$(cip 1)
if ! [[ $IP =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
	fail "node 1 shows no ClusterIP for $SVC ($IP): nothing more to test"
	e2e_done
	exit
fi
ok "both nodes give the same one ($IP, $(cip 2))" test "$IP" = "$(cip 2)"
ok "it is inside the default registry.serviceCIDR 10.96.0.0/12" in_range "$IP" 10.96.0.0/12
ok "dnsd on node 1 answers $IP" wait_for $WAIT dig_is 1 "$IP"
ok "dnsd on node 2 answers $IP" wait_for $WAIT dig_is 2 "$IP"
ok "a pod on node 1 reaches the pod on node 2 by Service name ($(curl_pod))" \
	wait_for $WAIT curl_is_pod
ok "node 1 keeps it in stateDir/controller/clusterips" wait_for $WAIT table_has 1 "$IP"

# a restart: the same address, and service by name goes on
restart_controller 1
ok "after a controller restart node 1 shows the same ClusterIP" wait_for $WAIT cip_is 1 "$IP"
ok "... and by name still reaches the pod" wait_for $WAIT curl_is_pod

# what the table says is what a restart uses (stable while others come and go)
e2e_kill 1 controller
OTHER=$(python3 -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1]) + 1)' "$IP")
printf '# kept by an earlier run\n%s %s\n' "$SVC" "$OTHER" >"$E2E_DIR/n1/state/controller/clusterips"
e2e_daemon 1 controller
ok "a restart uses the kept address ($OTHER)" wait_for $WAIT cip_is 1 "$OTHER"
ok "dnsd on node 1 follows it" wait_for $WAIT dig_is 1 "$OTHER"

# a corrupt table: an error naming the file and line, then the address recomputed
e2e_kill 1 controller
printf '%s %s\n%s not-an-address\n' "$SVC" "$OTHER" default/x >"$E2E_DIR/n1/state/controller/clusterips"
e2e_daemon 1 controller
ok "a corrupt table is reported with its file and line" wait_for $WAIT \
	grep -qF "registry: $E2E_DIR/n1/state/controller/clusterips:2: " "$E2E_DIR/n1/controller.log"
ok "... the address is recomputed: node 1 agrees with node 2 again" wait_for $WAIT cip_is 1 "$IP"
ok "... and the table is good again" wait_for $WAIT table_has 1 "$IP"
ok "... and by name still reaches the pod" wait_for $WAIT curl_is_pod

# a Service that sets hostname-svc's address as its clusterIP takes it, and
# both nodes move hostname-svc to the same next address
cat >"$E2E_DIR/registry/pinned.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: pinned, namespace: default}
spec:
  clusterIP: $IP
  ports: [{port: 80}]
EOF
moved() { [ "$(cip "$1")" != "$IP" ] && has_ip "$1"; }
ok "an explicit clusterIP takes the address: node 1 moves $SVC" wait_for $WAIT moved 1
ok "... node 2 too" wait_for $WAIT moved 2
NEW=$(cip 1)
ok "... to the same address on both ($NEW, $(cip 2))" test "$NEW" = "$(cip 2)"
ok "... dnsd on node 2 answers it" wait_for $WAIT dig_is 2 "$NEW"
ok "... and by name still reaches the pod" wait_for $WAIT curl_is_pod

# EdgeMesh's other examples, as they are: one address each, all different,
# each name answered by dnsd
SVCS="default/hostname-udp-svc default/hostname-lb-svc default/tcp-echo-service
	cloudzone/tcp-echo-cloud-svc edgezone/tcp-echo-edge-svc"
ips() { local s; for s in $SVC $SVCS; do SVC=$s cip 1; done; }
all_given() { [ "$(ips | grep -cE '^[0-9]+(\.[0-9]+){3}$')" -eq 6 ]; }
ok "every Service of the examples has a ClusterIP" wait_for $WAIT all_given
ok "... six different ones ($(ips | tr '\n' ' '))" test "$(ips | sort -u | wc -l)" -eq 6
names_answer() {
	local s ip
	for s in $SVCS; do
		ip=$(SVC=$s cip 1)
		[ "$(in_ns n1 dig +short +time=1 +tries=1 "${s#*/}.${s%/*}.svc.cluster.local" @169.254.96.16)" = "$ip" ] ||
			return 1
	done
}
ok "dnsd answers each of them with its address" wait_for $WAIT names_answer
udp_pod() { in_ns p1 sh -c 'echo hi | timeout 5 nc -u -w 2 hostname-udp-svc 12345'; }
udp_is_pod() { [ "$(udp_pod)" = hostname-edge-5cd75b689f-4gxhp ]; }
ok "echo hi | nc -u hostname-udp-svc 12345 from a bridged pod answers ($(udp_pod))" \
	wait_for $WAIT udp_is_pod

# a configured registry.serviceCIDR (outside the default range): after a
# restart the controllers give addresses from it, the same on both nodes
CIDR=172.21.0.0/16
for i in 1 2; do
	sed -i "/^registry:/a\\  serviceCIDR: $CIDR" "$E2E_DIR/n$i/edgemesh.yaml"
	restart_controller $i
done
in_cidr() { has_ip "$1" && in_range "$(cip "$1")" $CIDR; }
ok "registry.serviceCIDR $CIDR: node 1 gives $SVC an address in it" wait_for $WAIT in_cidr 1
ok "... node 2 the same one ($(cip 1), $(cip 2))" wait_for $WAIT cip_is 2 "$(cip 1)"
ok "... dnsd answers it" wait_for $WAIT dig_is 1 "$(cip 1)"
ok "... and by name still reaches the pod" wait_for $WAIT curl_is_pod

e2e_done
