#!/bin/bash
# tunneld hand-over benchmark (tunneld/tun_handover.c), printed, never asserted.
#
# A pod on edge-1 keeps N streams open to an echo server on edge-2 through a
# ClusterIP (proxyd -> tunneld -> tunneld -> pod): N-1 idle ones (embench
# idle) and one probe doing 1-byte round trips back to back.  tunneld is
# restarted the way systemctl restart does it (SIGTERM, then the next
# process takes the hand-over from the controller), alternately on edge-1
# (the opener's side) and edge-2 (the target's side).  Figures per N (1,
# 100, 1000), medians of BENCH_REPS restarts per side:
#   pause      the longest round trip the probe saw around the restart (ms)
#   handover   from the old process sealing the state to the new one having
#              opened it (ms; includes the new process's start)
#   seal       the old process's share: records, seal, park (ms)
#
#   bash bench/handover.sh [build-dir]      knobs: BENCH_REPS (3)
set -u
cd "$(dirname "$0")/.." || exit 1
B=${1:-${B:-build}}
. bench/lib.sh
. tests/e2e/proxy/registry.sh
. tests/e2e/handover_lib.sh
bench_init handover
ECHOP=5002

bench_need_daemons controller tunneld proxyd
e2e_topology 2
mkdir -p "$E2E_DIR/registry"
cp tests/fixtures/tunnel/nodes.yaml "$E2E_DIR/registry/"
{ svc bench-echo 10.96.9.11 $ECHOP TCP $ECHOP; eps bench-echo $ECHOP TCP edge-2 10.201.2.10; } \
	>"$E2E_DIR/registry/bench.yaml"
bench_bg p2 "$B/embench" echo $ECHOP
wait_for 10 bench_listening p2 $ECHOP || bench_setup_fail "echo server"
for i in 1 2; do
	e2e_config "$i" </dev/null >/dev/null
	e2e_daemon "$i" controller
done
for i in 1 2; do
	wait_for 10 test -S "$E2E_DIR/n$i/run/controller.sock" || bench_setup_fail "controller $i"
	e2e_daemon "$i" tunneld
done
e2e_daemon 1 proxyd
echo_ok() { in_ns p1 timeout 5 "$B/embench" pingpong 10.96.9.11:$ECHOP 1 3 >/dev/null; }
wait_for 30 echo_ok || bench_setup_fail "no echo through the ClusterIP"

cat >"$E2E_DIR/probe.py" <<'PY'
import socket, sys, time
s = socket.create_connection(("10.96.9.11", int(sys.argv[1])), timeout=30)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
end = time.monotonic() + float(sys.argv[2])
worst = 0.0
n = 0
while time.monotonic() < end:
    t = time.monotonic()
    s.sendall(b"x")
    if s.recv(1) != b"x":
        print("lost"); sys.exit(1)
    worst = max(worst, time.monotonic() - t)
    n += 1
print("pause_ms=%.1f n=%d" % (worst * 1e3, n))
PY

declare -A PAUSE HO SEAL
for N in 1 100 1000; do
	IDLEP=""
	if [ "$N" -gt 1 ]; then
		# not through in_ns (a function): $! must be embench, or the kill below
		# leaves these streams open under the next N
		ip netns exec "$(ns p1)" "$B/embench" idle 10.96.9.11:$ECHOP $((N - 1)) 600 >"$E2E_DIR/idle.out" 2>&1 &
		IDLEP=$!
		E2E_PIDS="$E2E_PIDS $IDLEP"
		wait_for 60 grep -q ready "$E2E_DIR/idle.out" || bench_setup_fail "$((N - 1)) idle streams"
	fi
	for _ in $(seq 1 "$BENCH_REPS"); do
		for i in 1 2; do
			in_ns p1 timeout 30 python3 "$E2E_DIR/probe.py" $ECHOP 3 >"$E2E_DIR/probe.out" 2>&1 &
			PP=$!
			sleep 1
			ho_restart "$i" || echo "  (restart of edge-$i did not take over)"
			wait $PP
			p=$(sed -n 's/.*pause_ms=\([0-9.]*\).*/\1/p' "$E2E_DIR/probe.out")
			h=$(grep -o 'handed over [0-9]* ms ago' "$E2E_DIR/n$i/tunneld.log" | tail -1 | grep -o '[0-9]*')
			s=$(grep -o 'parked with the controller, [0-9.]* ms' "$E2E_DIR/n$i/tunneld.log" | tail -1 | grep -o '[0-9.]* ms' | cut -d' ' -f1)
			PAUSE[$N.$i]="${PAUSE[$N.$i]:-} ${p:-lost}"
			HO[$N.$i]="${HO[$N.$i]:-} ${h:-?}"
			SEAL[$N.$i]="${SEAL[$N.$i]:-} ${s:-?}"
		done
	done
	[ -n "$IDLEP" ] && kill "$IDLEP" 2>/dev/null && wait "$IDLEP" 2>/dev/null
done
med() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -n | awk '{a[NR]=$1} END {print NR ? a[int((NR+1)/2)] : "n/a"}'; }
echo "pause a stream sees while tunneld hands over (median of $BENCH_REPS restarts; runs in brackets)"
printf '  %-6s %-9s %-24s %-26s %s\n' streams restarted "pause ms" "hand-over ms (seal->open)" "seal+park ms"
for N in 1 100 1000; do
	for i in 1 2; do
		printf '  %-6s edge-%-4s %-24s %-26s %s\n' "$N" "$i" \
			"$(echo "${PAUSE[$N.$i]}" | med) [${PAUSE[$N.$i]# }]" \
			"$(echo "${HO[$N.$i]}" | med) [${HO[$N.$i]# }]" \
			"$(echo "${SEAL[$N.$i]}" | med) [${SEAL[$N.$i]# }]"
		bench_row "pause at a tunneld restart, $N streams, edge-$i (ms)" "$(echo "${PAUSE[$N.$i]}" | med)"
	done
done
echo "load average: $(bench_load)"
bench_done
