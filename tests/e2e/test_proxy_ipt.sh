#!/bin/bash
# proxyd with modules.edgeProxy.rulesBackend: iptables (KUBE-PORTALS-* chains).
. tests/e2e/lib.sh
. tests/e2e/proxy/registry.sh
e2e_init proxyipt
e2e_topology 1
e2e_registry tests/fixtures/registry
rm -f "$E2E_DIR"/registry/hostname*.yaml "$E2E_DIR"/registry/tcp-echo.yaml
proxy_registry "$E2E_DIR/registry"
e2e_config 1 >/dev/null <<'Y'
  edgeProxy:
    rulesBackend: iptables
Y
in_ns n1 ip route add default dev eth0
SRV=tests/e2e/proxy/servers.py
for ip in 10.201.1.10 10.201.1.11 10.201.1.12; do
	in_ns p1 python3 $SRV http $ip 9376 "pod-$ip" & E2E_PIDS="$E2E_PIDS $!"
	in_ns p1 python3 $SRV udp $ip 9377 "pod-$ip" & E2E_PIDS="$E2E_PIDS $!"
done
wait_for 20 in_ns p1 curl -s -m 1 http://10.201.1.12:9376/ || fail "servers up"
e2e_daemon 1 controller
e2e_daemon 1 proxyd
ok "curl through iptables rules" wait_for 10 in_ns n1 curl -s -m 2 http://10.96.1.10/
ok "KUBE-PORTALS-HOST has the service with EdgeMesh's comment" \
	sh -c "ip netns exec $(ns n1) iptables-save -t nat | grep -q 'KUBE-PORTALS-HOST.*default/web:p'"
R=$(in_ns p1 python3 -c '
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(2)
s.connect(("10.96.1.20",53)); s.send(b"x"); print(s.recv(100).decode())' 2>&1)
ok "udp through iptables TPROXY ($R)" bash -c "[[ '$R' == pod-*:x ]]"
e2e_kill 1 proxyd
in_ns n1 "$B/edgemesh-proxyd" -c "$E2E_DIR/n1/edgemesh.yaml" --cleanup >/dev/null 2>&1
ok "--cleanup removes KUBE-PORTALS-*" \
	sh -c "! ip netns exec $(ns n1) iptables-save | grep -q KUBE-PORTALS"
e2e_done
