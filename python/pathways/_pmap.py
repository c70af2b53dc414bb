"""pw.pmap: a function mapped over the leading axis of its arguments, one shard per device,
traced once per argument signature into a compiled function (jax.pmap's conventions)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias, TypeVar, overload

import numpy.typing as npt

from . import _array, _pathways, _program, _runtime, _tracer
from . import sharding as _sharding
from ._tree import TreeDef, tree_flatten, tree_unflatten
from ._types import Devices, PyTree, RuntimeSharding, Shape

Specs: TypeAlias = "_sharding.Spec | Sequence[_sharding.Spec]"
"""in_specs / out_specs: one layout for all, or one per positional argument / output."""

# A traced argument signature: (dtype name, shard shape) per leaf.
Signature: TypeAlias = "tuple[tuple[str, Shape], ...]"


class _TraceState:
    """What the C++ PmapFunction calls back when it traces a new signature. Holds no reference
    to the PmapFunction (the C++ side owns this object: no reference cycle)."""

    __slots__ = ("fn", "name", "axis_name", "in_tree", "out_trees", "error", "mesh", "mesh_axes")

    def __init__(self, fn: Callable[..., PyTree], name: str, axis_name: str | None,
                 in_tree: TreeDef, mesh: Sequence[int] | None = None,
                 mesh_axes: Sequence[str] | None = None) -> None:
        self.fn, self.name, self.axis_name, self.in_tree = fn, name, axis_name, in_tree
        self.mesh, self.mesh_axes = mesh, mesh_axes
        self.out_trees: dict[Signature, TreeDef] = {}  # shard signature -> output treedef
        self.error: BaseException | None = None

    def __call__(self, builder: _pathways.Builder, num_params: int) -> list[int] | None:
        # Exceptions are kept and re-raised by the caller once the C++ call returns, so they
        # never unwind through the runtime.
        self.error = None
        try:
            sig = tuple((d, tuple(s)) for d, s in (builder.type_of(i) for i in range(num_params)))
            trace = _tracer.PmapTrace(builder, self.name, self.axis_name, builder.num_shards,
                                      mesh=self.mesh, mesh_axes=self.mesh_axes)
            args = tree_unflatten(self.in_tree, [_tracer.Tracer(trace, i) for i in range(num_params)])
            with trace:
                out = self.fn(*args)
                leaves, out_tree = tree_flatten(out)
                if not leaves:
                    raise ValueError(f"pmap '{self.name}': the function returned no arrays")
                ids = [_tracer.lift(leaf, trace) for leaf in leaves]
            self.out_trees[sig] = out_tree
            return ids
        except BaseException as e:  # noqa: B902 - re-raised by PmapFunction._invoke
            self.error = e
            return None


def _signature(dtype: object, shard_shape: Sequence[int]) -> tuple[str, Shape]:
    return (str(dtype), tuple(shard_shape))


def _is_spec(x: object) -> bool:
    return x is _sharding.STACKED or isinstance(x, _sharding.PartitionSpec)


class PmapFunction:
    """The result of pw.pmap(fn, devices=...). Calling it runs one step op-by-op (returns
    pw.Arrays at once, as futures); inside @pw.program it records a call instead.

    Its arguments are pytrees of arrays whose leaves have the number of devices as leading
    axis (or are laid out by in_specs); it returns the function's output pytree with pw.Array
    leaves."""

    def __init__(self, fn: Callable[..., PyTree], devices: Devices | None = None,
                 axis_name: str | None = None, name: str | None = None,
                 in_specs: Specs | None = None, out_specs: Specs | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"pmap: {fn!r} is not callable")
        self._fn = fn
        self._axis_name = axis_name
        self._name: str = name or str(getattr(fn, "__name__", "pmap"))
        for what, specs in (("in_specs", in_specs), ("out_specs", out_specs)):
            if specs is not None and not _is_spec(specs) and not (
                    isinstance(specs, (tuple, list)) and all(map(_is_spec, specs))):
                raise TypeError(f"pmap '{self._name}': {what} must be a pw.sharding.P(...) or "
                                f"pw.sharding.STACKED, or a tuple of them, got {specs!r}")
        if (in_specs is not None or out_specs is not None) and devices is None:
            raise ValueError(f"pmap '{self._name}': in_specs / out_specs need devices= (the slice "
                             "whose mesh they name)")
        self._in_specs = in_specs
        self._out_specs = out_specs
        self._slice = None if devices is None else _runtime.slice_of_devices(devices, f"pmap '{self._name}'")
        # devices=None: (session generation, n) -> VirtualSlice
        self._slices_by_size: dict[tuple[int, int], _runtime.VirtualSlice] = {}
        # (session generation, slice id, in_tree, shardings) -> (C++ PmapFunction, _TraceState)
        self._compiled: dict[tuple[int, int, TreeDef, str],
                             tuple[_pathways.PmapFunction, _TraceState]] = {}
        functools.update_wrapper(self, fn)

    @property
    def devices(self) -> list[_runtime.VirtualDevice] | None:
        """The virtual devices it maps over (None: a slice sized by each call's leading axis)."""
        return None if self._slice is None else self._slice.devices

    def _slice_for(self, n: int, session: _pathways.Session) -> _runtime.VirtualSlice:
        if self._slice is not None:
            if self._slice._impl.session is not session:
                raise _runtime.PathwaysError(
                    f"pmap '{self._name}': its devices belong to Pathways session "
                    f"{self._slice._impl.session.generation}, which was shut down; make new devices")
            return self._slice
        key = (session.generation, n)
        sl = self._slices_by_size.get(key)
        if sl is None:
            sl = _runtime.make_virtual_device_set().add_slice(devices=n)
            self._slices_by_size[key] = sl
        return sl

    def leaf_shardings(self, args: Sequence[PyTree], sl: _runtime.VirtualSlice) -> list[RuntimeSharding]:
        """The runtime sharding (pw.sharding.resolve) of every leaf of `args`: in_specs gives one
        spec per positional argument (or one for all), applied to each of its leaves."""
        specs = self._in_specs
        if specs is None:
            return [None] * len(tree_flatten(args)[0])
        per_arg = _spec_list(specs, len(args))
        if len(per_arg) != len(args):
            raise ValueError(f"pmap '{self._name}': in_specs has {len(per_arg)} entries for "
                             f"{len(args)} arguments")
        out: list[RuntimeSharding] = []
        for i, (arg, spec) in enumerate(zip(args, per_arg)):
            cpp = _sharding.resolve(spec, sl, self._axis_name, f"pmap '{self._name}' in_specs[{i}]")
            out.extend([cpp] * len(tree_flatten(arg)[0]))
        return out

    def _out_shardings(self, sl: _runtime.VirtualSlice) -> list[RuntimeSharding]:
        specs = self._out_specs
        if specs is None:
            return []
        return [_sharding.resolve(s, sl, self._axis_name, f"pmap '{self._name}' out_specs[{i}]")
                for i, s in enumerate(_spec_list(specs, 1))]

    def shard_shape(self, i: int, shape: Sequence[int], cpp: RuntimeSharding,
                    sl: _runtime.VirtualSlice) -> Shape:
        """The per-device shape of argument leaf `i` of global `shape` laid out by `cpp`."""
        if cpp is None:
            self.check_leading_axis(i, shape, sl)
            return tuple(shape[1:])
        return _sharding.shard_shape(shape, cpp, sl.mesh_shape, f"pmap '{self._name}' argument {i}")

    def _compiled_for(self, sl: _runtime.VirtualSlice, in_tree: TreeDef, session: _pathways.Session,
                      leaf_shardings: Sequence[RuntimeSharding] = ()
                      ) -> tuple[_pathways.PmapFunction, _TraceState]:
        key = (session.generation, sl.id, in_tree, repr(leaf_shardings))
        entry = self._compiled.get(key)
        if entry is None:
            if self._axis_name is not None and sl.axis_names and self._axis_name in sl.axis_names:
                raise ValueError(f"pmap '{self._name}': axis_name {self._axis_name!r} is also an axis "
                                 f"of the slice's mesh {sl.axis_names}; pick another name")
            state = _TraceState(self._fn, self._name, self._axis_name, in_tree, sl.mesh_shape,
                                sl.axis_names)
            in_shardings = list(leaf_shardings) if any(s is not None for s in leaf_shardings) else []
            entry = (session.pmap(self._name, sl._impl, state, in_shardings, self._out_shardings(sl)),
                     state)
            self._compiled[key] = entry
        return entry

    def check_leading_axis(self, i: int, shape: Sequence[int], sl: _runtime.VirtualSlice) -> None:
        """ValueError unless argument leaf `i` of `shape` maps over the slice's devices."""
        n = len(sl.devices)
        if len(shape) == 0:
            raise ValueError(
                f"pmap '{self._name}': argument {i} is a scalar, but pmap maps over the leading "
                f"axis, which must equal the number of devices ({n})")
        if shape[0] != n:
            raise ValueError(
                f"pmap '{self._name}': argument {i} has shape {tuple(shape)} whose leading axis "
                f"{shape[0]} does not equal the number of devices the function is mapped over ({n})")

    def invoke(self, call: Callable[[], list[_T]], state: _TraceState) -> list[_T]:
        """Runs `call` (a C++ call that may trace); re-raises the traced function's own error."""
        state.error = None
        try:
            return call()
        except _pathways.PathwaysError:
            err, state.error = state.error, None
            if err is not None:
                raise err from None
            raise

    def __call__(self, *args: PyTree) -> PyTree:
        leaves, in_tree = tree_flatten(args)
        if not leaves:
            raise TypeError(f"pmap '{self._name}': needs at least one array argument")
        if _program.tracing() or any(isinstance(x, _program.ProgramValue) for x in leaves):
            return _program.record_call(self, leaves, in_tree)
        if any(isinstance(x, _tracer.Tracer) for x in leaves):
            raise TypeError(f"pmap '{self._name}': calling a pmapped function inside another pmap is not supported")
        session = _runtime.session()
        vals: list[_array.Array | npt.NDArray[Any]] = [
            x if isinstance(x, _array.Array) else _array.canonicalize(x) for x in leaves]
        first = vals[0].shape
        sl = self._slice_for(first[0] if first else 0, session)
        shardings = self.leaf_shardings(args, sl)
        arrays: list[_pathways.Array] = []
        sigs: list[tuple[str, Shape]] = []
        for i, (v, cpp_sharding) in enumerate(zip(vals, shardings)):
            sigs.append(_signature(v.dtype, self.shard_shape(i, v.shape, cpp_sharding, sl)))
            arrays.append(v._impl if isinstance(v, _array.Array) else session.put(sl._impl, v, cpp_sharding))
        cpp, state = self._compiled_for(sl, in_tree, session, tuple(shardings))
        outs = self.invoke(lambda: cpp(arrays), state)
        out_tree = state.out_trees[tuple(sigs)]
        return tree_unflatten(out_tree, [_array.Array(o) for o in outs])

    def __repr__(self) -> str:
        return f"<pw.pmap {self._name} axis_name={self._axis_name!r}>"


_T = TypeVar("_T")


def _spec_list(specs: Specs, n: int) -> list[_sharding.Spec]:
    """One spec per argument (or output): `specs` repeated n times when it is a single one."""
    if isinstance(specs, (_sharding.PartitionSpec, _sharding._Stacked)):
        return [specs] * n
    return list(specs)


@overload
def pmap(fn: Callable[..., PyTree], devices: Devices | None = None, axis_name: str | None = None,
         *, name: str | None = None, in_specs: Specs | None = None,
         out_specs: Specs | None = None) -> PmapFunction: ...


@overload
def pmap(fn: None = None, devices: Devices | None = None, axis_name: str | None = None,
         *, name: str | None = None, in_specs: Specs | None = None,
         out_specs: Specs | None = None) -> Callable[[Callable[..., PyTree]], PmapFunction]: ...


def pmap(fn: Callable[..., PyTree] | None = None, devices: Devices | None = None,
         axis_name: str | None = None, *, name: str | None = None, in_specs: Specs | None = None,
         out_specs: Specs | None = None
         ) -> PmapFunction | Callable[[Callable[..., PyTree]], PmapFunction]:
    """Maps `fn` over the leading axis of its arguments: shard i runs on devices[i], all as one
    gang. `devices` is a slice's device list (pw.make_virtual_device_set().add_slice(devices=n)
    .devices); if omitted, a slice sized by the leading axis is allocated on first call.
    `axis_name` names the mapped axis for pw.lax collectives. Usable as a decorator.

    `in_specs` / `out_specs` (pw.sharding) say how the arguments and outputs are global arrays
    over the slice's mesh instead of stacked along a leading axis: one spec for all, or one per
    positional argument / per output. An argument laid out otherwise, or on another slice, is
    resharded host to host before the call (jax.experimental.shard_map's conventions).

        >>> import numpy as np, pathways as pw
        >>> devices = pw.make_virtual_device_set().add_slice(devices=2).devices
        >>> total = pw.pmap(lambda x: pw.lax.psum(x, "i"), devices=devices, axis_name="i")
        >>> total(np.array([1.0, 2.0], np.float32))
        array([3., 3.], dtype=float32)
    """
    if fn is None:
        return lambda f: PmapFunction(f, devices, axis_name, name, in_specs, out_specs)
    return PmapFunction(fn, devices, axis_name, name, in_specs, out_specs)


def shard_map(fn: Callable[..., PyTree], devices: Devices, in_specs: Specs, out_specs: Specs, *,
              axis_name: str | None = None, name: str | None = None) -> PmapFunction:
    """pw.pmap with `in_specs` and `out_specs` required: `fn` sees each device's block of the
    global arguments and returns its block of the global outputs."""
    return PmapFunction(fn, devices, axis_name, name, in_specs, out_specs)
