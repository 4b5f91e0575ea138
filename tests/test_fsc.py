"""Gold-standard FSC: closed-form cases, noise statistics, mask correction, masks as given, the
analytic oracle on three phantoms, crossings and their bounds, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import scipy.fft as sfft
from _fsc_helpers import (
    PHANTOMS,
    analytic_masked_fsc,
    half_maps,
    make_phantom,
    sphere_mask,
    write_phantom,
)

from resmap_core.cli.commands import fsc as fsc_command
from resmap_core.cli.main import main
from resmap_core.errors import InputError
from resmap_core.fsc import masks
from resmap_core.fsc.crossing import (
    Crossing,
    crossing_frequency,
    crossing_text,
    threshold_crossing,
)
from resmap_core.fsc.gold_standard import (
    correct_fsc,
    curves_record,
    fsc_curve,
    gold_standard_fsc,
    halfbit_curve,
    randomise_phases_beyond,
)
from resmap_core.fsc.masks import AUTO_SOFT_EDGE_VOX, soft_mask
from resmap_core.io.mrc import MapGeometry, read_map, write_map
from resmap_core.io.records.fsc import FSCRecord
from resmap_core.localres.prepare import auto_mask
from resmap_core.progress import Progress
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
    assert threshold_crossing(freq, curve, 0.5) == Crossing(pytest.approx(1 / (0.1 + 0.04 / 0.6)))
    assert crossing_frequency(freq, curve, np.array([0.0, 0.5, 0.5, 0.5])) == pytest.approx(
        0.1 + 0.1 * 0.4 / 0.6
    )


def test_a_curve_that_never_crosses_is_a_bound_at_the_last_or_first_shell():
    freq = np.array([0.0, 0.1, 0.2, 0.3])
    curve = np.array([1.0, 0.9, 0.3, 0.1])
    assert threshold_crossing(freq, curve, 0.05) == Crossing(pytest.approx(1 / 0.3), "better_than")
    assert threshold_crossing(freq, curve, 0.95) == Crossing(pytest.approx(1 / 0.1), "worse_than")
    assert crossing_frequency(freq, curve, 0.05) is None  # a bound is not a crossing
    assert crossing_frequency(freq, curve, 0.95) is None
    # NaN shells are skipped (here the top one); no finite value at all: not determined
    nan_top = np.array([1.0, 0.9, 0.8, np.nan])
    assert threshold_crossing(freq, nan_top, 0.5) == Crossing(pytest.approx(5.0), "better_than")
    assert threshold_crossing(freq, np.full(4, np.nan), 0.5) == Crossing(None)


@pytest.mark.parametrize(
    ("crossing", "nyquist", "text"),
    [
        (Crossing(3.914), 3.28, "3.91 Å"),
        (Crossing(3.28125, "better_than"), 3.28125, "better than 3.28 Å (Nyquist)"),
        (Crossing(3.4, "better_than"), 3.28, "better than 3.40 Å (last shell)"),
        (Crossing(3.28, "better_than"), None, "better than 3.28 Å (last shell)"),
        (Crossing(96.0, "worse_than"), 3.28, "worse than 96.00 Å (first shell)"),
        (Crossing(None), 3.28, "not determined"),
    ],
)
def test_crossings_are_written_with_their_bound_in_words(crossing, nyquist, text):
    assert crossing_text(crossing, nyquist) == text


def test_crossing_records_round_trip_and_read_old_bare_numbers():
    for c in (Crossing(3.5), Crossing(3.28, "better_than"), Crossing(90.0, "worse_than")):
        assert Crossing.from_record(json.loads(json.dumps(c.to_record()))) == c
    assert Crossing.from_record(3.9) == Crossing(3.9)  # FSC.json before bounds existed
    for junk in (None, "3.9", True, {"value_A": None, "bound": "better_than"}, float("nan")):
        assert Crossing.from_record(junk) == Crossing(None)
    assert Crossing.from_record({"value_A": 3.0, "bound": "sideways"}) == Crossing(3.0)


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
    assert rec["resolutions"]["corrected"]["0.143"] == {
        "value_A": rec["resolution_0143_A"],
        "bound": rec["resolution_0143_bound"],
    }
    assert rec["resolution_0143_bound"] is None and rec["resolution_05_bound"] is None
    assert 3.0 <= rec["resolution_0143_A"] <= rec["resolution_05_A"]
    assert rec["nyquist_A"] == pytest.approx(3.0)
    assert rec["mask"] == {"source": "given", "path": str(files / "mask.mrc"),
                           "voxels": int(sphere_mask(SHAPE).sum()), "binary": True,
                           "soft_edge_A": None}  # fmt: skip


def test_fsc_command_without_mask_uses_the_automatic_mask(tmp_path):
    h1, h2, _ = half_maps(SHAPE, 8, noise=0.1)
    write_map(tmp_path / "h1.mrc", h1, GEOM)
    write_map(tmp_path / "h2.mrc", h2, GEOM)
    out = tmp_path / "FSC.json"
    assert main(["fsc", str(tmp_path / "h1.mrc"), str(tmp_path / "h2.mrc"), "--out", str(out),
                 "--quiet"]) == 0  # fmt: skip
    rec = json.loads(out.read_text())
    assert rec["mask"]["source"] == "auto" and rec["mask"]["path"] is None
    assert rec["mask"]["soft_edge_A"] == pytest.approx(AUTO_SOFT_EDGE_VOX * 1.5)
    assert rec["fsc_corrected"] is not None
    assert rec["resolution_0143_A"] == rec["resolutions"]["corrected"]["0.143"]["value_A"]


def test_fsc_record_without_mask_reports_unmasked_only():
    h1, h2, _ = half_maps((24, 24, 24), 9, noise=1.0)
    rec = curves_record(gold_standard_fsc(h1, h2, (1.0,) * 3)).to_json()
    assert rec["fsc_masked"] is None and rec["fsc_corrected"] is None
    assert rec["resolutions"]["masked"] is None
    assert rec["resolution_curve"] == "unmasked"
    assert rec["resolution_0143_A"] == rec["resolutions"]["unmasked"]["0.143"]["value_A"]


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


# ------------------------------------------------------------------------- masks as given


def _run_fsc(files, *extra, mask="mask.mrc", quiet=True):
    out = files / "FSC.json"
    args = ["fsc", str(files / "h1.mrc"), str(files / "h2.mrc"), "--out", str(out), *extra]
    args += (["--mask", str(files / mask)] if mask else []) + (["--quiet"] if quiet else [])
    assert main(args) == 0
    return json.loads(out.read_text())


def _masked_curve_with(files, mask: np.ndarray) -> np.ndarray:
    h1 = read_map(files / "h1.mrc").data.astype(np.float64)
    h2 = read_map(files / "h2.mrc").data.astype(np.float64)
    return fsc_curve(h1 * mask, h2 * mask, (1.5,) * 3)


def test_binary_mask_is_used_as_given_without_an_edge(files):
    rec = _run_fsc(files)
    binary = sphere_mask(SHAPE).astype(np.float64)
    np.testing.assert_allclose(rec["fsc_masked"], _masked_curve_with(files, binary), atol=1e-12)
    widened = soft_mask(sphere_mask(SHAPE), (1.5,) * 3, 9.0)  # the edge the old rule added
    assert np.abs(np.array(rec["fsc_masked"]) - _masked_curve_with(files, widened)).max() > 0.02


def test_soft_mask_is_used_as_given(files):
    soft = soft_mask(sphere_mask(SHAPE, 0.25), (1.5,) * 3, 4.5)
    write_map(files / "soft.mrc", soft, GEOM)
    rec = _run_fsc(files, mask="soft.mrc")
    expected = _masked_curve_with(files, soft.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(rec["fsc_masked"], expected, atol=1e-12)
    assert rec["mask"]["binary"] is False and rec["mask"]["soft_edge_A"] is None


def test_soft_edge_is_added_to_a_binary_mask_only_when_asked(files):
    rec = _run_fsc(files, "--soft-edge", "4.5")
    edged = soft_mask(sphere_mask(SHAPE), (1.5,) * 3, 4.5)
    np.testing.assert_allclose(rec["fsc_masked"], _masked_curve_with(files, edged), atol=1e-12)
    assert rec["mask"]["binary"] is True and rec["mask"]["soft_edge_A"] == 4.5
    zero = _run_fsc(files, "--soft-edge", "0")  # 0 Å: no edge, the mask as given
    binary = sphere_mask(SHAPE).astype(np.float64)
    np.testing.assert_allclose(zero["fsc_masked"], _masked_curve_with(files, binary), atol=1e-12)


def test_automatic_mask_gets_a_soft_edge_unless_told_otherwise(files):
    h1 = read_map(files / "h1.mrc").data.astype(np.float64)
    h2 = read_map(files / "h2.mrc").data.astype(np.float64)
    auto = auto_mask(0.5 * (h1 + h2), (1.5,) * 3)
    rec = _run_fsc(files, mask=None)
    edged = soft_mask(auto, (1.5,) * 3, AUTO_SOFT_EDGE_VOX * 1.5)
    np.testing.assert_allclose(rec["fsc_masked"], _masked_curve_with(files, edged), atol=1e-12)
    hard = _run_fsc(files, "--soft-edge", "0", mask=None)
    expected = _masked_curve_with(files, auto.astype(np.float64))
    np.testing.assert_allclose(hard["fsc_masked"], expected, atol=1e-12)
    assert hard["mask"]["source"] == "auto" and hard["mask"]["soft_edge_A"] is None


@pytest.mark.parametrize(
    ("values", "extra", "message"),
    [
        ("range", [], "must lie in [0, 1]"),
        ("soft", ["--soft-edge", "3"], "already soft"),
    ],
)
def test_unusable_masks_exit_2_with_one_line(files, capsys, values, extra, message):
    if values == "range":  # e.g. a 0/2 mask: relion_postprocess refuses it as well
        vol = 2.0 * sphere_mask(SHAPE)
    else:
        vol = soft_mask(sphere_mask(SHAPE, 0.25), (1.5,) * 3, 4.5)
    write_map(files / "odd.mrc", vol.astype(np.float32), GEOM)
    args = ["fsc", str(files / "h1.mrc"), str(files / "h2.mrc"), "--mask", str(files / "odd.mrc"),
            "--out", str(files / "OUT.json"), "--quiet", *extra]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (files / "OUT.json").exists()


@pytest.mark.parametrize("command", ["fsc", "wfsc"])
def test_a_negative_seed_is_refused_by_argparse(files, capsys, command):
    out = files / ("OUT.json" if command == "fsc" else "OUT.mrc")
    argv = [command, str(files / "h1.mrc"), str(files / "h2.mrc"), "--out", str(out)]
    argv += ["--seed", "-1"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and "must be >= 0" in capsys.readouterr().err
    assert not out.exists()


# -------------------------------------------------------------------- the analytic oracle


@pytest.fixture(scope="module", params=sorted(PHANTOMS))
def phantom_fsc(request, tmp_path_factory):
    """(phantom, FSC.json) from the real CLI on the phantom's half maps and binary mask."""
    phantom, seed = make_phantom(request.param)
    folder = tmp_path_factory.mktemp(request.param)
    paths = write_phantom(folder, phantom, seed)
    out = folder / "FSC.json"
    assert main(["fsc", str(paths["h1"]), str(paths["h2"]), "--mask", str(paths["mask"]),
                 "--out", str(out), "--quiet"]) == 0  # fmt: skip
    return phantom, json.loads(out.read_text())


def test_analytic_noise_term_matches_masked_white_noise():
    """The oracle's noise power N_k·σ²·Σm² per shell is that of real masked white noise
    (a soft mask here, where Σm² differs from Σm; four noise realisations)."""
    phantom, _ = make_phantom("anisotropic")
    rng = np.random.default_rng(0)
    shape, spacing = phantom.signal.shape, phantom.spacing_zyx_A
    m = soft_mask(phantom.mask, spacing, 6.0)
    shells = make_shells(shape, spacing)
    w = np.broadcast_to(rfft_weights(shape), shells.index.shape)
    measured = np.zeros(shells.count)
    for _ in range(4):
        f = sfft.rfftn(m * phantom.sigma * rng.standard_normal(shape))
        measured += shells.sum(w * (f.real**2 + f.imag**2)) / 4
    expected = shells.sum(w) * phantom.sigma**2 * np.sum(m * m)
    ratio = measured[5:] / expected[5:]
    assert np.all(np.abs(ratio - 1) < 0.15) and abs(ratio.mean() - 1) < 0.01
    assert np.sum(m) / np.sum(m * m) > 1.03  # Σm instead of Σm² would fail the line above


@pytest.mark.parametrize("curve", ["masked", "corrected"])
@pytest.mark.parametrize("threshold", [0.143, 0.5])
def test_masked_and_corrected_fsc_cross_where_the_analytic_expectation_does(
    phantom_fsc, curve, threshold
):
    """Σ|F[m·s]|² / (Σ|F[m·s]|² + N_k·σ²·Σm²) per shell (tests/_fsc_helpers.py) crosses the
    threshold within one shell of our curves, with the mask used as given (observed: ≤ 0.6
    shell). The rule before, a 6-voxel soft edge added to the same binary mask, fails 9 of these
    12 cases, on every phantom (1.06–1.76 shells; checked once)."""
    phantom, rec = phantom_fsc
    freq, expected = analytic_masked_fsc(phantom)
    np.testing.assert_allclose(rec["frequency_invA"], freq, rtol=1e-12)
    oracle = threshold_crossing(freq, expected, threshold)
    assert oracle.bound is None, "the phantom must cross the threshold below Nyquist"
    ours = rec["resolutions"][curve][str(threshold)]
    assert ours["bound"] is None
    shells_off = (1.0 / ours["value_A"] - 1.0 / oracle.value_A) / freq[1]
    assert abs(shells_off) <= 1.0, f"{phantom.name}: {shells_off:+.2f} shells from the oracle"


# --------------------------------------------------------------------- bounds through the CLI


def test_a_curve_that_never_falls_below_is_reported_as_better_than_nyquist(tmp_path, capsys):
    rng = np.random.default_rng(7)
    signal = rng.standard_normal(SHAPE)  # white: the same SNR (10⁴) in every shell
    h1 = signal + 0.01 * rng.standard_normal(SHAPE)
    h2 = signal + 0.01 * rng.standard_normal(SHAPE)
    for name, vol in (("h1", h1), ("h2", h2), ("mask", sphere_mask(SHAPE).astype(np.float32))):
        write_map(tmp_path / f"{name}.mrc", vol, GEOM)
    rec = _run_fsc(tmp_path, quiet=False)
    nyquist = {"value_A": pytest.approx(3.0), "bound": "better_than"}
    assert rec["resolutions"]["corrected"]["0.143"] == nyquist
    assert rec["resolution_0143_A"] == pytest.approx(3.0)
    assert rec["resolution_0143_bound"] == "better_than"
    assert rec["resolution_05_bound"] == "better_than"
    err = capsys.readouterr().err
    assert "FSC 0.143: better than 3.00 Å (Nyquist), 0.5: better than 3.00 Å (Nyquist)" in err


def test_a_curve_that_starts_below_is_reported_as_worse_than_the_first_shell(tmp_path, capsys):
    h1, _, _ = half_maps(SHAPE, 7, noise=1.0)
    rng = np.random.default_rng(3)
    h2 = -h1 + 0.1 * rng.standard_normal(SHAPE)  # anti-correlated halves: FSC ≈ −1 everywhere
    for name, vol in (("h1", h1), ("h2", h2), ("mask", sphere_mask(SHAPE).astype(np.float32))):
        write_map(tmp_path / f"{name}.mrc", vol, GEOM)
    rec = _run_fsc(tmp_path, quiet=False)
    first = {"value_A": pytest.approx(32 * 1.5), "bound": "worse_than"}  # the box edge, Å
    for curve in ("unmasked", "masked", "corrected"):
        for t in ("0.143", "0.5", "halfbit"):
            assert rec["resolutions"][curve][t] == first
    assert "FSC 0.143: worse than 48.00 Å (first shell)" in capsys.readouterr().err


# ------------------------------------------------------------- records, library checks, imports


def test_fsc_record_reads_back_exactly_what_the_command_wrote(files):
    rec = _run_fsc(files)
    assert FSCRecord.from_json(rec).to_json() == rec
    auto = _run_fsc(files, mask=None)
    assert FSCRecord.from_json(auto).to_json() == auto


def test_fsc_record_reads_the_older_forms_the_report_reads():
    """Bare numbers under ``resolutions`` (a top-shell value is the never-crossed fallback), no
    ``*_bound``, ``nyquist_A`` or ``halfbit``; a mask without ``binary``/``soft_edge_A``."""
    old = {
        "frequency_invA": [0.0, 0.1, 0.2, 0.25],
        "fsc_unmasked": [1.0, 0.9, 0.5, 0.2],
        "resolutions": {"unmasked": {"0.143": 4.0, "0.5": 5.0}, "corrected": {"0.143": 4.2}},
        "resolution_curve": "corrected",
        "resolution_0143_A": 4.0,
        "voxel_size_A": [2.0, 2.0, 2.0],
        "mask": {"source": "given", "path": "m.mrc", "voxels": 10},
    }
    rec = FSCRecord.from_json(old)
    curves = rec.curves
    assert curves.resolutions["unmasked"] == {"0.143": Crossing(4.0, "better_than"),
                                              "0.5": Crossing(5.0)}  # fmt: skip
    assert curves.resolutions["masked"] is None
    assert curves.resolution_curve == "corrected" and curves.resolution_05 == Crossing(None)
    assert curves.nyquist_A == 4.0 and curves.fsc_masked is None and curves.halfbit is None
    assert rec.mask is not None and rec.mask.binary is None and rec.mask.voxels == 10
    with pytest.raises(InputError, match="frequency_invA"):
        FSCRecord.from_json({"resolutions": {}})


def test_cli_constants_are_the_librarys():
    """The command keeps literal copies (its parser must not import NumPy)."""
    assert fsc_command.AUTO_SOFT_EDGE_VOX == masks.AUTO_SOFT_EDGE_VOX
    assert fsc_command.MAX_SOFT_EDGE_A == masks.MAX_SOFT_EDGE_A


def test_fsc_and_wfsc_commands_import_no_numerics_until_they_run():
    code = (
        "import argparse, sys\n"
        "from resmap_core.cli.commands import fsc, wfsc\n"
        "sub = argparse.ArgumentParser().add_subparsers()\n"
        "fsc.register(sub); wfsc.register(sub)\n"
        "heavy = {'numpy', 'scipy', 'mrcfile'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert run.stdout.strip() == "[]"


def test_library_refuses_what_the_command_line_used_to_check(files):
    h1 = read_map(files / "h1.mrc")
    h2 = read_map(files / "h2.mrc")
    for edge in (-1.0, float("nan"), 2 * masks.MAX_SOFT_EDGE_A):
        with pytest.raises(InputError, match="soft edge"):
            masks.given_fsc_mask(str(files / "mask.mrc"), h1, False, edge)
        with pytest.raises(InputError, match="soft edge"):
            masks.automatic_fsc_mask(h1, h2, edge, progress=Progress(quiet=True))
    with pytest.raises(InputError, match="one shape"):
        gold_standard_fsc(h1.data, h2.data[:, :, :30], (1.5,) * 3)
    with pytest.raises(InputError, match="seed"):
        gold_standard_fsc(h1.data, h2.data, (1.5,) * 3, sphere_mask(SHAPE), seed=-1)
