#!/usr/bin/env bash
# run.sh HARNESS CORPUS_DIR — fuzz for FAC_FUZZ_SECONDS (default 20) starting from the
# kept corpus, new inputs going to a temp dir; with FAC_FUZZ_MERGE=1 the inputs that add
# coverage are merged into the kept corpus afterwards. A crash fails the run and its
# input is copied to /tmp/fac-fuzz-crashes.
set -euo pipefail
harness=$1 corpus=$2
seconds=${FAC_FUZZ_SECONDS:-20}
work=$(mktemp -d /tmp/fac-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/new"
cd "$work"
set +e
ASAN_OPTIONS=detect_leaks=1 "$harness" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 "$work/new" "$corpus" 2>&1 | tail -25
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    mkdir -p /tmp/fac-fuzz-crashes
    cp -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* /tmp/fac-fuzz-crashes/ 2>/dev/null || true
    echo "fuzzing failed ($status); inputs kept in /tmp/fac-fuzz-crashes"
fi
if [ "$status" -eq 0 ] && [ "${FAC_FUZZ_MERGE:-0}" = 1 ]; then
    "$harness" -merge=1 "$corpus" "$work/new" 2>&1 | tail -2
fi
exit "$status"
