#!/bin/bash
# make demo: a three-node mesh on this machine.  Two edge sites and a cloud
# node, each in its own network namespace with a pod network behind it;
# every node runs the controller (embedded file registry: the example in
# tests/fixtures/registry), tunneld, proxyd and dnsd.  A pod on edge-1
# asks for a Service by name; the answer comes from a pod on another node,
# through proxyd and the encrypted tunnel.  Then ssh from edge-1 to
# cloud-1 by node name, through socksd and the tunnel.  Everything it starts is stopped
# and every namespace removed when it ends, however it ends.
set -u
B=${1:-build}
if [ "$(id -u)" -ne 0 ]; then
	echo "make demo needs root (it creates network namespaces)" >&2
	exit 1
fi
. tests/e2e/lib.sh
. tests/e2e/sshd_lib.sh
e2e_init demo
E2E_NAME=demo

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "three nodes: edge-1 10.200.0.11, edge-2 10.200.0.12, cloud-1 10.200.0.13"
e2e_topology 3
e2e_registry tests/fixtures/registry
for i in 1 2 3; do
	e2e_config "$i" >/dev/null <<CFG
  edgeProxy:
    enable: true
  edgeDNS:
    enable: true
CFG
	# ClusterIPs must route for the OUTPUT nat hook to see them
	in_ns n$i ip route add default dev eth0
	# the node's and its pod's resolver: dnsd on 169.254.96.16
	e2e_resolver n$i
	e2e_resolver p$i
done

say "pods (serve_hostname stand-ins, answering with their pod name)"
pod() {	# node-index ip name
	in_ns p$1 python3 tests/tools/serve_hostname.py --name "$3" --bind "$2" --http 9376 \
		>/dev/null 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
	echo "  $(e2e_node_name "$1")  $2  $3"
}
pod 2 10.201.2.10 hostname-edge-7b9c5d-e2a1x
pod 3 10.201.3.10 hostname-edge-7b9c5d-c1b2y
pod 1 10.201.1.30 hostname-lb-edge-59d8f7-e1a7q
pod 2 10.201.2.30 hostname-lb-edge-59d8f7-e2b8r
pod 3 10.201.3.30 hostname-lb-edge-59d8f7-c1c9s
for a in 2:10.201.2.10 3:10.201.3.10 1:10.201.1.30 2:10.201.2.30 3:10.201.3.30; do
	wait_for 10 in_ns p${a%%:*} curl -s -m 1 "http://${a#*:}:9376/" ||
		{ echo "pod ${a#*:} did not come up"; exit 1; }
done

say "daemons on every node: controller, tunneld, proxyd, dnsd"
for i in 1 2 3; do
	e2e_daemon "$i" controller
done
for i in 1 2 3; do
	wait_for 10 test -S "$E2E_DIR/n$i/run/controller.sock" || { echo "controller $i did not start"; exit 1; }
	e2e_daemon "$i" tunneld
	e2e_daemon "$i" proxyd
	e2e_daemon "$i" dnsd
done
for i in 1 2 3; do
	wait_for 15 in_ns n$i sh -c "'$B/edgemeshctl' -c '$E2E_DIR/n$i/edgemesh.yaml' status | grep -q '^dnsd *yes'" ||
		echo "  (dnsd on node $i is not up yet)"
done

say "edge-1: edgemeshctl services"
e2e_ctl 1 services

say "edge-1: curl http://hostname-svc.default:12345 (endpoints on edge-2 and cloud-1)"
for k in 1 2 3 4; do
	printf '  request %d -> ' "$k"
	in_ns p1 curl -s -m 5 http://hostname-svc.default:12345/ || echo "(no answer)"
done

say "edge-1: curl http://hostname-lb-svc:12345 (RANDOM DestinationRule, one pod per node)"
for k in 1 2 3 4 5 6; do
	printf '  request %d -> ' "$k"
	in_ns n1 curl -s -m 5 http://hostname-lb-svc.default.svc.cluster.local:12345/ || echo "(no answer)"
done

say "edge-1: dig hostname-svc.default.svc.cluster.local"
in_ns n1 dig +short +time=2 +tries=1 hostname-svc.default.svc.cluster.local @169.254.96.16

say "edge-1: ssh root@cloud-1, by node name, through socksd and the tunnel"
e2e_sshd n3 10.200.0.13
e2e_daemon 1 socksd
wait_for 10 in_ns n1 sh -c "ss -lnt | grep -q 169.254.96.16:10800"
echo '  $ ssh -o "ProxyCommand nc -X 5 -x 169.254.96.16:10800 %h %p" root@cloud-1 ip -4 -o addr show eth0'
in_ns n1 timeout 20 $SSH -o LogLevel=ERROR \
	-o "ProxyCommand=nc -X 5 -x 169.254.96.16:10800 %h %p" root@cloud-1 \
	'ip -4 -o addr show eth0' | awk '{print "  " $2 " " $4 "   <- cloud-1'"'"'s address: the shell ran there"}' ||
	echo "  (ssh failed)"

say "edge-1: edgemeshctl peers"
e2e_ctl 1 peers
say "edge-1: edgemeshctl status"
e2e_ctl 1 status
echo
echo "(stopping everything and removing the namespaces)"
