"""Indexing a Tracer and the ops that read or write at computed positions: basic indexing
(``x[...]``), take and scatter_add, iota, dynamic_slice and dynamic_update_slice.

Part of the tracer (``_tracer`` re-exports every name here); import it through ``_tracer``,
which imports this module once everything it builds on is defined.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._tracer import PmapTrace, Tracer, _norm_axis, _trace_of, as_tracer, lift, reshape, wrap
from ._types import ArrayLike, DTypeLike


def take(a: ArrayLike, indices: ArrayLike, axis: int = 0) -> Tracer:
    """a's slices along `axis` at integer `indices` (jnp.take; clamped as XLA's gather)."""
    trace = _trace_of(a, indices)
    x = as_tracer(a, trace)
    idx = as_tracer(indices, trace)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"take: indices must be integers, got {idx.dtype}")
    return wrap(trace, trace.builder.gather(x._id, lift(idx, trace, np.dtype(np.int32)),
                                            _norm_axis(axis, x.ndim)))


def scatter_add(operand: ArrayLike, indices: ArrayLike, updates: ArrayLike,
                axis: int = 0) -> Tracer:
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


def getitem(x: Tracer, idx: Any) -> Tracer:
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
    expanded: list[Any] = []
    for i in idx:
        if i is Ellipsis:
            expanded.extend([slice(None)] * (x.ndim - n_real))
        else:
            expanded.append(i)
    if Ellipsis not in idx:
        expanded.extend([slice(None)] * (x.ndim - n_real))
    starts: list[int] = []
    limits: list[int] = []
    strides: list[int] = []
    out_shape: list[int] = []
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


def iota(trace: PmapTrace, dtype: DTypeLike, shape: Sequence[int], axis: int) -> Tracer:
    """A traced array counting 0, 1, ... along `axis` (no constant baked into the function)."""
    return wrap(trace, trace.builder.iota(np.dtype(dtype).name, [int(d) for d in shape], int(axis)))


def _starts(trace: PmapTrace, start_indices: Sequence[ArrayLike], rank: int, what: str) -> list[int]:
    starts = list(start_indices) if isinstance(start_indices, (tuple, list)) else None
    if starts is None or len(starts) != rank:
        raise ValueError(f"{what}: start_indices must be a sequence of {rank} scalar(s), one per "
                         f"dim of the operand, got {start_indices!r}")
    ids = []
    for i, start in enumerate(starts):
        s = as_tracer(start, trace)
        if s.dtype.kind not in "iu" or s.ndim != 0:
            raise TypeError(f"{what}: start index {i} must be an integer scalar, got "
                            f"{s.dtype} of shape {s.shape}")
        ids.append(lift(s, trace, np.dtype(np.int32)))
    return ids


def dynamic_slice(operand: ArrayLike, start_indices: Sequence[ArrayLike],
                  slice_sizes: Sequence[int]) -> Tracer:
    """operand's block of shape `slice_sizes` at `start_indices` (clamped as XLA clamps them)."""
    trace = _trace_of(operand, *start_indices)
    x = as_tracer(operand, trace)
    sizes = [int(d) for d in slice_sizes]
    return wrap(trace, trace.builder.dynamic_slice(
        x._id, _starts(trace, start_indices, x.ndim, "dynamic_slice"), sizes))


def dynamic_update_slice(operand: ArrayLike, update: ArrayLike,
                         start_indices: Sequence[ArrayLike]) -> Tracer:
    """operand with its block at `start_indices` (clamped) replaced by `update`."""
    trace = _trace_of(operand, update, *start_indices)
    x = as_tracer(operand, trace)
    u = lift(update, trace, x.dtype)
    return wrap(trace, trace.builder.dynamic_update_slice(
        x._id, u, _starts(trace, start_indices, x.ndim, "dynamic_update_slice")))
