#!/bin/sh
# Create the system users the daemons switch to when started as root
# (edgemesh-<daemon>).  Idempotent.  systemd units use DynamicUser instead.
set -e
for d in controller dnsd proxyd tunneld socksd gatewayd; do
	id "edgemesh-$d" >/dev/null 2>&1 ||
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "edgemesh-$d"
done
