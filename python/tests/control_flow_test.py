"""pw.lax.while_loop / fori_loop / scan / cond / switch: traced in pmap and on host values, against
Python loops; gradients through them against the unrolled functions; collectives in loop bodies;
bad input."""

import numpy as np
import pytest

import pathways as pw
import pathways.numpy as pnp
from pathways import lax

N = 4


@pytest.fixture(scope="module")
def devs():
    return pw.get_devices(N)


def test_while_loop_exits_early_and_stops_at_its_bound(devs):
    x = np.array([1.0, 3.0, 10.0, 40.0], np.float32)[:, None] * np.ones((N, 2), np.float32)

    def double_until_100(v, bound):
        return lax.while_loop(lambda c: c[0] < 100.0, lambda c: (c[0] * 2.0, c[1] + 1),
                              (v[0], 0), max_iterations=bound)

    got_v, got_n = pw.pmap(lambda v: double_until_100(v, 50), devices=devs)(x)
    want_n = [7, 6, 4, 2]  # 1 -> 128, 3 -> 192, 10 -> 160, 40 -> 160
    np.testing.assert_array_equal(np.asarray(got_n), want_n)
    np.testing.assert_allclose(np.asarray(got_v), x[:, 0] * 2.0 ** np.array(want_n))
    # The bound stops the loop whatever cond says.
    _, n = pw.pmap(lambda v: double_until_100(v, 3), devices=devs)(x)
    np.testing.assert_array_equal(np.asarray(n), [3, 3, 3, 2])
    # On host values the same function runs as a Python loop.
    assert double_until_100(np.array([3.0, 0.0], np.float32), 50)[1] == 6


def test_fori_loop_and_closures(devs):
    w = np.arange(N * 3, dtype=np.float32).reshape(N, 3)

    def f(a):
        scale = pnp.sum(a)  # closed over by the body: captured from the enclosing trace
        return lax.fori_loop(2, 6, lambda i, acc: acc + a * i + scale, pnp.zeros_like(a))

    got = np.asarray(pw.pmap(f, devices=devs)(w))
    want = np.stack([sum(w[d] * i + w[d].sum() for i in range(2, 6)) for d in range(N)])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert lax.fori_loop(0, 0, lambda i, v: v + 1, 5) == 5


def test_scan_matches_a_python_loop_forward_and_reverse(devs):
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(N, 5, 3)).astype(np.float32)

    def step(c, x):
        c = c * 0.5 + x
        return c, (c.sum(), x * 2.0)

    for reverse in (False, True):
        got_c, (got_s, got_x) = pw.pmap(
            lambda v: lax.scan(step, pnp.zeros(3, np.float32), v, reverse=reverse), devices=devs)(xs)
        for d in range(N):
            want_c, want_ys = lax.scan(step, np.zeros(3, np.float32), xs[d], reverse=reverse)
            np.testing.assert_allclose(np.asarray(got_c)[d], want_c, rtol=1e-6)
            np.testing.assert_allclose(np.asarray(got_s)[d], want_ys[0], rtol=1e-6)
            np.testing.assert_allclose(np.asarray(got_x)[d], want_ys[1], rtol=1e-6)
        c = np.zeros(3, np.float32)
        for i in (range(4, -1, -1) if reverse else range(5)):
            c = c * 0.5 + xs[0, i]
        np.testing.assert_allclose(np.asarray(got_c)[0], c, rtol=1e-6)


def test_cond_and_switch_run_one_branch(devs):
    x = np.array([-2.0, -0.5, 0.5, 3.0], np.float32)
    got = pw.pmap(lambda v: lax.cond(v > 0, lambda a: a * 10.0, lambda a: a - 1.0, v), devices=devs)(x)
    np.testing.assert_allclose(np.asarray(got), np.where(x > 0, x * 10.0, x - 1.0))
    idx = np.array([-3, 0, 1, 7], np.int32)  # switch clamps the index into range
    branches = [lambda a: a + 1.0, lambda a: a * a, lambda a: -a]
    got = pw.pmap(lambda i, v: lax.switch(i, branches, v), devices=devs)(idx, x)
    np.testing.assert_allclose(np.asarray(got), [x[0] + 1.0, x[1] + 1.0, x[2] * x[2], -x[3]])
    assert lax.cond(False, lambda: 1, lambda: 2) == 2
    assert lax.switch(5, branches, 2.0) == -2.0


def _layer_stack(layers=4, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(layers, d, d)).astype(np.float32) * 0.5,
            rng.normal(size=(layers, d)).astype(np.float32) * 0.1)


def _scanned_loss(params, h):
    w, b = params
    h, _ = lax.scan(lambda c, wb: (pnp.tanh(wb[0] @ c + wb[1]), None), h, (w, b))
    return pnp.sum(h * h)


def _unrolled_loss(params, h):
    w, b = params
    for layer in range(w.shape[0]):
        h = pnp.tanh(w[layer] @ h + b[layer])
    return pnp.sum(h * h)


def test_scan_gradients_equal_the_unrolled_ones(devs):
    w, b = _layer_stack()
    h = np.random.default_rng(1).normal(size=(N, 3)).astype(np.float32)

    def grads(loss):
        f = pw.pmap(lambda v: pw.value_and_grad(loss)((w, b), v), devices=devs)
        value, (gw, gb) = f(h)
        return np.asarray(value), np.asarray(gw), np.asarray(gb)

    for got, want in zip(grads(_scanned_loss), grads(_unrolled_loss)):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def test_gradients_through_while_and_cond(devs):
    x = np.array([0.3, -0.7, 1.1, 2.0], np.float32)

    def f(v):  # v -> v * 1.5 ** k with k data-dependent (while |v| < 2, at most 10), then a cond
        y, _ = lax.while_loop(lambda c: pnp.abs(c[0]) < 2.0, lambda c: (c[0] * 1.5, c[1] + 1),
                              (v, 0), max_iterations=10)
        return lax.cond(y > 0, lambda a: a * a, lambda a: -3.0 * a, y)

    got = np.asarray(pw.pmap(pw.grad(f), devices=devs)(x))
    want = []
    for v in x:
        k = 0
        while abs(v * 1.5 ** k) < 2.0 and k < 10:
            k += 1
        y = v * 1.5 ** k
        want.append((2 * y if y > 0 else -3.0) * 1.5 ** k)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_collectives_inside_a_loop_need_a_replicated_predicate(devs):
    x = np.arange(N, dtype=np.float32)

    def replicated(v):  # the predicate comes from a psum: equal on every device
        return lax.while_loop(lambda c: lax.psum(c, "i") < 100.0, lambda c: c + lax.psum(c, "i") + 1.0,
                              v, max_iterations=20)

    got = np.asarray(pw.pmap(replicated, axis_name="i", devices=devs)(x))
    c = x.copy()
    while c.sum() < 100.0:
        c = c + c.sum() + 1.0
    np.testing.assert_allclose(got, c)

    def per_device(v):  # each device would stop after a different number of iterations
        return lax.while_loop(lambda c: c < 3.0, lambda c: c + lax.psum(c, "i") * 0.0 + 1.0,
                              v, max_iterations=20)

    with pytest.raises(Exception, match="loop predicate differs across shards"):
        np.asarray(pw.pmap(per_device, axis_name="i", devices=devs)(x))


def test_bad_input_names_the_culprit(devs):
    x = np.ones((N, 3), np.float32)
    run = lambda f: pw.pmap(f, devices=devs)(x)
    with pytest.raises(TypeError, match="max_iterations is required"):
        run(lambda v: lax.while_loop(lambda c: True, lambda c: c, v))
    with pytest.raises(ValueError, match="at least 1"):
        run(lambda v: lax.while_loop(lambda c: True, lambda c: c, v, max_iterations=0))
    with pytest.raises(TypeError, match=r"carried value carry\[1\]\['h'\] from float32\[3\] to float32\[4\]"):
        run(lambda v: lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, {"h": pnp.zeros(4)}),
                                     (0, {"h": v}), max_iterations=4))
    with pytest.raises(TypeError, match=r"branch 1 returns \(float32\[2\]\).*branch 0 returns \(float32\[3\]\)"):
        run(lambda v: lax.cond(True, lambda a: a[:2], lambda a: a, v))
    with pytest.raises(TypeError, match="boolean scalar"):
        run(lambda v: lax.while_loop(lambda c: c > 0, lambda c: c, v, max_iterations=2))
    with pytest.raises(TypeError, match="pair"):
        run(lambda v: lax.scan(lambda c, a: c, v, pnp.zeros((2, 3))))
