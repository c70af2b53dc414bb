"""The paper's Figure 12 on this machine: data-parallel training on two islands (gradients
averaged inside each island by a collective, then across the islands by a transfer and an add
in the program) against one island of twice the devices (one all-reduce), tokens/s in one run.

Both configurations train the pw.models transformer LM on 4 CPU devices of the embedded
cluster: one island of 2 hosts x 2 devices, or two islands of 1 host x 2 devices whose pushes
between islands pay a modelled data-center network (--dcn-latency-us, --dcn-gbps; inside an
island pushes are not delayed). The same global batch and steps; the ratio is the result.

Run: PYTHONPATH=build/python /usr/bin/python3 python/bench/islands_bench.py
"""

import argparse
import functools

import numpy as np

import pathways as pw
from bench_util import spmd_tokens_per_second, time_steps


def one_island(cfg, opt, args, rng):
    pw.init(islands=1, hosts=2, devices_per_host=2)
    try:
        return spmd_tokens_per_second(cfg, opt, (4, 1), args.batch, args.steps, rng)
    finally:
        pw.shutdown()


def two_islands(cfg, opt, args, rng):
    pw.init(islands=2, hosts=1, devices_per_host=2, dcn_latency_us=args.dcn_latency_us,
            dcn_gbps=args.dcn_gbps)
    try:
        vds = pw.make_virtual_device_set()
        slices = [vds.add_slice(devices=2, island=i, axis_names=("data",)) for i in range(2)]

        def grads(params, tokens):
            loss, g = pw.value_and_grad(functools.partial(pw.models.loss, cfg=cfg))(params, tokens)
            return pw.lax.pmean(loss, "data"), pw.lax.pmean(g, "data")

        def update(params, state, mine, theirs):
            g = pw.tree_map(lambda a, b: (a + b) * 0.5, mine, theirs)
            updates, state = opt.update(g, state, params)
            return pw.optimizers.apply_updates(params, updates), state

        fns = [dict(init=pw.pmap(functools.partial(pw.models.init_with_optimizer, cfg=cfg, optimizer=opt),
                                 devices=s.devices),
                    grads=pw.pmap(grads, devices=s.devices), update=pw.pmap(update, devices=s.devices))
               for s in slices]

        @pw.program
        def program_step(state, tokens):
            out = [fns[i]["grads"](state[i][0], tokens[i]) for i in range(2)]
            new = [fns[i]["update"](state[i][0], state[i][1], out[i][1], out[1 - i][1]) for i in range(2)]
            return new, out[0][0]

        state = [f["init"](np.stack([pw.random.PRNGKey(0)] * 2)) for f in fns]
        elapsed, _ = time_steps(program_step, state, lambda: [rng.integers(
            0, cfg.vocab, size=(2, args.batch // 4, cfg.seq_len + 1)).astype(np.int32) for _ in range(2)],
            args.steps)
        return args.steps * args.batch * cfg.seq_len / elapsed
    finally:
        pw.shutdown()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=16, help="global sequences per step")
    p.add_argument("--dcn-latency-us", type=int, default=20)
    p.add_argument("--dcn-gbps", type=float, default=25.0)
    p.add_argument("--repeats", type=int, default=2, help="alternate the two configurations")
    args = p.parse_args()
    cfg = pw.models.TransformerConfig(vocab=256, d_model=args.d_model, heads=4, layers=args.layers, seq_len=64)
    opt = pw.optimizers.adamw(1e-3)
    rng = np.random.default_rng(0)
    one, two = [], []
    for _ in range(args.repeats):
        one.append(one_island(cfg, opt, args, rng))
        two.append(two_islands(cfg, opt, args, rng))
    print(f"islands_bench: d_model {cfg.d_model}, {cfg.layers} layers, {args.batch} x {cfg.seq_len} tokens "
          f"per step on 4 CPU devices; DCN {args.dcn_latency_us} us, {args.dcn_gbps:g} Gbit/s per link")
    print("| configuration | tokens/s (each repeat) | vs one island |")
    print("| --- | --- | --- |")
    print(f"| one island, 2 hosts x 2 devices | {', '.join(f'{r:,.0f}' for r in one)} | 1.00x |")
    print(f"| two islands, 1 host x 2 devices each | {', '.join(f'{r:,.0f}' for r in two)} | "
          f"{np.median(two) / np.median(one):.2f}x |")


if __name__ == "__main__":
    main()
