#!/usr/bin/env bash
# The long simulation sweep (docs/testing.md): every scenario on N new seeds
# from FIRST, each scenario in a process of its own, two at a time (one per
# core). A scenario stops at its first failing seed, which its log names;
# the failed run's history is saved in OUT.
#
#   tests/sim/sweep.sh FIRST N [OUT]      e.g. tests/sim/sweep.sh 40001 200
#
# Prints one line per scenario (runs passed, wall time, peak memory) and the
# sweep's wall time; exits non-zero if any scenario failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
first=${1:?usage: tests/sim/sweep.sh FIRST N [OUT]}
count=${2:?usage: tests/sim/sweep.sh FIRST N [OUT]}
out=${3:-${TMPDIR:-/tmp}/keel-sweep-$first}
mkdir -p "$out"

target="${KEEL_SIM_TARGET_DIR:-$HOME/.cache/keel-sim-target}"
RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR="$target" \
    cargo test --release --locked -p keel-sim --test scenarios --no-run
binary=$(RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR="$target" \
    cargo test --release --locked -p keel-sim --test scenarios --no-run \
    --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*scenarios-[^"]*\)".*/\1/p' | tail -1)
scenarios=$("$binary" --list 2>/dev/null | sed -n 's/: test$//p')

started=$(date +%s)
export binary count first out
# shellcheck disable=SC2016
printf '%s\n' $scenarios | xargs -P 2 -I{} bash -c '
    start=$(date +%s)
    measure=()
    [ -x /usr/bin/time ] && measure=(/usr/bin/time -f "%M" -o "$out/{}.mem")
    if KEEL_SIM_SAVE_DIR="$out" MADSIM_TEST_SEED="$first" MADSIM_TEST_NUM="$count" \
        "${measure[@]}" "$binary" {} --exact --test-threads 1 --nocapture >"$out/{}.log" 2>&1; then
        verdict=passed
    else
        verdict="FAILED (see $out/{}.log)"
    fi
    runs=$(grep -c "Summary {" "$out/{}.log" || true)
    peak=""
    [ -s "$out/{}.mem" ] && peak=", peak $(( $(tail -1 "$out/{}.mem") / 1024 )) MiB"
    echo "{}: $runs of $count runs passed, $(( $(date +%s) - start )) s$peak: $verdict"
    [ "$verdict" = passed ]
' && status=0 || status=$?
echo "sweep of seeds $first to $((first + count - 1)): $(( $(date +%s) - started )) s wall"
exit "$status"
