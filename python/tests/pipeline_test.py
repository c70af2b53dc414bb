"""Pipelined training (GPipe and 1F1B) as one program per step, against the unpipelined model."""

import functools

import numpy as np
import pytest

import pathways as pw

CFG = pw.models.TransformerConfig(vocab=16, d_model=8, heads=2, layers=2, seq_len=4)


@pytest.fixture(scope="module")
def stages():
    pw.init(hosts=2, devices_per_host=2)
    vds = pw.make_virtual_device_set()
    return [vds.add_slice(devices=1).devices for _ in range(2)]


@pytest.mark.parametrize("schedule", ["gpipe", "1f1b"])
def test_pipelined_losses_equal_the_unpipelined_model(stages, schedule):
    opt = pw.optimizers.sgd(0.5)
    pipe = pw.pipeline.Pipeline(CFG, opt, stages, microbatches=2, schedule=schedule)
    assert pipe.bubble_fraction() == pytest.approx(1 / 3)
    state = pipe.init(pw.random.PRNGKey(0))
    # The reference: the whole model on one device, the same global batch.
    ref = pw.pmap(functools.partial(pw.models.train_step, cfg=CFG, optimizer=opt), devices=stages[0])
    init = pw.pmap(functools.partial(pw.models.init_with_optimizer, cfg=CFG, optimizer=opt), devices=stages[0])
    params, opt_state = init(np.stack([pw.random.PRNGKey(0)]))
    rng = np.random.default_rng(0)
    for _ in range(4):
        tokens = rng.integers(0, CFG.vocab, size=(1, 4, CFG.seq_len + 1)).astype(np.int32)
        state, loss = pipe.step(state, tokens)
        params, opt_state, ref_loss = ref(params, opt_state, tokens)
        np.testing.assert_allclose(np.asarray(loss), np.asarray(ref_loss), rtol=1e-5)
    # The parameters too: stage 1's blocks are the reference's block 1.
    np.testing.assert_allclose(np.asarray(state[1][0]["blocks"][0]["qkv"]),
                               np.asarray(params["blocks"][1]["qkv"]), rtol=1e-4, atol=1e-6)


def test_bad_pipelines_are_refused(stages):
    opt = pw.optimizers.sgd(0.1)
    with pytest.raises(ValueError, match="do not divide"):
        pw.pipeline.Pipeline(pw.models.TransformerConfig(vocab=16, d_model=8, heads=2, layers=3, seq_len=4),
                             opt, stages, microbatches=2)
    with pytest.raises(ValueError, match="at least 2 stages"):
        pw.pipeline.Pipeline(CFG, opt, stages[:1], microbatches=2)
    with pytest.raises(ValueError, match="schedule must be one of"):
        pw.pipeline.Pipeline(CFG, opt, stages, microbatches=2, schedule="interleaved")
    pipe = pw.pipeline.Pipeline(CFG, opt, stages, microbatches=3)
    with pytest.raises(ValueError, match="does not split into 3 microbatches"):
        pipe.step(pipe.init(pw.random.PRNGKey(0)), np.zeros((1, 4, 5), np.int32))


def test_the_example_trains_pipelined_along_the_one_device_curve():
    import os
    import runpy
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train_lm.py")
    module = runpy.run_path(example)
    common = ["--steps", "6", "--batch", "4", "--seq-len", "8", "--d-model", "16", "--heads", "2",
              "--layers", "2", "--no-progress", "--plot", "", "--eval-batches", "1", "--warmup", "2",
              "--devices", "1"]
    one = module["train"](module["parse_args"](common))
    piped = module["train"](module["parse_args"](common + ["--pipeline-stages", "2", "--microbatches", "2"]))
    np.testing.assert_allclose(piped.losses, one.losses, rtol=1e-4)
    assert piped[0] == pytest.approx(one[0], rel=1e-4)  # held-out loss


def test_1f1b_order_bounds_the_microbatches_in_flight():
    S, M = 4, 8
    order = pw.pipeline.one_f_one_b(S, M)
    assert len(order) == 2 * S * M and len(set(order)) == 2 * S * M
    position = {op: i for i, op in enumerate(order)}
    for s in range(S):
        for k in range(M):
            if s > 0:
                assert position[("F", s - 1, k)] < position[("F", s, k)]
            if s < S - 1:
                assert position[("B", s + 1, k)] < position[("B", s, k)]
        # Forwards minus backwards done on stage s never exceeds S - s.
        live, peak = 0, 0
        for kind, st, _ in order:
            if st == s:
                live += 1 if kind == "F" else -1
                peak = max(peak, live)
        assert peak == min(S - s, M)
    assert pw.pipeline.one_f_one_b(2, 1) == [("F", 0, 0), ("F", 1, 0), ("B", 1, 0), ("B", 0, 0)]
