#!/usr/bin/env bash
# keel's whole test suite: the one command the README's Quick start names and
# `.ci/run` calls. It installs what it needs (idempotently), builds into a
# target directory outside the clone so repeated runs reuse the build, and runs
# every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=tests/prereqs.sh
source tests/prereqs.sh
keel_install_prereqs

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# The integration tests start keeld and the examples as child processes:
# build them first.
cargo build --workspace --bins --examples --locked
cargo test --workspace --locked
