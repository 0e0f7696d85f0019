#!/bin/bash
# The container image (`make image`, packaging/Containerfile) and the
# DaemonSet's pod spec (k8s/, rendered by kubectl kustomize) run as
# Kubernetes would, on two network-namespace nodes, with EdgeMesh v1.17's
# own ConfigMaps (tests/fixtures/edgemesh/); the gateway Deployment's pod
# (k8s/gateway) on a third:
#
#   the image holds the daemons, edgemeshctl, nft and exactly the libraries
#   ldd names, no shell; its passwd has the uids that k8s/ runs them as
#   podman is tried; containers cannot run on this machine (crun: no
#   CAP_SYS_RESOURCE for the rlimits, cgroups in hybrid mode), so the image's
#   root runs through tests/e2e/podrun.py: overlay root remounted read-only,
#   the volumes as kubelet lays them out (the PSK ConfigMap 0400 by subPath),
#   runAsUser/runAsGroup, bounding set = capabilities.add, no_new_privs
#   EdgeMesh's PSK ConfigMap unchanged (its public example PSK): tunneld
#   refuses it and says how to make one; regenerated as EdgeMesh's guide says
#   EdgeMesh's agent ConfigMap unchanged: each node's pod (5 containers) gets
#   ready by its own probes (`edgemeshctl health`), each daemon runs as its
#   uid with only its capabilities, and a pod on edge-1 reaches a Service
#   whose endpoint is on edge-2 by name (dnsd) and ClusterIP (proxyd, tunneld)
#   the gateway pod: ready, gatewayd as uid 10006 with NET_BIND_SERVICE only,
#   a VirtualService route to the Service on edge-2 through the tunnel
#   a restarted container (tunneld, dnsd) comes back ready in its pod; the
#   tunneld container's restart keeps a keep-alive connection through it
#   (the hand-over parked in the controller container)
#   a stopped daemon fails its probe while the others pass
#
# The Kubernetes API: each node's KubeEdge metaServer (127.0.0.1:10550, the
# edge mode EdgeMesh's ConfigMap selects) is tests/fakeapi/fakeapi.py.
. tests/e2e/lib.sh
e2e_init image
# buildah is what `make image` needs (Debian's package); installed when missing
command -v buildah >/dev/null || DEBIAN_FRONTEND=noninteractive timeout 300 \
	apt-get install -y -qq --no-install-recommends buildah >/dev/null 2>&1
for t in buildah capsh unshare nsenter kubectl curl openssl; do
	command -v $t >/dev/null || { echo "SKIP image: $t missing"; exit 77; }
done
/usr/bin/python3 -c 'import yaml' 2>/dev/null || { echo "SKIP image: python3-yaml missing"; exit 77; }
PY=/usr/bin/python3
POD="$PY tests/e2e/podrun.py"
IMG=localhost/edgemesh-c:e2e-$$
CTR=""
img_cleanup() {
	local f
	if [ "$E2E_FAIL" -gt 0 ]; then
		for f in "$E2E_DIR"/pod*/*.log; do
			[ -f "$f" ] && { echo "--- $f (tail)"; tail -n 15 "$f"; }
		done
	fi
	[ -n "$CTR" ] && buildah rm "$CTR" >/dev/null 2>&1
	CTR=""
	buildah rmi "$IMG" >/dev/null 2>&1
}
trap 'img_cleanup; e2e_cleanup' EXIT INT TERM

# ---- the image ----
EDGEMESH_CACHE="$E2E_DIR/cache" make -s image B="$B" IMAGE="$IMG" >"$E2E_DIR/build.log" 2>&1 ||
	{ cat "$E2E_DIR/build.log"; echo "test_image: make image failed"; exit 1; }
ok "make image: $IMG built offline (buildah, FROM scratch)" true
ok "... and its OCI archive for the nodes ($B/edgemesh-c.oci.tar)" \
	grep -q "OCI archive $B/edgemesh-c.oci.tar" "$E2E_DIR/build.log"
CTR=$(buildah from --pull-never "$IMG")
ROOT=$(buildah mount "$CTR")
want() {
	for b in "$B"/edgemesh-{controller,dnsd,proxyd,tunneld,socksd,gatewayd} "$B/edgemeshctl" "$(command -v nft)"; do
		ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
	done | sort -u
	printf '%s\n' /usr/sbin/edgemesh-{controller,dnsd,proxyd,tunneld,socksd,gatewayd} \
		/usr/sbin/nft /usr/bin/edgemeshctl /etc/{passwd,group,nsswitch.conf,resolv.conf,hosts}
}
(cd "$ROOT" && find . ! -type d | sed 's|^\.||' | sort) > "$E2E_DIR/files"
ok "image: exactly the programs, the libraries ldd names and /etc files" \
	diff -u <(want | sort) "$E2E_DIR/files"
ok "image: no shell" test ! -e "$ROOT/bin/sh" -a ! -e "$ROOT/usr/bin/sh"
ok "image: default user 10001 (the controller's)" \
	test "$(buildah inspect --format '{{.OCIv1.Config.User}}' "$CTR")" = 10001:10001

kubectl kustomize k8s > "$E2E_DIR/render.yaml"
kubectl kustomize k8s/gateway > "$E2E_DIR/render-gw.yaml"
# every uid the DaemonSet runs a daemon as (runAsUser, or -u after a root
# start) is that daemon's edgemesh-<daemon> user in the image
ok "image: passwd names every uid of the DaemonSet edgemesh-<daemon>" $PY - "$E2E_DIR/render.yaml" "$ROOT/etc/passwd" <<'PY'
import sys, yaml
ds = [o for o in yaml.safe_load_all(open(sys.argv[1])) if o and o["kind"] == "DaemonSet"][0]
pw = {int(l.split(":")[2]): l.split(":")[0] for l in open(sys.argv[2])}
bad = 0
for c in ds["spec"]["template"]["spec"]["containers"]:
    cmd = c["command"]
    uid = int(cmd[cmd.index("-u") + 1]) if "-u" in cmd else c["securityContext"]["runAsUser"]
    if pw.get(uid) != "edgemesh-" + c["name"]:
        print("# %s runs as %d, passwd says %s" % (c["name"], uid, pw.get(uid))); bad = 1
sys.exit(bad)
PY

if out=$(timeout 60 podman run --rm --network none --read-only --cap-drop ALL "$IMG" \
	/usr/bin/edgemeshctl gen-psk 2>&1); then
	ok "podman runs the image" test "$(printf '%s' "$out" | base64 -d | wc -c)" -eq 32
else
	echo "# podman cannot run containers here: $out"
	echo "# so the image's root runs the pod spec with tests/e2e/podrun.py (unshare, overlay, capsh)"
fi

# ---- three nodes, each with its metaServer stand-in; the gateway on cloud-1 ----
e2e_topology 3
for i in 1 2 3; do in_ns n$i ip route add default dev eth0; done
cat > "$E2E_DIR/objects.json" <<'EOF'
{"objects": [
 {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "edge-1"},
  "status": {"addresses": [{"type": "InternalIP", "address": "10.200.0.11"}]}},
 {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "edge-2"},
  "status": {"addresses": [{"type": "InternalIP", "address": "10.200.0.12"}]}},
 {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cloud-1"},
  "status": {"addresses": [{"type": "InternalIP", "address": "10.200.0.13"}]}},
 {"apiVersion": "networking.istio.io/v1alpha3", "kind": "Gateway",
  "metadata": {"namespace": "default", "name": "edgemesh-gateway"},
  "spec": {"selector": {"kubeedge": "edgemesh-gateway"},
           "servers": [{"hosts": ["*"], "port": {"name": "http-0", "number": 23333, "protocol": "HTTP"}}]}},
 {"apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
  "metadata": {"namespace": "default", "name": "web-route"},
  "spec": {"gateways": ["edgemesh-gateway"], "hosts": ["*"],
           "http": [{"match": [{"uri": {"prefix": "/remote"}}],
                     "route": [{"destination": {"host": "web", "port": {"number": 80}}}]}]}},
 {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "default", "name": "web"},
  "spec": {"clusterIP": "10.96.0.50", "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 9376}]}},
 {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
  "metadata": {"namespace": "default", "name": "web-a", "labels": {"kubernetes.io/service-name": "web"}},
  "addressType": "IPv4",
  "endpoints": [{"addresses": ["10.201.2.10"], "nodeName": "edge-2", "conditions": {"ready": true}}],
  "ports": [{"name": "http", "port": 9376, "protocol": "TCP"}]}
]}
EOF
for i in 1 2 3; do
	in_ns n$i python3 tests/fakeapi/fakeapi.py --port 10550 >"$E2E_DIR/api$i.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
done
for i in 1 2 3; do
	wait_for 10 in_ns n$i curl -sf -X POST http://127.0.0.1:10550/_fake/put \
		--data-binary @"$E2E_DIR/objects.json" || fail "metaServer stand-in on edge-$i"
done
in_ns p2 python3 tests/e2e/proxy/servers.py http 10.201.2.10 9376 remote-pod &
E2E_PIDS="$E2E_PIDS $!"
wait_for 10 in_ns p2 curl -sf -m 1 http://10.201.2.10:9376/ || fail "server in edge-2's pod"

# pod i: podrun prepare; container c runs in node i's namespace, pid in pod$i/c.pid
pod_prepare() {	# i configmaps.yaml... (the agent) | i -gw configmaps.yaml... (the gateway)
	local i=$1 what="$E2E_DIR/render.yaml DaemonSet edgemesh-agent"; shift
	[ "$1" = -gw ] && { what="$E2E_DIR/render-gw.yaml Deployment edgemesh-gateway"; shift; }
	rm -rf "$E2E_DIR/pod$i" && mkdir -p "$E2E_DIR/pod$i"
	$POD prepare $what "$(e2e_node_name "$i")" "$E2E_DIR/pod$i" "$@"
}
ctr_start() {	# i container
	# ip itself in the background: $! is the container's process (ip, unshare,
	# podrun and capsh each exec the next)
	ip netns exec "$(ns n$1)" $POD run "$E2E_DIR/pod$1" "$2" "$ROOT" >"$E2E_DIR/pod$1/$2.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
	echo $! > "$E2E_DIR/pod$1/$2.pid"
}
probe() {	# i container readinessProbe|livenessProbe|startupProbe [run in container]
	local pid argv in=${4:-$2}
	pid=$(cat "$E2E_DIR/pod$1/$in.pid")
	argv=$($PY -c 'import json, sys; print(" ".join([c for c in json.load(open(sys.argv[1]))["containers"]
		if c["name"] == sys.argv[2]][0]["probes"][sys.argv[3]]))' "$E2E_DIR/pod$1/pod.json" "$2" "$3")
	$POD exec "$E2E_DIR/pod$1" "$in" "$pid" $argv
}
status() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# ---- EdgeMesh's PSK ConfigMap as shipped: refused ----
pod_prepare 1 tests/fixtures/edgemesh/agent-04-configmap.yaml
ok "PSK volume as kubelet makes it: root-owned, mode 0400" \
	test "$(stat -L -c '%u %a' "$E2E_DIR/pod1/vol/psk/psk")" = "0 400"
ctr_start 1 tunneld
P=$(cat "$E2E_DIR/pod1/tunneld.pid")
wait_for 10 sh -c "! kill -0 $P"
ok "EdgeMesh's example PSK: tunneld exits, naming it public" grep -q "public example PSK" "$E2E_DIR/pod1/tunneld.log"
ok "... and says how to make one (openssl, kubectl create configmap)" \
	grep -q "openssl rand -base64 32.*kubectl -n kubeedge create configmap edgemesh-agent-psk" "$E2E_DIR/pod1/tunneld.log"

# ---- regenerated as EdgeMesh's security guide says; the agent config unchanged ----
sed "s|JugH9HP1XBouyO5pWGeZa8LtipDURrf17EJvUHcJGuQ=|$(openssl rand -base64 32)|" \
	tests/fixtures/edgemesh/agent-04-configmap.yaml > "$E2E_DIR/user-configmaps.yaml"
ok "only the PSK value differs from EdgeMesh's file" \
	test "$(diff tests/fixtures/edgemesh/agent-04-configmap.yaml "$E2E_DIR/user-configmaps.yaml" | grep -c '^[<>]')" -eq 2
CS="controller dnsd proxyd tunneld socksd"
for i in 1 2; do
	pod_prepare $i "$E2E_DIR/user-configmaps.yaml"
	for c in $CS; do ctr_start $i $c; done
done
for i in 1 2; do
	for c in $CS; do
		ok "edge-$i/$c: startup and readiness probes pass" \
			wait_for 30 sh -c "$(declare -f probe); E2E_DIR='$E2E_DIR' POD='$POD' PY='$PY'
				probe $i $c startupProbe && probe $i $c readinessProbe"
	done
done

# the daemons as the DaemonSet says: uid, capabilities, no_new_privs, read-only root
# (CapEff hex: NET_ADMIN 12, NET_BIND_SERVICE 10)
check_proc() {	# i container uid capeff
	local p
	p=$(cat "$E2E_DIR/pod$1/$2.pid")
	[ "$(status "$p" Uid)" = "$3" ] && [ "$(status "$p" CapEff)" = "$4" ] &&
		[ "$(status "$p" CapPrm)" = "$4" ] && [ "$(status "$p" NoNewPrivs)" = 1 ] &&
		awk '$5 == "/" { split($6, o, ","); exit o[1] != "ro" }' "/proc/$p/mountinfo" ||
		{ grep -E '^(Uid|CapEff|CapPrm|NoNewPrivs)' "/proc/$p/status" | tr '\n' ' ' | sed 's/^/# /'; echo; false; }
}
ok "controller: uid 10001, no capability, no_new_privs, read-only root" check_proc 1 controller 10001 0000000000000000
ok "dnsd: bound :53 as root with NET_BIND_SERVICE, now uid 10002 with no capability" check_proc 1 dnsd 10002 0000000000000000
ok "proxyd: root start, now uid 10003 with NET_ADMIN only" check_proc 1 proxyd 10003 0000000000001000
ok "tunneld: read the 0400 PSK as root, now uid 10004 with no capability" check_proc 1 tunneld 10004 0000000000000000
ok "socksd: uid 10005, no capability" check_proc 1 socksd 10005 0000000000000000

e2e_resolver p1
ok "a pod on edge-1 reaches a Service with its endpoint on edge-2, by name (dnsd, proxyd, tunneld)" \
	wait_for 30 sh -c "[ \"\$(ip netns exec $(ns p1) curl -sf -m 3 http://web.default.svc.cluster.local/)\" = remote-pod ]"
ok "... and by ClusterIP" test "$(in_ns p1 curl -sf -m 3 http://10.96.0.50/)" = remote-pod

# the gateway Deployment's pod on cloud-1 (no agent there: both would bind
# the tunnel port), our gateway config, the agents' PSK as its own ConfigMap
$PY - "$E2E_DIR/user-configmaps.yaml" "$E2E_DIR/gw-psk.yaml" <<'PY'
import sys, yaml
psk = [o for o in yaml.safe_load_all(open(sys.argv[1])) if o["metadata"]["name"] == "edgemesh-agent-psk"][0]
psk["metadata"]["name"] = "edgemesh-gateway-psk"
psk["metadata"]["labels"]["kubeedge"] = "edgemesh-gateway"
yaml.safe_dump(psk, open(sys.argv[2], "w"))
PY
# edgemesh-gateway-cfg as scripts/k8s-config.sh makes it from k8s/config/
kubectl -n kubeedge create configmap edgemesh-gateway-cfg --dry-run=client -o yaml \
	--from-file=edgemesh-gateway.yaml=k8s/config/edgemesh-gateway.yaml > "$E2E_DIR/gw-cfg.yaml"
pod_prepare 3 -gw "$E2E_DIR/gw-cfg.yaml" "$E2E_DIR/gw-psk.yaml"
for c in controller gatewayd tunneld; do ctr_start 3 $c; done
for c in controller gatewayd tunneld; do
	ok "cloud-1 gateway/$c: startup and readiness probes pass" \
		wait_for 30 sh -c "$(declare -f probe); E2E_DIR='$E2E_DIR' POD='$POD' PY='$PY'
			probe 3 $c startupProbe && probe 3 $c readinessProbe"
done
ok "gatewayd: root start, now uid 10006 with NET_BIND_SERVICE only" check_proc 3 gatewayd 10006 0000000000000400
ok "gateway tunneld: uid 10004, no capability" check_proc 3 tunneld 10004 0000000000000000
ok "the gateway routes /remote to the Service on edge-2 (a VirtualService, through the tunnel)" \
	wait_for 30 sh -c "[ \"\$(ip netns exec $(ns n1) curl -sf -m 3 http://10.200.0.13:23333/remote)\" = remote-pod ]"

# a container restart keeps the pod's volumes: tunneld comes back with its
# key; and the old container's tunneld parks its sessions and streams with
# the controller container (SIGTERM, as kubelet stops a container), so a
# keep-alive connection through edge-2's tunnel carries on across it
in_ns p1 timeout 60 python3 tests/tools/keepalive.py 10.96.0.50 80 60 0.2 >"$E2E_DIR/ka.out" 2>&1 &
KAP=$!
sleep 2
kill "$(cat "$E2E_DIR/pod2/tunneld.pid")"
ctr_start 2 tunneld
ok "edge-2/tunneld restarted in its pod (the key it made, read back as root): ready again" \
	wait_for 30 sh -c "$(declare -f probe); E2E_DIR='$E2E_DIR' POD='$POD' PY='$PY'
		probe 2 tunneld readinessProbe"
ok "... the new container's tunneld took the sessions over from the controller container" \
	grep -q 'took over [1-9][0-9]* sessions and [1-9][0-9]* streams' "$E2E_DIR/pod2/tunneld.log"
ok "... and the Service across the nodes answers again" \
	wait_for 30 sh -c "[ \"\$(ip netns exec $(ns p1) curl -sf -m 3 http://10.96.0.50/)\" = remote-pod ]"
wait $KAP; rc=$?
ok "... a keep-alive connection through it carried on (rc=$rc, $(grep -c remote-pod "$E2E_DIR/ka.out") of 60 answers)" \
	test "$rc" -eq 0 -a "$(grep -c remote-pod "$E2E_DIR/ka.out")" -eq 60

# the probes are honest: dnsd stopped -> its probe command fails (run in the
# socksd container, as dnsd's own is gone), the controller's and socksd's pass
kill "$(cat "$E2E_DIR/pod1/dnsd.pid")"
ok "dnsd stopped: its liveness probe command fails" wait_for 10 sh -c "$(declare -f probe)
	E2E_DIR='$E2E_DIR' POD='$POD' PY='$PY'; ! probe 1 dnsd livenessProbe socksd"
ok "... the controller's and socksd's still pass" \
	sh -c "$(declare -f probe); E2E_DIR='$E2E_DIR' POD='$POD' PY='$PY'
		probe 1 controller livenessProbe && probe 1 socksd livenessProbe"
ctr_start 1 dnsd
ok "dnsd restarted in its pod: ready again" wait_for 30 sh -c "$(declare -f probe)
	E2E_DIR='$E2E_DIR' POD='$POD' PY='$PY'; probe 1 dnsd readinessProbe"

e2e_done
