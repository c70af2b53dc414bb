"""pw.models: a decoder-only transformer language model as pure functions over a parameter
pytree (embedding, pre-norm blocks of causal multi-head attention and a GELU MLP, a final
norm, the output layer tied to the embedding, next-token cross-entropy).

    cfg = pw.models.TransformerConfig(vocab=256, d_model=64, heads=4, layers=2, seq_len=64)
    params = pw.models.init(pw.random.PRNGKey(0), cfg)       # inside a pmap: on the devices
    loss = pw.models.loss(params, tokens, cfg)                # tokens: int32[batch, seq_len + 1]

Every function is made of pw.numpy / pw.nn operations, so it runs traced inside pw.pmap (and
pw.grad differentiates it) or on NumPy values on the host.
"""

import dataclasses

import numpy as _np

from . import nn as _nn
from . import numpy as _pnp
from . import random as _random
from ._profiler import named_scope
from ._tree import tree_flatten


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    vocab: int = 256
    d_model: int = 64
    heads: int = 4
    layers: int = 2
    seq_len: int = 64
    mlp_ratio: int = 4
    init_scale: float = 0.02

    def __post_init__(self):
        for name in ("vocab", "d_model", "heads", "layers", "seq_len", "mlp_ratio"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"TransformerConfig.{name} must be a positive int, got {value!r}")
        if self.d_model % self.heads:
            raise ValueError(f"TransformerConfig: d_model ({self.d_model}) must be a multiple of "
                             f"heads ({self.heads})")

    @property
    def head_dim(self):
        return self.d_model // self.heads


def init(key, cfg):
    """The parameters, drawn from `key` (normal * init_scale, learned positions too; norms at 1
    and 0). Inside a pmap they are computed on the devices."""
    d, hidden = cfg.d_model, cfg.mlp_ratio * cfg.d_model
    keys = _random.split(key, 2 + 4 * cfg.layers)
    k = iter(keys[i] for i in range(2 + 4 * cfg.layers))

    def dense(shape):
        return _random.normal(next(k), shape) * cfg.init_scale

    params = {"embed": dense((cfg.vocab, d)), "pos": dense((cfg.seq_len, d)), "blocks": [],
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


def num_params(params):
    return int(sum(_np.prod(_np.shape(x)) for x in tree_flatten(params)[0]))


def _layer_norm(x, p):
    return _nn.standardize(x, axis=-1) * p["scale"] + p["bias"]


def _attention(x, p, cfg):
    batch, t, d = x.shape
    h, hd = cfg.heads, cfg.head_dim
    qkv = _pnp.reshape(x, (batch * t, d)) @ p["qkv"]            # [B*T, 3D]
    qkv = _pnp.transpose(_pnp.reshape(qkv, (batch, t, 3, h, hd)), (2, 0, 3, 1, 4))  # [3,B,H,T,hd]
    q, k, v = qkv[0], qkv[1], qkv[2]
    scores = (q @ _pnp.transpose(k, (0, 1, 3, 2))) * float(1.0 / _np.sqrt(hd))  # [B,H,T,T]
    causal = _np.tril(_np.ones((t, t), _np.bool_))
    scores = _pnp.where(causal, scores, -1e9)
    weights = _nn.softmax(scores, axis=-1)
    out = _pnp.transpose(weights @ v, (0, 2, 1, 3))              # [B,T,H,hd]
    return _pnp.reshape(_pnp.reshape(out, (batch * t, d)) @ p["out"], (batch, t, d))


def _mlp(x, p):
    batch, t, d = x.shape
    hidden = _nn.gelu(_pnp.reshape(x, (batch * t, d)) @ p["up"])
    return _pnp.reshape(hidden @ p["down"], (batch, t, d))


def apply(params, tokens, cfg):
    """Next-token logits [batch, t, vocab] for int32 tokens [batch, t] (t <= seq_len)."""
    batch, t = tokens.shape
    if t > cfg.seq_len:
        raise ValueError(f"apply: {t} tokens, but the model's seq_len is {cfg.seq_len}")
    with named_scope("embed"):
        x = _pnp.take(params["embed"], tokens, axis=0) + params["pos"][:t]
    for i, block in enumerate(params["blocks"]):
        with named_scope(f"block{i}"):
            with named_scope("attention"):
                x = x + _attention(_layer_norm(x, block["norm1"]), block, cfg)
            with named_scope("mlp"):
                x = x + _mlp(_layer_norm(x, block["norm2"]), block)
    with named_scope("logits"):
        x = _layer_norm(x, params["norm"])
        logits = _pnp.reshape(x, (batch * t, cfg.d_model)) @ _pnp.transpose(params["embed"])
        return _pnp.reshape(logits, (batch, t, cfg.vocab))


def loss(params, tokens, cfg):
    """Mean next-token cross-entropy (nats) of int32 tokens [batch, seq_len + 1]."""
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    logits = apply(params, inputs, cfg)
    with named_scope("cross_entropy"):
        logp = _nn.log_softmax(logits, axis=-1)
        return -_pnp.mean(_pnp.sum(_nn.one_hot(targets, cfg.vocab) * logp, axis=-1))


def flops_per_token(cfg):
    """Training FLOPs per token (forward and backward: 3x the forward's 2 * parameters, plus
    attention's scores and weighted sums)."""
    d, t, layers = cfg.d_model, cfg.seq_len, cfg.layers
    dense = layers * (3 * d * d + d * d + 2 * cfg.mlp_ratio * d * d) + cfg.vocab * d
    attention = layers * 2 * t * d
    return 3 * 2 * (dense + attention)


def train_step(params, opt_state, tokens, cfg, optimizer, axis_name=None):
    """One training step as a pure function, to run inside pw.pmap: the loss and its gradient
    (averaged over the devices of `axis_name` when given: data parallelism), the optimizer's
    update. Returns (params, opt_state, loss), the loss averaged like the gradient."""
    from . import lax as _lax
    from . import optimizers as _optimizers
    from ._grad import value_and_grad

    # Named scopes: the step's trace breaks down into forward/..., backward/..., all_reduce and
    # optimizer (pw.grad names the forward and backward passes).
    value, grads = value_and_grad(lambda p: loss(p, tokens, cfg))(params)
    if axis_name is not None:
        with named_scope("all_reduce"):
            value, grads = _lax.pmean(value, axis_name), _lax.pmean(grads, axis_name)
    with named_scope("optimizer"):
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return _optimizers.apply_updates(params, updates), opt_state, value


def init_with_optimizer(key, cfg, optimizer):
    """(params, optimizer state) from `key` (on the devices inside pw.pmap)."""
    params = init(key, cfg)
    return params, optimizer.init(params)
