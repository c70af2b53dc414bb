"""The process's Pathways session: init/shutdown, devices and virtual device sets."""

from __future__ import annotations

import atexit
import contextlib
import os
import weakref
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from . import _pathways
from ._types import Devices

PathwaysError = _pathways.PathwaysError

_lock = threading.RLock()
_session: _pathways.Session | None = None
_session_options: dict[str, Any] = {}
_device_cache: dict[int, dict[int, Device]] = {}  # generation -> {device id: Device}
# (generation, slice id) -> VirtualSlice
_slice_registry: weakref.WeakValueDictionary[tuple[int, int], VirtualSlice] = weakref.WeakValueDictionary()
_atexit_registered = False

_DEFAULTS = dict(islands=1, hosts=2, devices_per_host=2, memory_per_device=1 << 30)


def init(address: str | None = None, *, hosts: int | None = None,
         devices_per_host: int | None = None, islands: int | None = None,
         memory_per_device: int | None = None, timeout: float = 10.0,
         device_kind: str | None = None, sim_peak_flops: float | None = None,
         sim_compute: bool | None = None, dcn_latency_us: float | None = None,
         dcn_gbps: float | None = None, ici_latency_us: float | None = None,
         ici_gbps: float | None = None, collective_algorithm: str | None = None,
         weight: int | None = None, priority: int | None = None) -> None:
    """Connects to a running Pathways cluster, or starts the embedded one in this process.

    `address` ("host:port", e.g. what `pw up` prints), else the PATHWAYS_ADDRESS environment
    variable (set by `pw run`), names a running cluster to connect to over gRPC. With neither,
    the embedded local cluster starts in this process (1 island x 2 hosts x 2 devices unless the
    sizes are given). `timeout` bounds the wait, in seconds, for a cluster's controller to answer.
    Called implicitly by the first API use. Calling init again with the same
    options is a no-op.

    device_kind="sim" gives the embedded cluster simulated accelerators: each compiled
    function takes the time a performance model gives its FLOPs and bytes (at sim_peak_flops
    FLOP/s when given), and computes its real values only with sim_compute=True (the default);
    with False, outputs are undefined and no CPU is spent (timing studies), and device memory
    is accounted against its capacity but backed by no host memory (a model far larger than
    this machine fits).

    The interconnect (pathways/device/sim/interconnect_model.h): dcn_latency_us and dcn_gbps
    (Gbit/s) model the network between the embedded cluster's islands: every push from a host
    to a host of another island waits the latency and occupies the link for its bytes at that
    rate. ici_latency_us and ici_gbps do the same inside an island, and also cost the sim
    devices' collectives (per ring or tree step: collective_algorithm "ring" or "tree"). Not
    given: sim devices take TPU-v4-class figures (ICI 1 us, 800 Gbit/s; DCN 10 us, 100 Gbit/s),
    CPU devices model nothing.

    weight and priority tell the cluster's schedulers how to treat this client when several
    share an island: under `pw up --scheduler share`, busy clients get device time in proportion
    to their weights (default 1; a client with weight=4 gets four times the time of a weight-1
    client); under `--scheduler priority`, the runs of the client with the highest priority
    (default 0) go first. Example: pw.init("127.0.0.1:7000", weight=4).

        >>> import pathways as pw
        >>> pw.init(hosts=2, devices_per_host=2)
        >>> pw.device_count()
        4
    """
    global _session, _session_options, _atexit_registered
    if address is None:
        address = os.environ.get("PATHWAYS_ADDRESS") or None
    given: dict[str, object] = dict(islands=islands, hosts=hosts, devices_per_host=devices_per_host,
                 memory_per_device=memory_per_device)
    sim: dict[str, object] = dict(device_kind=device_kind, sim_peak_flops=sim_peak_flops, sim_compute=sim_compute,
               dcn_latency_us=dcn_latency_us, dcn_gbps=dcn_gbps, ici_latency_us=ici_latency_us,
               ici_gbps=ici_gbps, collective_algorithm=collective_algorithm)
    for k in ("dcn_latency_us", "dcn_gbps", "ici_latency_us", "ici_gbps"):
        v = sim[k]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0
                              or v == float("inf")):
            raise ValueError(f"pw.init: {k} must be a finite non-negative number, got {v!r}")
    if collective_algorithm is not None and collective_algorithm not in ("ring", "tree"):
        raise ValueError(f"pw.init: collective_algorithm must be 'ring' or 'tree', got {collective_algorithm!r}")
    if device_kind is not None and device_kind not in ("cpu", "sim"):
        raise ValueError(f"pw.init: device_kind must be 'cpu' or 'sim', got {device_kind!r}")
    if (sim_peak_flops is not None or sim_compute is not None) and device_kind != "sim":
        raise ValueError("pw.init: sim_peak_flops and sim_compute need device_kind='sim'")
    if sim_peak_flops is not None and not (isinstance(sim_peak_flops, (int, float)) and sim_peak_flops > 0):
        raise ValueError(f"pw.init: sim_peak_flops must be a positive number, got {sim_peak_flops!r}")
    sched: dict[str, object] = dict(weight=weight, priority=priority)
    if weight is not None and (not isinstance(weight, int) or isinstance(weight, bool)
                               or not 1 <= weight <= 1_000_000):
        raise ValueError(f"pw.init: weight must be an int in [1, 1000000], got {weight!r}")
    if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)
                                 or not -1_000_000 <= priority <= 1_000_000):
        raise ValueError(f"pw.init: priority must be an int in [-1000000, 1000000], got {priority!r}")
    if address is not None:
        if not isinstance(address, str) or not address:
            raise ValueError(f"pw.init: address must be a 'host:port' string, got {address!r}")
        sized = [k for k, v in list(given.items()) + list(sim.items()) if v is not None]
        if sized:
            raise ValueError(
                f"pw.init: {', '.join(sized)} size the embedded cluster; a running cluster at "
                f"{address!r} has its own sizes (set them with `pw up`)")
        options: dict[str, Any] = dict(address=address,
                                       **{k: v for k, v in sched.items() if v is not None})
    else:
        options = dict(_DEFAULTS)
        for k, v in given.items():
            if v is not None:
                if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                    raise ValueError(f"pw.init: {k} must be a positive int, got {v!r}")
                options[k] = v
        for k, v in list(sim.items()) + list(sched.items()):
            if v is not None:
                options[k] = v
                given[k] = v
    with _lock:
        if _session is not None and _session.alive:
            if address is not None:
                explicit = options
            else:
                explicit = {k: v for k, v in given.items() if v is not None}
            if any(_session_options.get(k) != v for k, v in explicit.items()):
                raise PathwaysError(
                    f"pw.init: Pathways is already running with {_session_options}; call "
                    "pw.shutdown() first to start it with other options")
            return
        if address is not None:
            if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
                raise ValueError(f"pw.init: timeout must be a positive number of seconds, got {timeout!r}")
            _session = _pathways.Session.connect(address, float(timeout),
                                                 weight=options.get("weight", 1),
                                                 priority=options.get("priority", 0))
        else:
            _session = _pathways.Session.start(
                islands=options["islands"], hosts_per_island=options["hosts"],
                devices_per_host=options["devices_per_host"],
                memory_per_device_bytes=options["memory_per_device"],
                device_kind=options.get("device_kind") or "cpu",
                sim_peak_flops=float(options.get("sim_peak_flops") or 0.0),
                sim_compute=bool(options.get("sim_compute", True) if options.get("sim_compute") is not None else True),
                **{k: -1.0 if options.get(k) is None else float(options[k])
                   for k in ("dcn_latency_us", "dcn_gbps", "ici_latency_us", "ici_gbps")},
                collective_algorithm=options.get("collective_algorithm") or "",
                weight=options.get("weight", 1), priority=options.get("priority", 0))
        _session_options = options
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True


def shutdown() -> None:
    """Disconnects (the cluster frees this process's arrays) and stops the embedded runtime if it
    was started. Arrays still held become unusable (they raise PathwaysError); the next API use
    starts or connects afresh."""
    global _session
    with _lock:
        s, _session = _session, None
        if s is not None:
            _device_cache.pop(s.generation, None)
            s.shutdown()


def is_initialized() -> bool:
    """Whether a session is live (pw.init ran, or an API use started one, and no shutdown since)."""
    return _session is not None and _session.alive


def session() -> _pathways.Session:
    """The live session, started on first use."""
    s = _session
    if s is None or not s.alive:
        init()
        s = _session
        assert s is not None
    return s


class Device:
    """A physical device of the cluster (pw.devices()): its id, host, island, kind ("cpu" or
    "sim") and memory capacity in bytes."""

    __slots__ = ("id", "host", "island", "kind", "memory_bytes")

    id: int
    """The device's id, unique in the cluster."""
    host: int
    """The id of the host that drives it."""
    island: int
    """The island it belongs to (devices of one island share a fast interconnect)."""
    kind: str
    """"cpu" or "sim" (a simulated accelerator)."""
    memory_bytes: int
    """Its memory capacity in bytes."""

    def __init__(self, id: int, host: int, island: int, kind: str, memory_bytes: int) -> None:
        self.id, self.host, self.island, self.kind, self.memory_bytes = id, host, island, kind, memory_bytes

    def __repr__(self) -> str:
        return f"{self.kind.upper()}Device(id={self.id}, host={self.host}, island={self.island})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("Device", self.id))


def _devices_by_id(s: _pathways.Session) -> dict[int, Device]:
    cache = _device_cache.get(s.generation)
    if cache is None:
        cache = {d[0]: Device(*d) for d in s.devices()}
        _device_cache[s.generation] = cache
    return cache


def device_by_id(s: _pathways.Session, device_id: int) -> Device:
    """The Device of session `s` with that id (KeyError when the cluster has none)."""
    d = _devices_by_id(s).get(device_id)
    if d is None:  # the cluster changed since the cache was filled
        _device_cache.pop(s.generation, None)
        d = _devices_by_id(s)[device_id]
    return d


def devices() -> list[Device]:
    """Every physical device of the cluster (pw.devices(), like jax.devices()).

        >>> import pathways as pw
        >>> [d.island for d in pw.devices()]
        [0, 0, 0, 0]
    """
    s = session()
    return list(_devices_by_id(s).values())


def memory_stats() -> dict[int, dict[str, float]]:
    """{device id: {"bytes_in_use", "peak_bytes_in_use", "bytes_limit", "busy_seconds",
    "scratch_bytes"}} for every device of the cluster, as its host reports it now (like jax's
    Device.memory_stats). scratch_bytes is the part of bytes_in_use that the device's working
    arena holds: it grows to the largest compiled function's need and stays allocated."""
    stats = session().memory_stats()
    return {d: {"bytes_in_use": used, "peak_bytes_in_use": peak, "bytes_limit": cap,
                "busy_seconds": busy / 1e9, "scratch_bytes": scratch}
            for d, (used, peak, cap, busy, scratch) in stats.items()}


def device_count() -> int:
    """The number of physical devices of the cluster: len(pw.devices())."""
    return len(devices())


class VirtualDevice:
    """Virtual device `index` of a slice; the resource manager maps it to a physical device."""

    __slots__ = ("slice", "index")

    slice: VirtualSlice
    """The slice it belongs to."""
    index: int
    """Its position in the slice (shard `index` of a pmap over the slice runs on it)."""

    def __init__(self, slice: VirtualSlice, index: int) -> None:
        self.slice, self.index = slice, index

    @property
    def physical_device(self) -> Device:
        """The physical device the resource manager maps this virtual device to now."""
        return device_by_id(self.slice._impl.session, self.slice._impl.devices[self.index])

    def __repr__(self) -> str:
        return f"VirtualDevice(slice={self.slice.id}, index={self.index}, physical={self.slice._impl.devices[self.index]})"


class VirtualSlice:
    """A set of virtual devices kept within one island (make_virtual_device_set().add_slice).

    `devices` lists its virtual devices (pass it as a pmap's devices=), `mesh_shape` lays them
    out as a row-major grid whose axes `axis_names` names (None: unnamed).
    """

    devices: list[VirtualDevice]
    """Its virtual devices, in order (a pmap's devices=)."""
    mesh_shape: tuple[int, ...]
    """The row-major grid the devices form (add_slice's mesh; (n,) by default)."""
    axis_names: tuple[str, ...] | None
    """The names of the mesh axes (None: unnamed)."""

    def __init__(self, impl: _pathways.Slice, axis_names: Sequence[str] | None = None) -> None:
        self._impl = impl
        self.devices = [VirtualDevice(self, i) for i in range(len(impl.devices))]
        self.mesh_shape = tuple(impl.mesh_shape)
        self.axis_names = None if axis_names is None else tuple(axis_names)
        _slice_registry[(impl.session.generation, impl.id)] = self

    @property
    def id(self) -> int:
        """The slice's id, unique within the session."""
        return self._impl.id

    @property
    def island(self) -> int:
        """The island the slice is mapped to now."""
        return self._impl.island

    def __len__(self) -> int:
        return len(self.devices)

    @property
    def mapping_version(self) -> int:
        """Grows each time the resource manager maps the slice anew (a remap or a repair)."""
        return self._impl.mapping_version

    def repair(self, timeout: float = 60.0) -> VirtualSlice:
        """After a host of this slice was lost, maps the slice anew and returns it (the same
        object, same id): at once when the island had spare devices (the resource manager
        remapped it already), otherwise once the devices exist — on another island that fits,
        or on a pw-worker started in the lost host's place — waiting up to `timeout` seconds.
        Arrays that lived on the lost host stay failed: put the values you still hold again
        (or pw.checkpoint.restore them) and call the same pmap functions. Raises PathwaysError
        (DEADLINE_EXCEEDED, with the reason) when nothing fits in time or no host of the slice
        was lost.

            try:
                loss = step(params, batch)
            except pw.PathwaysError:
                sl.repair()
                params = pw.checkpoint.restore(ckpt_dir, ...)
        """
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout <= 86400:
            raise ValueError(f"repair: timeout must be a number of seconds in [0, 86400], got {timeout!r}")
        self._impl.repair(float(timeout))
        return self

    def __repr__(self) -> str:
        return f"VirtualSlice(id={self.id}, devices={self._impl.devices}, island={self.island})"


class VirtualDeviceSet:
    """A client's virtual slices (the paper's make_virtual_device_set())."""

    slices: list[VirtualSlice]
    """The slices added so far, in order."""

    def __init__(self) -> None:
        self.slices = []

    def add_slice(self, devices: int, mesh: Sequence[int] | None = None,
                  axis_names: Sequence[str] | None = None,
                  island: int | None = None) -> VirtualSlice:
        """Adds a slice of `devices` virtual devices on one island; returns it (use `.devices`).

        `mesh` lays the devices out as a row-major grid (its product must be `devices`), and
        `axis_names` names its axes, e.g. mesh=(2, 4), axis_names=("data", "model"): inside a
        pw.pmap over the slice, pw.lax collectives over "model" run within each row of 4
        devices (the resource manager keeps a row on one host where it can). `island` pins the
        slice to that island (an int, pw.devices()[i].island); otherwise the least loaded
        island that fits is chosen. A slice never spans islands.

            >>> import pathways as pw
            >>> sl = pw.make_virtual_device_set().add_slice(devices=4, mesh=(2, 2),
            ...                                             axis_names=("data", "model"))
            >>> len(sl.devices), sl.mesh_shape
            (4, (2, 2))
        """
        if not isinstance(devices, int) or isinstance(devices, bool) or devices <= 0:
            raise ValueError(f"add_slice: devices must be a positive int, got {devices!r}")
        if mesh is None:
            mesh = (devices,)
        mesh = tuple(mesh)
        names: tuple[str, ...] | None = None
        if not mesh or any(not isinstance(d, int) or isinstance(d, bool) or d <= 0 for d in mesh):
            raise ValueError(f"add_slice: mesh must be a tuple of positive ints, got {mesh!r}")
        if int(np.prod(mesh)) != devices:
            raise ValueError(f"add_slice: mesh {mesh} has {int(np.prod(mesh))} devices, not {devices}")
        if axis_names is not None:
            names = tuple(axis_names)
            if len(names) != len(mesh) or any(not isinstance(a, str) or not a for a in names):
                raise ValueError(f"add_slice: axis_names {names!r} must be {len(mesh)} non-empty "
                                 f"strings, one per mesh axis {mesh}")
            if len(set(names)) != len(names):
                raise ValueError(f"add_slice: axis_names {names!r} repeat a name")
        if island is not None and (not isinstance(island, int) or isinstance(island, bool) or island < 0):
            raise ValueError(f"add_slice: island must be a non-negative int, got {island!r}")
        sl = VirtualSlice(session().add_slice(devices, list(mesh), island), names)
        self.slices.append(sl)
        return sl


def make_virtual_device_set() -> VirtualDeviceSet:
    """A new, empty set of virtual slices (the paper's make_virtual_device_set()); add slices
    with its add_slice."""
    return VirtualDeviceSet()


def slice_by_id(s: _pathways.Session, slice_id: int) -> VirtualSlice | None:
    """The VirtualSlice of this process with that id in session `s`, or None."""
    return _slice_registry.get((s.generation, slice_id))


def slice_of_devices(devices: Devices, what: str) -> VirtualSlice:
    """The VirtualSlice behind a pmap's `devices=` list (all of one slice, in order)."""
    if isinstance(devices, VirtualSlice):
        return devices
    listed: list[object] = list(devices)
    vds = [d for d in listed if isinstance(d, VirtualDevice)]
    if not vds or len(vds) != len(listed):
        raise TypeError(f"{what}: devices must be a non-empty list of virtual devices from "
                        "pw.make_virtual_device_set().add_slice(devices=n).devices")
    sl = vds[0].slice
    if any(d.slice is not sl for d in vds) or [d.index for d in vds] != list(range(len(sl.devices))):
        raise ValueError(f"{what}: devices must be exactly the .devices list of one slice, in order")
    return sl


_deadline_state = threading.local()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """pmapped calls and programs this thread runs inside the block must finish within
    `seconds` from entering it: a run still unfinished then is cancelled, and its outputs fail with PathwaysError (code
    DEADLINE_EXCEEDED, naming the run and its program); the devices skip its kernels not yet
    started. Nested blocks keep the earlier deadline.

        with pw.deadline(2.0):
            loss = step(params, batch)
            print(np.asarray(loss))   # raises if the step missed its deadline
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 86400 * 365:
        raise ValueError(f"pw.deadline: seconds must be a number in [0, 31536000], got {seconds!r}")
    previous = getattr(_deadline_state, "at", None)
    at = time.time() + seconds
    if previous is not None:
        at = min(at, previous)
    _deadline_state.at = at
    _pathways.set_run_deadline(at)
    try:
        yield
    finally:
        _deadline_state.at = previous
        _pathways.set_run_deadline(previous)
