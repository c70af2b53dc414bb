"""Tracers: the values a pmapped function sees while it is being traced.

Each Tracer wraps one value of the C++ FunctionBuilder (an integer handle). Python operators,
indexing and pw.numpy functions record ops on the builder; shape errors raise ValueError (dtype
errors TypeError) at the line that made them, with the builder's message.
"""

import numbers

import numpy as np

from . import _array

_ORDER = {np.dtype(np.bool_): 0, np.dtype(np.int32): 1, np.dtype(np.float32): 2, np.dtype(np.float64): 3}
_stack = []  # active PmapTraces, innermost last


class PmapTrace:
    """One trace of a pmapped function's body: its builder and its mapped axis. A trace made
    inside another (pw.grad's sub-function) has it as `parent`: values of the parent used
    inside become extra parameters of the sub-function (`captures`, the parent's ids in order)."""

    def __init__(self, builder, name, axis_name, axis_size, parent=None, mesh=None, mesh_axes=None):
        self.builder = builder
        self.name = name
        self.axis_name = axis_name
        self.axis_size = axis_size
        self.parent = parent
        # The slice's device mesh and its axis names (None: unnamed), for collectives over
        # mesh axes; a child trace (pw.grad) sees its parent's.
        self.mesh = mesh if mesh is not None else (parent.mesh if parent else (axis_size,))
        self.mesh_axes = mesh_axes if mesh_axes is not None else (parent.mesh_axes if parent else None)
        self.captures = []   # parent value ids, in the order their parameters were made
        self._captured = {}  # (id of the owning trace, value id) -> this trace's value id

    def descends_from(self, other):
        t = self.parent
        while t is not None:
            if t is other:
                return True
            t = t.parent
        return False

    def capture(self, x):
        """The value of this trace standing for `x`, a tracer of an enclosing trace."""
        key = (id(x._trace), x._id)
        if key not in self._captured:
            outer = x._id if x._trace is self.parent else self.parent.capture(x)
            self.captures.append(outer)
            self._captured[key] = self.builder.parameter(x.dtype.name, list(x.shape))
        return self._captured[key]

    def __enter__(self):
        _stack.append(self)
        return self

    def __exit__(self, *exc):
        _stack.remove(self)
        return False


def current_trace():
    return _stack[-1] if _stack else None


def is_tracer(x):
    return isinstance(x, Tracer)


class Tracer:
    """A traced per-device value (the shard: the pmapped axis is not part of its shape)."""

    __slots__ = ("_trace", "_id", "shape", "dtype")
    __array_priority__ = 200

    def __init__(self, trace, value_id):
        self._trace = trace
        self._id = value_id
        dtype, shape = trace.builder.type_of(value_id)
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d traced value")
        return self.shape[0]

    def __repr__(self):
        return f"Tracer<{self.dtype}{list(self.shape)}> in pmap '{self._trace.name}'"

    def __bool__(self):
        raise TypeError(
            f"{self!r}: the truth value of a traced value is not known while tracing (Python "
            "control flow cannot depend on it; use pw.numpy.where)")

    def __array__(self, dtype=None):
        raise TypeError(
            f"{self!r} cannot be converted to a NumPy array while tracing; use pw.numpy functions")

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    __hash__ = None

    # Arithmetic.
    def __add__(self, o): return binary("add", self, o)
    def __radd__(self, o): return binary("add", o, self)
    def __sub__(self, o): return binary("subtract", self, o)
    def __rsub__(self, o): return binary("subtract", o, self)
    def __mul__(self, o): return binary("multiply", self, o)
    def __rmul__(self, o): return binary("multiply", o, self)
    def __truediv__(self, o): return divide(self, o)
    def __rtruediv__(self, o): return divide(o, self)
    def __pow__(self, o): return binary("power", self, o)
    def __rpow__(self, o): return binary("power", o, self)
    def __matmul__(self, o): return matmul(self, o)
    def __rmatmul__(self, o): return matmul(o, self)
    def __neg__(self): return unary("negate", self)
    def __pos__(self): return self
    def __abs__(self): return unary("abs", self)

    def __eq__(self, o): return compare("EQ", self, o)
    def __ne__(self, o): return compare("NE", self, o)
    def __lt__(self, o): return compare("LT", self, o)
    def __le__(self, o): return compare("LE", self, o)
    def __gt__(self, o): return compare("GT", self, o)
    def __ge__(self, o): return compare("GE", self, o)

    def __getitem__(self, idx):
        return getitem(self, idx)

    @property
    def T(self):
        return transpose(self)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return transpose(self, axes or None)

    def astype(self, dtype):
        return astype(self, dtype)

    def sum(self, axis=None, keepdims=False): return reduce("sum", self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return reduce("max", self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return reduce("min", self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return mean(self, axis, keepdims)


# ---------------------------------------------------------------------------------------------
# Lifting operands and dtype promotion (NumPy's rules; Python scalars are weakly typed).

def _trace_of(*xs):
    trace = None
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


def _is_weak(x):
    return isinstance(x, (bool, int, float, numbers.Number)) and not isinstance(x, (np.ndarray, np.generic))


def result_dtype(*xs):
    strong = [x.dtype if isinstance(x, Tracer) else _array.canonicalize(x).dtype
              for x in xs if not _is_weak(x)]
    weak = []
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
        return w
    # A Python scalar only changes the kind (bool -> int -> float), never the width.
    if w is not None and _ORDER[w] > _ORDER[dtype] and dtype.kind != "f":
        return w
    return dtype


def lift(x, trace, dtype=None):
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


def wrap(trace, value_id):
    return Tracer(trace, value_id)


# ---------------------------------------------------------------------------------------------
# Ops.

_FLOAT_OPS = ("exp", "log", "tanh", "sqrt", "rsqrt", "sine", "cosine")


def unary(op, x):
    trace = _trace_of(x)
    dtype = x.dtype if isinstance(x, Tracer) else result_dtype(x)
    target = np.dtype(np.float32) if op in _FLOAT_OPS and dtype.kind != "f" else None
    return wrap(trace, trace.builder.unary(op, lift(x, trace, target)))


def binary(op, a, b):
    trace = _trace_of(a, b)
    dtype = result_dtype(a, b)
    return wrap(trace, trace.builder.binary(op, lift(a, trace, dtype), lift(b, trace, dtype)))


def divide(a, b):
    trace = _trace_of(a, b)
    dtype = result_dtype(a, b)
    if dtype.kind != "f":  # true division of integers gives floats, as in NumPy
        dtype = np.dtype(np.float32)
    return wrap(trace, trace.builder.binary("divide", lift(a, trace, dtype), lift(b, trace, dtype)))


def compare(direction, a, b):
    trace = _trace_of(a, b)
    dtype = result_dtype(a, b)
    return wrap(trace, trace.builder.compare(direction, lift(a, trace, dtype), lift(b, trace, dtype)))


def where(cond, x, y):
    trace = _trace_of(cond, x, y)
    dtype = result_dtype(x, y)
    c = lift(cond, trace)
    if trace.builder.type_of(c)[0] != "bool":
        c = trace.builder.compare("NE", c, trace.builder.scalar(trace.builder.type_of(c)[0], 0.0))
    return wrap(trace, trace.builder.select(c, lift(x, trace, dtype), lift(y, trace, dtype)))


def matmul(a, b):
    trace = _trace_of(a, b)
    dtype = result_dtype(a, b)
    return wrap(trace, trace.builder.dot(lift(a, trace, dtype), lift(b, trace, dtype)))


def astype(x, dtype):
    trace = _trace_of(x)
    return wrap(trace, lift(x, trace, _array.canonical_dtype(dtype)))


def as_tracer(x, trace=None):
    if isinstance(x, Tracer) and (trace is None or x._trace is trace):
        return x
    trace = trace or _trace_of(x)
    return wrap(trace, lift(x, trace))


def _norm_axis(axis, rank, what="axis"):
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {axis!r}")
    if not -rank <= axis < rank:
        raise ValueError(f"{what} {axis} is out of bounds for a value of rank {rank}")
    return int(axis) % rank


def _norm_axes(axis, rank):
    if axis is None:
        return list(range(rank))
    if isinstance(axis, (tuple, list)):
        axes = [_norm_axis(a, rank) for a in axis]
    else:
        axes = [_norm_axis(axis, rank)]
    if len(set(axes)) != len(axes):
        raise ValueError(f"repeated axis in {axis!r}")
    return sorted(axes)


def reshape(x, shape):
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


def transpose(x, axes=None):
    x = as_tracer(x)
    perm = list(reversed(range(x.ndim))) if axes is None else [_norm_axis(a, x.ndim) for a in axes]
    return wrap(x._trace, x._trace.builder.transpose(x._id, perm))


def reduce(kind, x, axis=None, keepdims=False):
    x = as_tracer(x)
    axes = _norm_axes(axis, x.ndim)
    out = wrap(x._trace, x._trace.builder.reduce(x._id, axes, kind)) if axes else x
    if keepdims:
        out = reshape(out, [1 if i in axes else d for i, d in enumerate(x.shape)])
    return out


def mean(x, axis=None, keepdims=False):
    x = as_tracer(x)
    if x.dtype.kind != "f":
        x = astype(x, np.float32)
    axes = _norm_axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    return reduce("sum", x, axis, keepdims) / float(count)


def broadcast_to(x, shape):
    x = as_tracer(x)
    shape = [int(d) for d in ((shape,) if isinstance(shape, int) else shape)]
    if tuple(shape) == x.shape:
        return x
    return wrap(x._trace, x._trace.builder.broadcast_to(x._id, shape))


def concatenate(xs, axis=0):
    xs = list(xs)
    if not xs:
        raise ValueError("concatenate needs at least one array")
    trace = _trace_of(*xs)
    dtype = result_dtype(*xs)
    ids = [lift(x, trace, dtype) for x in xs]
    rank = len(trace.builder.type_of(ids[0])[1])
    return wrap(trace, trace.builder.concatenate(ids, _norm_axis(axis, rank)))


def take(a, indices, axis=0):
    """a's slices along `axis` at integer `indices` (jnp.take; clamped as XLA's gather)."""
    trace = _trace_of(a, indices)
    a = as_tracer(a, trace)
    idx = as_tracer(indices, trace)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"take: indices must be integers, got {idx.dtype}")
    return wrap(trace, trace.builder.gather(a._id, lift(idx, trace, np.dtype(np.int32)),
                                            _norm_axis(axis, a.ndim)))


def scatter_add(operand, indices, updates, axis=0):
    """operand with updates added at integer `indices` along `axis`, repeated indices adding up
    (take's transpose; out-of-range indices clamped as take clamps them). updates is converted
    to operand's dtype and broadcast to the shape take(operand, indices, axis) has."""
    trace = _trace_of(operand, indices, updates)
    operand = as_tracer(operand, trace)
    idx = as_tracer(indices, trace)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"scatter_add: indices must be integers, got {idx.dtype}")
    if operand.dtype.kind == "b":
        raise TypeError("scatter_add: the operand must be numeric (float32, float64, int32), got bool")
    a = _norm_axis(axis, operand.ndim)
    shape = operand.shape[:a] + idx.shape + operand.shape[a + 1:]
    u = lift(updates, trace, operand.dtype)
    u_shape = tuple(trace.builder.type_of(u)[1])
    if u_shape != shape:
        try:
            fits = np.broadcast_shapes(u_shape, shape) == shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"scatter_add: updates of shape {u_shape} do not broadcast to {shape}, "
                             f"the shape take(operand, indices, axis={a}) has")
        u = trace.builder.broadcast_to(u, list(shape))
    return wrap(trace, trace.builder.scatter_add(operand._id, lift(idx, trace, np.dtype(np.int32)), u, a))


def getitem(x, idx):
    """Basic indexing: ints, slices (positive steps), None and Ellipsis; one traced int32
    index array on the leading axis gathers (jnp.take)."""
    trace = x._trace
    b = trace.builder
    if isinstance(idx, Tracer):
        if idx.dtype.kind not in "iu":
            raise TypeError(f"index {idx!r} must be an integer array")
        trace = _trace_of(x, idx)
        return wrap(trace, trace.builder.gather(lift(x, trace), lift(idx, trace, np.dtype(np.int32)), 0))
    if not isinstance(idx, tuple):
        idx = (idx,)
    n_real = sum(1 for i in idx if i is not None and i is not Ellipsis)
    if sum(1 for i in idx if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_real > x.ndim:
        raise IndexError(f"too many indices ({n_real}) for a value of rank {x.ndim}: {x!r}")
    expanded = []
    for i in idx:
        if i is Ellipsis:
            expanded.extend([slice(None)] * (x.ndim - n_real))
        else:
            expanded.append(i)
    if Ellipsis not in idx:
        expanded.extend([slice(None)] * (x.ndim - n_real))
    starts, limits, strides, out_shape = [], [], [], []
    dim = 0
    for i in expanded:
        if i is None:
            out_shape.append(1)
            continue
        size = x.shape[dim]
        if isinstance(i, (bool, np.bool_)):
            raise TypeError("boolean indices are not supported")
        if isinstance(i, (int, np.integer)):
            j = int(i)
            if not -size <= j < size:
                raise IndexError(f"index {j} is out of bounds for axis {dim} with size {size}")
            j %= size
            starts.append(j)
            limits.append(j + 1)
            strides.append(1)
        elif isinstance(i, slice):
            start, stop, step = i.indices(size)
            if step <= 0:
                raise TypeError("slices with negative steps are not supported")
            length = len(range(start, stop, step))
            starts.append(start if length else 0)
            limits.append(start + (length - 1) * step + 1 if length else 0)
            strides.append(step)
            out_shape.append(length)
        else:
            raise TypeError(f"unsupported index {i!r} (ints, slices, None and ... are supported)")
        dim += 1
    vid = x._id
    if starts != [0] * x.ndim or limits != list(x.shape) or strides != [1] * x.ndim:
        vid = b.slice(vid, starts, limits, strides)
    out = wrap(trace, vid)
    if tuple(out_shape) != out.shape:
        out = reshape(out, out_shape)
    return out


def iota(trace, dtype, shape, axis):
    """A traced array counting 0, 1, ... along `axis` (no constant baked into the function)."""
    return wrap(trace, trace.builder.iota(np.dtype(dtype).name, [int(d) for d in shape], int(axis)))


def _starts(trace, start_indices, rank, what):
    starts = list(start_indices) if isinstance(start_indices, (tuple, list)) else None
    if starts is None or len(starts) != rank:
        raise ValueError(f"{what}: start_indices must be a sequence of {rank} scalar(s), one per "
                         f"dim of the operand, got {start_indices!r}")
    ids = []
    for i, s in enumerate(starts):
        s = as_tracer(s, trace)
        if s.dtype.kind not in "iu" or s.ndim != 0:
            raise TypeError(f"{what}: start index {i} must be an integer scalar, got "
                            f"{s.dtype} of shape {s.shape}")
        ids.append(lift(s, trace, np.dtype(np.int32)))
    return ids


def dynamic_slice(operand, start_indices, slice_sizes):
    """operand's block of shape `slice_sizes` at `start_indices` (clamped as XLA clamps them)."""
    trace = _trace_of(operand, *start_indices)
    x = as_tracer(operand, trace)
    sizes = [int(d) for d in slice_sizes]
    return wrap(trace, trace.builder.dynamic_slice(
        x._id, _starts(trace, start_indices, x.ndim, "dynamic_slice"), sizes))


def dynamic_update_slice(operand, update, start_indices):
    """operand with its block at `start_indices` (clamped) replaced by `update`."""
    trace = _trace_of(operand, update, *start_indices)
    x = as_tracer(operand, trace)
    u = lift(update, trace, x.dtype)
    return wrap(trace, trace.builder.dynamic_update_slice(
        x._id, u, _starts(trace, start_indices, x.ndim, "dynamic_update_slice")))


def cumsum(x, axis, reverse=False):
    x = as_tracer(x)
    if x.dtype.kind == "b":
        x = astype(x, np.int32)
    return wrap(x._trace, x._trace.builder.cumsum(x._id, _norm_axis(axis, x.ndim), bool(reverse)))


def top_k(x, k):
    x = as_tracer(x)
    if x.ndim < 1:
        raise ValueError("top_k: the operand must have rank >= 1, got a scalar")
    values, indices = x._trace.builder.top_k(x._id, int(k))
    return wrap(x._trace, values), wrap(x._trace, indices)
