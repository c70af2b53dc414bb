"""pw.lax: collectives among the devices a pmapped function runs on, named by its axis_name,
structured control flow (while_loop, fori_loop, scan, cond, switch), and a few primitives
pw.numpy has no name for (stop_gradient, scatter_add, logical shifts, dynamic slices)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as _np
import numpy.typing as _npt

from . import _pathways
from . import _tracer as _t
from ._control_flow import cond, fori_loop, scan, switch, while_loop  # noqa: F401
from ._tree import tree_map as _tree_map
from ._types import ArrayLike, PyTree, Value

AxisName: TypeAlias = "str | Sequence[str]"
"""A pmap's axis_name, a mesh axis name, or a tuple of mesh axis names."""

__all__ = ["all_gather", "all_to_all", "axis_index", "axis_size", "cond", "cumsum",
           "dynamic_slice", "dynamic_update_slice", "fori_loop", "pmax", "pmean", "pmin",
           "ppermute", "psum", "psum_scatter", "scan", "scatter_add", "shift_left",
           "shift_right_logical", "stop_gradient", "switch", "top_k", "while_loop"]


class _Axes:
    """What an axis name (or a tuple of names) means in a trace: the shard groups a collective
    over it runs within ([] for every device), the number of devices along it, and the mesh
    axes it names (None for the pmap's own axis_name: every device)."""

    def __init__(self, groups: list[list[int]], size: int, mesh_axes: list[int] | None) -> None:
        self.groups, self.size, self.mesh_axes = groups, size, mesh_axes


def _resolve(trace: _t.PmapTrace, axis_name: AxisName, what: str) -> _Axes:
    if trace.axis_name is not None and axis_name == trace.axis_name:
        return _Axes([], trace.axis_size, None)
    names: tuple[Any, ...] = (axis_name,) if isinstance(axis_name, str) else tuple(axis_name) \
        if isinstance(axis_name, (tuple, list)) else (axis_name,)
    known: tuple[str, ...] = trace.mesh_axes or ()
    for n in names:
        if n not in known:
            bound: list[str] = []
            if trace.axis_name is not None:
                bound.append(f"pmap '{trace.name}' maps axis_name={trace.axis_name!r}")
            bound.append(f"the slice's mesh {tuple(trace.mesh)} has axes {tuple(known)!r}" if known else
                         "the slice's mesh has no axis names (add_slice(..., axis_names=...))")
            raise NameError(f"unbound axis name: {n!r} in {what}; " + "; ".join(bound))
    if len(set(names)) != len(names):
        raise ValueError(f"{what}: axis names {names!r} repeat a name")
    axes = [known.index(n) for n in names]
    size = int(_np.prod([trace.mesh[a] for a in axes]))
    if size == trace.axis_size and axes == sorted(axes):  # every device, in gang order
        return _Axes([], size, axes)
    return _Axes(_pathways.mesh_axis_groups(list(trace.mesh), axes), size, axes)


def _trace_for(axis_name: AxisName, x: object = None,
               what: str = "collective") -> tuple[_t.PmapTrace, _Axes]:
    trace = x._trace if isinstance(x, _t.Tracer) else _t.current_trace()
    if trace is None:
        raise NameError(f"unbound axis name: {axis_name!r} ({what} is only meaningful inside pw.pmap)")
    return trace, _resolve(trace, axis_name, what)


def _collective(x: PyTree, axis_name: AxisName, what: str,
                fn: Callable[[_t.PmapTrace, _t.Tracer, _Axes], _t.Tracer]) -> PyTree:
    def one(v: ArrayLike) -> _t.Tracer:
        trace, axes = _trace_for(axis_name, v, what)
        return fn(trace, _t.as_tracer(v, trace), axes)
    return _tree_map(one, x)


def psum(x: PyTree, axis_name: AxisName) -> PyTree:
    """Sum over every device of the axis (all-reduce); x may be a pytree.

        >>> import numpy as np, pathways as pw
        >>> f = pw.pmap(lambda x: pw.lax.psum(x, "i"), axis_name="i")
        >>> f(np.array([1.0, 2.0], np.float32))
        array([3., 3.], dtype=float32)
    """
    return _collective(x, axis_name, "psum",
                       lambda tr, v, ax: _t.wrap(tr, tr.builder.all_reduce(v._id, "sum", ax.groups)))


def pmax(x: PyTree, axis_name: AxisName) -> PyTree:
    """Maximum over every device of the axis (all-reduce); x may be a pytree."""
    return _collective(x, axis_name, "pmax",
                       lambda tr, v, ax: _t.wrap(tr, tr.builder.all_reduce(v._id, "max", ax.groups)))


def pmin(x: PyTree, axis_name: AxisName) -> PyTree:
    """Minimum over every device of the axis (all-reduce); x may be a pytree."""
    return _collective(x, axis_name, "pmin",
                       lambda tr, v, ax: _t.wrap(tr, tr.builder.all_reduce(v._id, "min", ax.groups)))


def pmean(x: PyTree, axis_name: AxisName) -> PyTree:
    """Mean over every device of the axis (floating point; integers average as float32); x may
    be a pytree."""
    def one(tr: _t.PmapTrace, v: _t.Tracer, ax: _Axes) -> _t.Tracer:
        if v.dtype.kind != "f":
            v = _t.astype(v, _np.float32)
        return _t.wrap(tr, tr.builder.all_reduce(v._id, "sum", ax.groups)) / float(ax.size)
    return _collective(x, axis_name, "pmean", one)


def all_gather(x: PyTree, axis_name: AxisName, *, axis: int = 0, tiled: bool = False) -> PyTree:
    """Every device's x stacked along a new axis `axis` (concatenated along it if tiled)."""
    def one(tr: _t.PmapTrace, v: _t.Tracer, ax: _Axes) -> _t.Tracer:
        if tiled:
            return _t.wrap(tr, tr.builder.all_gather(v._id, _t._norm_axis(axis, v.ndim), ax.groups))
        a = _t._norm_axis(axis, v.ndim + 1)
        v = _t.reshape(v, v.shape[:a] + (1,) + v.shape[a:])
        return _t.wrap(tr, tr.builder.all_gather(v._id, a, ax.groups))
    return _collective(x, axis_name, "all_gather", one)


def psum_scatter(x: PyTree, axis_name: AxisName, *, scatter_dimension: int = 0,
                 tiled: bool = False) -> PyTree:
    """Sum over the axis, device i keeping block i of `scatter_dimension` (whose size must be
    the number of devices unless tiled, when it must divide by it)."""
    def one(tr: _t.PmapTrace, v: _t.Tracer, ax: _Axes) -> _t.Tracer:
        d = _t._norm_axis(scatter_dimension, v.ndim, "scatter_dimension")
        if not tiled and v.shape[d] != ax.size:
            raise ValueError(
                f"psum_scatter: dimension {d} of {v!r} must equal the axis size {ax.size} "
                "(or pass tiled=True)")
        out = _t.wrap(tr, tr.builder.reduce_scatter(v._id, d, "sum", ax.groups))
        if not tiled:
            out = _t.reshape(out, out.shape[:d] + out.shape[d + 1:])
        return out
    return _collective(x, axis_name, "psum_scatter", one)


def all_to_all(x: PyTree, axis_name: AxisName, split_axis: int, concat_axis: int, *,
               tiled: bool = False) -> PyTree:
    """Splits `split_axis` into one block per device and sends block j to device j, which
    concatenates what it receives along `concat_axis`. Untiled (JAX's default): split_axis must
    have the axis size and is removed; the received blocks form a new axis at concat_axis."""
    def one(tr: _t.PmapTrace, v: _t.Tracer, ax: _Axes) -> _t.Tracer:
        if tiled:
            return _t.wrap(tr, tr.builder.all_to_all(
                v._id, _t._norm_axis(split_axis, v.ndim), _t._norm_axis(concat_axis, v.ndim), ax.groups))
        s = _t._norm_axis(split_axis, v.ndim, "split_axis")
        if v.shape[s] != ax.size:
            raise ValueError(f"all_to_all: split_axis {s} of {v!r} must equal the axis size {ax.size}")
        c = _t._norm_axis(concat_axis, v.ndim, "concat_axis")
        # Insert a unit axis at concat_axis, exchange tiled, then drop the (now unit) split axis.
        v = _t.reshape(v, v.shape[:c] + (1,) + v.shape[c:])
        s2 = s + 1 if c <= s else s
        out = _t.wrap(tr, tr.builder.all_to_all(v._id, s2, c, ax.groups))
        return _t.reshape(out, out.shape[:s2] + out.shape[s2 + 1:])
    return _collective(x, axis_name, "all_to_all", one)


def ppermute(x: PyTree, axis_name: AxisName, perm: Sequence[tuple[int, int]]) -> PyTree:
    """Sends device i's x to device j for every (i, j) in perm; devices receiving nothing get zeros."""
    pairs = [(int(i), int(j)) for i, j in perm]

    def one(tr: _t.PmapTrace, v: _t.Tracer, ax: _Axes) -> _t.Tracer:
        gang_pairs = pairs
        if ax.groups:  # positions along the axis, in every group at once
            for i, j in pairs:
                if not (0 <= i < ax.size and 0 <= j < ax.size):
                    raise ValueError(f"ppermute: pair ({i}, {j}) outside the axis of size {ax.size}")
            gang_pairs = [(g[i], g[j]) for g in ax.groups for i, j in pairs]
        return _t.wrap(tr, tr.builder.collective_permute(v._id, gang_pairs))
    return _collective(x, axis_name, "ppermute", one)


def axis_index(axis_name: AxisName) -> _t.Tracer:
    """This device's index along the axis, or along several mesh axes (row-major in the order
    named): an int32 scalar."""
    trace, ax = _trace_for(axis_name, None, "axis_index")
    index = _t.wrap(trace, trace.builder.shard_index())
    if ax.mesh_axes is None:
        return index
    mesh = trace.mesh
    position: _t.Tracer | None = None
    for a in ax.mesh_axes:
        stride = int(_np.prod(mesh[a + 1:]))
        coord = index
        if stride > 1:
            coord = _t.wrap(trace, trace.builder.binary("divide", coord._id,
                                                        _t.lift(_np.int32(stride), trace, _np.dtype(_np.int32))))
        if a > 0:  # coord mod mesh[a]
            q = _t.wrap(trace, trace.builder.binary("divide", coord._id,
                                                    _t.lift(_np.int32(mesh[a]), trace, _np.dtype(_np.int32))))
            coord = coord - q * _np.int32(mesh[a])
        position = coord if position is None else position * _np.int32(mesh[a]) + coord
    assert position is not None, "a mesh axis is named"
    return position


def axis_size(axis_name: AxisName) -> int:
    """The number of devices along the axis (or the product over several mesh axes)."""
    return _trace_for(axis_name, None, "axis_size")[1].size


def stop_gradient(x: PyTree) -> PyTree:
    """x, through which pw.grad passes no derivative (a pytree too)."""
    def one(v: object) -> object:
        if isinstance(v, _t.Tracer):
            return _t.unary("stop_gradient", v)
        return v
    return _tree_map(one, x)


def scatter_add(operand: ArrayLike, indices: ArrayLike, updates: ArrayLike, axis: int = 0) -> Value:
    """operand with `updates` added at integer `indices` along `axis`: for every index position
    p, updates[..., p, ...] is added to operand[..., indices[p], ...], repeated indices adding
    up (np.add.at on a copy; JAX's x.at[idx].add(v) along one axis). The transpose of
    pw.numpy.take: updates has (or broadcasts to) the shape take(operand, indices, axis) has and
    is converted to operand's dtype; out-of-range indices are clamped to the axis as take
    clamps them. Works on traced and on host values.

        >>> import numpy as np, pathways as pw
        >>> pw.lax.scatter_add(np.zeros(3, np.float32), np.array([0, 2, 0]), np.float32(1.0))
        array([2., 0., 1.], dtype=float32)
    """
    if any(isinstance(v, _t.Tracer) for v in (operand, indices, updates)):
        return _t.scatter_add(operand, indices, updates, axis)
    out = _np.array(operand)  # a copy
    idx = _np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"scatter_add: indices must be integers, got {idx.dtype}")
    a = _t._norm_axis(axis, out.ndim)
    shape = out.shape[:a] + idx.shape + out.shape[a + 1:]
    u = _np.broadcast_to(_np.asarray(updates).astype(out.dtype, copy=False), shape)
    if out.shape[a] > 0:
        index = (slice(None),) * a + (_np.clip(idx, 0, out.shape[a] - 1),)
        _np.add.at(out, index, u)  # type: ignore[arg-type]  # NumPy's stub: no tuple indices
    return out


def shift_left(x: ArrayLike, y: ArrayLike) -> Value:
    """x << y on 32-bit words (a shift of 32 or more gives 0).

        >>> import pathways as pw
        >>> pw.lax.shift_left(1, 31)
        array(-2147483648, dtype=int32)
    """
    if isinstance(x, _t.Tracer) or isinstance(y, _t.Tracer):
        return _t.binary("shift_left", x, y)
    xw = _np.asarray(x, _np.int32).view(_np.uint32)
    yw = _np.asarray(y, _np.int32)
    return _np.where((yw < 0) | (yw >= 32), 0, xw << _np.clip(yw, 0, 31).astype(_np.uint32)).astype(_np.uint32).view(_np.int32)


def shift_right_logical(x: ArrayLike, y: ArrayLike) -> Value:
    """x >> y on 32-bit words, filling with zeros (a shift of 32 or more gives 0).

        >>> import pathways as pw
        >>> pw.lax.shift_right_logical(-1, 28)
        array(15, dtype=int32)
    """
    if isinstance(x, _t.Tracer) or isinstance(y, _t.Tracer):
        return _t.binary("shift_right_logical", x, y)
    xw = _np.asarray(x, _np.int32).view(_np.uint32)
    yw = _np.asarray(y, _np.int32)
    return _np.where((yw < 0) | (yw >= 32), 0, xw >> _np.clip(yw, 0, 31).astype(_np.uint32)).astype(_np.uint32).view(_np.int32)


def _host_starts(operand: _npt.NDArray[Any], start_indices: Sequence[ArrayLike],
                 sizes: Sequence[int], what: str) -> tuple[slice, ...]:
    if len(start_indices) != operand.ndim or len(sizes) != operand.ndim:
        raise ValueError(f"{what}: expected {operand.ndim} start indices and sizes for an operand of "
                         f"shape {operand.shape}, got {len(start_indices)} and {len(sizes)}")
    # Host scalars here (dynamic_slice dispatches traced starts to the tracer).
    starts = [min(max(int(s), 0), d - n)  # type: ignore[arg-type]  # integer scalars
              for s, d, n in zip(start_indices, operand.shape, sizes)]
    return tuple(slice(s, s + n) for s, n in zip(starts, sizes))


def dynamic_slice(operand: ArrayLike, start_indices: Sequence[ArrayLike],
                  slice_sizes: Sequence[int]) -> Value:
    """lax.dynamic_slice: operand's block of shape `slice_sizes` starting at `start_indices`
    (integer scalars, traced or not), each start clamped to [0, dim - size] as XLA clamps it, so
    the block is always in bounds. Works on traced and on host values."""
    if isinstance(operand, _t.Tracer) or any(isinstance(s, _t.Tracer) for s in start_indices):
        return _t.dynamic_slice(operand, start_indices, slice_sizes)
    x = _np.asarray(operand)
    sizes = [int(n) for n in slice_sizes]
    if any(n < 0 or n > d for n, d in zip(sizes, x.shape)):
        raise ValueError(f"dynamic_slice: slice_sizes {tuple(sizes)} do not fit in shape {x.shape}")
    return x[_host_starts(x, start_indices, sizes, "dynamic_slice")].copy()


def dynamic_update_slice(operand: ArrayLike, update: ArrayLike,
                         start_indices: Sequence[ArrayLike]) -> Value:
    """lax.dynamic_update_slice: operand with the block at `start_indices` (clamped as
    dynamic_slice clamps them) replaced by `update` (converted to operand's dtype)."""
    if any(isinstance(v, _t.Tracer) for v in (operand, update, *start_indices)):
        return _t.dynamic_update_slice(operand, update, start_indices)
    out = _np.array(operand)
    u = _np.asarray(update).astype(out.dtype, copy=False)
    if u.ndim != out.ndim or any(n > d for n, d in zip(u.shape, out.shape)):
        raise ValueError(f"dynamic_update_slice: update of shape {u.shape} does not fit in {out.shape}")
    out[_host_starts(out, start_indices, u.shape, "dynamic_update_slice")] = u
    return out


def top_k(operand: ArrayLike, k: int) -> tuple[Value, Value]:
    """lax.top_k: (values, indices) of the k largest elements along the last axis, largest
    first; ties go to the lower index, NaN ranks above every number. Indices are int32 and have
    no derivative; the values differentiate as the elements they are.

        >>> import numpy as np, pathways as pw
        >>> pw.lax.top_k(np.array([1.0, 3.0, 2.0]), 2)
        (array([3., 2.]), array([1, 2], dtype=int32))
    """
    if isinstance(operand, _t.Tracer):
        return _t.top_k(operand, k)
    x = _np.asarray(operand)
    if x.ndim < 1 or not 1 <= int(k) <= x.shape[-1]:
        raise ValueError(f"top_k: k = {k} must be in [1, {x.shape[-1] if x.ndim else 0}] for shape {x.shape}")
    key = _np.where(_np.isnan(x), _np.inf, x) if x.dtype.kind == "f" else x
    # Stable sort of the negated key keeps equal values in index order; NaN sorts first.
    order = _np.argsort(-key.astype(_np.float64), axis=-1, kind="stable")
    if x.dtype.kind == "f":
        nan_first = _np.argsort(~_np.isnan(_np.take_along_axis(x, order, -1)), axis=-1, kind="stable")
        order = _np.take_along_axis(order, nan_first, -1)
    idx = order[..., :int(k)].astype(_np.int32)
    return _np.take_along_axis(x, idx, -1), idx


def cumsum(operand: ArrayLike, axis: int = 0, reverse: bool = False) -> Value:
    """lax.cumsum: the inclusive running sum along `axis`, from the end when `reverse` (bools sum
    as int32). Works on traced and on host values."""
    if isinstance(operand, _t.Tracer):
        return _t.cumsum(operand, axis, reverse)
    x = _np.asarray(operand)
    a = _t._norm_axis(axis, x.ndim)
    dtype: _np.dtype[Any] = _np.dtype(_np.int32) if x.dtype.kind in "biu" else x.dtype
    if not reverse:
        forward: _npt.NDArray[Any] = _np.cumsum(x, axis=a)
        return forward.astype(dtype)
    flipped: _npt.NDArray[Any] = _np.flip(_np.cumsum(_np.flip(x, a), axis=a), a)
    return flipped.astype(dtype)
