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
cp tests/fixtures/manifests/hostname.yaml tests/fixtures/registry/nodes.yaml "$E2E_DIR/registry/"
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
EOF
grep -q clusterIP "$E2E_DIR/registry/hostname.yaml" && fail "the fixture must carry no clusterIP"
for i in 1 2; do
	e2e_config $i </dev/null >/dev/null
	# a node has a default route: ClusterIPs must route for OUTPUT nat to see them
	in_ns n$i ip route add default dev eth0
done
in_ns p2 python3 tests/tools/serve_hostname.py --name hostname-edge-5cd75b689f-4gxhp \
	--bind 10.201.2.10 --http 9376 >"$E2E_DIR/serve.log" 2>&1 &
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

e2e_done
