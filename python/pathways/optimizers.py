"""pw.optimizers: gradient transformations over parameter pytrees (optax's conventions).

    opt = pw.optimizers.adamw(pw.optimizers.warmup_linear_decay(1e-3, 100, 1000))
    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    params = pw.optimizers.apply_updates(params, updates)

Every function is pure and made of pw.numpy operations, so inside a pmapped training step they
compile into the step itself: parameters and optimizer state stay on the devices as pw.Arrays
and never travel to the client. On concrete NumPy values they compute with NumPy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol, TypeAlias

import numpy as _np

from . import _tracer as _t
from . import numpy as _pnp
from ._tree import tree_flatten, tree_map, tree_paths
from ._types import ArrayLike, PyTree, Value

OptState: TypeAlias = "dict[str, PyTree]"
"""An optimizer's state: a dict of pytrees (its step "count", moments ...), as init returns it."""

Schedule: TypeAlias = "Callable[[Value], Value | float]"
"""A learning-rate schedule: the step count (a scalar array, traced or not) -> the rate."""


class InitFn(Protocol):
    """GradientTransformation.init: the optimizer state for `params`."""

    def __call__(self, params: PyTree) -> OptState: ...


class UpdateFn(Protocol):
    """GradientTransformation.update: (updates, new state) from gradients, the state and the
    parameters (which sgd does not read)."""

    def __call__(self, grads: PyTree, state: OptState, params: PyTree) -> tuple[PyTree, OptState]: ...


class GradientTransformation(NamedTuple):
    """An optimizer as a pair of pure functions (optax's convention): init(params) -> state and
    update(grads, state, params) -> (updates, state); apply the updates with apply_updates.

        >>> import numpy as np, pathways as pw
        >>> opt = pw.optimizers.sgd(0.1)
        >>> params = {"w": np.array([1.0, 2.0], np.float32)}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": np.array([1.0, 1.0], np.float32)}, state, params)
        >>> pw.optimizers.apply_updates(params, updates)["w"]
        array([0.9, 1.9], dtype=float32)
    """

    init: InitFn
    """The function making the optimizer state from the parameters."""
    update: UpdateFn
    """The function turning gradients into updates (and the next state)."""


# ---- learning-rate schedules (functions of the step count) -------------------------------------

def constant_schedule(value: float) -> Schedule:
    """The schedule whose rate is always `value`."""
    return lambda count: value


def linear_schedule(init_value: float, end_value: float, transition_steps: int) -> Schedule:
    """From init_value to end_value over transition_steps, then end_value.

        >>> import numpy as np, pathways as pw
        >>> float(pw.optimizers.linear_schedule(1.0, 0.0, 10)(np.float32(5)))
        0.5
    """
    if transition_steps <= 0:
        raise ValueError(f"linear_schedule: transition_steps must be positive, got {transition_steps}")

    def schedule(count: Value) -> Value | float:
        frac = _pnp.minimum(count / float(transition_steps), 1.0)
        return init_value + (end_value - init_value) * frac
    return schedule


def exponential_decay(init_value: float, decay_rate: float, transition_steps: int) -> Schedule:
    """init_value * decay_rate ** (count / transition_steps)."""
    if transition_steps <= 0 or decay_rate <= 0:
        raise ValueError("exponential_decay: transition_steps and decay_rate must be positive, got "
                         f"{transition_steps} and {decay_rate}")
    return lambda count: init_value * _pnp.exp(count * float(_np.log(decay_rate) / transition_steps))


def warmup_linear_decay(peak_value: float, warmup_steps: int, decay_steps: int,
                        end_value: float = 0.0) -> Schedule:
    """Linear warmup from 0 to peak_value over warmup_steps, then linear decay to end_value
    over decay_steps more."""
    if warmup_steps < 0 or decay_steps <= 0:
        raise ValueError(f"warmup_linear_decay: need warmup_steps >= 0 and decay_steps > 0, got "
                         f"{warmup_steps} and {decay_steps}")

    def schedule(count: Value) -> Value | float:
        warm = peak_value * count / float(max(warmup_steps, 1))
        frac = _pnp.minimum(_pnp.maximum(count - warmup_steps, 0.0) / float(decay_steps), 1.0)
        decay = peak_value + (end_value - peak_value) * frac
        return _pnp.where(_pnp.less(count, float(warmup_steps)), warm, decay)
    return schedule


def _schedule(learning_rate: float | Schedule) -> Schedule:
    return learning_rate if callable(learning_rate) else constant_schedule(learning_rate)


# ---- structure checks ---------------------------------------------------------------------------

def _paths(tree: PyTree) -> list[str]:
    return [p or "<root>" for p in tree_paths(tree)]


def _check_like(what: str, tree: PyTree, like: PyTree, like_name: str) -> None:
    """ValueError naming the first leaf where `tree` differs from `like` in structure or shape."""
    leaves, treedef = tree_flatten(tree)
    like_leaves, like_def = tree_flatten(like)
    if treedef != like_def:
        a, b = _paths(tree), _paths(like)
        for i, (pa, pb) in enumerate(zip(a, b)):
            if pa != pb:
                raise ValueError(f"{what}: the {like_name} differ from the gradients at leaf {i}: "
                                 f"{pb} vs {pa}")
        if len(a) != len(b):
            raise ValueError(f"{what}: the gradients have {len(a)} leaves, the {like_name} "
                             f"{len(b)} (first extra: {(a + b)[min(len(a), len(b))]})")
        raise ValueError(f"{what}: the gradients and the {like_name} have the same leaves in "
                         f"different containers: {treedef} vs {like_def}")
    for path, x, y in zip(_paths(tree), leaves, like_leaves):
        if tuple(_np.shape(x)) != tuple(_np.shape(y)):
            raise ValueError(f"{what}: leaf {path} has shape {tuple(_np.shape(x))} in the gradients "
                             f"but {tuple(_np.shape(y))} in the {like_name}")


def _zeros(x: ArrayLike) -> Value:
    """Zeros of x's shape and dtype, whatever x holds (inf and NaN too)."""
    if isinstance(x, _t.Tracer):
        return _t.broadcast_to(_t.as_tracer(_np.zeros((), x.dtype), x._trace), x.shape)
    return _np.zeros(_np.shape(x), _np.asarray(x).dtype)


def _zeros_like(tree: PyTree) -> PyTree:
    return tree_map(_zeros, tree)


def _check_state(what: str, state: object, keys: Sequence[str]) -> None:
    if not isinstance(state, dict) or set(state) != set(keys):
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{what}: the optimizer state is not one of {what}'s (its keys are {got}, "
                         f"expected {sorted(keys)}): pass the state its init returned")


def _zero_count(params: PyTree) -> Value | _np.float32:
    """The step count, 0, in the dtype of the parameters (float64 parameters count in float64,
    so bias corrections keep their precision)."""
    leaves = tree_flatten(params)[0]
    if not leaves:
        return _np.float32(0)
    return _pnp.sum(_zeros(leaves[0]))


# ---- optimizers ---------------------------------------------------------------------------------

def sgd(learning_rate: float | Schedule, momentum: float = 0.0,
        nesterov: bool = False) -> GradientTransformation:
    """Stochastic gradient descent with optional (Nesterov) momentum."""
    lr = _schedule(learning_rate)

    def init(params: PyTree) -> OptState:
        return {"count": _zero_count(params), "trace": _zeros_like(params) if momentum else None}

    def update(grads: PyTree, state: OptState, params: PyTree = None) -> tuple[PyTree, OptState]:
        _check_state("sgd", state, ("count", "trace"))
        if momentum:
            _check_like("sgd", grads, state["trace"], "optimizer state")
        step = lr(state["count"])
        if momentum:
            trace = tree_map(lambda t, g: momentum * t + g, state["trace"], grads)
            direction = tree_map(lambda t, g: momentum * t + g, trace, grads) if nesterov else trace
        else:
            trace, direction = None, grads
        updates = tree_map(lambda d: -step * d, direction)
        return updates, {"count": state["count"] + 1.0, "trace": trace}

    return GradientTransformation(init, update)


def adamw(learning_rate: float | Schedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 1e-4) -> GradientTransformation:
    """Adam with decoupled weight decay (Loshchilov & Hutter): the update is
    -lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * params)."""
    lr = _schedule(learning_rate)

    def init(params: PyTree) -> OptState:
        return {"count": _zero_count(params), "mu": _zeros_like(params), "nu": _zeros_like(params)}

    def update(grads: PyTree, state: OptState, params: PyTree) -> tuple[PyTree, OptState]:
        _check_state("adamw", state, ("count", "mu", "nu"))
        _check_like("adamw", grads, state["mu"], "optimizer state")
        _check_like("adamw", grads, params, "parameters")
        count = state["count"] + 1.0
        mu = tree_map(lambda m, g: b1 * m + (1.0 - b1) * g, state["mu"], grads)
        nu = tree_map(lambda v, g: b2 * v + (1.0 - b2) * g * g, state["nu"], grads)
        c1 = 1.0 - _pnp.power(float(b1), count)
        c2 = 1.0 - _pnp.power(float(b2), count)
        step = lr(state["count"])
        updates = tree_map(
            lambda m, v, p: -step * ((m / c1) / (_pnp.sqrt(v / c2) + eps) + weight_decay * p),
            mu, nu, params)
        return updates, {"count": count, "mu": mu, "nu": nu}

    return GradientTransformation(init, update)


def adam(learning_rate: float | Schedule, b1: float = 0.9, b2: float = 0.999,
         eps: float = 1e-8) -> GradientTransformation:
    """Adam: adamw without weight decay."""
    return adamw(learning_rate, b1, b2, eps, weight_decay=0.0)


def apply_updates(params: PyTree, updates: PyTree) -> PyTree:
    """params + updates, leaf by leaf (the two must have the same structure and shapes)."""
    _check_like("apply_updates", updates, params, "parameters")
    return tree_map(lambda p, u: p + u, params, updates)


def global_norm(tree: PyTree) -> Value:
    """sqrt of the sum of squares of every leaf (for clipping and logging)."""
    leaves = tree_flatten(tree)[0]
    total: ArrayLike = sum(_pnp.sum(x * x) for x in leaves)
    return _pnp.sqrt(total)


__all__ = ["GradientTransformation", "InitFn", "UpdateFn", "adam", "adamw", "apply_updates", "constant_schedule",
           "exponential_decay", "global_norm", "linear_schedule", "sgd",
           "warmup_linear_decay"]
