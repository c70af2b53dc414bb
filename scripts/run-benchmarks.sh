#!/usr/bin/env bash
# Runs every benchmark binary, saving Google Benchmark JSON and plots under bench/results/.
set -euo pipefail
build=${1:-build}
out=bench/results
mkdir -p "$out"
min_time=${PW_BENCH_MIN_TIME:-0.5}
for b in "$build"/bench/*_bench; do
  [[ -x $b ]] || continue
  name=$(basename "$b")
  echo "== $name"
  "$b" --benchmark_min_time="$min_time" --benchmark_counters_tabular=true \
       --benchmark_out="$out/$name.json" --benchmark_out_format=json
done
/usr/bin/python3 scripts/plot_benchmarks.py "$out"
