# shellcheck shell=bash
# Shared helpers for the data-path benchmarks (bench/tunnel.sh, bench/proxy.sh).
# Built on tests/e2e/lib.sh (namespaces, daemons, cleanup trap).  Benchmarks
# print figures and ratios against anchors measured in the same run; they
# never assert on timing: exit 0 whatever the numbers, non-zero only when
# the set-up itself failed.
#
#   . bench/lib.sh
#   bench_init tunnel               # e2e_init + limits; exits 77 when not root
#   bench_bg NS cmd...              # background helper, killed by the trap
#   bench_setup_fail "why"          # print, exit 1 (cleanup runs)
#   bench_field "k=v k2=v2" k2      # -> v2
#   bench_ratio A B                 # A/B with 2 decimals, "n/a" if either missing
#   bench_rss PID                   # VmRSS in KiB
#   bench_time_left SECS            # true while the run is below SECS seconds

if [ "${BASH_SOURCE[0]}" = "$0" ]; then	# run by a bench/*.sh loop: nothing to do
	echo "bench/lib.sh: helpers for bench/tunnel.sh and bench/proxy.sh, not a benchmark"
	exit 0
fi
. tests/e2e/lib.sh

bench_init() {
	e2e_init "bench$1"
	BENCH_NAME=$1
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	[ -x "$B/embench" ] || bench_setup_fail "$B/embench missing (make all builds it)"
	BENCH_T0=$(date +%s)
}

bench_setup_fail() {
	echo "$BENCH_NAME bench: set-up failed: $*" >&2
	E2E_FAIL=$((E2E_FAIL + 1))	# lib.sh then prints the daemon logs' tails
	exit 1
}

bench_bg() {	# ns cmd...
	local n=$1; shift
	in_ns "$n" "$@" >>"$E2E_DIR/bg-$n.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
	# shellcheck disable=SC2034 # read by the benches
	BENCH_LAST_PID=$!
}

bench_listening() {	# ns port [t|u]
	in_ns "$1" ss -ln"${3:-t}" | grep -q ":$2 "
}

bench_field() {	# "k=v ..." key
	printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1
}

bench_ratio() {	# a b -> a/b
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "" || b == "" || a + 0 <= 0 || b + 0 <= 0) print "n/a"; else printf "%.2f\n", a / b }'
}

bench_sub() {	# a b -> a-b (1 decimal)
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "" || b == "") print "n/a"; else printf "%.1f\n", a - b }'
}

bench_max() {	# values... -> the largest (empty ones ignored)
	printf '%s\n' "$@" | awk 'NF && ($1 + 0 > m || !s) { m = $1 + 0; s = 1 } END { if (s) print m }'
}

# "meets" / "misses" for value OP aim (OP: ge or le)
bench_verdict() {	# value op aim
	awk -v v="$1" -v op="$2" -v a="$3" 'BEGIN {
		if (v == "n/a" || v == "") { print "not measured"; exit }
		ok = (op == "ge") ? (v + 0 >= a + 0) : (v + 0 <= a + 0)
		print ok ? "meets aim" : "MISSES aim" }'
}

bench_rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }

bench_elapsed() { echo $(( $(date +%s) - BENCH_T0 )); }
bench_time_left() { [ "$(bench_elapsed)" -lt "$1" ]; }

# Install Debian packages quietly when missing; 0 when all are there after.
bench_apt() {	# pkg...
	local missing="" p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "  (installing$missing ...)"
	DEBIAN_FRONTEND=noninteractive timeout 60 apt-get install -y -q $missing >"$E2E_DIR/apt.log" 2>&1 && return 0
	DEBIAN_FRONTEND=noninteractive timeout 30 apt-get update -q >>"$E2E_DIR/apt.log" 2>&1 &&
		DEBIAN_FRONTEND=noninteractive timeout 60 apt-get install -y -q $missing >>"$E2E_DIR/apt.log" 2>&1
}

# BENCH_PERF=1: profile PIDS while cmd runs; print the top symbols.
bench_perf() {	# label pids(comma-separated) cmd...
	local label=$1 pids=$2; shift 2
	[ -n "${BENCH_PERF:-}" ] || return 0
	command -v perf >/dev/null 2>&1 || { echo "  (perf missing: apt-get install linux-perf)"; return 0; }
	perf record -q -o "$E2E_DIR/perf.data" -p "$pids" >/dev/null 2>&1 &
	local pp=$!
	sleep 0.3
	"$@" >/dev/null 2>&1
	kill -INT "$pp" 2>/dev/null; wait "$pp" 2>/dev/null
	echo "  perf ($label), top symbols over pids $pids:"
	perf report -i "$E2E_DIR/perf.data" --stdio --sort comm,dso,sym 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -n "${BENCH_PERF_TOP:-15}" | sed 's/^/    /'
}
