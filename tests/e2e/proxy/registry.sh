# Write the proxyd test registry (services of namespace default) to $1.
svc() {	# name clusterIP port proto targetPort [extra spec lines]
	cat <<Y
---
apiVersion: v1
kind: Service
metadata:
  name: $1
  namespace: default
${LABELS:-}
spec:
  clusterIP: $2
${6:-}
  ports:
  - name: p
    port: $3
    protocol: $4
    targetPort: $5
Y
}
eps() {	# name port proto node ip...
	local n=$1 port=$2 proto=$3 node=$4 ip; shift 4
	printf -- '---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: %s\n  namespace: default\nsubsets:\n- addresses:\n' "$n"
	for ip in "$@"; do
		printf '  - ip: %s\n    nodeName: %s\n    targetRef: {kind: Pod, namespace: default, name: pod-%s}\n' "$ip" "$node" "$ip"
	done
	printf '  ports:\n  - name: p\n    port: %s\n    protocol: %s\n' "$port" "$proto"
}
dr() {	# name policy-yaml (indented under loadBalancer)
	printf -- '---\napiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\nmetadata:\n  name: %s\n  namespace: default\nspec:\n  host: %s\n  trafficPolicy:\n    loadBalancer:\n%s\n' "$1" "$1" "$2"
}
proxy_registry() {
	local d=$1 L="10.201.1.10 10.201.1.11 10.201.1.12"
	{
		svc web 10.96.1.10 80 TCP 9376; eps web 9376 TCP edge-1 $L
		svc web-rand 10.96.1.11 80 TCP 9376; eps web-rand 9376 TCP edge-1 $L
		dr web-rand "      simple: RANDOM"
		svc web-hash 10.96.1.12 80 TCP 9376; eps web-hash 9376 TCP edge-1 $L
		dr web-hash "      consistentHash:
        httpHeaderName: X-User"
		svc web-aff 10.96.1.13 80 TCP 9376 "  sessionAffinity: ClientIP"; eps web-aff 9376 TCP edge-1 $L
		svc web-srcip 10.96.1.14 80 TCP 9376; eps web-srcip 9376 TCP edge-1 $L
		dr web-srcip "      consistentHash:
        useSourceIp: true"
		# UDP services kept on proxyd's relay by a consistent hash (a UDP port
		# whose endpoints are all local and balanced round robin or at random
		# is forwarded by the kernel instead): their checks are about proxyd
		svc udp-echo 10.96.1.20 53 UDP 9377; eps udp-echo 9377 UDP edge-1 $L
		dr udp-echo "      consistentHash:
        useSourceIp: true"
		LABELS="  labels:
    service.edgemesh.kubeedge.io/service-proxy-name: x" svc labeled 10.96.1.30 80 TCP 9376
		eps labeled 9376 TCP edge-1 $L
		svc headless None 80 TCP 9376; eps headless 9376 TCP edge-1 $L
		svc remote-web 10.96.1.40 80 TCP 9376; eps remote-web 9376 TCP edge-2 10.201.2.10
		svc remote-udp 10.96.1.41 53 UDP 9377; eps remote-udp 9377 UDP edge-2 10.201.2.10
		# DNS flows: endpoint port 53
		svc dns-local 10.96.1.21 53 UDP 53; eps dns-local 53 UDP edge-1 10.201.1.20
		dr dns-local "      consistentHash:
        useSourceIp: true"
		svc dns-remote 10.96.1.42 53 UDP 53; eps dns-remote 53 UDP edge-2 10.201.2.10
	} > "$d/proxy-test.yaml"
}
