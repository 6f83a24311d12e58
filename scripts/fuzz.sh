#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each for SECONDS (default 30).
# Exits non-zero when a target crashes (the crashing input is left in
# fuzz/artifacts/<target>/). Installs cargo-fuzz if missing; runs on the stable
# toolchain through RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags), no nightly needed.
#
#   scripts/fuzz.sh          # 30 s per target
#   scripts/fuzz.sh 600      # a longer run
#   FUZZ_TARGETS="config page" scripts/fuzz.sh 60
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
# The sanitizer runtimes are not shipped with every stable toolchain; our code has no
# unsafe, so libFuzzer's coverage and Rust's own checks (debug assertions, overflow
# checks) are what find bugs here.
build_flags=(--fuzz-dir fuzz --sanitizer none --debug-assertions)
if [[ -n "${FUZZ_TARGET_DIR:-}" ]]; then
    build_flags+=(--target-dir "$FUZZ_TARGET_DIR")
fi

targets="${FUZZ_TARGETS:-$(cargo fuzz list --fuzz-dir fuzz)}"
cargo fuzz build "${build_flags[@]}"

failed=()
for target in $targets; do
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus" "fuzz/artifacts/$target"
    seeds=()
    [[ -d "fuzz/seeds/$target" ]] && seeds=("fuzz/seeds/$target")
    echo "fuzz.sh: $target for ${seconds}s" >&2
    if ! cargo fuzz run "${build_flags[@]}" "$target" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1; then
        failed+=("$target")
    fi
done

if ((${#failed[@]})); then
    echo "fuzz.sh: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz.sh: no crash in ${seconds}s per target ($targets)" >&2
