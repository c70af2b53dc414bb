"""The paper's Table 2 on this machine's worker processes: SPMD (data x model meshes) against
pipelined training (S = 2 and 4 stages, GPipe), tokens/s side by side in one run.

Starts a cluster of 4 worker processes x 2 CPU devices (`pw up`), connects to it, and trains the
pw.models transformer LM on all 8 devices in each configuration: data-parallel (mesh 8 x 1),
data x model (4 x 2, 2 x 4), and pipelines of S stages of 8/S devices each (data-parallel inside
a stage, one program per step, M microbatches). The cluster is stopped at the end (`pw down`).

Run: PYTHONPATH=build/python /usr/bin/python3 python/bench/table2_processes.py [--steps 6]
"""

import argparse
import os
import subprocess
import tempfile

import numpy as np

import pathways as pw
from bench_util import spmd_tokens_per_second, time_steps

PW = os.path.join(os.path.dirname(__file__), "..", "..", "build", "pathways", "tools", "pw")


def pipelined(cfg, opt, stages, microbatches, batch, steps, rng):
    per = 8 // stages
    vds = pw.make_virtual_device_set()
    slices = [vds.add_slice(devices=per, axis_names=("data",)) for _ in range(stages)]
    pipe = pw.pipeline.Pipeline(cfg, opt, [s.devices for s in slices], microbatches)
    state = pipe.init(pw.random.PRNGKey(0))

    def make_batch():
        return rng.integers(0, cfg.vocab, size=(per, batch // per, cfg.seq_len + 1)).astype(np.int32)
    return steps * batch * cfg.seq_len / time_steps(pipe.step, state, make_batch, steps)[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--batch", type=int, default=32, help="global sequences per step")
    p.add_argument("--microbatches", type=int, default=4)
    args = p.parse_args()
    state_dir = tempfile.mkdtemp(prefix="pw_table2_")
    env = dict(os.environ, PATHWAYS_STATE_DIR=state_dir)
    subprocess.run([PW, "up", "--hosts", "4", "--devices-per-host", "2", "--memory-per-device", "2G"],
                   env=env, check=True, capture_output=True)
    try:
        address = subprocess.run([PW, "address"], env=env, check=True, capture_output=True,
                                 text=True).stdout.strip()
        pw.init(address)
        cfg = pw.models.TransformerConfig(vocab=256, d_model=args.d_model, heads=4, layers=args.layers,
                                          seq_len=64)
        opt = pw.optimizers.adamw(1e-3)
        rng = np.random.default_rng(0)
        rows = []
        for mesh in ((8, 1), (4, 2), (2, 4)):
            rows.append((f"SPMD, mesh {mesh[0]} (data) x {mesh[1]} (model)",
                         spmd_tokens_per_second(cfg, opt, mesh, args.batch, args.steps, rng)))
        for stages in (2, 4):
            rows.append((f"pipelined, S = {stages} stages x {8 // stages} devices, M = {args.microbatches}",
                         pipelined(cfg, opt, stages, args.microbatches, args.batch, args.steps, rng)))
        base = rows[0][1]
        print(f"table2_processes: 4 worker processes x 2 CPU devices; d_model {cfg.d_model}, "
              f"{cfg.layers} layers, {args.batch} x {cfg.seq_len} tokens per step, AdamW")
        print("| configuration | tokens/s | vs SPMD data-parallel |")
        print("| --- | --- | --- |")
        for name, rate in rows:
            print(f"| {name} | {rate:,.0f} | {rate / base:.2f}x |")
    finally:
        pw.shutdown()
        subprocess.run([PW, "down"], env=env, capture_output=True)


if __name__ == "__main__":
    main()
