"""pw.Array: a sharded array that is a future, plus NumPy canonicalization of inputs."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias, cast

import numpy as np
import numpy.typing as npt

from . import _pathways, _runtime
from . import sharding as _sharding
from ._types import Devices, Shape

HostResult: TypeAlias = "npt.NDArray[Any] | np.generic"
"""What arithmetic on a fetched pw.Array gives: a NumPy array (a NumPy scalar for 0-d)."""

_CANONICAL: dict[np.dtype[Any], type[np.generic]] = {
    np.dtype(np.float32): np.float32,
    np.dtype(np.float64): np.float64,
    np.dtype(np.int32): np.int32,
    np.dtype(np.bool_): np.bool_,
    np.dtype(np.int64): np.int32,
    np.dtype(np.int16): np.int32,
    np.dtype(np.int8): np.int32,
    np.dtype(np.uint8): np.int32,
    np.dtype(np.uint16): np.int32,
    np.dtype(np.float16): np.float32,
}


def canonical_dtype(dtype: npt.DTypeLike) -> np.dtype[Any]:
    """The runtime dtype NumPy's `dtype` maps to (int64 -> int32, as JAX without x64).

    >>> canonical_dtype("int64")
    dtype('int32')
    """
    dtype = np.dtype(dtype)
    out = _CANONICAL.get(dtype)
    if out is None:
        raise TypeError(f"pathways has no dtype for {dtype} (float32, float64, int32, bool)")
    return np.dtype(out)


def canonicalize(x: npt.ArrayLike) -> npt.NDArray[Any]:
    """A NumPy array of a runtime dtype holding `x`.

    >>> canonicalize([1, 2]).dtype
    dtype('int32')
    """
    a = np.asarray(x)
    dt = canonical_dtype(a.dtype)
    return a if a.dtype == dt else a.astype(dt)


class Array:
    """A sharded array whose contents may still be computing.

    Its global shape follows its layout over its slice (`spec`, pw.sharding): stacked
    (pw.pmap's outputs) is [n, ...] with shard i (row i) on device i of its slice; a
    PartitionSpec splits dimensions over mesh axes. `np.asarray(a)` waits and fetches the global
    array; the device memory is freed when the last reference is dropped.
    """

    __slots__ = ("_impl", "_value", "__weakref__")
    __array_priority__ = 100

    _impl: _pathways.Array
    _value: npt.NDArray[Any] | None

    def __init__(self, impl: _pathways.Array) -> None:
        self._impl = impl
        self._value = None

    @property
    def shape(self) -> Shape:
        """The global shape."""
        return tuple(self._impl.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The element type (float32, float64, int32 or bool)."""
        return np.dtype(self._impl.dtype)

    @property
    def ndim(self) -> int:
        """The number of dimensions: len(shape)."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """The number of elements of the global array."""
        return int(np.prod(self.shape))

    @property
    def devices(self) -> list[_runtime.Device]:
        """Physical device of each shard, in shard order."""
        s = self._impl.session
        return [_runtime.device_by_id(s, d) for d in self._impl.devices]

    @property
    def sharding(self) -> list[_runtime.Device]:
        """The physical device of each shard (as `devices`; jax.Array's name)."""
        return self.devices

    @property
    def spec(self) -> _sharding.Spec:
        """How the global array is laid out: a pw.sharding.P(...) or pw.sharding.STACKED."""
        s = self._impl.session
        return _sharding.describe(self._impl.sharding, _runtime.slice_by_id(s, self._impl.slice_id))

    def block_until_ready(self) -> Array:
        """Waits until every shard is computed; raises PathwaysError if computing it failed."""
        if self._value is None:
            self._impl.block_until_ready()
        return self

    def cancel(self) -> bool:
        """Cancels the run computing this array (pw.cancel); False if it had finished."""
        return cancel(self)

    def is_deleted(self) -> bool:
        """Whether delete() released the array (or its session was shut down)."""
        return not self._impl.valid

    def delete(self) -> None:
        """Releases the device memory now (other handles to the same array are unaffected)."""
        self._impl.release()
        self._value = None

    def _fetch(self) -> npt.NDArray[Any]:
        if self._value is None:
            v = self._impl.fetch()
            v.flags.writeable = False  # arrays are immutable; np.asarray hands out the cache
            self._value = v
        return self._value

    def __array__(self, dtype: npt.DTypeLike = None) -> npt.NDArray[Any]:
        v = self._fetch()
        return v if dtype is None else v.astype(dtype)

    def tolist(self) -> Any:
        """The fetched value as nested Python lists (ndarray.tolist)."""
        return self._fetch().tolist()

    def item(self) -> bool | int | float:
        """The fetched value of a one-element array as a Python scalar (ndarray.item)."""
        return cast("bool | int | float", self._fetch().item())

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._fetch())

    def __getitem__(self, idx: Any) -> HostResult:
        return cast(HostResult, self._fetch()[idx])

    def __repr__(self) -> str:
        # The fetched value's NumPy repr, as the paper's Figure 2 prints results.
        if not self._impl.valid:
            return "Array(<deleted>)"
        try:
            return repr(self._fetch())
        except Exception as e:  # a failed computation still has a printable handle
            return f"Array(<error: {e}>, shape={self.shape}, dtype={self.dtype})"

    def __bool__(self) -> bool:
        return bool(self._fetch())

    def __float__(self) -> float:
        return float(self._fetch())

    def __int__(self) -> int:
        return int(self._fetch())

    # Outside a trace, arithmetic on arrays happens in NumPy on the fetched values.
    def _np(self, op: Callable[[Any, Any], Any], other: object) -> HostResult:
        return cast(HostResult, op(self._fetch(), np.asarray(other) if isinstance(other, Array) else other))

    def __add__(self, o: npt.ArrayLike) -> HostResult: return self._np(operator.add, o)
    def __radd__(self, o: npt.ArrayLike) -> HostResult: return self._np(lambda a, b: b + a, o)
    def __sub__(self, o: npt.ArrayLike) -> HostResult: return self._np(operator.sub, o)
    def __rsub__(self, o: npt.ArrayLike) -> HostResult: return self._np(lambda a, b: b - a, o)
    def __mul__(self, o: npt.ArrayLike) -> HostResult: return self._np(operator.mul, o)
    def __rmul__(self, o: npt.ArrayLike) -> HostResult: return self._np(lambda a, b: b * a, o)
    def __truediv__(self, o: npt.ArrayLike) -> HostResult: return self._np(operator.truediv, o)
    def __rtruediv__(self, o: npt.ArrayLike) -> HostResult: return self._np(lambda a, b: b / a, o)
    def __matmul__(self, o: npt.ArrayLike) -> HostResult: return self._np(operator.matmul, o)
    def __rmatmul__(self, o: npt.ArrayLike) -> HostResult: return self._np(lambda a, b: b @ a, o)
    def __pow__(self, o: npt.ArrayLike) -> HostResult: return self._np(operator.pow, o)
    def __neg__(self) -> HostResult: return cast(HostResult, -self._fetch())
    # Elementwise comparisons (as ndarray's, they return arrays, not bool).
    def __eq__(self, o: object) -> Any: return self._np(operator.eq, o)
    def __ne__(self, o: object) -> Any: return self._np(operator.ne, o)
    def __lt__(self, o: npt.ArrayLike) -> HostResult: return self._np(operator.lt, o)
    def __le__(self, o: npt.ArrayLike) -> HostResult: return self._np(operator.le, o)
    def __gt__(self, o: npt.ArrayLike) -> HostResult: return self._np(operator.gt, o)
    def __ge__(self, o: npt.ArrayLike) -> HostResult: return self._np(operator.ge, o)
    __hash__ = None  # type: ignore[assignment]


def device_put(x: npt.ArrayLike | Array, devices: Devices,
               spec: _sharding.Spec = _sharding.STACKED) -> Array:
    """Places `x` on a slice's devices as a pw.Array laid out by `spec` (pw.sharding; by default
    stacked: the leading axis is the number of devices). A pw.Array elsewhere or laid out
    otherwise is resharded host to host (pw.reshard).

        >>> import numpy as np, pathways as pw
        >>> sl = pw.make_virtual_device_set().add_slice(devices=2)
        >>> a = pw.device_put(np.ones((2, 3), np.float32), sl.devices)
        >>> a.shape, a.spec
        ((2, 3), pw.sharding.STACKED)
    """
    sl = _runtime.slice_of_devices(devices, "device_put")
    if isinstance(x, Array):
        if x._impl.slice_id == sl.id and x.spec == spec:
            return x
        return reshard(x, sl, spec)
    cpp = _sharding.resolve(spec, sl, what="device_put")
    return Array(_runtime.session().put(sl._impl, canonicalize(x), cpp))


def reshard(x: Array, devices: Devices, spec: _sharding.Spec) -> Array:
    """The same global array on `devices` (a slice's device list) laid out by `spec`: its blocks
    move host to host, never through the client. Returns at once (a future, like any output)."""
    from . import _program
    if isinstance(x, _program.ProgramValue):
        raise TypeError("pw.reshard: inside @pw.program, pass the value to a pmap whose in_specs "
                        "declare the layout it needs (the runtime reshards it before the call)")
    if not isinstance(x, Array):
        raise TypeError(f"pw.reshard: {type(x).__name__} is not a pw.Array (use pw.device_put)")
    sl = _runtime.slice_of_devices(devices, "reshard")
    cpp = _sharding.resolve(spec, sl, what="reshard")
    return Array(_runtime.session().reshard(x._impl, sl._impl, cpp))


def cancel(array: Array) -> bool:
    """Cancels the run that computes `array` and returns True: its outputs not yet computed fail
    with PathwaysError (code CANCELLED) and the devices skip its kernels that had not started.
    Returns False when that run had already finished (like concurrent.futures' cancel), and
    raises InvalidArgumentError for an array no run computes (one made by pw.device_put)."""
    if not isinstance(array, Array):
        raise TypeError(f"pw.cancel: expected a pw.Array, got {type(array).__name__}")
    try:
        array._impl.cancel()
    except _runtime.PathwaysError as e:
        if getattr(e, "code", None) == "NOT_FOUND":
            return False
        raise
    return True
