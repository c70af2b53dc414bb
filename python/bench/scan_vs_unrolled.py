"""A transformer's layers as one lax.scan over stacked parameters against the same layers
unrolled: compile time, step time and device memory of the training step (value_and_grad of
the loss) on one CPU device, for several depths.

Each configuration runs in a fresh embedded cluster, so the memory numbers are its own:
  compile  the first call (trace, differentiate, compile on the host, one step)
  step     the median of `--steps` further steps
  peak     the device's peak memory in use (parameters, activations, the working arena)
  scratch  the working arena: what one step's compiled function needs beyond its inputs and
           outputs (the unrolled function keeps every layer's activations there; the scanned one
           its tape of carried values and the loop's buffers)
The losses and gradients of the two forms are compared too (they must agree).

Run: PYTHONPATH=build/python /usr/bin/python3 python/bench/scan_vs_unrolled.py
"""

import argparse
import statistics
import time

import numpy as np

import pathways as pw


def measure(cfg, stacked, tokens, steps):
    params = pw.models.init(pw.random.PRNGKey(0), cfg)
    if stacked:
        params = pw.models.stack_blocks(params)
    params = pw.tree_map(lambda x: np.asarray(x)[None], params)
    devs = pw.get_devices(1)
    step = pw.pmap(lambda p, t: pw.value_and_grad(lambda q: pw.models.loss(q, t, cfg))(p), devices=devs)
    try:
        start = time.perf_counter()
        loss, grads = step(params, tokens)
        np.asarray(loss)
        compile_s = time.perf_counter() - start
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            loss, grads = step(params, tokens)
            np.asarray(loss)
            times.append(time.perf_counter() - start)
        stats = list(pw.memory_stats().values())[0]
        grads = pw.tree_map(lambda x: np.asarray(x)[0], grads)
        if stacked:
            grads = pw.models.unstack_blocks(grads)
        return {"compile": compile_s, "step": statistics.median(times),
                "peak": stats["peak_bytes_in_use"], "scratch": stats["scratch_bytes"],
                "loss": float(np.asarray(loss)[0]), "grads": pw.tree_leaves(grads)}
    finally:
        pw.shutdown()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, nargs="+", default=[2, 4, 8, 16])
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=32)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=5)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    print(f"scan_vs_unrolled: d_model {args.d_model}, seq_len {args.seq_len}, batch {args.batch}, "
          "one CPU device; scanned / unrolled ratios in brackets")
    print("| layers | compile unrolled | compile scanned | step unrolled | step scanned | "
          "peak unrolled | peak scanned | scratch unrolled | scratch scanned | max grad diff |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    mib = 2.0 ** 20
    for layers in args.layers:
        cfg = pw.models.TransformerConfig(vocab=256, d_model=args.d_model, heads=4, layers=layers,
                                          seq_len=args.seq_len)
        tokens = rng.integers(0, cfg.vocab, size=(1, args.batch, cfg.seq_len + 1)).astype(np.int32)
        u = measure(cfg, False, tokens, args.steps)
        s = measure(cfg, True, tokens, args.steps)
        if not np.isclose(u["loss"], s["loss"], rtol=1e-5):
            raise SystemExit(f"losses differ: unrolled {u['loss']} scanned {s['loss']}")
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(u["grads"], s["grads"]))
        r = lambda k: s[k] / u[k]
        print(f"| {layers} | {u['compile']:.2f} s | {s['compile']:.2f} s [{r('compile'):.2f}] | "
              f"{u['step'] * 1e3:.1f} ms | {s['step'] * 1e3:.1f} ms [{r('step'):.2f}] | "
              f"{u['peak'] / mib:.1f} MiB | {s['peak'] / mib:.1f} MiB [{r('peak'):.2f}] | "
              f"{u['scratch'] / mib:.1f} MiB | {s['scratch'] / mib:.1f} MiB [{r('scratch'):.2f}] | "
              f"{diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
