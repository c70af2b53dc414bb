"""pw.moe: the mixture-of-experts layer against a PyTorch reference with the same routing rules
(forward, dropped tokens, gradients), expert-parallel over devices with all_to_all, a few
training steps of the MoE transformer matching PyTorch's losses, and bad configurations."""

import numpy as np
import pytest
import torch

import pathways as pw
from pathways import moe

from torch_reference import torch_moe_layer, torch_moe_transformer_loss

D = 2


def _torch(tree):
    return pw.tree_map(lambda a: torch.tensor(np.asarray(a, np.float64), requires_grad=True), tree)


def test_bad_configurations_are_refused_at_construction():
    with pytest.raises(ValueError, match="capacity must be a positive int, got 0"):
        moe.MoEConfig(capacity=0)
    with pytest.raises(ValueError, match="6 experts do not split evenly over 4 devices"):
        moe.init_layer(pw.random.PRNGKey(0), moe.MoEConfig(num_experts=6), 4)
    with pytest.raises(ValueError, match="top_k"):
        moe.MoEConfig(num_experts=2, top_k=3)


def test_the_layer_matches_pytorch_and_drops_tokens_past_capacity():
    cfg = moe.MoEConfig(num_experts=4, top_k=2, capacity=3, d_model=8, hidden=16, init_scale=0.5)
    params = moe.init_layer(pw.random.PRNGKey(1), cfg, 1)
    x = np.random.default_rng(2).normal(size=(D, 10, 8)).astype(np.float32)
    shards = [moe.shard_experts(params, cfg, D, i) for i in range(D)]
    stacked = pw.tree_map(lambda *a: np.stack([np.asarray(v) for v in a]), *shards)
    layer = pw.pmap(lambda p, v: moe.moe_layer(p, v, cfg, "expert"), axis_name="expert",
                    devices=pw.get_devices(D))
    y, stats = layer(stacked, x)
    for g in range(D):
        ty, taux, tdrop = torch_moe_layer(_torch(params), torch.tensor(x[g], dtype=torch.float64), cfg)
        np.testing.assert_allclose(np.asarray(y)[g], ty.detach().numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(np.asarray(stats["aux_loss"])[g], taux.item(), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(stats["dropped_fraction"])[g], tdrop.item(), rtol=1e-6)
    assert np.all(np.asarray(stats["dropped_fraction"]) > 0)  # 20 assignments for 4 x 3 places


def test_expert_parallel_training_matches_pytorch_for_a_few_steps():
    cfg = moe.MoETransformerConfig(vocab=16, d_model=8, heads=2, layers=2, seq_len=6,
                                   moe=moe.MoEConfig(num_experts=4, top_k=2, capacity=5,
                                                     d_model=8, hidden=16, init_scale=0.3))
    full = pw.tree_map(np.asarray, moe.init_transformer(pw.random.PRNGKey(3), cfg, D))
    tokens = np.random.default_rng(4).integers(0, cfg.vocab, size=(D, 2, cfg.seq_len + 1)).astype(np.int32)
    lr = 0.5

    def shard(tree, g):
        out = pw.tree_map(lambda a: a, tree)
        for i, block in enumerate(out["blocks"]):
            block["moe"] = moe.shard_experts(tree["blocks"][i]["moe"], cfg.moe, D, g)
        return out

    stacked = pw.tree_map(lambda *a: np.stack(a), *[shard(full, g) for g in range(D)])
    opt = pw.optimizers.sgd(lr)

    def train_step(p, t):
        (loss, (ce, dropped)), grads = pw.value_and_grad(
            lambda q: moe.transformer_loss(q, t, cfg, "expert"), has_aux=True)(p)
        grads = moe.average_gradients(grads, "expert")
        updates, _ = opt.update(grads, opt.init(p))
        return pw.optimizers.apply_updates(p, updates), pw.lax.pmean(loss, "expert"), dropped

    train = pw.pmap(train_step, axis_name="expert", devices=pw.get_devices(D))
    ref = _torch(full)
    tt = torch.tensor(tokens)
    for _ in range(3):
        stacked, loss, dropped = train(stacked, tokens)
        tloss, _ = torch_moe_transformer_loss(ref, tt, cfg, D)
        grads = torch.autograd.grad(tloss, pw.tree_leaves(ref))
        with torch.no_grad():
            leaves = [a - lr * g for a, g in zip(pw.tree_leaves(ref), grads)]
        ref = pw.tree_unflatten(pw.tree_flatten(ref)[1], [a.requires_grad_() for a in leaves])
        np.testing.assert_allclose(np.asarray(loss)[0], tloss.item(), rtol=2e-4)
    assert 0.0 < float(np.asarray(dropped).mean()) < 1.0


def test_the_moe_example_trains(tmp_path, capsys):
    import os
    import runpy
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train_moe.py")
    module = runpy.run_path(example)
    losses = module["train"](module["parse_args"](
        ["--steps", "60", "--log-every", "20", "--batch", "4", "--seq-len", "16",
         "--plot", str(tmp_path / "moe.png")]))
    assert losses[-1][1] < losses[0][1], losses
    out = capsys.readouterr().out
    assert "dropped" in out and "2 per device" in out
    assert (tmp_path / "moe.png").stat().st_size > 0
    with pytest.raises(ValueError, match="do not split evenly"):
        module["train"](module["parse_args"](["--experts", "3", "--steps", "1", "--plot", ""]))
