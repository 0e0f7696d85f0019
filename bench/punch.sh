#!/bin/bash
# Punched vs relayed tunnel sessions, printed, never asserted.
#
# The NAT world of tests/e2e/test_punch.sh (tests/e2e/punch_lib.sh): cloud-1
# the relay on the wan; edge-1 and edge-2 behind MASQUERADE routers (their
# session punches a direct path); node-4 behind MASQUERADE --random-fully
# (symmetric: its session with edge-1 stays relayed through cloud-1).  From
# edge-1, through tunopen forwarders (tunneld only, no proxyd), to a pod on
# each: interleaved repetitions of
#   punched   edge-1 -> edge-2 (its pod 10.201.2.10)
#   relayed   edge-1 -> cloud-1 -> node-4 (its pod 10.201.4.10)
# Figures: one-stream bulk (embench), the relay's tunneld CPU-s per GB,
# 1-byte echo p50, a new stream's first answer (connect, 1-byte echo, close).
# No direct anchor: the NATs leave no direct path but the punched one.
#
#   bash bench/punch.sh [build-dir]
#   knobs: BENCH_REPS (3), BULK_MB (256), PING_N (2000), CONN_SECS (2)
set -u
cd "$(dirname "$0")/.." || exit 1
B=${1:-${B:-build}}
. bench/lib.sh
. tests/e2e/proxy/registry.sh
bench_init punch
command -v iptables >/dev/null || { echo "  skipped: iptables missing"; exit 77; }

BULK_MB=${BULK_MB:-256}
PING_N=${PING_N:-2000}
CONN_SECS=${CONN_SECS:-2}
BULKP=5201 ECHOP=5002
HZ=$(getconf CLK_TCK)
bench_need_daemons controller tunneld
[ -x "$B/tunopen" ] && [ -x "$B/embench" ] || bench_setup_fail "$B/tunopen or $B/embench missing"

. tests/e2e/punch_lib.sh
punch_wan
punch_public 3
punch_natted 1
punch_natted 2
punch_natted 4 --random-fully
punch_pod 2
punch_pod 4

mkdir -p "$E2E_DIR/registry"
{
	for i in 1 2 4; do
		printf -- '---\napiVersion: v1\nkind: Node\nmetadata:\n  name: %s\nstatus:\n  addresses:\n  - type: InternalIP\n    address: 192.168.%s.2\n' \
			"$(e2e_node_name $i)" "$i"
	done
	printf -- '---\napiVersion: v1\nkind: Node\nmetadata:\n  name: cloud-1\nstatus:\n  addresses:\n  - type: InternalIP\n    address: 100.64.0.3\n'
} >"$E2E_DIR/registry/nodes.yaml"
{
	svc bulk-2 10.96.9.10 $BULKP TCP $BULKP; eps bulk-2 $BULKP TCP edge-2 10.201.2.10
	svc echo-2 10.96.9.11 $ECHOP TCP $ECHOP; eps echo-2 $ECHOP TCP edge-2 10.201.2.10
	svc bulk-4 10.96.9.20 $BULKP TCP $BULKP; eps bulk-4 $BULKP TCP node-4 10.201.4.10
	svc echo-4 10.96.9.21 $ECHOP TCP $ECHOP; eps echo-4 $ECHOP TCP node-4 10.201.4.10
} >"$E2E_DIR/registry/bench.yaml"

for p in 2 4; do
	bench_bg p$p "$B/embench" sink $BULKP
	bench_bg p$p "$B/embench" echo $ECHOP
	wait_for 10 bench_listening p$p $BULKP && wait_for 10 bench_listening p$p $ECHOP ||
		bench_setup_fail "pod $p servers"
done
for i in 1 2 3 4; do
	e2e_config "$i" >/dev/null <<Y
    relayNodes:
    - nodeName: cloud-1
      advertiseAddress: [100.64.0.3]
Y
	e2e_daemon "$i" controller
done
sleep 0.5
for i in 3 1 2 4; do
	rm -f "$E2E_DIR/n$i/run/tunnel.sock"
	e2e_daemon "$i" tunneld
done
fwd() {	# lport peer ip port
	in_ns n1 "$B/tunopen" -r "$E2E_DIR/n1/run" -n "$2" -t "$3" -p "$4" -l "127.0.0.1:$1" \
		>>"$E2E_DIR/tunopen-$1.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
	wait_for 20 grep -q listening "$E2E_DIR/tunopen-$1.log" || bench_setup_fail "tunopen $1"
}
wait_for 20 test -S "$E2E_DIR/n1/run/tunnel.sock" || bench_setup_fail "tunneld on edge-1"
fwd 9201 edge-2 10.201.2.10 $BULKP
fwd 9202 edge-2 10.201.2.10 $ECHOP
fwd 9401 node-4 10.201.4.10 $BULKP
fwd 9402 node-4 10.201.4.10 $ECHOP
echo_ok() { in_ns n1 timeout 5 "$B/embench" pingpong "127.0.0.1:$1" 1 3 >/dev/null; }
path_is() {	# node regex
	in_ns n1 "$B/edgemeshctl" -c "$E2E_DIR/n1/edgemesh.yaml" peers 2>/dev/null | grep "^$1 " | grep -q -- "$2"
}
wait_for 30 echo_ok 9202 || bench_setup_fail "no echo from edge-1 to edge-2's pod"
wait_for 30 echo_ok 9402 || bench_setup_fail "no echo from edge-1 to node-4's pod"
wait_for 30 path_is edge-2 ' up .*punched' || bench_setup_fail "edge-2's session did not punch"
wait_for 30 grep -q "hole punching with node-4 failed" "$E2E_DIR/n1/tunneld.log" ||
	bench_setup_fail "node-4's punch did not fail"
path_is node-4 ' up .*relay' || bench_setup_fail "node-4 is not relayed"
RELAY=$(cat "$E2E_DIR/n3/tunneld.pid")
echo "punch bench: $(nproc) cores (shared), $BENCH_REPS interleaved repetitions of: punched relayed;" \
	"bulk $BULK_MB MiB by embench, echo $PING_N, new streams for ${CONN_SECS}s"

one() {	# name -> key=value ...
	local bp ep a b r c bytes
	case $1 in
	punched) bp=9201 ep=9202 ;;
	relayed) bp=9401 ep=9402 ;;
	esac
	a=$(bench_cpu_ticks "$RELAY")
	r=$(in_ns n1 timeout 60 "$B/embench" bulk "127.0.0.1:$bp" 1 $((BULK_MB << 20)) 30)
	b=$(bench_cpu_ticks "$RELAY")
	bytes=$(bench_field "$r" bytes)
	if [ "$(bench_field "$r" "done")" = 1 ] && [ "${bytes:-0}" -gt 0 ]; then
		echo "mbit=$(awk -v m="$(bench_field "$r" mbps)" 'BEGIN { printf "%.0f", m * 8 }')"
		echo "relaycpu=$(awk -v a="$a" -v b="$b" -v n="$bytes" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz / (n / 1e9) }')"
	fi
	r=$(in_ns n1 timeout 30 "$B/embench" pingpong "127.0.0.1:$ep" "$PING_N" 10)
	echo "p50=$(bench_field "$r" p50_us)"
	c=$(in_ns n1 timeout $((CONN_SECS + 10)) "$B/embench" connrate "127.0.0.1:$ep" 1 "$CONN_SECS")
	echo "first=$(awk -v r="$(bench_field "$c" rate)" 'BEGIN { if (r > 0) printf "%.0f", 1e6 / r }')"
}
bench_run one punched relayed
bench_fig "bulk 1 stream, Mbit/s (higher better)" mbit "" punched relayed
bench_fig "relay's tunneld CPU-s per GB (lower better)" relaycpu "" punched relayed
bench_fig "1-byte echo p50, us (lower better)" p50 "" punched relayed
bench_fig "new stream to first answer, us (lower better)" first "" punched relayed
path_is edge-2 ' up .*punched' || echo "  note: edge-2's session is no longer punched"
bench_done
exit 0
