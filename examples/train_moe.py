"""Trains a small mixture-of-experts transformer LM, data- and expert-parallel over a slice.

    PYTHONPATH=build/python /usr/bin/python3 examples/train_moe.py            # a few seconds

Every device gets its own batch (data parallel) and holds num_experts / devices of each MoE
layer's experts (expert parallel): tokens travel to their experts' devices and back with
all_to_all inside the one pmapped training step. The corpus is the license texts every Debian
system has (bytes as tokens). Prints the loss, the load-balancing loss's share and the fraction
of token assignments dropped past an expert's capacity, every --log-every steps; writes the
loss curve as a PNG.
"""

import argparse
import os
import sys
from typing import Any

import numpy as np

import pathways as pw

sys.path.insert(0, os.path.dirname(__file__))
from train_lm import CORPUS, load_corpus  # noqa: E402  (the byte corpus)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=2)
    p.add_argument("--experts", type=int, default=4, help="experts per MoE layer (a multiple of --devices)")
    p.add_argument("--top-k", type=int, default=2)
    p.add_argument("--capacity-factor", type=float, default=1.25,
                   help="capacity = factor * tokens per device * top_k / experts")
    p.add_argument("--batch", type=int, default=8, help="sequences per device per step")
    p.add_argument("--seq-len", type=int, default=32)
    p.add_argument("--d-model", type=int, default=32)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default="train_moe_loss.png", help="loss curve PNG ('' for none)")
    return p.parse_args(argv)


def config(args: argparse.Namespace) -> pw.moe.MoETransformerConfig:
    tokens = args.batch * args.seq_len
    capacity = max(1, int(np.ceil(args.capacity_factor * tokens * args.top_k / args.experts)))
    layer = pw.moe.MoEConfig(num_experts=args.experts, top_k=args.top_k, capacity=capacity,
                             d_model=args.d_model, hidden=args.hidden)
    return pw.moe.MoETransformerConfig(vocab=256, d_model=args.d_model, heads=4, layers=args.layers,
                                       seq_len=args.seq_len, moe=layer)


def shard_params(full: Any, cfg: pw.moe.MoETransformerConfig, devices: int) -> Any:
    """Every device's parameters, stacked: shared ones repeated, experts split."""
    def one(g: int) -> Any:
        out = pw.tree_map(lambda a: a, full)
        for i, block in enumerate(out["blocks"]):
            block["moe"] = pw.moe.shard_experts(full["blocks"][i]["moe"], cfg.moe, devices, g)
        return out
    return pw.tree_map(lambda *a: np.stack([np.asarray(x) for x in a]), *[one(g) for g in range(devices)])


def train(args: argparse.Namespace) -> list[tuple[int, float]]:
    cfg = config(args)
    devs = pw.get_devices(args.devices)
    cfg.moe.experts_per_device(args.devices)  # a clear error before anything runs
    train_tokens, _ = load_corpus(CORPUS, 0.1)
    rng = np.random.default_rng(args.seed)
    full = pw.tree_map(np.asarray, pw.moe.init_transformer(pw.random.PRNGKey(args.seed), cfg, args.devices))
    opt = pw.optimizers.adam(args.lr)
    params = shard_params(full, cfg, args.devices)
    init = pw.pmap(opt.init, devices=devs)
    step = pw.pmap(lambda p, s, t: pw.moe.train_step(p, s, t, cfg, opt, "expert"),
                   axis_name="expert", devices=devs)
    state = init(params)
    print(f"train_moe: {args.devices} devices, {args.experts} experts per layer "
          f"({args.experts // args.devices} per device), top-{args.top_k}, capacity "
          f"{cfg.moe.capacity} per expert and device, {args.layers} layers")
    losses: list[tuple[int, float]] = []
    for i in range(args.steps):
        starts = rng.integers(0, len(train_tokens) - args.seq_len - 1, size=(args.devices, args.batch))
        batch = np.stack([[train_tokens[s:s + args.seq_len + 1] for s in row] for row in starts])
        params, state, stats = step(params, state, batch.astype(np.int32))
        if (i + 1) % args.log_every == 0 or i + 1 == args.steps:
            s = {k: float(np.asarray(v)[0]) for k, v in stats.items()}
            losses.append((i + 1, s["cross_entropy"]))
            print(f"step {i + 1:4d}  loss {s['loss']:.3f}  cross-entropy {s['cross_entropy']:.3f}  "
                  f"dropped {100 * s['dropped_fraction']:.1f}% of assignments", flush=True)
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(*zip(*losses), marker="o")
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy (nats)")
        ax.set_title(f"MoE LM, {args.experts} experts over {args.devices} devices")
        fig.tight_layout()
        fig.savefig(args.plot)
        print(f"loss curve: {args.plot}")
    return losses


def main(argv: list[str] | None = None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
