"""Type aliases the pw API is annotated with.

PyTree is `Any`, as in JAX: a pytree is any nesting of tuples, lists, dicts and None around
leaves, and the leaves change type through a transformation (NumPy arrays in, Tracers inside a
pmap, pw.Arrays out), which no static type expresses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, Union

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ._array import Array
    from ._runtime import VirtualDevice, VirtualSlice
    from ._tracer import Tracer

PyTree: TypeAlias = Any
"""A nest of tuples, lists, dicts (and None) around array leaves."""

DTypeLike: TypeAlias = npt.DTypeLike
"""Anything np.dtype accepts (np.float32, "int32", ...)."""

Shape: TypeAlias = tuple[int, ...]
ShapeLike: TypeAlias = Union[int, Sequence[int]]
"""One dimension or a sequence of them."""

Axes: TypeAlias = Union[int, "np.integer[Any]", Sequence[Union[int, "np.integer[Any]"]], None]
"""The axis or axes a reduction runs over (None: every axis)."""

Value: TypeAlias = Union["Tracer", npt.NDArray[Any]]
"""What pw.numpy, pw.nn and pw.lax return: a Tracer inside pw.pmap, a NumPy array outside."""

ArrayLike: TypeAlias = Union["Tracer", "Array", npt.ArrayLike]
"""An operand: a Tracer, a pw.Array (fetched), a NumPy array or a Python scalar."""

Scalar: TypeAlias = Union[bool, int, float, np.generic]

Devices: TypeAlias = Union["VirtualSlice", Sequence["VirtualDevice"]]
"""A slice, or its exact .devices list (make_virtual_device_set().add_slice(n).devices)."""

RuntimeSharding: TypeAlias = Union[list[list[int]], None]
"""The runtime's form of a layout: None (stacked) or mesh axes per dimension."""

__all__ = ["ArrayLike", "Axes", "DTypeLike", "Devices", "PyTree", "RuntimeSharding", "Scalar", "Shape",
           "ShapeLike", "Value"]
