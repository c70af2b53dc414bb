"""pw.nn: activation and normalisation functions with JAX's names (jax.nn), on traced values
(inside pw.pmap, recording ops that pw.grad differentiates) and on concrete NumPy values."""

from __future__ import annotations

from typing import Any

import numpy as _np
import numpy.typing as _npt

from . import lax as _lax
from . import numpy as _pnp
from ._types import Axes, DTypeLike, Value

__all__ = ["gelu", "log_softmax", "logsumexp", "one_hot", "relu", "sigmoid", "silu",
           "softmax", "standardize", "swish"]


def relu(x: Value) -> Value:
    """max(x, 0); its derivative at 0 is 0.5 (ties split evenly, as for maximum).

        >>> import numpy as np, pathways as pw
        >>> pw.nn.relu(np.array([-1.0, 2.0]))
        array([0., 2.])
    """
    return _pnp.maximum(x, 0.0)


def sigmoid(x: Value) -> Value:
    """1 / (1 + exp(-x)), elementwise."""
    return 1.0 / (1.0 + _pnp.exp(-x))


def silu(x: Value) -> Value:
    """x * sigmoid(x) (swish)."""
    return x * sigmoid(x)


swish = silu


def gelu(x: Value, approximate: bool = True) -> Value:
    """The Gaussian error linear unit, in its tanh form (JAX's default, approximate=True)."""
    if not approximate:
        raise NotImplementedError(
            "gelu(approximate=False) needs erf, which the IR does not have; use approximate=True")
    c = float(_np.sqrt(2.0 / _np.pi))
    return 0.5 * x * (1.0 + _pnp.tanh(c * (x + 0.044715 * x * x * x)))


def logsumexp(x: Value, axis: Axes = -1, keepdims: bool = False) -> Value:
    """log(sum(exp(x), axis)), computed without overflow (the max is subtracted first; no
    derivative flows through it, as in JAX: it cancels)."""
    m = _lax.stop_gradient(_pnp.max(x, axis=axis, keepdims=True))
    out = m + _pnp.log(_pnp.sum(_pnp.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else _pnp.squeeze(out, axis=axis)  # type: ignore[arg-type]  # int axes


def log_softmax(x: Value, axis: Axes = -1) -> Value:
    """x - logsumexp(x, axis): log-probabilities over `axis`."""
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x: Value, axis: Axes = -1) -> Value:
    """exp(x) / sum(exp(x), axis), computed as exp(log_softmax(x)).

        >>> import numpy as np, pathways as pw
        >>> pw.nn.softmax(np.zeros(4))
        array([0.25, 0.25, 0.25, 0.25])
    """
    return _pnp.exp(log_softmax(x, axis=axis))


def one_hot(x: Value | _npt.ArrayLike, num_classes: int, dtype: DTypeLike = _np.float32) -> Value:
    """x[..., None] == arange(num_classes), as `dtype`: integer labels to one-hot vectors."""
    if not isinstance(num_classes, (int, _np.integer)) or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be a positive int, got {num_classes!r}")
    classes: _npt.NDArray[Any] = _np.arange(int(num_classes), dtype=_np.int32)
    return _pnp.asarray(_pnp.equal(_pnp.expand_dims(x, -1), classes), dtype=dtype)


def standardize(x: Value, axis: Axes = -1, epsilon: float = 1e-5) -> Value:
    """(x - mean) / sqrt(var + epsilon) over `axis`: layer normalisation without its scale."""
    mean = _pnp.mean(x, axis=axis, keepdims=True)
    centered = x - mean
    var = _pnp.mean(centered * centered, axis=axis, keepdims=True)
    return centered * _pnp.rsqrt(var + epsilon)
