"""pw.models' transformer: shapes, causality, the same initial weights on any number of
devices, and a short run of examples/train_lm.py whose held-out loss beats the unigram baseline."""

import functools
import os
import shutil
import runpy
import sys

import numpy as np
import pytest

import pathways as pw

CFG = pw.models.TransformerConfig(vocab=32, d_model=16, heads=2, layers=2, seq_len=8)


def _step_and_init(cfg, opt, devs):
    """The data-parallel training step and initialisation over `devs`, pmapped."""
    step = pw.pmap(functools.partial(pw.models.train_step, cfg=cfg, optimizer=opt, axis_name="d"),
                   devices=devs, axis_name="d")
    init = pw.pmap(functools.partial(pw.models.init_with_optimizer, cfg=cfg, optimizer=opt), devices=devs)
    return step, init


def test_config_refuses_bad_sizes():
    with pytest.raises(ValueError, match="multiple of heads"):
        pw.models.TransformerConfig(d_model=10, heads=4)
    with pytest.raises(ValueError, match="layers must be a positive int"):
        pw.models.TransformerConfig(layers=0)


def test_logits_are_causal_and_shaped():
    params = pw.models.init(pw.random.PRNGKey(0), CFG)
    tokens = np.arange(16, dtype=np.int32).reshape(2, 8) % 32
    logits = pw.pmap(lambda p, t: pw.models.apply(p, t, CFG), devices=pw.get_devices(1))(
        pw.tree_map(lambda x: np.asarray(x)[None], params), tokens[None])
    logits = np.asarray(logits)[0]
    assert logits.shape == (2, 8, 32)
    changed = tokens.copy()
    changed[:, 5:] = 0  # later tokens must not change earlier positions' logits
    again = np.asarray(pw.models.apply(params, changed, CFG))
    np.testing.assert_allclose(again[:, :5], logits[:, :5], rtol=1e-4, atol=1e-5)
    assert not np.allclose(again[:, 5:], logits[:, 5:])
    with pytest.raises(ValueError, match="seq_len is 8"):
        pw.models.apply(params, np.zeros((1, 9), np.int32), CFG)


def test_initial_weights_do_not_depend_on_the_device_count():
    host = pw.models.init(pw.random.PRNGKey(3), CFG)
    for n in (1, 2):
        on_devices = pw.pmap(lambda k: pw.models.init(k, CFG), devices=pw.get_devices(n))(
            np.stack([pw.random.PRNGKey(3)] * n))
        for a, b in zip(pw.tree_leaves(on_devices), pw.tree_leaves(host)):
            for d in range(n):
                np.testing.assert_allclose(np.asarray(a)[d], b, rtol=1e-5, atol=1e-6)


def test_train_lm_example_beats_the_unigram_baseline(tmp_path, capsys):
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train_lm.py")
    module = runpy.run_path(example)
    args = module["parse_args"](["--steps", "400", "--devices", "2", "--batch", "8", "--seq-len", "32",
                                 "--d-model", "32", "--layers", "1", "--no-progress",
                                 "--plot", str(tmp_path / "loss.png"), "--sample", "20"])
    held_out, baseline = module["train"](args)
    assert held_out < baseline - 0.5, (held_out, baseline)
    assert (tmp_path / "loss.png").stat().st_size > 0
    out = capsys.readouterr().out
    assert "held-out loss" in out and "tokens/s" in out


def test_a_run_resumed_from_a_checkpoint_continues_the_same_loss_curve(tmp_path):
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train_lm.py")
    module = runpy.run_path(example)
    common = ["--steps", "12", "--devices", "2", "--batch", "2", "--seq-len", "8", "--d-model", "8",
              "--heads", "2", "--layers", "1", "--warmup", "2", "--no-progress", "--plot", "",
              "--eval-batches", "1"]
    whole = module["train"](module["parse_args"](
        common + ["--checkpoint-dir", str(tmp_path / "a"), "--checkpoint-every", "6"]))
    assert len(whole.losses) == 12
    assert sorted(os.listdir(tmp_path / "a")) == ["step_00000006", "step_00000012"]
    # Resume from the middle: only step 6's checkpoint in the directory.
    shutil.copytree(tmp_path / "a" / "step_00000006", tmp_path / "b" / "step_00000006")
    resumed = module["train"](module["parse_args"](
        common + ["--checkpoint-dir", str(tmp_path / "b"), "--resume"]))
    np.testing.assert_allclose(resumed.losses, whole.losses, rtol=1e-6)
    assert resumed[0] == pytest.approx(whole[0], rel=1e-6)  # the same held-out loss


def test_a_nan_loss_stops_training_naming_the_step(tmp_path):
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train_lm.py")
    module = runpy.run_path(example)
    args = module["parse_args"](["--steps", "3", "--devices", "1", "--batch", "2", "--seq-len", "8",
                                 "--d-model", "8", "--heads", "2", "--layers", "1", "--no-progress",
                                 "--plot", "", "--lr", "nan"])
    with pytest.raises(SystemExit, match="the loss is nan at step 1"):
        module["train"](args)


def test_one_device_and_four_data_parallel_devices_give_the_same_losses():
    cfg = pw.models.TransformerConfig(vocab=32, d_model=16, heads=2, layers=1, seq_len=8)
    opt = pw.optimizers.adamw(1e-2)
    rng = np.random.default_rng(5)
    batches = [rng.integers(0, 32, size=(8, 9)).astype(np.int32)] * 5  # memorised: the loss falls
    curves = {}
    for n in (1, 4):
        devs = pw.get_devices(n)

        step, init = _step_and_init(cfg, opt, devs)
        params, state = init(np.stack([pw.random.PRNGKey(9)] * n))
        losses = []
        for b in batches:  # the same global batch of 8, split over the devices
            params, state, loss = step(params, state, b.reshape(n, 8 // n, 9))
            losses.append(float(np.asarray(loss)[0]))
        curves[n] = losses
    np.testing.assert_allclose(curves[4], curves[1], rtol=2e-5)
    assert curves[1][-1] < curves[1][0]


def test_device_memory_does_not_grow_with_training_steps():
    cfg = pw.models.TransformerConfig(vocab=32, d_model=16, heads=2, layers=1, seq_len=8)
    devs = pw.get_devices(2)
    opt = pw.optimizers.adamw(1e-2)

    step, init = _step_and_init(cfg, opt, devs)
    params, state = init(np.stack([pw.random.PRNGKey(0)] * 2))
    ids = [d.physical_device.id for d in devs]
    rng = np.random.default_rng(0)
    in_use = []
    for i in range(200):
        params, state, loss = step(params, state, rng.integers(0, 32, size=(2, 4, 9)).astype(np.int32))
        if i >= 20 and i % 20 == 0:
            np.asarray(loss)
            stats = pw.memory_stats()
            in_use.append(sum(stats[d]["bytes_in_use"] for d in ids))
    # The old parameters and optimizer state are freed once the new ones exist.
    assert in_use[0] > 0
    assert max(in_use) <= 1.25 * in_use[0], in_use


def test_a_scanned_transformer_has_the_unrolled_losses_and_gradients():
    cfg = pw.models.TransformerConfig(vocab=32, d_model=16, heads=2, layers=3, seq_len=8)
    params = pw.models.init(pw.random.PRNGKey(5), cfg)
    stacked = pw.models.stack_blocks(params)
    assert np.shape(stacked["blocks"]["qkv"]) == (3, 16, 48)
    tokens = (np.arange(2 * 9, dtype=np.int32).reshape(1, 2, 9) * 7) % 32
    devs = pw.get_devices(1)
    grad = lambda p: pw.pmap(lambda q, t: pw.value_and_grad(lambda r: pw.models.loss(r, t, cfg))(q), devices=devs)(
        pw.tree_map(lambda x: np.asarray(x)[None], p), tokens)
    loss_u, g_u = grad(params)
    loss_s, g_s = grad(stacked)
    np.testing.assert_allclose(np.asarray(loss_s), np.asarray(loss_u), rtol=1e-6)
    g_s = pw.models.unstack_blocks(pw.tree_map(lambda x: np.asarray(x)[0], g_s))
    for a, b in zip(pw.tree_leaves(g_s), pw.tree_leaves(pw.tree_map(lambda x: np.asarray(x)[0], g_u))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # The host path runs the scan as a Python loop and agrees too.
    np.testing.assert_allclose(pw.models.loss(stacked, tokens[0], cfg), pw.models.loss(params, tokens[0], cfg),
                               rtol=1e-5)
