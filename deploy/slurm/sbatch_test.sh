#!/bin/bash
# Runs pathways.sbatch as Slurm would on a 2-node allocation, on this machine: a stand-in srun
# starts its tasks with Slurm's per-task variables, the "nodes" being 127.0.0.1 and 127.0.0.2.
#   deploy/slurm/sbatch_test.sh TOOLS_DIR     (the folder of pw, pw-controller, pw-worker)
# Prints "sbatch test: ok" when the script ran the quickstart on the cluster it started.
set -euo pipefail
tools=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/srun" <<'SRUN'
#!/bin/bash
# srun on one machine: SLURM_NTASKS tasks of the command, task i on node i.
while [[ "$1" == --* ]]; do shift; done
pids=()
for ((i = 0; i < SLURM_NTASKS; i++)); do
  SLURM_PROCID=$i SLURM_NODEID=$i SLURM_LOCALID=0 SLURMD_NODENAME=127.0.0.$((i + 1)) \
    SLURM_STEP_NODELIST=$SLURM_JOB_NODELIST "$@" &
  pids+=($!)
done
wait "${pids[@]}"
SRUN
chmod +x "$tmp/srun"
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out=$(cd "$tmp" && env -u PYTHONPATH -u PATHWAYS_ADDRESS PATH="$tmp:$tools:$PATH" \
  SLURM_JOB_ID=77 SLURM_JOB_NODELIST='127.0.0.[1-2]' SLURMD_NODENAME=127.0.0.1 SLURM_NTASKS=2 \
  PATHWAYS_CONTROLLER_PORT="$port" DEVICES_PER_HOST=1 \
  timeout 240 bash "$here/pathways.sbatch" "$here/../../examples/quickstart.py" 2>&1) || {
  echo "$out"; echo "sbatch test: the batch script failed"; exit 1; }
echo "$out"
grep -q "2 host(s) joined the cluster" <<< "$out"
grep -q "island 0: 2 host(s), 2 device(s)" <<< "$out"
grep -qF "(array([3., 5.], dtype=float32), array([2., 4.], dtype=float32))" <<< "$out"
echo "sbatch test: ok"
