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

# The deterministic simulation (docs/testing.md): whole clusters under
# madsim, built with --cfg madsim into a target directory of its own
# (without RocksDB). A fixed seed range, so a run here is repeatable; the
# long sweep in docs/testing.md explores new seeds.
export KEEL_SIM_TARGET_DIR="${KEEL_SIM_TARGET_DIR:-$HOME/.cache/keel-sim-target}"
sim() {
    RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR="$KEEL_SIM_TARGET_DIR" \
        cargo test --release --locked "$@"
}
# The seed sweep: every scenario on KEEL_SIM_SEEDS seeds from 1, and the
# regression runs (tests/sim/tests/regressions.rs).
MADSIM_TEST_SEED=1 MADSIM_TEST_NUM="${KEEL_SIM_SEEDS:-2}" sim -p keel-sim -p keel-jepsen
# New ground on every commit: KEEL_SIM_NEW_SEEDS seeds from one drawn from
# the commit's hash (or the time, outside a git checkout), printed so that
# a failure replays with MADSIM_TEST_SEED=<seed> (docs/testing.md).
new_seed=$(git rev-parse HEAD 2>/dev/null | cut -c1-8 || true)
new_seed=$((16#${new_seed:-$(printf '%x' "$(date +%s)")} % 1000000000 + 1000))
echo "simulation: new seeds from $new_seed (${KEEL_SIM_NEW_SEEDS:-3} per scenario)"
MADSIM_TEST_SEED="$new_seed" MADSIM_TEST_NUM="${KEEL_SIM_NEW_SEEDS:-3}" sim -p keel-sim --test scenarios
# Determinism: the same seed twice gives the same run, event for event.
MADSIM_TEST_SEED=7 MADSIM_TEST_CHECK_DETERMINISM=1 sim -p keel-sim --test scenarios -- kill_restart_3 mixed_5
