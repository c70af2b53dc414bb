"""@pw.program: traces a Python function that calls several pmapped functions into ONE program,
submitted as one run (parallel asynchronous dispatch)."""

import functools

import numpy as np

from . import _array, _pathways, _runtime, _tracer
from ._tree import tree_flatten, tree_unflatten

_active = []  # the _ProgramTrace being recorded (innermost last)


def tracing():
    return bool(_active)


class ProgramValue:
    """A value inside a program being traced: a program input or a pmapped call's output.
    Only pmapped functions can compute on it; `shape` is global ([devices, ...])."""

    __slots__ = ("_ctx", "_leaf", "_tid", "shape", "dtype")

    def __init__(self, ctx, shape, dtype, leaf=None, tid=None):
        self._ctx, self._leaf, self._tid = ctx, leaf, tid
        self.shape, self.dtype = tuple(shape), dtype

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"ProgramValue<{self.dtype}{list(self.shape)}> in program '{self._ctx.name}'"

    def _no(self, *args, **kwargs):
        raise TypeError(
            f"{self!r}: inside @pw.program, values can only be passed to pmapped functions "
            "(wrap this computation in pw.pmap)")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _no
    __matmul__ = __rmatmul__ = __pow__ = __neg__ = __getitem__ = __array__ = __bool__ = _no
    __lt__ = __le__ = __gt__ = __ge__ = _no
    __hash__ = object.__hash__


class _ProgramTrace:
    def __init__(self, session, name, leaves):
        self.session = session
        self.name = name
        self.trace = session.trace_program(name)
        self.leaves = leaves
        # How to build each program input at run time, in order:
        # ("leaf", index, (slice, sharding)) | ("array", pw.Array, None) | ("put", ndarray, (slice, sharding))
        self.plan = []
        self.captured = {}  # id(object) -> trace id, for closed-over arrays

    def bind(self, x, sl, fn, i, cpp):
        """The trace id of argument `i` of pmap `fn` (on slice `sl`, read in runtime sharding
        `cpp`), adding program inputs."""
        if isinstance(x, ProgramValue):
            if x._ctx is not self:
                raise ValueError(f"{x!r} belongs to another program trace")
            if x._tid is None:
                leaf = self.leaves[x._leaf]
                if isinstance(leaf, _array.Array):
                    x._tid = self.trace.input_like(leaf._impl)
                    self.plan.append(("leaf", x._leaf, None))
                else:
                    x._tid = self.trace.input(leaf.dtype.name, list(leaf.shape), sl._impl, cpp)
                    self.plan.append(("leaf", x._leaf, (sl, cpp)))
            return x._tid
        if isinstance(x, _tracer.Tracer):
            raise TypeError(f"pmap '{fn._name}': {x!r} cannot be passed into a program")
        tid = self.captured.get(id(x))
        if tid is not None:
            return tid
        if isinstance(x, _array.Array):
            tid = self.trace.input_like(x._impl)
            self.plan.append(("array", x, None))
        else:
            a = _array.canonicalize(x)
            fn.shard_shape(i, a.shape, cpp, sl)
            tid = self.trace.input(a.dtype.name, list(a.shape), sl._impl, cpp)
            self.plan.append(("put", a, (sl, cpp)))
        self.captured[id(x)] = tid
        return tid


def record_call(fn, leaves, in_tree):
    """Records pmap `fn` applied to `leaves` into the active program trace."""
    if not _active:
        raise TypeError(f"pmap '{fn._name}': program values can only be used inside their @pw.program")
    ctx = _active[-1]
    first = leaves[0].shape
    sl = fn._slice_for(first[0] if first else 0, ctx.session)
    shardings = fn.leaf_shardings(tree_unflatten(in_tree, leaves), sl)
    sigs = []
    for i, (x, s) in enumerate(zip(leaves, shardings)):
        shape = x.shape if hasattr(x, "shape") else _array.canonicalize(x).shape
        dtype = x.dtype if hasattr(x, "dtype") else _array.canonicalize(x).dtype
        sigs.append((str(dtype), fn.shard_shape(i, shape, s, sl)))
    tids = [ctx.bind(x, sl, fn, i, s) for i, (x, s) in enumerate(zip(leaves, shardings))]
    cpp, state = fn._compiled_for(sl, in_tree, ctx.session, tuple(shardings))
    out_ids = fn.invoke(lambda: ctx.trace.call(cpp, tids), state)
    out_tree = state.out_trees[tuple(sigs)]
    outs = []
    for tid in out_ids:
        dtype, _, _, global_shape = ctx.trace.spec(tid)
        outs.append(ProgramValue(ctx, tuple(global_shape), np.dtype(dtype), tid=tid))
    return tree_unflatten(out_tree, outs)


class _Compiled:
    __slots__ = ("program", "plan", "outputs", "out_tree")


class ProgramFunction:
    """The result of @pw.program: traced once per input signature into one registered program;
    each call is one submission whose outputs are pw.Arrays (futures)."""

    def __init__(self, fn):
        self._fn = fn
        self._name = getattr(fn, "__name__", "program")
        self._cache = {}
        functools.update_wrapper(self, fn)

    def __call__(self, *args):
        if _active:  # called from an enclosing program: inline it
            return self._fn(*args)
        session = _runtime.session()
        leaves, in_tree = tree_flatten(args)
        vals = [x if isinstance(x, _array.Array) else _array.canonicalize(x) for x in leaves]
        sig = tuple(("A", str(v.dtype), v.shape, v._impl.slice_id, repr(v._impl.sharding))
                    if isinstance(v, _array.Array)
                    else ("N", str(v.dtype), v.shape) for v in vals)
        key = (session.generation, in_tree, sig)
        compiled = self._cache.get(key)
        if compiled is None:
            compiled = self._trace(session, vals, in_tree)
            self._cache[key] = compiled
        inputs = []
        for kind, payload, where in compiled.plan:
            if kind == "leaf":
                v = vals[payload]
                inputs.append(v._impl if isinstance(v, _array.Array)
                              else session.put(where[0]._impl, v, where[1]))
            elif kind == "array":
                inputs.append(payload._impl)
            else:
                inputs.append(session.put(where[0]._impl, payload, where[1]))
        outs = compiled.program(inputs) if compiled.program is not None else []
        flat = []
        for kind, payload in compiled.outputs:
            if kind == "out":
                flat.append(_array.Array(outs[payload]))
            elif kind == "leaf":
                flat.append(leaves[payload])
            else:
                flat.append(payload)
        return tree_unflatten(compiled.out_tree, flat)

    def _trace(self, session, vals, in_tree):
        ctx = _ProgramTrace(session, self._name, vals)
        placeholders = [ProgramValue(ctx, v.shape, v.dtype, leaf=i) for i, v in enumerate(vals)]
        _active.append(ctx)
        try:
            out = self._fn(*tree_unflatten(in_tree, placeholders))
        finally:
            _active.pop()
        out_leaves, out_tree = tree_flatten(out)
        outputs, tids = [], []
        for x in out_leaves:
            if isinstance(x, ProgramValue) and x._ctx is ctx and x._leaf is None:
                outputs.append(("out", len(tids)))
                tids.append(x._tid)
            elif isinstance(x, ProgramValue) and x._ctx is ctx:
                outputs.append(("leaf", x._leaf))  # an input returned as is
            elif isinstance(x, ProgramValue):
                raise ValueError(f"program '{self._name}' returned {x!r} from another program trace")
            else:
                outputs.append(("const", x))
        compiled = _Compiled()
        compiled.program = ctx.trace.build(tids) if tids else None
        compiled.plan = ctx.plan
        compiled.outputs = outputs
        compiled.out_tree = out_tree
        return compiled

    def __repr__(self):
        return f"<pw.program {self._name}>"


def program(fn):
    """Decorator: calls of pmapped functions inside `fn` become ONE program (one submission,
    parallel dispatch). Inputs and outputs may be tuples/lists/dicts of arrays."""
    return ProgramFunction(fn)
