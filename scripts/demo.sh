#!/bin/bash
# make demo: the controller on the shipped example registry (the embedded
# file registry, no Kubernetes), the node daemons connected to it, and
# edgemeshctl showing what they serve.  Runs in a temporary directory and
# stops everything it started, whatever happens.
set -u
B=${1:-build}
dir=$(mktemp -d /tmp/edgemesh-demo.XXXXXX)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

mkdir -p "$dir/run" "$dir/state" "$dir/registry"
cp tests/fixtures/registry/*.yaml "$dir/registry/"
cat > "$dir/edgemesh.yaml" <<CFG
commonConfig:
  nodeName: edge-1
  runtimeDir: $dir/run
  stateDir: $dir/state
registry:
  path: $dir/registry
CFG
user_opt="-u root"
[ "$(id -u)" -ne 0 ] && user_opt=""

echo "== edgemesh-controller on the example registry ($dir/registry)"
"$B/edgemesh-controller" -c "$dir/edgemesh.yaml" $user_opt 2>"$dir/controller.log" &
pids="$pids $!"
for i in $(seq 50); do [ -S "$dir/run/controller.sock" ] && break; sleep 0.1; done
for d in socksd gatewayd; do
	"$B/edgemesh-$d" -c "$dir/edgemesh.yaml" $user_opt 2>"$dir/$d.log" &
	pids="$pids $!"
done
sleep 0.5
echo
echo "== edgemeshctl services"
"$B/edgemeshctl" -c "$dir/edgemesh.yaml" services || exit 1
echo
echo "== edgemeshctl status"
"$B/edgemeshctl" -c "$dir/edgemesh.yaml" status || exit 1
echo
echo "== edgemeshctl gen-psk"
"$B/edgemeshctl" gen-psk
