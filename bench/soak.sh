#!/usr/bin/env bash
# The soak at the reliability issue's size: 32 clients x at least 1,000 programs each on a
# cluster of processes (3 hosts x 2 devices), a worker killed and replaced every second while
# they run. Prints the programs that succeeded and failed, and fails if a future hung, the
# controller died, or memory, threads or file descriptors were not back at the end.
#   bench/soak.sh [BUILD] [KILLS]       (defaults: build, 10)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
PW_SOAK_CLIENTS=32 PW_SOAK_PROGRAMS=1000 PW_SOAK_KILLS=${2:-10} \
  "$BUILD/tests/soak_test" --gtest_filter='SoakTest.*'
