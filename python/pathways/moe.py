"""pw.moe: a mixture-of-experts feed-forward layer (top-k gating, a fixed capacity per expert,
tokens routed to experts on other devices with all_to_all) and a small MoE transformer LM.

    cfg = pw.moe.MoEConfig(num_experts=8, top_k=2, capacity=16, d_model=32, hidden=64)
    y, stats = pw.moe.moe_layer(params, x, cfg, axis_name="expert")  # inside pw.pmap

Routing, on each device for its own tokens x [tokens, d_model] (static shapes throughout):
  probs = softmax(x @ gate);  k experts per token by top_k (ties to the lower expert index),
  each with its probability as weight; token t's j-th choice is the (t * k + j)-th assignment in
  token order, and an expert keeps the first `capacity` assignments it gets from this device:
  later ones are dropped (their contribution is zero; the residual around the layer keeps the
  token). Kept tokens travel to their expert's device (experts are split evenly over the
  `axis_name` devices, device g holding experts [g * E/D, (g + 1) * E/D)), through the expert
  (a GELU MLP), and back; the output is the weighted sum over the token's kept choices.
The load-balancing loss is E * sum_e f_e * P_e (f_e: the fraction of this device's assignments
that chose expert e, P_e: the mean probability of e), 1 when routing is uniform. Everything is
made of differentiable pw.numpy / pw.lax operations, so pw.grad trains the gate and the experts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as _np

from . import lax as _lax
from . import nn as _nn
from . import numpy as _pnp
from . import random as _random
from ._profiler import named_scope
from ._types import ArrayLike, PyTree, Value
from .optimizers import GradientTransformation, OptState

if TYPE_CHECKING:
    from .models import TransformerConfig

__all__ = ["MoEConfig", "MoETransformerConfig", "average_gradients", "init_layer",
           "init_transformer", "is_expert_param", "moe_layer", "shard_experts",
           "train_step", "transformer_loss"]


@dataclasses.dataclass(frozen=True)
class MoEConfig:
    """The layer's sizes: experts, choices per token (top_k), assignments an expert accepts
    from each device per step (capacity), widths, the load-balancing loss's weight and the
    standard deviation of the initial weights.

        >>> import pathways as pw
        >>> pw.moe.MoEConfig(num_experts=8).experts_per_device(4)
        2
    """

    num_experts: int = 4
    """Experts per layer (a multiple of the devices they are split over)."""
    top_k: int = 2
    """Experts each token is routed to."""
    capacity: int = 8
    """Assignments an expert accepts from each device per step (later ones are dropped)."""
    d_model: int = 32
    """The layer's input and output width."""
    hidden: int = 64
    """An expert MLP's hidden width."""
    load_balance_weight: float = 0.01
    """The load-balancing loss's weight in transformer_loss."""
    init_scale: float = 0.02
    """The standard deviation of the initial weights."""

    def __post_init__(self) -> None:
        for name in ("num_experts", "top_k", "capacity", "d_model", "hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"MoEConfig.{name} must be a positive int, got {value!r}")
        if self.top_k > self.num_experts:
            raise ValueError(f"MoEConfig: top_k ({self.top_k}) exceeds num_experts "
                             f"({self.num_experts})")

    def experts_per_device(self, devices: int) -> int:
        """E / D; ValueError when the experts do not split evenly over the devices."""
        if not isinstance(devices, int) or devices < 1 or self.num_experts % devices:
            raise ValueError(f"MoEConfig: {self.num_experts} experts do not split evenly over "
                             f"{devices} devices (num_experts must be a multiple of the devices)")
        return self.num_experts // devices


def init_layer(key: ArrayLike, cfg: MoEConfig, devices: int, index: int | None = None) -> PyTree:
    """The layer's parameters on one device of `devices` (its experts: index-th block of E/D),
    or, with index=None, of every expert (the host view a reference computes with)."""
    per = cfg.experts_per_device(devices)
    k_gate, k_up, k_down = _random.split(key, 3)
    e = cfg.num_experts
    params = {
        "gate": _random.normal(k_gate, (cfg.d_model, e)) * cfg.init_scale,
        "up": _random.normal(k_up, (e, cfg.d_model, cfg.hidden)) * cfg.init_scale,
        "down": _random.normal(k_down, (e, cfg.hidden, cfg.d_model)) * cfg.init_scale,
    }
    if index is None:
        return params
    return shard_experts(params, cfg, devices, index)


def shard_experts(params: PyTree, cfg: MoEConfig, devices: int, index: int) -> PyTree:
    """Device `index`'s view of full-layer parameters: the gate, and its block of experts."""
    per = cfg.experts_per_device(devices)
    lo = index * per
    return {"gate": params["gate"], "up": params["up"][lo:lo + per],
            "down": params["down"][lo:lo + per]}


def _route(x: Value, gate: Value, cfg: MoEConfig) -> tuple[Value, Value, Value, Value]:
    """(dispatch weights [S, E*C] (0/1), combine weights [S, E*C], load-balancing loss, kept
    fraction) for tokens x [T, d], S = T * top_k assignments in token order."""
    tokens = x.shape[0]
    e, k, c = cfg.num_experts, cfg.top_k, cfg.capacity
    probs = _nn.softmax(x @ gate, axis=-1)                       # [T, E]
    values, choice = _lax.top_k(probs, k)                        # [T, k] each
    s = tokens * k
    chosen = _nn.one_hot(_pnp.reshape(choice, (s,)), e)          # [S, E]
    # An assignment's place in its expert's queue: assignments before it that chose that expert.
    position = _pnp.cumsum(chosen, axis=0) - chosen              # [S, E]
    place = _pnp.sum(position * chosen, axis=-1).astype(_np.int32)  # [S]
    slot = _nn.one_hot(place, c)                                 # [S, C]; zeros past capacity
    dispatch = _pnp.reshape(chosen[:, :, None] * slot[:, None, :], (s, e * c))
    combine = dispatch * _pnp.reshape(values, (s,))[:, None]
    kept = _pnp.sum(dispatch) / float(s)
    fraction = _pnp.mean(chosen, axis=0)                         # f_e
    mean_prob = _pnp.mean(probs, axis=0)                         # P_e
    aux = float(e) * _pnp.sum(_lax.stop_gradient(fraction) * mean_prob)
    return dispatch, combine, aux, kept


def _experts(h: Value, params: PyTree) -> Value:
    """The local experts' MLPs on h [E_local, tokens, d]."""
    out: Value = _nn.gelu(h @ params["up"]) @ params["down"]
    return out


def moe_layer(params: PyTree, x: Value, cfg: MoEConfig,
              axis_name: str | None = None) -> tuple[Value, dict[str, Value]]:
    """The layer on this device's tokens x [tokens, d_model] -> (y [tokens, d_model], stats)
    where stats = {"aux_loss", "dropped_fraction"} (scalars for this device's tokens). With
    `axis_name`, the experts are split over that pmap axis and tokens travel by all_to_all;
    without, params hold every expert (one device, or a reference)."""
    with named_scope("moe"):
        e, c, k = cfg.num_experts, cfg.capacity, cfg.top_k
        dispatch, combine, aux, kept = _route(x, params["gate"], cfg)
        tokens, d = x.shape
        x_s = _pnp.reshape(_pnp.broadcast_to(x[:, None, :], (tokens, k, d)), (tokens * k, d))
        expert_in = _pnp.reshape(_pnp.transpose(dispatch) @ x_s, (e, c, d))  # [E, C, d]
        if axis_name is None:
            expert_out = _experts(expert_in, params)
        else:
            devices = _lax.axis_size(axis_name)
            per = cfg.experts_per_device(devices)
            if params["up"].shape[0] != per:
                raise ValueError(f"moe_layer: this device holds {params['up'].shape[0]} experts, "
                                 f"but {e} over {devices} devices is {per} each")
            with named_scope("dispatch"):
                blocks = _pnp.reshape(expert_in, (devices, per, c, d))
                got = _lax.all_to_all(blocks, axis_name, 0, 0)            # [D src, per, C, d]
                h = _pnp.reshape(_pnp.transpose(got, (1, 0, 2, 3)), (per, devices * c, d))
            out = _experts(h, params)
            with named_scope("combine"):
                back = _pnp.transpose(_pnp.reshape(out, (per, devices, c, d)), (1, 0, 2, 3))
                expert_out = _pnp.reshape(_lax.all_to_all(back, axis_name, 0, 0), (e, c, d))
        y_s = combine @ _pnp.reshape(expert_out, (e * c, d))                 # [S, d]
        y = _pnp.sum(_pnp.reshape(y_s, (tokens, k, d)), axis=1)
        return y, {"aux_loss": aux, "dropped_fraction": 1.0 - kept}


# ---- A small MoE transformer LM: attention blocks whose MLP is the MoE layer. ------------------

@dataclasses.dataclass(frozen=True)
class MoETransformerConfig:
    """A small MoE transformer LM: pw.models.TransformerConfig's sizes with every block's MLP
    an MoE layer of `moe` (whose d_model must be d_model)."""

    vocab: int = 64
    """The number of token ids."""
    d_model: int = 32
    """The width of the residual stream (moe.d_model too)."""
    heads: int = 4
    """Attention heads per block."""
    layers: int = 2
    """The number of blocks."""
    seq_len: int = 16
    """The longest context."""
    moe: MoEConfig = MoEConfig()
    """Every block's MoE layer."""

    def __post_init__(self) -> None:
        if self.moe.d_model != self.d_model:
            raise ValueError(f"MoETransformerConfig: moe.d_model ({self.moe.d_model}) must equal "
                             f"d_model ({self.d_model})")


def _dense_cfg(cfg: MoETransformerConfig) -> TransformerConfig:
    from . import models as _models
    return _models.TransformerConfig(vocab=cfg.vocab, d_model=cfg.d_model, heads=cfg.heads,
                                     layers=cfg.layers, seq_len=cfg.seq_len)


def init_transformer(key: ArrayLike, cfg: MoETransformerConfig, devices: int,
                     index: int | None = None) -> PyTree:
    """Parameters of the MoE LM on device `index` of `devices` (None: every expert): the dense
    transformer's (pw.models.init) with each block's MLP replaced by an MoE layer."""
    from . import models as _models
    k_dense, k_moe = _random.split(key, 2)
    params = _models.init(k_dense, _dense_cfg(cfg))
    keys = _random.split(k_moe, cfg.layers)
    for i, block in enumerate(params["blocks"]):
        del block["up"], block["down"]
        block["moe"] = init_layer(keys[i], cfg.moe, devices, index)
    return params


def transformer_loss(params: PyTree, tokens: Value, cfg: MoETransformerConfig,
                     axis_name: str | None = None) -> tuple[Value, tuple[Value, Value | float]]:
    """(cross-entropy + load_balance_weight * mean aux loss, (cross-entropy, mean dropped
    fraction)) of int32 tokens [batch, seq_len + 1] on this device."""
    from . import models as _models
    dense = _dense_cfg(cfg)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    batch, t = inputs.shape
    x = _pnp.take(params["embed"], inputs, axis=0) + params["pos"][:t]
    aux: Value | float = 0.0
    dropped: Value | float = 0.0
    for block in params["blocks"]:
        x = x + _models._attention(_models._layer_norm(x, block["norm1"]), block, dense)
        h = _pnp.reshape(_models._layer_norm(x, block["norm2"]), (batch * t, cfg.d_model))
        y, stats = moe_layer(block["moe"], h, cfg.moe, axis_name)
        x = x + _pnp.reshape(y, (batch, t, cfg.d_model))
        aux, dropped = aux + stats["aux_loss"], dropped + stats["dropped_fraction"]
    x = _models._layer_norm(x, params["norm"])
    logits = _pnp.reshape(x, (batch * t, cfg.d_model)) @ _pnp.transpose(params["embed"])
    logp = _nn.log_softmax(_pnp.reshape(logits, (batch, t, cfg.vocab)), axis=-1)
    ce = -_pnp.mean(_pnp.sum(_nn.one_hot(targets, cfg.vocab) * logp, axis=-1))
    aux, dropped = aux / cfg.layers, dropped / cfg.layers
    return ce + cfg.moe.load_balance_weight * aux, (ce, dropped)


def is_expert_param(path: str) -> bool:
    """Whether a parameter (a tree_paths path) belongs to one device's experts."""
    return "'moe'" in path and ("'up'" in path or "'down'" in path)


def average_gradients(grads: PyTree, axis_name: str) -> PyTree:
    """The gradients of the mean of every device's loss, from each device's gradients of its
    own: data-parallel parameters are averaged over `axis_name` (pmean); an expert's gradient
    already sums every device's contribution (the all_to_all's transpose brought them to its
    device), so it is divided by the device count."""
    from ._tree import tree_flatten, tree_paths, tree_unflatten
    leaves, treedef = tree_flatten(grads)
    devices = _lax.axis_size(axis_name)
    out = [g / float(devices) if is_expert_param(path) else _lax.pmean(g, axis_name)
           for g, path in zip(leaves, tree_paths(grads))]
    return tree_unflatten(treedef, out)


def train_step(params: PyTree, opt_state: OptState, tokens: Value, cfg: MoETransformerConfig,
               optimizer: GradientTransformation, axis_name: str) -> tuple[PyTree, OptState, PyTree]:
    """One data- and expert-parallel step on this device's tokens: (params, opt_state,
    {"loss", "cross_entropy", "dropped_fraction"} averaged over the devices)."""
    (loss, (ce, dropped)), grads = _grad_fn(cfg, axis_name)(params, tokens)
    grads = average_gradients(grads, axis_name)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    from .optimizers import apply_updates
    stats = {"loss": loss, "cross_entropy": ce, "dropped_fraction": dropped}
    return apply_updates(params, updates), opt_state, _lax.pmean(stats, axis_name)


def _grad_fn(cfg: MoETransformerConfig, axis_name: str) -> Callable[[PyTree, Value], PyTree]:
    from ._grad import value_and_grad
    return value_and_grad(lambda p, t: transformer_loss(p, t, cfg, axis_name), has_aux=True)
