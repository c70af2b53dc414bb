"""OpenPathways Python client: `import pathways as pw`.

JAX's conventions over the Pathways runtime: pw.pmap traces a function per argument signature
and maps it over a slice of virtual devices; @pw.program turns several pmapped calls into one
program; pw.Array is a future fetched with np.asarray.

    >>> import numpy as np
    >>> import pathways as pw
    >>> double = pw.pmap(lambda x: x * 2.0, devices=pw.get_devices(2))
    >>> double(np.array([1.0, 2.0], np.float32))
    array([2., 4.], dtype=float32)
"""

from __future__ import annotations

from . import _pathways
from ._array import Array, cancel, device_put, reshard
from ._grad import grad, value_and_grad, vjp
from ._pmap import PmapFunction, pmap, shard_map
from ._profiler import named_scope, trace
from ._program import ProgramFunction, ProgramValue, program
from ._runtime import (Device, PathwaysError, VirtualDevice, VirtualDeviceSet, VirtualSlice,
                       deadline, device_count, devices, init, is_initialized, make_virtual_device_set,
                       memory_stats, shutdown)
from ._tracer import Tracer
from ._tree import tree_flatten, tree_leaves, tree_map, tree_unflatten
from . import checkpoint, lax, models, moe, nn, numpy, optimizers, pipeline, random, sharding

InvalidArgumentError = _pathways.InvalidArgumentError


def get_devices(n: int) -> list[VirtualDevice]:
    """`n` virtual devices on one island: make_virtual_device_set().add_slice(devices=n).devices."""
    return make_virtual_device_set().add_slice(devices=n).devices


__all__ = [
    "Array", "cancel", "checkpoint", "deadline", "Device", "device_count", "device_put", "devices", "get_devices", "grad", "init",
    "InvalidArgumentError", "is_initialized", "lax", "make_virtual_device_set", "memory_stats",
    "models", "moe", "named_scope", "nn", "numpy", "optimizers", "PathwaysError", "pipeline", "pmap", "PmapFunction", "program",
    "ProgramFunction", "ProgramValue", "random", "reshard", "shard_map", "sharding", "shutdown",
    "Tracer", "tree_flatten",
    "trace", "tree_leaves", "tree_map", "tree_unflatten", "value_and_grad", "VirtualDevice",
    "VirtualDeviceSet", "VirtualSlice", "vjp",
]
