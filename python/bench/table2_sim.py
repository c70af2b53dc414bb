"""The paper's Table 2 and Figure 12 at its scale on simulated accelerators: a 3B-parameter-shaped
decoder LM on 128 simulated devices, SPMD against pipelined (S = 4, 8, 16), two islands of 64
against one island of 128, and a 16-stage pipeline over 4 islands of 32; tokens/s in one run,
then a sweep of the interconnect parameters.

The embedded cluster has 32 hosts x 4 sim devices (pw.init(device_kind="sim",
sim_compute=False)): a compiled function takes the performance model's time for its FLOPs and
bytes (TPU-v4-class: 275 TFLOP/s, 1.2 TB/s), its collectives the interconnect model's time
(pathways/device/sim/interconnect_model.h: ICI inside an island, ring), and pushes between hosts
the same model's transfer time (ICI, or DCN between islands). No values are computed and device
memory is accounted but not backed, so the model fits on a small machine; parameters are
initialised on the devices (pw.random inside pw.pmap), never through the client.

tokens/s = global batch x seq_len x steps / wall time of the timed steps: the devices sleep
their modelled time, so wall time is modelled time as long as the host dispatches ahead of the
devices; each row also reports the busy share of the devices and how long the client took to
submit a step (when submission approaches the step time, the host, not the model, sets it).

Run: PYTHONPATH=build/python /usr/bin/python3 python/bench/table2_sim.py [--plot] [--quick]
"""

import argparse
import functools
import os
import time

import numpy as np

import pathways as pw
from bench_util import spmd_tokens_per_second, time_steps, tokens_for

def config(args):
    return pw.models.TransformerConfig(vocab=args.vocab, d_model=args.d_model, heads=args.heads,
                                       layers=args.layers, seq_len=args.seq_len)


def start(args, islands=1, **net):
    """The embedded sim cluster of `args.devices` devices over `islands` islands."""
    hosts = args.devices // args.devices_per_host // islands
    kw = dict(ici_gbps=args.ici_gbps, ici_latency_us=args.ici_latency_us, dcn_gbps=args.dcn_gbps,
              dcn_latency_us=args.dcn_latency_us)
    kw.update(net)
    pw.init(islands=islands, hosts=hosts, devices_per_host=args.devices_per_host,
            memory_per_device=args.memory_gib << 30, device_kind="sim", sim_compute=False, **kw)


def busy_share(before, elapsed):
    """Mean share of the timed wall time the devices were busy (modelled)."""
    after = pw.memory_stats()
    busy = [after[d]["busy_seconds"] - before[d]["busy_seconds"] for d in after]
    return float(np.mean(busy)) / elapsed


class Meter:
    """Wraps a step function: counts the client's submission time (the call returning), and
    snapshots the devices' busy time at the first timed step (after time_steps' 2 warm-ups,
    which it waits for)."""

    def __init__(self, step):
        self.step, self.submit, self.before = step, [], None

    def __call__(self, *a):
        if len(self.submit) == 2:
            self.before = pw.memory_stats()
        t = time.perf_counter()
        out = self.step(*a)
        self.submit.append(time.perf_counter() - t)
        return out


def measure(fn, args):
    """Runs fn() -> (step, state, make_batch, tokens per step) timed; returns a result row."""
    step, state, make_batch, tokens = fn()
    meter = Meter(step)
    elapsed, _ = time_steps(meter, state, make_batch, args.steps)
    peak = max(s["peak_bytes_in_use"] for s in pw.memory_stats().values())
    return dict(tokens_per_s=args.steps * tokens / elapsed, step_s=elapsed / args.steps,
                busy=busy_share(meter.before, elapsed), submit_s=float(np.median(meter.submit[2:])),
                peak_gib=peak / 2**30)


def spmd(cfg, opt, args, mesh):
    def fn():
        devs = pw.make_virtual_device_set().add_slice(devices=mesh[0] * mesh[1], mesh=mesh,
                                                      axis_names=("data", "model")).devices
        init = pw.pmap(functools.partial(pw.models.init_with_optimizer, cfg=cfg, optimizer=opt,
                                         model_axis="model"), devices=devs)
        train = pw.pmap(functools.partial(pw.models.train_step, cfg=cfg, optimizer=opt,
                                          axis_name="data", model_axis="model"), devices=devs)
        state = init(np.stack([pw.random.PRNGKey(0)] * len(devs)))
        rng = np.random.default_rng(0)

        def step(state, tokens):
            p, o, loss = train(state[0], state[1], tokens)
            return (p, o), loss
        return (step, state, lambda: tokens_for(rng, mesh[0], args.batch // mesh[0], cfg, mesh[1]),
                args.batch * cfg.seq_len)
    return fn


def pipelined(cfg, opt, args, stages, islands=1):
    per = args.devices // stages

    def fn():
        vds = pw.make_virtual_device_set()
        slices = [vds.add_slice(devices=per, axis_names=("data",), island=s * islands // stages)
                  for s in range(stages)]
        m = min(args.microbatches_per_stage * stages, args.batch // per)
        pipe = pw.pipeline.Pipeline(cfg, opt, [s.devices for s in slices], m)
        state = pipe.init(pw.random.PRNGKey(0))
        rng = np.random.default_rng(0)
        return (pipe.step, state, lambda: tokens_for(rng, per, args.batch // per, cfg),
                args.batch * cfg.seq_len)
    return fn


def _scatterable(x, parts):
    return len(x.shape) > 0 and x.shape[0] % parts == 0


def islands_data_parallel(cfg, opt, args, islands, mesh, hierarchical=True):
    """Data parallelism over `islands` islands, each a data x model mesh (Figure 12).

    hierarchical (the default): each island reduce-scatters every gradient over "data" (ICI, along
    its first dimension), so a device holds 1/data of its model shard's island mean; only that
    part crosses to the same device of every other island (DCN, transfers) and is added there;
    each island then all-gathers the global mean over "data" (ICI). A gradient whose first
    dimension does not divide is averaged whole. Otherwise every device averages the whole
    gradient inside its island and sends all of it across: `data` times the DCN bytes."""
    def fn():
        vds = pw.make_virtual_device_set()
        slices = [vds.add_slice(devices=mesh[0] * mesh[1], mesh=mesh, axis_names=("data", "model"),
                                island=i) for i in range(islands)]
        data = mesh[0]

        def grads(params, tokens):
            loss = functools.partial(pw.models.loss, cfg=cfg, model_axis="model")
            value, g = pw.value_and_grad(loss)(params, tokens)
            if not hierarchical:
                return pw.lax.pmean(value, "data"), pw.lax.pmean(g, "data")
            part = pw.tree_map(lambda x: pw.lax.psum_scatter(x, "data", tiled=True) / float(data)
                               if _scatterable(x, data) else pw.lax.pmean(x, "data"), g)
            return pw.lax.pmean(value, "data"), part

        def update(params, state, *all_grads):
            g = pw.tree_map(lambda *x: functools.reduce(lambda a, b: a + b, x) / float(len(x)),
                            *all_grads)
            if hierarchical:
                g = pw.tree_map(lambda x, p: pw.lax.all_gather(x, "data", tiled=True)
                                if _scatterable(p, data) else x, g, params)
            updates, state = opt.update(g, state, params)
            return pw.optimizers.apply_updates(params, updates), state

        init = [pw.pmap(functools.partial(pw.models.init_with_optimizer, cfg=cfg, optimizer=opt,
                                          model_axis="model"), devices=s.devices) for s in slices]
        g_fn = [pw.pmap(grads, devices=s.devices) for s in slices]
        u_fn = [pw.pmap(update, devices=s.devices) for s in slices]

        @pw.program
        def step(state, tokens):
            out = [g_fn[i](state[i][0], tokens[i]) for i in range(islands)]
            new = [u_fn[i](state[i][0], state[i][1], *[o[1] for o in out]) for i in range(islands)]
            return new, out[0][0]

        n = mesh[0] * mesh[1]
        state = [f(np.stack([pw.random.PRNGKey(0)] * n)) for f in init]
        rng = np.random.default_rng(0)
        per_island = args.batch // islands
        return (step, state,
                lambda: [tokens_for(rng, mesh[0], per_island // mesh[0], cfg, mesh[1])
                         for _ in range(islands)],
                args.batch * cfg.seq_len)
    return fn


def run(name, islands, fn, args, **net):
    start(args, islands, **net)
    try:
        t = time.perf_counter()
        row = measure(fn, args)
        row.update(name=name, wall_s=time.perf_counter() - t)
        print(f"table2_sim: {name}: {row['tokens_per_s']:,.0f} tokens/s, step {row['step_s']*1e3:.0f} ms, "
              f"devices busy {row['busy']:.0%}, submit {row['submit_s']*1e3:.0f} ms/step, peak "
              f"{row['peak_gib']:.1f} GiB/device ({row['wall_s']:.0f} s)", flush=True)
        return row
    finally:
        pw.shutdown()


def table(cfg, opt, args, configs, **net):
    rows = {}
    for key, (name, islands, fn) in configs.items():
        rows[key] = run(name, islands, fn, args, **net)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=128)
    p.add_argument("--devices-per-host", type=int, default=4)
    p.add_argument("--d-model", type=int, default=2816)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--layers", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=32768)
    p.add_argument("--batch", type=int, default=512, help="global sequences per step")
    p.add_argument("--model-parallel", type=int, default=8, help="SPMD model axis")
    p.add_argument("--stages", default="4,8,16", help="pipeline depths; the last also over 4 islands")
    p.add_argument("--microbatches-per-stage", type=int, default=4, help="M = this x S")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--memory-gib", type=int, default=32, help="per device (TPU v4: 32 GiB)")
    p.add_argument("--ici-gbps", type=float, default=800.0)
    p.add_argument("--ici-latency-us", type=float, default=1.0)
    p.add_argument("--dcn-gbps", type=float, default=100.0)
    p.add_argument("--dcn-latency-us", type=float, default=10.0)
    p.add_argument("--sweep", default="ici_gbps=200,3200;dcn_gbps=25,400",
                   help="';'-separated PARAM=v1,v2,...; empty: no sweep")
    p.add_argument("--only", default="", help="comma-separated configurations (spmd,S4,...)")
    p.add_argument("--plot", nargs="?", const=os.path.join("bench", "results", "table2_sim.png"),
                   default="")
    args = p.parse_args()
    cfg = config(args)
    opt = pw.optimizers.adamw(1e-4)
    mp = args.model_parallel
    print(f"table2_sim: decoder LM d_model {cfg.d_model}, {cfg.heads} heads, {cfg.layers} layers, "
          f"seq {cfg.seq_len}, vocab {cfg.vocab}: {pw.models.count_params(cfg) / 1e9:.2f}B parameters; "
          f"{args.batch} x {cfg.seq_len} tokens per step, AdamW; {args.devices} sim devices "
          f"({args.devices_per_host} per host, {args.memory_gib} GiB each); ICI {args.ici_gbps:g} Gbit/s + "
          f"{args.ici_latency_us:g} us, DCN {args.dcn_gbps:g} Gbit/s + {args.dcn_latency_us:g} us",
          flush=True)
    configs = {
        "spmd": (f"SPMD, mesh {args.devices // mp} (data) x {mp} (model)", 1,
                 spmd(cfg, opt, args, (args.devices // mp, mp))),
    }
    stages = [int(x) for x in args.stages.split(",")]
    for s in stages:
        m = min(args.microbatches_per_stage * s, args.batch // (args.devices // s))
        configs[f"S{s}"] = (f"pipelined, S = {s} x {args.devices // s} devices, M = {m}", 1,
                            pipelined(cfg, opt, args, s))
    configs["islands2"] = (f"2 islands x {args.devices // 2} (mesh {args.devices // 2 // mp} x {mp} each), DCN between", 2,
                           islands_data_parallel(cfg, opt, args, 2, (args.devices // 2 // mp, mp)))
    top = stages[-1]
    configs[f"S{top}x4"] = (f"pipelined, S = {top} over 4 islands of {args.devices // 4}", 4,
                            pipelined(cfg, opt, args, top, 4))
    if args.only:
        configs = {k: v for k, v in configs.items() if k in args.only.split(",")}
    rows = table(cfg, opt, args, configs)
    print_table(rows)
    sweep = run_sweep(cfg, opt, args, configs) if "spmd" in rows else []
    if args.plot:
        plot(rows, sweep, args)


def ratios(rows):
    spmd_rate = rows["spmd"]["tokens_per_s"]
    out = {k: r["tokens_per_s"] / spmd_rate for k, r in rows.items()}
    if "islands2" in rows:
        out["islands2"] = rows["islands2"]["tokens_per_s"] / spmd_rate
    for k in [k for k in rows if k.endswith("x4")]:
        if k[:-2] in rows:
            out[f"{k}_vs_{k[:-2]}"] = rows[k]["tokens_per_s"] / rows[k[:-2]]["tokens_per_s"]
    return out


def print_table(rows):
    r = ratios(rows)
    print("| configuration | tokens/s | vs SPMD (one island of 128) | step | devices busy | submit/step | peak memory/device |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for k, row in rows.items():
        print(f"| {row['name']} | {row['tokens_per_s']:,.0f} | {r[k]:.3f} | {row['step_s']*1e3:.0f} ms | "
              f"{row['busy']:.0%} | {row['submit_s']*1e3:.0f} ms | {row['peak_gib']:.1f} GiB |")
    for k in [k for k in r if k.endswith("_vs_" + k.split("_vs_")[-1]) and "_vs_" in k]:
        print(f"table2_sim: {k.split('_vs_')[0]} (4 islands) vs {k.split('_vs_')[1]} (one island): {r[k]:.3f}")


def run_sweep(cfg, opt, args, configs):
    """Each swept parameter value: the configurations that depend on it, their ratios."""
    sweep = []
    for part in filter(None, args.sweep.split(";")):
        param, values = part.split("=")
        top = next((k for k in configs if k.endswith("x4")), None)
        if param.startswith("ici"):
            keys = ["spmd", "S8" if "S8" in configs else top[:-2]]
        else:
            keys = ["spmd", "islands2"] + ([top[:-2], top] if top else [])
        keys = [k for k in keys if k in configs]
        for v in values.split(","):
            rows = {k: run(f"{configs[k][0]} [{param}={v}]", configs[k][1], configs[k][2], args,
                           **{param: float(v)}) for k in keys}
            r = ratios(rows)
            sweep.append(dict(param=param, value=float(v), ratios=r))
            print(f"table2_sim: sweep {param}={v}: " + ", ".join(f"{k} {x:.3f}" for k, x in r.items()),
                  flush=True)
    if sweep:
        print("| parameter | value | " + " | ".join(sorted({k for s in sweep for k in s['ratios']})) + " |")
        keys = sorted({k for s in sweep for k in s['ratios']})
        print("| --- | --- | " + " | ".join("---" for _ in keys) + " |")
        for s in sweep:
            print(f"| {s['param']} | {s['value']:g} | " +
                  " | ".join(f"{s['ratios'][k]:.3f}" if k in s['ratios'] else "" for k in keys) + " |")
    return sweep


def plot(rows, sweep, args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    r = ratios(rows)
    names = list(rows)
    axes[0].bar(range(len(names)), [rows[k]["tokens_per_s"] / 1e3 for k in names])
    axes[0].set_xticks(range(len(names)), names, rotation=30)
    axes[0].set_ylabel("k tokens/s (simulated)")
    axes[0].set_title("128 sim devices, 3B-shaped LM")
    for i, k in enumerate(names):
        axes[0].text(i, rows[k]["tokens_per_s"] / 1e3, f"{r[k]:.2f}", ha="center", va="bottom")
    for ax, param in zip(axes[1:], ("ici_gbps", "dcn_gbps")):
        pts = [s for s in sweep if s["param"] == param]
        base = getattr(args, param)
        pts = sorted(pts + [dict(param=param, value=base, ratios=r)], key=lambda s: s["value"])
        for key in sorted({k for s in pts for k in s["ratios"]} - {"spmd"}):
            xs = [s["value"] for s in pts if key in s["ratios"]]
            ax.plot(xs, [s["ratios"][key] for s in pts if key in s["ratios"]], "o-", label=key)
        ax.axvline(base, color="k", ls=":", alpha=0.5)
        ax.axhline(1.0, color="k", alpha=0.3)
        ax.set_xscale("log", base=2)
        ax.set_xlabel(f"{param} (Gbit/s; dotted: the fixed value)")
        ax.set_ylabel("tokens/s ratio")
        ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(args.plot) or ".", exist_ok=True)
    fig.savefig(args.plot, dpi=100)
    print(f"table2_sim: plot in {args.plot}")


if __name__ == "__main__":
    main()
