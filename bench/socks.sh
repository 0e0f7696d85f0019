#!/bin/bash
# SOCKS5 benchmark (DESIGN §8: SOCKS5 bulk >= 1.0x dante), printed, never
# asserted.
#
# socksd's use is ssh to a node by its name (EdgeMesh's ProxyCommand): a
# process on edge-1 asks socksd (169.254.96.16:10800, on lo as proxyd would
# add it) for edge-2:PORT; the stream crosses the tunnel (tunneld, Noise,
# the far tunneld) to a server on edge-2's own address (allowedNodePorts
# holds the bench ports).  Every node runs controller and tunneld, edge-1
# socksd, started as README says (as root, each switching to its own user).
# Anchors in the same run, interleaved (BENCH_REPS, medians), from the same
# client to the same servers:
#   dante       danted on edge-1 -> TCP over the LAN -> edge-2 (plain text)
#   microsocks  the same with microsocks
#   direct      no proxy
# Figures: one-stream bulk (embench through SOCKS5, EMBENCH_SOCKS5), CPU-s
# per GB of the proxy's processes on both nodes (ours: socksd and the two
# tunnelds; anchors: the SOCKS server, which forwards in the clear), 1-byte
# echo p50.  dante and microsocks are installed from Debian when they can
# be; a missing one is skipped with a line.
#
#   bash bench/socks.sh [build-dir]     knobs: BENCH_REPS (3), BULK_MB (1024), BULK_SECS (10), PING_N (2000)
set -u
cd "$(dirname "$0")/.." || exit 1
B=${1:-${B:-build}}
. bench/lib.sh
bench_init socks

BULK_MB=${BULK_MB:-1024}
BULK_SECS=${BULK_SECS:-10}
PING_N=${PING_N:-2000}
SINKP=5201 ECHOP=5202
HZ=$(getconf CLK_TCK)

bench_need_daemons controller tunneld socksd
bench_apt dante-server microsocks || for p in dante-server microsocks; do bench_apt $p || true; done

e2e_topology 2
mkdir -p "$E2E_DIR/registry"
cp tests/fixtures/tunnel/nodes.yaml "$E2E_DIR/registry/"
in_ns n1 ip addr add 169.254.96.16/32 dev lo
bench_bg n2 "$B/embench" sink $SINKP
bench_bg n2 "$B/embench" echo $ECHOP
for i in 1 2; do
	e2e_config "$i" >/dev/null <<Y
    allowedNodePorts: [22, $SINKP, $ECHOP]
Y
	e2e_daemon "$i" controller
	e2e_daemon "$i" tunneld
done
e2e_daemon 1 socksd
wait_for 10 bench_listening n2 $SINKP && wait_for 10 bench_listening n2 $ECHOP || bench_setup_fail "edge-2's servers"
echo_ok() {	# proxy|"" target
	in_ns n1 env ${1:+EMBENCH_SOCKS5=$1} timeout 5 "$B/embench" pingpong "$2" 1 3 >/dev/null 2>&1
}
OURS="169.254.96.16:10800"
wait_for 30 echo_ok $OURS edge-2:$ECHOP || bench_setup_fail "no echo through socksd to edge-2"
OURP1="$(cat "$E2E_DIR/n1/socksd.pid") $(cat "$E2E_DIR/n1/tunneld.pid")"
OURP2=$(cat "$E2E_DIR/n2/tunneld.pid")

NAMES="ours direct"
# dante: one process per client (its children), all of them counted
DANTE=""
if [ -x /usr/sbin/danted ]; then
	cat >"$E2E_DIR/danted.conf" <<D
logoutput: stderr
internal: 10.200.0.11 port = 1080
external: 10.200.0.11
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }
socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }
D
	bench_bg n1 /usr/sbin/danted -f "$E2E_DIR/danted.conf"
	if wait_for 10 bench_listening n1 1080 && wait_for 10 echo_ok 10.200.0.11:1080 10.200.0.12:$ECHOP; then
		DANTE=10.200.0.11:1080 NAMES="$NAMES dante"
	else
		echo "  danted did not start: anchor skipped"; tail -n 5 "$E2E_DIR/bg-n1.log"
	fi
else
	echo "  dante-server not installable: anchor skipped"
fi
MICRO=""
if command -v microsocks >/dev/null 2>&1; then
	bench_bg n1 microsocks -i 10.200.0.11 -p 1081
	if wait_for 10 bench_listening n1 1081 && wait_for 10 echo_ok 10.200.0.11:1081 10.200.0.12:$ECHOP; then
		MICRO=10.200.0.11:1081 NAMES="$NAMES microsocks"
	else
		echo "  microsocks did not start: anchor skipped"
	fi
else
	echo "  microsocks not installable: anchor skipped"
fi
echo "socks bench: $(nproc) cores (shared), $BENCH_REPS interleaved repetitions of: $NAMES;" \
	"bulk $BULK_MB MiB (at most ${BULK_SECS}s), echo $PING_N"

path() {	# name -> PROXY TARGET_HOST PIDS (the proxy's processes, both nodes)
	case $1 in
	ours) PROXY=$OURS HOST=edge-2 PIDS="$OURP1 $OURP2" ;;
	direct) PROXY="" HOST=10.200.0.12 PIDS="" ;;
	dante) PROXY=$DANTE HOST=10.200.0.12 PIDS="" ;;
	microsocks) PROXY=$MICRO HOST=10.200.0.12 PIDS="" ;;
	esac
}
proxy_pids() {	# the anchor's processes in edge-1 now (dante forks per client)
	local q
	case $1 in
	ours) echo "$PIDS" ;;
	dante|microsocks)
		for q in $(bench_ns_pids n1); do
			[ "$(cat "/proc/$q/comm" 2>/dev/null)" = "${1/dante/danted}" ] && echo "$q"
		done | tr '\n' ' ' ;;
	esac
}
one() {	# name -> key=value ...
	local r a b p bytes
	path "$1"
	p=$(proxy_pids "$1")
	a=$([ -n "$p" ] && bench_cpu_ticks $p)
	r=$(in_ns n1 env ${PROXY:+EMBENCH_SOCKS5=$PROXY} timeout $((BULK_SECS + 15)) \
		"$B/embench" bulk $HOST:$SINKP 1 $((BULK_MB << 20)) "$BULK_SECS")
	# dante's child for this client may be gone: count what is left, and its parent
	b=$([ -n "$p" ] && bench_cpu_ticks $p)
	bytes=$(bench_field "$r" bytes)
	echo "mbit=$(awk -v m="$(bench_field "$r" mbps)" 'BEGIN { printf "%.0f", m * 8 }')"
	[ -n "$p" ] && [ -n "$bytes" ] &&
		echo "cpu=$(awk -v a="$a" -v b="$b" -v n="$bytes" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.2f", (b - a) / hz / (n / 1e9) }')"
	r=$(in_ns n1 env ${PROXY:+EMBENCH_SOCKS5=$PROXY} timeout 30 "$B/embench" pingpong $HOST:$ECHOP "$PING_N" 10)
	echo "p50=$(bench_field "$r" p50_us)"
}
# shellcheck disable=SC2086
bench_run one $NAMES
A=$(echo $NAMES | cut -d' ' -f2-)
# shellcheck disable=SC2086
{
	bench_fig "SOCKS5 bulk 1 stream, Mbit/s (higher better)" mbit ">= 1.0x dante" ours $A
	bench_fig "SOCKS5 CPU-s per GB, the proxy's processes (lower better)" cpu "-" ours ${A/direct/}
	bench_fig "SOCKS5 1-byte echo p50, us (lower better)" p50 "-" ours $A
}
for p in $OURP1 $OURP2; do kill -0 "$p" 2>/dev/null || bench_setup_fail "a daemon died during the run"; done
bench_done
exit 0
