#!/bin/sh
# Stage the container image's root from a build: the daemons, edgemeshctl,
# nft (proxyd runs it to install its redirect rules) and exactly the shared
# libraries that ldd names for them, /etc/passwd and /etc/group with the fixed
# uids that k8s/ uses, and the empty mount points.  No shell, no package
# manager.  Usage: scripts/image-root.sh BUILD_DIR DEST_DIR
# DEST_DIR/usr/share/edgemesh/libs lists the libraries copied.
set -eu
B=${1:?usage: $0 BUILD_DIR DEST_DIR}
R=${2:?usage: $0 BUILD_DIR DEST_DIR}
DAEMONS="controller dnsd proxyd tunneld socksd gatewayd"

rm -rf "$R"
mkdir -p "$R/usr/sbin" "$R/usr/bin" "$R/etc/edgemesh/config" "$R/run/edgemesh" \
	"$R/var/lib/edgemesh" "$R/tmp" "$R/usr/share/edgemesh"
chmod 1777 "$R/tmp"
bins=""
for d in $DAEMONS; do
	install -s -m 0755 "$B/edgemesh-$d" "$R/usr/sbin/edgemesh-$d"
	bins="$bins $R/usr/sbin/edgemesh-$d"
done
install -s -m 0755 "$B/edgemeshctl" "$R/usr/bin/edgemeshctl"
nft=$(command -v nft || echo /usr/sbin/nft)
[ -x "$nft" ] || { echo "image-root.sh: nft not found (apt-get install nftables)" >&2; exit 1; }
install -m 0755 "$nft" "$R/usr/sbin/nft"
bins="$bins $R/usr/bin/edgemeshctl $R/usr/sbin/nft"

# Every path ldd prints (=> /path, or the loader's own absolute path), copied
# to the same path with the symlinks resolved.
for b in $bins; do
	ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
done | sort -u > "$R/usr/share/edgemesh/libs"
while read -r lib; do
	mkdir -p "$R$(dirname "$lib")"
	cp -L "$lib" "$R$lib"
done < "$R/usr/share/edgemesh/libs"

# The users and groups of k8s/base/05-daemonset.yaml (runAsUser / -u), so that
# getpwuid names them and an ipcUsers-less config (EdgeMesh's) admits them.
echo "root:x:0:0:root:/nonexistent:/usr/sbin/nologin" > "$R/etc/passwd"
echo "root:x:0:" > "$R/etc/group"
i=1
for d in $DAEMONS; do
	echo "edgemesh-$d:x:1000$i:1000$i:EdgeMesh-C $d:/nonexistent:/usr/sbin/nologin" >> "$R/etc/passwd"
	echo "edgemesh-$d:x:1000$i:" >> "$R/etc/group"
	i=$((i + 1))
done
echo "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin" >> "$R/etc/passwd"
printf 'edgemesh:x:10000:\nnogroup:x:65534:\n' >> "$R/etc/group"
printf 'hosts: files dns\npasswd: files\ngroup: files\n' > "$R/etc/nsswitch.conf"
: > "$R/etc/resolv.conf"
: > "$R/etc/hosts"
echo "staged $(wc -l < "$R/usr/share/edgemesh/libs") libraries and $(echo $bins | wc -w) programs in $R"
