"""pw.random: JAX-style counter-based random numbers (Threefry-2x32, 20 rounds; keys, split and
the raw bits follow JAX's original, non-partitionable Threefry, jax_threefry_partitionable=False).

A key is an int32[2] array (the bits of two 32-bit words); functions are pure: the same key and
shape give the same values, whichever device computes them and however many devices there
are. Inside a pmapped function they record ops (parameters are initialised on the devices,
never passing through the client); on host values they compute the same bits with NumPy.

    key = pw.random.PRNGKey(0)
    k1, k2 = pw.random.split(key)
    w = pw.random.normal(k1, (256, 256)) * 0.02
"""

from __future__ import annotations

from typing import Any

import numpy as _np
import numpy.typing as _npt

from . import _tracer as _t
from . import lax as _lax
from . import numpy as _pnp
from ._types import ArrayLike, DTypeLike, ShapeLike, Value

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = _np.int32(0x1BD11BDA)


def _traced(*xs: object) -> bool:
    return any(isinstance(x, _t.Tracer) for x in xs)


def _as_words(x: _npt.ArrayLike) -> _npt.NDArray[_np.int32]:
    """Host values as int32 words (uint32 bit patterns kept)."""
    a = _np.asarray(x)
    if a.dtype == _np.uint32:
        return a.view(_np.int32)
    return a.astype(_np.int32)


def _add(a: ArrayLike, b: ArrayLike) -> Value:
    if _traced(a, b):
        return _pnp.add(a, b)  # i32 addition wraps
    return (_as_words(a).view(_np.uint32) + _as_words(b).view(_np.uint32)).view(_np.int32)


def _rotl(x: Value, r: int) -> Value:
    return _pnp.bitwise_or(_lax.shift_left(x, r), _lax.shift_right_logical(x, 32 - r))


def threefry_2x32(key: Value, x0: Value, x1: Value) -> tuple[Value, Value]:
    """Threefry-2x32-20 of the counter words (x0, x1) under `key` (int32[2]): two int32
    arrays of x0's shape.

        >>> import numpy as np, pathways as pw
        >>> zero = np.zeros(1, np.int32)
        >>> [int(w[0]) & 0xFFFFFFFF for w in pw.random.threefry_2x32(np.zeros(2, np.int32), zero, zero)]
        [1797259609, 2579123966]
    """
    k0, k1 = key[0], key[1]
    ks: tuple[Value, Value, Value] = (k0, k1, _pnp.bitwise_xor(_pnp.bitwise_xor(k0, k1), _PARITY))
    x0 = _add(x0, ks[0])
    x1 = _add(x1, ks[1])
    for s in range(1, 6):
        for r in _ROTATIONS[(s - 1) % 2]:
            x0 = _add(x0, x1)
            x1 = _pnp.bitwise_xor(_rotl(x1, r), x0)
        x0 = _add(x0, ks[s % 3])
        x1 = _add(_add(x1, ks[(s + 1) % 3]), _np.int32(s))
    return x0, x1


def _counters(n: int, like: object) -> Value:
    """0, 1, ..., n-1 as int32 words: traced (an iota) when `like` is traced."""
    if isinstance(like, _t.Tracer):
        return _t.iota(like._trace, _np.int32, (n,), 0)
    trace = _t.current_trace()
    if trace is not None:
        return _t.iota(trace, _np.int32, (n,), 0)
    return _np.arange(n, dtype=_np.int32)


def _check_key(key: ArrayLike, what: str) -> Value:
    shape = tuple(key.shape) if hasattr(key, "shape") else _np.shape(key)
    if shape != (2,):
        raise ValueError(f"{what}: a key is int32[2] (from PRNGKey or split), got shape {shape}")
    if not isinstance(key, _t.Tracer):
        return _as_words(key)
    if key.dtype != _np.int32:
        raise TypeError(f"{what}: a key is int32[2], got {key.dtype}")
    return key


def random_bits(key: ArrayLike, n: int) -> Value:
    """n 32-bit words (int32) from `key`: the counters 0..n-1 (padded with one 0 when n is odd)
    split in two halves, as JAX's threefry_2x32 does."""
    words = _check_key(key, "random_bits")
    half = (n + 1) // 2
    count = _counters(2 * half, words)
    if n % 2:
        count = _pnp.where(_pnp.equal(count, n), 0, count)
    y0, y1 = threefry_2x32(words, count[:half], count[half:])
    bits = _pnp.concatenate([y0, y1])
    return bits[:n] if n != 2 * half else bits


def PRNGKey(seed: int | _np.integer[Any]) -> _npt.NDArray[_np.int32]:  # noqa: N802 - JAX's name
    """A key from an integer seed, as JAX makes it: the words (0, seed) for a seed that fits 32
    bits (negative ones as their bit pattern), (high 32 bits, low 32 bits) for a wider one.

        >>> import pathways as pw
        >>> pw.random.PRNGKey(42)
        array([ 0, 42], dtype=int32)
    """
    if _traced(seed):
        raise TypeError("PRNGKey: the seed must be a host integer (fold_in a traced value instead)")
    value = int(seed)
    high = 0 if -2**31 <= value < 2**32 else (value >> 32) & 0xFFFFFFFF
    return _np.array([high, value & 0xFFFFFFFF], dtype=_np.uint32).view(_np.int32)


def split(key: ArrayLike, num: int = 2) -> Value:
    """`num` new keys (int32[num, 2]) from `key`.

        >>> import pathways as pw
        >>> pw.random.split(pw.random.PRNGKey(0)).shape
        (2, 2)
    """
    if int(num) < 1:
        raise ValueError(f"split: num must be >= 1, got {num}")
    return _pnp.reshape(random_bits(key, 2 * int(num)), (int(num), 2))


def fold_in(key: ArrayLike, data: int | _t.Tracer) -> Value:
    """A new key from `key` and an integer (e.g. the device's axis_index)."""
    words = _check_key(key, "fold_in")
    if isinstance(words, _t.Tracer) or isinstance(data, _t.Tracer):
        word = _pnp.reshape(_pnp.asarray(_t.as_tracer(data, _t._trace_of(words, data)), _np.int32), (1,))
        y0, y1 = threefry_2x32(words, word * 0, word)
    else:
        host = _np.array([int(data) & 0xFFFFFFFF], dtype=_np.uint32).view(_np.int32)
        y0, y1 = threefry_2x32(words, _np.zeros(1, _np.int32), host)
    return _pnp.concatenate([y0, y1])


def _shape(shape: ShapeLike) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, (int, _np.integer)) else tuple(int(d) for d in shape)


def uniform(key: ArrayLike, shape: ShapeLike = (), dtype: DTypeLike = _np.float32,
            minval: float = 0.0, maxval: float = 1.0) -> Value:
    """Uniform in [minval, maxval): 24 random bits per value.

        >>> import pathways as pw
        >>> u = pw.random.uniform(pw.random.PRNGKey(0), (1000,))
        >>> bool(0.0 <= u.min() and u.max() < 1.0)
        True
    """
    dims = _shape(shape)
    n = int(_np.prod(dims, dtype=_np.int64))
    bits = random_bits(key, max(n, 1))
    mantissa = _lax.shift_right_logical(bits, 8)  # 0 .. 2^24 - 1, exact in float32
    unit = _pnp.asarray(mantissa, dtype) * float(2.0 ** -24)
    out = _pnp.reshape(unit[:n] if n else unit[:0], dims)
    return out * (maxval - minval) + minval


def normal(key: ArrayLike, shape: ShapeLike = (), dtype: DTypeLike = _np.float32) -> Value:
    """Standard normal values (Box-Muller over two uniform draws).

        >>> import pathways as pw
        >>> pw.random.normal(pw.random.PRNGKey(0), (2, 3)).shape
        (2, 3)
    """
    dims = _shape(shape)
    n = int(_np.prod(dims, dtype=_np.int64))
    u = uniform(key, (2 * max(n, 1),), dtype)
    u1, u2 = u[:max(n, 1)], u[max(n, 1):]
    radius = _pnp.sqrt(-2.0 * _pnp.log(1.0 - u1))
    z = radius * _pnp.cos(float(2 * _np.pi) * u2)
    return _pnp.reshape(z[:n] if n else z[:0], dims)


def bernoulli(key: ArrayLike, p: ArrayLike = 0.5, shape: ShapeLike = ()) -> Value:
    """True with probability p."""
    return _pnp.less(uniform(key, shape), p)


__all__ = ["PRNGKey", "bernoulli", "fold_in", "normal", "random_bits", "split", "threefry_2x32",
           "uniform"]
