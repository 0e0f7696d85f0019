#!/bin/sh
# Create EdgeMesh-C's ConfigMaps in namespace kubeedge, each only when it is
# absent, so a user's (or EdgeMesh's) edgemesh-agent-cfg, edgemesh-agent-psk,
# edgemesh-gateway-cfg and edgemesh-gateway-psk are never overwritten:
#   edgemesh-agent-cfg, edgemesh-gateway-cfg   from k8s/config/<key>, the
#                          config bodies (plain files, not objects: nothing
#                          in k8s/ is a ConfigMap, even to `apply -R -f k8s`)
#   edgemesh-agent-psk     a new PSK, `openssl rand -base64 32`
#   edgemesh-gateway-psk   the agent's PSK (agents and gateways must share it)
# Run it after (or before) `kubectl apply -k k8s`.  KUBECTL overrides kubectl.
# Never prints a PSK.
set -eu
K=${KUBECTL:-kubectl}
NS=kubeedge
DIR=$(dirname "$0")/../k8s/config

have() { $K -n "$NS" get configmap "$1" -o name >/dev/null 2>&1; }
kept() { echo "configmap/$1 exists: kept as it is"; }

# A ConfigMap with EdgeMesh's labels, made offline and created in one step;
# a PSK goes through a private temporary file, never a command line.
create_cm() {	# name label-value key file
	$K -n "$NS" create configmap "$1" --from-file="$3=$4" --dry-run=client -o yaml |
		$K label --local -f - k8s-app=kubeedge kubeedge="$2" -o yaml |
		$K create -f -
}

$K get namespace "$NS" -o name >/dev/null 2>&1 || $K create namespace "$NS"
for c in agent gateway; do
	if have "edgemesh-$c-cfg"; then
		kept "edgemesh-$c-cfg"
	else
		create_cm "edgemesh-$c-cfg" "edgemesh-$c" "edgemesh-$c.yaml" "$DIR/edgemesh-$c.yaml"
	fi
done
umask 077
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if have edgemesh-agent-psk; then
	kept edgemesh-agent-psk
else
	openssl rand -base64 32 | tr -d '\n' > "$T/psk"
	create_cm edgemesh-agent-psk edgemesh-agent psk "$T/psk"
fi
if have edgemesh-gateway-psk; then
	kept edgemesh-gateway-psk
else
	$K -n "$NS" get configmap edgemesh-agent-psk -o jsonpath='{.data.psk}' > "$T/psk"
	[ -s "$T/psk" ] || { echo "k8s-config.sh: edgemesh-agent-psk has no data.psk" >&2; exit 1; }
	create_cm edgemesh-gateway-psk edgemesh-gateway psk "$T/psk"
fi
