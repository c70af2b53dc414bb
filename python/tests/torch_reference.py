"""The transformer LM of pw.models written with PyTorch operations: the oracle the agreement
test compares with, and the peer system python/bench/train_bench.py measures against."""

import numpy as np
import torch


def _norm(x, p):
    mean = x.mean(-1, keepdim=True)
    centered = x - mean
    var = (centered * centered).mean(-1, keepdim=True)
    return centered / torch.sqrt(var + 1e-5) * p["scale"] + p["bias"]


def _attention(x, b, cfg):
    """A block's causal multi-head attention on x [batch, t, d] (before the residual)."""
    batch, t, d = x.shape
    h = cfg.heads
    hd = d // h
    causal = torch.tril(torch.ones(t, t, dtype=torch.bool))
    y = _norm(x, b["norm1"]).reshape(batch * t, d) @ b["qkv"]
    q, k, v = y.reshape(batch, t, 3, h, hd).permute(2, 0, 3, 1, 4)
    scores = (q @ k.transpose(-1, -2)) / np.sqrt(hd)
    scores = torch.where(causal, scores, torch.tensor(-1e9, dtype=scores.dtype))
    weights = torch.softmax(scores, dim=-1)
    return ((weights @ v).permute(0, 2, 1, 3).reshape(batch * t, d) @ b["out"]).reshape(batch, t, d)


def _logits_loss(x, params, targets, cfg):
    batch, t, d = x.shape
    x = _norm(x, params["norm"])
    logits = (x.reshape(batch * t, d) @ params["embed"].T).reshape(batch, t, cfg.vocab)
    return -torch.log_softmax(logits, dim=-1).gather(-1, targets[..., None]).squeeze(-1).mean()


def torch_loss(params, tokens, cfg):
    """pw.models.loss, written with PyTorch operations on a dict of tensors."""
    tokens = tokens.long()
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    batch, t = inputs.shape
    d = cfg.d_model
    x = params["embed"][inputs] + params["pos"][:t]
    for b in params["blocks"]:
        x = x + _attention(x, b, cfg)
        up = torch.nn.functional.gelu(_norm(x, b["norm2"]).reshape(batch * t, d) @ b["up"],
                                      approximate="tanh")
        x = x + (up @ b["down"]).reshape(batch, t, d)
    return _logits_loss(x, params, targets, cfg)


def torch_moe_layer(p, x, cfg):
    """pw.moe.moe_layer on one device's tokens x [T, d] with every expert in `p`, in PyTorch:
    (y, aux loss, dropped fraction), with the same routing rules (token order, capacity)."""
    tokens, d = x.shape
    e, k, c = cfg.num_experts, cfg.top_k, cfg.capacity
    probs = torch.softmax(x @ p["gate"], dim=-1)
    values, choice = torch.topk(probs, k, dim=-1)
    s = tokens * k
    flat = choice.reshape(s)
    chosen = torch.nn.functional.one_hot(flat, e).to(x.dtype)
    place = ((torch.cumsum(chosen, 0) - chosen) * chosen).sum(-1)
    keep = (place < c).to(x.dtype)
    x_s = x[:, None, :].expand(tokens, k, d).reshape(s, d)
    hidden = torch.nn.functional.gelu(torch.einsum("sd,sdh->sh", x_s, p["up"][flat]), approximate="tanh")
    out = torch.einsum("sh,shd->sd", hidden, p["down"][flat])
    y = (out * (values.reshape(s) * keep)[:, None]).reshape(tokens, k, d).sum(1)
    aux = e * (chosen.mean(0).detach() * probs.mean(0)).sum()
    return y, aux, 1.0 - keep.mean()


def torch_moe_transformer_loss(params, tokens, cfg, devices):
    """The mean over `devices` data shards (tokens [devices, batch, seq + 1]) of
    pw.moe.transformer_loss, every expert in `params`; and the mean cross-entropy."""
    losses, ces = [], []
    for g in range(devices):
        tok = tokens[g].long()
        inputs, targets = tok[:, :-1], tok[:, 1:]
        batch, t = inputs.shape
        x = params["embed"][inputs] + params["pos"][:t]
        aux = 0.0
        for b in params["blocks"]:
            x = x + _attention(x, b, cfg)
            flat = _norm(x, b["norm2"]).reshape(batch * t, cfg.d_model)
            m, a, _ = torch_moe_layer(b["moe"], flat, cfg.moe)
            x = x + m.reshape(batch, t, cfg.d_model)
            aux = aux + a
        ce = _logits_loss(x, params, targets, cfg)
        losses.append(ce + cfg.moe.load_balance_weight * aux / len(params["blocks"]))
        ces.append(ce)
    return torch.stack(losses).mean(), torch.stack(ces).mean()
