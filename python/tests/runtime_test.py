"""pw.init / pw.shutdown, devices and virtual device sets."""

import numpy as np
import pytest

import pathways as pw
from conftest import run_python


def test_devices_lists_every_physical_device():
    devs = pw.devices()
    assert len(devs) == 4
    assert len({d.id for d in devs}) == 4
    assert sorted({d.host for d in devs}) == sorted({devs[0].host, devs[-1].host})
    assert len({d.host for d in devs}) == 2
    assert all(d.kind == "cpu" for d in devs)
    assert pw.device_count() == 4


def test_add_slice_gives_distinct_virtual_devices():
    sl = pw.make_virtual_device_set().add_slice(devices=2)
    assert len(sl.devices) == 2
    phys = [d.physical_device for d in sl.devices]
    assert len({p.id for p in phys}) == 2
    assert all(p in pw.devices() for p in phys)
    assert [d.index for d in sl.devices] == [0, 1]


def test_add_slice_larger_than_cluster_raises_pathways_error():
    with pytest.raises(pw.PathwaysError):
        pw.make_virtual_device_set().add_slice(devices=64)


def test_add_slice_rejects_non_positive():
    with pytest.raises(ValueError):
        pw.make_virtual_device_set().add_slice(devices=0)


def test_init_is_idempotent_and_refuses_other_options():
    pw.init()
    pw.init(hosts=2)
    with pytest.raises(pw.PathwaysError, match="already running"):
        pw.init(hosts=3)


def test_unreachable_address_is_an_error_naming_it():
    r = run_python("""
        import pathways as pw
        try:
            pw.init("127.0.0.1:1", timeout=0.5)
        except pw.PathwaysError as e:
            print("ERR", e)
    """)
    assert r.returncode == 0, r.stderr
    assert "ERR" in r.stdout and "127.0.0.1:1" in r.stdout, r.stdout


def test_sizes_with_an_address_are_a_value_error():
    with pytest.raises(ValueError, match="own sizes"):
        pw.init("127.0.0.1:1", hosts=2)


def test_pathways_address_environment_variable_is_honoured():
    r = run_python("""
        import pathways as pw
        try:
            pw.init(timeout=0.5)  # the address comes from PATHWAYS_ADDRESS
        except pw.PathwaysError as e:
            print("ERR", e)
    """, env={"PATHWAYS_ADDRESS": "127.0.0.1:2"})
    assert r.returncode == 0, r.stderr
    assert "ERR" in r.stdout and "127.0.0.1:2" in r.stdout, r.stdout


def test_implicit_init_with_configured_size():
    r = run_python("""
        import numpy as np
        import pathways as pw
        pw.init(hosts=3, devices_per_host=1)
        print(len(pw.devices()))
        f = pw.pmap(lambda x: x + 1)  # no devices: a slice sized by the leading axis
        print(np.asarray(f(np.arange(3, dtype=np.float32))).tolist())
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["3", "[1.0, 2.0, 3.0]"]


def test_array_after_shutdown_raises_and_runtime_restarts():
    r = run_python("""
        import numpy as np
        import pathways as pw
        f = pw.pmap(lambda x: x * 3, devices=pw.get_devices(2))
        y = f(np.ones(2, np.float32))
        y.block_until_ready()
        pw.shutdown()
        for what, thunk in [("fetch", lambda: np.asarray(y)),
                            ("ready", y.block_until_ready),
                            ("call", lambda: f(np.ones(2, np.float32)))]:
            try:
                thunk()
                print(what, "NO ERROR")
            except pw.PathwaysError as e:
                print(what, "ERR", "shut down" in str(e))
        print(y.shape, y.dtype)                   # metadata stays readable
        g = pw.pmap(lambda x: x * 3, devices=pw.get_devices(2))  # a fresh runtime
        print(np.asarray(g(np.ones(2, np.float32))).tolist())
        try:
            g(y)
        except pw.PathwaysError as e:
            print("stale input ERR", "shut down" in str(e))
    """)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:3] == ["fetch ERR True", "ready ERR True", "call ERR True"], r.stdout
    assert lines[3] == "(2,) float32"
    assert lines[4] == "[3.0, 3.0]"
    assert lines[5] == "stale input ERR True"


def test_exit_with_work_in_flight_does_not_hang():
    r = run_python("""
        import numpy as np
        import pathways as pw
        f = pw.pmap(lambda x: pw.numpy.tanh(x @ x.T) @ x, devices=pw.get_devices(4))
        x = np.random.rand(4, 128, 128).astype(np.float32)
        outs = [f(x) for _ in range(20)]   # never awaited
        print("submitted")
    """, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "submitted"


def test_shutdown_while_another_thread_fetches_does_not_crash_or_hang():
    r = run_python("""
        import threading
        import numpy as np
        import pathways as pw
        f = pw.pmap(lambda x: pw.numpy.tanh(x @ x) @ x, devices=pw.get_devices(2))
        x = np.random.rand(2, 128, 128).astype(np.float32)
        ys = [f(x) for _ in range(30)]
        results = []
        def fetch():
            for y in ys:
                try:
                    np.asarray(y)
                    results.append("value")
                except pw.PathwaysError as e:
                    results.append("shut down" if "shut down" in str(e) else str(e))
            ys.clear()  # drops the last references from this thread
        t = threading.Thread(target=fetch)
        t.start()
        pw.shutdown()
        t.join()
        print(len(results), sorted(set(results)))
    """, timeout=60)
    assert r.returncode == 0, r.stderr
    count, kinds = r.stdout.strip().split(" ", 1)
    assert count == "30"
    assert set(eval(kinds)) <= {"value", "shut down"}, r.stdout
