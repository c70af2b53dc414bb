"""The transformer LM of pw.models against the same model written in PyTorch (the oracle), in
float64 on the CPU: the same initial weights and batches give the same gradient of every
parameter after one step, and the same losses over 20 steps of SGD and 5 steps of AdamW."""

import functools

import numpy as np
import pytest

import pathways as pw

torch = pytest.importorskip("torch")
from torch_reference import torch_loss  # noqa: E402 - needs torch

CFG = pw.models.TransformerConfig(vocab=32, d_model=16, heads=2, layers=2, seq_len=8)


def initial_params():
    params = pw.models.init(pw.random.PRNGKey(11), CFG)
    return pw.tree_map(lambda x: np.asarray(x, np.float64), params)


def to_torch(params):
    return pw.tree_map(lambda x: torch.tensor(np.asarray(x), dtype=torch.float64, requires_grad=True), params)


def batches(n):
    rng = np.random.default_rng(4)
    return [rng.integers(0, CFG.vocab, size=(4, CFG.seq_len + 1)).astype(np.int32) for _ in range(n)]


def rel_err(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def test_gradients_of_every_parameter_agree():
    params = initial_params()
    tokens = batches(1)[0]
    grads = pw.pmap(lambda p, t: pw.grad(functools.partial(pw.models.loss, cfg=CFG))(p, t),
                    devices=pw.get_devices(1))(pw.tree_map(lambda x: x[None], params), tokens[None])
    tp = to_torch(params)
    torch_loss(tp, torch.tensor(tokens), CFG).backward()
    ours = pw.tree_leaves(grads)
    theirs = pw.tree_leaves(pw.tree_map(lambda t: t.grad.numpy(), tp))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert rel_err(np.asarray(a)[0], b) <= 1e-6


@pytest.mark.parametrize("name,steps", [("sgd", 20), ("adamw", 5)])
def test_training_losses_agree(name, steps):
    if name == "sgd":
        ours_opt = pw.optimizers.sgd(0.5, momentum=0.9)
        make_theirs = lambda ps: torch.optim.SGD(ps, lr=0.5, momentum=0.9)  # noqa: E731
    else:
        ours_opt = pw.optimizers.adamw(1e-2, weight_decay=0.01)
        make_theirs = lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.01, eps=1e-8)  # noqa: E731
    params = initial_params()
    data = batches(1) * steps  # one batch, memorised: the loss must fall

    @pw.pmap(devices=pw.get_devices(1))
    def step(p, state, t):
        loss, g = pw.value_and_grad(lambda q: pw.models.loss(q, t, CFG))(p)
        updates, state = ours_opt.update(g, state, p)
        return pw.optimizers.apply_updates(p, updates), state, loss

    p = pw.tree_map(lambda x: x[None], params)
    state = pw.pmap(ours_opt.init, devices=pw.get_devices(1))(p)
    ours = []
    for t in data:
        p, state, loss = step(p, state, t[None])
        ours.append(float(np.asarray(loss)[0]))

    tp = to_torch(params)
    opt = make_theirs(pw.tree_leaves(tp))
    theirs = []
    for t in data:
        opt.zero_grad()
        loss = torch_loss(tp, torch.tensor(t), CFG)
        loss.backward()
        opt.step()
        theirs.append(float(loss))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert theirs[-1] < theirs[0]
