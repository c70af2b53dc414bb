"""SPMD against pipelined training of the pw.models transformer LM, side by side in one run on
the embedded cluster (2 hosts x 2 CPU devices; every configuration uses 2 devices, so 2 cores):
data-parallel (mesh 2 x 1), tensor-parallel (mesh 1 x 2) and GPipe over 2 stages on 2 hosts
with M microbatches (one program per step). Reports tokens/s and, for the pipelines, the bubble
measured from a Chrome trace of one step (1 - each stage device's busy time / the step's span
from the first execution's start to the last one's end) beside GPipe's (S-1)/(M+S-1).

Run: PYTHONPATH=build/python /usr/bin/python3 python/bench/pipeline_bench.py [--steps 10]
"""

import argparse
import os
import tempfile

import numpy as np

import pathways as pw
from bench_util import bubble_from_trace, spmd_tokens_per_second, time_steps, tokens_for


def pipelined(cfg, opt, microbatches, global_batch, steps, rng, tmp):
    vds = pw.make_virtual_device_set()
    stages = [vds.add_slice(devices=1).devices for _ in range(2)]
    pipe = pw.pipeline.Pipeline(cfg, opt, stages, microbatches)
    state = pipe.init(pw.random.PRNGKey(0))
    elapsed, state = time_steps(pipe.step, state, lambda: tokens_for(rng, 1, global_batch, cfg), steps)
    path = os.path.join(tmp, f"pipe{microbatches}.json")
    with pw.trace(path):
        state, loss = pipe.step(state, tokens_for(rng, 1, global_batch, cfg))
        np.asarray(loss)
    hosts_used = sorted({s[0].physical_device.host for s in stages})
    return steps * global_batch * cfg.seq_len / elapsed, bubble_from_trace(path)[0], \
        pipe.bubble_fraction(), hosts_used


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--batch", type=int, default=16, help="global sequences per step")
    args = p.parse_args()
    pw.init(hosts=2, devices_per_host=2)
    cfg = pw.models.TransformerConfig(vocab=256, d_model=args.d_model, heads=4, layers=args.layers, seq_len=64)
    opt = pw.optimizers.adamw(1e-3)
    rng = np.random.default_rng(0)
    rows = []
    rows.append(("SPMD data-parallel (mesh 2 x 1)", spmd_tokens_per_second(cfg, opt, (2, 1), args.batch, args.steps, rng), "", ""))
    rows.append(("SPMD tensor-parallel (mesh 1 x 2)", spmd_tokens_per_second(cfg, opt, (1, 2), args.batch, args.steps, rng), "", ""))
    with tempfile.TemporaryDirectory() as tmp:
        for m in (1, 2, 4, 8):
            rate, bubble, expected, hosts = pipelined(cfg, opt, m, args.batch, args.steps, rng, tmp)
            rows.append((f"GPipe, 2 stages on hosts {hosts}, {m} microbatches", rate,
                         f"{bubble:.0%}", f"{expected:.0%}"))
    base = rows[0][1]
    print(f"pipeline_bench: d_model {cfg.d_model}, {cfg.layers} layers, {args.batch} x {cfg.seq_len} "
          f"tokens per step, AdamW, {args.steps} timed steps")
    print("| configuration | tokens/s | vs data-parallel | bubble (measured) | bubble (S-1)/(M+S-1) |")
    print("| --- | --- | --- | --- | --- |")
    for name, rate, bubble, expected in rows:
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f}x | {bubble} | {expected} |")


if __name__ == "__main__":
    main()
