# shellcheck shell=bash
# The EdgeMesh anchor for bench/tunnel.sh: KubeEdge's edgemesh-agent ($EM)
# on nodes 3 and 4 of the bench topology, as its README says: a Kubernetes
# API (tests/fakeapi/fakeapi.py, which listens on 127.0.0.1, so one in each
# node's namespace, both given the same objects), NODE_NAME, a config file.
# Services: 10.96.9.20:$BULKP and 10.96.9.21:$ECHOP -> pod 4 (10.201.4.10);
# across the camps 10.96.9.40:$BULKP and .41:$ECHOP -> pod 2 on edge-2 (ours,
# which the agents know as a relay node, so they connect to it at start).
#
#   em_start     -> 0 when pod 3 gets an echo through the ClusterIP; sets
#                   EMP3 EMP4 (the agents' pids)

em_objects() {
	python3 - "$BULKP" "$ECHOP" <<'PY'
import json, sys
bulk, echo = int(sys.argv[1]), int(sys.argv[2])
objs = []
for name, ip, port, ep, node in (("bench-bulk", "10.96.9.20", bulk, "10.201.4.10", "node-4"),
                                 ("bench-echo", "10.96.9.21", echo, "10.201.4.10", "node-4"),
                                 ("bench-x-bulk", "10.96.9.40", bulk, "10.201.2.10", "edge-2"),
                                 ("bench-x-echo", "10.96.9.41", echo, "10.201.2.10", "edge-2")):
    meta = {"namespace": "default", "name": name}
    objs.append({"apiVersion": "v1", "kind": "Service", "metadata": meta,
                 "spec": {"clusterIP": ip, "type": "ClusterIP", "ports": [
                     {"name": "p", "port": port, "protocol": "TCP", "targetPort": port}]}})
    objs.append({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta,
                 "subsets": [{"addresses": [{"ip": ep, "nodeName": node}],
                              "ports": [{"name": "p", "port": port, "protocol": "TCP"}]}]})
    objs.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                 "metadata": {"namespace": "default", "name": name + "-x",
                              "labels": {"kubernetes.io/service-name": name}},
                 "addressType": "IPv4",
                 "endpoints": [{"addresses": [ep], "nodeName": node,
                                "conditions": {"ready": True}}],
                 "ports": [{"name": "p", "port": port, "protocol": "TCP"}]})
for i, n in ((2, "edge-2"), (3, "node-3"), (4, "node-4")):
    objs.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n},
                 "status": {"addresses": [{"type": "InternalIP", "address": "10.200.0.1%d" % i}]}})
print(json.dumps({"objects": objs}))
PY
}

em_pid() {	# node -> the agent's pid in that namespace
	local p
	for p in $(bench_ns_pids "$1"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = edgemesh-agent ] && echo "$p"
	done | head -n1
}

em_start() {
	local i d port objs
	objs=$(em_objects) || return 1
	for i in 3 4; do
		d=$E2E_DIR/n$i
		e2e_fakeapi "$i" "$objs" || return 1
		port=$(cat "$d/api.port")
		cat >"$d/edgemesh-agent.yaml" <<Y
apiVersion: agent.edgemesh.config.kubeedge.io/v1alpha1
kind: EdgeMeshAgent
kubeAPIConfig:
  master: http://127.0.0.1:$port
  contentType: application/json
modules:
  edgeDNS: {enable: true}
  edgeProxy: {enable: true}
  edgeTunnel:
    enable: true
    listenPort: 20006
    transport: tcp
    psk: {enable: true, path: $E2E_DIR/psk}
    relayNodes:
    - nodeName: node-4
      advertiseAddress: [10.200.0.14]
    - nodeName: edge-2
      advertiseAddress: [10.200.0.12]
Y
		# from its node's directory: its DNS module writes a Corefile there
		(cd "$d" && exec ip netns exec "$(ns n$i)" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			NODE_NAME=node-$i NAMESPACE=kubeedge "$EM" --config-file "$d/edgemesh-agent.yaml") \
			>"$d/agent.log" 2>&1 &
		E2E_PIDS="$E2E_PIDS $!"
	done
	wait_for 90 echo_ok p3 10.96.9.21:$ECHOP || return 1
	EMP3=$(em_pid n3) EMP4=$(em_pid n4)
	[ -n "$EMP3" ] && [ -n "$EMP4" ]
}
