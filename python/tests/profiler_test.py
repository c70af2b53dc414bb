"""pw.named_scope and pw.trace: a training step's trace breaks down by named scope."""

import functools
import json

import numpy as np
import pytest

import pathways as pw


@pytest.fixture(scope="module")
def devs():
    pw.init(hosts=2, devices_per_host=2)
    return pw.get_devices(2)


def test_a_traced_training_step_breaks_down_by_scope(devs, tmp_path):
    cfg = pw.models.TransformerConfig(vocab=32, d_model=8, heads=2, layers=1, seq_len=4)
    opt = pw.optimizers.sgd(0.1)
    init = pw.pmap(functools.partial(pw.models.init_with_optimizer, cfg=cfg, optimizer=opt), devices=devs)
    step = pw.pmap(functools.partial(pw.models.train_step, cfg=cfg, optimizer=opt, axis_name="d"),
                   devices=devs, axis_name="d")
    params, state = init(np.stack([pw.random.PRNGKey(0)] * 2))
    tokens = np.random.default_rng(0).integers(0, 32, size=(2, 2, 5)).astype(np.int32)
    params, state, loss = step(params, state, tokens)
    loss.block_until_ready()
    with pw.trace(tmp_path / "step.json") as path:
        params, state, loss = step(params, state, tokens)
        loss.block_until_ready()
    events = json.load(open(path))
    events = events["traceEvents"] if isinstance(events, dict) else events
    scopes = {e["name"] for e in events if e.get("cat") == "scope"}
    for name in ("forward/block0/attention", "forward/block0/mlp", "backward/block0/mlp",
                 "forward/cross_entropy", "all_reduce", "optimizer"):
        assert name in scopes, sorted(scopes)
    executes = [e for e in events if e.get("cat") == "execute"]
    assert len(executes) == 2  # one per device
    # Every scope event lies inside its device's execute event.
    for e in events:
        if e.get("cat") != "scope":
            continue
        outer = [x for x in executes if (x["pid"], x["tid"]) == (e["pid"], e["tid"])]
        assert outer and outer[0]["ts"] <= e["ts"] + 1e-3 and \
            e["ts"] + e["dur"] <= outer[0]["ts"] + outer[0]["dur"] + 1e-3
    # Nothing is recorded outside the block.
    with pw.trace(tmp_path / "empty.json") as path:
        pass
    empty = json.load(open(path))
    empty = empty["traceEvents"] if isinstance(empty, dict) else empty
    assert not [e for e in empty if e.get("ph") == "X"]


def test_named_scope_checks_its_name_and_is_a_no_op_outside_a_trace():
    with pytest.raises(ValueError, match="without '/'"):
        with pw.named_scope("a/b"):
            pass
    with pw.named_scope("outside"):
        assert np.asarray(np.ones(2) * 2).sum() == 4


def test_traces_do_not_nest_and_a_failing_block_keeps_its_error(devs, tmp_path):
    with pw.trace(tmp_path / "outer.json"):
        with pytest.raises(pw.PathwaysError, match="do not nest"):
            with pw.trace(tmp_path / "inner.json"):
                pass
    with pytest.raises(ZeroDivisionError):
        with pw.trace(tmp_path / "failed.json"):
            1 / 0
    assert (tmp_path / "failed.json").exists()  # written anyway
