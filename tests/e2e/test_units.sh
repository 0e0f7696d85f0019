#!/bin/bash
# The systemd units: every service's `systemd-analyze security --offline`
# exposure is at most 2.0 and the unit carries what a real systemd needs; then
# the units booted under a real systemd (systemd-nspawn over an overlay of a
# cached Debian root, tests/e2e/nspawn_lib.sh), installed by `make install`:
# requests on every unit's path go on without one failure while each unit is
# restarted (a Service by ClusterIP and by name: proxyd, dnsd; a Service whose
# endpoint is on a second node, hs-peer: tunneld; hs-peer by name through
# socksd; a VirtualService through gatewayd; one client loop each, so a
# restart that refuses connections is seen); the runtime dir keeps
# its one owner, each daemon writes its own state dir; every daemon pings the
# watchdog, which restarts a daemon whose loop stops.
set -u
B=${B:-build}
PASS=0 FAIL=0
ok() { local w=$1; shift; if "$@"; then PASS=$((PASS + 1)); echo "ok - $w"; else FAIL=$((FAIL + 1)); echo "not ok - $w"; fi; }
done_() { echo "units: $PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ]; }

# 1. the unit files, offline (no systemd running needed)
if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP units: systemd-analyze missing (apt-get install systemd)"; exit 77
fi
for u in systemd/*.service; do
	n=$(systemd-analyze security --offline=true "$u" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	ok "$(basename "$u") exposure ${n:-?} <= 2.0" awk -v n="${n:-99}" 'BEGIN { exit !(n <= 2.0) }'
	miss=$(for k in Type=notify WatchdogSec= Wants=network-online.target \
		After=network-online.target SystemCallFilter=@system-service RestrictAddressFamilies= \
		PrivateDevices=yes UMask=0077 ProtectSystem=strict; do grep -q "^$k" "$u" || echo "$k"; done)
	ok "$(basename "$u") has notify, watchdog, network-online, filters, UMask${miss:+ (lacks $miss)}" \
		test -z "$miss"
	ok "$(basename "$u") has no RuntimeDirectory= (tmpfiles owns /run/edgemesh)" \
		bash -c "! grep -q '^RuntimeDirectory' $u"
done

# make install honours PREFIX and DESTDIR: the units start the installed binaries
T=$(mktemp -d /tmp/edgemesh-install.XXXXXX)
make -s install B="$B" PREFIX=/opt/em DESTDIR="$T" >/dev/null 2>&1
inst_ok() { local u x; for u in "$T"/opt/em/lib/systemd/system/*.service; do
	x=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$u"); [ -x "$T$x" ] && [ "${x#/opt/em/sbin/}" != "$x" ] || return 1
	done; [ -f "$T/opt/em/lib/tmpfiles.d/edgemesh.conf" ] && [ -f "$T/etc/edgemesh/edgemesh.yaml" ]; }
ok "make install PREFIX=/opt/em DESTDIR=...: units run \$PREFIX/sbin's binaries" inst_ok
rm -rf "$T"

# 2. under a real systemd
[ "$(id -u)" -eq 0 ] || { echo "SKIP units (systemd part): needs root"; done_; exit; }
. tests/e2e/nspawn_lib.sh
if ! nspawn_root_ensure; then done_; exit; fi
trap nspawn_stop EXIT
trap "exit 1" INT TERM
nspawn_boot "hsu$$" || { echo "not ok - boot the container"; exit 1; }
make -s install B="$B" DESTDIR="$NS_DIR/root" PREFIX=/usr >/dev/null
nspawn_mesh_setup users
nsx systemd-tmpfiles --create edgemesh.conf
nsx systemctl daemon-reload
nspawn_peer_setup || echo "not ok - the peer node hs-peer"
nsx systemctl start edgemesh.target edgemesh-gatewayd.service
ok "every unit active" nsx systemctl is-active -q edgemesh-controller edgemesh-dnsd \
	edgemesh-proxyd edgemesh-tunneld edgemesh-socksd edgemesh-gatewayd
wait_get() { local _; for _ in $(seq 1 50); do [ "$(nspawn_get "$1")" = backend ] && return 0; sleep 0.2; done; return 1; }
ok "a Service by ClusterIP through proxyd" wait_get ip
ok "a Service by name through dnsd and proxyd" wait_get name
# the traffic of the other units: each request crosses hs-node's tunneld to hs-peer
get() {	# kind -> the body: ip, name (web, local), far (proxyd, tunneld), socks, gw
	case $1 in
	ip) nsx curl -s -m 3 http://10.96.7.10/ ;;
	name) nsx curl -s -m 3 http://web.default.svc.cluster.local/ ;;
	far) nsx curl -s -m 3 http://10.96.7.12/ ;;
	socks) nsx curl -s -m 3 --socks5-hostname 169.254.96.16:10800 http://hs-peer:22/ ;;
	gw) nsx curl -s -m 3 http://10.78.0.1:23333/ ;;
	esac
}
wait_peer() { local _; for _ in $(seq 1 100); do [ "$(get "$1")" = peer ] && return 0; sleep 0.2; done; return 1; }
ok "a Service with its endpoint on hs-peer, by ClusterIP (proxyd, both tunnelds)" wait_peer far
ok "hs-peer by node name through socksd and the tunnel" wait_peer socks
ok "gatewayd routes to the Service on hs-peer (a VirtualService, the tunnel)" wait_peer gw
RUNDIR=$(nsx stat -c '%U:%G %a' /run/edgemesh)
ok "/run/edgemesh is root:edgemesh 1775 ($RUNDIR)" test "$RUNDIR" = "root:edgemesh 1775"
ok "tunneld made its key in its own state dir" \
	test "$(nsx stat -c '%U %a' /var/lib/edgemesh/tunneld/tunnel.key)" = "edgemesh-tunneld 600"
ok "the controller's state dir is its own" \
	test "$(nsx stat -c '%U %a' /var/lib/edgemesh/controller)" = "edgemesh-controller 700"
ok "the controller keeps the clusterIP it gave in it" \
	test "$(nsx stat -c %U /var/lib/edgemesh/controller/clusterips)" = edgemesh-controller

# requests while each unit restarts in turn, one client loop per path so that
# each path is busy through every restart: web by IP (proxyd) and by name
# (dnsd), far (tunneld), hs-peer through socksd, far through gatewayd
LOAD=()
for k in ip name far socks gw; do
	nsx sh -c "$(declare -f get | sed 's/nsx //'); i=0
		while [ ! -e /var/tmp/stop ] && [ \$i -lt 2000 ]; do i=\$((i + 1))
		r=\$(get $k); case $k in ip | name) w=backend ;; *) w=peer ;; esac
		if [ \"\$r\" = \"\$w\" ]; then echo \"ok $k\"; else echo \"failed $k #\$i at \$(date +%T.%N)\"; fi
		done" >"$NS_DIR/load-$k.log" 2>&1 &
	LOAD+=("$!")
done
sleep 1
for d in controller dnsd proxyd tunneld socksd gatewayd; do
	old=$(nsx systemctl show -P MainPID "edgemesh-$d")
	echo "# restarting edgemesh-$d at $(date +%T.%N)"
	nsx systemctl restart "edgemesh-$d"
	new=$(nsx systemctl show -P MainPID "edgemesh-$d")
	ok "edgemesh-$d restarted (pid $old -> $new) and active" \
		bash -c "[ '$old' != '$new' ] && nsx() { nsenter -t $NS_INIT -a -- \"\$@\"; } && nsx systemctl is-active -q edgemesh-$d"
	sleep 1
done
# tunneld hands its sessions over: the restart above through the controller,
# a reload to a new exec in the same pid (tunneld/ARCHITECTURE.md, Hand-over)
ho_took() { nsx journalctl -q -u edgemesh-tunneld | grep -c 'took over [0-9]* sessions'; }
n=$(ho_took)
P=$(nsx systemctl show -P MainPID edgemesh-tunneld)
nsx systemctl reload edgemesh-tunneld
for _ in $(seq 1 50); do [ "$(ho_took)" -gt "$n" ] && break; sleep 0.2; done
ok "edgemesh-tunneld's restart handed over ($n took over)" test "$n" -ge 1
ok "systemctl reload edgemesh-tunneld: a new exec in pid $P took over" \
	test "$(ho_took)" -gt "$n" -a "$(nsx systemctl show -P MainPID edgemesh-tunneld)" = "$P"
sleep 1
touch "$NS_DIR/root/var/tmp/stop"
wait "${LOAD[@]}"
cat "$NS_DIR"/load-*.log >"$NS_DIR/load.log"
for k in ip name far socks gw; do
	n=$(grep -c "^ok $k\$" "$NS_DIR/load.log") f=$(grep -c "^failed $k " "$NS_DIR/load.log")
	ok "requests ($k) during the restarts: $n answered, $f failed" test "$n" -gt 5 -a "$f" -eq 0
done
grep -m5 ^failed "$NS_DIR/load.log" | sed "s/^/# /"
ok "/run/edgemesh unchanged by the restarts" \
	test "$(nsx stat -c '%U:%G %a' /run/edgemesh)" = "root:edgemesh 1775"

# a request in flight through proxyd when it is told to stop finishes
nsx curl -s -m 5 http://10.96.7.11/ >"$NS_DIR/slow.out" 2>&1 &
SLOW=$!
sleep 0.5
nsx systemctl restart edgemesh-proxyd
wait "$SLOW"
ok "a request in flight across a proxyd restart is answered ($(head -c 20 "$NS_DIR/slow.out"))" \
	test "$(cat "$NS_DIR/slow.out")" = backend

# the watchdog: every daemon's pings keep it alive past WatchdogSec (all six
# at once, WatchdogSec=3); a stopped loop is killed and restarted (socksd)
D6="controller dnsd proxyd tunneld socksd gatewayd"
for d in $D6; do
	mkdir -p "$NS_DIR/root/etc/systemd/system/edgemesh-$d.service.d"
	printf '[Service]\nWatchdogSec=3\nTimeoutAbortSec=1\n' \
		>"$NS_DIR/root/etc/systemd/system/edgemesh-$d.service.d/wd.conf"
done
nsx systemctl daemon-reload
# shellcheck disable=SC2046,SC2086
nsx systemctl restart $(printf 'edgemesh-%s ' $D6)
pids() { local d; for d in $D6; do nsx systemctl show -P MainPID "edgemesh-$d"; done | tr '\n' ' '; }
PIDS=$(pids)
sleep 7
ok "every daemon pings the watchdog (the same pids after 7 s of WatchdogSec=3: $PIDS)" \
	test "$(pids)" = "$PIDS" -a -z "$(echo " $PIDS" | grep -w 0)" -a "$(nsx journalctl -q -u 'edgemesh-*' | grep -c 'Watchdog timeout')" -eq 0
P1=$(nsx systemctl show -P MainPID edgemesh-socksd)
nsx kill -STOP "$P1"
wd_fired() { nsx journalctl -q -u edgemesh-socksd | grep -q "Watchdog timeout" &&
	[ "$(nsx systemctl show -P MainPID edgemesh-socksd)" != "$P1" ] &&
	nsx systemctl is-active -q edgemesh-socksd; }
for _ in $(seq 1 75); do wd_fired && break; sleep 0.2; done
ok "a stopped socksd is killed by the watchdog and restarted" wd_fired

nsx systemctl stop edgemesh.target edgemesh-gatewayd.service edgemesh-dnsd.socket \
	edgemesh-controller edgemesh-dnsd edgemesh-proxyd edgemesh-tunneld edgemesh-socksd
ok "no unit failed" bash -c "[ -z \"\$(nsenter -t $NS_INIT -a -- systemctl list-units --failed --plain --no-legend 'edgemesh-*')\" ]"
# the journal on failure: to $UNITS_JOURNAL, or after the results (not through
# /dev/stdout, whose open would truncate a log file the output goes to)
if [ "$FAIL" -ne 0 ]; then
	if [ -n "${UNITS_JOURNAL:-}" ]; then
		nsx journalctl --no-pager -o short-precise -u 'edgemesh-*' -u 'hs-*' >"$UNITS_JOURNAL"
	else
		nsx journalctl --no-pager -o short-precise -u 'edgemesh-*' -u 'hs-*'
	fi
fi
done_
