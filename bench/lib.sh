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
#   bench_reps_init NAME DIR        # only the helpers below (own set-up)
#   bench_run FN NAME...            # BENCH_REPS (3) interleaved repetitions:
#                                   # FN NAME prints "key=value ..." per call;
#                                   # first caps TIME_WAIT (bench_tw_cap)
#   bench_fig "title" KEY "aim" OURS ANCHOR...
#                                   # median [min-max] per name, ratio of medians
#                                   # ours/anchor, load at each figure; one row
#                                   # in the summary table ($BENCH_SUMMARY)
#   bench_cpu_ticks PID...          # utime+stime of the processes, in ticks
#   bench_mem PID...                # "rss_kib pss_kib" summed (smaps_rollup)
#   bench_summary_print FILE        # the table run-all.sh prints at the end

if [ "${BASH_SOURCE[0]}" = "$0" ]; then	# run by a bench/*.sh loop: nothing to do
	echo "bench/lib.sh: helpers for bench/tunnel.sh and bench/proxy.sh, not a benchmark"
	exit 0
fi
. tests/e2e/lib.sh

bench_init() {
	# daemons log as the units run them: no debug line per connection
	E2E_DEBUG=${E2E_DEBUG:-0}
	e2e_init "bench$1"
	BENCH_NAME=$1
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	[ -x "$B/embench" ] || bench_setup_fail "$B/embench missing (make all builds it)"
	bench_reps_init "$1" "$E2E_DIR"
}

# The repetition and summary helpers alone, for a bench with its own set-up
# (bench/dns.sh): results under DIR.
bench_reps_init() {	# name dir
	BENCH_NAME=$1 E2E_DIR=$2
	BENCH_T0=$(date +%s)
	BENCH_REPS=${BENCH_REPS:-3}
	BENCH_RES=$E2E_DIR/results
	mkdir -p "$BENCH_RES"
	# run-all.sh names one file for every script; alone, a script prints its own
	if [ -z "${BENCH_SUMMARY:-}" ]; then
		BENCH_SUMMARY=$E2E_DIR/summary BENCH_OWN_SUMMARY=1
	fi
}

bench_need_daemons() {	# name... : each build/edgemesh-NAME there, or a set-up failure
	local t
	for t in "$@"; do
		[ -x "$B/edgemesh-$t" ] || bench_setup_fail "$B/edgemesh-$t missing (run make)"
	done
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
	echo "  perf ($label), share by object over pids $pids:"
	perf report -i "$E2E_DIR/perf.data" --stdio --sort dso 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -n 6 | sed 's/^/    /'
	echo "  perf ($label), top symbols:"
	perf report -i "$E2E_DIR/perf.data" --stdio --sort comm,dso,sym 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -n "${BENCH_PERF_TOP:-15}" | sed 's/^/    /'
}

# ---- repetitions, medians, the summary table

bench_load() { cut -d' ' -f1 /proc/loadavg; }

# Every namespace of this run keeps at most BENCH_TW (1024) sockets in
# TIME_WAIT; past that the kernel closes them at once.  Connection loops
# leave tens of thousands: where two names connect from one address to one
# server (ours' tunneld and ssh's sshd to the pod), they fill that pair's
# ephemeral ports and a SYN meeting one is PAWS-rejected and resent 1 s
# later, so the name that runs next is slowed by the one before.
bench_tw_cap() {
	local n
	[ -n "${E2E_PREFIX:-}" ] || return 0
	for n in $(ip netns list 2>/dev/null | awk -v p="$E2E_PREFIX-" 'index($1, p) == 1 { print $1 }'); do
		ip netns exec "$n" sysctl -qw net.ipv4.tcp_max_tw_buckets="${BENCH_TW:-1024}" 2>/dev/null || true
	done
}

# Repetition r runs every name once, the order rotated by r (so no name is
# always first after an idle pause); each value is kept with the 1-minute
# load average at the time it was measured.
bench_run() {	# fn name...
	local fn=$1 r i n cnt kv out ld; shift
	local names=("$@")
	cnt=${#names[@]}
	bench_tw_cap
	for r in $(seq 1 "$BENCH_REPS"); do
		for i in $(seq 0 $((cnt - 1))); do
			n=${names[$(((i + r - 1) % cnt))]}
			out=$("$fn" "$n" 2>>"$E2E_DIR/run-$n.err")
			ld=$(bench_load)
			for kv in $out; do
				[[ $kv == *=* ]] && [ -n "${kv#*=}" ] &&
					echo "${kv#*=} $ld" >>"$BENCH_RES/$n.${kv%%=*}"
			done
		done
	done
}

# name key -> "median min max n runs" (runs: value@load,... in order); empty if none
bench_stat() {
	[ -s "$BENCH_RES/$1.$2" ] || return 0
	# runs in the order they were taken; the statistics from the sorted values
	awk 'function f(x) { return x >= 1000 ? sprintf("%.0f", x) : sprintf("%.4g", x) }
		NR == FNR { r = r (NR > 1 ? "," : "") $1 "@" $2; next }
		{ v[FNR] = $1 }
		END { n = FNR; m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		      printf "%s %s %s %d %s\n", f(m), f(v[1]), f(v[n]), n, r }' "$BENCH_RES/$1.$2" <(sort -g "$BENCH_RES/$1.$2")
}

bench_median() { local s; s=$(bench_stat "$1" "$2"); echo "${s%% *}"; }

# Print one figure: every name's median [min-max] (n) and its runs with the
# load at each, the ratio of ours' median to each anchor's, and a summary row.
bench_fig() {	# title key aim ours anchor...
	local title=$1 key=$2 aim=$3 ours=$4 n st m lo hi cnt runs row om ratios=""
	shift 3
	echo "$title${aim:+  (aim: $aim)}"
	for n in "$@"; do
		st=$(bench_stat "$n" "$key")
		if [ -z "$st" ]; then
			printf '  %-10s not measured\n' "$n"
			continue
		fi
		read -r m lo hi cnt runs <<<"$st"
		printf '  %-10s median %-8s [%s-%s] n=%s  runs (value@load1): %s\n' "$n" "$m" "$lo" "$hi" "$cnt" "${runs//,/ }"
	done
	om=$(bench_median "$ours" "$key")
	for n in "${@:2}"; do
		m=$(bench_median "$n" "$key")
		[ -n "$m" ] && ratios="$ratios ${n}=$(bench_ratio "$om" "$m" | sed 's/[0-9]$/&x/')"
	done
	[ -n "$ratios" ] && echo "  ratio of medians $ours/anchor:$ratios"
	st=$(bench_stat "$ours" "$key")
	read -r m lo hi cnt runs <<<"${st:-n/a n/a n/a 0 -}"
	row="$BENCH_NAME	$title	$m [$lo-$hi]	"
	for n in "${@:2}"; do
		row="$row$n $(bench_median "$n" "$key" | sed 's/^$/n\/a/') "
	done
	printf '%s\t%s\t%s\t%s\n' "$row" "${ratios# }" "${aim:--}" "$(bench_load)" >>"$BENCH_SUMMARY"
}

# A single figure with no repetition (e.g. idle memory), as a summary row.
bench_row() {	# title value anchors-text aim
	[ -n "${BENCH_SUMMARY:-}" ] || return 0
	printf '%s\t%s\t%s\t%s\t\t%s\t%s\n' "$BENCH_NAME" "$1" "$2" "${3:--}" "${4:--}" "$(bench_load)" >>"$BENCH_SUMMARY"
}

# End of a bench script: its own table when run alone, the time it took.
bench_done() {
	[ -n "${BENCH_OWN_SUMMARY:-}" ] && bench_summary_print "$BENCH_SUMMARY"
	echo "$BENCH_NAME bench done in $(bench_elapsed) s"
}

bench_summary_print() {	# file
	[ -s "$1" ] || return 0
	echo "=== summary (ours: median [min-max] of the repetitions; anchors: medians; load: 1-min load average)"
	{
		printf 'bench\tfigure\tours\tanchors\tratio ours/anchor\taim\tload\n'
		cat "$1"
	} | column -t -s '	'
}

bench_cpu_ticks() {	# pid... -> utime+stime summed (clock ticks)
	local p t=0 s
	for p in "$@"; do
		s=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		# fields after "(comm) ": state is 1, utime 12, stime 13
		set -- $s
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}

bench_mem() {	# pid... -> "rss_kib pss_kib"
	local p r=0 q=0 a b
	for p in "$@"; do
		read -r a b < <(awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } END { print r + 0, p + 0 }' \
			"/proc/$p/smaps_rollup" 2>/dev/null) || continue
		r=$((r + a)) q=$((q + b))
	done
	echo "$r $q"
}

# the processes in a node's namespace (daemons, ssh, agent)
bench_ns_pids() { ip netns pids "$(ns "$1")" 2>/dev/null | tr '\n' ' '; }
