#!/usr/bin/env bash
# keel's whole test suite: the one command the README's Quick start names and
# `.ci/run` calls. It installs what it needs (idempotently), builds into a
# target directory outside the clone so repeated runs reuse the build, and runs
# every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- prerequisites -----------------------------------------------------------
# libclang-dev: bindgen for librocksdb-sys. g++ builds RocksDB itself.
apt_packages=(libclang-dev g++)
missing=()
for package in "${apt_packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    echo "installing: ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi

# --- build and test ----------------------------------------------------------
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo test --workspace --locked
