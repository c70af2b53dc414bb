"""pw.numpy on tracers (checked against NumPy) and pw.lax collectives over the pmap axis."""

import numpy as np
import pytest

import pathways as pw
import pathways.numpy as pnp
from pathways import lax

N = 4  # devices per slice in these tests


@pytest.fixture(scope="module")
def devs():
    return pw.get_devices(N)


def per_shard(fn, *xs):
    """What a pmap of `fn` must return: fn applied to each shard with NumPy, stacked."""
    outs = [fn(*(x[i] for x in xs)) for i in range(N)]
    if isinstance(outs[0], tuple):
        return tuple(np.stack(o) for o in zip(*outs))
    return np.stack(outs)


def test_numpy_functions_match_numpy(devs):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, (N, 3, 4)).astype(np.float32)
    y = rng.uniform(-1.0, 1.0, (N, 3, 4)).astype(np.float32)
    cases = {
        "add": (lambda m, a, b: m.add(a, b)),
        "subtract": (lambda m, a, b: m.subtract(a, b)),
        "multiply": (lambda m, a, b: m.multiply(a, b)),
        "divide": (lambda m, a, b: m.divide(a, b)),
        "exp": (lambda m, a, b: m.exp(b)),
        "log": (lambda m, a, b: m.log(a)),
        "tanh": (lambda m, a, b: m.tanh(b)),
        "sqrt": (lambda m, a, b: m.sqrt(a)),
        "maximum": (lambda m, a, b: m.maximum(a, b)),
        "minimum": (lambda m, a, b: m.minimum(a, b)),
        "where": (lambda m, a, b: m.where(b > 0, a, b)),
        "sum": (lambda m, a, b: m.sum(a)),
        "sum_axis": (lambda m, a, b: m.sum(a, axis=1)),
        "sum_keepdims": (lambda m, a, b: m.sum(a, axis=0, keepdims=True)),
        "mean": (lambda m, a, b: m.mean(a, axis=-1)),
        "max": (lambda m, a, b: m.max(b, axis=0)),
        "min": (lambda m, a, b: m.min(b)),
        "matmul": (lambda m, a, b: m.matmul(a, b.T)),
        "dot": (lambda m, a, b: m.dot(a.T, b)),
        "reshape": (lambda m, a, b: m.reshape(a, (4, 3))),
        "transpose": (lambda m, a, b: m.transpose(a)),
        "broadcast_to": (lambda m, a, b: m.broadcast_to(a[0], (2, 4))),
        "concatenate": (lambda m, a, b: m.concatenate([a, b], axis=1)),
        "zeros_ones": (lambda m, a, b: a + m.zeros((3, 4), m.float32) + m.ones((4,), m.float32)),
        "arange": (lambda m, a, b: a * m.arange(4).astype(m.float32)),
    }
    for name, case in cases.items():
        got = np.asarray(pw.pmap(lambda a, b: case(pnp, a, b), devices=devs)(x, y))
        want = per_shard(lambda a, b: case(np, a, b), x, y)
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, err_msg=name)


def test_numpy_functions_on_concrete_values_use_numpy():
    a = np.array([1., 4.], np.float32)
    np.testing.assert_array_equal(pnp.sqrt(a), [1., 2.])
    assert pnp.zeros((2,)).dtype == np.float32
    assert pnp.arange(3).dtype == np.int32


def test_psum_pmax_pmin_pmean(devs):
    x = np.arange(N * 3, dtype=np.float32).reshape(N, 3)
    f = pw.pmap(lambda v: (lax.psum(v, "i"), lax.pmax(v, "i"), lax.pmin(v, "i"), lax.pmean(v, "i")),
                devices=devs, axis_name="i")
    s, mx, mn, mean = (np.asarray(a) for a in f(x))
    for got, want in ((s, x.sum(0)), (mx, x.max(0)), (mn, x.min(0)), (mean, x.mean(0))):
        np.testing.assert_allclose(got, np.broadcast_to(want, x.shape))


def test_psum_of_a_pytree(devs):
    x = np.ones((N, 2), np.float32)
    out = pw.pmap(lambda v: lax.psum({"a": v, "b": (v * 2,)}, "i"), devices=devs, axis_name="i")(x)
    np.testing.assert_array_equal(np.asarray(out["a"]), np.full((N, 2), N))
    np.testing.assert_array_equal(np.asarray(out["b"][0]), np.full((N, 2), 2 * N))


def test_axis_index(devs):
    out = pw.pmap(lambda v: v + lax.axis_index("i"), devices=devs, axis_name="i")(np.zeros(N, np.int32))
    np.testing.assert_array_equal(np.asarray(out), np.arange(N))


def test_all_gather(devs):
    x = np.arange(N * 2, dtype=np.float32).reshape(N, 2)
    stacked = pw.pmap(lambda v: lax.all_gather(v, "i"), devices=devs, axis_name="i")(x)
    np.testing.assert_array_equal(np.asarray(stacked), np.broadcast_to(x, (N, N, 2)))
    tiled = pw.pmap(lambda v: lax.all_gather(v, "i", tiled=True), devices=devs, axis_name="i")(x)
    np.testing.assert_array_equal(np.asarray(tiled), np.broadcast_to(x.reshape(-1), (N, N * 2)))


def test_psum_scatter(devs):
    x = np.arange(N * N * 3, dtype=np.float32).reshape(N, N, 3)
    out = pw.pmap(lambda v: lax.psum_scatter(v, "i"), devices=devs, axis_name="i")(x)
    np.testing.assert_array_equal(np.asarray(out), x.sum(0))  # device i keeps block i of the sum
    tiled = pw.pmap(lambda v: lax.psum_scatter(v.reshape(-1), "i", tiled=True), devices=devs,
                    axis_name="i")(x)
    np.testing.assert_array_equal(np.asarray(tiled), x.sum(0).reshape(N, -1))


def test_all_to_all(devs):
    x = np.arange(N * N * 2, dtype=np.float32).reshape(N, N, 2)  # x[i, j]: device i's block j
    out = pw.pmap(lambda v: lax.all_to_all(v, "i", 0, 0), devices=devs, axis_name="i")(x)
    np.testing.assert_array_equal(np.asarray(out), np.transpose(x, (1, 0, 2)))


def test_ppermute_ring(devs):
    x = np.arange(N, dtype=np.float32) + 1
    perm = [(i, (i + 1) % N) for i in range(N)]
    out = pw.pmap(lambda v: lax.ppermute(v, "i", perm), devices=devs, axis_name="i")(x)
    np.testing.assert_array_equal(np.asarray(out), np.roll(x, 1))
    partial = pw.pmap(lambda v: lax.ppermute(v, "i", [(0, 1)]), devices=devs, axis_name="i")(x)
    np.testing.assert_array_equal(np.asarray(partial), [0, 1, 0, 0])  # no sender: zeros


def test_unbound_axis_name_is_a_name_error(devs):
    with pytest.raises(NameError, match="unbound axis name: 'j'"):
        pw.pmap(lambda v: lax.psum(v, "j"), devices=devs, axis_name="i")(np.ones(N, np.float32))
    with pytest.raises(NameError):
        pw.pmap(lambda v: lax.psum(v, "i"), devices=devs)(np.ones(N, np.float32))
    with pytest.raises(NameError):
        lax.psum(np.ones(2), "i")


def test_psum_scatter_size_mismatch_is_a_value_error(devs):
    with pytest.raises(ValueError, match="axis size 4"):
        pw.pmap(lambda v: lax.psum_scatter(v, "i"), devices=devs, axis_name="i")(np.ones((N, 3), np.float32))


def test_mlp_forward_sharded_with_pmap_and_psum_matches_numpy(devs):
    """Tensor-parallel 2-layer MLP: each device holds a quarter of the hidden units; the output
    layer's partial products are summed with psum (Megatron-style)."""
    rng = np.random.default_rng(42)
    batch, d_in, hidden, d_out = 8, 16, 32, 10
    x = rng.normal(size=(batch, d_in)).astype(np.float32)
    w1 = (rng.normal(size=(d_in, hidden)) / np.sqrt(d_in)).astype(np.float32)
    b1 = rng.normal(size=(hidden,)).astype(np.float32)
    w2 = (rng.normal(size=(hidden, d_out)) / np.sqrt(hidden)).astype(np.float32)
    b2 = rng.normal(size=(d_out,)).astype(np.float32)

    h = hidden // N
    params = {
        "w1": np.stack([w1[:, i * h:(i + 1) * h] for i in range(N)]),
        "b1": np.stack([b1[i * h:(i + 1) * h] for i in range(N)]),
        "w2": np.stack([w2[i * h:(i + 1) * h, :] for i in range(N)]),
    }

    def forward(p, x):
        hid = pnp.tanh(x @ p["w1"] + p["b1"])
        return pnp.maximum(lax.psum(hid @ p["w2"], "model") + b2, 0.0)

    f = pw.pmap(forward, devices=devs, axis_name="model")
    got = np.asarray(f(params, np.broadcast_to(x, (N,) + x.shape)))
    want = np.maximum(np.tanh(x @ w1 + b1) @ w2 + b2, 0.0)
    assert got.shape == (N, batch, d_out)
    for i in range(N):  # every device holds the full result
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-5)


def test_data_parallel_mean_loss(devs):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(N, 5, 3)).astype(np.float32)
    w = rng.normal(size=(3,)).astype(np.float32)
    loss = pw.pmap(lambda xb: lax.pmean(pnp.mean((xb @ w) ** 2), "batch"), devices=devs,
                   axis_name="batch")(x)
    np.testing.assert_allclose(np.asarray(loss), np.full(N, np.mean((x @ w) ** 2)), rtol=1e-5)


def _add_at(operand, indices, updates, axis):
    """NumPy's reference: np.add.at on a copy, along `axis`."""
    out = np.array(operand)
    np.add.at(out, (slice(None),) * axis + (indices,), updates)
    return out


def test_scatter_add_matches_np_add_at(devs):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N, 3, 5, 2)).astype(np.float32)
    # Index arrays with repeats, one per axis of the per-device (3, 5, 2) value.
    indices = {0: np.array([2, 0, 2, 2], np.int32),
               1: np.array([[4, 0, 4], [1, 4, 4]], np.int32),
               2: np.array([[1], [1]], np.int32)}
    for axis, idx in indices.items():
        shape = x.shape[1:1 + axis] + idx.shape + x.shape[2 + axis:]
        u = rng.normal(size=(N,) + shape).astype(np.float32)
        got = np.asarray(pw.pmap(lambda a, b: lax.scatter_add(a, idx, b, axis=axis), devices=devs)(x, u))
        want = per_shard(lambda a, b: _add_at(a, idx, b, axis), x, u)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"axis {axis}")
    # Traced indices (a different set per device) on a negative axis, int32 values.
    ids = rng.integers(0, 5, size=(N, 6)).astype(np.int32)
    counts = np.zeros((N, 2, 5), np.int32)
    got = np.asarray(pw.pmap(lambda c, i: lax.scatter_add(c, i, pnp.ones((2, 6), pnp.int32), axis=-1),
                             devices=devs)(counts, ids))
    want = per_shard(lambda c, i: _add_at(c, i, np.ones((2, 6), np.int32), 1), counts, ids)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


def test_scatter_add_broadcasts_updates_clamps_indices_and_runs_on_host_values(devs):
    x = np.zeros((N, 4), np.float32)
    idx = np.array([0, 3, 3, 9, -5], np.int32)  # 9 -> 3, -5 -> 0, as take clamps them
    got = np.asarray(pw.pmap(lambda a: lax.scatter_add(a, idx, 1.5), devices=devs)(x))
    np.testing.assert_array_equal(got, np.broadcast_to([3.0, 0.0, 0.0, 4.5], (N, 4)))
    # On host values it is np.add.at on a copy, with the same clamping.
    host = np.arange(4.0)
    out = lax.scatter_add(host, idx, np.arange(5.0))
    np.testing.assert_array_equal(out, _add_at(host, np.clip(idx, 0, 3), np.arange(5.0), 0))
    np.testing.assert_array_equal(host, np.arange(4.0))  # the operand is not modified


def test_scatter_add_errors_name_the_culprit(devs):
    x = np.zeros((N, 4, 2), np.float32)
    with pytest.raises(ValueError, match=r"updates of shape \(3, 2\) do not broadcast to \(2, 2\)"):
        pw.pmap(lambda a: lax.scatter_add(a, np.array([0, 1], np.int32), pnp.ones((3, 2))), devices=devs)(x)
    with pytest.raises(TypeError, match="indices must be integers, got float32"):
        pw.pmap(lambda a: lax.scatter_add(a, np.array([0.0], np.float32), pnp.ones((1, 2))), devices=devs)(x)
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        pw.pmap(lambda a: lax.scatter_add(a, np.array([0], np.int32), 1.0, axis=2), devices=devs)(x)
