#!/usr/bin/env bash
# Quick start: installs the prerequisites (idempotently), builds keeld and
# starts a single-member keel on http://127.0.0.1:2379 with its data in
# ./default.keel. Extra arguments go to keeld (see `keeld --help`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# shellcheck source=tests/prereqs.sh
source "$root/tests/prereqs.sh"
keel_install_prereqs

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"
cargo build --release --locked --manifest-path "$root/Cargo.toml" -p keel-server --bin keeld
exec "$CARGO_TARGET_DIR/release/keeld" "$@"
