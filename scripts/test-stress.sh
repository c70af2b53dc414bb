#!/usr/bin/env bash
# The test suite under load, repeated until it fails: what `make test-stress` runs.
#
#   scripts/test-stress.sh [BUILD] [REPEAT]      (defaults: build, 10)
#
# Beside the suite: one busy loop per core (a machine whose cores are taken) and a second
# cluster of processes (`pw up`, its own state directory) running a program in a loop, so tests
# meet slow threads and other processes' ports and files. Exits with ctest's status; the load
# stops on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
REPEAT=${2:-10}
PW="$(pwd)/$BUILD/pathways/tools/pw"
state=$(mktemp -d)
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  PATHWAYS_STATE_DIR="$state" "$PW" down >/dev/null 2>&1 || true
  rm -rf "$state"
  exit "$rc"
}
trap cleanup EXIT
for _ in $(seq "$(nproc)"); do
  (while :; do :; done) &
  pids+=($!)
done
PATHWAYS_STATE_DIR="$state" "$PW" up --hosts 2 >/dev/null
(while :; do
   PATHWAYS_STATE_DIR="$state" PYTHONPATH="$(pwd)/$BUILD/python" "$PW" run /usr/bin/python3 examples/quickstart.py \
     >/dev/null 2>&1 || true
 done) &
pids+=($!)
echo "test-stress: $(nproc) busy loops and a second cluster running; the suite until a failure (at most $REPEAT runs)"
cd "$BUILD"
ctest --output-on-failure -j "$(nproc)" --timeout 600 --repeat "until-fail:$REPEAT"
