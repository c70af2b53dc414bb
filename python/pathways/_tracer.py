"""Tracers: the values a pmapped function sees while it is being traced.

Each Tracer wraps one value of the C++ FunctionBuilder (an integer handle). Python operators,
indexing and pw.numpy functions record ops on the builder; shape errors raise ValueError (dtype
errors TypeError) at the line that made them, with the builder's message.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from typing import Any, Literal, NoReturn, TypeGuard

import numpy as np
import numpy.typing as npt

from . import _array, _pathways
from ._types import ArrayLike, Axes, DTypeLike, Shape, ShapeLike

_ORDER = {np.dtype(np.bool_): 0, np.dtype(np.int32): 1, np.dtype(np.float32): 2, np.dtype(np.float64): 3}
_stack: list[PmapTrace] = []  # active PmapTraces, innermost last



class PmapTrace:
    """One trace of a pmapped function's body: its builder and its mapped axis. A trace made
    inside another (pw.grad's sub-function) has it as `parent`: values of the parent used
    inside become extra parameters of the sub-function (`captures`, the parent's ids in order)."""

    mesh: tuple[int, ...]
    mesh_axes: tuple[str, ...] | None

    def __init__(self, builder: _pathways.Builder, name: str, axis_name: str | None,
                 axis_size: int, parent: PmapTrace | None = None,
                 mesh: Sequence[int] | None = None,
                 mesh_axes: Sequence[str] | None = None) -> None:
        self.builder = builder
        self.name = name
        self.axis_name = axis_name
        self.axis_size = axis_size
        self.parent = parent
        # The slice's device mesh and its axis names (None: unnamed), for collectives over
        # mesh axes; a child trace (pw.grad) sees its parent's.
        self.mesh = tuple(mesh) if mesh is not None else (parent.mesh if parent else (axis_size,))
        self.mesh_axes = tuple(mesh_axes) if mesh_axes is not None else (parent.mesh_axes if parent else None)
        self.captures: list[int] = []   # parent value ids, in the order their parameters were made
        # (id of the owning trace, value id) -> this trace's value id
        self._captured: dict[tuple[int, int], int] = {}

    def descends_from(self, other: PmapTrace) -> bool:
        """Whether `other` encloses this trace (is its parent, or the parent's parent, ...)."""
        t = self.parent
        while t is not None:
            if t is other:
                return True
            t = t.parent
        return False

    def capture(self, x: Tracer) -> int:
        """The value of this trace standing for `x`, a tracer of an enclosing trace."""
        key = (id(x._trace), x._id)
        if key not in self._captured:
            assert self.parent is not None, "a root trace captures nothing"
            outer = x._id if x._trace is self.parent else self.parent.capture(x)
            self.captures.append(outer)
            self._captured[key] = self.builder.parameter(x.dtype.name, list(x.shape))
        return self._captured[key]

    def __enter__(self) -> PmapTrace:
        _stack.append(self)
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        _stack.remove(self)
        return False


def current_trace() -> PmapTrace | None:
    """The innermost pmap trace being recorded, or None outside pw.pmap."""
    return _stack[-1] if _stack else None


def is_tracer(x: object) -> bool:
    """Whether `x` is a traced value."""
    return isinstance(x, Tracer)


class Tracer:
    """A traced per-device value (the shard: the pmapped axis is not part of its shape).

    Inside a pmapped function, arguments are Tracers; Python operators, indexing and pw.numpy
    functions on them record operations:

        >>> import numpy as np, pathways as pw
        >>> f = pw.pmap(lambda x: (x * 2.0).sum(axis=0))
        >>> f(np.ones((2, 3), np.float32))
        array([6., 6.], dtype=float32)
    """

    __slots__ = ("_trace", "_id", "shape", "dtype")
    __array_priority__ = 200

    _trace: PmapTrace
    _id: int
    shape: Shape
    """The shape of this device's value (the pmapped axis is not part of it)."""
    dtype: np.dtype[Any]
    """The element type (float32, float64, int32 or bool)."""

    def __init__(self, trace: PmapTrace, value_id: int) -> None:
        self._trace = trace
        self._id = value_id
        dtype, shape = trace.builder.type_of(value_id)
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)

    @property
    def ndim(self) -> int:
        """The number of dimensions: len(shape)."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """The number of elements (of this device's shard)."""
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d traced value")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"Tracer<{self.dtype}{list(self.shape)}> in pmap '{self._trace.name}'"

    def __bool__(self) -> NoReturn:
        raise TypeError(
            f"{self!r}: the truth value of a traced value is not known while tracing (Python "
            "control flow cannot depend on it; use pw.numpy.where)")

    def __array__(self, dtype: npt.DTypeLike = None) -> NoReturn:
        raise TypeError(
            f"{self!r} cannot be converted to a NumPy array while tracing; use pw.numpy functions")

    def __iter__(self) -> Iterator[Tracer]:
        return (self[i] for i in range(len(self)))

    __hash__ = None  # type: ignore[assignment]

    # Arithmetic.
    def __add__(self, o: ArrayLike) -> Tracer: return binary("add", self, o)
    def __radd__(self, o: ArrayLike) -> Tracer: return binary("add", o, self)
    def __sub__(self, o: ArrayLike) -> Tracer: return binary("subtract", self, o)
    def __rsub__(self, o: ArrayLike) -> Tracer: return binary("subtract", o, self)
    def __mul__(self, o: ArrayLike) -> Tracer: return binary("multiply", self, o)
    def __rmul__(self, o: ArrayLike) -> Tracer: return binary("multiply", o, self)
    def __truediv__(self, o: ArrayLike) -> Tracer: return divide(self, o)
    def __rtruediv__(self, o: ArrayLike) -> Tracer: return divide(o, self)
    def __pow__(self, o: ArrayLike) -> Tracer: return binary("power", self, o)
    def __rpow__(self, o: ArrayLike) -> Tracer: return binary("power", o, self)
    def __matmul__(self, o: ArrayLike) -> Tracer: return matmul(self, o)
    def __rmatmul__(self, o: ArrayLike) -> Tracer: return matmul(o, self)
    def __neg__(self) -> Tracer: return unary("negate", self)
    def __pos__(self) -> Tracer: return self
    def __abs__(self) -> Tracer: return unary("abs", self)

    # Elementwise comparisons: traced bool values (so not `bool`, unlike object's).
    def __eq__(self, o: ArrayLike) -> Tracer: return compare("EQ", self, o)  # type: ignore[override]
    def __ne__(self, o: ArrayLike) -> Tracer: return compare("NE", self, o)  # type: ignore[override]
    def __lt__(self, o: ArrayLike) -> Tracer: return compare("LT", self, o)
    def __le__(self, o: ArrayLike) -> Tracer: return compare("LE", self, o)
    def __gt__(self, o: ArrayLike) -> Tracer: return compare("GT", self, o)
    def __ge__(self, o: ArrayLike) -> Tracer: return compare("GE", self, o)

    def __getitem__(self, idx: Any) -> Tracer:
        return getitem(self, idx)

    @property
    def T(self) -> Tracer:
        """The transpose (axes reversed)."""
        return transpose(self)

    def reshape(self, *shape: int | Sequence[int]) -> Tracer:
        """This value in another shape of the same size (one -1 is inferred): x.reshape(2, -1)
        or x.reshape((2, -1))."""
        dims: Sequence[Any] = shape
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            dims = tuple(shape[0])
        return reshape(self, dims)

    def transpose(self, *axes: int | Sequence[int]) -> Tracer:
        """The axes permuted (reversed when none are given): x.transpose(1, 0)."""
        perm: Sequence[Any] = axes
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            perm = tuple(axes[0])
        return transpose(self, perm or None)

    def astype(self, dtype: DTypeLike) -> Tracer:
        """This value converted to `dtype` (canonicalized: int64 becomes int32)."""
        return astype(self, dtype)

    def sum(self, axis: Axes = None, keepdims: bool = False) -> Tracer:
        """The sum over `axis` (every axis for None)."""
        return reduce("sum", self, axis, keepdims)

    def max(self, axis: Axes = None, keepdims: bool = False) -> Tracer:
        """The maximum over `axis` (every axis for None)."""
        return reduce("max", self, axis, keepdims)

    def min(self, axis: Axes = None, keepdims: bool = False) -> Tracer:
        """The minimum over `axis` (every axis for None)."""
        return reduce("min", self, axis, keepdims)

    def mean(self, axis: Axes = None, keepdims: bool = False) -> Tracer:
        """The mean over `axis` (every axis for None), as floating point."""
        return mean(self, axis, keepdims)


# ---------------------------------------------------------------------------------------------
# Lifting operands and dtype promotion (NumPy's rules; Python scalars are weakly typed).

def _trace_of(*xs: object) -> PmapTrace:
    trace: PmapTrace | None = None
    for x in xs:
        if isinstance(x, Tracer):
            if trace is None or x._trace.descends_from(trace):
                trace = x._trace
            elif x._trace is not trace and not trace.descends_from(x._trace):
                raise ValueError(
                    f"values from different traces are mixed ({x!r} and a value of pmap "
                    f"'{trace.name}'); values computed in one pmapped function cannot be used in another")
    if trace is None:
        trace = current_trace()
    if trace is None:
        raise TypeError("no pmap is being traced")
    return trace


def _is_weak(x: object) -> TypeGuard[float]:
    """A Python scalar (bool, int, float, complex: weakly typed), not a NumPy value."""
    return isinstance(x, (bool, int, float, numbers.Number)) and not isinstance(x, (np.ndarray, np.generic))


def result_dtype(*xs: ArrayLike) -> np.dtype[Any]:
    """The dtype an operation on `xs` computes in (NumPy's promotion; Python scalars weak)."""
    strong = [x.dtype if isinstance(x, Tracer) else _array.canonicalize(x).dtype
              for x in xs if not _is_weak(x)]
    weak: list[np.dtype[Any]] = []
    for x in xs:
        if not _is_weak(x):
            continue
        if isinstance(x, bool):
            weak.append(np.dtype(np.bool_))
        elif isinstance(x, numbers.Integral):
            weak.append(np.dtype(np.int32))
        elif isinstance(x, numbers.Real):
            weak.append(np.dtype(np.float32))
        else:
            raise TypeError(f"unsupported operand {x!r} (complex numbers are not supported)")
    dtype = max(strong, key=_ORDER.__getitem__) if strong else None
    w = max(weak, key=_ORDER.__getitem__) if weak else None
    if dtype is None:
        assert w is not None, "result_dtype of no operands"
        return w
    # A Python scalar only changes the kind (bool -> int -> float), never the width.
    if w is not None and _ORDER[w] > _ORDER[dtype] and dtype.kind != "f":
        return w
    return dtype


def lift(x: ArrayLike, trace: PmapTrace, dtype: np.dtype[Any] | None = None) -> int:
    """`x` as a value handle of `trace`, converted to `dtype` if given."""
    b = trace.builder
    if isinstance(x, Tracer):
        if x._trace is trace:
            value = x._id
        elif trace.descends_from(x._trace):
            value = trace.capture(x)
        else:
            raise ValueError(f"{x!r} belongs to another trace than pmap '{trace.name}'")
        if dtype is not None and x.dtype != dtype:
            return b.convert(value, dtype.name)
        return value
    if isinstance(x, _array.Array):
        raise TypeError(
            f"a pw.Array ({x.shape}) was closed over by pmap '{trace.name}': pass it as an argument "
            "instead (or convert it with np.asarray to bake it in as a constant)")
    if _is_weak(x):
        target = dtype or result_dtype(x)
        if target.kind in "iu" and isinstance(x, numbers.Integral) and not -2**31 <= int(x) < 2**31:
            raise OverflowError(f"the integer {x} does not fit {target.name} (traced integers are "
                                "32-bit: write a bit pattern as a negative number)")
        return b.scalar(target.name, float(x))
    a = _array.canonicalize(x)
    if dtype is not None and a.dtype != dtype:
        a = a.astype(dtype)
    return b.constant(a)


def wrap(trace: PmapTrace, value_id: int) -> Tracer:
    """The Tracer of value `value_id` of `trace`."""
    return Tracer(trace, value_id)


# ---------------------------------------------------------------------------------------------
# Ops.

_FLOAT_OPS = ("exp", "log", "tanh", "sqrt", "rsqrt", "sine", "cosine")


def unary(op: str, x: ArrayLike) -> Tracer:
    """Records the elementwise op `op` (an IR op name) on x."""
    trace = _trace_of(x)
    dtype = x.dtype if isinstance(x, Tracer) else result_dtype(x)
    target = np.dtype(np.float32) if op in _FLOAT_OPS and dtype.kind != "f" else None
    return wrap(trace, trace.builder.unary(op, lift(x, trace, target)))


def binary(op: str, a: ArrayLike, b: ArrayLike) -> Tracer:
    """Records the elementwise binary op `op` (an IR op name), operands promoted."""
    trace = _trace_of(a, b)
    dtype = result_dtype(a, b)
    return wrap(trace, trace.builder.binary(op, lift(a, trace, dtype), lift(b, trace, dtype)))


def divide(a: ArrayLike, b: ArrayLike) -> Tracer:
    """True division (integers divide as float32, as in NumPy)."""
    trace = _trace_of(a, b)
    dtype = result_dtype(a, b)
    if dtype.kind != "f":  # true division of integers gives floats, as in NumPy
        dtype = np.dtype(np.float32)
    return wrap(trace, trace.builder.binary("divide", lift(a, trace, dtype), lift(b, trace, dtype)))


def compare(direction: str, a: ArrayLike, b: ArrayLike) -> Tracer:
    """The bool comparison `direction` ("EQ", "NE", "LT", "LE", "GT", "GE") of a and b."""
    trace = _trace_of(a, b)
    dtype = result_dtype(a, b)
    return wrap(trace, trace.builder.compare(direction, lift(a, trace, dtype), lift(b, trace, dtype)))


def where(cond: ArrayLike, x: ArrayLike, y: ArrayLike) -> Tracer:
    """x where cond (nonzero) holds, else y."""
    trace = _trace_of(cond, x, y)
    dtype = result_dtype(x, y)
    c = lift(cond, trace)
    if trace.builder.type_of(c)[0] != "bool":
        c = trace.builder.compare("NE", c, trace.builder.scalar(trace.builder.type_of(c)[0], 0.0))
    return wrap(trace, trace.builder.select(c, lift(x, trace, dtype), lift(y, trace, dtype)))


def matmul(a: ArrayLike, b: ArrayLike) -> Tracer:
    """The matrix product (rank <= 2 operands; a dot of vectors)."""
    trace = _trace_of(a, b)
    dtype = result_dtype(a, b)
    return wrap(trace, trace.builder.dot(lift(a, trace, dtype), lift(b, trace, dtype)))


def astype(x: ArrayLike, dtype: DTypeLike) -> Tracer:
    """x converted to the canonical `dtype`."""
    trace = _trace_of(x)
    return wrap(trace, lift(x, trace, _array.canonical_dtype(dtype)))


def as_tracer(x: ArrayLike, trace: PmapTrace | None = None) -> Tracer:
    """x as a Tracer of `trace` (by default the trace x or the current pmap belongs to)."""
    if isinstance(x, Tracer) and (trace is None or x._trace is trace):
        return x
    trace = trace or _trace_of(x)
    return wrap(trace, lift(x, trace))


def _norm_axis(axis: object, rank: int, what: str = "axis") -> int:
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {axis!r}")
    if not -rank <= axis < rank:
        raise ValueError(f"{what} {axis} is out of bounds for a value of rank {rank}")
    return int(axis) % rank


def _norm_axes(axis: Axes, rank: int) -> list[int]:
    if axis is None:
        return list(range(rank))
    if isinstance(axis, (tuple, list)):
        axes = [_norm_axis(a, rank) for a in axis]
    else:
        axes = [_norm_axis(axis, rank)]
    if len(set(axes)) != len(axes):
        raise ValueError(f"repeated axis in {axis!r}")
    return sorted(axes)


def reshape(x: ArrayLike, shape: ShapeLike) -> Tracer:
    """x in another shape of the same size (one -1 is inferred)."""
    x = as_tracer(x)
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    shape = [int(d) for d in shape]
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: at most one -1 in {tuple(shape)}")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or x.size % known:
            raise ValueError(f"cannot reshape {x.dtype}{list(x.shape)} into {tuple(shape)}")
        shape[shape.index(-1)] = x.size // known
    if tuple(shape) == x.shape:
        return x
    return wrap(x._trace, x._trace.builder.reshape(x._id, shape))


def transpose(x: ArrayLike, axes: Sequence[int] | None = None) -> Tracer:
    """x with its axes permuted by `axes` (reversed for None)."""
    x = as_tracer(x)
    perm = list(reversed(range(x.ndim))) if axes is None else [_norm_axis(a, x.ndim) for a in axes]
    return wrap(x._trace, x._trace.builder.transpose(x._id, perm))


def reduce(kind: str, x: ArrayLike, axis: Axes = None, keepdims: bool = False) -> Tracer:
    """The reduction `kind` ("sum", "max", "min") of x over `axis` (all axes for None)."""
    x = as_tracer(x)
    axes = _norm_axes(axis, x.ndim)
    out = wrap(x._trace, x._trace.builder.reduce(x._id, axes, kind)) if axes else x
    if keepdims:
        out = reshape(out, [1 if i in axes else d for i, d in enumerate(x.shape)])
    return out


def mean(x: ArrayLike, axis: Axes = None, keepdims: bool = False) -> Tracer:
    """The mean of x over `axis` (all axes for None), as floating point."""
    x = as_tracer(x)
    if x.dtype.kind != "f":
        x = astype(x, np.float32)
    axes = _norm_axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    return reduce("sum", x, axis, keepdims) / float(count)


def broadcast_to(x: ArrayLike, shape: ShapeLike) -> Tracer:
    """x broadcast to `shape` (NumPy's rules)."""
    x = as_tracer(x)
    dims = [int(d) for d in ((shape,) if isinstance(shape, int) else shape)]
    if tuple(dims) == x.shape:
        return x
    return wrap(x._trace, x._trace.builder.broadcast_to(x._id, dims))


def concatenate(xs: Sequence[ArrayLike], axis: int = 0) -> Tracer:
    """The values joined along `axis`."""
    xs = list(xs)
    if not xs:
        raise ValueError("concatenate needs at least one array")
    trace = _trace_of(*xs)
    dtype = result_dtype(*xs)
    ids = [lift(x, trace, dtype) for x in xs]
    rank = len(trace.builder.type_of(ids[0])[1])
    return wrap(trace, trace.builder.concatenate(ids, _norm_axis(axis, rank)))


def cumsum(x: ArrayLike, axis: int, reverse: bool = False) -> Tracer:
    """The inclusive running sum along `axis` (bools sum as int32)."""
    x = as_tracer(x)
    if x.dtype.kind == "b":
        x = astype(x, np.int32)
    return wrap(x._trace, x._trace.builder.cumsum(x._id, _norm_axis(axis, x.ndim), bool(reverse)))


def top_k(x: ArrayLike, k: int) -> tuple[Tracer, Tracer]:
    """(values, int32 indices) of the k largest elements along the last axis."""
    x = as_tracer(x)
    if x.ndim < 1:
        raise ValueError("top_k: the operand must have rank >= 1, got a scalar")
    values, indices = x._trace.builder.top_k(x._id, int(k))
    return wrap(x._trace, values), wrap(x._trace, indices)


# Indexing, gathers, scatters and dynamic slices (imported last: they build on everything above).
from ._tracer_indexing import (  # noqa: E402
    dynamic_slice as dynamic_slice,
    dynamic_update_slice as dynamic_update_slice,
    getitem as getitem,
    iota as iota,
    scatter_add as scatter_add,
    take as take,
)
