"""The GPipe bubble of pw.pipeline.Pipeline on simulated accelerators, against (S-1)/(M+S-1).

Each stage is one simulated device on its own host (pw.init(device_kind="sim")): a compiled
function takes the performance model's time for its FLOPs and bytes (--peak-flops; no CPU is
spent computing values), so the schedule, not this machine's cores, sets the timeline. One
traced step per (S, M): on each stage's device, the busy time of its forward and backward calls
over the span from the first forward's start to the last backward's end; the bubble is 1 minus
their ratio, averaged over the stages.

Run: PYTHONPATH=build/python /usr/bin/python3 python/bench/pipeline_bubble.py [--plot PNG]
"""

import argparse
import os
import tempfile

import numpy as np

import pathways as pw
from bench_util import bubble_from_trace

PIPELINE_CALLS = ("fwd", "bwd")  # fwd<s>, bwd<s>


def measure(stages, microbatches, args):
    pw.init(hosts=stages, devices_per_host=1, device_kind="sim", sim_peak_flops=args.peak_flops,
            sim_compute=False)
    try:
        cfg = pw.models.TransformerConfig(vocab=256, d_model=args.d_model, heads=4,
                                          layers=stages * args.layers_per_stage, seq_len=64)
        vds = pw.make_virtual_device_set()
        slices = [vds.add_slice(devices=1) for _ in range(stages)]
        hosts = {s.devices[0].physical_device.host for s in slices}
        assert len(hosts) == stages, "every stage on its own host"
        pipe = pw.pipeline.Pipeline(cfg, pw.optimizers.sgd(0.1), [s.devices for s in slices], microbatches,
                                    schedule=args.schedule)
        state = pipe.init(pw.random.PRNGKey(0))
        tokens = np.zeros((1, args.batch, cfg.seq_len + 1), np.int32)
        for _ in range(2):
            state, loss = pipe.step(state, tokens)
        loss.block_until_ready()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "step.json")
            with pw.trace(path):
                state, loss = pipe.step(state, tokens)
                loss.block_until_ready()
            bubble, span_ms = bubble_from_trace(path, PIPELINE_CALLS)
        return bubble, pipe.bubble_fraction(), span_ms
    finally:
        pw.shutdown()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peak-flops", type=float, default=2e11, help="simulated FLOP/s per device")
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--layers-per-stage", type=int, default=2)
    p.add_argument("--batch", type=int, default=16, help="sequences per step")
    p.add_argument("--schedule", default="gpipe", choices=pw.pipeline.SCHEDULES)
    p.add_argument("--stages", default="2,4", help="comma-separated S values")
    p.add_argument("--microbatches", default="1,2,4,8,16", help="comma-separated M values")
    p.add_argument("--plot", default="")
    args = p.parse_args()
    rows = []
    for stages in [int(x) for x in args.stages.split(",")]:
        for m in [int(x) for x in args.microbatches.split(",")]:
            if args.batch % m:
                continue
            measured, expected, span = measure(stages, m, args)
            rows.append((stages, m, measured, expected, span))
    print(f"pipeline_bubble: {args.schedule}, d_model {args.d_model}, {args.layers_per_stage} layers per stage, "
          f"{args.batch} x 64 tokens per step, simulated devices at {args.peak_flops:.0e} FLOP/s")
    print("| stages S | microbatches M | bubble (measured) | (S-1)/(M+S-1) | forward+backward span |")
    print("| --- | --- | --- | --- | --- |")
    for s, m, measured, expected, span in rows:
        print(f"| {s} | {m} | {measured:.1%} | {expected:.1%} | {span:.1f} ms |")
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        for s in sorted({r[0] for r in rows}):
            ms = [r[1] for r in rows if r[0] == s]
            ax.plot(ms, [r[2] for r in rows if r[0] == s], "o-", label=f"S={s} measured")
            ax.plot(ms, [r[3] for r in rows if r[0] == s], "k--", alpha=0.5)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("microbatches M")
        ax.set_ylabel("bubble fraction")
        ax.set_title("GPipe bubble on simulated devices (dashed: (S-1)/(M+S-1))")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"pipeline_bubble: plot in {args.plot}")


if __name__ == "__main__":
    main()
