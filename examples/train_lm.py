"""Trains a byte-level decoder-only transformer language model, data-parallel over a slice.

    PYTHONPATH=build/python /usr/bin/python3 examples/train_lm.py            # about a minute
    PYTHONPATH=build/python /usr/bin/python3 examples/train_lm.py --sample 200

The corpus is the license texts every Debian system has (/usr/share/common-licenses), split
into training and held-out bytes. Parameters are initialised on the devices from a seed and
stay there: each step is ONE pmapped function (forward, backward, gradient all-reduce, AdamW
update) whose outputs are the next step's inputs, with a bounded number of steps in flight.
Prints a progress bar (steps, loss, tokens/s), the held-out loss against the unigram baseline,
writes the loss curve as a PNG, and with --sample prints text the model generates.
With --checkpoint-dir it saves the parameters and optimizer state (each host writes its own
shards); --resume continues from the latest checkpoint along the same loss curve.
"""

import argparse
import functools
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import numpy.typing as npt

import pathways as pw

CORPUS = "/usr/share/common-licenses"


def load_corpus(path: str, held_out_fraction: float) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    data = bytearray()
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if os.path.isfile(full) and not os.path.islink(full):
            with open(full, "rb") as f:
                data += f.read()
    if len(data) < 10000:
        raise SystemExit(f"train_lm: only {len(data)} bytes of text under {path}")
    tokens = np.frombuffer(bytes(data), np.uint8).astype(np.int32)
    split = int(len(tokens) * (1 - held_out_fraction))
    return tokens[:split], tokens[split:]


def unigram_loss(train: npt.NDArray[np.int32], held_out: npt.NDArray[np.int32], vocab: int) -> float:
    """Cross-entropy (nats) of the held-out bytes under the training bytes' frequencies."""
    counts = np.bincount(train, minlength=vocab).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[held_out].mean())


def batches(tokens: npt.NDArray[np.int32], seed: int, step: int, mesh: tuple[int, int], batch: int,
            seq_len: int) -> npt.NDArray[np.int32]:
    """int32[devices, batch, seq_len + 1] windows at offsets drawn from (seed, step): the batch
    of a step does not depend on how the run got there, so a resumed run sees the same data.
    The devices of one row of the (data, model) mesh get the same sequences."""
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, len(tokens) - seq_len - 1, size=(mesh[0], batch))
    return np.repeat(tokens[starts[..., None] + np.arange(seq_len + 1)], mesh[1], axis=0)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--devices", type=int, default=2, help="data-parallel devices (default 2)")
    p.add_argument("--mesh", default="",
                   help="DATA,MODEL: a data x model mesh of devices (tensor parallelism over "
                        "MODEL devices: heads and MLP units split); replaces --devices")
    p.add_argument("--batch", type=int, default=16, help="sequences per device per step")
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--in-flight", type=int, default=2, help="steps submitted ahead of the devices")
    p.add_argument("--eval-batches", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default="train_lm_loss.png", help="loss curve PNG ('' for none)")
    p.add_argument("--sample", type=int, default=0, help="bytes to generate after training")
    p.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    p.add_argument("--prompt", default="This program is free software")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--pipeline-stages", type=int, default=1,
                   help="S > 1: pipeline the layers over S stages, each on its own host with "
                        "--devices devices, one program per step (GPipe)")
    p.add_argument("--microbatches", type=int, default=4, help="microbatches per pipelined step")
    p.add_argument("--schedule", default="gpipe", choices=("gpipe", "1f1b"),
                   help="pipeline schedule: all forwards then all backwards, or one forward one backward")
    p.add_argument("--checkpoint-dir", default="",
                   help="save parameters and optimizer state under DIR/step_NNNNNNNN")
    p.add_argument("--checkpoint-every", type=int, default=0,
                   help="steps between checkpoints (0: only after the last step)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the latest checkpoint in --checkpoint-dir")
    args = p.parse_args(argv)
    if args.resume and not args.checkpoint_dir:
        p.error("--resume needs --checkpoint-dir")
    if args.checkpoint_every < 0:
        p.error("--checkpoint-every must be >= 0")
    for name in ("devices", "batch", "seq_len", "steps", "in_flight", "eval_batches"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.pipeline_stages < 1 or args.microbatches < 1:
        p.error("--pipeline-stages and --microbatches must be >= 1")
    if args.pipeline_stages > 1 and (args.mesh or args.sample):
        p.error("--pipeline-stages does not combine with --mesh or --sample")
    if args.pipeline_stages > 1 and args.batch % args.microbatches:
        p.error(f"--batch {args.batch} does not split into --microbatches {args.microbatches}")
    if args.mesh:
        try:
            args.mesh = tuple(int(v) for v in args.mesh.split(","))
        except ValueError:
            args.mesh = ()
        if len(args.mesh) != 2 or min(args.mesh) < 1:
            p.error("--mesh takes DATA,MODEL: two positive ints, e.g. 1,2")
        args.devices = args.mesh[0] * args.mesh[1]
    else:
        args.mesh = (args.devices, 1)
    return args


def make_functions(cfg: pw.models.TransformerConfig, opt: pw.optimizers.GradientTransformation,
                   devices: list[pw.VirtualDevice], model_axis: str | None
                   ) -> tuple[pw.PmapFunction, pw.PmapFunction, pw.PmapFunction, pw.PmapFunction]:
    """The pmapped functions over a ("data", "model") mesh slice; `model_axis` is "model" for
    tensor parallelism, None when the model axis has one device."""
    loss_fn = functools.partial(pw.models.loss, cfg=cfg, model_axis=model_axis)

    init = pw.pmap(functools.partial(pw.models.init_with_optimizer, cfg=cfg, optimizer=opt,
                                     model_axis=model_axis), devices=devices)
    train_step = pw.pmap(functools.partial(pw.models.train_step, cfg=cfg, optimizer=opt,
                                           axis_name="data", model_axis=model_axis), devices=devices)

    @pw.pmap(devices=devices)
    def eval_step(params: Any, batch: pw.Tracer) -> Any:
        return pw.lax.pmean(loss_fn(params, batch), "data")

    @pw.pmap(devices=devices)
    def next_logits(params: Any, window: pw.Tracer, position: pw.Tracer) -> Any:
        logits = pw.models.apply(params, window[None], cfg, model_axis)[0]  # [seq_len, vocab]
        return pw.numpy.sum(logits * pw.nn.one_hot(position, cfg.seq_len)[:, None], axis=0)

    return init, train_step, eval_step, next_logits


def progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="step", dynamic_ncols=True)


class TrainResult(tuple[float, float]):
    """(held-out loss, unigram baseline), with .losses: the loss of every step from step 0."""

    losses: list[float]

    def __new__(cls, held_loss: float, baseline: float, losses: list[float]) -> "TrainResult":
        # mypy 1.0 cannot solve tuple.__new__ for a subclass of a parameterized tuple.
        result = super().__new__(cls, (held_loss, baseline))  # type: ignore[arg-type]
        result.losses = losses
        return result


def save_checkpoint(args: argparse.Namespace, step: int, params: Any, state: Any,
                    losses: list[float]) -> str:
    directory = pw.checkpoint.step_directory(args.checkpoint_dir, step)
    history: list[pw.checkpoint.JSON] = list(losses)
    pw.checkpoint.save(directory, {"params": params, "opt_state": state},
                       metadata={"step": step, "losses": history})
    return directory


def restore_checkpoint(args: argparse.Namespace, params: Any,
                       state: Any) -> tuple[int, Any, Any, list[float]]:
    """(first step, params, state, losses so far) from the latest checkpoint, if asked to resume."""
    step = pw.checkpoint.latest_step(args.checkpoint_dir) if args.resume else None
    if step is None:
        if args.resume:
            print(f"train_lm: no checkpoint in {args.checkpoint_dir}; starting at step 0", flush=True)
        return 0, params, state, []
    directory = pw.checkpoint.step_directory(args.checkpoint_dir, step)
    tree, meta = pw.checkpoint.restore(directory, {"params": params, "opt_state": state},
                                       return_metadata=True)
    print(f"train_lm: resumed from {directory} (step {step})", flush=True)
    losses = meta.get("losses") if isinstance(meta, dict) else None
    if not isinstance(losses, list) or len(losses) != step:
        raise SystemExit(f"train_lm: {directory} does not hold this example's loss history")
    # The losses this example saved (JSON numbers).
    return step, tree["params"], tree["opt_state"], cast("list[float]", losses)


def train(args: argparse.Namespace) -> TrainResult:
    train_tokens, held_out = load_corpus(CORPUS, 0.1)
    cfg = pw.models.TransformerConfig(vocab=256, d_model=args.d_model, heads=args.heads,
                                      layers=args.layers, seq_len=args.seq_len)
    schedule = pw.optimizers.warmup_linear_decay(args.lr, args.warmup, max(args.steps - args.warmup, 1),
                                                 end_value=args.lr * 0.1)
    opt = pw.optimizers.adamw(schedule, weight_decay=args.weight_decay)
    key = pw.random.PRNGKey(args.seed)
    vds = pw.make_virtual_device_set()
    if args.pipeline_stages > 1:
        # One slice per stage (each on its own host), data-parallel over its devices.
        stages = [vds.add_slice(devices=args.devices, axis_names=("data",)).devices
                  for _ in range(args.pipeline_stages)]
        pipe = pw.pipeline.Pipeline(cfg, opt, stages, args.microbatches, schedule=args.schedule)
        params, state = pipe.init(key), None
        layout = (f"{args.pipeline_stages} pipeline stages x {args.devices} device(s), "
                  f"{args.microbatches} microbatches (bubble {pipe.bubble_fraction():.0%})")

        def pipelined_step(params: Any, state: Any, batch: npt.NDArray[np.int32]) -> tuple[Any, Any, Any]:
            new, loss = pipe.step(params, batch)
            return new, state, loss

        def pipelined_eval(params: Any, batch: npt.NDArray[np.int32]) -> Any:
            return pipe.evaluate(params, batch)
        train_step: Callable[..., Any] = pipelined_step
        eval_step: Callable[..., Any] = pipelined_eval
        next_logits: pw.PmapFunction | None = None
    else:
        devices = vds.add_slice(devices=args.devices, mesh=args.mesh, axis_names=("data", "model")).devices
        model_axis = "model" if args.mesh[1] > 1 else None
        init, train_step, eval_step, next_logits = make_functions(cfg, opt, devices, model_axis)
        params, state = init(np.stack([key] * args.devices))
        layout = f"mesh {args.mesh[0]} (data) x {args.mesh[1]} (model) devices"
    baseline = unigram_loss(train_tokens, held_out, cfg.vocab)
    print(f"train_lm: {pw.models.count_params(cfg):,} parameters, {len(train_tokens):,} training "
          f"bytes, {layout}, {args.mesh[0]} x {args.batch} x {cfg.seq_len} tokens per step; "
          f"unigram baseline {baseline:.3f} nats/byte", flush=True)
    first, params, state, losses = restore_checkpoint(args, params, state)

    def run_step(params: Any, state: Any, step: int) -> tuple[Any, Any, Any]:
        out: tuple[Any, Any, Any] = train_step(params, state, batches(
            train_tokens, args.seed, step, args.mesh, args.batch, cfg.seq_len))
        return out

    start = time.time()
    params, state = train_loop(args, run_step, params, state, first, losses,
                               args.mesh[0] * args.batch * cfg.seq_len)
    elapsed = time.time() - start
    steps_run = args.steps - first
    held = [float(np.asarray(eval_step(params, batches(held_out, args.seed + 1, i, args.mesh,
                                                       args.batch, cfg.seq_len))).reshape(-1)[0])
            for i in range(args.eval_batches)]
    held_loss = float(np.mean(held))
    tokens = steps_run * args.mesh[0] * args.batch * cfg.seq_len
    print(f"train_lm: {steps_run} steps in {elapsed:.1f} s ({tokens / max(elapsed, 1e-9):,.0f} "
          f"tokens/s); train loss {np.mean(losses[-20:]):.3f}, held-out loss {held_loss:.3f} nats/byte "
          f"(unigram {baseline:.3f})", flush=True)
    if args.plot:
        plot(losses, held_loss, baseline, args.plot)
    if args.sample:
        assert next_logits is not None, "parse_args rejects --sample with pipeline stages"
        print(repr(sample(params, next_logits, cfg, args)))
    return TrainResult(held_loss, baseline, losses)


def train_loop(args: argparse.Namespace, run_step: Callable[[Any, Any, int], tuple[Any, Any, Any]],
               params: Any, state: Any, first: int, losses: list[float],
               tokens_per_step: int) -> tuple[Any, Any]:
    """Steps first .. args.steps - 1, keeping at most args.in_flight steps ahead of the devices;
    appends each step's loss to `losses` and checkpoints when asked. Returns (params, state)."""
    pending: list[tuple[int, Any]] = []
    bar = progress(args.steps - first, not args.no_progress)
    start = time.time()

    def drain(keep: int) -> None:
        while len(pending) > keep:
            done_step, done = pending.pop(0)
            value = float(np.asarray(done)[0])
            if not math.isfinite(value):
                raise SystemExit(f"train_lm: the loss is {value} at step {done_step}; stopping")
            losses.append(value)
            rate = (done_step + 1 - first) * tokens_per_step / (time.time() - start)
            if bar is not None:
                bar.set_postfix(loss=f"{value:.3f}", tok_s=f"{rate:,.0f}")
                bar.update(1)
            elif done_step % 50 == 0 or done_step == args.steps - 1:
                print(f"step {done_step}: loss {value:.3f}, {rate:,.0f} tokens/s", flush=True)

    for step in range(first, args.steps):
        params, state, loss = run_step(params, state, step)
        pending.append((step, loss))
        drain(args.in_flight)
        done = step + 1
        if args.checkpoint_dir and (done == args.steps or
                                    (args.checkpoint_every and done % args.checkpoint_every == 0)):
            drain(0)  # the checkpoint's loss history is complete
            directory = save_checkpoint(args, done, params, state, losses)
            if bar is None:
                print(f"train_lm: checkpoint of step {done} in {directory}", flush=True)
    drain(0)
    if bar is not None:
        bar.close()
    return params, state


def plot(losses: list[float], held_loss: float, baseline: float, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(losses, label="training loss")
    ax.axhline(held_loss, color="tab:green", linestyle="--", label=f"held-out {held_loss:.2f}")
    ax.axhline(baseline, color="tab:red", linestyle=":", label=f"unigram {baseline:.2f}")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/byte)")
    ax.set_title("byte-level transformer LM on Debian's license texts")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"train_lm: loss curve in {path}")


def sample(params: Any, next_logits: pw.PmapFunction, cfg: pw.models.TransformerConfig,
           args: argparse.Namespace) -> str:
    """Generates args.sample bytes after the prompt: greedy, or at args.temperature."""
    rng = np.random.default_rng(args.seed + 2)
    text = list(args.prompt.encode("utf-8", "replace"))[-cfg.seq_len:] or [ord(" ")]
    out: list[int] = []
    for _ in range(args.sample):
        window = np.zeros(cfg.seq_len, np.int32)
        context = text[-cfg.seq_len:]
        window[:len(context)] = context
        n = args.devices
        logits = np.asarray(next_logits(params, np.stack([window] * n),
                                        np.full((n,), len(context) - 1, np.int32)))[0]
        if args.temperature <= 0:
            byte = int(np.argmax(logits))
        else:
            p = np.exp((logits - logits.max()) / args.temperature)
            byte = int(rng.choice(len(p), p=p / p.sum()))
        text.append(byte)
        out.append(byte)
    return bytes(out).decode("utf-8", "replace")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    pw.init(hosts=args.pipeline_stages, devices_per_host=args.devices)
    try:
        train(args)
    finally:
        pw.shutdown()


if __name__ == "__main__":
    main()
