"""pw.grad, pw.value_and_grad, pw.vjp: reverse-mode derivatives with JAX's signatures.

Inside a pmapped function the differentiated function is traced into a sub-function, the C++
autodiff transformation (pathways/autodiff) turns it into its derivative, and the derivative is
inlined into the pmapped function: one compiled function computes the forward and backward
passes. Collectives inside (pw.lax.psum ...) transpose as in JAX. Outside pmap the same runs as
a one-device pmap and returns NumPy arrays.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Sequence
from typing import Any, Literal, ParamSpec, TypeAlias, overload

import numpy as np

from . import _tracer
from ._tree import TreeDef, tree_flatten, tree_paths, tree_unflatten
from ._types import PyTree

_P = ParamSpec("_P")

ArgNums: TypeAlias = "int | Sequence[int]"
"""Which positional arguments to differentiate: one index, or several (grads as a tuple)."""


def _argnums_tuple(argnums: ArgNums, nargs: int, what: str) -> tuple[bool, tuple[int, ...]]:
    single = isinstance(argnums, (int, np.integer))
    given: tuple[object, ...] = (argnums,) if isinstance(argnums, (int, np.integer)) else tuple(argnums)
    if not given:
        raise ValueError(f"{what}: argnums is empty")
    for n in given:
        if not isinstance(n, (int, np.integer)):
            raise TypeError(f"{what}: argnums must be ints, got {n!r}")
        if not -nargs <= n < nargs:
            raise ValueError(f"{what}: argnums {n} is out of range for {nargs} positional argument(s)")
    nums = tuple(int(n) % nargs for n in given)  # type: ignore[call-overload]  # ints, checked above
    if len(set(nums)) != len(nums):
        raise ValueError(f"{what}: argnums {argnums!r} repeats an argument")
    return single, nums


def _leaf_path(tree: PyTree, index: int) -> str:
    """A readable path ("[1]['w']") to the index-th leaf of `tree`, for error messages."""
    paths = tree_paths(tree)
    return paths[index] if index < len(paths) else f"leaf {index}"


class _Traced:
    """A function traced into a sub-function of the current pmap trace."""

    def __init__(self, fun: Callable[..., PyTree], args: Sequence[PyTree],
                 diff_nums: Sequence[int], has_aux: bool, what: str) -> None:
        trace = _tracer.current_trace()
        assert trace is not None, "traced inside a pmap"
        self.trace = trace
        self.what = what
        self.has_aux = has_aux
        leaves, self.in_tree = tree_flatten(tuple(args))
        for i, a in enumerate(args):
            for j, x in enumerate(tree_flatten(a)[0]):
                if not (isinstance(x, (_tracer.Tracer, numbers.Number, np.ndarray, np.generic))
                        or hasattr(x, "__array__")):
                    raise TypeError(
                        f"{what}: argument {i}{_leaf_path(a, j)} is a {type(x).__name__}, not an "
                        "array; close over it instead (functools.partial or a lambda)")
        self.arg_ids = [_tracer.lift(x, trace) for x in leaves]
        # Which flat leaves belong to the differentiated arguments, per argument.
        self.diff_leaves: list[tuple[int, list[int], TreeDef]] = []
        offset = 0
        for i, a in enumerate(args):
            n = len(tree_flatten(a)[0])
            if i in diff_nums:
                for j in range(n):
                    dtype = np.dtype(trace.builder.type_of(self.arg_ids[offset + j])[0])
                    if dtype.kind != "f":
                        raise TypeError(
                            f"{what}: argument {i}{_leaf_path(a, j)} is {dtype.name}; only "
                            "floating-point inputs can be differentiated (pass it through a "
                            "non-differentiated argument instead)")
                self.diff_leaves.append((i, list(range(offset, offset + n)), tree_flatten(a)[1]))
            offset += n
        self.child = trace.builder.child(f"{getattr(fun, '__name__', 'f')}")
        sub = _tracer.PmapTrace(self.child, f"{trace.name}/{what}", trace.axis_name, trace.axis_size,
                                parent=trace)
        self.sub = sub
        params = []
        for x in self.arg_ids:
            name, shape = trace.builder.type_of(x)
            params.append(_tracer.Tracer(sub, self.child.parameter(name, list(shape))))
        with sub:
            out = fun(*tree_unflatten(self.in_tree, params))
            if has_aux:
                if not (isinstance(out, (tuple, list)) and len(out) == 2):
                    raise TypeError(f"{what}: has_aux=True needs the function to return (output, aux)")
                out, aux = out
            else:
                aux = None
            out_leaves, self.out_tree = tree_flatten(out)
            aux_leaves, self.aux_tree = tree_flatten(aux)
            self.out_ids = [_tracer.lift(x, sub) for x in out_leaves]
            self.aux_ids = [_tracer.lift(x, sub) for x in aux_leaves]
        self.out_types = [self.child.type_of(i) for i in self.out_ids]
        self.aux_types = {i: self.child.type_of(i) for i in self.aux_ids}

    def child_type(self, value_id: int) -> tuple[str, tuple[int, ...]]:
        return self.aux_types[value_id]

    def wrt(self) -> list[int]:
        return [leaf for _, leaves, _ in self.diff_leaves for leaf in leaves]

    def differentiate(self, mode: str, cotangent_ids: Sequence[int] = ()
                      ) -> tuple[PyTree, PyTree, list[PyTree]]:
        args = self.arg_ids + list(self.sub.captures)
        ids = self.trace.builder.differentiate(self.child, mode, self.out_ids + self.aux_ids,
                                               self.wrt(), args, list(cotangent_ids))
        n_out, n_aux = len(self.out_ids), len(self.aux_ids)
        wrap = functools.partial(_tracer.Tracer, self.trace)
        out = tree_unflatten(self.out_tree, [wrap(i) for i in ids[:n_out]])
        aux = tree_unflatten(self.aux_tree, [wrap(i) for i in ids[n_out:n_out + n_aux]])
        grads: list[PyTree] = []
        k = n_out + n_aux
        for _, leaves, tree in self.diff_leaves:
            grads.append(tree_unflatten(tree, [wrap(i) for i in ids[k:k + len(leaves)]]))
            k += len(leaves)
        return out, aux, grads


def _outside_pmap(transformed: Callable[..., PyTree], args: Sequence[PyTree],
                  cache: dict[str, Any]) -> PyTree:
    """Runs a transformed function on host values as a one-device pmap (made once per
    transformed function, so later calls reuse its trace); NumPy results."""
    from ._pmap import pmap  # imported late: _pmap imports this module's users
    from ._tree import tree_map

    leaves = tree_flatten(tuple(args))[0]
    if any(isinstance(x, _tracer.Tracer) for x in leaves):
        raise TypeError("values of a finished trace cannot be differentiated")
    if "pmap" not in cache:
        cache["pmap"] = pmap(lambda *a: transformed(*a), name=getattr(transformed, "__name__", "grad"))
    batched = tree_map(lambda x: np.asarray(x)[None], tuple(args))
    return tree_map(lambda x: np.asarray(x)[0], cache["pmap"](*batched))


def _no_keywords(kwargs: dict[str, object], what: str, fun: object) -> None:
    """Transformed functions take their arguments by position (JAX's convention)."""
    if kwargs:
        raise TypeError(f"{what} of {getattr(fun, '__name__', 'f')}: pass arguments by position, "
                        f"got keyword argument(s) {sorted(kwargs)}")


def value_and_grad(fun: Callable[_P, Any], argnums: ArgNums = 0,
                   has_aux: bool = False) -> Callable[_P, PyTree]:
    """Like jax.value_and_grad: returns a function computing (fun(*args), d fun / d args[argnums])
    ((value, aux), grads) with has_aux). fun must return a floating-point scalar.

        >>> import numpy as np, pathways as pw
        >>> value, grad = pw.value_and_grad(lambda w: (w * w).sum())(np.array([1.0, 2.0], np.float32))
        >>> value, grad
        (5.0, array([2., 4.], dtype=float32))
    """
    if not callable(fun):
        raise TypeError(f"value_and_grad: {fun!r} is not callable")

    cache: dict[str, Any] = {}

    @functools.wraps(fun)
    def wrapped(*args: _P.args, **kwargs: _P.kwargs) -> PyTree:
        _no_keywords(kwargs, "value_and_grad", fun)
        if _tracer.current_trace() is None:
            return _outside_pmap(wrapped, args, cache)
        what = f"value_and_grad of {getattr(fun, '__name__', 'f')}"
        single, nums = _argnums_tuple(argnums, len(args), what)
        traced = _Traced(fun, args, nums, has_aux, what)
        if len(traced.out_ids) != 1:
            raise TypeError(f"{what}: the function must return one scalar, got {len(traced.out_ids)} values")
        dtype, shape = traced.out_types[0]
        if np.dtype(dtype).kind != "f" or tuple(shape) != ():
            raise TypeError(
                f"{what}: the output must be a floating-point scalar, got {dtype}{list(shape)} "
                "(reduce it to a scalar, e.g. with .sum() or .mean())")
        out, aux, grads = traced.differentiate("value_and_grad")
        grads = grads[0] if single else tuple(grads)
        return ((out, aux), grads) if has_aux else (out, grads)

    return wrapped


def grad(fun: Callable[_P, Any], argnums: ArgNums = 0,
         has_aux: bool = False) -> Callable[_P, PyTree]:
    """Like jax.grad: the gradient of a floating-point scalar function with respect to
    args[argnums] (a tuple of them when argnums is a tuple); (grads, aux) with has_aux.
    Inside pw.pmap it records the derivative into the pmapped function; outside, it runs as a
    one-device pmap and returns NumPy arrays.

        >>> import numpy as np, pathways as pw
        >>> pw.grad(lambda w: (w * w).sum())(np.array([1.0, 2.0], np.float32))
        array([2., 4.], dtype=float32)
    """
    vg = value_and_grad(fun, argnums, has_aux)
    cache: dict[str, Any] = {}

    @functools.wraps(fun)
    def wrapped(*args: _P.args, **kwargs: _P.kwargs) -> PyTree:
        _no_keywords(kwargs, "grad", fun)
        if _tracer.current_trace() is None:
            return _outside_pmap(wrapped, args, cache)
        value, grads = vg(*args)
        return (grads, value[1]) if has_aux else grads

    return wrapped


def _is_float_leaf(x: object) -> bool:
    if isinstance(x, _tracer.Tracer):
        return x.dtype.kind == "f"
    if isinstance(x, numbers.Number) and not isinstance(x, (bool, np.bool_)):
        return isinstance(x, float)
    return np.asarray(x).dtype.kind == "f"


VjpFn: TypeAlias = "Callable[[PyTree], tuple[PyTree, ...]]"
"""What pw.vjp returns beside the outputs: cotangent of the outputs -> one per primal."""


@overload
def vjp(fun: Callable[..., PyTree], *primals: PyTree,
        has_aux: Literal[False] = False) -> tuple[PyTree, VjpFn]: ...


@overload
def vjp(fun: Callable[..., PyTree], *primals: PyTree,
        has_aux: Literal[True]) -> tuple[PyTree, VjpFn, PyTree]: ...


def vjp(fun: Callable[..., PyTree], *primals: PyTree,
        has_aux: bool = False) -> tuple[PyTree, VjpFn] | tuple[PyTree, VjpFn, PyTree]:
    """Like jax.vjp, inside a pmapped function: returns (fun(*primals), vjp_fn[, aux]), where
    vjp_fn(cotangent) gives one cotangent per primal (None for a non-floating-point one). The
    forward pass is recomputed inside the derivative vjp_fn inlines.

        >>> import numpy as np, pathways as pw
        >>> def f(x):
        ...     y, pull = pw.vjp(lambda v: v * v, x)
        ...     return pull(np.float32(1.0))[0]
        >>> pw.pmap(f)(np.array([1.0, 3.0], np.float32))
        array([2., 6.], dtype=float32)
    """
    trace = _tracer.current_trace()
    if trace is None:
        raise TypeError("pw.vjp is available inside a pmapped function (use pw.grad outside)")
    what = f"vjp of {getattr(fun, '__name__', 'f')}"
    nums = tuple(i for i, p in enumerate(primals) if all(_is_float_leaf(x) for x in tree_flatten(p)[0]))
    traced = _Traced(fun, primals, nums, has_aux, what)
    in_trace: _tracer.PmapTrace = trace
    result = fun(*primals)  # the primal outputs, recorded in the pmapped function itself
    out, aux = result if has_aux else (result, None)

    def vjp_fn(cotangent: PyTree) -> tuple[PyTree, ...]:
        ct_leaves, ct_tree = tree_flatten(cotangent)
        if ct_tree != traced.out_tree:
            raise ValueError(f"{what}: the cotangent's structure {ct_tree} differs from the "
                             f"output's {traced.out_tree}")
        cts: list[int] = []
        for i, ((dtype, shape), c) in enumerate(zip(traced.out_types, ct_leaves)):
            if np.dtype(dtype).kind != "f":
                continue
            if tuple(np.shape(c)) != tuple(shape):
                raise ValueError(f"{what}: cotangent {i} has shape {tuple(np.shape(c))}, the output "
                                 f"{tuple(shape)}")
            cts.append(_tracer.lift(c, in_trace, np.dtype(dtype)))
        # Auxiliary outputs are not differentiated: zero cotangents.
        for i in traced.aux_ids:
            dtype, shape = traced.child_type(i)
            if np.dtype(dtype).kind == "f":
                cts.append(_tracer.lift(np.zeros(shape, np.dtype(dtype)), in_trace))
        if not nums:
            return tuple(None for _ in primals)
        _, _, grads = traced.differentiate("vjp", cts)
        by_arg = dict(zip(nums, grads))
        return tuple(by_arg.get(i) for i in range(len(primals)))

    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)
