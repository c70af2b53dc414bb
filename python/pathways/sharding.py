"""How a global array is laid out over a slice's devices: pw.sharding.P (a PartitionSpec) or
pw.sharding.STACKED (pmap's layout).

    P("data", None)       dimension 0 split over the mesh axis "data", dimension 1 whole
    P(("data", "model"))  dimension 0 split over both axes ("data" major)
    P()                   replicated: every device holds the whole array
    STACKED               the devices' shards stacked along a new leading axis (pw.pmap's default)

Mesh axes a spec does not name replicate: with P("model") on a ("data", "model") mesh, the
devices of one "model" row hold different blocks and the rows hold the same ones. Axes are
named by the slice's axis_names (add_slice(..., axis_names=...)); a slice without names takes
axis indices (P(0)), and a 1-D slice also the pmap's axis_name.

Arrays record their layout (pw.Array.spec); pw.reshard moves an array to another slice or
layout host to host, and a pmap's in_specs reshard its arguments the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

from ._types import RuntimeSharding, Shape

if TYPE_CHECKING:
    from ._runtime import VirtualSlice

MeshAxis = Union[str, int]
"""A mesh axis: its name (add_slice(axis_names=...)) or its index."""

SpecEntry = Union[MeshAxis, tuple[MeshAxis, ...], None]
"""One dimension of a PartitionSpec: whole (None), split over one mesh axis or several."""


class PartitionSpec(tuple[SpecEntry, ...]):
    """One entry per leading global dimension: None (whole), a mesh axis, or a tuple of axes.

    >>> P("data", None)
    P('data', None)
    >>> P(("data", "model"))[0]
    ('data', 'model')
    """

    def __new__(cls, *entries: SpecEntry) -> PartitionSpec:
        def is_axis(a: object) -> bool:
            return isinstance(a, str) or (isinstance(a, int) and not isinstance(a, bool))

        for e in entries:
            if not (e is None or is_axis(e) or (isinstance(e, tuple) and all(map(is_axis, e)))):
                raise TypeError(f"PartitionSpec: {e!r} is not None, a mesh axis name or index, "
                                "or a tuple of them")
        # mypy 1.0 cannot solve tuple.__new__ for a subclass of a parameterized tuple.
        return super().__new__(cls, entries)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return "P(" + ", ".join(repr(e) for e in self) + ")"


P = PartitionSpec


class _Stacked:
    """The type of STACKED: pw.pmap's layout, the shards stacked along a leading axis."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "pw.sharding.STACKED"

    def __reduce__(self) -> str:
        return "STACKED"


STACKED = _Stacked()
"""The devices' shards stacked along a new leading axis (pw.pmap's default layout)."""

Spec = Union[PartitionSpec, _Stacked]
"""A layout: a PartitionSpec or STACKED."""


def _axis_index(axis: MeshAxis, sl: VirtualSlice, axis_name: str | None, what: str) -> int:
    names = tuple(sl.axis_names or ())
    if isinstance(axis, int):
        if not 0 <= axis < len(sl.mesh_shape):
            raise ValueError(f"{what}: mesh axis {axis} out of range for the slice's mesh "
                             f"{tuple(sl.mesh_shape)}")
        return axis
    if axis in names:
        return names.index(axis)
    if not names and axis_name is not None and axis == axis_name and len(sl.mesh_shape) == 1:
        return 0
    have = names or ((axis_name,) if axis_name is not None and len(sl.mesh_shape) == 1 else ())
    raise ValueError(f"{what}: the slice has no mesh axis {axis!r} (its axes: {have}, mesh "
                     f"{tuple(sl.mesh_shape)})")


def resolve(spec: object, sl: VirtualSlice, axis_name: str | None = None,
            what: str = "sharding") -> RuntimeSharding:
    """The runtime's form of `spec` on slice `sl`: None for STACKED, else one list of mesh axis
    indices per dimension."""
    if spec is STACKED:
        return None
    if not isinstance(spec, PartitionSpec):
        raise TypeError(f"{what}: {spec!r} is not a pw.sharding.P(...) or pw.sharding.STACKED")
    out: list[list[int]] = []
    for e in spec:
        axes = e if isinstance(e, tuple) else (() if e is None else (e,))
        out.append([_axis_index(a, sl, axis_name, what) for a in axes])
    return out


def describe(cpp: Sequence[Sequence[int]] | None, sl: VirtualSlice | None = None) -> Spec:
    """The PartitionSpec (or STACKED) of a runtime sharding, named by the slice's axis names."""
    if cpp is None:
        return STACKED
    names = tuple(sl.axis_names or ()) if sl is not None else ()

    def name(a: int) -> MeshAxis:
        return names[a] if a < len(names) else a

    entries: list[SpecEntry] = [None if not axes else (name(axes[0]) if len(axes) == 1 else tuple(name(a) for a in axes))
               for axes in cpp]
    while entries and entries[-1] is None:
        entries.pop()
    return PartitionSpec(*entries)


def shard_shape(shape: Sequence[int], cpp: Sequence[Sequence[int]] | None, mesh: Sequence[int],
                what: str = "sharding") -> Shape:
    """The per-device shape of a global `shape` under runtime sharding `cpp` over `mesh`."""
    shape = tuple(shape)
    if cpp is None:
        n = math.prod(mesh)
        if not shape or shape[0] != n:
            raise ValueError(f"{what}: shape {shape} needs a leading axis equal to the {n} devices "
                             "(stacked, pmap's layout)")
        return shape[1:]
    if len(cpp) > len(shape):
        raise ValueError(f"{what}: the spec names {len(cpp)} dimensions of an array of shape {shape}")
    out = list(shape)
    for d, axes in enumerate(cpp):
        blocks = math.prod(mesh[a] for a in axes)
        if shape[d] % blocks:
            raise ValueError(f"{what}: dimension {d} of shape {shape} does not divide into {blocks} "
                             "blocks")
        out[d] = shape[d] // blocks
    return tuple(out)
