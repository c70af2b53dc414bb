"""Clients sharing a `pw up --scheduler share` cluster: two Python processes with weights 1 and
3 submit as fast as they can; the cluster divides the device time by their weights, and
`pw status` shows each client's weight and device time and the island's policy and window."""

import re
import subprocess
import sys
import textwrap

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
    m = re.search(rf"client \d+ 'python': weight {weight}, priority 0, \d+ live array\(s\), \d+ run\(s\), "
                  rf"([0-9.]+) ms device time", status)
    assert m, status
    return float(m.group(1))


def test_two_processes_share_the_devices_by_their_weights(tmp_path):
    state = tmp_path / "state"
    up = pw_cmd(state, "up", "--hosts", "1", "--devices-per-host", "1", "--device-kind", "sim",
                "--sim-kernel-us", "3000", "--sim-skip-compute", "--scheduler", "share")
    assert up.returncode == 0, up.stderr
    try:
        address = pw_cmd(state, "address").stdout.strip()
        clients = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(CLIENT), address, str(w)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                   for w in (1, 3)]
        try:
            for c in clients:
                assert c.stdout.readline().strip() == "ready"
            before = pw_cmd(state, "status").stdout
            for c in clients:
                c.stdin.write("go\n")
                c.stdin.flush()
            # Until 150 kernels of 3 ms ran after the start (a hang guard bounds the wait).
            for _ in range(600):
                status = pw_cmd(state, "status").stdout
                used = [_device_ms(status, w) - _device_ms(before, w) for w in (1, 3)]
                if sum(used) >= 450:
                    break
                subprocess.run(["sleep", "0.05"])
            assert sum(used) >= 450, status
            light = used[0] / sum(used)
            assert 0.10 < light < 0.40, f"weights 1:3 gave the light client {light:.0%}: {status}"
            assert "scheduler of island 0: share, window 4" in status, status
        finally:
            for c in clients:
                c.kill()
                c.wait(10)
    finally:
        pw_cmd(state, "down")


@pytest.mark.parametrize("bad", [0, -1, 2_000_000, 1.5, True, "4"])
def test_a_bad_weight_is_a_clear_error(bad):
    import pathways as pw
    with pytest.raises(ValueError, match="pw.init: weight must be an int in"):
        pw.init("127.0.0.1:1", weight=bad)
