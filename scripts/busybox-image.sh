#!/usr/bin/env bash
# Builds a docker-archive (what `docker save` writes) of a busybox image
# from the host's static busybox (Debian's busybox-static), for nodes
# without a registry:
#
#   scripts/busybox-image.sh OUT.tar [TAG...]     # default tag busybox:latest
#   keel image import OUT.tar
#
# The rootfs: /bin/busybox and a symlink per applet, /etc/passwd and
# /etc/group (root, nobody), /tmp (1777), /proc /sys /dev, /var/www with an
# index.html for `httpd -f -h /var/www`. One layer; Cmd ["sh"]. The same
# busybox gives the same archive, byte for byte (fixed mtimes and owners),
# so importing it twice is a no-op.
#
# Needs only bash, tar, sha256sum and coreutils.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 OUT.tar [TAG...]" >&2
    exit 2
fi
out=$1
shift
tags=("$@")
if [[ ${#tags[@]} -eq 0 ]]; then
    tags=("busybox:latest")
fi
busybox=${BUSYBOX:-/usr/bin/busybox}
if [[ ! -x $busybox ]]; then
    echo "$0: no busybox at $busybox (apt-get install busybox-static)" >&2
    exit 1
fi
if ! "$busybox" --list >/dev/null 2>&1; then
    echo "$0: $busybox does not run" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,root,var/www,home}
cp "$busybox" "$rootfs/bin/busybox"
chmod 0755 "$rootfs/bin/busybox"
while read -r applet; do
    [[ -n $applet && $applet != busybox ]] || continue
    ln -sf busybox "$rootfs/bin/$applet"
done < <("$busybox" --list)
cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
GROUP
cat >"$rootfs/var/www/index.html" <<'HTML'
<!DOCTYPE html>
<html><body><h1>Hello from keel's busybox image</h1></body></html>
HTML
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/var/www/index.html"
chmod 0755 "$rootfs" "$rootfs"/{bin,etc,proc,sys,dev,root,var,var/www,home}
chmod 1777 "$rootfs/tmp"

# Reproducible: names sorted, owners root, one fixed mtime.
epoch=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$busybox")}
layer=$work/layer.tar
tar --create --file="$layer" --directory="$rootfs" --sort=name --format=gnu \
    --owner=0 --group=0 --numeric-owner --mtime="@$epoch" .
diff_id=$(sha256sum "$layer" | cut -d' ' -f1)
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

archive=$work/archive
mkdir -p "$archive/$diff_id"
mv "$layer" "$archive/$diff_id/layer.tar"
printf '%s' "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"$created\",\
\"config\":{\"Cmd\":[\"sh\"],\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],\"WorkingDir\":\"/\"},\
\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$diff_id\"]},\
\"history\":[{\"created\":\"$created\",\"created_by\":\"scripts/busybox-image.sh\"}]}" \
    >"$archive/config.json"
config_id=$(sha256sum "$archive/config.json" | cut -d' ' -f1)
mv "$archive/config.json" "$archive/$config_id.json"

repo_tags=""
for tag in "${tags[@]}"; do
    repo_tags+="${repo_tags:+,}\"$tag\""
done
printf '%s\n' "[{\"Config\":\"$config_id.json\",\"RepoTags\":[$repo_tags],\"Layers\":[\"$diff_id/layer.tar\"]}]" \
    >"$archive/manifest.json"

tar --create --file="$out" --directory="$archive" --sort=name --format=gnu \
    --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
    manifest.json "$config_id.json" "$diff_id/layer.tar"
echo "$out: ${tags[*]} (image sha256:$config_id)"
