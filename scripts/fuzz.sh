#!/usr/bin/env bash
# Fuzzes the untrusted-input parsers with cargo fuzz (libFuzzer), one target after the other:
#   decode        collar MQTT messages: ingest::decode::decode over every channel, and
#                 decode::parse_topic (fuzz/fuzz_targets/decode.rs)
#   client_frame  live-protocol client frames: actors::session::parse_client_frame
#                 (fuzz/fuzz_targets/client_frame.rs)
# Each target checks the protocol's invariants, not only "no panic". Not part of CI.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS  how long each target runs (default 600)
#   TARGET   which targets (default: all, in the order above)
#
# Installs cargo-fuzz from crates.io when it is missing. cargo-fuzz passes nightly-only flags
# to rustc (-Zsanitizer=address and the sanitizer-coverage options); on the stable toolchain,
# the only one this machine has, RUSTC_BOOTSTRAP=1 lets rustc accept them.
#
# Each run starts from the committed seeds (fuzz/seeds/TARGET: valid messages of every kind,
# remade by fuzz/seeds/make_seeds.py) and the corpus earlier runs grew (fuzz/corpus/TARGET,
# not in git); a crashing, timing-out or out-of-memory input is saved in fuzz/artifacts/TARGET
# and the script exits non-zero. Reproduce one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -a TARGET fuzz/artifacts/TARGET/crash-…
# Logs go to fuzz/logs/TARGET.log. Builds and runs at low priority: the machine is shared.
#
# -max_len: the protocol's limits are 4 KiB (one sample, status, cmd ack), 256 KiB (a
# telemetry batch), 640 KiB (a voice clip) and 64 KiB (a live client frame, MAX_FRAME_BYTES).
# decode uses 260 KiB, just over the batch limit, so every limit but the voice clip's can be
# crossed, and a valid clip (0.5 s at 8 kHz is about 11 KiB) fits; going to 640 KiB would
# slow every run for one comparison that the unit tests already pin (a voice message over
# 640 KiB is too_large). client_frame uses 64 KiB: the server refuses longer frames.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
    targets=(decode client_frame)
fi
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds == 0)); then
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
    exit 2
fi

max_len() {
    case $1 in
        decode) echo $((260 * 1024)) ;;
        client_frame) echo $((64 * 1024)) ;;
        *)
            echo "fuzz.sh: unknown target $1" >&2
            exit 2
            ;;
    esac
}

export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    nice cargo install cargo-fuzz --locked
fi

# -a: debug assertions (integer overflow checks included) in the fuzzed code; release build.
for target in "${targets[@]}"; do
    max_len "$target" >/dev/null
    nice cargo fuzz build -a --release "$target"
done

root=$(pwd)
mkdir -p fuzz/logs
status=0
summary=()
for target in "${targets[@]}"; do
    corpus=$root/fuzz/corpus/$target
    artifacts=$root/fuzz/artifacts/$target
    log=$root/fuzz/logs/$target.log
    mkdir -p "$corpus" "$artifacts"
    dict=()
    [[ -f fuzz/$target.dict ]] && dict=("-dict=$root/fuzz/$target.dict")
    echo "== $target: ${seconds}s, -max_len=$(max_len "$target"), log $log" >&2
    before=$(find "$artifacts" -type f | wc -l)
    set +e
    nice cargo fuzz run -a --release "$target" "$corpus" "$root/fuzz/seeds/$target" -- \
        -max_len="$(max_len "$target")" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
        "${dict[@]}" >"$log" 2>&1
    rc=$?
    set -e
    after=$(find "$artifacts" -type f | wc -l)
    # libFuzzer's last status line (#runs DONE/cov/ft/corp) and its final stats.
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    stats=$(grep -E '^stat::' "$log")
    findings=$(grep -E '^==[0-9]+== ?ERROR|^SUMMARY|deadly signal|Test unit written|panicked at' "$log" || true)
    summary+=("== $target (exit $rc, -max_len=$(max_len "$target"), ${seconds}s)"
        "$last" "$stats" "corpus files: $(find "$corpus" -type f | wc -l)"
        "new artifacts: $((after - before))${findings:+$'\n'$findings}")
    if ((rc != 0 || after > before)); then
        status=1
    fi
done
printf '%s\n' "${summary[@]}"
exit $status
