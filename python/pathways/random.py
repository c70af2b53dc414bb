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

import numpy as _np

from . import _tracer as _t
from . import lax as _lax
from . import numpy as _pnp

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = _np.int32(0x1BD11BDA)


def _traced(*xs):
    return any(isinstance(x, _t.Tracer) for x in xs)


def _as_words(x):
    """Host values as int32 words (uint32 bit patterns kept)."""
    a = _np.asarray(x)
    if a.dtype == _np.uint32:
        return a.view(_np.int32)
    return a.astype(_np.int32)


def _add(a, b):
    if _traced(a, b):
        return _pnp.add(a, b)  # i32 addition wraps
    return (_as_words(a).view(_np.uint32) + _as_words(b).view(_np.uint32)).view(_np.int32)


def _rotl(x, r):
    return _pnp.bitwise_or(_lax.shift_left(x, r), _lax.shift_right_logical(x, 32 - r))


def threefry_2x32(key, x0, x1):
    """Threefry-2x32-20 of the counter words (x0, x1) under `key` (int32[2]): two int32
    arrays of x0's shape."""
    k0, k1 = key[0], key[1]
    ks = (k0, k1, _pnp.bitwise_xor(_pnp.bitwise_xor(k0, k1), _PARITY))
    x0 = _add(x0, ks[0])
    x1 = _add(x1, ks[1])
    for s in range(1, 6):
        for r in _ROTATIONS[(s - 1) % 2]:
            x0 = _add(x0, x1)
            x1 = _pnp.bitwise_xor(_rotl(x1, r), x0)
        x0 = _add(x0, ks[s % 3])
        x1 = _add(_add(x1, ks[(s + 1) % 3]), _np.int32(s))
    return x0, x1


def _counters(n, like):
    """0, 1, ..., n-1 as int32 words: traced (an iota) when `like` is traced."""
    if isinstance(like, _t.Tracer):
        return _t.iota(like._trace, _np.int32, (n,), 0)
    if _t.current_trace() is not None:
        return _t.iota(_t.current_trace(), _np.int32, (n,), 0)
    return _np.arange(n, dtype=_np.int32)


def _check_key(key, what):
    shape = tuple(key.shape) if hasattr(key, "shape") else _np.shape(key)
    if shape != (2,):
        raise ValueError(f"{what}: a key is int32[2] (from PRNGKey or split), got shape {shape}")
    if not _traced(key):
        key = _as_words(key)
    elif key.dtype != _np.int32:
        raise TypeError(f"{what}: a key is int32[2], got {key.dtype}")
    return key


def random_bits(key, n):
    """n 32-bit words (int32) from `key`: the counters 0..n-1 (padded with one 0 when n is odd)
    split in two halves, as JAX's threefry_2x32 does."""
    key = _check_key(key, "random_bits")
    half = (n + 1) // 2
    count = _counters(2 * half, key)
    if n % 2:
        count = _pnp.where(_pnp.equal(count, n), 0, count)
    y0, y1 = threefry_2x32(key, count[:half], count[half:])
    bits = _pnp.concatenate([y0, y1])
    return bits[:n] if n != 2 * half else bits


def PRNGKey(seed):  # noqa: N802 - JAX's name
    """A key from an integer seed, as JAX makes it: the words (0, seed) for a seed that fits 32
    bits (negative ones as their bit pattern), (high 32 bits, low 32 bits) for a wider one."""
    if _traced(seed):
        raise TypeError("PRNGKey: the seed must be a host integer (fold_in a traced value instead)")
    seed = int(seed)
    high = 0 if -2**31 <= seed < 2**32 else (seed >> 32) & 0xFFFFFFFF
    return _np.array([high, seed & 0xFFFFFFFF], dtype=_np.uint32).view(_np.int32)


def split(key, num=2):
    """`num` new keys (int32[num, 2]) from `key`."""
    if int(num) < 1:
        raise ValueError(f"split: num must be >= 1, got {num}")
    return _pnp.reshape(random_bits(key, 2 * int(num)), (int(num), 2))


def fold_in(key, data):
    """A new key from `key` and an integer (e.g. the device's axis_index)."""
    key = _check_key(key, "fold_in")
    if _traced(key, data):
        word = _pnp.reshape(_pnp.asarray(_t.as_tracer(data, _t._trace_of(key, data)), _np.int32), (1,))
        y0, y1 = threefry_2x32(key, word * 0, word)
    else:
        word = _np.array([int(data) & 0xFFFFFFFF], dtype=_np.uint32).view(_np.int32)
        y0, y1 = threefry_2x32(key, _np.zeros(1, _np.int32), word)
    return _pnp.concatenate([y0, y1])


def _shape(shape):
    return (int(shape),) if isinstance(shape, (int, _np.integer)) else tuple(int(d) for d in shape)


def uniform(key, shape=(), dtype=_np.float32, minval=0.0, maxval=1.0):
    """Uniform in [minval, maxval): 24 random bits per value."""
    shape = _shape(shape)
    n = int(_np.prod(shape, dtype=_np.int64))
    bits = random_bits(key, max(n, 1))
    mantissa = _lax.shift_right_logical(bits, 8)  # 0 .. 2^24 - 1, exact in float32
    unit = _pnp.asarray(mantissa, dtype) * float(2.0 ** -24)
    out = _pnp.reshape(unit[:n] if n else unit[:0], shape)
    return out * (maxval - minval) + minval


def normal(key, shape=(), dtype=_np.float32):
    """Standard normal values (Box-Muller over two uniform draws)."""
    shape = _shape(shape)
    n = int(_np.prod(shape, dtype=_np.int64))
    u = uniform(key, (2 * max(n, 1),), dtype)
    u1, u2 = u[:max(n, 1)], u[max(n, 1):]
    radius = _pnp.sqrt(-2.0 * _pnp.log(1.0 - u1))
    z = radius * _pnp.cos(float(2 * _np.pi) * u2)
    return _pnp.reshape(z[:n] if n else z[:0], shape)


def bernoulli(key, p=0.5, shape=()):
    """True with probability p."""
    return _pnp.less(uniform(key, shape), p)


__all__ = ["PRNGKey", "bernoulli", "fold_in", "normal", "random_bits", "split", "threefry_2x32",
           "uniform"]
