#!/bin/bash
# The controller on a large embedded registry: 10k Services and 100k
# endpoints (10 per service; half as Endpoints, half as EndpointSlices) in
# 10 files, made by bench/gen_registry.py.  Printed, never asserted:
#
#   full sync   start of the controller -> a subscriber holds every topic's
#               snapshot, as each daemon's replica does (build/em-sub -1,
#               connected at once, waiting: load + publish + snapshot +
#               decode; median of BENCH_REPS cold starts interleaved with
#               the anchor; the controller's CPU-s beside it, as it parses
#               a big file on every CPU it may use), then the same snapshot
#               to a fresh subscriber of a running controller, and
#               `edgemeshctl services` on it (printing 110k lines)
#   RSS         VmRSS/VmHWM of the controller (/proc), and of the subscriber,
#               whose replica is what every daemon holds for these topics
#   one change  a file renamed into place -> the subscriber's "change" line
#               for that service: em-sub stamps each line with CLOCK_REALTIME,
#               compared with the CLOCK_REALTIME the generator takes just
#               before its rename(2) (no `mv` process start in the figure); a
#               small file (one service) and a big one (1000 services, all
#               reparsed).  Includes the registry's 5 ms settle timer.
#
# Aims (brief): full sync <= 1 s, one change <= 20 ms; ratio = measured/aim.
# Anchor, same run, same machine: libyaml (python3 CSafeLoader) parsing the
# same files; the controller parses them with libyaml too.
set -u
B=${1:-${B:-build}}
N=${REGISTRY_SERVICES:-10000}
K=${REGISTRY_EPS:-10}
F=${REGISTRY_FILES:-10}
ROUNDS=${REGISTRY_ROUNDS:-5}
WAIT_NS=10000000000		# give up on one change after 10 s

for f in edgemesh-controller edgemeshctl em-sub; do
	[ -x "$B/$f" ] || { echo "registry: $B/$f missing; run make"; exit 1; }
done
W=$(mktemp -d /tmp/edgemesh-bench-registry.XXXXXX)
CTL_PID=""
SUB_PID=""
cleanup() {
	[ -n "$SUB_PID" ] && kill "$SUB_PID" 2>/dev/null
	[ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

REG=$W/registry
CFG=$W/edgemesh.yaml
cat >"$CFG" <<EOF
commonConfig:
  nodeName: bench-node
  runtimeDir: $W/run
  stateDir: $W/state
registry:
  path: $REG
EOF

now() { date +%s%N; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }
rss() { awk '/^VmRSS/ { r = $2 } /^VmHWM/ { h = $2 } END { printf "%.1f MiB (peak %.1f MiB)", r / 1024, h / 1024 }' "/proc/$1/status"; }
# as README starts it: as root, switching to its own user
[ "$(id -u)" -eq 0 ] && scripts/add-users.sh && chmod 755 "$W"

echo "registry: $N services x $K endpoints in $F files (+ a one-service probe file)"
t0=$(now)
python3 "$(dirname "$0")/gen_registry.py" "$REG" --services "$N" --eps "$K" --files "$F" || exit 1
t1=$(now)
echo "  generated $(du -sh "$REG" | cut -f1) of YAML in $(ms $((t1 - t0))) ms"

# anchor: libyaml parsing the same files
anchor_once() {	# -> "ns documents"
	python3 - "$REG" <<'PY'
import glob, sys, time, yaml
t = time.monotonic_ns()
n = 0
for f in sorted(glob.glob(sys.argv[1] + "/*.yaml")):
    with open(f) as fp:
        n += sum(1 for _ in yaml.load_all(fp, Loader=yaml.CSafeLoader))
print(time.monotonic_ns() - t, n)
PY
}

# --- full sync from a cold start ------------------------------------------------
cold_once() {	# appends ns to cold.ns, CPU ms to cold.cpu; the controller stays up (CTL_PID)
	local t0 t1 cpu
	rm -f "$W/run/controller.sock"	# the last run's, once it has exited
	t0=$(now)
	"$B/edgemesh-controller" -c "$CFG" >"$W/controller.log" 2>&1 &
	CTL_PID=$!
	while [ ! -S "$W/run/controller.sock" ]; do
		kill -0 "$CTL_PID" 2>/dev/null || { echo "registry: the controller died:" >&2; cat "$W/controller.log" >&2; return 1; }
		sleep 0.005
	done
	"$B/em-sub" -c "$CFG" -q -1 >"$W/cold-sub.out" 2>&1 || { echo "registry: em-sub failed:" >&2; cat "$W/cold-sub.out" >&2; return 1; }
	t1=$(now)
	cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' "/proc/$CTL_PID/stat")
	echo $((t1 - t0)) >>"$W/cold.ns"
	echo "$cpu" >>"$W/cold.cpu"
}
# BENCH_REPS interleaved repetitions of the anchor and of a cold start
REPS=${BENCH_REPS:-3}
for i in $(seq 1 "$REPS"); do
	a=$(anchor_once)
	echo "${a% *}" >>"$W/anchor.ns"
	DOCS=${a#* }
	if [ -n "$CTL_PID" ]; then
		kill "$CTL_PID" 2>/dev/null; wait "$CTL_PID" 2>/dev/null
		CTL_PID=""
	fi
	cold_once || exit 1	# not in $(...): CTL_PID must be set here
done
ANCHOR_NS=$(median <"$W/anchor.ns")
COLD_NS=$(median <"$W/cold.ns")
spread() { sort -n "$1" | awk 'NR == 1 { a = $1 } { b = $1 } END { printf "%.1f-%.1f", a / 1e6, b / 1e6 }'; }
echo "  anchor: libyaml (python3 CSafeLoader) parses the $DOCS documents in $(ms "$ANCHOR_NS") ms" \
	"(median of $REPS, [$(spread "$W/anchor.ns")])"
LOADED=$(sed -n 's/.*msg="registry: loaded [^:]*: \(.*\)"/\1/p' "$W/controller.log")
echo "  controller: $LOADED"
echo "  subscriber: $(tail -n 1 "$W/cold-sub.out")"
echo "full sync, cold: controller start -> a subscriber's snapshot done: $(ms "$COLD_NS") ms" \
	"(median of $REPS, [$(spread "$W/cold.ns")]; $(ratio "$COLD_NS" 1000000000)x the 1 s aim;" \
	"$(ratio "$COLD_NS" "$ANCHOR_NS")x the libyaml anchor; controller CPU $(median <"$W/cold.cpu") ms)"

# --- full sync to a new subscriber of a running controller ---------------------
for i in 1 2 3; do
	t0=$(now)
	"$B/em-sub" -c "$CFG" -q -1 >"$W/sync.out" 2>&1 || { echo "registry: em-sub failed"; cat "$W/sync.out"; exit 1; }
	t1=$(now)
	echo $((t1 - t0))
done >"$W/sync.ns"
WARM_NS=$(median <"$W/sync.ns")
echo "full sync, warm: a new subscriber's snapshot (median of 3): $(ms "$WARM_NS") ms" \
	"($(ratio "$WARM_NS" 1000000000)x the 1 s aim); $(grep '^synced' "$W/sync.out" | sed 's/ t=.*//')"
for i in 1 2 3; do
	t0=$(now)
	"$B/edgemeshctl" -c "$CFG" services >/dev/null
	t1=$(now)
	echo $((t1 - t0))
done >"$W/ctl.ns"
echo "  edgemeshctl services on the running controller (median of 3, incl. printing): $(ms "$(median <"$W/ctl.ns")") ms"

# --- memory -----------------------------------------------------------------------
"$B/em-sub" -c "$CFG" -q >"$W/sub.log" 2>&1 &
SUB_PID=$!
end=$(( $(now) + WAIT_NS ))
until grep -q '^synced' "$W/sub.log"; do
	[ "$(now)" -lt "$end" ] || { echo "registry: the subscriber did not sync"; exit 1; }
	sleep 0.01
done
echo "controller RSS: $(rss $CTL_PID) ($N services, $((N * K)) endpoints, 2 subscribers)"
echo "subscriber RSS: $(rss $SUB_PID) (a replica of services + endpoints, as each daemon holds)"

# --- one change ---------------------------------------------------------------------
# change_once KEY PORT CMD...: CMD renames a file into place and prints when
change_once() {
	local key=$1 port=$2 t0 line t
	shift 2
	t0=$("$@" --rename) || return 1
	end=$((t0 + WAIT_NS))
	while :; do
		line=$(grep -E "^change services $key .*ports=http:$port/TCP" "$W/sub.log" | tail -n 1)
		[ -n "$line" ] && break
		[ "$(now)" -lt "$end" ] || { echo "registry: no change for $key within 10 s" >&2; return 1; }
		sleep 0.001
	done
	t=${line##*t=}
	echo $((t - t0))
}
GEN=(python3 "$(dirname "$0")/gen_registry.py" "$REG" --services "$N" --eps "$K" --files "$F")
: >"$W/small.ns"
: >"$W/big.ns"
BIGFILE=$((F / 2))
BIGKEY=$(awk '/^  name: svc-/ { print $2; exit }' "$REG/$(printf 'registry-%02d.yaml' $BIGFILE)")
BIGNS=$(awk '/^  namespace: / { print $2; exit }' "$REG/$(printf 'registry-%02d.yaml' $BIGFILE)")
PER=$(( (N + F - 1) / F ))
for r in $(seq 1 "$ROUNDS"); do
	change_once bench/probe $((1000 + r)) "${GEN[@]}" --probe-port $((1000 + r)) >>"$W/small.ns" || break
	change_once "$BIGNS/$BIGKEY" $((2000 + r)) "${GEN[@]}" --file $BIGFILE --bump-port $((2000 + r)) \
		>>"$W/big.ns" || break
done
SMALL_NS=$(median <"$W/small.ns")
BIG_NS=$(median <"$W/big.ns")
echo "one change, small file (1 service): median $(ms "$SMALL_NS") ms over $(wc -l <"$W/small.ns") edits" \
	"[$(sort -n "$W/small.ns" | while read -r v; do printf '%s ' "$(ms "$v")"; done)ms]" \
	"($(ratio "$SMALL_NS" 20000000)x the 20 ms aim)"
echo "one change, big file ($PER services reparsed): median $(ms "$BIG_NS") ms over $(wc -l <"$W/big.ns") edits" \
	"[$(sort -n "$W/big.ns" | while read -r v; do printf '%s ' "$(ms "$v")"; done)ms]" \
	"($(ratio "$BIG_NS" 20000000)x the 20 ms aim; the file is $(ratio "$BIG_NS" $((ANCHOR_NS / F)))x the anchor's time for one file)"
echo "controller RSS after the edits: $(rss $CTL_PID)"
. bench/lib.sh	# one row each in the summary table
BENCH_NAME=registry
bench_row "full sync cold, ms ($N services)" "$(ms "$COLD_NS") [$(spread "$W/cold.ns")]" "libyaml parse $(ms "$ANCHOR_NS")" "<= 1000 ms"
bench_row "full sync warm (new subscriber), ms" "$(ms "$WARM_NS")" "-" "<= 1000 ms"
bench_row "one change, small file, ms (median)" "$(ms "$SMALL_NS")" "-" "<= 20 ms"
bench_row "one change, big file, ms (median)" "$(ms "$BIG_NS")" "-" "<= 20 ms"
grep -E 'level=(warn|error)' "$W/controller.log" | grep -v 'running as root' | head -n 5
