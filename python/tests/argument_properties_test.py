"""Property tests of the Python-facing argument checks (hypothesis): for arbitrary arguments,
valid ones give NumPy's answer and invalid ones a TypeError or ValueError naming the culprit,
never a crash, a hang or a wrong result — on host values and traced inside pw.pmap."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pathways as pw
import pathways.numpy as pnp
from pathways import lax
from pathways.sharding import P

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

shapes = st.lists(st.integers(0, 5), min_size=1, max_size=3).map(tuple)


def _devs():
    return pw.get_devices(1)


@SETTINGS
@given(shape=shapes, starts=st.lists(st.integers(-8, 8), min_size=3, max_size=3),
       sizes=st.lists(st.integers(-1, 7), min_size=3, max_size=3))
def test_dynamic_slice_clamps_or_names_the_bad_size(shape, starts, sizes):
    x = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    starts, sizes = starts[:len(shape)], sizes[:len(shape)]
    if any(n < 0 or n > d for n, d in zip(sizes, shape)):
        with pytest.raises((ValueError, TypeError)):
            lax.dynamic_slice(x, starts, sizes)
        return
    want = x[tuple(slice(min(max(s, 0), d - n), min(max(s, 0), d - n) + n)
                   for s, d, n in zip(starts, shape, sizes))]
    np.testing.assert_array_equal(lax.dynamic_slice(x, starts, sizes), want)
    got = pw.pmap(lambda v: lax.dynamic_slice(v, starts, sizes), devices=_devs())(x[None])
    np.testing.assert_array_equal(np.asarray(got)[0], want)


@SETTINGS
@given(n=st.integers(1, 6), k=st.integers(-2, 8), data=st.data())
def test_top_k_matches_a_stable_sort_or_names_k(n, k, data):
    x = np.asarray(data.draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n)), np.float32)
    if not 1 <= k <= n:
        with pytest.raises((ValueError, TypeError)):
            lax.top_k(x, k)
        with pytest.raises((ValueError, TypeError)):
            pw.pmap(lambda v: lax.top_k(v, k), devices=_devs())(x[None])
        return
    order = np.argsort(-x, kind="stable")[:k]  # ties to the lower index
    values, idx = pw.pmap(lambda v: lax.top_k(v, k), devices=_devs())(x[None])
    np.testing.assert_array_equal(np.asarray(idx)[0], order)
    np.testing.assert_array_equal(np.asarray(values)[0], x[order])


@SETTINGS
@given(bound=st.one_of(st.none(), st.integers(-3, 6), st.floats(-2, 5)),
       start=st.integers(-5, 40))
def test_while_loop_bound_is_required_and_respected(bound, start):
    body = lambda c: (c[0] + 3, c[1] + 1)
    cond = lambda c: c[0] < 20
    if bound is None or isinstance(bound, float) and bound != int(bound) or \
            not isinstance(bound, float) and bound < 1 or isinstance(bound, float) and bound < 1:
        with pytest.raises((ValueError, TypeError)):
            lax.while_loop(cond, body, (start, 0), max_iterations=bound)
        return
    bound = int(bound)
    v, n = start, 0
    while v < 20 and n < bound:
        v, n = v + 3, n + 1
    f = pw.pmap(lambda s: lax.while_loop(cond, body, (s[0], s[1]), max_iterations=bound),
                devices=_devs())
    got_v, got_n = f(np.array([[start, 0]], np.int32))
    assert (int(np.asarray(got_v)[0]), int(np.asarray(got_n)[0])) == (v, n)
    assert lax.while_loop(cond, body, (start, 0), max_iterations=bound) == (v, n)


@SETTINGS
@given(index=st.integers(-4, 6), branches=st.integers(1, 4))
def test_switch_clamps_its_index(index, branches):
    fns = [(lambda i: (lambda a: a * 10 + i))(i) for i in range(branches)]
    want = min(max(index, 0), branches - 1)
    assert lax.switch(index, fns, 1) == 10 + want
    got = pw.pmap(lambda i, a: lax.switch(i, fns, a), devices=_devs())(
        np.array([index], np.int32), np.array([1.0], np.float32))
    assert float(np.asarray(got)[0]) == 10 + want


@SETTINGS
@given(shape=st.lists(st.integers(1, 8), min_size=1, max_size=3).map(tuple),
       spec=st.lists(st.sampled_from([None, "x", "y", ("x", "y"), "z"]), max_size=4))
def test_partition_specs_split_or_name_the_dimension(shape, spec):
    vds = pw.make_virtual_device_set()
    sl = vds.add_slice(devices=4, mesh=(2, 2), axis_names=("x", "y"))
    names = [a for e in spec for a in ((e,) if isinstance(e, str) else (e or ()))]
    valid = (len(spec) <= len(shape) and "z" not in names and len(set(names)) == len(names))
    blocks = [math.prod(2 for _ in ((e,) if isinstance(e, str) else (e or ()))) for e in spec]
    divides = all(shape[d] % b == 0 for d, b in enumerate(blocks)) if len(spec) <= len(shape) else False
    x = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    if not (valid and divides):
        with pytest.raises((ValueError, TypeError)):
            pw.device_put(x, sl.devices, P(*spec))
        return
    a = pw.device_put(x, sl.devices, P(*spec))
    np.testing.assert_array_equal(np.asarray(a), x)
