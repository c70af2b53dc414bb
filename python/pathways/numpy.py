"""pw.numpy: a JAX-numpy-like namespace. On traced values (inside pw.pmap) the functions record
ops; on concrete values they compute with NumPy."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as _np
import numpy.typing as _npt

from . import _tracer as _t
from ._array import Array as _Array, canonical_dtype as _canonical_dtype
from ._types import ArrayLike, Axes, DTypeLike, ShapeLike, Value

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


def rsqrt(x: ArrayLike) -> Value:
    """1 / sqrt(x), elementwise."""
    if _traced(x):
        return _t.unary("rsqrt", x)
    out: _npt.NDArray[Any] = 1 / _np.sqrt(_concrete(x))
    return out


def dot(a: ArrayLike, b: ArrayLike) -> Value:
    """numpy.dot for rank <= 2 operands (matrix product; inner product of vectors)."""
    if _traced(a, b):
        return _t.matmul(a, b)
    out: _npt.NDArray[Any] = _np.dot(_concrete(a), _concrete(b))
    return out


class Reduction(Protocol):
    """The signature of sum, max and min: a reduction over `axis` (every axis for None)."""

    def __call__(self, x: ArrayLike, axis: Axes = None, keepdims: bool = False) -> Value: ...


class ArgReduction(Protocol):
    """The signature of argmax and argmin: int32 indices along one axis."""

    def __call__(self, x: ArrayLike, axis: int = -1) -> Value: ...


def _reduction(name: str, kind: str) -> Reduction:
    def f(x: ArrayLike, axis: Axes = None, keepdims: bool = False) -> Value:
        if _traced(x):
            return _t.reduce(kind, x, axis, keepdims)
        out: _npt.NDArray[Any] = getattr(_np, name)(_concrete(x), axis=axis, keepdims=keepdims)
        return out
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"numpy.{name} over `axis` (every axis for None)."
    return f


sum = _reduction("sum", "sum")
max = _reduction("max", "max")
min = _reduction("min", "min")
amax = max
amin = min


def mean(x: ArrayLike, axis: Axes = None, keepdims: bool = False) -> Value:
    """numpy.mean over `axis` (every axis for None); integers average as floating point."""
    if _traced(x):
        return _t.mean(x, axis, keepdims)
    # (NumPy's stub takes numeric operands only; a bad one raises TypeError here.)
    out: _npt.NDArray[Any] = _np.mean(_concrete(x), axis=axis, keepdims=keepdims)  # type: ignore[arg-type]
    return out


def reshape(x: ArrayLike, shape: ShapeLike) -> Value:
    """numpy.reshape: x in another shape of the same size (one -1 is inferred)."""
    if _traced(x):
        return _t.reshape(x, shape)
    return _np.reshape(_concrete(x), shape)


def transpose(x: ArrayLike, axes: Sequence[int] | None = None) -> Value:
    """numpy.transpose: the axes permuted (reversed for None)."""
    if _traced(x):
        return _t.transpose(x, axes)
    return _np.transpose(_concrete(x), axes)


def broadcast_to(x: ArrayLike, shape: ShapeLike) -> Value:
    """numpy.broadcast_to: x broadcast to `shape`."""
    if _traced(x):
        return _t.broadcast_to(x, shape)
    return _np.broadcast_to(_concrete(x), shape)


def concatenate(xs: Sequence[ArrayLike], axis: int = 0) -> Value:
    """numpy.concatenate: the arrays joined along an existing axis."""
    arrays = list(xs)
    if _traced(*arrays):
        return _t.concatenate(arrays, axis)
    return _np.concatenate([_concrete(x) for x in arrays], axis=axis)


def stack(xs: Sequence[ArrayLike], axis: int = 0) -> Value:
    """numpy.stack: the arrays (of one shape) joined along a new axis.

        >>> import pathways as pw
        >>> pw.numpy.stack([[1, 2], [3, 4]], axis=1)
        array([[1, 3],
               [2, 4]])
    """
    arrays = list(xs)
    if not arrays:
        raise ValueError("stack: needs at least one array")
    if _traced(*arrays):
        rank = builtins.max(x.ndim if isinstance(x, _t.Tracer) else _np.ndim(_concrete(x)) for x in arrays) + 1
        return _t.concatenate([expand_dims(x, int(axis) % rank) for x in arrays], int(axis) % rank)
    return _np.stack([_concrete(x) for x in arrays], axis=axis)


def expand_dims(x: ArrayLike, axis: int) -> Value:
    """numpy.expand_dims: x with a new axis of size 1 at `axis`."""
    if isinstance(x, _t.Tracer):
        rank = x.ndim + 1
        axis = int(axis) % rank
        return _t.reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])
    return _np.expand_dims(_concrete(x), axis)


def squeeze(x: ArrayLike, axis: int | Sequence[int] | None = None) -> Value:
    """numpy.squeeze: x without its axes of size 1 (only those of `axis` when given)."""
    if isinstance(x, _t.Tracer):
        axes = range(x.ndim) if axis is None else [int(a) % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)]
        for a in axes:
            if axis is not None and x.shape[a] != 1:
                raise ValueError(f"cannot squeeze axis {a} of size {x.shape[a]}")
        return _t.reshape(x, [d for i, d in enumerate(x.shape) if not (i in axes and d == 1)])
    return _np.squeeze(_concrete(x), axis)


def asarray(x: ArrayLike, dtype: DTypeLike = None) -> Value:
    """x as an array of a runtime dtype (`dtype` if given, canonicalized: int64 -> int32).

        >>> import pathways as pw
        >>> pw.numpy.asarray([1, 2]).dtype
        dtype('int32')
    """
    if isinstance(x, _t.Tracer):
        return x if dtype is None else _t.astype(x, dtype)
    out = _np.asarray(_concrete(x))
    return out.astype(_canonical_dtype(dtype if dtype is not None else out.dtype))


array = asarray


def zeros(shape: ShapeLike, dtype: DTypeLike = float32) -> _npt.NDArray[Any]:
    """numpy.zeros in a runtime dtype (float32 by default)."""
    return _np.zeros(shape, _canonical_dtype(dtype))


def ones(shape: ShapeLike, dtype: DTypeLike = float32) -> _npt.NDArray[Any]:
    """numpy.ones in a runtime dtype (float32 by default)."""
    return _np.ones(shape, _canonical_dtype(dtype))


def full(shape: ShapeLike, fill_value: ArrayLike, dtype: DTypeLike = float32) -> _npt.NDArray[Any]:
    """numpy.full in a runtime dtype (float32 by default)."""
    return _np.full(shape, fill_value, _canonical_dtype(dtype))


def zeros_like(x: _t.Tracer | _Array | _npt.NDArray[Any], dtype: DTypeLike = None) -> _npt.NDArray[Any]:
    """Host zeros of x's shape, in x's dtype or `dtype` (canonicalized)."""
    return _np.zeros(x.shape, _canonical_dtype(dtype or x.dtype))


def ones_like(x: _t.Tracer | _Array | _npt.NDArray[Any], dtype: DTypeLike = None) -> _npt.NDArray[Any]:
    """Host ones of x's shape, in x's dtype or `dtype` (canonicalized)."""
    return _np.ones(x.shape, _canonical_dtype(dtype or x.dtype))


def arange(start: int | float, stop: int | float | None = None, step: int | float = 1,
           dtype: DTypeLike = None) -> _npt.NDArray[Any]:
    """numpy.arange in a runtime dtype.

        >>> import pathways as pw
        >>> pw.numpy.arange(3)
        array([0, 1, 2], dtype=int32)
    """
    out = _np.arange(start, stop, step) if stop is not None else _np.arange(start)
    return out.astype(_canonical_dtype(dtype if dtype is not None else out.dtype))


def take(a: ArrayLike, indices: ArrayLike, axis: int = 0) -> Value:
    """Elements of `a` at integer `indices` along `axis` (clamped to the axis, as in XLA)."""
    if _traced(a, indices):
        return _t.take(a, indices, axis)
    host = _np.asarray(_concrete(a)) if isinstance(a, _Array) else a
    shape = _np.shape(host)
    return _np.take(host, _np.clip(_concrete(indices), 0, shape[axis] - 1), axis=axis)


def _arg_extremum(name: str, kind: str) -> ArgReduction:
    def f(x: ArrayLike, axis: int = -1) -> Value:
        if not isinstance(x, _t.Tracer):
            host: _npt.NDArray[Any] = getattr(_np, name)(_concrete(x), axis=axis)
            return host.astype(_np.int32)
        axis = _t._norm_axis(axis, x.ndim)
        n = x.shape[axis]
        extremum = _t.reduce(kind, x, axis, keepdims=True)
        index = _np.arange(n, dtype=_np.int32).reshape([n if i == axis else 1 for i in range(x.ndim)])
        # The first index holding the extremum, as NumPy.
        return _t.reduce("min", _t.where(_t.compare("EQ", x, extremum), index, n), axis)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"numpy.{name} along one axis (int32)."
    return f


argmax = _arg_extremum("argmax", "max")
argmin = _arg_extremum("argmin", "min")


def clip(x: ArrayLike, a_min: ArrayLike | None = None, a_max: ArrayLike | None = None) -> ArrayLike:
    """numpy.clip: x limited to [a_min, a_max] (either bound may be None)."""
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x


def square(x: ArrayLike) -> Value:
    """x * x, elementwise."""
    return multiply(x, x)


def cumsum(a: ArrayLike, axis: int | None = None, dtype: DTypeLike = None) -> Value:
    """Inclusive running sum along `axis` (over the flattened array for None); bools sum as
    int32. Traced: the cumsum op, whose derivative is the running sum the other way.

        >>> import pathways as pw
        >>> pw.numpy.cumsum([True, True, False])
        array([1, 2, 2], dtype=int32)
    """
    if _traced(a):
        x = _t.as_tracer(a)
        if axis is None:
            x = _t.reshape(x, (x.size,))
            axis = 0
        if dtype is not None:
            x = _t.astype(x, _canonical_dtype(dtype))
        return _t.cumsum(x, axis)
    host = _np.asarray(_concrete(a)) if isinstance(a, _Array) else a
    out: _npt.NDArray[Any] = _np.cumsum(host, axis=axis)
    kind = _np.asarray(host).dtype.kind
    target = _canonical_dtype(dtype) if dtype is not None else \
        (_np.dtype(_np.int32) if kind in "biu" else _np.asarray(host).dtype)
    return out.astype(target)
