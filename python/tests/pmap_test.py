"""pw.pmap: tracing per signature, tracer operators, indexing, pytrees and trace-time errors."""

import numpy as np
import pytest

import pathways as pw


@pytest.fixture(scope="module")
def devs():
    return pw.get_devices(2)


def run(fn, *args, devices):
    return pw.tree_map(np.asarray, pw.pmap(fn, devices=devices)(*args))


def test_traces_once_per_signature(devs):
    traces = []

    def body(x):
        traces.append((x.shape, x.dtype))
        return x * 2

    f = pw.pmap(body, devices=devs)
    np.testing.assert_array_equal(np.asarray(f(np.array([1., 2.], np.float32))), [2, 4])
    np.testing.assert_array_equal(np.asarray(f(np.array([5., 6.], np.float32))), [10, 12])
    assert traces == [((), np.float32)]  # the shard is a scalar; same signature: no retrace
    f(np.ones((2, 3), np.float32))
    f(np.ones((2, 3), np.int32))
    assert traces[1:] == [((3,), np.float32), ((3,), np.int32)]
    f(np.ones((2, 3), np.float32))
    assert len(traces) == 3


def test_arithmetic_and_reflected_ops(devs):
    x = np.array([[1., 2., 3.], [4., 5., 6.]], np.float32)
    y = np.array([[2., 2., 2.], [0.5, 1., 4.]], np.float32)
    got = run(lambda a, b: (a + b, a - b, a * b, a / b, a ** 2, -a, 1 + a, 10 - a, 3 * a, 1 / a,
                            2. ** a, abs(-a), +a), x, y, devices=devs)
    want = (x + y, x - y, x * y, x / y, x ** 2, -x, 1 + x, 10 - x, 3 * x, 1 / x, 2. ** x, x, x)
    for g, w in zip(got, want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_comparisons_give_bool(devs):
    x = np.array([[1., 2., 3.], [4., 5., 6.]], np.float32)
    got = run(lambda a: (a < 3, a <= 3, a > 3, a >= 3, a == 3, a != 3), x, devices=devs)
    for g, w in zip(got, (x < 3, x <= 3, x > 3, x >= 3, x == 3, x != 3)):
        assert g.dtype == np.bool_
        np.testing.assert_array_equal(g, w)


def test_dtype_promotion(devs):
    i = np.array([[1, 2], [3, 4]], np.int32)
    f = np.array([[0.5, 0.5], [0.5, 0.5]], np.float32)
    r = run(lambda a, b: (a + b, a / 2, a * 2, a + 0.5), i, f, devices=devs)
    assert [x.dtype for x in r] == [np.float32, np.float32, np.int32, np.float32]
    np.testing.assert_allclose(r[0], i + f)
    np.testing.assert_allclose(r[1], i / 2)
    np.testing.assert_array_equal(r[2], i * 2)


def test_shape_dtype_T_matmul_reshape_inside_trace(devs):
    seen = {}
    x = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)
    w = np.arange(3 * 4, dtype=np.float32).reshape(3, 4)

    def body(v):
        seen["shape"], seen["dtype"], seen["ndim"] = v.shape, v.dtype, v.ndim
        return v @ w, v.T, v.reshape(3, 2), v.reshape(-1), (v.T @ v)

    mm, t, r, flat, gram = run(body, x, devices=devs)
    assert seen == {"shape": (2, 3), "dtype": np.float32, "ndim": 2}
    np.testing.assert_allclose(mm, x @ w)
    np.testing.assert_array_equal(t, np.transpose(x, (0, 2, 1)))
    np.testing.assert_array_equal(r, x.reshape(2, 3, 2))
    np.testing.assert_array_equal(flat, x.reshape(2, 6))
    np.testing.assert_allclose(gram, np.transpose(x, (0, 2, 1)) @ x)


def test_indexing_and_slicing(devs):
    x = np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 4, 5)
    got = run(lambda v: (v[1], v[-1, 2], v[1:3], v[:, ::2], v[..., 1], v[None, 0], v[::3, 1:4:2]),
              x, devices=devs)
    per_shard = lambda s: (s[1], s[-1, 2], s[1:3], s[:, ::2], s[..., 1], s[None, 0], s[::3, 1:4:2])
    want = [np.stack(ws) for ws in zip(*(per_shard(x[i]) for i in range(2)))]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_index_errors_at_trace_time(devs):
    f = pw.pmap(lambda v: v[7], devices=devs)
    with pytest.raises(IndexError, match="out of bounds"):
        f(np.ones((2, 3), np.float32))
    with pytest.raises(IndexError, match="too many indices"):
        pw.pmap(lambda v: v[0, 0], devices=devs)(np.ones((2, 3), np.float32))


def test_pytree_inputs_and_outputs(devs):
    params = {"w": np.full((2, 3), 2., np.float32), "b": [np.ones((2, 3), np.float32)]}
    out = pw.pmap(lambda p, x: {"y": p["w"] * x + p["b"][0], "pair": (x, p["w"])},
                  devices=devs)(params, np.full((2, 3), 5., np.float32))
    assert set(out) == {"pair", "y"}
    assert isinstance(out["pair"], tuple) and all(isinstance(a, pw.Array) for a in out["pair"])
    np.testing.assert_array_equal(np.asarray(out["y"]), np.full((2, 3), 11.))


def test_pw_array_inputs_chain_op_by_op(devs):
    other = pw.get_devices(2)
    f = pw.pmap(lambda x: x * 2, devices=devs)
    g = pw.pmap(lambda x: x + 1, devices=other)
    y = g(f(np.array([1., 2.], np.float32)))  # the array moves between slices
    np.testing.assert_array_equal(np.asarray(y), [3., 5.])


def test_constants_and_scalar_outputs(devs):
    c = np.array([10., 20., 30.], np.float32)
    a, k = pw.pmap(lambda x: (x + c, 7.0), devices=devs)(np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(np.asarray(a), [c, c])
    np.testing.assert_array_equal(np.asarray(k), [7., 7.])


def test_default_devices_sized_by_leading_axis():
    f = pw.pmap(lambda x: x - 1)
    np.testing.assert_array_equal(np.asarray(f(np.arange(4, dtype=np.float32))), [-1, 0, 1, 2])
    np.testing.assert_array_equal(np.asarray(f(np.arange(2, dtype=np.float32))), [-1, 0])


def test_decorator_form(devs):
    @pw.pmap
    def double(x):
        return x * 2
    np.testing.assert_array_equal(np.asarray(double(np.ones(3, np.float32))), [2, 2, 2])
    assert double.__name__ == "double"


# --- errors ---------------------------------------------------------------------------------

def test_wrong_number_of_devices_for_leading_axis(devs):
    f = pw.pmap(lambda x: x, devices=devs)
    with pytest.raises(ValueError, match=r"leading axis 3 does not equal the number of devices .*\(2\)"):
        f(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="scalar"):
        f(np.float32(1.0))
    y4 = pw.pmap(lambda x: x)(np.ones(4, np.float32))
    with pytest.raises(ValueError, match="leading axis 4"):
        f(y4)


def test_shape_mismatch_is_a_value_error_with_the_builder_message(devs):
    f = pw.pmap(lambda x, y: x + y, devices=devs)
    with pytest.raises(ValueError, match=r"f32\[3\].*f32\[4\]|\[3\].*\[4\]"):
        f(np.ones((2, 3), np.float32), np.ones((2, 4), np.float32))
    with pytest.raises(ValueError):
        pw.pmap(lambda x: x @ x, devices=devs)(np.ones((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="cannot reshape"):
        pw.pmap(lambda x: x.reshape(5, -1), devices=devs)(np.ones((2, 3, 4), np.float32))


class Boom(Exception):
    pass


def test_exception_in_traced_function_propagates_and_is_not_cached(devs):
    calls = []

    def body(x):
        calls.append(1)
        if len(calls) == 1:
            raise Boom("first trace fails")
        return x + 1

    f = pw.pmap(body, devices=devs)
    with pytest.raises(Boom, match="first trace fails"):
        f(np.ones(2, np.float32))
    np.testing.assert_array_equal(np.asarray(f(np.ones(2, np.float32))), [2, 2])
    assert len(calls) == 2


def test_python_control_flow_on_tracers_is_a_type_error(devs):
    def body(x):
        if x > 0:
            return x
        return -x
    with pytest.raises(TypeError, match="truth value"):
        pw.pmap(body, devices=devs)(np.ones(2, np.float32))
    with pytest.raises(TypeError, match="NumPy"):
        pw.pmap(lambda x: np.asarray(x), devices=devs)(np.ones(2, np.float32))


def test_leaked_tracer_raises(devs):
    leaked = []
    pw.pmap(lambda x: leaked.append(x) or x, devices=devs)(np.ones(2, np.float32))
    with pytest.raises(ValueError, match="has finished"):
        leaked[0] + 1


def test_unsupported_dtype_is_a_type_error(devs):
    with pytest.raises(TypeError, match="complex"):
        pw.pmap(lambda x: x, devices=devs)(np.ones(2, np.complex64))
