#!/bin/sh
# The system users the daemons run as (edgemesh-<daemon>: switched to when a
# daemon starts as root, User= in systemd/), and group edgemesh, which owns
# /run/edgemesh under systemd (systemd/edgemesh.conf).  Idempotent.  The
# Debian package's postinst runs this; its purge runs it with --remove.
set -e
DAEMONS="controller dnsd proxyd tunneld socksd gatewayd"
if [ "${1:-}" = "--remove" ]; then
	for d in $DAEMONS; do
		! id "edgemesh-$d" >/dev/null 2>&1 || userdel "edgemesh-$d"
	done
	! getent group edgemesh >/dev/null || groupdel edgemesh
	exit 0
fi
getent group edgemesh >/dev/null || groupadd --system edgemesh
for d in $DAEMONS; do
	id "edgemesh-$d" >/dev/null 2>&1 ||
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "edgemesh-$d"
done
