# shellcheck shell=bash
# Where the time goes, for bench/tunnel.sh (opt-in, after the figures):
#   BENCH_TRACE=1  strace -c -f on proxyd (edge-1) and tunneld (both ends)
#                  during TRACE_N 1-byte echoes through the ClusterIP, during
#                  a one-stream bulk run and during a connrate run: syscalls
#                  per echo, per MB and per connection
#   BENCH_PERF=1   perf record on the same three processes during the
#                  one-stream bulk and the echo loop (bench_perf in lib.sh)
# Needs $OURS1/$OURS2 and the pod servers of tunnel.sh.

trace_pids() {	# -> "proxyd-1 tunneld-1 tunneld-2" pids
	echo "$(cat "$E2E_DIR/n1/proxyd.pid") $(cat "$E2E_DIR/n1/tunneld.pid") $(cat "$E2E_DIR/n2/tunneld.pid")"
}

# strace -c every daemon while cmd runs; print calls per unit for each
trace_strace() {	# label units unit-name cmd...
	local label=$1 units=$2 uname=$3 u p i=0 sp=() names=(proxyd/edge-1 tunneld/edge-1 tunneld/edge-2)
	shift 3
	for p in $(trace_pids); do
		strace -c -f -p "$p" -o "$E2E_DIR/strace.$p" 2>/dev/null &
		sp+=($!)
	done
	sleep 0.5
	"$@" >"$E2E_DIR/trace.out" 2>&1
	kill -INT "${sp[@]}" 2>/dev/null
	wait "${sp[@]}" 2>/dev/null
	echo "strace -c -f ($label): syscalls per $uname, top calls per $uname"
	for p in $(trace_pids); do
		[ "$units" = bytes ] && u=$(awk '{ printf "%.1f", $1 / 1e6 }' "$E2E_DIR/trace.out")
		[ "$units" = conns ] && u=$(sed -n 's/^n=\([0-9]*\) .*/\1/p' "$E2E_DIR/trace.out")
		printf '  %-15s %s\n' "${names[$i]}" "$(awk -v u="${u:-$units}" '
			/^-/ || /^% time/ || NF < 5 { next }
			$NF == "total" { printf "%.1f total:", $4 / u; next }
			{ print $4 / u, $NF }' "$E2E_DIR/strace.$p" | sort -k1,1gr -s | head -n 7 |
			awk 'NR == 1 && /total:/ { printf "%s", $0; next } { printf " %s %.2f", $2, $1 }')"
		i=$((i + 1))
	done
}

trace_bulk() { path ours; bulk; }	# -> "bytes mbit" (tunnel.sh)

trace_all() {
	local n=${TRACE_N:-2000}
	if [ -n "${BENCH_TRACE:-}" ]; then
		if command -v strace >/dev/null 2>&1; then
			# embench pingpong does 200 warm-up echoes before the n it times
			trace_strace "1-byte echo, pod 1 -> ClusterIP, $n + 200 echoes" $((n + 200)) echo \
				in_ns p1 timeout 60 "$B/embench" pingpong 10.96.9.11:$ECHOP "$n" 50
			trace_strace "one-stream bulk, pod 1 -> ClusterIP, ${BULK_SECS}s" bytes MB trace_bulk
			trace_strace "new connections (connect, 1-byte echo, close), pod 1 -> ClusterIP, ${CONN_SECS}s" \
				conns connection in_ns p1 timeout 30 "$B/embench" connrate 10.96.9.11:$ECHOP 1 "$CONN_SECS"
		else
			echo "  (strace missing: apt-get install strace)"
		fi
	fi
	local pl
	pl=$(trace_pids | tr ' ' ',')
	bench_perf "one-stream bulk, proxyd + tunneld both ends" "$pl" trace_bulk
	bench_perf "1-byte echo, proxyd + tunneld both ends" "$pl" \
		in_ns p1 timeout 60 "$B/embench" pingpong 10.96.9.11:$ECHOP "$n" 30
}
