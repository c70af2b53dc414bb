"""Shared pieces of the training benchmarks: random token batches, the timed loop (a bounded
number of steps in flight, as a training loop runs) and the SPMD configuration on a mesh."""

import functools
import json
import time

import numpy as np

import pathways as pw


def tokens_for(rng, rows, batch, cfg, repeat=1):
    """int32 [rows * repeat, batch, seq_len + 1]: each row's sequences repeated `repeat` times
    (the devices of one mesh row get the same data)."""
    t = rng.integers(0, cfg.vocab, size=(rows, batch, cfg.seq_len + 1)).astype(np.int32)
    return np.repeat(t, repeat, axis=0)


def time_steps(step, state, make_batch, steps, in_flight=2):
    """Seconds for `steps` calls of step(state, batch) -> (state, loss) after 2 untimed ones
    (trace, compile, warm up), keeping at most `in_flight` steps ahead; and the last state."""
    for _ in range(2):
        state, loss = step(state, make_batch())
    np.asarray(loss)
    pending = []
    start = time.perf_counter()
    for _ in range(steps):
        state, loss = step(state, make_batch())
        pending.append(loss)
        if len(pending) > in_flight:
            np.asarray(pending.pop(0))
    for loss in pending:
        np.asarray(loss)
    return time.perf_counter() - start, state


def spmd_tokens_per_second(cfg, opt, mesh, global_batch, steps, rng):
    """Training tokens/s of pw.models on a new (data, model) mesh slice of mesh[0] * mesh[1]
    devices: data-parallel over "data", tensor-parallel over "model" when it has > 1 device."""
    devs = pw.make_virtual_device_set().add_slice(devices=mesh[0] * mesh[1], mesh=mesh,
                                                  axis_names=("data", "model")).devices
    model_axis = "model" if mesh[1] > 1 else None
    init = pw.pmap(functools.partial(pw.models.init_with_optimizer, cfg=cfg, optimizer=opt,
                                     model_axis=model_axis), devices=devs)
    train = pw.pmap(functools.partial(pw.models.train_step, cfg=cfg, optimizer=opt, axis_name="data",
                                      model_axis=model_axis), devices=devs)
    state = init(np.stack([pw.random.PRNGKey(0)] * len(devs)))

    def step(state, tokens):
        p, o, loss = train(state[0], state[1], tokens)
        return (p, o), loss
    elapsed, _ = time_steps(step, state, lambda: tokens_for(rng, mesh[0], global_batch // mesh[0], cfg,
                                                            mesh[1]), steps)
    return steps * global_batch * cfg.seq_len / elapsed


def load_trace_events(path):
    """The complete ("X") events of a Chrome trace JSON file pw.trace wrote."""
    with open(path) as f:
        data = json.load(f)
    return [e for e in (data["traceEvents"] if isinstance(data, dict) else data) if e.get("ph") == "X"]


def bubble_from_trace(path, calls=None):
    """(bubble, span in ms) of one traced step: 1 - each device lane's busy time in "execute"
    events over the span from the first one's start to the last one's end, averaged over the
    lanes. `calls`: only executions whose name starts with one of these prefixes."""
    events = [e for e in load_trace_events(path) if e.get("cat") == "execute"
              and (calls is None or e["name"].split(" ")[0].startswith(tuple(calls)))]
    start = min(e["ts"] for e in events)
    end = max(e["ts"] + e["dur"] for e in events)
    busy = {}
    for e in events:
        busy[(e["pid"], e["tid"])] = busy.get((e["pid"], e["tid"]), 0.0) + e["dur"]
    return 1.0 - float(np.mean([b / (end - start) for b in busy.values()])), (end - start) / 1e3
