#!/usr/bin/env bash
# Builds and runs hostproc's cargo-fuzz targets, each for a bounded time.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      (default: 30 s, every target)
#
# Targets (bodies in fuzz/targets.rs): config, process, state, resources, names.
# Each target starts from fuzz/regressions/<target>/ (seeds and past findings) plus its
# working corpus fuzz/corpus/<target>/ (not committed). libFuzzer runs in fork mode with
# -ignore_crashes=1, so one finding does not end the run: every crashing input is copied
# to fuzz/regressions/<target>/ (named after its hash), where
# crates/container/tests/fuzz_regressions.rs replays it under `cargo nextest run
# --workspace`. Exit status: 0 when no target crashed, 1 otherwise (the findings are
# listed at the end; commit them with the fix).
#
# Needs the nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz
# (installed here with `cargo install cargo-fuzz --locked` when missing). Runs as any
# user; writes only under fuzz/ and a temporary directory it removes.
set -euo pipefail

FUZZ="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ALL=(config process state resources names)

secs="${1:-30}"
if [ "$#" -gt 0 ]; then shift; fi
case "$secs" in
    ''|*[!0-9]*) echo "fuzz/run.sh: SECONDS_PER_TARGET must be a whole number, got '$secs'" >&2; exit 2 ;;
esac
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then targets=("${ALL[@]}"); fi
for t in "${targets[@]}"; do
    [ -f "$FUZZ/fuzz_targets/$t.rs" ] || { echo "fuzz/run.sh: unknown target '$t' (have: ${ALL[*]})" >&2; exit 2; }
done

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz/run.sh: the nightly toolchain is missing: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# Scratch for the targets (the config target's bundle directory).
HOSTPROC_FUZZ_DIR="$(mktemp -d -t hostproc-fuzz.XXXXXX)"
export HOSTPROC_FUZZ_DIR
trap 'rm -rf "$HOSTPROC_FUZZ_DIR"' EXIT

cd "$FUZZ"
echo "fuzz/run.sh: building ${targets[*]}"
for t in "${targets[@]}"; do
    cargo +nightly fuzz build -O -a "$t"
done

findings=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "regressions/$t" "artifacts/$t"
    rm -f "artifacts/$t"/crash-* "artifacts/$t"/oom-* "artifacts/$t"/timeout-* "artifacts/$t"/leak-*
    echo "fuzz/run.sh: $t for ${secs}s"
    # corpus/<t> first: libFuzzer writes new inputs to the first directory only.
    status=0
    cargo +nightly fuzz run -O -a "$t" "corpus/$t" "regressions/$t" -- \
        -max_total_time="$secs" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -timeout=20 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        >"artifacts/$t/log.txt" 2>&1 || status=$?
    tail -n 15 "artifacts/$t/log.txt" | grep -E 'stat::|INFO: exiting|DONE|crashes|==ERROR' || true
    crashed=0
    for a in "artifacts/$t"/crash-* "artifacts/$t"/oom-* "artifacts/$t"/timeout-*; do
        [ -f "$a" ] || continue
        crashed=1
        sum="$(sha1sum "$a" | cut -c1-16)"
        known=""
        for r in "regressions/$t"/*; do
            [ -f "$r" ] && cmp -s "$a" "$r" && known="$r" && break
        done
        if [ -n "$known" ]; then
            findings+=("$t: known finding still open: fuzz/$known")
        else
            kind="$(basename "$a" | cut -d- -f1)"
            cp "$a" "regressions/$t/$kind-$sum"
            findings+=("$t: NEW $kind: fuzz/regressions/$t/$kind-$sum")
        fi
    done
    if [ "$crashed" -eq 0 ] && [ "$status" -ne 0 ]; then
        findings+=("$t: cargo fuzz exited $status without an artifact; see fuzz/artifacts/$t/log.txt")
    fi
done

if [ "${#findings[@]}" -gt 0 ]; then
    echo "fuzz/run.sh: findings (replayed by crates/container/tests/fuzz_regressions.rs):" >&2
    printf '  %s\n' "${findings[@]}" | sort -u >&2
    exit 1
fi
echo "fuzz/run.sh: no findings in ${targets[*]} (${secs}s each)"
