"""pw.checkpoint: save and restore pytrees of pw.Arrays, each host writing its own shards."""

import json
import os

import numpy as np
import pytest

import pathways as pw


@pytest.fixture(scope="module")
def devs():
    pw.init(hosts=2, devices_per_host=2)
    return pw.get_devices(4)


def test_a_pytree_round_trips_with_its_metadata(devs, tmp_path):
    tree = {"w": pw.device_put(np.arange(12, dtype=np.float32).reshape(4, 3), devs),
            "layers": [pw.device_put(np.ones((4, 2, 2), np.float64), devs)],
            "count": pw.device_put(np.array([3, 3, 3, 3], np.int32), devs)}
    doubled = pw.pmap(lambda x: x * 2, devices=devs)(tree["w"])  # saved once computed
    tree["doubled"] = doubled
    d = tmp_path / "step_00000007"
    pw.checkpoint.save(d, tree, metadata={"step": 7, "note": "hello"})
    index = json.loads((d / "index.json").read_text())
    assert sorted(a["name"] for a in index["arrays"]) == sorted(
        ["['count']", "['doubled']", "['layers'][0]", "['w']"])
    # One file per shard, written by the hosts: 4 arrays x 4 shards, plus the index.
    assert len(os.listdir(d)) == 17
    other = pw.get_devices(4)
    back, meta = pw.checkpoint.restore(d, tree, devices=other, return_metadata=True)
    assert meta == {"step": 7, "note": "hello"}
    for k in ("w", "count", "doubled"):
        np.testing.assert_array_equal(np.asarray(back[k]), np.asarray(tree[k]))
        assert back[k].dtype == tree[k].dtype
    np.testing.assert_array_equal(np.asarray(back["layers"][0]), np.ones((4, 2, 2)))
    assert [d.id for d in back["w"].devices] == [d.physical_device.id for d in other]
    assert pw.checkpoint.latest_step(tmp_path) == 7
    assert pw.checkpoint.step_directory(tmp_path, 7) == str(d)


def test_bad_requests_name_the_culprit(devs, tmp_path):
    a = pw.device_put(np.zeros((4, 2), np.float32), devs)
    with pytest.raises(TypeError, match=r"leaf at \['b'\] is a ndarray"):
        pw.checkpoint.save(tmp_path / "x", {"a": a, "b": np.zeros(3)})
    with pytest.raises(TypeError, match="JSON"):
        pw.checkpoint.save(tmp_path / "x", {"a": a}, metadata={"f": object()})
    pw.checkpoint.save(tmp_path / "c", {"a": a})
    with pytest.raises(pw.PathwaysError, match="holds a checkpoint already"):
        pw.checkpoint.save(tmp_path / "c", {"a": a})
    wrong_shape = pw.device_put(np.zeros((4, 3), np.float32), devs)
    with pytest.raises(ValueError, match=r"\['a'\].*saved shards are f32\[2\], expected f32\[3\]"):
        pw.checkpoint.restore(tmp_path / "c", {"a": wrong_shape})
    with pytest.raises(pw.PathwaysError, match=r"no array named \"\['z'\]\""):
        pw.checkpoint.restore(tmp_path / "c", {"z": a})
    with pytest.raises(pw.PathwaysError, match="did not finish"):
        pw.checkpoint.restore(tmp_path / "nothing", {"a": a})
    with pytest.raises(TypeError, match="pass devices="):
        pw.checkpoint.restore(tmp_path / "c", {"a": np.zeros((4, 2), np.float32)})
    assert pw.checkpoint.latest_step(tmp_path / "nothing") is None


def test_partitioned_arrays_come_back_in_their_layout(tmp_path):
    vds = pw.make_virtual_device_set()
    grid = vds.add_slice(devices=4, mesh=(2, 2), axis_names=("data", "model"))
    other = vds.add_slice(devices=4, mesh=(4,), axis_names=("x",))
    a = np.arange(4 * 6, dtype=np.float32).reshape(4, 6)
    tree = {"w": pw.device_put(a, grid.devices, pw.sharding.P("model", "data")),
            "r": pw.device_put(a, grid.devices, pw.sharding.P())}
    pw.checkpoint.save(str(tmp_path / "ck"), tree)
    back = pw.checkpoint.restore(str(tmp_path / "ck"), tree)
    for k in tree:
        assert back[k].spec == tree[k].spec
        np.testing.assert_array_equal(np.asarray(back[k]), a)
    # The blocks of a partitioned array are only the saved ones on the saved mesh.
    like = {"w": pw.device_put(a, other.devices, pw.sharding.P("x")), "r": tree["r"]}
    with pytest.raises(pw.InvalidArgumentError, match=r"over mesh \[2,2\].*has mesh \[4\]"):
        pw.checkpoint.restore(str(tmp_path / "ck"), like)
