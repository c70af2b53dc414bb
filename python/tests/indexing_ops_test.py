"""pw.lax.dynamic_slice / dynamic_update_slice / top_k and pw.numpy.cumsum, traced (in pmap, with
per-device traced starts) and on host values, against NumPy; their gradients; bad input."""

import numpy as np
import pytest

import pathways as pw
import pathways.numpy as pnp
from pathways import lax

N = 4


@pytest.fixture(scope="module")
def devs():
    return pw.get_devices(N)


def _np_dynamic_slice(x, starts, sizes):
    s = [min(max(int(v), 0), d - n) for v, d, n in zip(starts, x.shape, sizes)]
    return x[tuple(slice(a, a + n) for a, n in zip(s, sizes))]


def test_dynamic_slice_with_traced_starts_clamps_like_xla(devs):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 6, 5)).astype(np.float32)
    starts = np.array([[-2, 1], [3, 4], [5, 0], [9, -7]], np.int32)  # per device, some clamp
    got = np.asarray(pw.pmap(lambda a, s: lax.dynamic_slice(a, (s[0], s[1]), (3, 2)),
                             devices=devs)(x, starts))
    want = np.stack([_np_dynamic_slice(x[i], starts[i], (3, 2)) for i in range(N)])
    np.testing.assert_array_equal(got, want)
    # Python-int starts, and the host path agrees with the traced one.
    got = np.asarray(pw.pmap(lambda a: lax.dynamic_slice(a, (4, 1), (2, 4)), devices=devs)(x))
    np.testing.assert_array_equal(got, np.stack([lax.dynamic_slice(x[i], (4, 1), (2, 4)) for i in range(N)]))
    np.testing.assert_array_equal(lax.dynamic_slice(x[0], (4, 1), (2, 4)), x[0, 4:6, 1:5])


def test_dynamic_update_slice_replaces_the_clamped_block(devs):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(N, 5, 4)).astype(np.float32)
    u = rng.normal(size=(N, 2, 3)).astype(np.float32)
    starts = np.array([[0, 0], [4, 1], [-1, 3], [2, 9]], np.int32)
    got = np.asarray(pw.pmap(lambda a, b, s: lax.dynamic_update_slice(a, b, (s[0], s[1])),
                             devices=devs)(x, u, starts))
    want = x.copy()
    for i in range(N):
        r, c = min(max(starts[i, 0], 0), 3), min(max(starts[i, 1], 0), 1)
        want[i, r:r + 2, c:c + 3] = u[i]
    np.testing.assert_array_equal(got, want)
    host = lax.dynamic_update_slice(x[1], u[1], (4, 1))
    np.testing.assert_array_equal(host, want[1])
    assert not np.array_equal(x[1], want[1])  # the host operand is not modified


def test_cumsum_matches_numpy(devs):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(N, 3, 4)).astype(np.float32)
    for axis in (None, 0, 1, -1):
        got = np.asarray(pw.pmap(lambda a: pnp.cumsum(a, axis=axis), devices=devs)(x))
        want = np.stack([np.cumsum(x[i], axis=axis) for i in range(N)])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"axis {axis}")
    b = x > 0
    got = np.asarray(pw.pmap(lambda a: pnp.cumsum(a, axis=1), devices=devs)(b))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.cumsum(b, axis=2))
    np.testing.assert_array_equal(pnp.cumsum(np.array([True, False, True])), [1, 1, 2])
    # lax.cumsum runs from the end when reverse, traced and on host values.
    got = np.asarray(pw.pmap(lambda a: lax.cumsum(a, axis=0, reverse=True), devices=devs)(x))
    want = np.flip(np.cumsum(np.flip(x, 1), axis=1), 1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lax.cumsum(x[0], axis=0, reverse=True), want[0], rtol=1e-6)


def test_top_k_is_largest_first_ties_to_the_lower_index(devs):
    x = np.array([[1, 3, 3, -1, 3], [np.nan, 0, 2, 2, -5]], np.float32)
    xs = np.broadcast_to(x, (N,) + x.shape).copy()
    values, indices = pw.pmap(lambda a: lax.top_k(a, 3), devices=devs)(xs)
    np.testing.assert_array_equal(np.asarray(indices)[0], [[1, 2, 4], [0, 2, 3]])
    np.testing.assert_array_equal(np.asarray(values)[0], [[3, 3, 3], [np.nan, 2, 2]])
    assert np.asarray(indices).dtype == np.int32
    hv, hi = lax.top_k(x, 3)
    np.testing.assert_array_equal(hi, np.asarray(indices)[0])
    np.testing.assert_array_equal(hv, np.asarray(values)[0])
    # Random rows, against a stable argsort.
    rng = np.random.default_rng(3)
    r = rng.integers(-3, 4, size=(N, 5, 8)).astype(np.int32)
    vals, idx = pw.pmap(lambda a: lax.top_k(a, 4), devices=devs)(r)
    want = np.argsort(-r, axis=-1, kind="stable")[..., :4]
    np.testing.assert_array_equal(np.asarray(idx), want)
    np.testing.assert_array_equal(np.asarray(vals), np.take_along_axis(r, want, -1))


def test_gradients_of_the_indexing_ops_match_numpy():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 4))
    w = rng.normal(size=(2, 3))

    g = pw.grad(lambda a: (lax.dynamic_slice(a, (4, 1), (2, 3)) * w).sum())(x)
    want = np.zeros_like(x)
    want[3:5, 1:4] = w  # start 4 clamps to 3
    np.testing.assert_allclose(g, want, rtol=1e-12)

    u = rng.normal(size=(2, 3))
    gx, gu = pw.grad(lambda a, b: (lax.dynamic_update_slice(a, b, (1, 0)) ** 2).sum(),
                     argnums=(0, 1))(x, u)
    want_x = 2 * x
    want_x[1:3, 0:3] = 0
    np.testing.assert_allclose(gx, want_x, rtol=1e-12)
    np.testing.assert_allclose(gu, 2 * u, rtol=1e-12)

    c = rng.normal(size=(3, 4))
    g = pw.grad(lambda a: (pnp.cumsum(a, axis=1) * c).sum())(x[:3])
    np.testing.assert_allclose(g, np.cumsum(c[:, ::-1], axis=1)[:, ::-1], rtol=1e-12)

    g = pw.grad(lambda a: (lax.top_k(a, 2)[0] * np.array([1.0, 10.0])).sum())(x)
    want = np.zeros_like(x)
    top = np.argsort(-x, axis=-1, kind="stable")[:, :2]
    np.put_along_axis(want, top, np.array([[1.0, 10.0]] * 5), -1)
    np.testing.assert_allclose(g, want, rtol=1e-12)


def test_bad_input_names_the_culprit(devs):
    x = np.zeros((N, 4, 3), np.float32)
    with pytest.raises(ValueError, match="start_indices must be a sequence of 2"):
        pw.pmap(lambda a: lax.dynamic_slice(a, (0,), (1, 1)), devices=devs)(x)
    with pytest.raises(ValueError, match=r"slice size 5 of dim 0 is outside \[0, 4\]"):
        pw.pmap(lambda a: lax.dynamic_slice(a, (0, 0), (5, 1)), devices=devs)(x)
    with pytest.raises(TypeError, match="start index 1 must be an integer scalar"):
        pw.pmap(lambda a: lax.dynamic_slice(a, (0, a[0, 0]), (1, 1)), devices=devs)(x)
    with pytest.raises(ValueError, match="does not fit in operand"):
        pw.pmap(lambda a: lax.dynamic_update_slice(a, pnp.zeros((5, 1), pnp.float32), (0, 0)),
                devices=devs)(x)
    with pytest.raises(ValueError, match=r"k = 4 must be in \[1, 3\]"):
        pw.pmap(lambda a: lax.top_k(a, 4), devices=devs)(x)
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        pw.pmap(lambda a: pnp.cumsum(a, axis=2), devices=devs)(x)


def test_layers_read_from_stacked_parameters_by_traced_index_match_indexing():
    """A stack of layers whose weights are one [L, d, d] array, layer i read with dynamic_slice at
    a traced i, gives the loss and gradient of the same layers indexed statically."""
    rng = np.random.default_rng(5)
    L, d = 3, 4
    w = rng.normal(size=(L, d, d)) * 0.5
    x = rng.normal(size=(2, d))

    def stacked(ws, h):
        for i in range(L):
            layer = (ws[0, 0, 0] * 0).astype(pnp.int32) + i  # computed in the trace: an IR value
            wi = lax.dynamic_slice(ws, (layer, 0, 0), (1, d, d)).reshape(d, d)
            h = pnp.tanh(h @ wi)
        return (h * h).sum()

    def indexed(ws, h):
        for i in range(L):
            h = pnp.tanh(h @ ws[i])
        return (h * h).sum()

    v1, g1 = pw.value_and_grad(stacked)(w, x)
    v2, g2 = pw.value_and_grad(indexed)(w, x)
    np.testing.assert_allclose(v1, v2, rtol=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-12)
