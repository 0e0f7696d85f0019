#!/bin/bash
# The embedded file registry end to end, with the real controller: a
# directory seeded from tests/fixtures/registry, a long-lived subscriber
# (build/em-sub, prints one line per add/change/delete), edgemeshctl.
#
#   - `-n` on a good and on a bad config
#   - the initial services; a port changed in place, an endpoint added, a
#     file deleted, a malformed object between good ones (logged with its
#     file and name, the rest served), a file that does not parse
#   - each change reaches the subscriber (bounded waits, no timing asserted)
#   - a controller restart, with edits made while it was down: the
#     subscriber reconnects and its resync shows exactly those edits
#   - a daemon (socksd) shows as connected in `edgemeshctl status`, exits 0
#     on SIGTERM, then shows as down
#
# No network namespaces: it runs unprivileged too.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -eq 0 ]; then
	e2e_init registry	# daemons switch to their own users, as README starts them
else
	# e2e_init insists on root for namespaces, which this test does not use
	E2E_NAME=registry
	E2E_PREFIX="emregi$$"
	E2E_DIR=$(mktemp -d "/tmp/edgemesh-e2e-registry.XXXXXX")
	trap e2e_cleanup EXIT INT TERM
fi
# run copies: a rebuild of build/ while the test runs does not disturb it
mkdir -p "$E2E_DIR/bin"
for f in edgemesh-controller edgemesh-socksd edgemeshctl em-sub; do
	[ -x "$B/$f" ] || { echo "registry: $B/$f missing; run make"; exit 1; }
	cp "$B/$f" "$E2E_DIR/bin/"
done
B=$E2E_DIR/bin
python3 -c 'import yaml' 2>/dev/null || { echo "registry: python3-yaml missing (scripts/deps.sh)"; exit 1; }

WAIT=5					# seconds, for every change to show
REG=$E2E_DIR/registry
D=$E2E_DIR/n1
e2e_registry tests/fixtures/registry
CFG=$(e2e_config 1 </dev/null)
LOG=$D/controller.log
SUB=$D/sub.log

ctl() { "$B/edgemeshctl" -c "$CFG" "$@" 2>>"$D/edgemeshctl.err"; }
sub_has() { grep -qE -- "$1" "$SUB"; }
sub_count() { grep -cE -- "$1" "$SUB"; }
synced_more_than() { [ "$(sub_count '^synced ')" -gt "$1" ]; }
log_has() { grep -qF -- "$1" "$LOG"; }
services_has() { ctl services | grep -qE -- "$1"; }
services_lacks() { ctl services >"$D/services.out" && ! grep -qE -- "$1" "$D/services.out"; }
status_row() {	# daemon connected(yes|no)
	ctl status | awk -v d="$1" -v c="$2" '$1 == d && $2 == c { f = 1 } END { exit !f }'
}
# Write a manifest atomically (what kubectl-like tools and `mv` do).
put_file() {	# name < content
	cat >"$REG/.$1.tmp" && mv "$REG/.$1.tmp" "$REG/$1"
}
# "ns/name" of every v1 Service in the given files.
services_in() {
	python3 - "$@" <<'PY'
import sys, yaml
for f in sys.argv[1:]:
    for d in yaml.safe_load_all(open(f)):
        if isinstance(d, dict) and d.get("apiVersion") == "v1" and d.get("kind") == "Service":
            m = d.get("metadata") or {}
            print("%s/%s" % (m.get("namespace") or "default", m["name"]))
PY
}
start_controller() {
	"$B/edgemesh-controller" -c "$CFG" -d >>"$LOG" 2>&1 &
	CTL_PID=$!
	E2E_PIDS="$E2E_PIDS $CTL_PID"
	wait_for $WAIT ctl status
}

# --- -n ----------------------------------------------------------------
out=$("$B/edgemesh-controller" -n -c "$CFG" 2>&1); rc=$?
ok "-n: a good config prints 'configuration OK'" test "$rc" -eq 0 -a "$out" = "configuration OK"
BAD=$D/bad.yaml
printf 'registry:\n  path: %s\nmodules:\n  edgeTunnel:\n    listenPort: 70000\n' "$REG" >"$BAD"
out=$("$B/edgemesh-controller" -n -c "$BAD" 2>&1); rc=$?
ok "-n: a bad config exits non-zero" test "$rc" -ne 0
ok "-n: the error names file:line:col ($out)" \
	grep -qF "$BAD:5:17: key modules.edgeTunnel.listenPort" <<<"$out"
out=$("$B/edgemesh-socksd" -n -c "$BAD" 2>&1); rc=$?
ok "-n: the same from another daemon (socksd)" test "$rc" -ne 0 -a -n "$(grep -F "$BAD:5:17:" <<<"$out")"

# --- start, the initial state ------------------------------------------
put_file e2e-web.yaml <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: e2e}
spec:
  clusterIP: 10.96.50.10
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: e2e}
subsets:
- addresses: [{ip: 10.201.1.21, nodeName: edge-1}]
  ports: [{name: http, port: 8080}]
EOF
ok "the controller starts and answers status" start_controller
ok "status shows the controller" status_row controller yes
"$B/em-sub" -c "$CFG" -t services,endpoints >"$SUB" 2>"$D/sub.err" &
E2E_PIDS="$E2E_PIDS $!"
ok "a subscriber syncs" wait_for $WAIT sub_has '^synced '

FIXSVC=$(services_in "$REG"/*.yaml | grep -v '^e2e/')
NFIX=$(printf '%s\n' $FIXSVC | grep -c .)
[ "$NFIX" -gt 0 ] || fail "tests/fixtures/registry defines no Service"
for s in $FIXSVC; do
	ok "services lists $s" services_has "^$s "
	ok "the subscriber got $s" sub_has "^add services $s "
done
ok "services lists e2e/web" services_has "^e2e/web  10.96.50.10  http:80/TCP"
ok "services counts $((NFIX + 1)) services" services_has "^$((NFIX + 1)) services "
ok "the subscriber's snapshot has them all" sub_has "^synced .* services=$((NFIX + 1)) "

# --- edits ---------------------------------------------------------------
# a port changed, the file rewritten in place (an editor without rename)
cat >"$REG/e2e-web.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: e2e}
spec:
  clusterIP: 10.96.50.10
  ports: [{name: http, port: 8080, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: e2e}
subsets:
- addresses: [{ip: 10.201.1.21, nodeName: edge-1}]
  ports: [{name: http, port: 8080}]
EOF
ok "a changed port reaches the subscriber" \
	wait_for $WAIT sub_has '^change services e2e/web .*ports=http:8080/TCP'
ok "services shows the new port" services_has "^e2e/web  10.96.50.10  http:8080/TCP"
ok "the unchanged Endpoints in that file sent nothing" \
	test "$(sub_count '^change endpoints e2e/web ')" -eq 0

# an endpoint added
put_file e2e-web.yaml <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: e2e}
spec:
  clusterIP: 10.96.50.10
  ports: [{name: http, port: 8080, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: e2e}
subsets:
- addresses: [{ip: 10.201.1.21, nodeName: edge-1}, {ip: 10.201.2.21, nodeName: edge-2}]
  ports: [{name: http, port: 8080}]
EOF
ok "an added endpoint reaches the subscriber" \
	wait_for $WAIT sub_has '^change endpoints e2e/web .*10\.201\.1\.21/ready/edge-1,10\.201\.2\.21/ready/edge-2'
ok "services shows both endpoints" services_has '^    10\.201\.2\.21 +node=edge-2'

# a file deleted: the services it defined go
VICTIM=$REG/tcp-echo.yaml
[ -f "$VICTIM" ] || VICTIM=$(grep -l '^kind: Service' "$REG"/*.yaml | grep -v e2e- | head -n 1)
GONE=$(services_in "$VICTIM")
rm -f "$VICTIM"
for s in $GONE; do
	ok "deleting $(basename "$VICTIM") deletes $s" wait_for $WAIT sub_has "^delete services $s "
	ok "services no longer lists $s" services_lacks "^$s "
done
ok "the other services stay" services_has "^$((NFIX + 1 - $(printf '%s\n' $GONE | grep -c .))) services "

# a malformed object between two good ones
put_file mix.yaml <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: good-1, namespace: e2e}
spec:
  clusterIP: 10.96.50.21
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: broken, namespace: e2e}
spec:
  clusterIP: 10.96.50.22
  ports: [{port: eighty}]
---
apiVersion: v1
kind: Service
metadata: {name: good-2, namespace: e2e}
spec:
  clusterIP: 10.96.50.23
  ports: [{port: 81}]
EOF
ok "the good objects around a bad one are served (1)" wait_for $WAIT sub_has '^add services e2e/good-1 '
ok "the good objects around a bad one are served (2)" wait_for $WAIT sub_has '^add services e2e/good-2 '
ok "the bad object is logged with its file, line and name" \
	log_has "$REG/mix.yaml:8: skipped: Service e2e/broken: spec.ports[0].port"
ok "the bad object is not served" services_lacks '^e2e/broken '
ok "the subscriber never saw it" test "$(sub_count 'e2e/broken')" -eq 0

# a file that no longer parses keeps its last good objects
printf 'apiVersion: v1\nkind: Service\nmetadata: {name: good-1, namespace: e2e\n' | put_file mix.yaml
ok "a file that does not parse is logged with file:line:col" \
	wait_for $WAIT grep -qE "registry: $REG/mix.yaml:[0-9]+:[0-9]+: .*keeping its last good objects" "$LOG"
ok "... and its objects stay" services_has '^e2e/good-2 '
ok "... and nothing was deleted" test "$(sub_count '^delete services e2e/good')" -eq 0

# one object in two files: the later file wins; when it drops the object,
# the other file's definition takes over instead of the object vanishing
dup_svc() { printf 'apiVersion: v1\nkind: Service\nmetadata: {name: dup, namespace: e2e}\nspec:\n  clusterIP: %s\n  ports: [{port: 80}]\n' "$1"; }
dup_svc 10.96.50.41 | put_file dup-a.yaml
dup_svc 10.96.50.42 | put_file dup-b.yaml
ok "an object defined twice: the later file wins" wait_for $WAIT services_has '^e2e/dup  10.96.50.42 '
ok "... and the clash is logged with both files" \
	wait_for $WAIT grep -qF "is defined in $REG/dup-a.yaml and in $REG/dup-b.yaml" "$LOG"
printf '# emptied\n' | put_file dup-b.yaml
ok "when the winner drops it, the other definition takes over" \
	wait_for $WAIT services_has '^e2e/dup  10.96.50.41 '
rm -f "$REG/dup-a.yaml" "$REG/dup-b.yaml"
ok "... and it goes when no file defines it" wait_for $WAIT services_lacks '^e2e/dup '

# --- controller restart, with edits while it is down ----------------------
V1=$(sed -n 's/^synced version=\([0-9]*\).*/\1/p' "$SUB" | tail -n 1)
kill -TERM "$CTL_PID"
wait "$CTL_PID"; rc=$?
ok "the controller exits 0 on SIGTERM" test "$rc" -eq 0
ok "the subscriber notices" wait_for $WAIT sub_has '^disconnected '
put_file while-down.yaml <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: while-down, namespace: e2e}
spec:
  clusterIP: 10.96.50.30
  ports: [{port: 443}]
EOF
put_file mix.yaml <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: good-1, namespace: e2e}
spec:
  clusterIP: 10.96.50.21
  ports: [{port: 80}]
EOF
NSYNC=$(sub_count '^synced ')
ok "the controller starts again" start_controller
ok "the subscriber reconnects and resyncs" wait_for $WAIT synced_more_than "$NSYNC"
ok "the resync adds what was added while it was down" sub_has '^add services e2e/while-down '
ok "the resync deletes what went while it was down" sub_has '^delete services e2e/good-2'
# between the reconnect and its "synced": those two edits and nothing else
RESYNC=$(awk '/^connected /{ n = 0 } /^(add|change|delete) /{ n++ } /^synced /{ last = n } END { print last }' "$SUB")
ok "the resync repeats nothing unchanged ($RESYNC changes)" test "$RESYNC" -eq 2
V2=$(sed -n 's/^synced version=\([0-9]*\).*/\1/p' "$SUB" | tail -n 1)
ok "state versions keep growing across the restart ($V1 -> $V2)" test "$V2" -gt "$V1"
ok "services after the restart" services_has '^e2e/while-down  10.96.50.30  443/TCP'
ok "status shows the new controller" status_row controller yes

# deltas flow from the new controller too
sed -i 's/port: 443/port: 8443/' "$REG/while-down.yaml"
ok "a change after the restart reaches the subscriber" \
	wait_for $WAIT sub_has '^change services e2e/while-down .*ports=8443/TCP'

# --- a daemon in status ------------------------------------------------------
ok "status shows socksd down before it starts" status_row socksd no
"$B/edgemesh-socksd" -c "$CFG" -d >>"$D/socksd.log" 2>&1 &
SOCKS_PID=$!
E2E_PIDS="$E2E_PIDS $SOCKS_PID"
ok "socksd connects and shows as connected" wait_for $WAIT status_row socksd yes
kill -TERM "$SOCKS_PID"
wait "$SOCKS_PID"; rc=$?
ok "socksd exits 0 on SIGTERM" test "$rc" -eq 0
ok "status shows socksd down again" wait_for $WAIT status_row socksd no
ok "status says when socksd was last seen" \
	wait_for $WAIT sh -c "'$B/edgemeshctl' -c '$CFG' status | grep -E '^socksd .*down .*last seen: pid $SOCKS_PID'"
ok "the controller lives on" status_row controller yes

e2e_done
