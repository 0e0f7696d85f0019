#!/bin/bash
# Relays found without configuration, timed (printed, never asserted): from
# edge-1's pod, the first answer after edge-1's tunneld starts and one more
# request on the session that is then up, to a pod on edge-2 (another site:
# through a relay edge-1 finds by itself) and, as the anchor, to a pod on
# edge-3 (same site: the LAN).  The world: tests/e2e/nat_lib.sh.
#   B=build bash bench/nat.sh
. bench/lib.sh
bench_init nat
command -v iptables >/dev/null || { echo "SKIP nat bench: iptables missing"; exit 77; }
. tests/e2e/tunnel_lib.sh
. tests/e2e/nat_lib.sh
nat_topology
nat_start

first_ms() {	# url body -> ms until the first right answer (20 s at most)
	local t0 now
	t0=$(date +%s%N)
	until [ "$(in_ns p1 curl -s -m 1 "$1")" = "$2" ]; do
		now=$(date +%s%N)
		[ $(((now - t0) / 1000000)) -gt 20000 ] && return 1
		sleep 0.01
	done
	now=$(date +%s%N)
	echo $(((now - t0) / 1000000))
}
one() {	# relayed|direct -> key=value ...
	local url body cold warm pid
	case $1 in
	relayed) url=http://10.96.12.2/ body=pod-edge-2 ;;
	direct) url=http://10.96.12.5/ body=pod-edge-3 ;;
	esac
	# (bench_run calls us in a subshell: e2e_kill's wait cannot reap it)
	pid=$(cat "$E2E_DIR/n1/tunneld.pid")
	kill -KILL "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
	start_tunneld 1
	cold=$(first_ms "$url" "$body") || return 0
	warm=$(in_ns p1 curl -s -o /dev/null -w '%{time_total}' "$url" | awk '{ printf "%.1f", $1 * 1000 }')
	echo "cold_ms=$cold warm_ms=$warm"
}
first_ms http://10.96.12.2/ pod-edge-2 >/dev/null || bench_setup_fail "no answer from edge-2 through a relay"
bench_run one relayed direct
bench_fig "first answer after tunneld starts, ms (lower better)" cold_ms "" relayed direct
bench_fig "one request on the up session, ms (lower better)" warm_ms "" relayed direct
bench_done
exit 0
