"""Data-dependent steps inside @pw.program: pw.lax.cond / switch / while_loop whose predicate is a
value the program computes (a pmapped call's output, one element per device and the same on
every device), so it does not exist when the program is traced.

Each branch (or cond_fun and body_fun) is traced into a program of its own, taking the step's
operands and then every value of the enclosing program the functions use (traced twice: once
to find those captures, once with all of them as inputs, so every branch takes the same
inputs). The step is submitted with the rest of the program; the controller reads the predicate
when it arrives and dispatches the selected program (ControllerService::RunControl).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _array, _pathways, _program
from ._program import Descriptor, Env, Identity, ProgramValue, Where, _ProgramTrace
from ._tree import TreeDef, tree_flatten, tree_unflatten
from ._types import PyTree

Captures = list[tuple[Identity, Descriptor]]


def _describe(values: Sequence[ProgramValue]) -> str:
    return "(" + ", ".join(f"{v.dtype.name}{list(v.shape)}" for v in values) + ")"


class Step:
    """One data-dependent step of a traced program."""

    def __init__(self, kind: str, pred: Descriptor | None, programs: list[_pathways.Program],
                 operands: list[Descriptor], out_keys: list[int], max_iterations: int = 0) -> None:
        self.kind = kind              # "case" | "while"
        self.pred = pred              # case: the index's descriptor
        self.programs = programs      # C++ programs: the branches, or (cond, body)
        self.operands = operands      # descriptors: the operands (carried values), then captures
        self.out_keys = out_keys
        self.max_iterations = max_iterations

    def descriptors(self) -> list[Descriptor]:
        return ([self.pred] if self.pred is not None else []) + self.operands

    def run(self, ctx: _ProgramTrace, vals: Sequence[_array.Array | npt.NDArray[Any]],
            env: Env) -> Env:
        ops = [ctx.materialize(d, vals, env) for d in self.operands]
        if self.kind == "case":
            assert self.pred is not None
            outs = _pathways.run_case(ctx.materialize(self.pred, vals, env), self.programs, ops)
        else:
            outs = _pathways.run_while(self.programs[0], self.programs[1], ops, self.max_iterations)
        return dict(zip(self.out_keys, outs))


def _sub_trace(ctx: _ProgramTrace, name: str, operand_descs: Sequence[Descriptor],
               captures: Captures, operands: Sequence[Any]) -> tuple[_ProgramTrace, list[ProgramValue]]:
    """A sub-trace of `ctx` whose inputs are the operands, then `captures`; the operands'
    placeholders. A "host" operand is placed by the first pmapped call that reads it."""
    sub = _program._ProgramTrace(ctx.session, name, None, parent=ctx)
    seg = sub.segment()
    placeholders = []
    for j, (x, desc) in enumerate(zip(operands, operand_descs)):
        value = sub.new_value("seg", np.shape(x), _array.canonicalize(x).dtype
                              if not hasattr(x, "dtype") else x.dtype)
        if desc[0] == "host":
            sub.deferred[value._key] = (j, desc[1])
            placeholders.append(value)
            continue
        tid = sub.bind_descriptor(seg, value._key, ctx.for_sub(desc))
        sub.spec[value._key] = seg.trace.traced(tid)
        placeholders.append(value)
    for ident, desc in captures:
        sub.bind_descriptor(seg, ident, ctx.for_sub(desc))
    sub.captures = []
    return sub, placeholders


def _trace_fn(sub: _ProgramTrace, fn: Callable[..., PyTree], args: Sequence[PyTree],
              what: str) -> tuple[list[ProgramValue], TreeDef]:
    """Runs `fn(*args)` in `sub`; its flat outputs (ProgramValues of `sub`) and their tree."""
    _program._active.append(sub)
    try:
        out = fn(*args)
    finally:
        _program._active.pop()
    leaves, tree = tree_flatten(out)
    values: list[ProgramValue] = []
    for x in leaves:
        if not (isinstance(x, _program.ProgramValue) and x._ctx is sub):
            raise TypeError(f"{what} must return values computed by pmapped functions (or its "
                            f"operands), got {x!r}")
        values.append(x)
    return values, tree


def _tid(sub: _ProgramTrace, value: ProgramValue) -> int:
    seg = sub.current
    assert seg is not None
    return seg.local[value._key]


def _operand_descs(ctx: _ProgramTrace, operands: Sequence[Any], what: str) -> list[Descriptor]:
    """Descriptors of a step's operands; ("host", array) for a host value (or a NumPy program
    input) that no pmapped call has placed yet: the step's functions place it."""
    descs: list[Descriptor] = []
    for x in operands:
        if isinstance(x, _program.ProgramValue) and x._ctx is ctx and x._key not in ctx.spec \
                and not isinstance(ctx.leaves[x._key], _array.Array):
            descs.append(("host", _array.canonicalize(ctx.leaves[x._key]), x._key))
        elif not isinstance(x, (_program.ProgramValue, _array.Array)):
            descs.append(("host", _array.canonicalize(x), None))
        else:
            descs.append(ctx.descriptor(x, None, what))
    return descs


def _place(descs: Sequence[Descriptor], subs: Sequence[_ProgramTrace], what: str) -> list[Descriptor]:
    """The operand descriptors once pass 1 placed the host operands."""
    out: list[Descriptor] = []
    for j, d in enumerate(descs):
        if d[0] != "host":
            out.append(d)
            continue
        where: Where | None = next((s.placed[j] for s in subs if j in s.placed), None)
        if where is None:
            raise TypeError(f"{what} {j} is a host value that no pmapped function reads, so it "
                            "has no devices; pass it as a pw.Array (pw.device_put)")
        out.append(("leaf", d[2], where) if d[2] is not None else ("put", d[1], where))
    return out


def _union(*capture_lists: Captures) -> Captures:
    seen: set[Identity] = set()
    out: Captures = []
    for captures in capture_lists:
        for ident, desc in captures:
            if ident not in seen:
                seen.add(ident)
                out.append((ident, desc))
    return out


def _check_top(ctx: _ProgramTrace, what: str) -> None:
    if ctx.parent is not None:
        raise NotImplementedError(
            f"{what}: a data-dependent step inside a branch or loop body of a program is not "
            "supported; compute the predicate inside a pmapped function (pw.lax control flow "
            "there is compiled, not data-dependent dispatch)")


def _predicate_desc(ctx: _ProgramTrace, pred: object, what: str) -> Descriptor:
    if not isinstance(pred, _program.ProgramValue) or pred._ctx is not ctx:
        raise TypeError(f"{what}: the predicate must be a value this program computes, got {pred!r}")
    if int(_prod(pred.shape[1:])) != 1 or pred.dtype.kind not in "bi":
        raise TypeError(f"{what}: the predicate must hold one bool or int32 element per device, "
                        f"got {pred.dtype.name}{list(pred.shape)}")
    return ctx.descriptor(pred, None, what)


def _prod(dims: Sequence[int]) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def case(ctx: _ProgramTrace, index: object, branches: Sequence[Callable[..., PyTree]],
         operands: Sequence[PyTree], what: str, names: Sequence[str] | None = None) -> PyTree:
    """The step running branches[index](*operands); its outputs (ProgramValues of ctx).
    `names` name the branches in errors ("branch i" by default)."""
    _check_top(ctx, what)
    names = names or [f"branch {b}" for b in range(len(branches))]
    pred = _predicate_desc(ctx, index, what)
    leaves, tree = tree_flatten(tuple(operands))
    descs = _operand_descs(ctx, leaves, f"{what} operand")
    # Pass 1: what each branch captures.
    captured: list[Captures] = []
    subs: list[_ProgramTrace] = []
    for b, fun in enumerate(branches):
        sub, ph = _sub_trace(ctx, f"{ctx.name}.{what}{b}", descs, [], leaves)
        _trace_fn(sub, fun, tree_unflatten(tree, ph), f"{what} branch {b}")
        captured.append(sub.captures)
        subs.append(sub)
    captures = _union(*captured)
    descs = _place(descs, subs, f"{what} operand")
    # Pass 2: every branch takes the operands and every capture.
    programs: list[_pathways.Program] = []
    first: list[ProgramValue] | None = None
    first_tree: TreeDef | None = None
    out_specs: list[_pathways.TracedSpec] = []
    for b, fun in enumerate(branches):
        sub, ph = _sub_trace(ctx, f"{ctx.name}.{what}{b}", descs, captures, leaves)
        outs, out_tree = _trace_fn(sub, fun, tree_unflatten(tree, ph), f"{what} branch {b}")
        if first is None:
            first, first_tree = outs, out_tree
            out_specs = [sub.spec_of(o._key) for o in outs]
        elif out_tree != first_tree:
            raise TypeError(f"{what}: {names[b]} returns the structure {out_tree} but {names[0]} "
                            f"returns {first_tree}; every branch must return the same structure")
        elif [(o.dtype, o.shape) for o in outs] != [(o.dtype, o.shape) for o in first]:
            raise TypeError(f"{what}: {names[b]} returns {_describe(outs)} but {names[0]} returns "
                            f"{_describe(first)}; every branch must return the same dtypes and "
                            "shapes")
        assert sub.current is not None
        programs.append(sub.current.trace.build([_tid(sub, o) for o in outs]))
    assert first is not None and first_tree is not None, "a case has branches"
    results = [ctx.new_value("step", o.shape, o.dtype, spec=s) for o, s in zip(first, out_specs)]
    ctx.current = None  # what follows is the next segment
    ctx.items.append(("step", Step("case", pred, programs, descs + [d for _, d in captures],
                                   [r._key for r in results])))
    return tree_unflatten(first_tree, results)


def while_loop(ctx: _ProgramTrace, cond_fun: Callable[[PyTree], object],
               body_fun: Callable[[PyTree], PyTree], init: PyTree, max_iterations: int,
               what: str) -> PyTree:
    """The step running `body_fun` while `cond_fun` (a predicate the program computes) holds."""
    _check_top(ctx, what)
    leaves, tree = tree_flatten(init)
    descs = _operand_descs(ctx, leaves, f"{what} carried value")

    def trace(captures: Captures) -> tuple[_ProgramTrace, ProgramValue, _ProgramTrace,
                                            list[ProgramValue]]:
        cond, ph = _sub_trace(ctx, f"{ctx.name}.{what}_cond", descs, captures, leaves)
        pred, _ = _trace_fn(cond, cond_fun, (tree_unflatten(tree, ph),), f"{what} cond_fun")
        if len(pred) != 1:
            raise TypeError(f"{what}: cond_fun must return one predicate, got {len(pred)} values")
        _predicate_desc(cond, pred[0], f"{what} cond_fun")
        body, ph = _sub_trace(ctx, f"{ctx.name}.{what}_body", descs, captures, leaves)
        new, new_tree = _trace_fn(body, body_fun, (tree_unflatten(tree, ph),), f"{what} body_fun")
        if new_tree != tree:
            raise TypeError(f"{what}: body_fun must return the structure of its input "
                            f"({tree}), got {new_tree}")
        paths = [str(i) for i in range(len(leaves))]
        for k, (a, b) in enumerate(zip(new, leaves)):
            if a.dtype != b.dtype or tuple(a.shape) != tuple(b.shape):
                raise TypeError(f"{what}: body_fun changes carried value {paths[k]} from "
                                f"{b.dtype.name}{list(b.shape)} to {a.dtype.name}{list(a.shape)}")
        return cond, pred[0], body, new

    cond, _, body, _ = trace([])
    captures = _union(cond.captures, body.captures)
    descs = _place(descs, [cond, body], f"{what} carried value")
    cond, pred, body, new = trace(captures)
    assert cond.current is not None and body.current is not None
    cond_program = cond.current.trace.build([_tid(cond, pred)])
    # The body returns the new carried values, then its captures unchanged (they are carried).
    capture_tids = [body.current.local[ident] for ident, _ in captures]
    body_program = body.current.trace.build([_tid(body, v) for v in new] + capture_tids)
    results = [ctx.new_value("step", v.shape, v.dtype, spec=body.spec_of(v._key)) for v in new]
    ctx.current = None
    step = Step("while", None, [cond_program, body_program], descs + [d for _, d in captures],
                [r._key for r in results], max_iterations)
    ctx.items.append(("step", step))
    return tree_unflatten(tree, results)
