"""Slices with a device mesh and named axes: collectives over one mesh axis or several."""

import numpy as np
import pytest

import pathways as pw


@pytest.fixture(scope="module")
def mesh():
    pw.init(hosts=2, devices_per_host=2)
    return pw.make_virtual_device_set().add_slice(devices=4, mesh=(2, 2), axis_names=("data", "model"))


def test_collectives_over_one_axis_run_within_its_rows_or_columns(mesh):
    x = np.arange(4 * 3, dtype=np.float32).reshape(4, 3)  # device i (data i // 2, model i % 2)

    @pw.pmap(devices=mesh.devices)
    def f(v):
        return (pw.lax.psum(v, "model"), pw.lax.psum(v, "data"), pw.lax.psum(v, ("data", "model")),
                pw.lax.all_gather(v, "model"), pw.lax.axis_index("model"), pw.lax.axis_index("data"),
                pw.lax.pmean(v, "data"), pw.lax.ppermute(v, "model", [(0, 1), (1, 0)]),
                pw.lax.axis_index(("data", "model")))

    model_sum, data_sum, all_sum, gathered, mi, di, data_mean, swapped, flat = [np.asarray(o) for o in f(x)]
    rows = x.reshape(2, 2, 3)  # [data, model, 3]
    for i in range(4):
        d, m = divmod(i, 2)
        np.testing.assert_array_equal(model_sum[i], rows[d].sum(0))
        np.testing.assert_array_equal(data_sum[i], rows[:, m].sum(0))
        np.testing.assert_array_equal(all_sum[i], x.sum(0))
        np.testing.assert_array_equal(gathered[i], rows[d])
        assert (mi[i], di[i], flat[i]) == (m, d, i)
        np.testing.assert_allclose(data_mean[i], rows[:, m].mean(0))
        np.testing.assert_array_equal(swapped[i], rows[d, 1 - m])


def test_gradients_through_a_mesh_axis_collective(mesh):
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float64)
    w = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float64)

    @pw.pmap(devices=mesh.devices)
    def g(v, w):
        return pw.grad(lambda v: pw.numpy.sum(pw.lax.psum(v * w, "model") ** 2))(v)

    got = np.asarray(g(x, w))
    rows, wr = x.reshape(2, 2, 5), w.reshape(2, 2, 5)
    for i in range(4):
        d, m = divmod(i, 2)
        s = (rows[d] * wr[d]).sum(0)  # psum over the model axis
        # d/dv_i sum_j (sum over the row of the psum)^2: each of the row's 2 devices' losses
        # depends on v_i, so the psum's transpose sums their cotangents.
        np.testing.assert_allclose(got[i], 2 * 2 * s * wr[d, m], rtol=1e-12)


def test_bad_meshes_and_axis_names_name_the_culprit(mesh):
    vds = pw.make_virtual_device_set()
    with pytest.raises(ValueError, match=r"mesh \(3, 2\) has 6 devices, not 4"):
        vds.add_slice(devices=4, mesh=(3, 2))
    with pytest.raises(ValueError, match="axis_names"):
        vds.add_slice(devices=4, mesh=(2, 2), axis_names=("a",))

    @pw.pmap(devices=mesh.devices)
    def bad(v):
        return pw.lax.psum(v, "modle")

    with pytest.raises(NameError, match=r"'modle'.*\('data', 'model'\)"):
        bad(np.zeros((4, 2), np.float32))


def test_a_model_axis_row_stays_on_one_host(mesh):
    # Rows of the mesh (the last axis varies fastest) are consecutive virtual devices, which
    # the resource manager places on consecutive devices of one host when it can.
    hosts = [d.physical_device.host for d in mesh.devices]
    assert hosts[0] == hosts[1] and hosts[2] == hosts[3], hosts


def test_axes_named_out_of_mesh_order_order_the_blocks_as_named(mesh):
    x = np.arange(4, dtype=np.float32).reshape(4, 1)  # device i holds i

    @pw.pmap(devices=mesh.devices)
    def f(v):
        axes = ("model", "data")
        return pw.lax.all_gather(v, axes), pw.lax.axis_index(axes)

    gathered, index = (np.asarray(o) for o in f(x))
    # Position along ("model", "data") is model * 2 + data: device (d, m) = 2 d + m.
    assert list(gathered[0, :, 0]) == [0, 2, 1, 3]
    for i in range(4):
        assert gathered[i, index[i], 0] == x[i, 0]
