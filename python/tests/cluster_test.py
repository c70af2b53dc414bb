"""The Python client against a cluster of processes started with `pw up` (pw-controller and one
pw-worker per host), reached over gRPC through PATHWAYS_ADDRESS or pw.init(address)."""

import os

import pytest

from conftest import PW, needs_pw, pw_cmd, run_python

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = needs_pw


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = tmp_path_factory.mktemp("pw-state")
    up = pw_cmd(state, "up", "--hosts", "2", "--devices-per-host", "2", "--memory-per-device", "256M")
    assert up.returncode == 0, up.stderr
    address = pw_cmd(state, "address").stdout.strip()
    assert address, up.stdout
    yield state, address
    pw_cmd(state, "down")


def test_figure2_runs_as_written_on_a_pw_up_cluster(cluster):
    state, address = cluster
    r = run_python(open(os.path.join(REPO, "examples", "quickstart.py")).read(),
                   env={"PATHWAYS_ADDRESS": address, "PATHWAYS_STATE_DIR": str(state)})
    assert r.returncode == 0, r.stderr
    assert "(array([3., 5.], dtype=float32), array([2., 4.], dtype=float32))" in r.stdout


def test_devices_collectives_and_errors_over_grpc(cluster):
    state, address = cluster
    r = run_python(f"""
        import numpy as np
        import pathways as pw
        pw.init({address!r})
        print("devices", len(pw.devices()))
        f = pw.pmap(lambda x: pw.lax.psum(x * 2, "i"), axis_name="i",
                    devices=pw.make_virtual_device_set().add_slice(devices=4).devices)
        print("psum", np.asarray(f(np.arange(4, dtype=np.float32))).tolist())
        g = pw.pmap(lambda x: x @ x)
        try:
            g(np.ones((2, 3, 4), np.float32))  # [3,4] @ [3,4]
        except (ValueError, pw.PathwaysError) as e:
            print("shape error:", type(e).__name__)
    """, env={"PATHWAYS_STATE_DIR": str(state)})
    assert r.returncode == 0, r.stderr
    assert "devices 4" in r.stdout
    assert "psum [12.0, 12.0, 12.0, 12.0]" in r.stdout
    assert "shape error:" in r.stdout


def test_pw_status_trace_and_run(cluster, tmp_path):
    state, address = cluster
    st = pw_cmd(state, "status")
    assert st.returncode == 0, st.stderr
    assert "island 0: 2 host(s), 4 device(s)" in st.stdout
    run = pw_cmd(state, "run", os.path.join(REPO, "examples", "quickstart.py"))
    assert run.returncode == 0, run.stderr
    assert "array([3., 5.]" in run.stdout
    out = tmp_path / "trace.json"
    tr = pw_cmd(state, "trace", "--out", str(out))
    assert tr.returncode == 0, tr.stderr
    text = out.read_text()
    assert '"execute"' in text and '"dispatch"' in text


def test_array_after_its_cluster_went_away(tmp_path):
    state = tmp_path / "state"
    up = pw_cmd(state, "up", "--hosts", "1", "--devices-per-host", "2")
    assert up.returncode == 0, up.stderr
    address = pw_cmd(state, "address").stdout.strip()
    r = run_python(f"""
        import subprocess, numpy as np
        import pathways as pw
        pw.init({address!r})
        devs = pw.make_virtual_device_set().add_slice(devices=2).devices
        a = pw.device_put(np.arange(2, dtype=np.float32), devs)
        print("before", np.asarray(a).tolist(), flush=True)
        subprocess.run([{PW!r}, "down"], check=True, capture_output=True)
        try:
            np.asarray(pw.pmap(lambda x: x + 1, devices=devs)(a))
            print("no error")
        except pw.PathwaysError as e:
            print("ERR", e)
    """, env={"PATHWAYS_STATE_DIR": str(state)})
    pw_cmd(state, "down")
    assert r.returncode == 0, r.stderr
    assert "before [0.0, 1.0]" in r.stdout
    assert "ERR" in r.stdout and address in r.stdout, r.stdout


def test_pw_up_twice_is_refused_and_down_without_cluster_is_an_error(cluster):
    state, address = cluster
    again = pw_cmd(state, "up")
    assert again.returncode != 0 and "already up" in again.stderr
    fresh = pw_cmd(os.path.join(str(state), "nothing-here"), "down")
    assert fresh.returncode != 0 and "no cluster is up" in fresh.stderr
