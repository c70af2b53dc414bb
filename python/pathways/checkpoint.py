"""Checkpoints of pytrees of pw.Arrays: every host writes (and reads back) its own shards.

    pw.checkpoint.save("/ckpt/step_00000100", {"params": params, "opt": state}, metadata={"step": 100})
    state = pw.checkpoint.restore("/ckpt/step_00000100", like={"params": params, "opt": state})

A checkpoint is a directory of shard files (one per shard, written by the host holding it) and
an `index.json` naming each leaf by its pytree path with its shard type, file size and CRC-32.
The index is written last: a directory without one is an unfinished save. No shard passes
through this process. On a cluster spread over machines, the directory must be on a filesystem
every host sees.
"""

from __future__ import annotations

import json
import os
import re
from typing import Literal, overload

import numpy as np

from . import _runtime
from . import sharding as _sharding
from ._array import Array
from ._tree import tree_flatten, tree_paths, tree_unflatten
from ._types import Devices, PyTree

__all__ = ["INDEX_FILE", "latest_step", "restore", "save", "step_directory"]

Path = str | os.PathLike[str]

JSON = None | bool | int | float | str | list["JSON"] | dict[str, "JSON"]
"""A JSON value: checkpoint metadata (restore gives the raw bytes of metadata that is not JSON)."""

INDEX_FILE = "index.json"
"""The file a finished checkpoint directory holds (written last)."""
_STEP_DIR = re.compile(r"^step_(\d+)$")


def _directory(directory: object, what: str) -> str:
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"{what}: the directory must be a path, got {type(directory).__name__}")
    return os.path.abspath(os.fspath(directory))


def save(directory: Path, tree: PyTree, *, metadata: JSON = None) -> None:
    """Writes every pw.Array leaf of `tree` under `directory` (created if missing; it must not
    hold a checkpoint yet). Waits until the arrays are computed and written. `metadata` is any
    JSON-serialisable value, returned by restore(..., return_metadata=True)."""
    directory = _directory(directory, "checkpoint.save")
    leaves, _ = tree_flatten(tree)
    paths = tree_paths(tree)
    for path, leaf in zip(paths, leaves):
        if not isinstance(leaf, Array):
            raise TypeError(f"checkpoint.save: the leaf at {path or 'the root'} is a "
                            f"{type(leaf).__name__}, not a pw.Array (put it on devices first)")
    try:
        encoded = json.dumps(metadata)
    except (TypeError, ValueError) as e:
        raise TypeError(f"checkpoint.save: metadata is not JSON-serialisable: {e}") from None
    _runtime.session().save_checkpoint(directory, [p or "root" for p in paths],
                                       [leaf._impl for leaf in leaves], encoded)


@overload
def restore(directory: Path, like: PyTree, *, devices: Devices | None = None,
            return_metadata: Literal[False] = False) -> PyTree: ...


@overload
def restore(directory: Path, like: PyTree, *, devices: Devices | None = None,
            return_metadata: Literal[True]) -> tuple[PyTree, JSON | bytes]: ...


def restore(directory: Path, like: PyTree, *, devices: Devices | None = None,
            return_metadata: bool = False) -> PyTree | tuple[PyTree, JSON | bytes]:
    """The checkpoint's arrays as a pytree shaped like `like`, each leaf read back by the hosts
    of its slice: the slice of the corresponding pw.Array in `like`, or `devices` (a slice's
    .devices list) for every leaf when given. Each saved leaf must have the leaf's shape and
    dtype (ValueError naming the path otherwise). With return_metadata, returns (tree, metadata)."""
    directory = _directory(directory, "checkpoint.restore")
    leaves, treedef = tree_flatten(like)
    paths = tree_paths(like)
    target = None if devices is None else _runtime.slice_of_devices(devices, "checkpoint.restore")
    entries: list[tuple[str, int, str | None, list[int] | None]] = []
    for path, leaf in zip(paths, leaves):
        name = path or "root"
        if not hasattr(leaf, "shape") or not hasattr(leaf, "dtype"):
            raise TypeError(f"checkpoint.restore: the leaf at {name} of `like` has no shape and dtype")
        shape = tuple(leaf.shape)
        if isinstance(leaf, Array) and target is None:
            # Its own layout (a partitioned array's blocks come back on the same mesh).
            slice_id = leaf._impl.slice_id
            shard = _sharding.shard_shape(shape, leaf._impl.sharding, leaf._impl.mesh,
                                          f"checkpoint.restore: the leaf at {name}")
        elif target is not None:
            slice_id, n = target.id, len(target.devices)
            if not shape or shape[0] != n:
                raise ValueError(f"checkpoint.restore: the leaf at {name} has shape {shape}; its "
                                 f"leading axis must be the {n} devices it is placed on")
            shard = shape[1:]
        else:
            raise TypeError(f"checkpoint.restore: the leaf at {name} of `like` is not a pw.Array; "
                            "pass devices= to say where to place it")
        entries.append((name, slice_id, np.dtype(leaf.dtype).name, list(shard)))
    # A saved shape or dtype that differs is INVALID_ARGUMENT: pw.InvalidArgumentError, a ValueError.
    arrays, metadata = _runtime.session().restore_checkpoint(directory, entries)
    restored = [Array(a) for a in arrays]
    for path, leaf, got in zip(paths, leaves, restored):
        if tuple(got.shape) != tuple(leaf.shape):
            raise ValueError(f"checkpoint.restore: the leaf at {path or 'root'} was saved as "
                             f"{got.spec} with global shape {tuple(got.shape)}, but `like` has shape "
                             f"{tuple(leaf.shape)}")
    tree = tree_unflatten(treedef, restored)
    if return_metadata:
        try:
            return tree, json.loads(metadata.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError):
            return tree, metadata  # not JSON (written by another client): the raw bytes
    return tree


def step_directory(root: Path, step: int) -> str:
    """`root`/step_NNNNNNNN: where a training loop saves step `step`.

        >>> step_directory("/ckpt", 100)
        '/ckpt/step_00000100'
    """
    if int(step) < 0:
        raise ValueError(f"checkpoint.step_directory: negative step {step}")
    return os.path.join(_directory(root, "checkpoint.step_directory"), f"step_{int(step):08d}")


def latest_step(root: Path) -> int | None:
    """The highest step with a finished checkpoint (an index file) under `root`, or None."""
    root = _directory(root, "checkpoint.latest_step")
    if not os.path.isdir(root):
        return None
    steps = [int(m.group(1)) for name in os.listdir(root)
             if (m := _STEP_DIR.match(name)) and os.path.isfile(os.path.join(root, name, INDEX_FILE))]
    return max(steps, default=None)
