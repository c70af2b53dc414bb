"""Recovery after host loss on a `pw up` cluster: a worker is killed under a training loop, a
replacement pw-worker joins, the client repairs its slice (VirtualSlice.repair) and carries on
from its last checkpoint."""

import os
import re

from conftest import BIN_DIR, needs_pw, pw_cmd, run_python

pytestmark = needs_pw


def test_a_killed_worker_is_replaced_and_training_resumes_from_the_checkpoint(tmp_path):
    state = tmp_path / "state"
    up = pw_cmd(state, "up", "--hosts", "2", "--devices-per-host", "2", "--memory-per-device", "64M")
    assert up.returncode == 0, up.stderr
    try:
        address = pw_cmd(state, "address").stdout.strip()
        fields = dict(line.split("=", 1) for line in (state / "cluster").read_text().splitlines() if "=" in line)
        victim = int(fields["worker_pids"].split(",")[0])
        # A worker joins only with the cluster's operator token, which pw up recorded.
        token = dict(line.split("=", 1) for line in (state / "credentials").read_text().splitlines())["operator_token"]
        r = run_python(f"""
            import os, signal, subprocess, time
            import numpy as np
            import pathways as pw
            pw.init({address!r})
            sl = pw.make_virtual_device_set().add_slice(devices=4)  # every device: no spare
            step = pw.pmap(lambda w, x: w - 0.5 * (w - x), devices=sl.devices)
            x = np.full(4, 2.0, np.float32)
            w = pw.device_put(np.zeros(4, np.float32), sl.devices)
            for _ in range(3):
                w = step(w, x)
            pw.checkpoint.save({str(tmp_path / 'ckpt')!r}, {{"w": w}}, metadata={{"step": 3}})
            print("before", np.asarray(w).tolist(), "version", sl.mapping_version)
            os.kill({victim}, signal.SIGKILL)
            lost = time.time()
            replacement = subprocess.Popen([{os.path.join(BIN_DIR, "pw-worker")!r}, "--controller",
                                            {address!r}, "--devices", "2", "--memory-per-device", "64M"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           env=dict(os.environ, PATHWAYS_OPERATOR_TOKEN={token!r}))
            try:
                try:
                    np.asarray(step(w, x))
                    print("no failure")
                except pw.PathwaysError as e:
                    print("failed with", e.code)
                sl.repair(timeout=30)
                w, meta = pw.checkpoint.restore({str(tmp_path / 'ckpt')!r}, {{"w": np.zeros(4, np.float32)}},
                                                devices=sl.devices, return_metadata=True)
                w = step(w["w"], x)
                print("after", np.asarray(w).tolist(), "from step", meta["step"], "version",
                      sl.mapping_version, "in", round(time.time() - lost, 2), "s")
                try:
                    sl.repair(timeout=-1)
                except ValueError as e:
                    print("bad timeout:", e)
            finally:
                replacement.terminate()
                replacement.wait(10)
        """, env={"PATHWAYS_ADDRESS": address, "PATHWAYS_STATE_DIR": str(state)}, timeout=120)
        assert r.returncode == 0, r.stderr[-3000:]
        print(r.stdout)
        assert "before [1.75, 1.75, 1.75, 1.75] version 1" in r.stdout
        assert "failed with UNAVAILABLE" in r.stdout
        # The failure and the repair each give the slice a new mapping version.
        assert "after [1.875, 1.875, 1.875, 1.875] from step 3 version 3" in r.stdout
        assert "bad timeout: repair: timeout must be a number of seconds" in r.stdout
        seconds = float(re.search(r"version \d+ in ([\d.]+) s", r.stdout).group(1))
        assert seconds < 30
    finally:
        pw_cmd(state, "down")
