"""pw.models: a decoder-only transformer language model as pure functions over a parameter
pytree (embedding, pre-norm blocks of causal multi-head attention and a GELU MLP, a final
norm, the output layer tied to the embedding, next-token cross-entropy).

    cfg = pw.models.TransformerConfig(vocab=256, d_model=64, heads=4, layers=2, seq_len=64)
    params = pw.models.init(pw.random.PRNGKey(0), cfg)       # inside a pmap: on the devices
    loss = pw.models.loss(params, tokens, cfg)                # tokens: int32[batch, seq_len + 1]

Every function is made of pw.numpy / pw.nn operations, so it runs traced inside pw.pmap (and
pw.grad differentiates it) or on NumPy values on the host.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as _np
import numpy.typing as _npt

from . import nn as _nn
from . import numpy as _pnp
from . import random as _random
from ._profiler import named_scope
from ._tree import tree_flatten, tree_unflatten
from ._types import ArrayLike, PyTree, Value
from .optimizers import GradientTransformation, OptState

__all__ = ["TransformerConfig", "apply", "count_params", "flops_per_token", "init",
           "init_with_optimizer", "loss", "num_params", "shard_params", "stack_blocks",
           "train_step", "unshard_params", "unstack_blocks"]


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """The model's sizes: vocabulary, width, attention heads, blocks, context length, MLP
    width as a multiple of d_model, and the standard deviation of the initial weights.

        >>> import pathways as pw
        >>> pw.models.TransformerConfig(d_model=64, heads=4).head_dim
        16
    """

    vocab: int = 256
    """The number of token ids."""
    d_model: int = 64
    """The width of the residual stream."""
    heads: int = 4
    """Attention heads per block (d_model must divide by it)."""
    layers: int = 2
    """The number of blocks."""
    seq_len: int = 64
    """The longest context (learned positions)."""
    mlp_ratio: int = 4
    """The MLP's hidden width as a multiple of d_model."""
    init_scale: float = 0.02
    """The standard deviation of the initial weights."""

    def __post_init__(self) -> None:
        for name in ("vocab", "d_model", "heads", "layers", "seq_len", "mlp_ratio"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"TransformerConfig.{name} must be a positive int, got {value!r}")
        if self.d_model % self.heads:
            raise ValueError(f"TransformerConfig: d_model ({self.d_model}) must be a multiple of "
                             f"heads ({self.heads})")

    @property
    def head_dim(self) -> int:
        """The width of one attention head: d_model // heads."""
        return self.d_model // self.heads


def init(key: ArrayLike, cfg: TransformerConfig) -> PyTree:
    """The parameters, drawn from `key` (normal * init_scale, learned positions too; norms at 1
    and 0). Inside a pmap they are computed on the devices."""
    d, hidden = cfg.d_model, cfg.mlp_ratio * cfg.d_model
    keys = _random.split(key, 2 + 4 * cfg.layers)
    k = iter(keys[i] for i in range(2 + 4 * cfg.layers))

    def dense(shape: tuple[int, ...]) -> Value:
        return _random.normal(next(k), shape) * cfg.init_scale

    params: dict[str, Any] = {"embed": dense((cfg.vocab, d)), "pos": dense((cfg.seq_len, d)), "blocks": [],
              "norm": {"scale": _np.ones(d, _np.float32), "bias": _np.zeros(d, _np.float32)}}
    for _ in range(cfg.layers):
        params["blocks"].append({
            "norm1": {"scale": _np.ones(d, _np.float32), "bias": _np.zeros(d, _np.float32)},
            "qkv": dense((d, 3 * d)),
            "out": dense((d, d)),
            "norm2": {"scale": _np.ones(d, _np.float32), "bias": _np.zeros(d, _np.float32)},
            "up": dense((d, hidden)),
            "down": dense((hidden, d)),
        })
    return params


def count_params(cfg: TransformerConfig) -> int:
    """The model's parameter count, from its configuration (no arrays needed).

        >>> import pathways as pw
        >>> pw.models.count_params(pw.models.TransformerConfig(vocab=256, d_model=64, layers=2))
        119424
    """
    d, hidden = cfg.d_model, cfg.mlp_ratio * cfg.d_model
    block = 4 * d + 3 * d * d + d * d + d * hidden + hidden * d  # norms, qkv, out, MLP
    return cfg.vocab * d + cfg.seq_len * d + cfg.layers * block + 2 * d


def stack_blocks(params: PyTree) -> PyTree:
    """`params` with "blocks" as one pytree of arrays with a leading [layers] axis instead of a
    list of blocks: apply, loss and train_step then run the layers as one lax.scan, so the
    compiled function holds one layer's instructions whatever the depth. unstack_blocks undoes
    it. Works on host values and inside a trace."""
    blocks = params["blocks"]
    if isinstance(blocks, dict):
        return params
    if not blocks:
        raise ValueError("stack_blocks: the model has no blocks")
    leaves = [tree_flatten(b)[0] for b in blocks]
    treedef = tree_flatten(blocks[0])[1]
    stacked = [_pnp.stack([layer[k] for layer in leaves]) for k in range(len(leaves[0]))]
    return {**params, "blocks": tree_unflatten(treedef, stacked)}


def unstack_blocks(params: PyTree) -> PyTree:
    """The inverse of stack_blocks: "blocks" as a list of per-layer blocks again."""
    blocks = params["blocks"]
    if not isinstance(blocks, dict):
        return params
    leaves, treedef = tree_flatten(blocks)
    layers = leaves[0].shape[0]
    return {**params, "blocks": [tree_unflatten(treedef, [x[i] for x in leaves])
                                 for i in range(layers)]}


def num_params(params: PyTree) -> int:
    """The number of parameters (elements of every leaf) of a parameter pytree."""
    return int(sum(_np.prod(_np.shape(x)) for x in tree_flatten(params)[0]))


def _layer_norm(x: Value, p: PyTree) -> Value:
    out: Value = _nn.standardize(x, axis=-1) * p["scale"] + p["bias"]
    return out


# Tensor (model) parallelism, Megatron-style: within a block, attention heads and the MLP's
# hidden units are split over the devices of a mesh axis; each device holds its columns of
# qkv / up and its rows of out / down (shard_params), and a sub-block's input and output cross
# the axis through the two operators below. Both are exact in the forward pass (no rounding
# difference between devices), so the replicas along the axis stay bit-identical.
def _copy_to_model_axis(x: Value, axis: str) -> Value:
    """Identity forward; the sum of the cotangents over the axis backward (Megatron's f)."""
    from . import lax as _lax
    s: Value = _lax.psum(x, axis)
    out: Value = _lax.stop_gradient(x) + (s - _lax.stop_gradient(s))
    return out


def _reduce_from_model_axis(h: Value, axis: str) -> Value:
    """The sum over the axis forward; identity backward (Megatron's g)."""
    from . import lax as _lax
    out: Value = _lax.stop_gradient(_lax.psum(h, axis)) + (h - _lax.stop_gradient(h))
    return out


def _attention(x: Value, p: PyTree, cfg: TransformerConfig) -> Value:
    batch, t, d = x.shape
    hd = cfg.head_dim
    h = p["qkv"].shape[1] // (3 * hd)  # this device's heads (all of them without a model axis)
    qkv = _pnp.reshape(x, (batch * t, d)) @ p["qkv"]            # [B*T, 3*h*hd]
    qkv = _pnp.transpose(_pnp.reshape(qkv, (batch, t, 3, h, hd)), (2, 0, 3, 1, 4))  # [3,B,H,T,hd]
    q, k, v = qkv[0], qkv[1], qkv[2]
    scores = (q @ _pnp.transpose(k, (0, 1, 3, 2))) * float(1.0 / _np.sqrt(hd))  # [B,H,T,T]
    causal: _npt.NDArray[Any] = _np.tril(_np.ones((t, t), _np.bool_))
    scores = _pnp.where(causal, scores, -1e9)
    weights = _nn.softmax(scores, axis=-1)
    out = _pnp.transpose(weights @ v, (0, 2, 1, 3))              # [B,T,H,hd]
    return _pnp.reshape(_pnp.reshape(out, (batch * t, h * hd)) @ p["out"], (batch, t, d))


def _mlp(x: Value, p: PyTree) -> Value:
    batch, t, d = x.shape
    hidden = _nn.gelu(_pnp.reshape(x, (batch * t, d)) @ p["up"])
    return _pnp.reshape(hidden @ p["down"], (batch, t, d))


def apply(params: PyTree, tokens: Value, cfg: TransformerConfig,
          model_axis: str | None = None) -> Value:
    """Next-token logits [batch, t, vocab] for int32 tokens [batch, t] (t <= seq_len). With
    `model_axis` (inside pw.pmap over a mesh), `params` are this device's tensor-parallel
    shards (shard_params) and every sub-block sums its partial output over the axis."""
    batch, t = tokens.shape
    if t > cfg.seq_len:
        raise ValueError(f"apply: {t} tokens, but the model's seq_len is {cfg.seq_len}")
    def enter(v: Value) -> Value:
        return v if model_axis is None else _copy_to_model_axis(v, model_axis)

    def leave(v: Value) -> Value:
        return v if model_axis is None else _reduce_from_model_axis(v, model_axis)

    with named_scope("embed"):
        x = _pnp.take(params["embed"], tokens, axis=0) + params["pos"][:t]
    def block_fn(x: Value, block: PyTree) -> tuple[Value, None]:
        with named_scope("attention"):
            x = x + leave(_attention(enter(_layer_norm(x, block["norm1"])), block, cfg))
        with named_scope("mlp"):
            x = x + leave(_mlp(enter(_layer_norm(x, block["norm2"])), block))
        return x, None

    if isinstance(params["blocks"], dict):  # stacked (stack_blocks): one scan over the layers
        from . import lax as _lax
        with named_scope("blocks"):
            x, _ = _lax.scan(block_fn, x, params["blocks"])
    else:
        for i, block in enumerate(params["blocks"]):
            with named_scope(f"block{i}"):
                x, _ = block_fn(x, block)
    with named_scope("logits"):
        x = _layer_norm(x, params["norm"])
        logits = _pnp.reshape(x, (batch * t, cfg.d_model)) @ _pnp.transpose(params["embed"])
        return _pnp.reshape(logits, (batch, t, cfg.vocab))


def loss(params: PyTree, tokens: Value, cfg: TransformerConfig,
         model_axis: str | None = None) -> Value:
    """Mean next-token cross-entropy (nats) of int32 tokens [batch, seq_len + 1]."""
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    logits = apply(params, inputs, cfg, model_axis)
    with named_scope("cross_entropy"):
        logp = _nn.log_softmax(logits, axis=-1)
        return -_pnp.mean(_pnp.sum(_nn.one_hot(targets, cfg.vocab) * logp, axis=-1))


def flops_per_token(cfg: TransformerConfig) -> int:
    """Training FLOPs per token (forward and backward: 3x the forward's 2 * parameters, plus
    attention's scores and weighted sums)."""
    d, t, layers = cfg.d_model, cfg.seq_len, cfg.layers
    dense = layers * (3 * d * d + d * d + 2 * cfg.mlp_ratio * d * d) + cfg.vocab * d
    attention = layers * 2 * t * d
    return 3 * 2 * (dense + attention)


def train_step(params: PyTree, opt_state: OptState, tokens: Value, cfg: TransformerConfig,
               optimizer: GradientTransformation, axis_name: str | None = None,
               model_axis: str | None = None) -> tuple[PyTree, OptState, Value]:
    """One training step as a pure function, to run inside pw.pmap: the loss and its gradient
    (averaged over the devices of `axis_name` when given: data parallelism; with `model_axis`,
    params are tensor-parallel shards over that mesh axis), the optimizer's update. Returns
    (params, opt_state, loss), the loss averaged like the gradient."""
    from . import lax as _lax
    from . import optimizers as _optimizers
    from ._grad import value_and_grad

    # Named scopes: the step's trace breaks down into forward/..., backward/..., all_reduce and
    # optimizer (pw.grad names the forward and backward passes).
    value, grads = value_and_grad(lambda p: loss(p, tokens, cfg, model_axis))(params)
    if axis_name is not None:
        with named_scope("all_reduce"):
            value, grads = _lax.pmean(value, axis_name), _lax.pmean(grads, axis_name)
    with named_scope("optimizer"):
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return _optimizers.apply_updates(params, updates), opt_state, value


def init_with_optimizer(key: ArrayLike, cfg: TransformerConfig, optimizer: GradientTransformation,
                        model_axis: str | None = None) -> tuple[PyTree, OptState]:
    """(params, optimizer state) from `key` (on the devices inside pw.pmap); with `model_axis`,
    this device's tensor-parallel shards of the same parameters init(key, cfg) draws."""
    params = init(key, cfg)
    if model_axis is not None:
        from . import lax as _lax
        params = shard_params(params, cfg, _lax.axis_index(model_axis), _lax.axis_size(model_axis))
    return params, optimizer.init(params)


def _shard_columns(cfg: TransformerConfig, size: int) -> tuple[dict[str, tuple[int, int, int]], int]:
    """Per weight, (axis, index function) taking shard `index` of `size`: the columns of qkv
    (each of q, k, v split by heads) and up, the rows of out and down."""
    d, hidden = cfg.d_model, cfg.mlp_ratio * cfg.d_model
    if cfg.heads % size or hidden % size:
        raise ValueError(f"shard_params: {size} model shards do not divide the {cfg.heads} heads "
                         f"and {hidden} hidden units")
    width = d // size
    return {"qkv": (1, 3, width), "out": (0, 1, width), "up": (1, 1, hidden // size),
            "down": (0, 1, hidden // size)}, d


def shard_params(params: PyTree, cfg: TransformerConfig, index: int | Value, size: int) -> PyTree:
    """Shard `index` of `size` of the tensor-parallel layout: per block, this shard's heads'
    columns of qkv and rows of out, and its slice of the MLP's hidden units (columns of up, rows
    of down); embeddings and norms replicated. `index` may be traced (pw.lax.axis_index)."""
    layout, d = _shard_columns(cfg, size)
    blocks = []
    for block in params["blocks"]:
        b = dict(block)
        for name, (axis, parts, width) in layout.items():
            full = block[name].shape[axis] // parts
            idx = _np.concatenate([p * full + _np.arange(width) for p in range(parts)]).astype(_np.int32)
            b[name] = _pnp.take(block[name], idx + index * width, axis=axis)
        blocks.append(b)
    out = dict(params)
    out["blocks"] = blocks
    return out


def unshard_params(shards: list[PyTree], cfg: TransformerConfig) -> PyTree:
    """The full parameters from every shard's (host) values, shards[i] from shard_params(.., i,
    len(shards)); for checking a tensor-parallel model against the unsharded one."""
    size = len(shards)
    layout, d = _shard_columns(cfg, size)
    out = dict(shards[0])
    out["blocks"] = []
    for i, block in enumerate(shards[0]["blocks"]):
        b = dict(block)
        for name, (axis, parts, width) in layout.items():
            pieces = [_np.split(_np.asarray(s["blocks"][i][name]), parts, axis=axis) for s in shards]
            b[name] = _np.concatenate([pieces[k][p] for p in range(parts) for k in range(size)], axis=axis)
        out["blocks"].append(b)
    return out
