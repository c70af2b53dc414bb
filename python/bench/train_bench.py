"""Training throughput of the pw.models transformer LM, side by side in one run: OpenPathways
on 1 device and on 2 data-parallel devices against PyTorch on 1 and 2 threads, the same model,
global batch and AdamW step, float32. Also the matrix-product rate each side's library reaches
on this machine (oneDNN through a compiled pw function; PyTorch's BLAS), and the model-FLOPs
utilisation (the model's FLOP/s over the oneDNN rate).

Run: PYTHONPATH=build/python /usr/bin/python3 python/bench/train_bench.py [--steps 20]
"""

import argparse
import functools
import os
import sys
import time

import numpy as np

import pathways as pw

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))


def batches(cfg, global_batch, n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, cfg.vocab, size=(global_batch, cfg.seq_len + 1)).astype(np.int32)
            for _ in range(n)]


def pathways_rate(cfg, devices, global_batch, steps, in_flight=2):
    devs = pw.get_devices(devices)
    opt = pw.optimizers.adamw(1e-3)

    step = pw.pmap(functools.partial(pw.models.train_step, cfg=cfg, optimizer=opt, axis_name="d"),
                   devices=devs, axis_name="d")
    init = pw.pmap(functools.partial(pw.models.init_with_optimizer, cfg=cfg, optimizer=opt), devices=devs)
    params, state = init(np.stack([pw.random.PRNGKey(0)] * devices))
    data = [b.reshape(devices, global_batch // devices, cfg.seq_len + 1)
            for b in batches(cfg, global_batch, steps + 3)]
    for b in data[:3]:  # trace, compile, warm up
        params, state, loss = step(params, state, b)
    np.asarray(loss)
    pending = []
    start = time.perf_counter()
    for b in data[3:]:
        params, state, loss = step(params, state, b)
        pending.append(loss)
        if len(pending) > in_flight:
            np.asarray(pending.pop(0))
    for loss in pending:
        np.asarray(loss)
    return steps * global_batch * cfg.seq_len / (time.perf_counter() - start)


def torch_rate(cfg, threads, global_batch, steps):
    import torch
    from torch_reference import torch_loss

    torch.set_num_threads(threads)
    params = pw.models.init(pw.random.PRNGKey(0), cfg)
    tp = pw.tree_map(lambda x: torch.tensor(np.asarray(x), dtype=torch.float32, requires_grad=True), params)
    opt = torch.optim.AdamW(pw.tree_leaves(tp), lr=1e-3)
    data = [torch.tensor(b) for b in batches(cfg, global_batch, steps + 3)]

    def one(b):
        opt.zero_grad()
        loss = torch_loss(tp, b, cfg)
        loss.backward()
        opt.step()

    for b in data[:3]:
        one(b)
    start = time.perf_counter()
    for b in data[3:]:
        one(b)
    return steps * global_batch * cfg.seq_len / (time.perf_counter() - start)


BLAS_DIRS = {  # Debian's BLAS builds; each torch measurement loads one through LD_LIBRARY_PATH
    "reference": "/usr/lib/x86_64-linux-gnu/blas",
    "blis": "/usr/lib/x86_64-linux-gnu/blis-pthread",
    "openblas": "/usr/lib/x86_64-linux-gnu/openblas-pthread",
}


def time_gemm(mm, n, reps=10):
    mm()
    start = time.perf_counter()
    for _ in range(reps):
        out = mm()
    np.asarray(out)
    return 2 * n ** 3 * reps / (time.perf_counter() - start) / 1e9


def oneDNN_gemm(n=512):  # noqa: N802
    """GFLOP/s of an n x n x n f32 matrix product in a compiled pw function on one device."""
    a = np.random.default_rng(0).normal(size=(1, n, n)).astype(np.float32)
    f = pw.pmap(lambda x: x @ x, devices=pw.get_devices(1))
    return time_gemm(lambda: f(a), n)


def torch_worker(cfg, args):
    """In a subprocess with one BLAS loaded and every thread pool sized to args.threads:
    PyTorch's GEMM rate and its training rate, as JSON."""
    import json

    import torch

    torch.set_num_threads(args.threads)
    t = torch.randn(512, 512)
    gemm = time_gemm(lambda: torch.mm(t, t), 512)
    print(json.dumps({"gemm": gemm, "rate": torch_rate(cfg, args.threads, args.batch, args.steps)}))


def run_torch(blas, threads, argv):
    """PyTorch on `threads` cores with `blas` (its own pool sized likewise, so 1 thread is 1 core)."""
    import json
    import subprocess

    n = str(threads)
    env = dict(os.environ, LD_LIBRARY_PATH=BLAS_DIRS[blas], OMP_NUM_THREADS=n,
               OPENBLAS_NUM_THREADS=n, BLIS_NUM_THREADS=n)
    out = subprocess.run([sys.executable, __file__, "--torch-worker", "--threads", n] + argv,
                         env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        print(f"PyTorch with {blas}: failed: {out.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--batch", type=int, default=16, help="global batch (sequences per step)")
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    cfg = pw.models.TransformerConfig(vocab=256, d_model=args.d_model, heads=4, layers=args.layers,
                                      seq_len=args.seq_len)
    if args.torch_worker:
        return torch_worker(cfg, args)
    argv = [a for a in sys.argv[1:] if a not in ("--torch-worker",)]
    print(f"model: d_model {cfg.d_model}, {cfg.layers} layers, {cfg.seq_len} tokens x {args.batch} "
          f"sequences per step, {pw.models.flops_per_token(cfg):,} training FLOPs/token", flush=True)
    torch_runs = {}
    for blas, path in BLAS_DIRS.items():
        if not os.path.exists(os.path.join(path, "libblas.so.3")):
            continue
        one, two = run_torch(blas, 1, argv), run_torch(blas, 2, argv)
        if one and two:
            torch_runs[blas] = {"gemm": one["gemm"], "rates": [one["rate"], two["rate"]]}
            print(f"PyTorch with {blas:9s}: GEMM {one['gemm']:6.1f} GFLOP/s on 1 core; training "
                  f"{one['rate']:8,.0f} tokens/s on 1 thread, {two['rate']:8,.0f} on 2", flush=True)
    best = max(torch_runs, key=lambda b: torch_runs[b]["gemm"])
    pw.init(hosts=1, devices_per_host=2)
    ours_gemm = oneDNN_gemm()
    ours = [pathways_rate(cfg, n, args.batch, args.steps) for n in (1, 2)]
    pw.shutdown()
    print(f"oneDNN GEMM (compiled pw function, one core): {ours_gemm:.1f} GFLOP/s; PyTorch's best "
          f"BLAS here: {best} ({torch_runs[best]['gemm']:.1f} GFLOP/s)")
    print("| configuration | tokens/s | vs PyTorch on the same cores | model FLOP/s / oneDNN GEMM rate |")
    print("| --- | --- | --- | --- |")
    rows = [("OpenPathways, 1 device", ours[0], 1), ("OpenPathways, 2 devices (data-parallel)", ours[1], 2),
            (f"PyTorch ({best}), 1 thread", torch_runs[best]["rates"][0], 1),
            (f"PyTorch ({best}), 2 threads", torch_runs[best]["rates"][1], 2)]
    for label, rate, cores in rows:
        mfu = rate * pw.models.flops_per_token(cfg) / (ours_gemm * 1e9 * cores)
        vs = rate / torch_runs[best]["rates"][cores - 1]
        print(f"| {label} | {rate:,.0f} | {vs:.2f}x | {100 * mfu:.0f} % |")


if __name__ == "__main__":
    main()
