#!/usr/bin/env bash
# Shows the layer rules of cmake/layers.cmake failing where they must: the build step on a
# forbidden include (and on gRPC outside its folders), the configure step on a forbidden link.
# Each probe lives in a scratch folder; the repository is only read. Prints "N passed, N failed".
set -u
repo=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
passed=0
failed=0

expect() {  # expect NAME WANT_EXIT PATTERN -- COMMAND...
  local name=$1 want=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if { [[ $want == fail && $rc -ne 0 ]] || [[ $want == pass && $rc -eq 0 ]]; } &&
     { [[ -z $pattern ]] || grep -qF -- "$pattern" <<<"$out"; }; then
    echo "ok: $name"
    passed=$((passed + 1))
  else
    echo "FAILED: $name (exit $rc, wanted $want${pattern:+ with \"$pattern\"})"
    echo "$out" | tail -20
    failed=$((failed + 1))
  fi
}

# The repository as it is passes.
expect "the tree follows the include rules" pass "" -- \
  cmake -DSRC="$repo" -DSTAMP="$scratch/ok.stamp" -P "$repo/cmake/check_layers.cmake"

# A controller file reaching into the worker.
mkdir -p "$scratch/includes/pathways/controller" "$scratch/includes/pathways/client"
echo '#include "pathways/worker/host_executor.h"' >"$scratch/includes/pathways/controller/bad.cc"
expect "a controller file including the worker fails the build" fail \
  'pathways/controller/bad.cc: #include "pathways/worker/host_executor.h" (rule "the controller drives hosts only through service/worker_service.h")' -- \
  cmake -DSRC="$scratch/includes" -DSTAMP="$scratch/bad.stamp" -P "$repo/cmake/check_layers.cmake"
rm "$scratch/includes/pathways/controller/bad.cc"

# A client file including gRPC, and one including a folder not on its allow-list.
echo '#include "grpcpp/grpcpp.h"' >"$scratch/includes/pathways/client/bad.cc"
echo '#include "pathways/kernels/cpu_executable.h"' >"$scratch/includes/pathways/client/worse.cc"
expect "a client file including gRPC fails the build" fail \
  'pathways/client/bad.cc: #include "grpcpp/grpcpp.h" (only rpc, dataplane/grpc, cluster include gRPC headers)' -- \
  cmake -DSRC="$scratch/includes" -DSTAMP="$scratch/bad.stamp" -P "$repo/cmake/check_layers.cmake"
expect "a client file including kernels fails the build" fail \
  "pathways/client/worse.cc: #include \"pathways/kernels/cpu_executable.h\" ('client' may include only:" -- \
  cmake -DSRC="$scratch/includes" -DSTAMP="$scratch/bad.stamp" -P "$repo/cmake/check_layers.cmake"

# A controller target linking the worker: configuration fails naming the target and the rule.
probe=$scratch/links
mkdir -p "$probe/pathways/worker" "$probe/pathways/controller"
cat >"$probe/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.25)
project(layering_probe NONE)
include($repo/cmake/layers.cmake)
add_subdirectory(pathways/worker)
add_subdirectory(pathways/controller)
pw_check_link_layers()
CMAKE
cat >"$probe/pathways/worker/CMakeLists.txt" <<'CMAKE'
add_library(pw_worker INTERFACE)
set_property(GLOBAL APPEND PROPERTY PW_LAYER_TARGETS pw_worker)
CMAKE
cat >"$probe/pathways/controller/CMakeLists.txt" <<'CMAKE'
add_library(pw_controller INTERFACE)
target_link_libraries(pw_controller INTERFACE ${PW_PROBE_LINK})
set_property(GLOBAL APPEND PROPERTY PW_LAYER_TARGETS pw_controller)
CMAKE
expect "a controller target without the link configures" pass "" -- \
  cmake -S "$probe" -B "$probe/build-ok" -DPW_PROBE_LINK=
expect "a controller target linking the worker fails configuration" fail \
  "target pw_controller (pathways/controller) links pw_worker (pathways/worker): 'controller' may use only:" -- \
  cmake -S "$probe" -B "$probe/build-bad" -DPW_PROBE_LINK=pw_worker
expect "the transitive rule names its reason" fail \
  'target pw_controller links pw_worker (through its dependencies): rule "the controller never runs compute"' -- \
  cmake -S "$probe" -B "$probe/build-bad2" -DPW_PROBE_LINK=pw_worker

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
