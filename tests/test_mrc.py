"""MRC input/output: axis order, geometry, modes, compression and bad files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from _mrc_helpers import to_file_order, write_raw_mrc

from resmap_core.errors import InputError
from resmap_core.io.mrc import MapGeometry, read_map, read_mask, write_map

DATA = Path(__file__).resolve().parent / "data"  # real EMDB maps, see tests/data/README.md


def test_write_then_read_round_trips_data_and_geometry(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((6, 7, 9)).astype(np.float32)
    geom = MapGeometry(
        shape=(6, 7, 9),
        voxel_size_A=(1.1, 1.2, 1.3),
        origin_A=(3.0, -2.0, 5.5),
        start_vox=(-4, 2, 7),
    )
    for name in ("m.mrc", "m.mrc.gz"):
        write_map(tmp_path / name, data, geom)
        back = read_map(tmp_path / name)
        np.testing.assert_array_equal(back.data, data)
        assert back.geometry.shape == geom.shape
        np.testing.assert_allclose(back.geometry.voxel_size_A, geom.voxel_size_A, rtol=1e-6)
        assert back.geometry.origin_A == geom.origin_A
        assert back.geometry.start_vox == geom.start_vox


def test_writing_twice_gives_byte_identical_files(tmp_path):
    data = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    geom = MapGeometry(shape=(3, 4, 5), voxel_size_A=(1.0, 1.0, 1.0))
    for name in ("a.mrc", "b.mrc", "a.mrc.gz", "b.mrc.gz"):
        write_map(tmp_path / name, data, geom)
    assert (tmp_path / "a.mrc").read_bytes() == (tmp_path / "b.mrc").read_bytes()
    assert (tmp_path / "a.mrc.gz").read_bytes() == (tmp_path / "b.mrc.gz").read_bytes()
    assert not list(tmp_path.glob(".*part*"))  # no temporary file left behind


@pytest.mark.parametrize("axes", [(1, 2, 3), (3, 1, 2), (2, 3, 1), (3, 2, 1), (1, 3, 2)])
def test_axis_order_is_honoured(tmp_path, axes):
    rng = np.random.default_rng(1)
    canonical = rng.standard_normal((5, 6, 7)).astype(np.float32)  # [z, y, x]
    # file array axes (section, row, column) are physical (maps, mapr, mapc)
    file_array = to_file_order(canonical, axes)
    starts_xyz = (-3, 4, 10)
    file_starts = tuple(starts_xyz[a - 1] for a in axes)  # NC/NR/NS start per file axis
    write_raw_mrc(
        tmp_path / "p.mrc", file_array, axes=axes, voxel=(1.0, 2.0, 3.0), starts=file_starts
    )
    m = read_map(tmp_path / "p.mrc")
    np.testing.assert_array_equal(m.data, canonical)
    np.testing.assert_allclose(m.geometry.voxel_size_A, (1.0, 2.0, 3.0), rtol=1e-6)
    assert m.geometry.start_vox == starts_xyz


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint16, np.float16, np.float32])
def test_every_real_mode_reads_as_float32(tmp_path, dtype):
    values = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    write_raw_mrc(tmp_path / "m.mrc", values)
    m = read_map(tmp_path / "m.mrc")
    assert m.data.dtype == np.float32
    np.testing.assert_array_equal(m.data, values.astype(np.float32))


def test_real_maps_from_the_emdb_have_the_documented_geometry():
    a = read_map(DATA / "emd_3488" / "emd_3488.mrc.gz")
    assert a.geometry.shape == (100, 100, 100)
    np.testing.assert_allclose(a.voxel_size_A, (1.05,) * 3, rtol=1e-4)
    b = read_map(DATA / "emd_5168" / "emd_5168.map.gz")
    np.testing.assert_allclose(b.voxel_size_A, (1.742,) * 3, rtol=1e-3)
    assert b.geometry.start_vox == (-50, -50, -50)


def test_bad_files_give_one_line_input_errors(tmp_path):
    (tmp_path / "text.mrc").write_text("this is not a map\n" * 100)
    with pytest.raises(InputError, match="not a readable MRC"):
        read_map(tmp_path / "text.mrc")
    with pytest.raises(InputError, match="no such file"):
        read_map(tmp_path / "missing.mrc")
    data = np.ones((8, 8, 8), dtype=np.float32)
    write_raw_mrc(tmp_path / "full.mrc", data)
    raw = (tmp_path / "full.mrc").read_bytes()
    (tmp_path / "cut.mrc").write_bytes(raw[: len(raw) - 100])
    with pytest.raises(InputError):
        read_map(tmp_path / "cut.mrc")
    (tmp_path / "cut.mrc.gz").write_bytes(gzip.compress(raw)[:-40])
    with pytest.raises(InputError):
        read_map(tmp_path / "cut.mrc.gz")
    bad = data.copy()
    bad[1, 2, 3] = np.nan
    write_raw_mrc(tmp_path / "nan.mrc", bad)
    with pytest.raises(InputError, match="NaN"):
        read_map(tmp_path / "nan.mrc")
    write_raw_mrc(tmp_path / "novox.mrc", data, voxel=(0.0, 0.0, 0.0))
    with pytest.raises(InputError, match="--voxel-size"):
        read_map(tmp_path / "novox.mrc")
    assert read_map(tmp_path / "novox.mrc", voxel_size_A=1.5).voxel_size_A == (1.5, 1.5, 1.5)


def test_masks_on_another_grid_or_degenerate_are_refused(tmp_path):
    geom = MapGeometry(shape=(8, 8, 8), voxel_size_A=(1.0, 1.0, 1.0))
    write_raw_mrc(tmp_path / "empty.mrc", np.zeros((8, 8, 8), np.float32))
    write_raw_mrc(tmp_path / "all.mrc", np.ones((8, 8, 8), np.float32))
    write_raw_mrc(tmp_path / "small.mrc", np.ones((8, 8, 6), np.float32))
    write_raw_mrc(
        tmp_path / "coarse.mrc", np.pad(np.ones((4, 4, 4), np.float32), 2), voxel=(2.0, 2.0, 2.0)
    )
    for name, message in [
        ("empty", "empty"),
        ("all", "whole box"),
        ("small", "grid"),
        ("coarse", "voxel size"),
    ]:
        with pytest.raises(InputError, match=message):
            read_mask(tmp_path / f"{name}.mrc", geom)
