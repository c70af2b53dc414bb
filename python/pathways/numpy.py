"""pw.numpy: a JAX-numpy-like namespace. On traced values (inside pw.pmap) the functions record
ops; on concrete values they compute with NumPy."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

import numpy as _np
import numpy.typing as _npt

from . import _tracer as _t
from ._array import Array as _Array, canonical_dtype as _canonical_dtype
from ._tracer import Axes as _Axes
from ._types import ArrayLike, DTypeLike, ShapeLike, Value

float32 = _np.float32
float64 = _np.float64
int32 = _np.int32
bool_ = _np.bool_
ndarray = _np.ndarray
pi = _np.pi
e = _np.e
inf = _np.inf


def _traced(*xs: object) -> bool:
    return builtins.any(isinstance(x, _t.Tracer) for x in xs)


def _concrete(x: ArrayLike) -> _npt.ArrayLike:
    """A host operand as NumPy takes it (a pw.Array fetched)."""
    assert not isinstance(x, _t.Tracer)
    return _np.asarray(x) if isinstance(x, _Array) else x


def _elementwise(name: str, np_fn: Callable[..., Any],
                 tracer_fn: Callable[[ArrayLike, ArrayLike], _t.Tracer]
                 ) -> Callable[[ArrayLike, ArrayLike], Value]:
    def f(a: ArrayLike, b: ArrayLike) -> Value:
        if _traced(a, b):
            return tracer_fn(a, b)
        out: _npt.NDArray[Any] = np_fn(_concrete(a), _concrete(b))
        return out
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Elementwise {name} (numpy broadcasting)."
    return f


def _elementwise1(name: str, np_fn: Callable[..., Any],
                  tracer_fn: Callable[[ArrayLike], _t.Tracer]) -> Callable[[ArrayLike], Value]:
    def f(x: ArrayLike) -> Value:
        if _traced(x):
            return tracer_fn(x)
        out: _npt.NDArray[Any] = np_fn(_concrete(x))
        return out
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Elementwise {name} (numpy broadcasting)."
    return f


add = _elementwise("add", _np.add, lambda a, b: _t.binary("add", a, b))
subtract = _elementwise("subtract", _np.subtract, lambda a, b: _t.binary("subtract", a, b))
multiply = _elementwise("multiply", _np.multiply, lambda a, b: _t.binary("multiply", a, b))
divide = _elementwise("divide", _np.divide, _t.divide)
true_divide = divide
power = _elementwise("power", _np.power, lambda a, b: _t.binary("power", a, b))
maximum = _elementwise("maximum", _np.maximum, lambda a, b: _t.binary("maximum", a, b))
minimum = _elementwise("minimum", _np.minimum, lambda a, b: _t.binary("minimum", a, b))
negative = _elementwise1("negative", _np.negative, lambda x: _t.unary("negate", x))
abs = _elementwise1("abs", _np.abs, lambda x: _t.unary("abs", x))
absolute = abs
exp = _elementwise1("exp", _np.exp, lambda x: _t.unary("exp", x))
log = _elementwise1("log", _np.log, lambda x: _t.unary("log", x))
tanh = _elementwise1("tanh", _np.tanh, lambda x: _t.unary("tanh", x))
sqrt = _elementwise1("sqrt", _np.sqrt, lambda x: _t.unary("sqrt", x))
sin = _elementwise1("sin", _np.sin, lambda x: _t.unary("sine", x))
cos = _elementwise1("cos", _np.cos, lambda x: _t.unary("cosine", x))
bitwise_and = _elementwise("bitwise_and", _np.bitwise_and, lambda a, b: _t.binary("and", a, b))
bitwise_or = _elementwise("bitwise_or", _np.bitwise_or, lambda a, b: _t.binary("or", a, b))
bitwise_xor = _elementwise("bitwise_xor", _np.bitwise_xor, lambda a, b: _t.binary("xor", a, b))
left_shift = _elementwise("left_shift", _np.left_shift, lambda a, b: _t.binary("shift_left", a, b))
equal = _elementwise("equal", _np.equal, lambda a, b: _t.compare("EQ", a, b))
not_equal = _elementwise("not_equal", _np.not_equal, lambda a, b: _t.compare("NE", a, b))
less = _elementwise("less", _np.less, lambda a, b: _t.compare("LT", a, b))
less_equal = _elementwise("less_equal", _np.less_equal, lambda a, b: _t.compare("LE", a, b))
greater = _elementwise("greater", _np.greater, lambda a, b: _t.compare("GT", a, b))
greater_equal = _elementwise("greater_equal", _np.greater_equal, lambda a, b: _t.compare("GE", a, b))
matmul = _elementwise("matmul", _np.matmul, _t.matmul)


def where(condition: ArrayLike, x: ArrayLike, y: ArrayLike) -> Value:
    """x where `condition` holds (is nonzero), else y, elementwise (numpy broadcasting).

        >>> import numpy as np, pathways as pw
        >>> pw.numpy.where(np.array([True, False]), 1.0, 2.0)
        array([1., 2.])
    """
    if _traced(condition, x, y):
        return _t.where(condition, x, y)
    out: _npt.NDArray[Any] = _np.where(_concrete(condition), _concrete(x), _concrete(y))
    return out


def rsqrt(x):
    if _traced(x):
        return _t.unary("rsqrt", x)
    return 1 / _np.sqrt(_concrete(x))


def dot(a, b):
    """numpy.dot for rank <= 2 operands (matrix product; inner product of vectors)."""
    if _traced(a, b):
        return _t.matmul(a, b)
    return _np.dot(_concrete(a), _concrete(b))


def _reduction(name, kind):
    def f(x, axis=None, keepdims=False):
        if _traced(x):
            return _t.reduce(kind, x, axis, keepdims)
        return getattr(_np, name)(_concrete(x), axis=axis, keepdims=keepdims)
    f.__name__ = name
    return f


sum = _reduction("sum", "sum")
max = _reduction("max", "max")
min = _reduction("min", "min")
amax = max
amin = min


def mean(x, axis=None, keepdims=False):
    if _traced(x):
        return _t.mean(x, axis, keepdims)
    return _np.mean(_concrete(x), axis=axis, keepdims=keepdims)


def reshape(x, shape):
    if _traced(x):
        return _t.reshape(x, shape)
    return _np.reshape(_concrete(x), shape)


def transpose(x, axes=None):
    if _traced(x):
        return _t.transpose(x, axes)
    return _np.transpose(_concrete(x), axes)


def broadcast_to(x, shape):
    if _traced(x):
        return _t.broadcast_to(x, shape)
    return _np.broadcast_to(_concrete(x), shape)


def concatenate(xs, axis=0):
    xs = list(xs)
    if _traced(*xs):
        return _t.concatenate(xs, axis)
    return _np.concatenate([_concrete(x) for x in xs], axis=axis)


def stack(xs, axis=0):
    """numpy.stack: the arrays (of one shape) joined along a new axis."""
    xs = list(xs)
    if not xs:
        raise ValueError("stack: needs at least one array")
    if _traced(*xs):
        rank = max(_np.ndim(x) if not _traced(x) else x.ndim for x in xs) + 1
        return _t.concatenate([expand_dims(x, int(axis) % rank) for x in xs], int(axis) % rank)
    return _np.stack([_concrete(x) for x in xs], axis=axis)


def expand_dims(x, axis):
    if _traced(x):
        rank = x.ndim + 1
        axis = int(axis) % rank
        return _t.reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])
    return _np.expand_dims(_concrete(x), axis)


def squeeze(x, axis=None):
    if _traced(x):
        axes = range(x.ndim) if axis is None else [int(a) % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)]
        for a in axes:
            if axis is not None and x.shape[a] != 1:
                raise ValueError(f"cannot squeeze axis {a} of size {x.shape[a]}")
        return _t.reshape(x, [d for i, d in enumerate(x.shape) if not (i in axes and d == 1)])
    return _np.squeeze(_concrete(x), axis)


def asarray(x, dtype=None):
    if _traced(x):
        return x if dtype is None else _t.astype(x, dtype)
    out = _np.asarray(_concrete(x))
    return out.astype(_canonical_dtype(dtype if dtype is not None else out.dtype))


array = asarray


def zeros(shape, dtype=float32):
    return _np.zeros(shape, _canonical_dtype(dtype))


def ones(shape, dtype=float32):
    return _np.ones(shape, _canonical_dtype(dtype))


def full(shape, fill_value, dtype=float32):
    return _np.full(shape, fill_value, _canonical_dtype(dtype))


def zeros_like(x, dtype=None):
    return _np.zeros(x.shape, _canonical_dtype(dtype or x.dtype))


def ones_like(x, dtype=None):
    return _np.ones(x.shape, _canonical_dtype(dtype or x.dtype))


def arange(start, stop=None, step=1, dtype=None):
    out = _np.arange(start, stop, step) if stop is not None else _np.arange(start)
    return out.astype(_canonical_dtype(dtype if dtype is not None else out.dtype))


def take(a, indices, axis=0):
    """Elements of `a` at integer `indices` along `axis` (clamped to the axis, as in XLA)."""
    if _traced(a, indices):
        return _t.take(a, indices, axis)
    a = _concrete(a)
    return _np.take(a, _np.clip(_concrete(indices), 0, a.shape[axis] - 1), axis=axis)


def _arg_extremum(name, kind):
    def f(x, axis=-1):
        if not _traced(x):
            return getattr(_np, name)(_concrete(x), axis=axis).astype(_np.int32)
        x = _t.as_tracer(x)
        axis = _t._norm_axis(axis, x.ndim)
        n = x.shape[axis]
        extremum = _t.reduce(kind, x, axis, keepdims=True)
        index = _np.arange(n, dtype=_np.int32).reshape([n if i == axis else 1 for i in range(x.ndim)])
        # The first index holding the extremum, as NumPy.
        return _t.reduce("min", _t.where(_t.compare("EQ", x, extremum), index, n), axis)
    f.__name__ = name
    f.__doc__ = f"numpy.{name} along one axis (int32)."
    return f


argmax = _arg_extremum("argmax", "max")
argmin = _arg_extremum("argmin", "min")


def clip(x, a_min=None, a_max=None):
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x


def square(x):
    return multiply(x, x)


def cumsum(a, axis=None, dtype=None):
    """Inclusive running sum along `axis` (over the flattened array for None); bools sum as
    int32. Traced: the cumsum op, whose derivative is the running sum the other way."""
    if _traced(a):
        x = _t.as_tracer(a)
        if axis is None:
            x = _t.reshape(x, (x.size,))
            axis = 0
        if dtype is not None:
            x = _t.astype(x, _canonical_dtype(dtype))
        return _t.cumsum(x, axis)
    x = _concrete(a)
    out = _np.cumsum(x, axis=axis)
    target = _canonical_dtype(dtype) if dtype is not None else \
        (_np.dtype(_np.int32) if x.dtype.kind in "biu" else x.dtype)
    return out.astype(target)
