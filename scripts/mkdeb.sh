#!/bin/sh
# make deb: the Debian package edgemesh-c with dpkg-deb (no debhelper): the
# tree `make install PREFIX=/usr` makes, and packaging/debian/'s control file
# and maintainer scripts.  The scripts get scripts/add-users.sh as the shell
# function edgemesh_users (one copy of the user logic; the purge runs after
# the package's files are gone, so it cannot call an installed script).
set -e
B=${1:-build}
VERSION=$(sed -n 's/^#define EM_BUILD_VERSION *"\(.*\)"/\1/p' common/ipc.h)
ARCH=$(dpkg --print-architecture)
STAGE=$B/deb/edgemesh-c
rm -rf "$B/deb"
make --no-print-directory -s install B="$B" PREFIX=/usr DESTDIR="$STAGE" >/dev/null
mkdir -p "$STAGE/DEBIAN"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" packaging/debian/control.in \
	>"$STAGE/DEBIAN/control"
echo /etc/edgemesh/edgemesh.yaml >"$STAGE/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	{
		sed -n '1p' "packaging/debian/$s"
		echo "edgemesh_users() ("
		sed '1d' scripts/add-users.sh
		echo ")"
		sed '1d' "packaging/debian/$s"
	} >"$STAGE/DEBIAN/$s"
	chmod 755 "$STAGE/DEBIAN/$s"
done
OUT="$B/edgemesh-c_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$OUT" >/dev/null
rm -rf "$B/deb"
echo "$OUT"
