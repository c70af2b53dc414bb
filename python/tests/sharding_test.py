"""Arrays laid out over a slice's mesh (pw.sharding), resharding between slices and layouts,
and pmaps that declare the layout of their arguments (in_specs / out_specs)."""

import numpy as np
import pytest

import pathways as pw
from pathways.sharding import STACKED, P


@pytest.fixture(scope="module")
def slices():
    pw.init(hosts=2, devices_per_host=2)
    vds = pw.make_virtual_device_set()
    grid = vds.add_slice(devices=4, mesh=(2, 2), axis_names=("data", "model"))
    pair = vds.add_slice(devices=2, axis_names=("x",))
    one = vds.add_slice(devices=1)
    return grid, pair, one


def test_device_put_lays_an_array_out_and_fetch_puts_it_back_together(slices):
    grid, _, _ = slices
    a = np.arange(4 * 6, dtype=np.float32).reshape(4, 6)
    for spec in (P(), P("data"), P(None, "model"), P("model", "data"), P(("data", "model"))):
        x = pw.device_put(a, grid.devices, spec)
        assert x.shape == a.shape
        assert x.spec == spec
        np.testing.assert_array_equal(np.asarray(x), a)
    stacked = pw.device_put(a, grid.devices)
    assert stacked.spec is STACKED and stacked.shape == (4, 6)
    with pytest.raises(pw.PathwaysError, match="does not divide"):
        pw.device_put(a, grid.devices, P(None, ("data", "model")))
    with pytest.raises(ValueError, match="no mesh axis 'rows'"):
        pw.device_put(a, grid.devices, P("rows"))


def test_reshard_moves_blocks_between_slices_of_other_sizes_and_layouts(slices):
    grid, pair, one = slices
    a = np.arange(4 * 8, dtype=np.float32).reshape(4, 8)
    layouts = [(grid, P()), (grid, P("data")), (grid, P(None, "model")), (grid, P("model", "data")),
               (pair, P()), (pair, P("x")), (pair, P(None, "x")), (one, P()), (one, P(0))]
    for src_slice, src_spec in layouts:
        x = pw.device_put(a, src_slice.devices, src_spec)
        for dst_slice, dst_spec in layouts:
            y = pw.reshard(x, dst_slice.devices, dst_spec)
            assert y.spec == dst_spec
            assert [d.id for d in y.devices] == [d.physical_device.id for d in dst_slice.devices]
            np.testing.assert_array_equal(np.asarray(y), a, err_msg=f"{src_spec} -> {dst_spec}")
    with pytest.raises(pw.PathwaysError, match="does not divide"):
        pw.reshard(pw.device_put(a[:3], one.devices, P()), pair.devices, P("x"))


def test_shard_map_reads_blocks_and_reshards_its_arguments(slices):
    grid, pair, _ = slices
    w = np.arange(8 * 6, dtype=np.float32).reshape(8, 6) / 10
    x = np.ones((4, 8), np.float32)

    # Megatron's row-parallel matmul: x split by columns and w by rows over "model"; the
    # partial products summed over "model"; the result replicated over the whole grid.
    def matmul(xb, wb):
        return pw.lax.psum(pw.numpy.matmul(xb, wb), "model")

    f = pw.shard_map(matmul, grid.devices, in_specs=(P(None, "model"), P("model")), out_specs=P())
    got = f(x, pw.device_put(w, pair.devices, P("x")))  # w arrives from another slice, resharded
    assert got.spec == P() and got.shape == (4, 6)
    np.testing.assert_allclose(np.asarray(got), x @ w, rtol=1e-6)

    @pw.program
    def step(x, w):
        return f(x, w)

    np.testing.assert_allclose(np.asarray(step(x, pw.device_put(w, grid.devices, P()))), x @ w, rtol=1e-6)

    # Blocks as the function sees them.
    shapes = pw.shard_map(lambda v: v * 1, grid.devices, in_specs=P("data", "model"),
                          out_specs=P("data", "model"))
    y = shapes(x)
    assert y.shape == x.shape
    np.testing.assert_array_equal(np.asarray(y), x)


def test_pipeline_stages_of_other_sizes_hand_activations_over(slices):
    grid, pair, one = slices
    # Stage 0 on 2 devices (rows split), stage 1 on 4 devices (rows over "data", replicated over
    # "model"), stage 2 on one device: one program, the runtime reshards between stages.
    s0 = pw.shard_map(lambda v: v + 1, pair.devices, in_specs=P("x"), out_specs=P("x"))
    s1 = pw.shard_map(lambda v: v * 2, grid.devices, in_specs=P("data"), out_specs=P("data"))
    s2 = pw.shard_map(lambda v: pw.numpy.sum(v, axis=0), one.devices, in_specs=P(), out_specs=P())

    @pw.program
    def pipeline(v):
        return s2(s1(s0(v)))

    v = np.arange(4 * 3, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(np.asarray(pipeline(v)), ((v + 1) * 2).sum(0))


def test_stacked_and_replicated_specs_check_their_shapes(slices):
    _, pair, _ = slices
    f = pw.pmap(lambda v: v, devices=pair.devices, in_specs=P())
    np.testing.assert_array_equal(np.asarray(f(np.arange(3.0))), np.tile(np.arange(3.0), (2, 1)))
    with pytest.raises(TypeError, match="in_specs"):
        pw.pmap(lambda v: v, devices=pair.devices, in_specs=["x"])
    with pytest.raises(ValueError, match="need devices="):
        pw.pmap(lambda v: v, in_specs=P())
    with pytest.raises(TypeError, match="not a pw.Array"):
        pw.reshard(np.zeros(2), pair.devices, P())


def test_a_program_is_traced_again_for_an_input_in_another_layout(slices):
    _, pair, _ = slices
    double = pw.shard_map(lambda v: v * 2, pair.devices, in_specs=P(), out_specs=P())

    @pw.program
    def twice(v):
        return double(v)

    a = np.arange(4, dtype=np.float32)
    for spec in (P(), P("x"), P()):
        np.testing.assert_array_equal(np.asarray(twice(pw.device_put(a, pair.devices, spec))), 2 * a)
