"""python/bench/table2_sim.py's code path at a small size: 8 sim devices in timing mode, a tiny
LM, SPMD and a 2-stage pipeline; and the interconnect model reaching the sim devices'
collectives and the memory accounting without host bytes. In a fresh interpreter (the suite's
session is a CPU cluster)."""

import json
import os

from conftest import run_python

BENCH = os.path.join(os.path.dirname(__file__), "..", "bench")

CODE = r"""
import argparse, json, sys
sys.path.insert(0, %r)
import pathways as pw
import table2_sim as t

def args(**kw):
    a = dict(devices=8, devices_per_host=2, d_model=64, heads=4, layers=2, seq_len=32, vocab=128,
             batch=16, model_parallel=2, microbatches_per_stage=2, steps=2, memory_gib=1,
             ici_gbps=800.0, ici_latency_us=1.0, dcn_gbps=100.0, dcn_latency_us=10.0)
    a.update(kw)
    return argparse.Namespace(**a)

a = args()
cfg = t.config(a)
opt = pw.optimizers.adamw(1e-3)
out = {}
out["spmd"] = t.run("spmd", 1, t.spmd(cfg, opt, a, (4, 2)), a)
out["S2"] = t.run("S2", 1, t.pipelined(cfg, opt, a, 2), a)
slow = args(ici_gbps=0.25)  # 31 MB/s: the tensor-parallel all-reduces dominate
out["spmd_slow_ici"] = t.run("spmd slow", 1, t.spmd(cfg, opt, slow, (4, 2)), slow)
# Memory: a data-parallel replica holds the parameters and AdamW's two moments, accounted on
# each sim device although nothing backs them.
t.start(a)
try:
    devs = pw.make_virtual_device_set().add_slice(devices=8, mesh=(8, 1), axis_names=("data", "model")).devices
    import functools, numpy as np
    init = pw.pmap(functools.partial(pw.models.init_with_optimizer, cfg=cfg, optimizer=opt), devices=devs)
    state = init(np.stack([pw.random.PRNGKey(0)] * 8))
    pw.tree_map(lambda x: x.block_until_ready(), state)
    out["in_use"] = [s["bytes_in_use"] for s in pw.memory_stats().values()]
finally:
    pw.shutdown()
out["param_bytes"] = pw.models.count_params(cfg) * 4
print("RESULT" + json.dumps(out))
""" % os.path.abspath(BENCH)


def test_table2_sim_small():
    r = run_python(CODE, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.split("RESULT", 1)[1])
    for k in ("spmd", "S2", "spmd_slow_ici"):
        assert out[k]["tokens_per_s"] > 0 and out[k]["step_s"] > 0, out[k]
    # The interconnect model prices the sim devices' collectives: 3200x less ICI bandwidth makes
    # the tensor-parallel step at least twice as slow.
    assert out["spmd_slow_ici"]["tokens_per_s"] < 0.5 * out["spmd"]["tokens_per_s"], out
    # Parameters + two AdamW moments per device, accounted without host memory.
    assert all(b >= 3 * out["param_bytes"] for b in out["in_use"]), out
