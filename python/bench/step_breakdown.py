"""Where one training step's time goes, read from Chrome traces of single steps: the pw.models
transformer LM (the size train_bench.py measures) data-parallel over the devices, each step
traced on its own (submitted, then awaited, so steps do not overlap in the trace).

Per step, on each device's lane: the named scopes the step's compiled function records
(forward/..., backward/..., all_reduce, optimizer: pw.grad names the passes, train_step the
rest), the rest of the "execute" event (instructions outside any scope), and the dispatch work
before it (the controller's dispatch event, then the host's). Wall is from the controller's
dispatch to the last device's end of execution. Medians over --steps traced steps.

Run: PYTHONPATH=build/python /usr/bin/python3 python/bench/step_breakdown.py [--devices 2]
     [--plot bench/results/step_breakdown.png]
"""

import argparse
import collections
import functools
import os
import statistics
import tempfile

import numpy as np

import pathways as pw
from bench_util import load_trace_events

CONTROLLER_PID = 1000000
GROUPS = ("forward", "backward", "all_reduce", "optimizer")


def breakdown(events):
    """{part: µs} for one traced step (device lanes averaged)."""
    executes = [e for e in events if e["cat"] == "execute"]
    if not executes:
        raise SystemExit("step_breakdown: the trace holds no execute event")
    lanes = {(e["pid"], e["tid"]) for e in executes}
    parts = collections.Counter()
    for e in events:
        if e["cat"] == "scope" and (e["pid"], e["tid"]) in lanes:
            group = e["name"].split("/")[0]
            parts[group if group in GROUPS else "other scopes"] += e["dur"] / len(lanes)
    scoped = sum(parts.values())
    parts["unscoped"] = sum(e["dur"] for e in executes) / len(lanes) - scoped
    controller = [e for e in events if e["cat"] == "dispatch" and e["pid"] == CONTROLLER_PID]
    hosts = [e for e in events if e["cat"] == "dispatch" and e["pid"] != CONTROLLER_PID]
    parts["dispatch (controller)"] = sum(e["dur"] for e in controller)
    parts["dispatch (hosts)"] = sum(e["dur"] for e in hosts) / max(len({e["pid"] for e in hosts}), 1)
    start = min(e["ts"] for e in controller) if controller else min(e["ts"] for e in executes)
    parts["wall"] = max(e["ts"] + e["dur"] for e in executes) - start
    parts["execute"] = sum(e["dur"] for e in executes) / len(lanes)
    return parts


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=16, help="global sequences per step")
    p.add_argument("--plot", default="", help="stacked-bar PNG of the breakdown")
    p.add_argument("--keep-trace", default="", help="also write the last step's trace here")
    args = p.parse_args()
    pw.init(hosts=1, devices_per_host=args.devices)
    cfg = pw.models.TransformerConfig(vocab=256, d_model=args.d_model, heads=4, layers=args.layers,
                                      seq_len=64)
    devs = pw.get_devices(args.devices)
    opt = pw.optimizers.adamw(1e-3)
    step = pw.pmap(functools.partial(pw.models.train_step, cfg=cfg, optimizer=opt, axis_name="d"),
                   devices=devs, axis_name="d")
    init = pw.pmap(functools.partial(pw.models.init_with_optimizer, cfg=cfg, optimizer=opt), devices=devs)
    params, state = init(np.stack([pw.random.PRNGKey(0)] * args.devices))
    rng = np.random.default_rng(0)

    def batch():
        return rng.integers(0, cfg.vocab, size=(args.devices, args.batch // args.devices,
                                                cfg.seq_len + 1)).astype(np.int32)

    for _ in range(3):  # trace, compile, warm up
        params, state, loss = step(params, state, batch())
    loss.block_until_ready()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.steps):
            path = os.path.join(tmp, f"step{i}.json")
            b = batch()
            with pw.trace(path):
                params, state, loss = step(params, state, b)
                loss.block_until_ready()
            rows.append(breakdown(load_trace_events(path)))
            if args.keep_trace and i == args.steps - 1:
                os.replace(path, args.keep_trace)
    parts = [k for k in ("forward", "backward", "all_reduce", "optimizer", "other scopes", "unscoped",
                         "dispatch (controller)", "dispatch (hosts)", "execute", "wall")
             if any(k in r for r in rows)]
    median = {k: statistics.median(r.get(k, 0.0) for r in rows) for k in parts}
    print(f"step_breakdown: d_model {cfg.d_model}, {cfg.layers} layers, {args.batch} x {cfg.seq_len} "
          f"tokens per step over {args.devices} device(s); median of {args.steps} traced steps")
    print("| part | µs | share of execute |")
    print("| --- | --- | --- |")
    for k in parts:
        share = f"{100 * median[k] / median['execute']:.0f} %" if k not in ("wall", "execute") and \
            not k.startswith("dispatch") else ""
        print(f"| {k} | {median[k]:,.0f} | {share} |")
    if args.plot:
        plot(median, args)


def plot(median, args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = ["dispatch (controller)", "dispatch (hosts)", "forward", "backward", "all_reduce",
             "optimizer", "other scopes", "unscoped"]
    fig, ax = plt.subplots(figsize=(7, 2.4))
    left = 0.0
    for k in order:
        v = median.get(k, 0.0) / 1000
        if v <= 0:
            continue
        ax.barh([0], [v], left=left, label=k)
        left += v
    ax.set_yticks([])
    ax.set_xlabel("ms (median step)")
    ax.set_title(f"one training step on {args.devices} device(s): wall {median['wall'] / 1000:.2f} ms")
    ax.legend(ncol=4, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    fig.tight_layout()
    fig.savefig(args.plot, dpi=100)
    print(f"step_breakdown: plot in {args.plot}")


if __name__ == "__main__":
    main()
