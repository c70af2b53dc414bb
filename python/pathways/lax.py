"""pw.lax: collectives among the devices a pmapped function runs on, named by its axis_name, and
a few primitives pw.numpy has no name for (stop_gradient, scatter_add, logical shifts)."""

import numpy as _np

from . import _tracer as _t
from ._tree import tree_map as _tree_map


def _trace_for(axis_name, x=None, what="collective"):
    trace = x._trace if isinstance(x, _t.Tracer) else _t.current_trace()
    if trace is None:
        raise NameError(f"unbound axis name: {axis_name!r} ({what} is only meaningful inside pw.pmap)")
    if trace.axis_name is None or axis_name != trace.axis_name:
        raise NameError(
            f"unbound axis name: {axis_name!r}; pmap '{trace.name}' maps axis_name={trace.axis_name!r} "
            "(pass axis_name= to pw.pmap)")
    return trace


def _collective(x, axis_name, what, fn):
    def one(v):
        trace = _trace_for(axis_name, v, what)
        return fn(trace, _t.as_tracer(v, trace))
    return _tree_map(one, x)


def psum(x, axis_name):
    """Sum over every device of the axis (all-reduce); x may be a pytree."""
    return _collective(x, axis_name, "psum",
                       lambda tr, v: _t.wrap(tr, tr.builder.all_reduce(v._id, "sum")))


def pmax(x, axis_name):
    return _collective(x, axis_name, "pmax",
                       lambda tr, v: _t.wrap(tr, tr.builder.all_reduce(v._id, "max")))


def pmin(x, axis_name):
    return _collective(x, axis_name, "pmin",
                       lambda tr, v: _t.wrap(tr, tr.builder.all_reduce(v._id, "min")))


def pmean(x, axis_name):
    def one(tr, v):
        if v.dtype.kind != "f":
            v = _t.astype(v, _np.float32)
        return _t.wrap(tr, tr.builder.all_reduce(v._id, "sum")) / float(tr.axis_size)
    return _collective(x, axis_name, "pmean", one)


def all_gather(x, axis_name, *, axis=0, tiled=False):
    """Every device's x stacked along a new axis `axis` (concatenated along it if tiled)."""
    def one(tr, v):
        if tiled:
            return _t.wrap(tr, tr.builder.all_gather(v._id, _t._norm_axis(axis, v.ndim)))
        a = _t._norm_axis(axis, v.ndim + 1)
        v = _t.reshape(v, v.shape[:a] + (1,) + v.shape[a:])
        return _t.wrap(tr, tr.builder.all_gather(v._id, a))
    return _collective(x, axis_name, "all_gather", one)


def psum_scatter(x, axis_name, *, scatter_dimension=0, tiled=False):
    """Sum over the axis, device i keeping block i of `scatter_dimension` (whose size must be
    the number of devices unless tiled, when it must divide by it)."""
    def one(tr, v):
        d = _t._norm_axis(scatter_dimension, v.ndim, "scatter_dimension")
        if not tiled and v.shape[d] != tr.axis_size:
            raise ValueError(
                f"psum_scatter: dimension {d} of {v!r} must equal the axis size {tr.axis_size} "
                "(or pass tiled=True)")
        out = _t.wrap(tr, tr.builder.reduce_scatter(v._id, d, "sum"))
        if not tiled:
            out = _t.reshape(out, out.shape[:d] + out.shape[d + 1:])
        return out
    return _collective(x, axis_name, "psum_scatter", one)


def all_to_all(x, axis_name, split_axis, concat_axis, *, tiled=False):
    """Splits `split_axis` into one block per device and sends block j to device j, which
    concatenates what it receives along `concat_axis`. Untiled (JAX's default): split_axis must
    have the axis size and is removed; the received blocks form a new axis at concat_axis."""
    def one(tr, v):
        if tiled:
            return _t.wrap(tr, tr.builder.all_to_all(
                v._id, _t._norm_axis(split_axis, v.ndim), _t._norm_axis(concat_axis, v.ndim)))
        s = _t._norm_axis(split_axis, v.ndim, "split_axis")
        if v.shape[s] != tr.axis_size:
            raise ValueError(f"all_to_all: split_axis {s} of {v!r} must equal the axis size {tr.axis_size}")
        c = _t._norm_axis(concat_axis, v.ndim, "concat_axis")
        # Insert a unit axis at concat_axis, exchange tiled, then drop the (now unit) split axis.
        v = _t.reshape(v, v.shape[:c] + (1,) + v.shape[c:])
        s2 = s + 1 if c <= s else s
        out = _t.wrap(tr, tr.builder.all_to_all(v._id, s2, c))
        return _t.reshape(out, out.shape[:s2] + out.shape[s2 + 1:])
    return _collective(x, axis_name, "all_to_all", one)


def ppermute(x, axis_name, perm):
    """Sends device i's x to device j for every (i, j) in perm; devices receiving nothing get zeros."""
    pairs = [(int(i), int(j)) for i, j in perm]
    return _collective(x, axis_name, "ppermute",
                       lambda tr, v: _t.wrap(tr, tr.builder.collective_permute(v._id, pairs)))


def axis_index(axis_name):
    """This device's index along the axis (an int32 scalar)."""
    trace = _trace_for(axis_name, None, "axis_index")
    return _t.wrap(trace, trace.builder.shard_index())


def axis_size(axis_name):
    return _trace_for(axis_name, None, "axis_size").axis_size


def stop_gradient(x):
    """x, through which pw.grad passes no derivative (a pytree too)."""
    def one(v):
        if isinstance(v, _t.Tracer):
            return _t.unary("stop_gradient", v)
        return v
    return _tree_map(one, x)


def scatter_add(operand, indices, updates, axis=0):
    """operand with `updates` added at integer `indices` along `axis`: for every index position
    p, updates[..., p, ...] is added to operand[..., indices[p], ...], repeated indices adding
    up (np.add.at on a copy; JAX's x.at[idx].add(v) along one axis). The transpose of
    pw.numpy.take: updates has (or broadcasts to) the shape take(operand, indices, axis) has and
    is converted to operand's dtype; out-of-range indices are clamped to the axis as take
    clamps them. Works on traced and on host values."""
    if any(isinstance(v, _t.Tracer) for v in (operand, indices, updates)):
        return _t.scatter_add(operand, indices, updates, axis)
    out = _np.array(operand)  # a copy
    idx = _np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"scatter_add: indices must be integers, got {idx.dtype}")
    a = _t._norm_axis(axis, out.ndim)
    shape = out.shape[:a] + idx.shape + out.shape[a + 1:]
    updates = _np.broadcast_to(_np.asarray(updates).astype(out.dtype, copy=False), shape)
    if out.shape[a] > 0:
        _np.add.at(out, (slice(None),) * a + (_np.clip(idx, 0, out.shape[a] - 1),), updates)
    return out


def shift_left(x, y):
    """x << y on 32-bit words (a shift of 32 or more gives 0)."""
    if isinstance(x, _t.Tracer) or isinstance(y, _t.Tracer):
        return _t.binary("shift_left", x, y)
    x = _np.asarray(x, _np.int32).view(_np.uint32)
    y = _np.asarray(y, _np.int32)
    return _np.where((y < 0) | (y >= 32), 0, x << _np.clip(y, 0, 31).astype(_np.uint32)).astype(_np.uint32).view(_np.int32)


def shift_right_logical(x, y):
    """x >> y on 32-bit words, filling with zeros (a shift of 32 or more gives 0)."""
    if isinstance(x, _t.Tracer) or isinstance(y, _t.Tracer):
        return _t.binary("shift_right_logical", x, y)
    x = _np.asarray(x, _np.int32).view(_np.uint32)
    y = _np.asarray(y, _np.int32)
    return _np.where((y < 0) | (y >= 32), 0, x >> _np.clip(y, 0, 31).astype(_np.uint32)).astype(_np.uint32).view(_np.int32)
