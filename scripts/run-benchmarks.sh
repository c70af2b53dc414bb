#!/usr/bin/env bash
# Runs every benchmark binary, saving results and plots under bench/results/. Google Benchmark
# binaries write JSON; the paper-figure benchmarks with flags of their own write text (and JSON
# where they have it) and are plotted by their own scripts.
set -euo pipefail
build=${1:-build}
out=bench/results
mkdir -p "$out"
min_time=${PW_BENCH_MIN_TIME:-0.5}
own_flags=" figure7_sim_bench multitenancy_bench scale_sim_bench control_plane_bench "
for b in "$build"/bench/*_bench; do
  [[ -x $b ]] || continue
  name=$(basename "$b")
  echo "== $name"
  if [[ $own_flags == *" $name "* ]]; then
    "$b" | tee "$out/$name.txt"
    continue
  fi
  "$b" --benchmark_min_time="$min_time" --benchmark_counters_tabular=true \
       --benchmark_out="$out/$name.json" --benchmark_out_format=json
done
/usr/bin/python3 scripts/plot_benchmarks.py "$out"
/usr/bin/python3 scripts/plot_multitenancy.py "$out/multitenancy_bench.json" --trace "$out/multitenancy_trace.json"
if [[ -f "$out/scale_sim_bench.json" ]]; then /usr/bin/python3 scripts/plot_scale.py "$out/scale_sim_bench.json"; fi
