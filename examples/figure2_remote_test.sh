#!/usr/bin/env bash
# figure2_remote (linked with the client library only) against a cluster of processes that
# `pw up` starts: prints Figure 2's result, then `pw down` stops the cluster.
set -u
bin=$1
state=$(mktemp -d)
export PATHWAYS_STATE_DIR=$state
trap '"$bin/pathways/tools/pw" down >/dev/null 2>&1; rm -rf "$state"' EXIT
"$bin/pathways/tools/pw" up --hosts 2 --devices-per-host 2 --no-trace || exit 1
address=$("$bin/pathways/tools/pw" address) || exit 1
"$bin/examples/figure2_remote" "$address"
