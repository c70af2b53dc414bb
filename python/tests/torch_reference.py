"""The transformer LM of pw.models written with PyTorch operations: the oracle the agreement
test compares with, and the peer system python/bench/train_bench.py measures against."""

import numpy as np
import torch


def torch_loss(params, tokens, cfg):
    """pw.models.loss, written with PyTorch operations on a dict of tensors."""
    tokens = tokens.long()
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    batch, t = inputs.shape
    d, h = cfg.d_model, cfg.heads
    hd = d // h

    def norm(x, p):
        mean = x.mean(-1, keepdim=True)
        centered = x - mean
        var = (centered * centered).mean(-1, keepdim=True)
        return centered / torch.sqrt(var + 1e-5) * p["scale"] + p["bias"]

    x = params["embed"][inputs] + params["pos"][:t]
    causal = torch.tril(torch.ones(t, t, dtype=torch.bool))
    for b in params["blocks"]:
        y = norm(x, b["norm1"]).reshape(batch * t, d) @ b["qkv"]
        q, k, v = y.reshape(batch, t, 3, h, hd).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) / np.sqrt(hd)
        scores = torch.where(causal, scores, torch.tensor(-1e9, dtype=scores.dtype))
        weights = torch.softmax(scores, dim=-1)
        attn = (weights @ v).permute(0, 2, 1, 3).reshape(batch * t, d) @ b["out"]
        x = x + attn.reshape(batch, t, d)
        up = torch.nn.functional.gelu(norm(x, b["norm2"]).reshape(batch * t, d) @ b["up"],
                                      approximate="tanh")
        x = x + (up @ b["down"]).reshape(batch, t, d)
    x = norm(x, params["norm"])
    logits = (x.reshape(batch * t, d) @ params["embed"].T).reshape(batch, t, cfg.vocab)
    logp = torch.log_softmax(logits, dim=-1)
    return -logp.gather(-1, targets[..., None]).squeeze(-1).mean()
