#!/bin/bash
# Tunnel data-path benchmark (DESIGN §8), printed, never asserted.
#
# Two nodes (edge-1, edge-2) on one LAN bridge, a pod behind edge-2, the
# real controller (file registry) and tunneld on both; build/tunopen plays
# proxyd's part on edge-1 (hands accepted connections to tunnel.sock).
# Anchors measured in the same run over the same namespaces:
#   - ssh -L (OpenSSH, chacha20-poly1305@openssh.com; sshd started here in
#     edge-2's namespace with throwaway keys) to the same pod port;
#   - plain TCP edge-1 -> pod on edge-2, routed through edge-2.
# Figures: bulk throughput with 1 and 8 streams, 1-byte echo latency
# (p50/p99) and RSS per idle tunneled stream.
#
#   bash bench/tunnel.sh [build-dir]
#   knobs: BULK_BYTES (1 GiB), BULK8_BYTES (256 MiB per stream), REPS (2),
#          PING_N (20000), IDLE_N (1000), BENCH_PERF=1 (perf profile of tunneld)
set -u
cd "$(dirname "$0")/.." || exit 1
B=${1:-${B:-build}}
. bench/lib.sh
bench_init tunnel

BULK_BYTES=${BULK_BYTES:-1073741824}
BULK8_BYTES=${BULK8_BYTES:-268435456}
REPS=${REPS:-2}
PING_N=${PING_N:-20000}
IDLE_N=${IDLE_N:-1000}
POD=10.201.2.10
SINK=5001 ECHO=5002

for t in "$B/edgemesh-controller" "$B/edgemesh-tunneld" "$B/tunopen"; do
	[ -x "$t" ] || bench_setup_fail "$t missing (run make)"
done

e2e_topology 2
mkdir -p "$E2E_DIR/registry"
cp tests/fixtures/tunnel/nodes.yaml "$E2E_DIR/registry/"
cat > "$E2E_DIR/registry/bench.yaml" <<Y
apiVersion: v1
kind: Service
metadata:
  name: bench
  namespace: default
spec:
  clusterIP: 10.96.9.10
  ports:
  - {name: sink, port: $SINK, protocol: TCP, targetPort: $SINK}
  - {name: echo, port: $ECHO, protocol: TCP, targetPort: $ECHO}
---
apiVersion: v1
kind: Endpoints
metadata:
  name: bench
  namespace: default
subsets:
- addresses:
  - {ip: $POD, nodeName: edge-2}
  ports:
  - {name: sink, port: $SINK, protocol: TCP}
  - {name: echo, port: $ECHO, protocol: TCP}
Y
# plain TCP anchor: edge-1 reaches edge-2's pod network directly
in_ns n1 ip route add 10.201.2.0/24 via 10.200.0.12 || bench_setup_fail "route"

for i in 1 2; do
	e2e_config "$i" </dev/null >/dev/null
	e2e_daemon "$i" controller
done
sock_up() { [ -S "$E2E_DIR/n$1/run/tunnel.sock" ]; }
for i in 1 2; do
	e2e_daemon "$i" tunneld
	wait_for 10 sock_up "$i" || bench_setup_fail "tunneld on node $i did not come up"
done
TPID1=$(cat "$E2E_DIR/n1/tunneld.pid") TPID2=$(cat "$E2E_DIR/n2/tunneld.pid")

bench_bg p2 "$B/embench" sink $SINK
bench_bg p2 "$B/embench" echo $ECHO
wait_for 10 bench_listening p2 $SINK && wait_for 10 bench_listening p2 $ECHO ||
	bench_setup_fail "pod servers"

# forwarders into the tunnel on edge-1: 127.0.0.1:9001 -> sink, :9002 -> echo
tunopen() {	# lport port
	in_ns n1 "$B/tunopen" -r "$E2E_DIR/n1/run" -n edge-2 -t $POD -p "$2" \
		-l "127.0.0.1:$1" >>"$E2E_DIR/tunopen-$1.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
	wait_for 10 grep -q listening "$E2E_DIR/tunopen-$1.log" || bench_setup_fail "tunopen $1"
}
tunopen 9001 $SINK
tunopen 9002 $ECHO
echo_ok() { in_ns n1 timeout 5 "$B/embench" pingpong "$1" 1 3 >/dev/null; }
wait_for 30 echo_ok 127.0.0.1:9002 || bench_setup_fail "no echo through the tunnel"
wait_for 10 echo_ok $POD:$ECHO || bench_setup_fail "no direct echo to the pod"

# ssh -L anchor: sshd in edge-2's namespace, throwaway keys, own config
SSHD_OK=0
SD="$E2E_DIR/ssh"
mkdir -p "$SD" /run/sshd
chmod 700 "$SD"
if command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]; then
	ssh-keygen -q -t ed25519 -N '' -f "$SD/host_key" &&
		ssh-keygen -q -t ed25519 -N '' -f "$SD/client_key" &&
		cp "$SD/client_key.pub" "$SD/authorized_keys"
	cat > "$SD/sshd_config" <<C
ListenAddress 10.200.0.12:2222
HostKey $SD/host_key
AuthorizedKeysFile $SD/authorized_keys
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
PidFile $SD/sshd.pid
Ciphers chacha20-poly1305@openssh.com
LogLevel ERROR
C
	bench_bg n2 /usr/sbin/sshd -D -e -f "$SD/sshd_config"
	if wait_for 10 bench_listening n2 2222; then
		in_ns n1 ssh -F /dev/null -N -c chacha20-poly1305@openssh.com -i "$SD/client_key" \
			-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
			-o ExitOnForwardFailure=yes -o LogLevel=ERROR -p 2222 \
			-L 127.0.0.1:9101:$POD:$SINK -L 127.0.0.1:9102:$POD:$ECHO \
			root@10.200.0.12 >>"$E2E_DIR/ssh.log" 2>&1 &
		E2E_PIDS="$E2E_PIDS $!"
		wait_for 15 bench_listening n1 9101 && wait_for 10 echo_ok 127.0.0.1:9102 && SSHD_OK=1
	fi
fi
[ "$SSHD_OK" = 1 ] || { echo "  ssh -L anchor unavailable (sshd/ssh failed; see below), skipped"; tail -n 5 "$E2E_DIR/ssh.log" "$E2E_DIR/bg-n2.log" 2>/dev/null; }

echo "tunnel bench: 2 nodes in netns, tunneld both ends, $(nproc) cores (shared); anchors in the same run"

# ---- latency: 1-byte echo round trips
ping() {	# addr -> "p50 p99"
	local r
	r=$(in_ns n1 timeout 30 "$B/embench" pingpong "$1" "$PING_N" 10 2>/dev/null)
	echo "$(bench_field "$r" p50_us) $(bench_field "$r" p99_us) $(bench_field "$r" n)"
}
read -r LT50 LT99 LTN <<<"$(ping 127.0.0.1:9002)"
read -r LD50 LD99 LDN <<<"$(ping $POD:$ECHO)"
if [ "$SSHD_OK" = 1 ]; then read -r LS50 LS99 _ <<<"$(ping 127.0.0.1:9102)"; else LS50=n/a LS99=n/a; fi
A50=$(bench_sub "$LT50" "$LD50"); A99=$(bench_sub "$LT99" "$LD99")
echo "tunnel echo 1 byte (n=$LTN/$LDN): p50 ${LT50} us  p99 ${LT99} us  direct: p50 ${LD50} us  p99 ${LD99} us  ssh -L: p50 ${LS50} us  p99 ${LS99} us"
echo "  added over direct: p50 +${A50} us ($(bench_verdict "$A50" le 50): <= 50)  p99 +${A99} us ($(bench_verdict "$A99" le 250): <= 250)"

# ---- memory per idle stream (before the bulk runs, so the heap's high
# water mark from bulk buffers does not hide the growth)
sleep 0.5
R1a=$(bench_rss "$TPID1") R2a=$(bench_rss "$TPID2")
in_ns n1 "$B/embench" idle 127.0.0.1:9002 "$IDLE_N" 60 >"$E2E_DIR/idle.out" 2>&1 &
IDLE=$!
E2E_PIDS="$E2E_PIDS $IDLE"
wait_for 60 grep -q ready "$E2E_DIR/idle.out"
sleep 1
R1b=$(bench_rss "$TPID1") R2b=$(bench_rss "$TPID2")
NIDLE=$(sed -n 's/^ready n=//p' "$E2E_DIR/idle.out")
kill "$IDLE" 2>/dev/null; wait "$IDLE" 2>/dev/null
if [ -n "$NIDLE" ] && [ "$NIDLE" -gt 0 ]; then
	K1=$(awk -v a="$R1a" -v b="$R1b" -v n="$NIDLE" 'BEGIN { printf "%.1f", (b - a) / n }')
	K2=$(awk -v a="$R2a" -v b="$R2b" -v n="$NIDLE" 'BEGIN { printf "%.1f", (b - a) / n }')
	KM=$(bench_max "$K1" "$K2")
	echo "tunnel idle streams: $NIDLE open  tunneld RSS edge-1 ${R1a} -> ${R1b} KiB (${K1} KiB/stream)  edge-2 ${R2a} -> ${R2b} KiB (${K2} KiB/stream)  ($(bench_verdict "$KM" le 16): <= 16 KiB/stream)"
else
	echo "tunnel idle streams: none opened ($(cat "$E2E_DIR/idle.out"))"
fi
sleep 1	# let the streams close before the bulk runs

# ---- bulk throughput
bulk() {	# addr streams bytes -> MB/s or "" (skipped past the time budget)
	local r
	bench_time_left 150 || { echo "bulk run skipped: time budget" >>"$E2E_DIR/bulk.err"; return 0; }
	r=$(in_ns n1 timeout 40 "$B/embench" bulk "$1" "$2" "$3" 20 2>>"$E2E_DIR/bulk.err")
	[ "$(bench_field "$r" "done")" = 1 ] && bench_field "$r" mbps
}
bulk_case() {	# streams bytes-per-stream label
	local n=$1 bytes=$2 label=$3 r t=() s=() p=() T S P
	for r in $(seq 1 "$REPS"); do
		t+=("$(bulk 127.0.0.1:9001 "$n" "$bytes")")
		[ "$SSHD_OK" = 1 ] && s+=("$(bulk 127.0.0.1:9101 "$n" "$bytes")")
		p+=("$(bulk $POD:$SINK "$n" "$bytes")")
	done
	T=$(bench_max "${t[@]}"); S=$(bench_max "${s[@]:-}"); P=$(bench_max "${p[@]}")
	local RS RP
	RS=$(bench_ratio "$T" "$S"); RP=$(bench_ratio "$T" "$P")
	echo "tunnel bulk $label: ${T:-failed} MB/s  ssh -L: ${S:-n/a} MB/s  plain: ${P:-failed} MB/s  ratio vs ssh: $RS (aim >= 1.2, $(bench_verdict "$RS" ge 1.2))  vs plain: $RP  [best of $REPS; runs: tunnel ${t[*]}; ssh ${s[*]:-}; plain ${p[*]}]"
	BULK_T=$T
}
bulk_case 1 "$BULK_BYTES" "1 stream ($((BULK_BYTES >> 20)) MiB)"
echo "  one-stream absolute: ${BULK_T:-n/a} MB/s ($(bench_verdict "$(awk -v t="${BULK_T:-}" 'BEGIN { if (t != "") printf "%.3f", t / 1000; else print "n/a" }')" ge 0.6): >= 0.6 GB/s)"
bulk_case 8 "$BULK8_BYTES" "8 streams (8 x $((BULK8_BYTES >> 20)) MiB)"
[ -s "$E2E_DIR/bulk.err" ] && { echo "  bulk errors:"; sort "$E2E_DIR/bulk.err" | uniq -c | head -5; }

bench_perf "tunnel bulk 1 stream" "$TPID1,$TPID2" \
	in_ns n1 timeout 60 "$B/embench" bulk 127.0.0.1:9001 1 "$BULK_BYTES" 50
bench_perf "tunnel echo" "$TPID1,$TPID2" in_ns n1 timeout 30 "$B/embench" pingpong 127.0.0.1:9002 20000 5

kill -0 "$TPID1" 2>/dev/null && kill -0 "$TPID2" 2>/dev/null || bench_setup_fail "a tunneld died during the run"
echo "tunnel bench done in $(bench_elapsed) s"
exit 0
