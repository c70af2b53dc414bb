"""Pipelined training of the pw.models transformer as ONE program per step (GPipe).

    pipe = pw.pipeline.Pipeline(cfg, optimizer, stage_devices=[s0.devices, s1.devices], microbatches=4)
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
forward before every backward on each stage. With several devices per stage slice, each stage
is also data-parallel over them (gradients averaged over its "data" axis).

The losses equal the unpipelined model's on the same global batch (to float tolerance: the
microbatch gradients are summed in another order).
"""

import functools

import numpy as np

from . import lax as _lax
from . import models as _models
from . import nn as _nn
from . import numpy as _pnp
from . import optimizers as _optimizers
from ._grad import value_and_grad, vjp
from ._profiler import named_scope
from ._pmap import pmap
from ._program import program
from ._tree import tree_map


def _stage_blocks(cfg, stages, s):
    per = cfg.layers // stages
    return range(s * per, (s + 1) * per)


def stage_params(params, cfg, stages, s):
    """Stage s's part of the full parameters (a pytree): its blocks; stage 0 adds embed and
    pos; the last stage adds the final norm and a copy of embed (the tied output layer)."""
    p = {"blocks": [params["blocks"][i] for i in _stage_blocks(cfg, stages, s)]}
    if s == 0:
        p["embed"], p["pos"] = params["embed"], params["pos"]
    if s == stages - 1:
        p["norm"], p["out_embed"] = params["norm"], params["embed"]
    return p


def _run_blocks(p, x, cfg, first_block):
    for i, block in enumerate(p["blocks"]):
        with named_scope(f"block{first_block + i}"):
            x = x + _models._attention(_models._layer_norm(x, block["norm1"]), block, cfg)
            x = x + _models._mlp(_models._layer_norm(x, block["norm2"]), block)
    return x


class Pipeline:
    def __init__(self, cfg, optimizer, stage_devices, microbatches, data_axis="data"):
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

    def bubble_fraction(self):
        """The GPipe schedule's idle share of each stage: (S - 1) / (M + S - 1)."""
        return (self.stages - 1) / (self.microbatches + self.stages - 1)

    def _build(self, axis):
        cfg, S, opt = self.cfg, self.stages, self.opt
        last = S - 1

        def forward(s, p, x):
            """Stage s's forward: tokens -> activations (s = 0), activations -> activations."""
            if s == 0:  # tokens [batch, T + 1]: the inputs are all but the last
                x = x[:, :-1]
                x = _pnp.take(p["embed"], x, axis=0) + p["pos"][:x.shape[1]]
            return _run_blocks(p, x, cfg, _stage_blocks(cfg, S, s)[0])

        def last_loss(p, h, tokens):
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

        def accumulate(acc, g):
            return g if acc is None else tree_map(lambda a, b: a + b, acc, g)

        # The backward calls add their gradient into the running sum (`acc`, absent for the
        # first microbatch): one call per stage and microbatch.
        # The last stage's loss is its forward call (in the forward phase, like every stage);
        # its backward call recomputes it, like every stage's backward.
        def last_backward(p, h, tokens, acc=None):
            _, (gp, gh) = value_and_grad(last_loss, argnums=(0, 1))(p, h, tokens)
            return accumulate(acc, gp), gh
        self._last = pmap(last_backward, devices=self.devices[last], name=f"bwd{last}")

        def backward(s, p, x, ct, acc=None):
            if s == 0:
                _, pull = vjp(lambda p: forward(0, p, x), p)
                return accumulate(acc, pull(ct)[0])
            _, pull = vjp(lambda p, x: forward(s, p, x), p, x)
            gp, gx = pull(ct)
            return accumulate(acc, gp), gx
        self._bwd = [pmap(functools.partial(backward, s), devices=self.devices[s], name=f"bwd{s}")
                     for s in range(last)]
        M = self.microbatches

        def update(grads, state, params):
            grads = tree_map(lambda g: g / float(M), grads)
            if self.n > 1:
                grads = _lax.pmean(grads, axis)
            updates, state = opt.update(grads, state, params)
            return _optimizers.apply_updates(params, updates), state
        self._update = [pmap(update, devices=self.devices[s], name=f"update{s}",
                             axis_name=None) for s in range(S)]
        def mean_loss(losses):
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

    def _init_stage(self, key, s):
        full = _models.init(key, self.cfg)
        p = stage_params(full, self.cfg, self.stages, s)
        return p, self.opt.init(p)

    def init(self, key):
        """[(params, optimizer state)] of every stage, each computed on its own slice from `key`
        (the same parameters pw.models.init(key, cfg) draws)."""
        return [self._init[s](np.stack([np.asarray(key)] * self.n)) for s in range(self.stages)]

    def _trace_step(self, state, microbatches):
        S, last = self.stages, self.stages - 1
        params = [p for p, _ in state]
        acts = []   # acts[k][s]: the input of stage s for microbatch k (s >= 1)
        losses, grads = [], [None] * S
        for k, mb in enumerate(microbatches):  # forwards, in microbatch order
            x, inputs = mb, [mb]
            for s in range(last):
                x = self._fwd[s](params[s], x)
                inputs.append(x)
            losses.append(self._eval_last(params[last], x, mb))
            acts.append(inputs)
        for k in reversed(range(len(microbatches))):  # backwards, last microbatch first
            acc = () if grads[last] is None else (grads[last],)
            grads[last], ct = self._last(params[last], acts[k][last], microbatches[k], *acc)
            for s in reversed(range(last)):
                acc = () if grads[s] is None else (grads[s],)
                if s > 0:
                    grads[s], ct = self._bwd[s](params[s], acts[k][s], ct, *acc)
                else:
                    grads[0] = self._bwd[0](params[0], acts[k][0], ct, *acc)
        first_embed, last_embed = grads[0]["embed"], grads[last]["out_embed"]
        grads[0] = self._tie[0](grads[0], last_embed)
        grads[last] = self._tie[1](grads[last], first_embed)
        new_state = [self._update[s](grads[s], state[s][1], params[s]) for s in range(S)]
        return new_state, self._mean(losses)

    def _trace_evaluate(self, state, microbatches):
        losses = []
        for mb in microbatches:
            x = mb
            for s in range(self.stages - 1):
                x = self._fwd[s](state[s][0], x)
            losses.append(self._eval_last(state[-1][0], x, mb))
        return self._mean(losses)

    def _split(self, tokens, what):
        tokens = np.asarray(tokens)
        if tokens.ndim != 3 or tokens.shape[0] != self.n:
            raise ValueError(f"Pipeline.{what}: tokens must be [{self.n}, batch, T + 1], got {tokens.shape}")
        if tokens.shape[1] % self.microbatches:
            raise ValueError(f"Pipeline.{what}: the batch of {tokens.shape[1]} does not split into "
                             f"{self.microbatches} microbatches")
        return np.split(tokens, self.microbatches, axis=1)

    def evaluate(self, state, tokens):
        """The loss on int32 tokens [devices, batch, T + 1] (forward passes only), as a future."""
        return self._evaluate(state, self._split(tokens, "evaluate"))

    def step(self, state, tokens):
        """One training step on int32 tokens [devices, batch, T + 1] (each stage's device i gets
        row i): returns (new state, loss averaged over the batch) as futures, one submission."""
        return self._step(state, self._split(tokens, "step"))
