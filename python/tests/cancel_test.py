"""pw.cancel and pw.deadline: a run cancelled, or past its deadline, fails its outputs naming
the run; the devices skip its queued kernels; the session goes on."""

import numpy as np
import pytest

import pathways as pw


@pytest.fixture(scope="module")
def devs():
    pw.init(hosts=2, devices_per_host=2)
    return pw.get_devices(2)


def busy(x):
    for _ in range(48):
        x = pw.numpy.tanh(x @ x)
    return x


def test_cancel_fails_the_queued_runs_and_the_session_goes_on(devs):
    f = pw.pmap(busy, devices=devs)
    m = pw.device_put(np.zeros((2, 256, 256), np.float32), devs)
    outs = [f(m) for _ in range(5)]
    for o in outs[1:]:
        assert pw.cancel(o)
    for o in outs[1:]:
        with pytest.raises(pw.PathwaysError, match="was cancelled by its client") as e:
            np.asarray(o)
        assert e.value.code == "CANCELLED"
    np.testing.assert_array_equal(np.asarray(outs[0]), np.zeros((2, 256, 256), np.float32))
    assert outs[0].cancel() is False  # finished
    with pytest.raises(pw.InvalidArgumentError, match="not computed by a run"):
        pw.cancel(m)
    with pytest.raises(TypeError, match="expected a pw.Array"):
        pw.cancel(np.zeros(2))
    assert np.asarray(f(m)).shape == (2, 256, 256)


def test_runs_past_their_deadline_fail_and_later_runs_do_not_inherit_it(devs):
    f = pw.pmap(busy, devices=devs)
    m = pw.device_put(np.zeros((2, 256, 256), np.float32), devs)
    with pw.deadline(0.001):
        late = [f(m) for _ in range(3)]
    for o in late:
        with pytest.raises(pw.PathwaysError, match="missed its deadline") as e:
            np.asarray(o)
        assert e.value.code == "DEADLINE_EXCEEDED"
    with pw.deadline(60):
        with pw.deadline(120):  # the earlier deadline holds
            ok = f(m)
    np.asarray(ok)
    np.asarray(f(m))  # no deadline outside the block
    with pytest.raises(ValueError, match="seconds must be a number"):
        with pw.deadline(-1):
            pass
