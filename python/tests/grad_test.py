"""pw.grad / pw.value_and_grad / pw.vjp: against NumPy's analytic gradients, inside and outside
pmap, with collectives (data-parallel gradients), pytrees, argnums, has_aux, closures, errors."""

import numpy as np
import pytest

import pathways as pw
import pathways.numpy as pnp
from pathways import lax

N = 4


@pytest.fixture(scope="module")
def devs():
    return pw.get_devices(N)


def test_grad_outside_pmap_is_a_one_device_run():
    x = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    g = pw.grad(lambda v: (v * v).sum())(x)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-6)
    value, g = pw.value_and_grad(lambda v: pnp.tanh(v).sum())(x)
    np.testing.assert_allclose(value, np.tanh(x).sum(), rtol=1e-6)
    np.testing.assert_allclose(g, 1 - np.tanh(x) ** 2, rtol=1e-5)


def test_data_parallel_linear_regression_gradient_matches_numpy(devs):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 8, 3)).astype(np.float32)  # 8 examples per device
    y = rng.normal(size=(N, 8)).astype(np.float32)
    w = rng.normal(size=3).astype(np.float32)
    b = np.float32(0.5)

    def loss(params, xb, yb):
        pred = xb @ params["w"] + params["b"]
        return ((pred - yb) ** 2).mean()

    @pw.pmap(devices=devs, axis_name="batch")
    def step(params, xb, yb):
        value, grads = pw.value_and_grad(loss)(params, xb, yb)
        return lax.pmean(value, "batch"), lax.pmean(grads, "batch")

    params = {"w": np.stack([w] * N), "b": np.full((N,), b, np.float32)}
    value, grads = step(params, x, y)
    # NumPy: the mean over devices of each device's mean squared error and its gradient.
    xs, ys = x.reshape(-1, 3), y.reshape(-1)
    err = xs @ w + b - ys
    np.testing.assert_allclose(np.asarray(value), np.full(N, (err ** 2).mean()), rtol=1e-5)
    gw = 2 * xs.T @ err / len(ys)
    np.testing.assert_allclose(np.asarray(grads["w"]), np.stack([gw] * N), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(grads["b"]), np.full(N, 2 * err.mean()), rtol=1e-4, atol=1e-6)


def test_argnums_has_aux_and_closures(devs):
    a = np.full((N, 2), 3.0, np.float32)
    c = np.full((N, 2), 5.0, np.float32)

    @pw.pmap(devices=devs)
    def f(a, c):
        scale = c * 2.0  # a value of the pmap, closed over by the differentiated function

        def g(u, v):
            return (u * v * scale).sum(), u + v

        (value, aux), (du, dv) = pw.value_and_grad(g, argnums=(0, 1), has_aux=True)(a, c)
        gv = pw.grad(g, argnums=1, has_aux=True)(a, c)[0]
        return value, aux, du, dv, gv

    value, aux, du, dv, gv = (np.asarray(o) for o in f(a, c))
    np.testing.assert_allclose(value, np.full(N, 3 * 5 * 10 * 2.0))
    np.testing.assert_allclose(aux, np.full((N, 2), 8.0))
    np.testing.assert_allclose(du, c * 10.0)  # d/du sum(u v s) = v s
    np.testing.assert_allclose(dv, a * 10.0)
    np.testing.assert_allclose(gv, a * 10.0)


def test_vjp_inside_pmap(devs):
    x = np.linspace(0.1, 0.8, N * 3, dtype=np.float32).reshape(N, 3)

    @pw.pmap(devices=devs)
    def f(v):
        out, pullback = pw.vjp(pnp.exp, v)
        (dv,) = pullback(pnp.ones_like(out) * 2.0)
        return out, dv

    out, dv = f(x)
    np.testing.assert_allclose(np.asarray(out), np.exp(x), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(dv), 2 * np.exp(x), rtol=1e-6)


def test_bad_requests_name_the_culprit(devs):
    x = np.ones((3,), np.float32)
    with pytest.raises(TypeError, match=r"floating-point scalar, got float32\[3\]"):
        pw.grad(lambda v: v * 2.0)(x)
    with pytest.raises(ValueError, match="argnums 2 is out of range"):
        pw.grad(lambda v: v.sum(), argnums=2)(x)
    with pytest.raises(TypeError, match=r"argument 0\['n'\] is int32"):
        pw.grad(lambda p: p["w"].sum())({"n": np.ones(3, np.int32), "w": x})
    with pytest.raises(TypeError, match=r"has_aux=True needs"):
        pw.grad(lambda v: v.sum(), has_aux=True)(x)


def test_a_step_running_out_of_device_memory_fails_its_futures_and_the_runtime_goes_on(devs):
    x = np.ones((N, 4), np.float32)

    @pw.pmap(devices=devs)
    def too_big(v):
        # 400M floats per device: more than a device's 1 GiB.
        big = pnp.broadcast_to(v[:1, None], (20000, 20000))
        return pw.grad(lambda b: (b * b).sum())(big).sum() + v.sum()

    out = too_big(x)  # the handles come back at once; the failure arrives through the future
    with pytest.raises(pw.PathwaysError, match="RESOURCE_EXHAUSTED|memory|bytes") as err:
        np.asarray(out)
    assert err.value.code == "RESOURCE_EXHAUSTED"
    ok = pw.pmap(lambda v: pw.grad(lambda w: (w * w).sum())(v), devices=devs)(x)
    np.testing.assert_allclose(np.asarray(ok), 2 * x)


def test_vjp_with_aux_and_a_pullback_called_twice(devs):
    x = np.linspace(0.1, 0.8, N * 3, dtype=np.float32).reshape(N, 3)

    @pw.pmap(devices=devs)
    def f(v):
        out, pullback, aux = pw.vjp(lambda u: (pnp.exp(u), u * 2.0), v, has_aux=True)
        (once,) = pullback(pnp.ones_like(out))
        (twice,) = pullback(pnp.ones_like(out) * 3.0)
        return out, aux, once, twice

    out, aux, once, twice = (np.asarray(o) for o in f(x))
    np.testing.assert_allclose(aux, 2 * x, rtol=1e-6)
    np.testing.assert_allclose(once, np.exp(x), rtol=1e-6)
    np.testing.assert_allclose(twice, 3 * np.exp(x), rtol=1e-6)


def test_grad_outside_pmap_reuses_its_trace():
    g = pw.grad(lambda v: (v * v).sum())
    for scale in (1.0, 2.0, 3.0):
        np.testing.assert_allclose(g(np.full(3, scale, np.float32)), np.full(3, 2 * scale))


def test_traced_integers_are_32_bit_and_bitwise_ops_take_integers(devs):
    x = np.ones((N, 3), np.int32)
    with pytest.raises(OverflowError, match="4294967295 does not fit int32"):
        pw.pmap(lambda v: pnp.bitwise_and(v, 0xFFFFFFFF), devices=devs)(x)
    with pytest.raises(TypeError, match="bitwise ops take dtype i32"):
        pw.pmap(lambda v: pnp.bitwise_xor(v, v), devices=devs)(x.astype(np.float32))


def test_gradients_through_collectives_match_numpy(devs):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(N, 3)).astype(np.float32)
    c = rng.normal(size=(N, 3)).astype(np.float32)
    c_gather = rng.normal(size=(N, N, 3)).astype(np.float32)
    perm = [(i, (i + 1) % N) for i in range(N)]

    @pw.pmap(devices=devs, axis_name="i")
    def grads(v, w, wg):
        g_sum = pw.grad(lambda u: (lax.psum(u, "i") * w).sum())(v)
        g_gather = pw.grad(lambda u: (lax.all_gather(u, "i") * wg).sum())(v)
        g_perm = pw.grad(lambda u: (lax.ppermute(u, "i", perm) * w).sum())(v)
        return g_sum, g_gather, g_perm

    g_sum, g_gather, g_perm = (np.asarray(g) for g in grads(x, c, c_gather))
    # L = sum_d <psum(x), c_d>: dL/dx_k = sum_d c_d on every device (each device's own
    # function differentiates its own term; psum's transpose sums the cotangents).
    np.testing.assert_allclose(g_sum, np.stack([c.sum(0)] * N), rtol=1e-5)
    # all_gather's transpose scatters: device k receives sum_d wg_d[k].
    np.testing.assert_allclose(g_gather, c_gather.sum(0), rtol=1e-5)
    # ppermute sends x_k to k+1: its transpose brings c_{k+1} back to k.
    np.testing.assert_allclose(g_perm, np.roll(c, -1, axis=0), rtol=1e-6)


def test_stop_gradient_blocks_the_derivative_and_logsumexp_still_differentiates():
    x = np.array([1.0, 2.0, 3.0], np.float32)
    np.testing.assert_allclose(pw.grad(lambda v: (v * lax.stop_gradient(v)).sum())(x), x)
    np.testing.assert_allclose(pw.grad(pw.nn.logsumexp)(x), np.exp(x) / np.exp(x).sum(), rtol=1e-5)
    assert lax.stop_gradient({"a": x})["a"] is x  # host values pass through


def test_only_a_child_builder_can_be_differentiated(devs):
    from pathways import _tracer

    def body(v):
        b = _tracer.current_trace().builder
        with pytest.raises(ValueError, match="must come from Builder.child"):
            b.differentiate(b, "vjp", [0], [0], [0], [])
        with pytest.raises(ValueError, match="mode must be"):
            b.differentiate(b.child("c"), "jvp", [], [], [], [])
        return v

    pw.pmap(body, devices=devs)(np.ones((N, 2), np.float32))


def test_take_gradient_is_np_add_at_of_the_cotangent(devs):
    rng = np.random.default_rng(11)
    table = rng.normal(size=(N, 6, 3)).astype(np.float32)
    ids = rng.integers(0, 6, size=(N, 4, 5)).astype(np.int32)
    ids[:, 0, :2] = 2  # repeats on every device
    ct = rng.normal(size=(N, 4, 5, 3)).astype(np.float32)

    @pw.pmap(devices=devs)
    def grads(t, i, c):
        return pw.grad(lambda u: (pnp.take(u, i, axis=0) * c).sum())(t)

    want = np.zeros_like(table)
    for d in range(N):
        np.add.at(want[d], ids[d], ct[d])
    np.testing.assert_allclose(np.asarray(grads(table, ids, ct)), want, rtol=1e-5, atol=1e-6)
    # Along axis 1, with out-of-range indices clamped, outside pmap.
    x = rng.normal(size=(2, 4)).astype(np.float32)
    idx = np.array([3, 3, 0, 7, -1], np.int32)
    c = rng.normal(size=(2, 5)).astype(np.float32)
    g = pw.grad(lambda v: (pnp.take(v, idx, axis=1) * c).sum())(x)
    want = np.zeros_like(x)
    np.add.at(want, (slice(None), np.clip(idx, 0, 3)), c)
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-5, atol=1e-6)


def test_scatter_add_gradient_passes_the_operand_and_takes_the_updates():
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    u = np.ones((3, 2), np.float32)
    idx = np.array([1, 3, 1], np.int32)
    c = np.arange(8, dtype=np.float32).reshape(4, 2) + 1
    gx, gu = pw.grad(lambda a, b: (lax.scatter_add(a, idx, b) * c).sum(), argnums=(0, 1))(x, u)
    np.testing.assert_allclose(np.asarray(gx), c)
    np.testing.assert_allclose(np.asarray(gu), np.take(c, idx, axis=0))
