#!/bin/sh
# Build the container image offline (`make image`): stage the root from the
# build with scripts/image-root.sh, pack it, and build packaging/Containerfile
# with buildah (Debian's package; nothing is pulled: FROM scratch).  Also
# saves it as an OCI archive for `ctr -n k8s.io images import` / `podman load`.
# Usage: scripts/image-build.sh BUILD_DIR IMAGE [OCI_ARCHIVE]
# The staging area is $EDGEMESH_CACHE/image (default /var/cache/edgemesh-c),
# outside the checkout.
set -eu
B=${1:?usage: $0 BUILD_DIR IMAGE [OCI_ARCHIVE]}
IMG=${2:?usage: $0 BUILD_DIR IMAGE [OCI_ARCHIVE]}
OCI=${3:-}
C=${EDGEMESH_CACHE:-/var/cache/edgemesh-c}/image
command -v buildah >/dev/null || {
	echo "image-build.sh: buildah missing: apt-get install buildah" >&2
	exit 1
}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$C"
"$here/scripts/image-root.sh" "$B" "$C/root"
tar -C "$C/root" --numeric-owner --owner=0 --group=0 -cf "$C/image-root.tar" .
cp "$here/packaging/Containerfile" "$C/Containerfile"
buildah bud --quiet --pull=never --network=none --layers=false -f "$C/Containerfile" -t "$IMG" "$C"
if [ -n "$OCI" ]; then
	rm -f "$OCI"
	buildah push --quiet "$IMG" "oci-archive:$OCI:$IMG"
	echo "image $IMG built; OCI archive $OCI"
else
	echo "image $IMG built"
fi
