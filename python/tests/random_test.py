"""pw.random: Threefry-2x32 against the known-answer vectors, keys as JAX makes them, the same
bits traced on devices and on the host whatever the device count, and sane distributions;
pw.numpy sin/cos and the bitwise ops."""

import numpy as np
import pytest

import pathways as pw
import pathways.numpy as pnp
from pathways import random as pr


def words(*values):
    return np.array(values, np.uint32).view(np.int32)


@pytest.mark.parametrize("key,counter,want", [
    ((0, 0), (0, 0), (0x6b200159, 0x99ba4efe)),
    ((0xffffffff, 0xffffffff), (0xffffffff, 0xffffffff), (0x1cb996fc, 0xbb002be7)),
    ((0x13198a2e, 0x03707344), (0x243f6a88, 0x85a308d3), (0xc4923a9c, 0x483df7a0)),
])
def test_threefry_known_answers_on_host_and_traced(key, counter, want):
    k, c = words(*key), words(*counter)
    y0, y1 = pr.threefry_2x32(k, c[:1], c[1:])
    assert (int(y0.view(np.uint32)[0]), int(y1.view(np.uint32)[0])) == want

    @pw.pmap(devices=pw.get_devices(1))
    def traced(kk, cc):
        return pr.threefry_2x32(kk, cc[:1], cc[1:])

    t0, t1 = traced(k[None], c[None])
    assert (int(np.asarray(t0).view(np.uint32)[0, 0]), int(np.asarray(t1).view(np.uint32)[0, 0])) == want


def test_keys_and_split_follow_jax():
    key = pr.PRNGKey(0)
    np.testing.assert_array_equal(key, words(0, 0))
    # jax.random.split(jax.random.PRNGKey(0)) == [[4146024105, 967050713], [2718843009, 1272950319]]
    np.testing.assert_array_equal(pr.split(key), words(4146024105, 967050713, 2718843009, 1272950319).reshape(2, 2))
    assert not np.array_equal(pr.fold_in(key, 1), pr.fold_in(key, 2))
    with pytest.raises(ValueError, match="a key is int32\\[2\\]"):
        pr.uniform(np.zeros(3, np.int32), (2,))


def test_values_are_the_same_on_any_number_of_devices():
    key = pr.PRNGKey(42)
    host = pr.normal(key, (3, 5))
    for n in (1, 2, 4):
        traced = np.asarray(pw.pmap(lambda k: pr.normal(k, (3, 5)), devices=pw.get_devices(n))(np.stack([key] * n)))
        for d in range(n):
            np.testing.assert_allclose(traced[d], host, rtol=1e-5, atol=1e-6)
    # Folding in the device index gives each device its own stream.
    per_device = np.asarray(pw.pmap(lambda k: pr.uniform(pr.fold_in(k, pw.lax.axis_index("i")), (4,)),
                                    devices=pw.get_devices(2), axis_name="i")(np.stack([key] * 2)))
    np.testing.assert_allclose(per_device[1], pr.uniform(pr.fold_in(key, 1), (4,)), rtol=1e-6)
    assert not np.allclose(per_device[0], per_device[1])


def test_distributions_have_the_right_moments():
    u = pr.uniform(pr.PRNGKey(1), (200000,), minval=-2.0, maxval=4.0)
    assert u.min() >= -2.0 and u.max() < 4.0
    assert abs(u.mean() - 1.0) < 0.02
    z = pr.normal(pr.PRNGKey(2), (200000,))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
    b = pr.bernoulli(pr.PRNGKey(3), 0.25, (100000,))
    assert abs(b.mean() - 0.25) < 0.01


def test_sin_cos_and_bitwise_ops_match_numpy():
    x = np.linspace(-3, 3, 8, dtype=np.float32).reshape(2, 4)
    i = np.array([[0x0f0f, -1, 6, -8], [1, 2, 3, 4]], np.int32)
    f = pw.pmap(lambda v, w: (pnp.sin(v), pnp.cos(v), pnp.bitwise_and(w, 0xff), pnp.bitwise_or(w, 1),
                              pnp.bitwise_xor(w, w * 3), pnp.left_shift(w, 2),
                              pw.lax.shift_right_logical(w, 1)),
                devices=pw.get_devices(2))
    s, c, a, o, xo, ls, rs = (np.asarray(v) for v in f(x, i))
    np.testing.assert_allclose(s, np.sin(x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(c, np.cos(x), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(a, i & 0xff)
    np.testing.assert_array_equal(o, i | 1)
    np.testing.assert_array_equal(xo, i ^ (i * 3))
    np.testing.assert_array_equal(ls, i << 2)
    np.testing.assert_array_equal(rs, (i.view(np.uint32) >> 1).view(np.int32))


def test_odd_counts_pad_the_counters_with_zero_and_seeds_are_32_bit_words():
    key = pr.PRNGKey(7)
    y0, y1 = pr.threefry_2x32(key, np.array([0, 1], np.int32), np.array([2, 0], np.int32))
    np.testing.assert_array_equal(pr.random_bits(key, 3), np.concatenate([y0, y1])[:3])
    np.testing.assert_array_equal(pr.PRNGKey(-1), words(0, 0xFFFFFFFF))
    np.testing.assert_array_equal(pr.PRNGKey(2**40 + 5), words(2**8, 5))
