#!/bin/sh
# Print the Debian packages the build needs that are missing (nothing when
# all are there).  The Makefile calls it before building; scripts/deps.sh
# installs them (and what the tests need).
missing=""
command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || missing="build-essential"
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
for m in libsodium:libsodium-dev msgpack:libmsgpack-dev yaml-0.1:libyaml-dev \
	libcurl:libcurl4-openssl-dev jansson:libjansson-dev openssl:libssl-dev \
	libseccomp:libseccomp-dev; do
	pkg-config --exists "${m%%:*}" 2>/dev/null || missing="$missing ${m#*:}"
done
# libev ships no .pc file: look for its header
[ -f /usr/include/ev.h ] || missing="$missing libev-dev"
echo $missing
