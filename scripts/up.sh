#!/usr/bin/env bash
# The README's first command: keel up on this machine, with a kubelet
# running real containers. Run it as root (the kubelet makes cgroups,
# network namespaces and a bridge). It
#
#   1. installs what the kubelet needs, idempotently (tests/prereqs.sh):
#      busybox-static (the image's busybox) and iproute2 (`ip`); the Rust
#      toolchain is assumed;
#   2. builds `keel` into $CARGO_TARGET_DIR (default ~/.cache/keel-target,
#      which the tests share), the dev profile unless KEEL_PROFILE=release;
#   3. builds a busybox image from Debian's busybox-static
#      (scripts/busybox-image.sh) and imports it as busybox:1.36 and
#      busybox:1.37 into the node's image store (/var/lib/keel/images, or
#      KEEL_IMAGES_DIR), so that the walkthrough can `set image`;
#   4. runs `keel up` in the foreground with its data in ./keel-data
#      (Ctrl-C stops it and its pods). Extra arguments go to `keel up`
#      (see `keel up --help`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if [[ $(id -u) -ne 0 ]]; then
    echo "$0: run me as root (sudo bash $0): the kubelet runs containers" >&2
    exit 1
fi

# shellcheck source=tests/prereqs.sh
source "$root/tests/prereqs.sh"
keel_install_apt_packages busybox-static iproute2

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"
profile=${KEEL_PROFILE:-dev}
cargo build --locked --profile "$profile" --manifest-path "$root/Cargo.toml" -p keel-cli --bin keel
profile_dir=$profile
[[ $profile != dev ]] || profile_dir=debug
keel=$CARGO_TARGET_DIR/$profile_dir/keel

image=$(mktemp --suffix=.tar)
trap 'rm -f "$image"' EXIT
bash "$root/scripts/busybox-image.sh" "$image" busybox:1.36 busybox:1.37
# The same busybox gives the same archive: importing it again is a no-op.
"$keel" image import "$image"
rm -f "$image"

exec "$keel" up "$@"
