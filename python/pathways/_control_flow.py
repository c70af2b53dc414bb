"""Structured control flow for traced functions: while_loop, fori_loop, scan, cond and switch.

Inside a trace each function (cond_fun, body_fun, the branches) is traced once into a child of
the current trace, and the children become the regions of one `while` or `case` instruction of
the compiled function: a loop of 1000 steps is one instruction, not 1000 copies of its body.
Values the functions close over are captured from the enclosing trace and passed in. Loops are
bounded: while_loop takes max_iterations (the one argument JAX does not have); fori_loop and
scan know their trip count. Loops and conditionals differentiate with pw.grad (a loop keeps a
tape of its carried values, bounded by its trip count).

Outside any trace the same functions run eagerly on host values, as plain Python loops. Inside
a @pw.program (outside a pmapped function), cond, switch and while_loop whose predicate the
program computes become data-dependent steps: the controller reads the predicate when it
arrives and dispatches the selected program (python/pathways/_program_control.py); there an
index out of range runs the last branch, as StableHLO's case does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from . import _pathways, _program, _program_control
from . import _tracer as _t
from ._tree import TreeDef, tree_flatten, tree_paths, tree_unflatten
from ._types import ArrayLike, PyTree

_C = TypeVar("_C")  # a loop's carried value (a pytree)
_X = TypeVar("_X")  # scan's per-step input (a pytree)
_Y = TypeVar("_Y")  # scan's per-step output (a pytree)
_R = TypeVar("_R")  # a conditional's result (a pytree)

# (dtype name, shape) of a traced value.
_Type = tuple[str, tuple[int, ...]]


def _program_level() -> _program._ProgramTrace | None:
    """The @pw.program being traced when no pmapped function is: control flow there is a
    data-dependent step of the program."""
    ctx = _program.current()
    return ctx if ctx is not None and _t.current_trace() is None else None


def _traced_context(*trees: PyTree) -> _t.PmapTrace | None:
    """The trace these values (or the current one) belong to, or None to run eagerly."""
    tracers = [x for tree in trees for x in tree_flatten(tree)[0] if isinstance(x, _t.Tracer)]
    return _t._trace_of(*tracers) if tracers else _t.current_trace()


def _describe(dtype: npt.DTypeLike, shape: Sequence[int]) -> str:
    return f"{np.dtype(dtype).name}[{','.join(str(d) for d in shape)}]"


def _path(tree: PyTree, index: int, what: str) -> str:
    paths = tree_paths(tree)
    return f"{what}{paths[index] if index < len(paths) else f'[{index}]'}"


def _lift_leaves(leaves: Sequence[ArrayLike], trace: _t.PmapTrace) -> tuple[list[int], list[_Type]]:
    ids = [_t.lift(x, trace) for x in leaves]
    return ids, [trace.builder.type_of(i) for i in ids]


class _Child:
    """One function traced into a child of `trace`, with parameters of `types`."""

    def __init__(self, trace: _t.PmapTrace, name: str, types: Sequence[_Type]) -> None:
        self.trace = trace
        self.builder = trace.builder.child(name)
        self.sub = _t.PmapTrace(self.builder, f"{trace.name}/{name}", trace.axis_name,
                                trace.axis_size, parent=trace)
        self.params = [_t.Tracer(self.sub, self.builder.parameter(d, list(s))) for d, s in types]

    def lift(self, x: ArrayLike, dtype: np.dtype[Any] | None = None) -> int:
        return _t.lift(x, self.sub, dtype)

    def sources(self, num_explicit: int, extra_index: dict[int, int]) -> list[int]:
        """Each parameter's position in the carried values: the explicit ones first, then the
        captured ones, numbered by `extra_index` (a parent value id -> its position)."""
        return list(range(num_explicit)) + [extra_index[c] for c in self.sub.captures]


def _extras(*children: _Child) -> tuple[list[int], dict[int, int]]:
    """The enclosing values the children captured, each once, and their positions."""
    order: list[int] = []
    index: dict[int, int] = {}
    for child in children:
        for c in child.sub.captures:
            if c not in index:
                index[c] = len(order)
                order.append(c)
    return order, index


def _check_carry(out_leaves: Sequence[ArrayLike], out_tree: TreeDef, in_tree: TreeDef,
                 in_types: Sequence[_Type], child: _Child, what: str) -> list[int]:
    if out_tree != in_tree:
        raise TypeError(f"{what}: body_fun must return a value of the same structure as its input "
                        f"(got {out_tree}, expected {in_tree})")
    ids = []
    for k, (x, (dtype, shape)) in enumerate(zip(out_leaves, in_types)):
        weak = _t._is_weak(x)
        value = child.lift(x, np.dtype(dtype) if weak else None)
        got = child.builder.type_of(value)
        if got[0] != dtype or tuple(got[1]) != tuple(shape):
            name = _path(tree_unflatten(in_tree, list(range(len(in_types)))), k, "carry")
            raise TypeError(f"{what}: body_fun changes the carried value {name} from "
                            f"{_describe(dtype, shape)} to {_describe(*got)}; a loop's carried "
                            "values keep their dtype and shape")
        ids.append(value)
    return ids


def _predicate(child: _Child, p: ArrayLike, what: str) -> int:
    value = child.lift(p)
    dtype, shape = child.builder.type_of(value)
    if tuple(shape) != ():
        raise TypeError(f"{what}: cond_fun must return a boolean scalar, got {_describe(dtype, shape)}")
    if dtype != "bool":
        value = child.builder.compare("NE", value, child.builder.scalar(dtype, 0.0))
    return value


def _loop(trace: _t.PmapTrace, name: str, init_ids: list[int], types: Sequence[_Type],
          cond_build: Callable[[_Child], int], body_build: Callable[[_Child], list[int]],
          max_iterations: int) -> list[_t.Tracer]:
    """The traced loop over carried values `init_ids` (of `types`): cond_build(child) -> the
    child's predicate id; body_build(child) -> its new carried ids. The final carried Tracers."""
    cond = _Child(trace, f"{name}_cond", types)
    with cond.sub:
        pred = cond_build(cond)
    body = _Child(trace, f"{name}_body", types)
    with body.sub:
        outs = body_build(body)
    extras, index = _extras(cond, body)
    k = len(init_ids)
    extra_index = {c: k + i for c, i in index.items()}
    ids = trace.builder.while_loop(cond.builder, pred, cond.sources(k, extra_index), body.builder,
                                   outs, body.sources(k, extra_index), init_ids, extras,
                                   int(max_iterations))
    return [_t.Tracer(trace, i) for i in ids]


def _check_bound(max_iterations: float | _t.Tracer | None, what: str) -> int:
    if max_iterations is None:
        raise TypeError(f"{what}: max_iterations is required: a compiled loop has a bound (the "
                        "loop may still end earlier, when cond_fun is false)")
    if isinstance(max_iterations, _t.Tracer) or int(max_iterations) != max_iterations:
        raise TypeError(f"{what}: max_iterations must be a Python int, got {max_iterations!r}")
    if int(max_iterations) < 1:
        raise ValueError(f"{what}: max_iterations must be at least 1, got {max_iterations}")
    return int(max_iterations)


def while_loop(cond_fun: Callable[[_C], ArrayLike], body_fun: Callable[[_C], _C], init_val: _C, *,
               max_iterations: int | None = None) -> _C:
    """lax.while_loop with a required bound: runs `val = body_fun(val)` while `cond_fun(val)`,
    at most `max_iterations` times, and returns the final `val` (a pytree whose leaves keep
    their dtypes and shapes). Differentiable (the tape holds max_iterations carried values).

        >>> import pathways as pw
        >>> pw.lax.while_loop(lambda v: v < 10, lambda v: v * 2, 1, max_iterations=8)
        16
    """
    what = "while_loop"
    bound = _check_bound(max_iterations, what)
    ctx = _program_level()
    if ctx is not None:
        out: _C = _program_control.while_loop(ctx, cond_fun, body_fun, init_val, bound, what)
        return out
    trace = _traced_context(init_val)
    if trace is None:
        val = init_val
        for _ in range(bound):
            if not bool(cond_fun(val)):
                break
            val = body_fun(val)
        return val
    leaves, tree = tree_flatten(init_val)
    ids, types = _lift_leaves(leaves, trace)

    def cond_build(child: _Child) -> int:
        return _predicate(child, cond_fun(tree_unflatten(tree, child.params)), what)

    def body_build(child: _Child) -> list[int]:
        out_leaves, out_tree = tree_flatten(body_fun(tree_unflatten(tree, child.params)))
        return _check_carry(out_leaves, out_tree, tree, types, child, what)

    final = _loop(trace, getattr(body_fun, "__name__", "while"), ids, types, cond_build,
                  body_build, bound)
    result: _C = tree_unflatten(tree, final)
    return result


def fori_loop(lower: int | _t.Tracer, upper: int | _t.Tracer,
              body_fun: Callable[[Any, _C], _C], init_val: _C, *,
              max_iterations: int | None = None) -> _C:
    """lax.fori_loop: `val = body_fun(i, val)` for i in [lower, upper). With Python int bounds
    the trip count is known; traced bounds need max_iterations. body_fun gets i as a Python
    int when run eagerly, an int32 Tracer inside a pmap.

        >>> import pathways as pw
        >>> pw.lax.fori_loop(0, 4, lambda i, total: total + i, 0)
        6
    """
    what = "fori_loop"
    trace = _traced_context(init_val, lower, upper)
    if not isinstance(lower, _t.Tracer) and not isinstance(upper, _t.Tracer):  # static bounds
        lower, upper = int(lower), int(upper)
        if upper <= lower:
            return init_val
        bound = upper - lower if max_iterations is None else _check_bound(max_iterations, what)
    else:
        bound = _check_bound(max_iterations, what + " with traced bounds")
    if trace is None:
        assert isinstance(lower, int) and isinstance(upper, int), "traced bounds have a trace"
        val = init_val
        for i in range(lower, upper):
            val = body_fun(i, val)
        return val
    leaves, tree = tree_flatten(init_val)
    ids, types = _lift_leaves(leaves, trace)
    counter = _t.lift(lower, trace, np.dtype(np.int32))
    limit = _t.lift(upper, trace, np.dtype(np.int32))

    def cond_build(child: _Child) -> int:
        return child.builder.compare("LT", child.params[0]._id, child.params[1]._id)

    def body_build(child: _Child) -> list[int]:
        i = child.params[0]
        out_leaves, out_tree = tree_flatten(body_fun(i, tree_unflatten(tree, child.params[2:])))
        ids = _check_carry(out_leaves, out_tree, tree, types, child, what)
        nxt = child.builder.binary("add", i._id, child.builder.scalar("int32", 1.0))
        return [nxt, child.params[1]._id] + ids

    final = _loop(trace, getattr(body_fun, "__name__", "fori"), [counter, limit] + ids,
                  [("int32", ()), ("int32", ())] + types, cond_build, body_build, bound)
    result: _C = tree_unflatten(tree, final[2:])
    return result


def scan(f: Callable[[_C, _X], tuple[_C, _Y]], init: _C, xs: _X | None = None,
         length: int | None = None, reverse: bool = False) -> tuple[_C, PyTree]:
    """lax.scan: `carry, y = f(carry, x)` for each x along axis 0 of `xs` (a pytree; None with
    `length` for no xs); returns (final carry, the ys stacked along a new axis 0). One loop in
    the compiled function, whatever the length; differentiable.

        >>> import numpy as np, pathways as pw
        >>> total, running = pw.lax.scan(lambda c, x: (c + x, c + x), 0.0, np.array([1.0, 2.0, 3.0]))
        >>> total, running
        (6.0, array([1., 3., 6.]))
    """
    what = "scan"
    x_leaves, x_tree = tree_flatten(xs)
    lengths = {int(np.shape(x)[0]) if not isinstance(x, _t.Tracer) else x.shape[0] for x in x_leaves
               if np.ndim(x) > 0 or isinstance(x, _t.Tracer)}
    if any((x.ndim if isinstance(x, _t.Tracer) else np.ndim(x)) == 0 for x in x_leaves):
        raise ValueError(f"{what}: every leaf of xs needs a leading axis to scan over")
    if length is not None:
        lengths.add(int(length))
    if len(lengths) != 1:
        raise ValueError(f"{what}: the leading axes of xs and length disagree or are missing: "
                         f"{sorted(lengths)}")
    n = lengths.pop()
    trace = _traced_context(init, xs)
    if trace is None:
        carry = init
        ys: list[_Y] = []
        order = range(n - 1, -1, -1) if reverse else range(n)
        for step_i in order:
            carry, y = f(carry, tree_unflatten(x_tree, [np.asarray(x)[step_i] for x in x_leaves]))
            ys.append(y)
        if reverse:
            ys.reverse()
        if not ys:
            return carry, None
        y_leaves = [tree_flatten(y)[0] for y in ys]
        stacked = [np.stack([leaves[k] for leaves in y_leaves]) for k in range(len(y_leaves[0]))]
        return carry, tree_unflatten(tree_flatten(ys[0])[1], stacked)
    c_leaves, c_tree = tree_flatten(init)
    if n == 0:
        raise ValueError(f"{what}: cannot scan over a length-0 axis inside a trace")
    c_ids, c_types = _lift_leaves(c_leaves, trace)
    x_ids, x_types = _lift_leaves(x_leaves, trace)
    nc, nx = len(c_ids), len(x_ids)
    fname = getattr(f, "__name__", "scan")

    # Trace the body first: the ys' types are known only after it ran.
    body = _Child(trace, f"{fname}_body", [("int32", ())] + c_types + x_types)
    with body.sub:
        i = body.params[0]
        step = body.builder.binary("subtract", body.builder.scalar("int32", float(n - 1)), i._id) \
            if reverse else i._id
        xs_i: list[_t.Tracer] = []
        zero = body.builder.scalar("int32", 0.0)
        for p, (dtype, shape) in zip(body.params[1 + nc:], x_types):
            block = body.builder.dynamic_slice(p._id, [step] + [zero] * (len(shape) - 1),
                                               [1] + list(shape[1:]))
            xs_i.append(_t.Tracer(body.sub, body.builder.reshape(block, list(shape[1:]))))
        out = f(tree_unflatten(c_tree, body.params[1:1 + nc]), tree_unflatten(x_tree, xs_i))
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(f"{what}: f must return a pair (carry, y)")
        new_c, y = out
        nc_leaves, nc_tree = tree_flatten(new_c)
        c_out = _check_carry(nc_leaves, nc_tree, c_tree, c_types, body, what)
        y_leaves, y_tree = tree_flatten(y)
        y_ids = [body.lift(v) for v in y_leaves]
        y_types = [body.builder.type_of(v) for v in y_ids]
        # The stacked ys are carried too: parameters made now, after f's captures.
        ys_params = [body.builder.parameter(d, [n] + list(s)) for d, s in y_types]
        ys_out = []
        for acc, v, (d, s) in zip(ys_params, y_ids, y_types):
            row = body.builder.reshape(v, [1] + list(s))
            ys_out.append(body.builder.dynamic_update_slice(acc, row, [step] + [zero] * len(s)))
        nxt = body.builder.binary("add", i._id, body.builder.scalar("int32", 1.0))
        outs = [nxt] + c_out + [p._id for p in body.params[1 + nc:]] + ys_out
    cond = _Child(trace, f"{fname}_cond", [("int32", ())])
    with cond.sub:
        pred = cond.builder.compare("LT", cond.params[0]._id, cond.builder.scalar("int32", float(n)))

    ny = len(y_ids)
    k = 1 + nc + nx + ny
    extras, index = _extras(cond, body)
    extra_index = {c: k + j for c, j in index.items()}
    captured = [extra_index[c] for c in body.sub.captures]
    # Body parameters: counter, carry, xs, captures (made while f ran), then the ys.
    body_sources = list(range(1 + nc + nx)) + captured + list(range(1 + nc + nx, k))
    zeros = [trace.builder.broadcast_to(trace.builder.scalar(d, 0.0), [n] + list(s)) for d, s in y_types]
    init_ids = [trace.builder.scalar("int32", 0.0)] + c_ids + x_ids + zeros
    ids = trace.builder.while_loop(cond.builder, pred, cond.sources(1, extra_index), body.builder,
                                   outs, body_sources, init_ids, extras, n)
    final = [_t.Tracer(trace, v) for v in ids]
    final_carry: _C = tree_unflatten(c_tree, final[1:1 + nc])
    return final_carry, tree_unflatten(y_tree, final[1 + nc + nx:])


def _branches(trace: _t.PmapTrace, index_id: int, branches: Sequence[Callable[..., PyTree]],
              operands: Sequence[PyTree], what: str) -> PyTree:
    leaves, tree = tree_flatten(tuple(operands))
    ids, types = _lift_leaves(leaves, trace)
    children: list[_Child] = []
    results: list[list[int]] = []
    out_tree: TreeDef | None = None
    out_types: list[_Type] | None = None
    for b, fun in enumerate(branches):
        child = _Child(trace, f"{getattr(fun, '__name__', 'branch')}", types)
        with child.sub:
            out = fun(*tree_unflatten(tree, child.params))
            o_leaves, o_tree = tree_flatten(out)
            o_ids = [child.lift(x) for x in o_leaves]
            o_types = [(t[0], tuple(t[1])) for t in map(child.builder.type_of, o_ids)]
        if out_tree is None:
            out_tree, out_types = o_tree, o_types
        elif o_tree != out_tree or o_types != out_types:
            def desc(ts: Sequence[_Type] | None) -> str:
                return "(" + ", ".join(_describe(d, s) for d, s in ts or ()) + ")"
            raise TypeError(f"{what}: branch {b} returns {desc(o_types)} {o_tree} but branch 0 "
                            f"returns {desc(out_types)} {out_tree}; every branch must return the "
                            "same structure, dtypes and shapes")
        children.append(child)
        results.append(o_ids)
    assert out_tree is not None, "switch and cond have branches"
    extras, index = _extras(*children)
    n = len(ids)
    extra_index = {c: n + j for c, j in index.items()}
    spec: list[tuple[_pathways.Builder, list[int], list[int]]] = [
        (c.builder, r, c.sources(n, extra_index)) for c, r in zip(children, results)]
    out_ids = trace.builder.case(index_id, spec, ids, extras)
    return tree_unflatten(out_tree, [_t.Tracer(trace, v) for v in out_ids])


def switch(index: ArrayLike, branches: Sequence[Callable[..., _R]], *operands: PyTree) -> _R:
    """lax.switch: branches[index](*operands), the index clamped to [0, len(branches) - 1]; the
    branches return the same structure, dtypes and shapes.

        >>> import pathways as pw
        >>> pw.lax.switch(5, [lambda x: x + 1, lambda x: x * 10], 3)
        30
    """
    funs = list(branches)
    if not funs:
        raise ValueError("switch: needs at least one branch")
    ctx = _program_level()
    result: _R
    if ctx is not None:  # the controller runs the last branch for an index out of range
        result = _program_control.case(ctx, index, funs, operands, "switch")
        return result
    trace = _traced_context(index, operands)
    if trace is None:
        # A host index (a Python or NumPy integer, or a one-element array).
        return funs[int(np.clip(int(index), 0, len(funs) - 1))](*operands)  # type: ignore[arg-type]
    i = _t.lift(index, trace, np.dtype(np.int32))
    b = trace.builder
    i = b.binary("maximum", b.binary("minimum", i, b.scalar("int32", float(len(funs) - 1))),
                 b.scalar("int32", 0.0))
    result = _branches(trace, i, funs, operands, "switch")
    return result


def cond(pred: ArrayLike, true_fun: Callable[..., _R], false_fun: Callable[..., _R],
         *operands: PyTree) -> _R:
    """lax.cond: true_fun(*operands) if pred else false_fun(*operands), as one case instruction
    (both branches are traced; one runs). The branches return the same structure, dtypes and
    shapes.

        >>> import pathways as pw
        >>> pw.lax.cond(True, lambda x: x + 1, lambda x: x - 1, 10)
        11
    """
    ctx = _program_level()
    result: _R
    if ctx is not None:
        result = _program_control.case(ctx, pred, [false_fun, true_fun], operands, "cond",
                                       names=["false_fun", "true_fun"])
        return result
    trace = _traced_context(pred, operands)
    if trace is None:
        return true_fun(*operands) if bool(pred) else false_fun(*operands)
    p = _t.lift(pred, trace)
    dtype, shape = trace.builder.type_of(p)
    if tuple(shape) != ():
        raise TypeError(f"cond: pred must be a scalar, got {_describe(dtype, shape)}")
    b = trace.builder
    if dtype != "bool":
        p = b.compare("NE", p, b.scalar(dtype, 0.0))
    index = b.convert(p, "int32")  # false -> branch 0, true -> branch 1
    result = _branches(trace, index, [false_fun, true_fun], operands, "cond")
    return result
