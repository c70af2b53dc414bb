"""Peak device memory of a pipelined training step, GPipe against 1F1B, on simulated devices.

4 stages of 4 simulated devices each (timing mode: memory is accounted, no values computed), a
small decoder LM; two steps per schedule; the peak of every device's memory in use
(pw.memory_stats), next to the parameters' size.

Run: PYTHONPATH=build/python /usr/bin/python3 python/bench/pipeline_memory.py
"""

import argparse
import os
import sys

import numpy as np

import pathways as pw

sys.path.insert(0, os.path.dirname(__file__))
import table2_sim  # noqa: E402  (the 128-device bench's cluster and token helpers)


def peak(schedule, args, cfg):
    table2_sim.start(args)
    try:
        per = args.devices // args.stages
        vds = pw.make_virtual_device_set()
        slices = [vds.add_slice(devices=per, axis_names=("data",)) for _ in range(args.stages)]
        pipe = pw.pipeline.Pipeline(cfg, pw.optimizers.adamw(1e-4), [s.devices for s in slices],
                                    args.microbatches, schedule=schedule)
        state = pipe.init(pw.random.PRNGKey(0))
        tokens = table2_sim.tokens_for(np.random.default_rng(0), per, args.batch // per, cfg)
        for _ in range(2):
            state, loss = pipe.step(state, tokens)
        loss.block_until_ready()
        stats = pw.memory_stats().values()
        return (max(s["peak_bytes_in_use"] for s in stats), max(s["scratch_bytes"] for s in stats))
    finally:
        pw.shutdown()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=16)
    p.add_argument("--stages", type=int, default=4)
    p.add_argument("--microbatches", type=int, default=16)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args()
    args.devices_per_host, args.memory_gib = 4, 64
    args.d_model, args.heads, args.layers, args.seq_len, args.vocab = 512, 8, 8, 512, 8192
    args.ici_gbps, args.ici_latency_us, args.dcn_gbps, args.dcn_latency_us = 800.0, 1.0, 100.0, 10.0
    cfg = table2_sim.config(args)
    params = pw.models.count_params(cfg) * 4 / 2**30
    print(f"pipeline_memory: {args.stages} stages x {args.devices // args.stages} sim devices, "
          f"M = {args.microbatches}, {params:.2f} GiB of parameters")
    print("| schedule | peak memory per device | of which the working arena (scratch) |")
    print("| --- | --- | --- |")
    for schedule in pw.pipeline.SCHEDULES:
        top, scratch = peak(schedule, args, cfg)
        print(f"| {schedule} | {top / 2**30:.2f} GiB | {scratch / 2**30:.2f} GiB |", flush=True)


if __name__ == "__main__":
    main()
