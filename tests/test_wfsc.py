"""Windowed FSC: equality with a brute-force single-box FSC, determinism, filling and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from _fsc_helpers import half_maps, sphere_mask

from resmap_core.cli.commands import wfsc as wfsc_command
from resmap_core.cli.main import main
from resmap_core.errors import InputError
from resmap_core.fsc import windowed
from resmap_core.fsc.masks import soft_mask
from resmap_core.fsc.windowed import (
    fill_from_samples,
    nearest_sample,
    randomised_halves,
    resolution_from_curves,
    sample_points,
    windowed_fsc,
)
from resmap_core.fsc.windowed_summary import bound_fractions, box_bounds_A
from resmap_core.fsc.windowed_tiles import local_fsc_curves
from resmap_core.io.mrc import MapGeometry, write_map
from resmap_core.io.records.wfsc import WFSCRecord

SHAPE = (36, 40, 38)


def _brute_force_box_fsc(h1, h2, centre, box):
    """FSC of one Hann-tapered box, from the full complex FFT with integer-radius shells."""
    taper = 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(box) + 0.5) / box)
    window = np.einsum("i,j,k->ijk", taper, taper, taper)
    boxes = []
    for vol in (h1, h2):
        cut = np.zeros((box, box, box))
        for i in range(box):
            for j in range(box):
                for k in range(box):
                    z, y, x = (centre[0] - box // 2 + i, centre[1] - box // 2 + j,
                               centre[2] - box // 2 + k)  # fmt: skip
                    inside = (
                        0 <= z < vol.shape[0] and 0 <= y < vol.shape[1] and 0 <= x < vol.shape[2]
                    )
                    cut[i, j, k] = vol[z, y, x] if inside else 0.0
        boxes.append(np.fft.fftn(cut * window))
    f = np.fft.fftfreq(box) * box
    radius = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + f[None, None, :] ** 2)
    shell = np.rint(radius).astype(int)
    fsc = []
    for s in range(box // 2 + 1):
        sel = shell == s
        a, b = boxes[0][sel], boxes[1][sel]
        fsc.append(
            np.sum((a * np.conj(b)).real) / np.sqrt(np.sum(abs(a) ** 2) * np.sum(abs(b) ** 2))
        )
    return np.array(fsc)


@pytest.fixture(scope="module")
def maps():
    h1, h2, _ = half_maps(SHAPE, 11, noise=1.0)
    return h1, h2, sphere_mask(SHAPE, 0.3)


@pytest.mark.parametrize("box", [8, 11])
def test_windowed_fsc_equals_brute_force_single_box_fsc_at_sampled_voxels(maps, box):
    h1, h2, mask = maps
    points = np.array([[18, 20, 19], [0, 0, 0], [35, 39, 37], [10, 25, 30]])  # edges included
    curves, freq = local_fsc_curves(h1, h2, points, box, (1.0,) * 3, dtype=np.float64, batch=3)
    single, _ = local_fsc_curves(h1, h2, points, box, (1.0,) * 3)  # float32 default
    for p, curve, c32 in zip(points, curves, single, strict=True):
        expected = _brute_force_box_fsc(h1, h2, p, box)
        np.testing.assert_allclose(curve, expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(c32, expected, rtol=0, atol=2e-4)
    np.testing.assert_allclose(freq, np.arange(box // 2 + 1) / box)


def test_windowed_fsc_map_holds_the_box_resolution_at_sampled_voxels(maps):
    h1, h2, mask = maps
    out = windowed_fsc(h1, h2, mask, (1.2,) * 3, box=10, step=3, dtype=np.float64)
    points = sample_points(mask, 3)
    for p in points[:: max(1, len(points) // 5)]:
        curve = _brute_force_box_fsc(h1, h2, p, 10)
        for cutoff in (0.5, 0.143):
            expected = resolution_from_curves(curve[None], np.arange(6) / 12.0, cutoff)[0]
            assert out[cutoff][tuple(p)] == pytest.approx(expected, rel=1e-10)


def test_corrected_windowed_fsc_applies_chen_formula_to_randomised_boxes(maps):
    h1, h2, mask = maps
    spacing = (1.0,) * 3
    out = windowed_fsc(
        h1, h2, mask, spacing, box=10, step=4, correct=True, seed=5, dtype=np.float64
    )
    r1, r2, from_invA = randomised_halves(h1, h2, spacing, seed=5)
    freq = np.arange(6) / 10.0
    for p in sample_points(mask, 4)[::7]:
        fsc = _brute_force_box_fsc(h1, h2, p, 10)
        rand = _brute_force_box_fsc(r1, r2, p, 10)
        true = np.where(freq > from_invA, (fsc - rand) / (1 - rand), fsc)
        expected = resolution_from_curves(true[None], freq, 0.5)[0]
        assert out[0.5][tuple(p)] == pytest.approx(expected, rel=1e-9)


def test_windowed_fsc_is_byte_identical_for_any_thread_count_and_batch(maps):
    h1, h2, mask = maps
    a = windowed_fsc(h1, h2, mask, (1.0,) * 3, box=10, step=2, threads=1, batch=7)
    b = windowed_fsc(h1, h2, mask, (1.0,) * 3, box=10, step=2, threads=2, batch=1000)
    for cutoff in a:
        assert a[cutoff].tobytes() == b[cutoff].tobytes()


def _box_fsc_by_fftn(h1, h2, centre, box):
    """FSC of one Hann-tapered box: cut by slicing a zero-padded copy, full 3-D np.fft.fftn."""
    taper = np.sin(np.pi * (np.arange(box) + 0.5) / box) ** 2
    window = np.einsum("i,j,k->ijk", taper, taper, taper)
    start = [c - box // 2 + box for c in centre]  # in the copy padded by `box` on every side
    cut = tuple(slice(s, s + box) for s in start)
    f1, f2 = (np.fft.fftn(np.pad(v, box)[cut] * window) for v in (h1, h2))
    f = np.fft.fftfreq(box) * box
    shell = np.rint(np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + f[None, None, :] ** 2))
    shell = shell.astype(int).ravel()
    n = box // 2 + 1

    def sums(x):
        return np.bincount(shell, x.ravel(), minlength=n)[:n]

    return sums((f1 * f2.conj()).real) / np.sqrt(sums(abs(f1) ** 2) * sums(abs(f2) ** 2))


def test_windowed_fsc_equals_fftn_of_each_box_across_tile_boundaries(maps):
    """Boxes sharing their x/y transforms within a tile, in any order, match box-by-box FFTs."""
    h1, h2, _ = maps
    rng = np.random.default_rng(3)
    block = np.argwhere(np.ones((8, 6, 5), dtype=bool)) + [12, 1, 30]  # z 12-19, y 1-6, x 30-34
    points = block[rng.permutation(len(block))][:60]  # unsorted, crossing z 16 and y 4
    curves, _ = local_fsc_curves(h1, h2, points, 9, (1.0,) * 3, dtype=np.float64, batch=17)
    for p, curve in zip(points, curves, strict=True):
        np.testing.assert_allclose(curve, _box_fsc_by_fftn(h1, h2, p, 9), rtol=0, atol=1e-12)


def test_box_curve_does_not_depend_on_the_other_points_requested(maps):
    h1, h2, _ = maps
    points = np.argwhere(np.ones((20, 9, 6), dtype=bool)) + [5, 2, 10]
    together, _ = local_fsc_curves(h1, h2, points, 10, (1.0,) * 3, threads=2)
    for i in (0, 77, 500, len(points) - 1):
        alone, _ = local_fsc_curves(h1, h2, points[i : i + 1], 10, (1.0,) * 3, threads=1)
        assert alone.tobytes() == together[i : i + 1].tobytes()
    shuffled = np.random.default_rng(4).permutation(len(points))
    again, _ = local_fsc_curves(h1, h2, points[shuffled], 10, (1.0,) * 3, batch=50)
    assert again.tobytes() == together[shuffled].tobytes()


def test_resolution_is_interpolated_where_fsc_first_falls_below_cutoff():
    freq = np.array([0.0, 0.1, 0.2, 0.3])
    curves = np.array(
        [
            [0.2, 0.9, 0.3, 0.6],  # first below 0.5 between shells 1 and 2 (later rise ignored)
            [0.5, 0.8, 0.7, 0.6],  # never below: last shell
            [0.1, 0.4, 0.9, 0.9],  # below at shell 1: from FSC(0) = 1
        ]
    )
    got = resolution_from_curves(curves, freq, 0.5)
    expected = [1 / (0.1 + 0.1 * 0.4 / 0.6), 1 / 0.3, 1 / (0.1 * 0.5 / 0.6)]
    np.testing.assert_allclose(got, expected)


def test_bounds_are_the_voxels_whose_box_fsc_never_crossed_the_cutoff():
    box, spacing = 10, (1.2, 1.2, 1.2)
    freq = np.arange(6) / (box * 1.2)
    limits = box_bounds_A(box, spacing)
    assert limits == {"better_than": pytest.approx(2.4), "worse_than": pytest.approx(12.0)}
    curves = np.array(
        [
            [1.0, 0.9, 0.8, 0.7, 0.6, 0.55],  # never below 0.5: better than the box's Nyquist
            [1.0, 0.4, 0.3, 0.2, 0.1, 0.0],  # below at the first shell: worse than 12 Å
            [1.0, np.nan, 0.3, 0.2, 0.1, 0.0],  # an all-zero box (NaN FSC) counts as below
            [1.0, 0.9, 0.6, 0.4, 0.1, 0.0],  # a crossing between shells 2 and 3
        ]
    )
    values = resolution_from_curves(curves, freq, 0.5)
    got = bound_fractions(values, box, spacing)
    assert got["better_than"] == {"value_A": limits["better_than"], "fraction": 0.25}
    assert got["worse_than"] == {"value_A": limits["worse_than"], "fraction": 0.5}


def test_fill_gives_every_mask_voxel_its_nearest_sample():
    mask = sphere_mask((14, 15, 16), 0.45)
    spacing = (1.5, 1.0, 0.8)
    points = sample_points(mask, 3)
    values = np.arange(len(points), dtype=float)
    filled = fill_from_samples(mask, values, nearest_sample(mask, points, spacing))
    voxels = np.argwhere(mask)
    d2 = (((voxels[:, None, :] - points[None, :, :]) * spacing) ** 2).sum(-1)
    best = d2.min(axis=1)
    got_ids = filled[mask].astype(int)
    assert np.allclose(d2[np.arange(len(voxels)), got_ids], best)
    assert np.isnan(filled[~mask]).all()


def test_less_noisy_region_gets_finer_local_resolution():
    """Same signal everywhere, noise σ 0.3 on the left and 3 on the right: wfsc sees the step."""
    rng = np.random.default_rng(12)
    shape = (24, 24, 48)
    signal = rng.standard_normal(shape)
    sigma = np.where(np.arange(48) < 24, 0.3, 3.0)
    h1 = signal + sigma * rng.standard_normal(shape)
    h2 = signal + sigma * rng.standard_normal(shape)
    mask = np.zeros(shape, dtype=bool)
    mask[8:16, 8:16, 4:44] = True
    out = windowed_fsc(h1, h2, mask, (1.0,) * 3, box=12, step=1)[0.5]
    # left: SNR 11 in every shell, FSC 0.92 never falls below 0.5 -> Nyquist (2 Å);
    # right: SNR 0.11, FSC 0.1 -> below 0.5 in the first shell (> 12 Å)
    assert np.median(out[8:16, 8:16, 4:14]) == pytest.approx(2.0)
    assert np.median(out[8:16, 8:16, 34:44]) > 12.0


def test_windowed_fsc_is_byte_identical_for_any_blas_thread_count(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(
        "import hashlib, sys\n"
        "from _fsc_helpers import half_maps, sphere_mask\n"
        "from resmap_core.fsc.windowed import windowed_fsc\n"
        "h1, h2, _ = half_maps((30, 30, 30), 11, 1.0)\n"
        "r = windowed_fsc(h1, h2, sphere_mask((30, 30, 30), 0.3), (1.0,) * 3, box=10, step=1,\n"
        "                 threads=int(sys.argv[1]))\n"
        "print(hashlib.sha256(r[0.5].tobytes() + r[0.143].tobytes()).hexdigest())\n"
    )
    root = Path(__file__).resolve().parents[1]
    digests = set()
    for n in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": n, "OMP_NUM_THREADS": n,
               "PYTHONPATH": f"{root}{os.pathsep}{root / 'tests'}"}  # fmt: skip
        run = subprocess.run([sys.executable, str(script), n], env=env, capture_output=True,
                             text=True, check=True)  # fmt: skip
        digests.add(run.stdout.strip())
    assert len(digests) == 1


# ------------------------------------------------------------------------------------ CLI


@pytest.fixture()
def files(tmp_path, maps):
    h1, h2, mask = maps
    geom = MapGeometry(SHAPE, (1.2, 1.2, 1.2))
    write_map(tmp_path / "h1.mrc", h1, geom)
    write_map(tmp_path / "h2.mrc", h2, geom)
    write_map(tmp_path / "mask.mrc", mask.astype(np.float32), geom)
    return tmp_path


@pytest.mark.parametrize(("outside", "expected"), [("100", 100.0), ("0", 0.0), ("nan", np.nan)])
def test_wfsc_command_writes_both_cutoff_maps_and_summary(files, outside, expected):
    out = files / "WFSC.mrc"
    args = ["wfsc", str(files / "h1.mrc"), str(files / "h2.mrc"), "--mask",
            str(files / "mask.mrc"), "--out", str(out), "--box", "10", "--step", "3",
            "--outside", outside, "--quiet"]  # fmt: skip
    assert main(args) == 0
    rec = json.loads((files / "WFSC.json").read_text())
    mask = sphere_mask(SHAPE, 0.3)
    with mrcfile.open(out) as m05, mrcfile.open(files / "WFSC_0143.mrc") as m0143:
        a, b = m05.data.copy(), m0143.data.copy()
        assert m05.voxel_size.x == pytest.approx(1.2)
    np.testing.assert_array_equal(a[~mask], np.float32(expected))
    assert np.isfinite(a[mask]).all() and (a[mask] >= 2.4 - 1e-5).all()
    assert (b[mask] <= a[mask] + 1e-5).all()  # 0.143 is reached at higher frequency than 0.5
    assert rec["box_vox"] == 10 and rec["step_vox"] == 3 and rec["cutoff"] == 0.5
    assert rec["mask_voxels"] == int(mask.sum())
    assert rec["median_A"] == pytest.approx(float(np.median(a[mask])))
    assert rec["other_cutoff"]["path"] == "WFSC_0143.mrc"


def test_wfsc_records_bounds_and_says_them_in_words(tmp_path, capsys):
    rng = np.random.default_rng(5)
    signal = rng.standard_normal(SHAPE)  # white, SNR 10⁴: every box stays above both cutoffs
    geom = MapGeometry(SHAPE, (1.2, 1.2, 1.2))
    write_map(tmp_path / "h1.mrc", signal + 0.01 * rng.standard_normal(SHAPE), geom)
    write_map(tmp_path / "h2.mrc", signal + 0.01 * rng.standard_normal(SHAPE), geom)
    write_map(tmp_path / "mask.mrc", sphere_mask(SHAPE, 0.3).astype(np.float32), geom)
    out = tmp_path / "WFSC.mrc"
    assert main(["wfsc", str(tmp_path / "h1.mrc"), str(tmp_path / "h2.mrc"), "--mask",
                 str(tmp_path / "mask.mrc"), "--out", str(out), "--box", "10",
                 "--step", "3"]) == 0  # fmt: skip
    rec = json.loads((tmp_path / "WFSC.json").read_text())
    for r in (rec, rec["other_cutoff"]):
        assert r["bounds"]["better_than"] == {"value_A": pytest.approx(2.4), "fraction": 1.0}
        assert r["bounds"]["worse_than"]["fraction"] == 0.0
        assert r["median_bound"] == "better_than"
    err = capsys.readouterr().err
    assert "median better than 2.40 Å (Nyquist) at FSC 0.5" in err
    assert "100.0 % of the mask better than 2.40 Å (Nyquist)" in err


def test_wfsc_samples_a_soft_mask_above_one_half_and_adds_no_edge(files):
    soft = soft_mask(sphere_mask(SHAPE, 0.2), (1.2,) * 3, 6.0)
    write_map(files / "soft.mrc", soft.astype(np.float32), MapGeometry(SHAPE, (1.2,) * 3))
    out = files / "WFSC.mrc"
    assert main(["wfsc", str(files / "h1.mrc"), str(files / "h2.mrc"), "--mask",
                 str(files / "soft.mrc"), "--out", str(out), "--box", "10", "--step", "3",
                 "--outside", "nan", "--quiet"]) == 0  # fmt: skip
    inside = soft.astype(np.float32) > 0.5
    with mrcfile.open(out) as m:
        np.testing.assert_array_equal(np.isfinite(m.data), inside)
    assert json.loads((files / "WFSC.json").read_text())["mask_voxels"] == int(inside.sum())


# ------------------------------------------------------------- records, library checks, imports


@pytest.mark.parametrize("outside", ["100", "nan"])
def test_wfsc_record_reads_back_exactly_what_the_command_wrote(files, outside):
    out = files / "WFSC.mrc"
    assert main(["wfsc", str(files / "h1.mrc"), str(files / "h2.mrc"), "--mask",
                 str(files / "mask.mrc"), "--out", str(out), "--box", "10", "--step", "4",
                 "--cutoff", "0.143", "--outside", outside, "--quiet"]) == 0  # fmt: skip
    rec = json.loads((files / "WFSC.json").read_text())
    assert WFSCRecord.from_json(rec).to_json() == rec
    assert rec["other_cutoff"]["cutoff"] == 0.5 and rec["other_cutoff"]["path"] == "WFSC_05.mrc"


def test_wfsc_record_reads_an_old_record_with_a_few_fields():
    rec = WFSCRecord.from_json({"box_vox": 16, "step_vox": 2, "cutoff": 0.143, "median_A": 5.5})
    assert (rec.box_vox, rec.step_vox, rec.cutoff, rec.summary.median_A) == (16, 2, 0.143, 5.5)
    assert rec.summary.bounds is None and rec.other_cutoff is None and rec.mask is None


def test_cli_constants_are_the_librarys():
    """The command keeps literal copies (its parser must not import NumPy)."""
    assert wfsc_command.DEFAULT_BOX == windowed.DEFAULT_BOX
    assert wfsc_command.DEFAULT_STEP == windowed.DEFAULT_STEP
    assert wfsc_command.MIN_BOX == windowed.MIN_BOX


@pytest.mark.parametrize(
    ("options", "message"),
    [({"box": 3}, "box 3"), ({"step": 0}, "step 0"), ({"cutoffs": (0.5, 1.0)}, "cutoff 1.0")],
)
def test_windowed_fsc_refuses_parameters_it_cannot_compute(maps, options, message):
    h1, h2, mask = maps
    with pytest.raises(InputError, match=message):
        windowed_fsc(h1, h2, mask, (1.0,) * 3, **options)
    with pytest.raises(InputError, match="one shape"):
        windowed_fsc(h1, h2, mask[:, :, :-1], (1.0,) * 3)
