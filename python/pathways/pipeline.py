"""Pipelined training of the pw.models transformer as ONE program per step (GPipe).

    pipe = pw.pipeline.Pipeline(cfg, optimizer, stage_devices=[s0.devices, s1.devices], microbatches=4,
                                schedule="gpipe")                # or "1f1b"
    state = pipe.init(pw.random.PRNGKey(0))                   # each stage's part, on its slice
    state, loss = pipe.step(state, tokens)                    # tokens: int32[devices, batch, T + 1]

Stage s holds blocks [s L/S, (s+1) L/S) of the L blocks on its own slice (stage 0 also the
embeddings, the last stage the final norm and its own copy of the embedding the output layer is
tied to). A step splits the batch into M microbatches and traces, into one @pw.program: every
microbatch's forward through the stages (activations move slice to slice, host to host), the
loss on the last stage, every microbatch's backward in reverse (each stage's backward recomputes
its forward: pw.vjp), the gradients accumulated per stage, the tied embedding's two gradients
summed, and each stage's optimizer update. Parallel dispatch then lets the stages overlap:
stage s runs microbatch k while stage s+1 runs microbatch k-1 (the GPipe schedule, bubble
(S-1)/(M+S-1)). The per-device order of the calls is the program's order, which puts every
forward before every backward on each stage. schedule="1f1b" traces the same calls in the
1F1B order instead (each stage alternates one forward and one backward once the pipeline is
full), so a stage holds at most S - s microbatches' activations rather than all M: the host
frees each one after its backward, and the bubble is the same. With several devices per stage slice, each stage
is also data-parallel over them (gradients averaged over its "data" axis).

The losses equal the unpipelined model's on the same global batch (to float tolerance: the
microbatch gradients are summed in another order).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from . import lax as _lax
from . import models as _models
from . import nn as _nn
from . import numpy as _pnp
from . import optimizers as _optimizers
from ._grad import value_and_grad, vjp
from ._profiler import named_scope
from ._pmap import pmap
from ._program import program
from ._runtime import VirtualDevice
from ._tree import tree_map
from ._types import ArrayLike, PyTree, Value
from .optimizers import GradientTransformation

__all__ = ["Pipeline", "SCHEDULES", "one_f_one_b", "stage_params"]

# One call of a pipeline schedule: ("F" forward | "B" backward, stage, microbatch).
Op = tuple[str, int, int]


def _stage_blocks(cfg: _models.TransformerConfig, stages: int, s: int) -> range:
    per = cfg.layers // stages
    return range(s * per, (s + 1) * per)


def stage_params(params: PyTree, cfg: _models.TransformerConfig, stages: int, s: int) -> PyTree:
    """Stage s's part of the full parameters (a pytree): its blocks; stage 0 adds embed and
    pos; the last stage adds the final norm and a copy of embed (the tied output layer)."""
    p: dict[str, Any] = {"blocks": [params["blocks"][i] for i in _stage_blocks(cfg, stages, s)]}
    if s == 0:
        p["embed"], p["pos"] = params["embed"], params["pos"]
    if s == stages - 1:
        p["norm"], p["out_embed"] = params["norm"], params["embed"]
    return p


def _run_blocks(p: PyTree, x: Value, cfg: _models.TransformerConfig, first_block: int) -> Value:
    for i, block in enumerate(p["blocks"]):
        with named_scope(f"block{first_block + i}"):
            x = x + _models._attention(_models._layer_norm(x, block["norm1"]), block, cfg)
            x = x + _models._mlp(_models._layer_norm(x, block["norm2"]), block)
    return x


SCHEDULES = ("gpipe", "1f1b")
"""The pipeline schedules Pipeline takes."""


def one_f_one_b(stages: int, microbatches: int) -> list[Op]:
    """The 1F1B order of every stage's calls: [("F" | "B", stage, microbatch)] in an order that
    respects their dependencies (stage s's forward of k after stage s-1's, its backward after
    stage s+1's). Stage s runs min(S - s - 1, M) forwards, then alternates one forward and one
    backward, then the remaining backwards, so at most S - s microbatches are in flight on it.

        >>> import pathways as pw
        >>> pw.pipeline.one_f_one_b(2, 2)
        [('F', 0, 0), ('F', 1, 0), ('F', 0, 1), ('B', 1, 0), ('B', 0, 0), ('F', 1, 1), ('B', 1, 1), ('B', 0, 1)]
    """
    S, M = stages, microbatches
    queues: list[list[Op]] = []
    for s in range(S):
        warm = min(S - s - 1, M)
        ops = [("F", s, k) for k in range(warm)]
        f, b = warm, 0
        while f < M:
            ops.append(("F", s, f))
            ops.append(("B", s, b))
            f, b = f + 1, b + 1
        ops += [("B", s, k) for k in range(b, M)]
        queues.append(ops)
    done: set[Op] = set()
    order: list[Op] = []
    heads = [0] * S

    def ready(op: Op) -> bool:
        kind, s, k = op
        if kind == "F":
            return s == 0 or ("F", s - 1, k) in done
        return ("F", s, k) in done and (s == S - 1 or ("B", s + 1, k) in done)

    while len(order) < 2 * S * M:
        progressed = False
        for s in range(S):
            if heads[s] < len(queues[s]) and ready(queues[s][heads[s]]):
                op = queues[s][heads[s]]
                order.append(op)
                done.add(op)
                heads[s] += 1
                progressed = True
        assert progressed, "1F1B: no stage can proceed"
    return order


class Pipeline:
    """A pipelined training step of the pw.models transformer over one slice per stage (see the
    module's documentation): init(key) makes each stage's (params, optimizer state) on its
    slice, step(state, tokens) and evaluate(state, tokens) run one program each."""

    def __init__(self, cfg: _models.TransformerConfig, optimizer: GradientTransformation,
                 stage_devices: Sequence[Sequence[VirtualDevice]], microbatches: int,
                 data_axis: str = "data", schedule: str = "gpipe") -> None:
        stages = len(stage_devices)
        if stages < 2:
            raise ValueError(f"Pipeline: needs at least 2 stages, got {stages}")
        if cfg.layers % stages:
            raise ValueError(f"Pipeline: {stages} stages do not divide the model's {cfg.layers} layers")
        sizes = {len(d) for d in stage_devices}
        if len(sizes) != 1:
            raise ValueError(f"Pipeline: every stage needs a slice of one size; got sizes "
                             f"{[len(d) for d in stage_devices]}")
        if not isinstance(microbatches, int) or microbatches < 1:
            raise ValueError(f"Pipeline: microbatches must be a positive int, got {microbatches!r}")
        if schedule not in SCHEDULES:
            raise ValueError(f"Pipeline: schedule must be one of {SCHEDULES}, got {schedule!r}")
        self.schedule = schedule
        self.cfg, self.opt, self.stages, self.microbatches = cfg, optimizer, stages, microbatches
        self.devices = [list(d) for d in stage_devices]
        self.n = sizes.pop()
        if self.n > 1:
            for s, d in enumerate(self.devices):
                names = getattr(getattr(d[0], "slice", None), "axis_names", None) or ()
                if data_axis not in names:
                    raise ValueError(f"Pipeline: stage {s}'s slice of {self.n} devices needs a "
                                     f"{data_axis!r} axis (add_slice(..., axis_names=({data_axis!r},)))")
        self._build(data_axis)

    def bubble_fraction(self) -> float:
        """The idle share of each stage, (S - 1) / (M + S - 1), for both schedules (1F1B moves
        the same work in another order: it bounds the microbatches in flight, not the bubble)."""
        return (self.stages - 1) / (self.microbatches + self.stages - 1)

    def _build(self, axis: str) -> None:
        cfg, S, opt = self.cfg, self.stages, self.opt
        last = S - 1

        def forward(s: int, p: PyTree, x: Value) -> Value:
            """Stage s's forward: tokens -> activations (s = 0), activations -> activations."""
            if s == 0:  # tokens [batch, T + 1]: the inputs are all but the last
                x = x[:, :-1]
                x = _pnp.take(p["embed"], x, axis=0) + p["pos"][:x.shape[1]]
            return _run_blocks(p, x, cfg, _stage_blocks(cfg, S, s)[0])

        def last_loss(p: PyTree, h: Value, tokens: Value) -> Value:
            h = _run_blocks(p, h, cfg, _stage_blocks(cfg, S, last)[0])
            b, t, d = h.shape
            h = _models._layer_norm(h, p["norm"])
            logits = _pnp.reshape(_pnp.reshape(h, (b * t, d)) @ _pnp.transpose(p["out_embed"]), (b, t, cfg.vocab))
            logp = _nn.log_softmax(logits, axis=-1)
            return -_pnp.mean(_pnp.sum(_nn.one_hot(tokens[:, 1:], cfg.vocab) * logp, axis=-1))

        self._init = [pmap(functools.partial(self._init_stage, s=s), devices=self.devices[s],
                           name=f"init_stage{s}") for s in range(S)]
        self._fwd = [pmap(functools.partial(forward, s), devices=self.devices[s], name=f"fwd{s}")
                     for s in range(last)]

        def accumulate(acc: PyTree, g: PyTree) -> PyTree:
            return g if acc is None else tree_map(lambda a, b: a + b, acc, g)

        # The backward calls add their gradient into the running sum (`acc`, absent for the
        # first microbatch): one call per stage and microbatch.
        # The last stage's loss is its forward call (in the forward phase, like every stage);
        # its backward call recomputes it, like every stage's backward.
        def last_backward(p: PyTree, h: Value, tokens: Value,
                          acc: PyTree = None) -> tuple[PyTree, Value, Value]:
            loss, (gp, gh) = value_and_grad(last_loss, argnums=(0, 1))(p, h, tokens)
            return accumulate(acc, gp), gh, loss
        self._last = pmap(last_backward, devices=self.devices[last], name=f"bwd{last}")

        def backward(s: int, p: PyTree, x: Value, ct: Value, acc: PyTree = None) -> PyTree:
            if s == 0:
                _, pull = vjp(lambda p: forward(0, p, x), p)
                return accumulate(acc, pull(ct)[0])
            _, pull = vjp(lambda p, x: forward(s, p, x), p, x)
            gp, gx = pull(ct)
            return accumulate(acc, gp), gx
        self._bwd = [pmap(functools.partial(backward, s), devices=self.devices[s], name=f"bwd{s}")
                     for s in range(last)]
        M = self.microbatches

        def update(grads: PyTree, state: PyTree, params: PyTree) -> tuple[PyTree, PyTree]:
            grads = tree_map(lambda g: g / float(M), grads)
            if self.n > 1:
                grads = _lax.pmean(grads, axis)
            updates, state = opt.update(grads, state, params)
            return _optimizers.apply_updates(params, updates), state
        self._update = [pmap(update, devices=self.devices[s], name=f"update{s}",
                             axis_name=None) for s in range(S)]
        def mean_loss(losses: list[Value]) -> Value:
            total = functools.reduce(lambda a, b: a + b, losses) / float(len(losses))
            return total if self.n == 1 else _lax.pmean(total, axis)
        self._mean = pmap(mean_loss, devices=self.devices[last], name="mean_loss")
        # The tied embedding: stage 0's and the last stage's copies get the same summed gradient.
        self._tie = [pmap(lambda g, other, key=key: dict(g, **{key: g[key] + other}),
                          devices=self.devices[s], name=f"tie{s}")
                     for s, key in ((0, "embed"), (last, "out_embed"))]
        self._eval_last = pmap(last_loss, devices=self.devices[last], name=f"fwd{last}")
        self._step = program(self._trace_step)
        self._evaluate = program(self._trace_evaluate)

    def _init_stage(self, key: Value, s: int) -> tuple[PyTree, PyTree]:
        full = _models.init(key, self.cfg)
        p = stage_params(full, self.cfg, self.stages, s)
        return p, self.opt.init(p)

    def init(self, key: ArrayLike) -> list[tuple[PyTree, PyTree]]:
        """[(params, optimizer state)] of every stage, each computed on its own slice from `key`
        (the same parameters pw.models.init(key, cfg) draws)."""
        stacked = np.stack([np.asarray(key)] * self.n)
        return [self._init[s](stacked) for s in range(self.stages)]

    def _trace_step(self, state: PyTree, microbatches: list[Any]) -> tuple[PyTree, Any]:
        if self.schedule == "1f1b":
            return self._trace_step_1f1b(state, microbatches)
        S, last = self.stages, self.stages - 1
        params = [p for p, _ in state]
        acts: list[list[Any]] = []   # acts[k][s]: the input of stage s for microbatch k (s >= 1)
        losses: list[Any] = []
        grads: list[Any] = [None] * S
        for k, mb in enumerate(microbatches):  # forwards, in microbatch order
            x, inputs = mb, [mb]
            for s in range(last):
                x = self._fwd[s](params[s], x)
                inputs.append(x)
            losses.append(self._eval_last(params[last], x, mb))
            acts.append(inputs)
        for k in reversed(range(len(microbatches))):  # backwards, last microbatch first
            acc = () if grads[last] is None else (grads[last],)
            grads[last], ct, _ = self._last(params[last], acts[k][last], microbatches[k], *acc)
            for s in reversed(range(last)):
                acc = () if grads[s] is None else (grads[s],)
                if s > 0:
                    grads[s], ct = self._bwd[s](params[s], acts[k][s], ct, *acc)
                else:
                    grads[0] = self._bwd[0](params[0], acts[k][0], ct, *acc)
        return self._finish_step(state, grads, losses)

    def _trace_step_1f1b(self, state: PyTree, microbatches: list[Any]) -> tuple[PyTree, Any]:
        """The 1F1B order (one_f_one_b): the last stage's forward is its backward's own loss, so
        each microbatch's activations live from its forward to its backward only."""
        S, last = self.stages, self.stages - 1
        params = [p for p, _ in state]
        inputs: dict[tuple[int, int], Any] = {}   # (stage, k) -> the input of stage s for microbatch k
        cts: dict[tuple[int, int], Any] = {}  # (stage, k) -> the cotangent of its output
        losses: list[Any] = [None] * len(microbatches)
        grads: list[Any] = [None] * S
        for kind, s, k in one_f_one_b(S, len(microbatches)):
            if kind == "F":
                x = microbatches[k] if s == 0 else inputs[(s, k)]
                if s == 0:
                    inputs[(0, k)] = x
                if s < last:
                    inputs[(s + 1, k)] = self._fwd[s](params[s], x)
                continue
            acc = () if grads[s] is None else (grads[s],)
            if s == last:
                grads[s], cts[(s - 1, k)], losses[k] = self._last(
                    params[s], inputs.pop((s, k)), microbatches[k], *acc)
            elif s > 0:
                grads[s], cts[(s - 1, k)] = self._bwd[s](params[s], inputs.pop((s, k)),
                                                         cts.pop((s, k)), *acc)
            else:
                grads[0] = self._bwd[0](params[0], inputs.pop((0, k)), cts.pop((0, k)), *acc)
        return self._finish_step(state, grads, losses)

    def _finish_step(self, state: PyTree, grads: list[Any], losses: list[Any]) -> tuple[PyTree, Any]:
        S, last = self.stages, self.stages - 1
        params = [p for p, _ in state]
        first_embed, last_embed = grads[0]["embed"], grads[last]["out_embed"]
        grads[0] = self._tie[0](grads[0], last_embed)
        grads[last] = self._tie[1](grads[last], first_embed)
        new_state = [self._update[s](grads[s], state[s][1], params[s]) for s in range(S)]
        return new_state, self._mean(losses)

    def _trace_evaluate(self, state: PyTree, microbatches: list[Any]) -> Any:
        losses = []
        for mb in microbatches:
            x = mb
            for s in range(self.stages - 1):
                x = self._fwd[s](state[s][0], x)
            losses.append(self._eval_last(state[-1][0], x, mb))
        return self._mean(losses)

    def _split(self, tokens_in: npt.ArrayLike, what: str) -> list[npt.NDArray[Any]]:
        tokens = np.asarray(tokens_in)
        if tokens.ndim != 3 or tokens.shape[0] != self.n:
            raise ValueError(f"Pipeline.{what}: tokens must be [{self.n}, batch, T + 1], got {tokens.shape}")
        if tokens.shape[1] % self.microbatches:
            raise ValueError(f"Pipeline.{what}: the batch of {tokens.shape[1]} does not split into "
                             f"{self.microbatches} microbatches")
        return np.split(tokens, self.microbatches, axis=1)

    def evaluate(self, state: list[tuple[PyTree, PyTree]], tokens: npt.ArrayLike) -> PyTree:
        """The loss on int32 tokens [devices, batch, T + 1] (forward passes only), as a future."""
        return self._evaluate(state, self._split(tokens, "evaluate"))

    def step(self, state: list[tuple[PyTree, PyTree]],
             tokens: npt.ArrayLike) -> tuple[list[tuple[PyTree, PyTree]], PyTree]:
        """One training step on int32 tokens [devices, batch, T + 1] (each stage's device i gets
        row i): returns (new state, loss averaged over the batch) as futures, one submission."""
        new_state, loss = self._step(state, self._split(tokens, "step"))
        return new_state, loss
