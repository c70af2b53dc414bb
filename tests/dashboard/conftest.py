"""A `pw up` cluster (2 hosts x 2 devices) that has run programs, for the dashboard's tests.

The client stays connected for the module (its labels and memory must show), runs a few
programs, and has two runs fail out of device memory (the page lists recent failures)."""

import collections
import json
import os
import subprocess
import time
import urllib.request

import numpy as np
import pytest

import pathways as pw

BIN_DIR = os.environ.get("PW_BIN_DIR", "")
PW = os.path.join(BIN_DIR, "pw")
needs_pw = pytest.mark.skipif(not os.access(PW, os.X_OK),
                              reason="the pw command is not built (PW_BIN_DIR unset)")

RUNS = 8          # successful runs of a one-computation program
FAILED_RUNS = 2   # runs whose output does not fit the device
BUSY_RUNS = 3     # runs that keep devices 0 and 1 busy for about a second
WEIGHT = 3

Cluster = collections.namedtuple("Cluster", "state address url")


def pw_cmd(state_dir, *args, timeout=60):
    """Runs `pw ARGS` with its state in `state_dir` (never the user's cluster)."""
    env = dict(os.environ, PATHWAYS_STATE_DIR=str(state_dir))
    env.pop("PATHWAYS_ADDRESS", None)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return subprocess.run([PW, *args], capture_output=True, text=True, timeout=timeout, env=env)


def wait_until_idle(url, timeout=60):
    """Until a snapshot taken from now on shows no run in flight (asked through the dashboard,
    which reuses a snapshot for 250 ms: older ones may predate the last run)."""
    since_ms = time.time() * 1000
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(url + "api/programs", timeout=30) as r:
            programs = json.loads(r.read())
        if programs["taken_ms"] > since_ms and not programs["running"]:
            return
        assert time.monotonic() < deadline, "runs still in flight after %ss" % timeout
        time.sleep(0.05)


def too_big(x):
    return pw.numpy.broadcast_to(x, (16384, 8192))


def _busy(x):
    for _ in range(48):
        x = pw.numpy.tanh(x @ x)
    return x


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = tmp_path_factory.mktemp("pw-state")
    up = pw_cmd(state, "up", "--hosts", "2", "--devices-per-host", "2", "--memory-per-device", "256M")
    assert up.returncode == 0, up.stderr
    try:
        address = pw_cmd(state, "address").stdout.strip()
        dash = pw_cmd(state, "dashboard", "--no-open")
        assert dash.returncode == 0, dash.stderr
        url = dash.stdout.strip()
        assert url.startswith("http://127.0.0.1:"), url
        assert f"dashboard: {url}" in up.stdout

        os.environ["PATHWAYS_STATE_DIR"] = str(state)  # where this client finds the token
        pw.init(address, weight=WEIGHT)
        devs = pw.get_devices(4)
        f = pw.pmap(lambda x: x * 2.0 + 1.0, devices=devs)
        for i in range(RUNS):
            out = np.asarray(f(np.full((4, 256), i, np.float32)))
            assert out[0, 0] == 2 * i + 1
        pair = pw.get_devices(2)
        g = pw.pmap(_busy, devices=pair)
        m = pw.device_put(np.zeros((2, 512, 512), np.float32), pair)
        for _ in range(BUSY_RUNS):  # work the devices' utilisation shows
            np.asarray(g(m))
        # Runs that fail on the hosts: each shard's output (512 MiB) cannot fit its device.
        h = pw.pmap(too_big, devices=devs)
        for _ in range(FAILED_RUNS):
            with pytest.raises(pw.PathwaysError, match="out of memory"):
                np.asarray(h(np.ones((4, 8192), np.float32)))
        # Live arrays on every device: the memory gauges show them.
        keep = pw.device_put(np.ones((4, 1024), np.float32), devs)
        # A run ends (and is counted) once every host reported, which may follow its error.
        wait_until_idle(url)
        yield Cluster(state, address, url)
        del keep, m
        pw.shutdown()
    finally:
        pw_cmd(state, "down")


def pw_status(cluster):
    st = pw_cmd(cluster.state, "status")
    assert st.returncode == 0, st.stderr
    return st.stdout
