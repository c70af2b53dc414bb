"""Data-dependent steps inside @pw.program: pw.lax.cond / switch / while_loop whose predicate the
program computes, chosen by the controller when it arrives; against NumPy; bad input."""

import numpy as np
import pytest

import pathways as pw
import pathways.numpy as pnp
from pathways import lax

N = 2


@pytest.fixture(scope="module")
def fns():
    devs = pw.get_devices(N)
    return {
        "devs": devs,
        "sq_norm": pw.pmap(lambda x: lax.psum(pnp.sum(x * x), "i"), axis_name="i", devices=devs),
        "above": pw.pmap(lambda n, t: n > t, devices=devs),
        "double": pw.pmap(lambda x: x * 2.0, devices=devs),
        "halve": pw.pmap(lambda x: x * 0.5, devices=devs),
        "add": pw.pmap(lambda x, y: x + y, devices=devs),
        "index": pw.pmap(lambda n: (n > 1.0).astype(np.int32) + (n > 100.0).astype(np.int32), devices=devs),
    }


def test_cond_on_a_value_the_program_computes(fns):
    @pw.program
    def f(x, threshold):
        big = fns["above"](fns["sq_norm"](x), threshold)
        y = lax.cond(big, lambda a: fns["halve"](a), lambda a: fns["double"](a), x)
        return fns["add"](y, x)  # a later static part, reading the step's output

    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    t = np.full((N,), 10.0, np.float32)
    np.testing.assert_allclose(np.asarray(f(x, t)), x * 0.5 + x)        # |x|^2 = 30 > 10
    np.testing.assert_allclose(np.asarray(f(x * 0.1, t)), x * 0.2 + x * 0.1)  # 0.3 < 10


def test_switch_selects_among_several_programs(fns):
    branches = [lambda a: fns["halve"](a), lambda a: fns["double"](a), lambda a: fns["add"](a, a)]

    @pw.program
    def f(x):
        return lax.switch(fns["index"](fns["sq_norm"](x)), branches, x)

    for scale, want in ((0.1, 0.5), (1.0, 2.0), (10.0, 2.0)):
        x = np.full((N, 2), scale, np.float32)
        np.testing.assert_allclose(np.asarray(f(x)), x * want)


def test_while_loop_runs_another_step_while_the_loss_is_above_a_threshold(fns):
    devs = fns["devs"]  # a loop's carried values stay on one slice
    lr = pw.device_put(np.full((N,), 0.25, np.float32), devs)
    decay = pw.pmap(lambda a, r: a - r * a, devices=devs)
    inc = pw.pmap(lambda s: s + 1.0, devices=devs)

    @pw.program
    def train(w, threshold):
        def step(state):  # closes over `lr`, a pw.Array
            w, steps = state
            return decay(w, lr), inc(steps)

        # cond_fun closes over `threshold`, a program input
        return lax.while_loop(lambda s: fns["above"](fns["sq_norm"](s[0]), threshold), step,
                              (w, np.zeros((N,), np.float32)), max_iterations=50)

    w0 = np.array([[2.0, 1.0], [1.0, 3.0]], np.float32)
    t = np.full((N,), 0.5, np.float32)
    w, steps = train(w0, t)
    k = 0
    ref = w0.copy()
    while (ref * ref).sum() > 0.5 and k < 50:
        ref = ref - 0.25 * ref
        k += 1
    np.testing.assert_allclose(np.asarray(w), ref, rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(steps), [k] * N)
    # The bound stops it.
    w, steps = train(w0, np.zeros((N,), np.float32))
    np.testing.assert_array_equal(np.asarray(steps), [50] * N)


def test_bad_data_dependent_steps_name_the_culprit(fns):
    x = np.ones((N, 3), np.float32)

    @pw.program
    def not_scalar(x):
        return lax.cond(fns["double"](x), lambda a: fns["double"](a), lambda a: fns["halve"](a), x)

    with pytest.raises(TypeError, match="one bool or int32 element per device"):
        not_scalar(x)

    @pw.program
    def mismatched(x):
        big = fns["above"](fns["sq_norm"](x), np.zeros((N,), np.float32))
        return lax.cond(big, lambda a: fns["double"](a),
                        lambda a: pw.pmap(lambda v: v[:2], devices=fns["devs"])(a), x)

    with pytest.raises(TypeError, match=r"true_fun returns \(float32\[2, 3\]\) but false_fun returns \(float32\[2, 2\]\)"):
        mismatched(x)

    @pw.program
    def nested(x):
        big = fns["above"](fns["sq_norm"](x), np.zeros((N,), np.float32))
        return lax.cond(big, lambda a: lax.cond(big, fns["double"], fns["halve"], a),
                        lambda a: fns["halve"](a), x)

    with pytest.raises(NotImplementedError, match="inside a branch or loop body"):
        nested(x)

    @pw.program
    def unbounded(x):
        return lax.while_loop(lambda a: fns["above"](fns["sq_norm"](a), 0.0), fns["halve"], x)

    with pytest.raises(TypeError, match="max_iterations is required"):
        unbounded(x)


def test_a_predicate_that_differs_across_devices_fails_the_outputs_and_their_readers(fns):
    devs = fns["devs"]
    mine = pw.pmap(lambda x: lax.axis_index("i") == 0, axis_name="i", devices=devs)

    @pw.program
    def f(x):
        y = lax.cond(mine(x), fns["double"], fns["halve"], x)
        return y, fns["double"](y)

    y, z = f(np.ones((N, 3), np.float32))
    for out in (y, z):
        with pytest.raises(pw.PathwaysError, match="predicate differs across its shards"):
            np.asarray(out)
    # The devices are free again: the next call of another program runs.
    np.testing.assert_allclose(np.asarray(fns["double"](np.ones((N, 3), np.float32))), 2.0)


def test_an_input_first_used_by_a_dropped_part_is_still_placed(fns):
    @pw.program
    def f(x, pred):
        fns["double"](x)  # places x, in a part nothing reads (it is not submitted)
        y = lax.cond(pred, fns["double"], fns["halve"], x)
        return fns["add"](y, x)  # reads x again after the step

    x = np.ones((N, 3), np.float32)
    pred = pw.device_put(np.array([True] * N), fns["devs"])
    np.testing.assert_allclose(np.asarray(f(x, pred)), 3 * x)
