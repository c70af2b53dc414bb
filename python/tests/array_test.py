"""pw.Array: futures, fetching, metadata, release on garbage collection, runtime errors."""

import gc

import numpy as np
import pytest

import pathways as pw
from pathways import _runtime


def live_arrays():
    return _runtime.session().live_arrays()


def test_array_metadata_and_fetch():
    devs = pw.get_devices(2)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = pw.pmap(lambda v: v + 1, devices=devs)(x)
    assert isinstance(y, pw.Array)
    assert y.shape == (2, 3)
    assert y.dtype == np.float32
    assert y.ndim == 2 and y.size == 6 and len(y) == 2
    assert [d.id for d in y.devices] == [d.physical_device.id for d in devs]
    assert y.block_until_ready() is y
    np.testing.assert_array_equal(np.asarray(y), x + 1)
    np.testing.assert_array_equal(np.asarray(y, dtype=np.float64), (x + 1).astype(np.float64))
    assert y.tolist() == (x + 1).tolist()
    assert repr(y) == repr(x + 1)


def test_device_put_and_numpy_arithmetic_outside_traces():
    devs = pw.get_devices(2)
    a = pw.device_put(np.array([1, 2], np.int64), devs)
    assert a.dtype == np.int32  # int64 canonicalized like JAX without x64
    np.testing.assert_array_equal(a + 1, [2, 3])
    np.testing.assert_array_equal(2 * a, [2, 4])


def test_arrays_are_released_when_garbage_collected():
    f = pw.pmap(lambda v: v * 2, devices=pw.get_devices(2))
    gc.collect()
    before = live_arrays()
    ys = [f(np.ones((2, 4), np.float32)) for _ in range(5)]
    for y in ys:
        y.block_until_ready()
    assert live_arrays() >= before + 5
    del ys, y
    gc.collect()
    assert live_arrays() == before


def test_delete_releases_now():
    y = pw.pmap(lambda v: v, devices=pw.get_devices(2))(np.ones(2, np.float32))
    y.block_until_ready()
    before = live_arrays()
    y.delete()
    assert y.is_deleted()
    assert live_arrays() == before - 1
    assert repr(y) == "Array(<deleted>)"


def test_runtime_error_reaches_the_array_as_pathways_error():
    # 2 GiB per shard on devices with 1 GiB: allocation fails on the device, asynchronously.
    huge = pw.pmap(lambda v: pw.numpy.broadcast_to(v, (1 << 14, 1 << 15)), devices=pw.get_devices(2))
    y = huge(np.ones((2, 1), np.float32))
    assert y.shape == (2, 1 << 14, 1 << 15)  # the handle exists at once
    with pytest.raises(pw.PathwaysError) as e:
        y.block_until_ready()
    assert e.value.code == "RESOURCE_EXHAUSTED"
    with pytest.raises(pw.PathwaysError):
        np.asarray(y)
    # A dependent computation carries the original error; later work is undisturbed.
    z = pw.pmap(lambda v: v.sum(), devices=pw.get_devices(2))(y)
    with pytest.raises(pw.PathwaysError, match="RESOURCE_EXHAUSTED|memory|exhaust"):
        np.asarray(z)
    ok = pw.pmap(lambda v: v + 1, devices=pw.get_devices(2))(np.zeros(2, np.float32))
    np.testing.assert_array_equal(np.asarray(ok), [1, 1])
