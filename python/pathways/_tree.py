"""Pytrees: flatten/unflatten nested tuples, lists and dicts of leaves (JAX's convention).

None is an empty node (no leaves); dict keys are visited in sorted order. A treedef is a
hashable nested tuple, so it can key trace caches.

    >>> leaves, treedef = tree_flatten({"b": [1, 2], "a": (3, None)})
    >>> leaves
    [3, 1, 2]
    >>> tree_unflatten(treedef, [30, 10, 20])
    {'a': (30, None), 'b': [10, 20]}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeAlias

from ._types import PyTree

TreeDef: TypeAlias = tuple[Any, ...]
"""A pytree's structure: a hashable nested tuple (from tree_flatten)."""

_LEAF = ("*",)


def tree_flatten(tree: PyTree) -> tuple[list[Any], TreeDef]:
    """Returns (leaves, treedef): the leaves in order (dict keys sorted) and the structure.

    >>> tree_flatten([1, {"w": 2}])[0]
    [1, 2]
    """
    leaves: list[Any] = []
    treedef = _flatten(tree, leaves)
    return leaves, treedef


def _flatten(node: PyTree, leaves: list[Any]) -> TreeDef:
    if node is None:
        return ("none",)
    if isinstance(node, tuple) and not hasattr(node, "_fields"):
        return ("tuple", tuple(_flatten(c, leaves) for c in node))
    if isinstance(node, tuple):  # namedtuple: keep its type to rebuild it
        return ("namedtuple", type(node), tuple(_flatten(c, leaves) for c in node))
    if isinstance(node, list):
        return ("list", tuple(_flatten(c, leaves) for c in node))
    if isinstance(node, dict):
        try:
            keys = tuple(sorted(node))
        except TypeError as e:
            raise TypeError(f"pytree dict keys must be sortable, got {list(node)!r}") from e
        return ("dict", keys, tuple(_flatten(node[k], leaves) for k in keys))
    leaves.append(node)
    return _LEAF


def tree_unflatten(treedef: TreeDef, leaves: Iterable[Any]) -> PyTree:
    """The pytree of structure `treedef` (tree_flatten's) holding `leaves`, in order; ValueError
    when there are too few or too many leaves."""
    it = iter(leaves)
    out = _unflatten(treedef, it)
    rest = sum(1 for _ in it)
    if rest:
        raise ValueError(f"tree_unflatten: {rest} leaves left over")
    return out


def _unflatten(treedef: TreeDef, it: Iterator[Any]) -> PyTree:
    kind = treedef[0]
    if kind == "*":
        try:
            return next(it)
        except StopIteration:
            raise ValueError("tree_unflatten: too few leaves") from None
    if kind == "none":
        return None
    if kind == "tuple":
        return tuple(_unflatten(c, it) for c in treedef[1])
    if kind == "namedtuple":
        return treedef[1](*(_unflatten(c, it) for c in treedef[2]))
    if kind == "list":
        return [_unflatten(c, it) for c in treedef[1]]
    if kind == "dict":
        return {k: _unflatten(c, it) for k, c in zip(treedef[1], treedef[2])}
    raise ValueError(f"unknown treedef {treedef!r}")


def tree_map(fn: Callable[..., Any], tree: PyTree, *rest: PyTree) -> PyTree:
    """fn applied leaf by leaf; with more trees, to their corresponding leaves (each must have
    tree's structure: ValueError otherwise).

    >>> tree_map(lambda a, b: a + b, {"w": 1, "b": [2]}, {"w": 10, "b": [20]})
    {'b': [22], 'w': 11}
    """
    leaves, treedef = tree_flatten(tree)
    others: list[list[Any]] = []
    for i, other in enumerate(rest):
        other_leaves, other_def = tree_flatten(other)
        if other_def != treedef:
            raise ValueError(f"tree_map: tree {i + 1} has another structure than tree 0: "
                             f"{other_def} vs {treedef}")
        others.append(other_leaves)
    return tree_unflatten(treedef, [fn(x, *(o[k] for o in others)) for k, x in enumerate(leaves)])


def tree_leaves(tree: PyTree) -> list[Any]:
    """The leaves of `tree` in tree_flatten's order.

    >>> tree_leaves((1, [2, None], {"z": 3}))
    [1, 2, 3]
    """
    return tree_flatten(tree)[0]


def tree_paths(tree: PyTree) -> list[str]:
    """A readable path to every leaf, in tree_flatten's order: "[1]['w']" (pytree messages)."""
    paths: list[str] = []

    def walk(node: PyTree, path: str) -> None:
        if node is None:
            return
        if isinstance(node, (tuple, list)):
            for i, c in enumerate(node):
                walk(c, f"{path}[{i}]")
        elif isinstance(node, dict):
            for k in sorted(node):
                walk(node[k], f"{path}[{k!r}]")
        else:
            paths.append(path)

    walk(tree, "")
    return paths
