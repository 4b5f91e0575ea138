"""Bad input to `resmap local`: one line on stderr, exit status 2, no output left behind."""

from __future__ import annotations

import subprocess
import sys

import mrcfile
import numpy as np
import pytest

from resmap_core.cli import main
from resmap_core.mrc import MapGeometry, write_map
from resmap_core.phantoms import band_limited_noise, half_maps, radius_A

SHAPE = (32, 32, 32)
GEOM = MapGeometry(shape=SHAPE, voxel_size_A=(1.0, 1.0, 1.0))


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    density = band_limited_noise(SHAPE, (1.0,) * 3, 4.0, rng) * (radius_A(SHAPE, (1.0,) * 3) < 9)
    h1, h2 = half_maps(density, 0.3)
    write_map(tmp_path / "h1.mrc", h1, GEOM)
    write_map(tmp_path / "h2.mrc", h2, GEOM)
    write_map(tmp_path / "small.mrc", h2[:, :, :30], MapGeometry((32, 32, 30), (1.0, 1.0, 1.0)))
    write_map(tmp_path / "coarse.mrc", h2, MapGeometry(SHAPE, (1.2, 1.2, 1.2)))
    bad = h2.copy()
    bad[3, 4, 5] = np.inf
    with mrcfile.new(tmp_path / "inf.mrc") as m:
        m.set_data(bad)
        m.voxel_size = 1.0
    with mrcfile.new(tmp_path / "novox.mrc") as m:
        m.set_data(h2)
    write_map(tmp_path / "empty_mask.mrc", np.zeros(SHAPE, np.float32), GEOM)
    write_map(tmp_path / "full_mask.mrc", np.ones(SHAPE, np.float32), GEOM)
    big = (radius_A(SHAPE, (1.0,) * 3) < 17).astype(np.float32)
    write_map(tmp_path / "big_mask.mrc", big, GEOM)
    write_map(
        tmp_path / "other_grid_mask.mrc",
        np.ones((16, 16, 16), np.float32),
        MapGeometry((16, 16, 16), (1.0, 1.0, 1.0)),
    )
    (tmp_path / "text.mrc").write_text("not a map\n" * 200)
    raw = (tmp_path / "h2.mrc").read_bytes()
    (tmp_path / "cut.mrc").write_bytes(raw[: len(raw) // 2])
    return tmp_path


CASES = [
    ("shape", ["h1.mrc", "small.mrc"], [], "differ in shape"),
    ("voxel", ["h1.mrc", "coarse.mrc"], [], "voxel size"),
    ("nan", ["h1.mrc", "inf.mrc"], [], "NaN or infinite"),
    ("novox", ["novox.mrc"], [], "--voxel-size"),
    ("empty-mask", ["h1.mrc", "h2.mrc"], ["--mask", "empty_mask.mrc"], "empty"),
    ("full-mask", ["h1.mrc", "h2.mrc"], ["--mask", "full_mask.mrc"], "whole box"),
    ("grid-mask", ["h1.mrc", "h2.mrc"], ["--mask", "other_grid_mask.mrc"], "grid"),
    ("nyquist", ["h1.mrc", "h2.mrc"], ["--min-res", "1.5"], "below Nyquist"),
    ("background", ["h1.mrc"], ["--mask", "big_mask.mrc"], "too little background"),
    ("not-mrc", ["text.mrc"], [], "not a readable MRC"),
    ("truncated", ["cut.mrc"], [], "truncated"),
    ("max-below-min", ["h1.mrc", "h2.mrc"], ["--min-res", "5", "--max-res", "4"], "below"),
]


@pytest.mark.parametrize(("name", "inputs", "extra", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_exit_2_and_no_output(files, capsys, name, inputs, extra, message):
    out = files / "out.mrc"
    args = ["local", *[str(files / f) for f in inputs], "--out", str(out), "--quiet"]
    args += [str(files / a) if a.endswith(".mrc") else a for a in extra]
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert message in err
    assert not out.exists() and not out.with_suffix(".json").exists()
    assert not [p for p in files.iterdir() if p.name.startswith(".")]


def test_process_exit_status_is_2_without_traceback(files):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "resmap_core",
            "local",
            str(files / "text.mrc"),
            "--out",
            str(files / "o.mrc"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("resmap local: error:")
