"""pw.nn and the new pw.numpy functions against NumPy (traced inside pmap, and on host values),
their gradients through pw.grad, and pw.optimizers against NumPy reference updates."""

import numpy as np
import pytest

import pathways as pw
import pathways.numpy as pnp
from pathways import lax

N = 2


@pytest.fixture(scope="module")
def devs():
    return pw.get_devices(N)


def np_log_softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def np_gelu(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def test_nn_functions_match_numpy_in_pmap_and_on_host(devs):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 3, 5)).astype(np.float32) * 3
    labels = rng.integers(0, 5, size=(N, 3)).astype(np.int32)
    cases = {
        "relu": (pw.nn.relu, lambda v: np.maximum(v, 0)),
        "sigmoid": (pw.nn.sigmoid, lambda v: 1 / (1 + np.exp(-v))),
        "gelu": (pw.nn.gelu, np_gelu),
        "log_softmax": (pw.nn.log_softmax, np_log_softmax),
        "softmax": (pw.nn.softmax, lambda v: np.exp(np_log_softmax(v))),
        "logsumexp": (lambda v: pw.nn.logsumexp(v, axis=1), lambda v: np.log(np.exp(v).sum(axis=-1))),
        "standardize": (pw.nn.standardize,
                        lambda v: (v - v.mean(-1, keepdims=True)) / np.sqrt(v.var(-1, keepdims=True) + 1e-5)),
    }
    for name, (ours, ref) in cases.items():
        traced = np.asarray(pw.pmap(ours, devices=devs)(x))
        want = np.stack([ref(x[i]) for i in range(N)])
        np.testing.assert_allclose(traced, want, rtol=1e-5, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(ours(x[0]), want[0], rtol=1e-5, atol=1e-5, err_msg=name + " (host)")
    hot = np.asarray(pw.pmap(lambda l: pw.nn.one_hot(l, 5), devices=devs)(labels))
    np.testing.assert_array_equal(hot, np.eye(5, dtype=np.float32)[labels])
    am = np.asarray(pw.pmap(lambda v: pnp.argmax(v, axis=-1), devices=devs)(x))
    np.testing.assert_array_equal(am, x.argmax(-1))
    taken = np.asarray(pw.pmap(lambda v, l: pnp.take(v, l, axis=1), devices=devs)(x, labels))
    np.testing.assert_array_equal(taken, np.stack([np.take(x[i], labels[i], axis=1) for i in range(N)]))
    with pytest.raises(NotImplementedError, match="erf"):
        pw.nn.gelu(x, approximate=False)


def test_cross_entropy_gradient_is_softmax_minus_one_hot(devs):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(N, 4, 6)).astype(np.float32)
    labels = rng.integers(0, 6, size=(N, 4)).astype(np.int32)

    def loss(z, l):
        return -(pw.nn.one_hot(l, 6) * pw.nn.log_softmax(z)).sum()

    g = np.asarray(pw.pmap(pw.grad(loss), devices=devs)(logits, labels))
    want = np.exp(np_log_softmax(logits)) - np.eye(6, dtype=np.float32)[labels]
    np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)


def np_adamw(params, grads_seq, lr, b1=0.9, b2=0.999, eps=1e-8, wd=1e-4):
    p, m, v = params.copy(), np.zeros_like(params), np.zeros_like(params)
    for t, g in enumerate(grads_seq, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * ((m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps) + wd * p)
    return p


def test_adamw_in_a_pmapped_step_matches_numpy_and_keeps_state_on_the_devices(devs):
    opt = pw.optimizers.adamw(0.1, weight_decay=0.01)
    target = np.array([1.0, -2.0, 3.0], np.float32)

    @pw.pmap(devices=devs, axis_name="d")
    def step(params, state):
        loss, grads = pw.value_and_grad(lambda p: ((p["w"] - target) ** 2).sum())(params)
        grads = lax.pmean(grads, "d")
        updates, state = opt.update(grads, state, params)
        return pw.optimizers.apply_updates(params, updates), state, loss

    params = {"w": np.zeros((N, 3), np.float32)}
    state = pw.pmap(opt.init, devices=devs)(params)
    w_host = np.zeros(3, np.float32)
    grads_seen = []
    for _ in range(5):
        grads_seen.append(2 * (w_host - target))
        w_host = np_adamw(np.zeros(3, np.float32), grads_seen, 0.1, wd=0.01)
        params, state, loss = step(params, state)
    assert isinstance(params["w"], pw.Array) and isinstance(state["mu"]["w"], pw.Array)
    np.testing.assert_allclose(np.asarray(params["w"]), np.stack([w_host] * N), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(state["count"]), np.full(N, 5.0))


def test_sgd_momentum_and_schedules_on_host():
    opt = pw.optimizers.sgd(pw.optimizers.linear_schedule(1.0, 0.0, 4), momentum=0.5)
    params = {"a": np.array([1.0], np.float32)}
    state = opt.init(params)
    trace, p = 0.0, 1.0
    for t in range(3):
        g = {"a": np.array([2.0], np.float32)}
        updates, state = opt.update(g, state, params)
        params = pw.optimizers.apply_updates(params, updates)
        trace = 0.5 * trace + 2.0
        p = p - (1.0 - t / 4) * trace
    np.testing.assert_allclose(params["a"], [p], rtol=1e-6)
    np.testing.assert_allclose(pw.optimizers.global_norm({"a": np.array([3.0]), "b": [np.array([4.0])]}), 5.0)
    sched = pw.optimizers.warmup_linear_decay(1.0, 2, 4)
    np.testing.assert_allclose([float(sched(np.float32(c))) for c in range(8)],
                               [0, 0.5, 1.0, 0.75, 0.5, 0.25, 0, 0], atol=1e-6)


def test_mismatched_trees_name_the_first_differing_leaf():
    opt = pw.optimizers.adamw(1e-3)
    params = {"w": np.zeros(3, np.float32), "b": np.zeros(2, np.float32)}
    state = opt.init(params)
    with pytest.raises(ValueError, match=r"\['w'\] has shape \(4,\) in the gradients but \(3,\)"):
        opt.update({"w": np.zeros(4, np.float32), "b": np.zeros(2, np.float32)}, state, params)
    with pytest.raises(ValueError, match=r"differ from the gradients at leaf 0: \['b'\] vs \['a'\]"):
        opt.update({"w": np.zeros(3, np.float32), "a": np.zeros(2, np.float32)}, state, params)


def test_optimizer_states_are_checked_and_start_at_zero_whatever_the_parameters_hold():
    params = {"w": np.array([np.inf, -np.inf, np.nan], np.float32)}
    state = pw.optimizers.adamw(1e-3).init(params)
    np.testing.assert_array_equal(state["mu"]["w"], np.zeros(3, np.float32))
    assert state["count"] == 0
    sgd_state = pw.optimizers.sgd(0.1).init(params)
    with pytest.raises(ValueError, match="not one of adamw's"):
        pw.optimizers.adamw(1e-3).update(params, sgd_state, params)
    with pytest.raises(ValueError, match="same leaves in different containers"):
        pw.optimizers.apply_updates([np.zeros(2)], (np.zeros(2),))
