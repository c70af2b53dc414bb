"""pw.nn: activation and normalisation functions with JAX's names (jax.nn), on traced values
(inside pw.pmap, recording ops that pw.grad differentiates) and on concrete NumPy values."""

import numpy as _np

from . import lax as _lax
from . import numpy as _pnp


def relu(x):
    """max(x, 0); its derivative at 0 is 0.5 (ties split evenly, as for maximum)."""
    return _pnp.maximum(x, 0.0)


def sigmoid(x):
    return 1.0 / (1.0 + _pnp.exp(-x))


def silu(x):
    """x * sigmoid(x) (swish)."""
    return x * sigmoid(x)


swish = silu


def gelu(x, approximate=True):
    """The Gaussian error linear unit, in its tanh form (JAX's default, approximate=True)."""
    if not approximate:
        raise NotImplementedError(
            "gelu(approximate=False) needs erf, which the IR does not have; use approximate=True")
    c = float(_np.sqrt(2.0 / _np.pi))
    return 0.5 * x * (1.0 + _pnp.tanh(c * (x + 0.044715 * x * x * x)))


def logsumexp(x, axis=-1, keepdims=False):
    """log(sum(exp(x), axis)), computed without overflow (the max is subtracted first; no
    derivative flows through it, as in JAX: it cancels)."""
    m = _lax.stop_gradient(_pnp.max(x, axis=axis, keepdims=True))
    out = m + _pnp.log(_pnp.sum(_pnp.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else _pnp.squeeze(out, axis=axis)


def log_softmax(x, axis=-1):
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x, axis=-1):
    return _pnp.exp(log_softmax(x, axis=axis))


def one_hot(x, num_classes, dtype=_np.float32):
    """x[..., None] == arange(num_classes), as `dtype`: integer labels to one-hot vectors."""
    if not isinstance(num_classes, (int, _np.integer)) or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be a positive int, got {num_classes!r}")
    classes = _np.arange(int(num_classes), dtype=_np.int32)
    return _pnp.asarray(_pnp.equal(_pnp.expand_dims(x, -1), classes), dtype=dtype)


def standardize(x, axis=-1, epsilon=1e-5):
    """(x - mean) / sqrt(var + epsilon) over `axis`: layer normalisation without its scale."""
    mean = _pnp.mean(x, axis=axis, keepdims=True)
    centered = x - mean
    var = _pnp.mean(centered * centered, axis=axis, keepdims=True)
    return centered * _pnp.rsqrt(var + epsilon)
