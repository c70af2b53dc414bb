"""pw.Array: a sharded array that is a future, plus NumPy canonicalization of inputs."""

import numpy as np

from . import _runtime
from . import sharding as _sharding

_CANONICAL = {
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


def canonical_dtype(dtype):
    """The runtime dtype NumPy's `dtype` maps to (int64 -> int32, as JAX without x64)."""
    dtype = np.dtype(dtype)
    out = _CANONICAL.get(dtype)
    if out is None:
        raise TypeError(f"pathways has no dtype for {dtype} (float32, float64, int32, bool)")
    return np.dtype(out)


def canonicalize(x):
    """A NumPy array of a runtime dtype holding `x`."""
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

    def __init__(self, impl):
        self._impl = impl
        self._value = None

    @property
    def shape(self):
        return tuple(self._impl.shape)

    @property
    def dtype(self):
        return np.dtype(self._impl.dtype)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape))

    @property
    def devices(self):
        """Physical device of each shard, in shard order."""
        s = self._impl.session
        return [_runtime.device_by_id(s, d) for d in self._impl.devices]

    @property
    def sharding(self):
        return self.devices

    @property
    def spec(self):
        """How the global array is laid out: a pw.sharding.P(...) or pw.sharding.STACKED."""
        s = self._impl.session
        return _sharding.describe(self._impl.sharding, _runtime.slice_by_id(s, self._impl.slice_id))

    def block_until_ready(self):
        """Waits until every shard is computed; raises PathwaysError if computing it failed."""
        if self._value is None:
            self._impl.block_until_ready()
        return self

    def cancel(self):
        """Cancels the run computing this array (pw.cancel); False if it had finished."""
        return cancel(self)

    def is_deleted(self):
        return not self._impl.valid

    def delete(self):
        """Releases the device memory now (other handles to the same array are unaffected)."""
        self._impl.release()
        self._value = None

    def _fetch(self):
        if self._value is None:
            v = self._impl.fetch()
            v.flags.writeable = False  # arrays are immutable; np.asarray hands out the cache
            self._value = v
        return self._value

    def __array__(self, dtype=None):
        v = self._fetch()
        return v if dtype is None else v.astype(dtype)

    def tolist(self):
        return self._fetch().tolist()

    def item(self):
        return self._fetch().item()

    def __len__(self):
        return self.shape[0]

    def __iter__(self):
        return iter(self._fetch())

    def __getitem__(self, idx):
        return self._fetch()[idx]

    def __repr__(self):
        # The fetched value's NumPy repr, as the paper's Figure 2 prints results.
        if not self._impl.valid:
            return "Array(<deleted>)"
        try:
            return repr(self._fetch())
        except Exception as e:  # a failed computation still has a printable handle
            return f"Array(<error: {e}>, shape={self.shape}, dtype={self.dtype})"

    def __bool__(self):
        return bool(self._fetch())

    def __float__(self):
        return float(self._fetch())

    def __int__(self):
        return int(self._fetch())

    # Outside a trace, arithmetic on arrays happens in NumPy on the fetched values.
    def _np(op):
        def f(self, *args):
            return op(self._fetch(), *(np.asarray(a) if isinstance(a, Array) else a for a in args))
        return f

    __add__ = _np(lambda a, b: a + b)
    __radd__ = _np(lambda a, b: b + a)
    __sub__ = _np(lambda a, b: a - b)
    __rsub__ = _np(lambda a, b: b - a)
    __mul__ = _np(lambda a, b: a * b)
    __rmul__ = _np(lambda a, b: b * a)
    __truediv__ = _np(lambda a, b: a / b)
    __rtruediv__ = _np(lambda a, b: b / a)
    __matmul__ = _np(lambda a, b: a @ b)
    __rmatmul__ = _np(lambda a, b: b @ a)
    __pow__ = _np(lambda a, b: a ** b)
    __neg__ = _np(lambda a: -a)
    __eq__ = _np(lambda a, b: a == b)
    __ne__ = _np(lambda a, b: a != b)
    __lt__ = _np(lambda a, b: a < b)
    __le__ = _np(lambda a, b: a <= b)
    __gt__ = _np(lambda a, b: a > b)
    __ge__ = _np(lambda a, b: a >= b)
    __hash__ = None
    del _np


def device_put(x, devices, spec=_sharding.STACKED):
    """Places `x` on a slice's devices as a pw.Array laid out by `spec` (pw.sharding; by default
    stacked: the leading axis is the number of devices). A pw.Array elsewhere or laid out
    otherwise is resharded host to host (pw.reshard)."""
    sl = _runtime.slice_of_devices(devices, "device_put")
    if isinstance(x, Array):
        if x._impl.slice_id == sl.id and x.spec == spec:
            return x
        return reshard(x, sl, spec)
    cpp = _sharding.resolve(spec, sl, what="device_put")
    return Array(_runtime.session().put(sl._impl, canonicalize(x), cpp))


def reshard(x, devices, spec):
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


def cancel(array):
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
