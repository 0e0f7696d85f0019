#!/bin/sh
# Run every bench/*.sh but this one and print what they print (`make bench`
# calls `bench/run-all.sh build`), then one summary table collected from all
# of them (each appends its rows to $BENCH_SUMMARY).  Benchmarks measure and
# print; they never fail on a number, only when they cannot run.
#   knobs: BENCH_REPS (3 repetitions per figure), EDGEMESH_AGENT (path of
#   KubeEdge's edgemesh-agent binary: an anchor in bench/tunnel.sh)
B=${1:-build}
export B
# a relative EDGEMESH_AGENT is relative to where make was started
[ -n "${EDGEMESH_AGENT:-}" ] && EDGEMESH_AGENT=$(readlink -f "$EDGEMESH_AGENT") && export EDGEMESH_AGENT
cd "$(dirname "$0")/.." || exit 1
BENCH_SUMMARY=$(mktemp /tmp/edgemesh-bench-summary.XXXXXX) || exit 1
export BENCH_SUMMARY
T0=$(date +%s)
rc=0
failed=""
for b in bench/*.sh; do
	[ "$b" = bench/run-all.sh ] && continue
	case $b in *lib.sh) continue ;; esac	# helpers, not benchmarks
	[ -f "$b" ] || continue
	echo "=== $b"
	timeout 600 bash "$b" "$B"
	case $? in
	0) ;;
	77) echo "($b skipped: a tool or root missing)" ;;
	*) rc=1 failed="$failed $b" ;;
	esac
	echo
done
bash -c '. bench/lib.sh && bench_summary_print "$0"' "$BENCH_SUMMARY"
rm -f "$BENCH_SUMMARY"
echo "make bench: $(($(date +%s) - T0)) s, $(nproc) cores, load now $(cut -d' ' -f1-3 /proc/loadavg)"
[ $rc -eq 0 ] || echo "benchmarks that could not run:$failed"
exit $rc
