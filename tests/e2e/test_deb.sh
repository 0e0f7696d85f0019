#!/bin/bash
# The Debian package (make deb) in a throwaway systemd machine (systemd-nspawn
# over an overlay of the cached root, tests/e2e/nspawn_lib.sh; never on this
# machine): dpkg -i makes the users and the runtime dir and enables nothing;
# the mesh starts through its units and serves a Service, and again after an
# upgrade (which restarts it); dpkg -r stops it
# and takes proxyd's rules, routes and edgemesh0 away; dpkg -P removes users,
# state and config, and leaves no file, user, rule, route or link behind.
set -u
B=${B:-build}
PASS=0 FAIL=0
ok() { local w=$1; shift; if "$@"; then PASS=$((PASS + 1)); echo "ok - $w"; else FAIL=$((FAIL + 1)); echo "not ok - $w"; fi; }
done_() { echo "deb: $PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ]; }
[ "$(id -u)" -eq 0 ] || { echo "SKIP deb: needs root"; exit 77; }
command -v dpkg-deb >/dev/null || { echo "SKIP deb: dpkg-deb missing"; exit 77; }
. tests/e2e/nspawn_lib.sh
nspawn_root_ensure || exit 77
DEB=$(make -s deb B="$B" | tail -1)
ok "make deb built $DEB" test -f "$DEB"
ok "package name edgemesh-c" test "$(dpkg-deb -f "$DEB" Package)" = edgemesh-c
trap nspawn_stop EXIT
trap "exit 1" INT TERM
nspawn_boot "hsd$$" || { echo "not ok - boot the container"; exit 1; }

# what the machine looks like before: files, users, network state
snap() {	# -> files, accounts, links, rules, routes (minus what the OS itself churns)
	nsx sh -c 'find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp \
		-o -path /run/systemd -o -path /run/user -o -path /var/log -o -path /var/cache \
		-o -path /var/lib/dpkg -o -path /var/lib/systemd -o -path /var/tmp \) -prune -o -print | sort
	cut -d: -f1 /etc/passwd /etc/group /etc/shadow /etc/gshadow | sed "s/^/account /"
	ip -o link | sed "s/^[0-9]*: \([^:@]*\).*/link \1/"
	ip rule | sed "s/^/rule /"; ip route show table all | sed "s/^/route /"
	nft list ruleset 2>/dev/null | grep "^table" | sed "s/^/nft /"'
}
snap >"$NS_DIR/before"
cp "$DEB" "$NS_DIR/root/var/tmp/edgemesh-c.deb"
ok "dpkg -i" nsx sh -c "dpkg -i /var/tmp/edgemesh-c.deb >>/var/tmp/dpkg.log 2>&1"
users_ok() { local d; for d in controller dnsd proxyd tunneld socksd gatewayd; do
	nsx id "edgemesh-$d" >/dev/null || return 1; done; nsx getent group edgemesh >/dev/null; }
ok "postinst made the six users and group edgemesh" users_ok
ok "postinst made /run/edgemesh (root:edgemesh 1775)" \
	test "$(nsx stat -c '%U:%G %a' /run/edgemesh)" = "root:edgemesh 1775"
ok "nothing enabled" bash -c "[ \"\$(nsenter -t $NS_INIT -a -- systemctl is-enabled edgemesh.target)\" = disabled ]"
ok "nothing started" bash -c "! nsenter -t $NS_INIT -a -- systemctl is-active -q edgemesh-controller edgemesh-proxyd"
ok "the installed binaries answer --version" nsx sh -c 'for b in edgemesh-controller \
	edgemesh-dnsd edgemesh-proxyd edgemesh-tunneld edgemesh-socksd edgemesh-gatewayd \
	edgemeshctl; do $b --version >/dev/null || exit 1; done'

# the mesh, started through the package's units
nspawn_mesh_setup nousers
nsx systemctl start edgemesh.target
wait_get() { local i; for i in $(seq 1 50); do [ "$(nspawn_get "$1")" = backend ] && return 0; sleep 0.2; done; return 1; }
ok "a Service by ClusterIP through the packaged mesh" wait_get ip
ok "a Service by name through dnsd" wait_get name
ok "proxyd made edgemesh0 and its nft table" \
	nsx sh -c 'ip link show edgemesh0 >/dev/null && nft list table ip edgemesh >/dev/null'
P1=$(nsx systemctl show -P MainPID edgemesh-proxyd)
ok "dpkg -i again (upgrade)" nsx sh -c "dpkg -i /var/tmp/edgemesh-c.deb >>/var/tmp/dpkg.log 2>&1"
ok "the upgrade restarted the running daemons" \
	test "$(nsx systemctl show -P MainPID edgemesh-proxyd)" != "$P1"
ok "and the Service answers" wait_get name
nsx systemctl stop hs-backend hs-slow
nsx ip link del hsb0	# the test's own (nspawn_mesh_setup)

ok "dpkg -r" nsx sh -c "dpkg -r edgemesh-c >>/var/tmp/dpkg.log 2>&1"
ok "removal stopped the mesh" bash -c "! nsenter -t $NS_INIT -a -- systemctl is-active -q edgemesh-controller edgemesh-proxyd edgemesh-tunneld edgemesh-dnsd.socket"
ok "removal took edgemesh0 and the rules away" nsx sh -c '! ip link show edgemesh0 2>/dev/null && ! nft list table ip edgemesh 2>/dev/null'
ok "dpkg -P" nsx sh -c "dpkg -P edgemesh-c >>/var/tmp/dpkg.log 2>&1"
nsx rm -f /var/tmp/answer.sh
mv "$NS_DIR/resolv.conf.orig" "$NS_DIR/root/etc/resolv.conf"	# nspawn_mesh_setup's
snap >"$NS_DIR/after"
LEFT=$(diff "$NS_DIR/before" "$NS_DIR/after")
ok "nothing left behind (files, users, links, rules, routes)" test -z "$LEFT"
[ -z "$LEFT" ] || echo "$LEFT" | head -20 | sed 's/^/# /'
[ "$FAIL" -eq 0 ] || nsx journalctl --no-pager -n 30 -u 'edgemesh-*'
done_
