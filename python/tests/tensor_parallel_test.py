"""The transformer with tensor (model) parallelism over a mesh axis, against the unsharded model."""

import functools

import numpy as np
import pytest

import pathways as pw


@pytest.fixture(scope="module")
def mesh():
    pw.init(hosts=2, devices_per_host=2)
    return pw.make_virtual_device_set().add_slice(devices=4, mesh=(2, 2), axis_names=("data", "model"))


CFG = pw.models.TransformerConfig(vocab=16, d_model=8, heads=2, layers=2, seq_len=4)


def test_shard_and_unshard_are_inverse_on_the_host():
    params = pw.models.init(pw.random.PRNGKey(3), CFG)
    params = pw.tree_map(np.asarray, params)
    shards = [pw.models.shard_params(params, CFG, i, 2) for i in range(2)]
    assert shards[0]["blocks"][0]["qkv"].shape == (8, 12)
    assert shards[1]["blocks"][0]["down"].shape == (16, 8)
    back = pw.models.unshard_params(shards, CFG)
    for a, b in zip(pw.tree_leaves(back), pw.tree_leaves(params)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="do not divide"):
        pw.models.shard_params(params, CFG, 0, 3)


def test_data_and_tensor_parallel_losses_and_gradients_equal_the_unsharded_model(mesh):
    key = pw.random.PRNGKey(0)
    full = pw.tree_map(np.asarray, pw.models.init(key, CFG))
    tokens = np.random.default_rng(0).integers(0, CFG.vocab, size=(4, CFG.seq_len + 1)).astype(np.int32)
    # Reference: the whole batch on the host model.
    loss_ref, grads_ref = pw.value_and_grad(functools.partial(pw.models.loss, cfg=CFG))(full, tokens)

    @pw.pmap(devices=mesh.devices)
    def step(key, batch):
        params = pw.models.init(key, CFG)
        shard = pw.models.shard_params(params, CFG, pw.lax.axis_index("model"), 2)
        value, grads = pw.value_and_grad(
            lambda p: pw.models.loss(p, batch, CFG, model_axis="model"))(shard)
        return pw.lax.pmean(value, "data"), pw.lax.pmean(grads, "data")

    # Device (d, m) gets the data shard d of the batch (2 sequences each).
    batches = np.stack([tokens[2 * (i // 2):2 * (i // 2) + 2] for i in range(4)])
    value, grads = step(np.stack([key] * 4), batches)
    value = np.asarray(value)
    np.testing.assert_allclose(value, float(loss_ref), rtol=1e-5)
    assert np.all(value == value[0])  # bit-identical everywhere
    host = [pw.tree_map(lambda g, i=i: np.asarray(g)[i], grads) for i in range(4)]
    for d in range(2):  # both data rows hold the same (averaged) gradients
        got = pw.models.unshard_params([host[2 * d], host[2 * d + 1]], CFG)
        for a, b in zip(pw.tree_leaves(got), pw.tree_leaves(grads_ref)):
            np.testing.assert_allclose(a, np.asarray(b), rtol=2e-4, atol=1e-6)


def test_count_params_matches_the_initialised_model():
    assert pw.models.count_params(CFG) == pw.models.num_params(pw.models.init(pw.random.PRNGKey(0), CFG))


def test_the_example_trains_with_a_model_axis_along_the_one_device_curve(tmp_path):
    import os
    import runpy
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train_lm.py")
    module = runpy.run_path(example)
    common = ["--steps", "8", "--batch", "2", "--seq-len", "8", "--d-model", "16", "--heads", "4",
              "--layers", "1", "--no-progress", "--plot", "", "--eval-batches", "1", "--warmup", "2"]
    one = module["train"](module["parse_args"](common + ["--devices", "1"]))
    tp = module["train"](module["parse_args"](common + ["--mesh", "1,2"]))
    dp_tp = module["train"](module["parse_args"](common + ["--mesh", "2,2", "--batch", "1"]))
    np.testing.assert_allclose(tp.losses, one.losses, rtol=1e-4)
    # 2 data rows x 1 sequence: the same global batch as 1 x 2 only if drawn alike; check it trains.
    assert len(dp_tp.losses) == 8 and all(np.isfinite(dp_tp.losses))
