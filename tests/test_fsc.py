"""Gold-standard FSC: closed-form cases, noise statistics, mask correction and the CLI."""

from __future__ import annotations

import json
import warnings

import mrcfile
import numpy as np
import pytest
import scipy.fft as sfft
from _fsc_helpers import half_maps, sphere_mask

from resmap_core.cli import main
from resmap_core.commands.fsc import fsc_record
from resmap_core.fsc import (
    correct_fsc,
    crossing_frequency,
    fsc_curve,
    gold_standard_fsc,
    halfbit_curve,
    randomise_phases_beyond,
    resolution_A,
    soft_mask,
)
from resmap_core.mrc import MapGeometry, write_map
from resmap_core.spectrum import frequency_magnitude, make_shells, rfft_weights

GRIDS = [((40, 40, 40), (1.0, 1.0, 1.0)), ((36, 48, 42), (1.3, 1.0, 1.1))]


def test_fsc_of_map_with_itself_is_one():
    rng = np.random.default_rng(1)
    vol = rng.standard_normal((24, 30, 28))
    curve = fsc_curve(vol, vol, (1.0, 1.2, 0.9))
    np.testing.assert_allclose(curve, 1.0, atol=1e-12)


@pytest.mark.parametrize(("shape", "spacing"), GRIDS)
def test_fsc_of_independent_noise_stays_within_shell_band(shape, spacing):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    curve = fsc_curve(a, b, spacing)
    shells = make_shells(shape, spacing)
    n = shells.sum(np.broadcast_to(rfft_weights(shape), shells.index.shape))
    z = curve[2:] * np.sqrt(n[2:])  # ~ N(0, 1) per shell: N real products, variance 1/N
    assert np.all(np.abs(z) < 4.0)
    assert 0.6 < z.std() < 1.4


@pytest.mark.parametrize(("shape", "spacing"), GRIDS)
def test_fsc_matches_snr_theory_for_shared_band_limited_signal(shape, spacing):
    """Signal with amplitude a(|k|) in both maps + independent unit noise: FSC = SNR/(1 + SNR)."""
    rng = np.random.default_rng(3)
    k = frequency_magnitude(shape, spacing)
    amplitude = 3.0 * np.exp(-((k / 0.15) ** 2))  # physical frequency, Å⁻¹
    white = sfft.rfftn(rng.standard_normal(shape))
    signal = sfft.irfftn(white * amplitude, shape)
    h1 = signal + rng.standard_normal(shape)
    h2 = signal + rng.standard_normal(shape)
    curve = fsc_curve(h1, h2, spacing)
    shells = make_shells(shape, spacing)
    w = np.broadcast_to(rfft_weights(shape), k.shape)
    n = shells.sum(w)
    snr = shells.sum(w * amplitude**2) / n  # signal power / noise power, both per coefficient
    theory = snr / (1.0 + snr)
    assert np.all(np.abs(curve[1:] - theory[1:]) < 4.0 / np.sqrt(n[1:]) + 0.01)


def test_halfbit_curve_has_closed_form_limits():
    t = halfbit_curve(np.array([1.0, 1e12]))
    np.testing.assert_allclose(t, [1.0, 0.2071 / 1.2071], rtol=1e-5)


def test_crossing_is_interpolated_linearly_between_shells():
    freq = np.array([0.0, 0.1, 0.2, 0.3])
    curve = np.array([1.0, 0.9, 0.3, 0.1])
    # 0.5 lies 2/3 of the way from 0.9 (shell 1) to 0.3 (shell 2)
    assert crossing_frequency(freq, curve, 0.5) == pytest.approx(0.1 + 0.1 * 0.4 / 0.6)
    assert resolution_A(freq, curve, 0.05) == pytest.approx(1 / 0.3)  # never crosses: last shell
    assert crossing_frequency(freq, curve, np.array([0.0, 0.5, 0.5, 0.5])) == pytest.approx(
        0.1 + 0.1 * 0.4 / 0.6
    )


def test_soft_mask_has_raised_cosine_edge_in_angstrom():
    inside = np.zeros((1, 1, 30), dtype=bool)
    inside[0, 0, :10] = True
    soft = soft_mask(inside, (1.0, 1.0, 2.0), edge_A=8.0)
    d = (np.arange(30) - 9) * 2.0  # Å from the last inside voxel
    expected = np.where(d <= 0, 1.0, np.where(d < 8.0, 0.5 + 0.5 * np.cos(np.pi * d / 8.0), 0.0))
    np.testing.assert_allclose(soft[0, 0], expected, atol=1e-12)


def test_phase_randomisation_keeps_amplitudes_and_low_shells_and_is_seeded():
    rng = np.random.default_rng(4)
    shape = (20, 20, 20)
    f = sfft.rfftn(rng.standard_normal(shape))
    radius = frequency_magnitude(shape, (1.0,) * 3) * 20
    a = randomise_phases_beyond(f, radius, 5, np.random.default_rng(9))
    b = randomise_phases_beyond(f, radius, 5, np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.abs(a), np.abs(f), rtol=1e-12)
    np.testing.assert_array_equal(a[radius <= 5], f[radius <= 5])
    changed = np.angle(a[radius > 5]) != np.angle(f[radius > 5])
    assert changed.mean() > 0.99


def test_corrected_fsc_follows_chen_formula_two_shells_beyond_randomisation():
    masked = np.array([1.0, 0.9, 0.8, 0.7, 0.6, 0.5])
    rand = np.array([1.0, 0.9, 0.5, 0.3, 0.2, 0.6])
    got = correct_fsc(masked, rand, 1)
    expected = masked.copy()
    expected[3:] = (masked[3:] - rand[3:]) / (1 - rand[3:])
    np.testing.assert_allclose(got, expected)


def test_correction_removes_mask_induced_correlation_of_a_sharp_mask():
    """Noise beyond the signal band correlates through a sharp mask; the correction removes it."""
    shape = (48, 48, 48)
    h1, h2, _ = half_maps(shape, 5, noise=0.3)
    hard = sphere_mask(shape, 0.25).astype(float)
    res = gold_standard_fsc(h1, h2, (1.0,) * 3, hard, seed=1)
    assert res.randomise_shell is not None
    beyond = slice(res.randomise_shell + 6, None)
    n = res.shell_voxels[beyond]
    assert np.all(np.abs(res.corrected[beyond]) < 0.05 + 6 / np.sqrt(n))


def test_gold_standard_fsc_is_deterministic_for_a_seed():
    h1, h2, _ = half_maps((32, 32, 32), 6, noise=1.0)
    m = soft_mask(sphere_mask((32, 32, 32)), (1.0,) * 3, 4.0)
    a = gold_standard_fsc(h1, h2, (1.0,) * 3, m, seed=3, threads=1)
    b = gold_standard_fsc(h1, h2, (1.0,) * 3, m, seed=3, threads=2)
    np.testing.assert_array_equal(a.corrected, b.corrected)
    np.testing.assert_array_equal(a.randomised, b.randomised)


# ------------------------------------------------------------------------------------ CLI

SHAPE = (32, 32, 32)
GEOM = MapGeometry(shape=SHAPE, voxel_size_A=(1.5, 1.5, 1.5))


@pytest.fixture()
def files(tmp_path):
    h1, h2, _ = half_maps(SHAPE, 7, noise=1.0)
    write_map(tmp_path / "h1.mrc", h1, GEOM)
    write_map(tmp_path / "h2.mrc", h2, GEOM)
    write_map(tmp_path / "mask.mrc", sphere_mask(SHAPE).astype(np.float32), GEOM)
    write_map(tmp_path / "small.mrc", h2[:, :, :30], MapGeometry((32, 32, 30), (1.5,) * 3))
    write_map(tmp_path / "coarse.mrc", h2, MapGeometry(SHAPE, (1.6,) * 3))
    bad = h2.astype(np.float32)
    bad[3, 4, 5] = np.nan
    with warnings.catch_warnings(), mrcfile.new(tmp_path / "nan.mrc") as m:
        warnings.simplefilter("ignore")
        m.set_data(bad)
        m.voxel_size = 1.5
    write_map(tmp_path / "empty_mask.mrc", np.zeros(SHAPE, np.float32), GEOM)
    write_map(tmp_path / "full_mask.mrc", np.ones(SHAPE, np.float32), GEOM)
    write_map(
        tmp_path / "grid_mask.mrc",
        np.ones((16,) * 3, np.float32),
        MapGeometry((16,) * 3, (1.5,) * 3),
    )
    (tmp_path / "text.mrc").write_text("not a map\n" * 200)
    raw = (tmp_path / "h2.mrc").read_bytes()
    (tmp_path / "cut.mrc").write_bytes(raw[: len(raw) // 2])
    return tmp_path


def test_fsc_command_writes_curves_and_resolutions(files):
    out = files / "FSC.json"
    code = main(["fsc", str(files / "h1.mrc"), str(files / "h2.mrc"), "--mask",
                 str(files / "mask.mrc"), "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    rec = json.loads(out.read_text())
    n = len(rec["frequency_invA"])
    for key in ("fsc_unmasked", "fsc_masked", "fsc_corrected", "fsc_randomised", "halfbit"):
        assert len(rec[key]) == n
    assert rec["frequency_invA"][1] == pytest.approx(1 / (32 * 1.5))
    assert rec["resolution_0143_A"] == rec["resolutions"]["corrected"]["0.143"]
    assert 3.0 <= rec["resolution_0143_A"] <= rec["resolution_05_A"]
    assert rec["mask"]["source"] == "given"


def test_fsc_command_without_mask_uses_the_automatic_mask(tmp_path):
    h1, h2, _ = half_maps(SHAPE, 8, noise=0.1)
    write_map(tmp_path / "h1.mrc", h1, GEOM)
    write_map(tmp_path / "h2.mrc", h2, GEOM)
    out = tmp_path / "FSC.json"
    assert main(["fsc", str(tmp_path / "h1.mrc"), str(tmp_path / "h2.mrc"), "--out", str(out),
                 "--quiet"]) == 0  # fmt: skip
    rec = json.loads(out.read_text())
    assert rec["mask"]["source"] == "auto" and rec["mask"]["path"] is None
    assert rec["fsc_corrected"] is not None
    assert rec["resolution_0143_A"] == rec["resolutions"]["corrected"]["0.143"]


def test_fsc_record_without_mask_reports_unmasked_only():
    h1, h2, _ = half_maps((24, 24, 24), 9, noise=1.0)
    rec = fsc_record(gold_standard_fsc(h1, h2, (1.0,) * 3))
    assert rec["fsc_masked"] is None and rec["fsc_corrected"] is None
    assert rec["resolutions"]["masked"] is None
    assert rec["resolution_curve"] == "unmasked"
    assert rec["resolution_0143_A"] == rec["resolutions"]["unmasked"]["0.143"]


BAD = [
    (["h1.mrc", "small.mrc"], [], "differ in shape"),
    (["h1.mrc", "coarse.mrc"], [], "voxel size"),
    (["h1.mrc", "nan.mrc"], [], "NaN"),
    (["h1.mrc", "text.mrc"], [], "not a readable MRC"),
    (["h1.mrc", "cut.mrc"], [], "truncated"),
    (["h1.mrc", "h2.mrc"], ["--mask", "empty_mask.mrc"], "empty"),
    (["h1.mrc", "h2.mrc"], ["--mask", "full_mask.mrc"], "whole box"),
    (["h1.mrc", "h2.mrc"], ["--mask", "grid_mask.mrc"], "grid"),
]


@pytest.mark.parametrize(("maps", "extra", "message"), BAD)
@pytest.mark.parametrize("command", ["fsc", "wfsc"])
def test_bad_input_exits_2_with_one_line_and_no_output(
    files, capsys, maps, extra, message, command
):
    out = files / ("OUT.json" if command == "fsc" else "OUT.mrc")
    args = [command, *(str(files / m) for m in maps), "--out", str(out), "--quiet"]
    args += [a if not a.endswith(".mrc") else str(files / a) for a in extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not list(files.glob("OUT*"))
