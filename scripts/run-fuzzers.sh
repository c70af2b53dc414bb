#!/usr/bin/env bash
# Runs every libFuzzer target of a PW_FUZZ build for a bounded time from its checked-in seeds:
# what `make fuzz` runs.
#
#   scripts/run-fuzzers.sh [BUILD] [SECONDS] [TARGET...]   (defaults: build-fuzz, 60, every target)
#
# Seeds: fuzz/corpus/<target> and the inputs earlier long runs found (fuzz/found/<target>.tar.xz,
# extracted into BUILD/fuzz/found). New inputs go to BUILD/corpus/<target>; a crash,
# leak or timeout stops with libFuzzer's report and the input in BUILD/crashes/. Prints each
# target's executions and coverage.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-60}
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(ir_function worker_request controller_request tcp_frame lowering)
fi
mkdir -p "$BUILD/crashes"
for t in "${targets[@]}"; do
  mkdir -p "$BUILD/corpus/$t"
  log="$BUILD/fuzz-$t.log"
  echo "fuzz: $t for ${SECONDS_EACH} s"
  if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$BUILD/fuzz/${t}_fuzzer" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=10 \
      -rss_limit_mb=4096 -artifact_prefix="$BUILD/crashes/$t-" \
      "$BUILD/corpus/$t" "fuzz/corpus/$t" "$BUILD/fuzz/found/$t" >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $t FAILED (input in $BUILD/crashes/)"
    exit 1
  fi
  grep -E "stat::number_of_executed_units|cov: " "$log" | tail -2 | sed "s/^/  $t: /"
done
