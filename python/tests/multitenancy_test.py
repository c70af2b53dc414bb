"""Clients sharing a `pw up --scheduler share` cluster: two Python processes with weights 1 and
3 submit as fast as they can; the cluster divides the device time by their weights, and
`pw status` shows each client's weight and device time and the island's policy and window."""

import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import needs_pw, pw_cmd

pytestmark = needs_pw

CLIENT = """
import sys, time
import numpy as np
import pathways as pw
pw.init(sys.argv[1], weight=int(sys.argv[2]))
sl = pw.make_virtual_device_set().add_slice(devices=1)
step = pw.pmap(lambda x: x * 2.0, devices=sl.devices)
x = pw.device_put(np.ones((1, 4), np.float32), sl.devices)
print("ready", flush=True)
sys.stdin.readline()          # go
outs = []
deadline = time.time() + 60   # a hang guard; the parent stops us much earlier
while time.time() < deadline:
    outs.append(step(x))
    if len(outs) == 8:
        np.asarray(outs.pop(0))
"""


def _device_ms(status, weight):
    m = re.search(rf"client \d+ 'python': weight {weight}, priority 0, \d+ live array\(s\) \([^)]*\), \d+ run\(s\), "
                  rf"([0-9.]+) ms device time", status)
    assert m, status
    return float(m.group(1))


def test_two_processes_share_the_devices_by_their_weights(tmp_path):
    state = tmp_path / "state"
    up = pw_cmd(state, "up", "--hosts", "1", "--devices-per-host", "1", "--device-kind", "sim",
                "--sim-kernel-us", "10000", "--sim-skip-compute", "--scheduler", "share")
    assert up.returncode == 0, up.stderr
    try:
        address = pw_cmd(state, "address").stdout.strip()
        # The clients find the cluster's token in the state folder of `pw up`, as on its machine.
        env = dict(os.environ, PATHWAYS_STATE_DIR=str(state))
        clients = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(CLIENT), address, str(w)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
                   for w in (1, 3)]
        try:
            for c in clients:
                assert c.stdout.readline().strip() == "ready"
            start = pw_cmd(state, "status").stdout
            for c in clients:
                c.stdin.write("go\n")
                c.stdin.flush()
            # Measure from when both are running (one may start well before the other).
            for _ in range(600):
                before = pw_cmd(state, "status").stdout
                if all(_device_ms(before, w) > _device_ms(start, w) for w in (1, 3)):
                    break
                subprocess.run(["sleep", "0.02"])
            # Until 100 kernels of 10 ms ran after the start (a hang guard bounds the wait).
            for _ in range(600):
                status = pw_cmd(state, "status").stdout
                used = [_device_ms(status, w) - _device_ms(before, w) for w in (1, 3)]
                if sum(used) >= 1000:
                    break
                subprocess.run(["sleep", "0.05"])
            assert sum(used) >= 1000, status
            light = used[0] / sum(used)
            assert 0.10 < light < 0.40, f"weights 1:3 gave the light client {light:.0%}: {status}"
            assert "scheduler of island 0: share, window 4" in status, status
        finally:
            for c in clients:
                c.kill()
                c.wait(10)
    finally:
        pw_cmd(state, "down")


HOLDER = """
import sys
import numpy as np
import pathways as pw
pw.init(sys.argv[1])
sl = pw.make_virtual_device_set().add_slice(devices=2)
x = pw.device_put(np.ones((2, 1 << 20), np.float32), sl.devices)   # 4 MiB per device
np.asarray(x)
print("ready", flush=True)
sys.stdin.readline()
"""


def _array_bytes(status):
    return sum(int(float(m.group(1)) * {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)])
               for m in re.finditer(r"device \d+ \(cpu\): ([0-9.]+)([BKMG])", status))


def test_a_killed_client_is_disconnected_within_its_lease(tmp_path):
    state = tmp_path / "state"
    up = pw_cmd(state, "up", "--hosts", "1", "--devices-per-host", "2", "--memory-per-device", "64M")
    assert up.returncode == 0, up.stderr
    try:
        address = pw_cmd(state, "address").stdout.strip()
        env = dict(os.environ, PATHWAYS_STATE_DIR=str(state))
        holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLDER), address],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        assert holder.stdout.readline().strip() == "ready"
        status = pw_cmd(state, "status").stdout
        assert "client" in status and "lease renewed" in status, status
        assert _array_bytes(status) >= 8 << 20, status
        holder.kill()  # SIGKILL: no Disconnect, no goodbye
        holder.wait(10)
        killed = time.monotonic()
        while time.monotonic() - killed < 30:  # a hang guard; the lease is 5 s
            status = pw_cmd(state, "status").stdout
            if "clients: 0" in status and _array_bytes(status) < 8 << 20:
                break
            time.sleep(0.1)
        freed_after = time.monotonic() - killed
        print(f"a SIGKILLed client was disconnected and its arrays freed after {freed_after:.2f} s")
        assert "clients: 0" in status, status
        assert _array_bytes(status) < 8 << 20, status
    finally:
        pw_cmd(state, "down")


@pytest.mark.parametrize("bad", [0, -1, 2_000_000, 1.5, True, "4"])
def test_a_bad_weight_is_a_clear_error(bad):
    import pathways as pw
    with pytest.raises(ValueError, match="pw.init: weight must be an int in"):
        pw.init("127.0.0.1:1", weight=bad)
