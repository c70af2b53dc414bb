"""@pw.program: several pmapped calls traced into one program; pytrees; trace-time errors."""

import numpy as np
import pytest

import pathways as pw


@pytest.fixture(scope="module")
def fns():
    a = pw.pmap(lambda x: x * 2., devices=pw.get_devices(2))
    b = pw.pmap(lambda x: x + 1., devices=pw.get_devices(2))
    c = pw.pmap(lambda x: x / 2., devices=pw.get_devices(2))
    return a, b, c


def test_figure2(fns):
    a, b, c = fns

    @pw.program
    def f(v):
        x = a(v)
        y = b(x)
        z = a(c(x))
        return (y, z)

    y, z = f(np.array([1., 2.], dtype=np.float32))
    assert isinstance(y, pw.Array) and isinstance(z, pw.Array)
    np.testing.assert_array_equal(np.asarray(y), [3., 5.])
    np.testing.assert_array_equal(np.asarray(z), [2., 4.])
    assert y.dtype == np.float32
    (compiled,) = f._cache.values()
    assert compiled.program.num_calls == 4  # one program: every call in one submission
    y2, z2 = f(np.array([3., 4.], dtype=np.float32))
    assert len(f._cache) == 1  # same signature: no retrace
    np.testing.assert_array_equal(np.asarray(y2), [7., 9.])
    np.testing.assert_array_equal(np.asarray(z2), [6., 8.])


def test_pytree_inputs_and_outputs(fns):
    a, b, _ = fns
    traces = []

    @pw.program
    def f(d, pair):
        traces.append(1)
        return {"sum_in": [b(d["u"])], "twice": a(pair[1]), "same": pair[0]}

    inputs = ({"u": np.array([1., 2.], np.float32)}, (np.zeros(2, np.float32), np.array([5., 6.], np.float32)))
    out = f(*inputs)
    assert set(out) == {"sum_in", "twice", "same"}
    np.testing.assert_array_equal(np.asarray(out["sum_in"][0]), [2., 3.])
    np.testing.assert_array_equal(np.asarray(out["twice"]), [10., 12.])
    np.testing.assert_array_equal(out["same"], [0., 0.])
    f(*inputs)
    assert len(traces) == 1


def test_program_with_multi_output_pmap_and_pw_array_inputs(fns):
    split = pw.pmap(lambda x: (x + 1, x - 1), devices=pw.get_devices(2))
    join = pw.pmap(lambda p, m: p * m, devices=pw.get_devices(2))

    @pw.program
    def f(v):
        p, m = split(v)
        return join(p, m)

    first = fns[0](np.array([1., 2.], np.float32))  # a pw.Array from an op-by-op call
    out = f(first)
    np.testing.assert_array_equal(np.asarray(out), [3., 15.])  # (2x+1)(2x-1)
    again = f(out)  # program output fed back in
    np.testing.assert_array_equal(np.asarray(again), [8., 224.])


def test_closed_over_array_becomes_a_program_input(fns):
    a, b, _ = fns
    bias = a(np.array([10., 20.], np.float32))
    add = pw.pmap(lambda x, y: x + y, devices=pw.get_devices(2))

    @pw.program
    def f(v):
        return add(b(v), bias)

    np.testing.assert_array_equal(np.asarray(f(np.array([1., 2.], np.float32))), [22., 43.])


def test_nested_program_inlines(fns):
    a, b, _ = fns

    @pw.program
    def inner(v):
        return b(v)

    @pw.program
    def outer(v):
        return a(inner(v))

    np.testing.assert_array_equal(np.asarray(outer(np.array([1., 2.], np.float32))), [4., 6.])
    assert next(iter(outer._cache.values())).program.num_calls == 2


# --- errors ---------------------------------------------------------------------------------

def test_shape_mismatch_between_functions_is_a_value_error():
    make = pw.pmap(lambda x: pw.numpy.broadcast_to(x, (3,)), devices=pw.get_devices(2))
    add4 = pw.pmap(lambda x: x + np.ones(4, np.float32), devices=pw.get_devices(2))

    @pw.program
    def f(v):
        return add4(make(v))

    with pytest.raises(ValueError, match=r"\[3\].*\[4\]|\[4\].*\[3\]"):
        f(np.ones(2, np.float32))


def test_device_count_mismatch_between_functions_is_a_value_error(fns):
    a = fns[0]
    on4 = pw.pmap(lambda x: x, devices=pw.get_devices(4))

    @pw.program
    def f(v):
        return on4(a(v))

    with pytest.raises(ValueError, match=r"leading axis 2 does not equal the number of devices .*\(4\)"):
        f(np.ones(2, np.float32))


def test_wrong_number_of_devices_for_program_input(fns):
    @pw.program
    def f(v):
        return fns[0](v)

    with pytest.raises(ValueError, match="leading axis 3"):
        f(np.ones(3, np.float32))


class Boom(Exception):
    pass


def test_function_raising_inside_program_propagates(fns):
    bad = pw.pmap(lambda x: (_ for _ in ()).throw(Boom("inside")), devices=pw.get_devices(2))

    @pw.program
    def f(v):
        return bad(fns[0](v))

    with pytest.raises(Boom, match="inside"):
        f(np.ones(2, np.float32))

    @pw.program
    def g(v):
        raise Boom("program body")

    with pytest.raises(Boom, match="program body"):
        g(np.ones(2, np.float32))


def test_arithmetic_on_program_values_is_a_type_error(fns):
    @pw.program
    def f(v):
        return fns[0](v) + 1

    with pytest.raises(TypeError, match="only be passed to pmapped functions"):
        f(np.ones(2, np.float32))
