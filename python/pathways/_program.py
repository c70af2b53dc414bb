"""@pw.program: traces a Python function that calls several pmapped functions into ONE program,
submitted as one run (parallel asynchronous dispatch).

A program may also hold data-dependent steps (pw.lax.cond / switch / while_loop whose predicate
is a value the program computes; _program_control.py). Then it is traced into *segments*, the
statically shaped parts between steps, each one registered program dispatched in parallel, and
the controller runs each step when its predicate arrives: dispatch falls back to sequential
exactly at those edges. A call still submits everything at once and returns futures.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

import numpy as np
import numpy.typing as npt

from . import _array, _pathways, _runtime, _tracer
from ._tree import TreeDef, tree_flatten, tree_unflatten
from ._types import PyTree, RuntimeSharding, Shape

if TYPE_CHECKING:
    from ._pmap import PmapFunction

_active: list[_ProgramTrace] = []  # the _ProgramTrace being recorded (innermost last)

Where: TypeAlias = "tuple[_runtime.VirtualSlice, RuntimeSharding]"
"""Where a host value is placed: a slice and a runtime sharding."""

Descriptor: TypeAlias = "tuple[Any, ...]"
"""How a run supplies a segment or step input, tagged by its first item:
("leaf", program input index, Where | None) | ("value", key) | ("array", pw.Array) |
("put", ndarray, Where) | ("spec", TracedSpec) | ("host", ndarray, input index | None)."""

# A value bound into a segment: ("pv", id of its trace, key) or ("obj", id of a host object);
# or a ProgramValue's key.
Identity: TypeAlias = "tuple[str, int] | tuple[str, int, int] | int"

# The runtime array of each key of a run.
Env: TypeAlias = "dict[int, _pathways.Array]"


def tracing() -> bool:
    """Whether a @pw.program is being traced."""
    return bool(_active)


def current() -> _ProgramTrace | None:
    """The innermost @pw.program trace, or None."""
    return _active[-1] if _active else None


class ProgramValue:
    """A value inside a program being traced: a program input, a pmapped call's output or a
    data-dependent step's output. Only pmapped functions (and pw.lax control flow) can compute
    on it; `shape` is global ([devices, ...])."""

    __slots__ = ("_ctx", "_key", "shape", "dtype")

    _ctx: _ProgramTrace
    _key: int
    shape: Shape
    """The global shape ([devices, ...] for a pmapped call's output)."""
    dtype: np.dtype[Any]
    """The element type."""

    def __init__(self, ctx: _ProgramTrace, key: int, shape: Sequence[int], dtype: npt.DTypeLike) -> None:
        self._ctx, self._key = ctx, key
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)

    @property
    def ndim(self) -> int:
        """The number of dimensions: len(shape)."""
        return len(self.shape)

    def __repr__(self) -> str:
        return f"ProgramValue<{self.dtype}{list(self.shape)}> in program '{self._ctx.name}'"

    def _no(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(
            f"{self!r}: inside @pw.program, values can only be passed to pmapped functions "
            "(wrap this computation in pw.pmap) or to pw.lax.cond / switch / while_loop")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _no
    __matmul__ = __rmatmul__ = __pow__ = __neg__ = __getitem__ = __array__ = __bool__ = _no
    __lt__ = __le__ = __gt__ = __ge__ = _no
    __hash__ = object.__hash__


class _Segment:
    """A statically shaped part of a program: one C++ trace, one registered program."""

    def __init__(self, ctx: _ProgramTrace, index: int) -> None:
        self.trace = ctx.session.trace_program(ctx.name if index == 0 else f"{ctx.name}.{index}")
        # How to get each trace input at run time, in order (see _ProgramTrace.materialize):
        # ("leaf", i, where) | ("value", key) | ("array", pw.Array) | ("put", ndarray, where)
        self.inputs: list[Descriptor] = []
        self.local: dict[Identity, int] = {}     # identity of a bound value -> trace id here
        self.produced: list[tuple[int, int]] = []  # (key, trace id) of the values made here
        self.out_keys: list[int] = []
        self.program: _pathways.Program | None = None


class _ProgramTrace:
    """A program being traced. At top level its items are segments and data-dependent steps, in
    order; a sub-trace (`parent` set: a branch or loop body of a step) is one segment whose
    inputs are pre-bound, and values of the enclosing program it uses become *captures*."""

    def __init__(self, session: _pathways.Session, name: str,
                 leaves: Sequence[_array.Array | npt.NDArray[Any]] | None,
                 parent: _ProgramTrace | None = None) -> None:
        self.session = session
        self.name = name
        self.leaves = leaves or []
        self.parent = parent
        # ("seg", _Segment) | ("step", _program_control.Step)
        self.items: list[tuple[str, Any]] = []
        self.current: _Segment | None = None    # the open segment
        self.origin: dict[int, str] = {}       # key -> "leaf" | "seg" | "step"
        self.spec: dict[int, _pathways.TracedSpec] = {}  # key -> the TracedSpec of a placed value
        self.keep: dict[int, object] = {}  # host objects bound by identity, alive while tracing
        # sub-traces: (identity, descriptor) of enclosing values, in order
        self.captures: list[tuple[Identity, Descriptor]] = []
        # Sub-traces: operands that are host values, placed by the first pmapped call reading
        # them: placeholder key -> (operand index, host array); and where each was placed.
        self.deferred: dict[int, tuple[int, npt.NDArray[Any]]] = {}
        self.placed: dict[int, Where] = {}
        self.leaf_where: dict[int, Where | None] = {}  # program input -> where it was placed first
        self.next_key = len(self.leaves)
        for i in range(len(self.leaves)):
            self.origin[i] = "leaf"

    # -- values ---------------------------------------------------------------------------------

    def new_value(self, origin: str, shape: Sequence[int], dtype: npt.DTypeLike,
                  spec: _pathways.TracedSpec | None = None) -> ProgramValue:
        key = self.next_key
        self.next_key += 1
        self.origin[key] = origin
        if spec is not None:
            self.spec[key] = spec
        return ProgramValue(self, key, shape, dtype)

    def segment(self) -> _Segment:
        if self.current is None:
            self.current = _Segment(self, len([1 for kind, _ in self.items if kind == "seg"]))
            self.items.append(("seg", self.current))
        return self.current

    def identity(self, x: object) -> Identity:
        if isinstance(x, ProgramValue):
            return ("pv", id(x._ctx), x._key)
        self.keep[id(x)] = x
        return ("obj", id(x))

    def descriptor(self, x: object, where: Where | None, what: str) -> Descriptor:
        """How the enclosing run supplies `x` to a segment or step input, for a value that is
        not made where it is used. `where` (slice, sharding) places a host value or an
        unplaced NumPy program input; None when no pmapped call places it."""
        if isinstance(x, ProgramValue):
            if x._ctx is not self:
                raise ValueError(f"{x!r} belongs to another program trace")
            if x._key in self.spec:
                return ("value", x._key)
            leaf = self.leaves[x._key]  # an input not placed yet
            if isinstance(leaf, _array.Array):
                return ("leaf", x._key, None)
            if where is None:
                raise TypeError(f"{what}: program input {x._key} is a NumPy array that no pmapped "
                                "function has placed yet; pass it as a pw.Array (pw.device_put) or "
                                "use it in a pmapped call first")
            return ("leaf", x._key, where)
        if isinstance(x, _tracer.Tracer):
            raise TypeError(f"{what}: {x!r} cannot be passed into a program")
        if isinstance(x, _array.Array):
            return ("array", x)
        if where is None:
            raise TypeError(f"{what}: a host value ({type(x).__name__}) needs a pmapped call to "
                            "place it; pass a pw.Array instead")
        # Any other host value: canonicalize raises TypeError for one that is not an array.
        return ("put", _array.canonicalize(x), where)  # type: ignore[arg-type]

    def bind_descriptor(self, seg: _Segment, ident: Identity, desc: Descriptor) -> int:
        """Adds the segment input `desc` stands for; its trace id."""
        kind = desc[0]
        if kind == "value":
            tid = seg.trace.input_spec(self.spec_of(desc[1]))
        elif kind == "leaf":
            leaf = self.leaves[desc[1]]
            if isinstance(leaf, _array.Array):
                tid = seg.trace.input_like(leaf._impl)
            else:
                sl, cpp = desc[2]
                tid = seg.trace.input(leaf.dtype.name, list(leaf.shape), sl._impl, cpp)
            self.spec[desc[1]] = seg.trace.traced(tid)  # placed now: later uses read it as a value
            self.leaf_where.setdefault(desc[1], desc[2])
        elif kind == "array":
            tid = seg.trace.input_like(desc[1]._impl)
        elif kind == "put":
            a, (sl, cpp) = desc[1], desc[2]
            tid = seg.trace.input(a.dtype.name, list(a.shape), sl._impl, cpp)
        else:  # "spec": a sub-trace's pre-bound input of a known spec
            tid = seg.trace.input_spec(desc[1])
        seg.inputs.append(desc)
        seg.local[ident] = tid
        return tid

    def for_sub(self, desc: Descriptor) -> Descriptor:
        """How a sub-trace of this trace binds an input this trace supplies as `desc`."""
        if desc[0] == "value":
            return ("spec", self.spec_of(desc[1]))
        if desc[0] == "leaf":
            leaf = self.leaves[desc[1]]
            return ("array", leaf) if desc[2] is None else ("put", _array.canonicalize(leaf), desc[2])
        return desc

    def spec_of(self, key: int) -> _pathways.TracedSpec:
        if self.parent is not None and key not in self.spec:
            return self.parent.spec_of(key)
        return self.spec[key]

    def bind(self, x: object, sl: _runtime.VirtualSlice, fn: PmapFunction, i: int,
             cpp: RuntimeSharding) -> int:
        """The trace id of argument `i` of pmap `fn` (on slice `sl`, read in runtime sharding
        `cpp`), adding segment inputs as needed."""
        seg = self.segment()
        if isinstance(x, ProgramValue) and x._ctx is self and x._key in seg.local:
            return seg.local[x._key]
        if isinstance(x, ProgramValue) and x._ctx is self and x._key in self.deferred:
            j, a = self.deferred[x._key]  # a host operand: this call places it
            fn.shard_shape(i, a.shape, cpp, sl)
            self.placed.setdefault(j, (sl, cpp))
            tid = self.bind_descriptor(seg, x._key, ("put", a, (sl, cpp)))
            self.spec[x._key] = seg.trace.traced(tid)
            return tid
        ident = self.identity(x)
        if ident in seg.local:
            return seg.local[ident]
        if not isinstance(x, (ProgramValue, _array.Array, _tracer.Tracer)):
            # A host value: canonicalize raises TypeError for one that is not an array.
            fn.shard_shape(i, _array.canonicalize(x).shape, cpp, sl)  # type: ignore[arg-type]
        where = (sl, cpp)
        if self.parent is not None and not (isinstance(x, ProgramValue) and x._ctx is self):
            # A branch or loop body using a value of the enclosing program: a capture.
            desc = self.parent.descriptor(x, where, f"pmap '{fn._name}'")
            self.captures.append((ident, desc))
            return self.bind_descriptor(seg, ident, self.parent.for_sub(desc))
        return self.bind_descriptor(seg, ident, self.descriptor(x, where, f"pmap '{fn._name}'"))

    # -- running --------------------------------------------------------------------------------

    def materialize(self, desc: Descriptor, vals: Sequence[_array.Array | npt.NDArray[Any]],
                    env: Env) -> _pathways.Array:
        """The array a descriptor stands for in one call of the program."""
        kind = desc[0]
        if kind == "value":
            if desc[1] not in env and self.origin.get(desc[1]) == "leaf":
                # A program input placed by a segment that no output needed (it was dropped).
                return self.materialize(("leaf", desc[1], self.leaf_where.get(desc[1])), vals, env)
            return env[desc[1]]
        if kind == "leaf":
            if desc[1] not in env:
                v = vals[desc[1]]
                env[desc[1]] = v._impl if isinstance(v, _array.Array) else \
                    self.session.put(desc[2][0]._impl, v, desc[2][1])
            return env[desc[1]]
        if kind == "array":
            impl: _pathways.Array = desc[1]._impl
            return impl
        return self.session.put(desc[2][0]._impl, desc[1], desc[2][1])  # "put"


def record_call(fn: PmapFunction, leaves: list[Any], in_tree: TreeDef) -> PyTree:
    """Records pmap `fn` applied to `leaves` into the active program trace."""
    if not _active:
        raise TypeError(f"pmap '{fn._name}': program values can only be used inside their @pw.program")
    ctx = _active[-1]
    first = leaves[0].shape
    sl = fn._slice_for(first[0] if first else 0, ctx.session)
    shardings = fn.leaf_shardings(tree_unflatten(in_tree, leaves), sl)
    sigs: list[tuple[str, Shape]] = []
    for i, (x, s) in enumerate(zip(leaves, shardings)):
        shape = x.shape if hasattr(x, "shape") else _array.canonicalize(x).shape
        dtype = x.dtype if hasattr(x, "dtype") else _array.canonicalize(x).dtype
        sigs.append((str(dtype), fn.shard_shape(i, shape, s, sl)))
    tids = [ctx.bind(x, sl, fn, i, s) for i, (x, s) in enumerate(zip(leaves, shardings))]
    seg = ctx.segment()
    cpp, state = fn._compiled_for(sl, in_tree, ctx.session, tuple(shardings))
    out_ids = fn.invoke(lambda: seg.trace.call(cpp, tids), state)
    out_tree = state.out_trees[tuple(sigs)]
    outs = []
    for tid in out_ids:
        dtype, _, _, global_shape = seg.trace.spec(tid)
        value = ctx.new_value("seg", global_shape, dtype, spec=seg.trace.traced(tid))
        seg.local[value._key] = tid
        seg.produced.append((value._key, tid))
        outs.append(value)
    return tree_unflatten(out_tree, outs)


class _Compiled:
    __slots__ = ("trace", "items", "outputs", "out_tree")

    trace: _ProgramTrace
    items: list[tuple[str, Any]]
    outputs: list[tuple[str, Any]]
    out_tree: TreeDef

    @property
    def program(self) -> _pathways.Program | None:
        """The one registered program of a program without data-dependent steps (else None)."""
        items = self.items
        if len(items) == 1 and items[0][0] == "seg":
            seg: _Segment = items[0][1]
            return seg.program
        return None


class ProgramFunction:
    """The result of @pw.program: traced once per input signature into registered programs;
    each call submits them (and its data-dependent steps) and returns pw.Arrays (futures)."""

    def __init__(self, fn: Callable[..., PyTree]) -> None:
        self._fn = fn
        self._name = str(getattr(fn, "__name__", "program"))
        self._cache: dict[tuple[int, TreeDef, tuple[Any, ...]], _Compiled] = {}
        functools.update_wrapper(self, fn)

    def __call__(self, *args: PyTree) -> PyTree:
        if _active:  # called from an enclosing program: inline it
            return self._fn(*args)
        session = _runtime.session()
        leaves, in_tree = tree_flatten(args)
        vals: list[_array.Array | npt.NDArray[Any]] = [
            x if isinstance(x, _array.Array) else _array.canonicalize(x) for x in leaves]
        sig = tuple(("A", str(v.dtype), v.shape, v._impl.slice_id, repr(v._impl.sharding))
                    if isinstance(v, _array.Array)
                    else ("N", str(v.dtype), v.shape) for v in vals)
        key = (session.generation, in_tree, sig)
        compiled = self._cache.get(key)
        if compiled is None:
            compiled = self._trace(session, vals, in_tree)
            self._cache[key] = compiled
        ctx = compiled.trace
        env: Env = {}
        for kind, item in compiled.items:
            if kind == "seg":
                outs = item.program([ctx.materialize(d, vals, env) for d in item.inputs])
                env.update(zip(item.out_keys, outs))
            else:
                env.update(item.run(ctx, vals, env))
        flat: list[Any] = []
        for kind, payload in compiled.outputs:
            if kind == "out":
                flat.append(_array.Array(env[payload]))
            elif kind == "leaf":
                flat.append(leaves[payload])
            else:
                flat.append(payload)
        return tree_unflatten(compiled.out_tree, flat)

    def _trace(self, session: _pathways.Session, vals: list[_array.Array | npt.NDArray[Any]],
               in_tree: TreeDef) -> _Compiled:
        ctx = _ProgramTrace(session, self._name, vals)
        placeholders = [ProgramValue(ctx, i, v.shape, v.dtype) for i, v in enumerate(vals)]
        _active.append(ctx)
        try:
            out = self._fn(*tree_unflatten(in_tree, placeholders))
        finally:
            _active.pop()
        out_leaves, out_tree = tree_flatten(out)
        outputs: list[tuple[str, Any]] = []
        needed: set[int] = set()
        for x in out_leaves:
            if isinstance(x, ProgramValue) and x._ctx is ctx and ctx.origin[x._key] != "leaf":
                outputs.append(("out", x._key))
                needed.add(x._key)
            elif isinstance(x, ProgramValue) and x._ctx is ctx:
                outputs.append(("leaf", x._key))  # an input returned as is
            elif isinstance(x, ProgramValue):
                raise ValueError(f"program '{self._name}' returned {x!r} from another program trace")
            else:
                outputs.append(("const", x))
        # Each segment returns what later items and the outputs read; unused segments drop out.
        for kind, item in reversed(ctx.items):
            descs = item.inputs if kind == "seg" else item.descriptors()
            if kind == "seg":
                item.out_keys = [k for k, _ in item.produced if k in needed]
                if not item.out_keys:
                    continue
            elif not any(k in needed for k in item.out_keys):
                continue
            needed.update(d[1] for d in descs if d[0] == "value")
        items: list[tuple[str, Any]] = []
        for kind, item in ctx.items:
            if kind == "seg":
                if not item.out_keys:
                    continue
                tids = [dict(item.produced)[k] for k in item.out_keys]
                item.program = item.trace.build(tids)
            elif not any(k in needed for k in item.out_keys):
                continue
            items.append((kind, item))
        compiled = _Compiled()
        compiled.trace = ctx
        compiled.items = items
        compiled.outputs = outputs
        compiled.out_tree = out_tree
        return compiled

    def __repr__(self) -> str:
        return f"<pw.program {self._name}>"


def program(fn: Callable[..., PyTree]) -> ProgramFunction:
    """Decorator: calls of pmapped functions inside `fn` become ONE program (one submission,
    parallel dispatch). Inputs and outputs may be tuples/lists/dicts of arrays. pw.lax.cond,
    switch and while_loop on values the program computes become data-dependent steps.

        >>> import numpy as np, pathways as pw
        >>> double = pw.pmap(lambda x: x * 2.0, devices=pw.get_devices(2))
        >>> @pw.program
        ... def f(v):
        ...     return double(double(v))
        >>> f(np.array([1.0, 2.0], np.float32))
        array([4., 8.], dtype=float32)
    """
    return ProgramFunction(fn)
