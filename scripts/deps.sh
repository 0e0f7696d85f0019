#!/bin/sh
# Install the Debian packages the build, the tests and the demo need, only
# when something is missing.  Safe to run repeatedly; needs root to install.
set -e
PKGS="build-essential pkg-config libev-dev libsodium-dev libmsgpack-dev libyaml-dev
libcurl4-openssl-dev libjansson-dev libssl-dev libseccomp-dev check
iproute2 iptables nftables dnsutils curl netcat-openbsd socat dnsmasq openssh-client
openssh-server procps psmisc python3 python3-yaml openssl passwd ncat prometheus
systemd systemd-container mmdebstrap"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: not root; run: sudo apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# dnsmasq's package starts a system instance; the tests run their own.
# prometheus is there for promtool only.
for s in dnsmasq prometheus; do systemctl disable --now $s >/dev/null 2>&1 || true; done
pkill -x prometheus 2>/dev/null || true
