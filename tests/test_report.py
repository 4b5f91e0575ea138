"""Tests of the report: the figure data (against independent oracles), the diagnostics, input
parsing, and the ``resmap report`` / ``resmap report-index`` commands on synthetic datasets."""

from __future__ import annotations

import base64
import gzip
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from _report_helpers import (
    BAND_CONSTANTS,
    SHAPE,
    VOXEL,
    cli_args,
    fsc_model,
    make_band,
    make_density,
    make_local,
    make_mask,
    run_cli,
    write_dataset,
)
from scipy import ndimage, stats

from resmap_core.cli.main import main
from resmap_core.errors import InputError
from resmap_core.fsc.gold_standard import Crossing, crossing_text, threshold_crossing
from resmap_core.io.mrc import MapGeometry, write_map
from resmap_core.report import diagnostics, plots, spectra, statistics
from resmap_core.report.build import emdb_link
from resmap_core.report.load import parse_deposited_fsc
from resmap_core.report.runtimes import provenance_seconds, read_benchmarks

# ----------------------------------------------------------------------------------------------
# Figure data
# ----------------------------------------------------------------------------------------------


def test_resolved_voxels_exclude_outside_value_nan_zero_and_voxels_outside_mask() -> None:
    local = np.array([[[3.0, 100.0, np.nan, 0.0, 5.0, 7.0]]], dtype=np.float32)
    mask = np.array([[[True, True, True, True, True, False]]])
    assert statistics.resolved_voxels(local, mask, 100.0).tolist() == [
        [[True, False, False, False, True, False]]
    ]
    # with outside = nan, 100 Å is a real value
    assert statistics.resolved_voxels(local, mask, float("nan"))[0, 0, 1]


def test_local_histogram_counts_plus_unresolved_equal_mask_voxel_count() -> None:
    mask = make_mask()
    local = make_local(mask)
    ok = statistics.resolved_voxels(local, mask, 100.0)
    vals = local[ok]
    edges = statistics.histogram_edges(*statistics.value_span(vals), bins=17)
    h = statistics.local_histogram(vals, int(mask.sum()), edges)
    assert h["counts"].sum() + h["unresolved"] == int(mask.sum())
    assert h["unresolved"] == int((mask & (local == 100.0)).sum())
    # brute-force oracle for one bin: voxels of exactly 5 Å fall in the bin that contains 5
    b = int(np.searchsorted(edges, 5.0, side="right") - 1)
    in_bin = ((vals >= edges[b]) & (vals < edges[b + 1])).sum()
    assert h["counts"][b] == in_bin


def test_joint_histogram_total_equals_voxels_resolved_in_both() -> None:
    rng = np.random.default_rng(4)
    mask = make_mask()
    a = make_local(mask)
    b = a * np.float32(1.2) + rng.normal(0, 0.2, SHAPE).astype(np.float32)
    b[mask & (rng.random(SHAPE) < 0.1)] = 100.0
    both = statistics.resolved_voxels(a, mask, 100.0) & statistics.resolved_voxels(b, mask, 100.0)
    edges = statistics.histogram_edges(*statistics.value_span(a[both], b[both]), bins=25)
    counts = statistics.joint_histogram(a[both], b[both], edges)
    assert counts.sum() == int(both.sum())
    # marginals equal the 1-D histograms of each map over the same voxels
    assert np.array_equal(counts.sum(axis=1), np.histogram(a[both], bins=edges)[0])


def test_agreement_spearman_equals_scipy_spearmanr_with_ties() -> None:
    rng = np.random.default_rng(5)
    a = rng.choice([3.0, 3.5, 4.0, 5.0, 6.0], size=2000)  # many ties, like ResMap's λ steps
    b = a + rng.normal(0, 0.8, a.size)
    rec = statistics.agreement(a, b)
    assert rec["spearman"] == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    assert rec["median_difference_A"] == pytest.approx(float(np.median(a - b)))
    assert rec["voxels"] == a.size


def test_resolution_stats_match_sorted_order_statistics() -> None:
    vals = np.random.default_rng(6).uniform(2, 9, 1001)
    s = np.sort(vals)
    rec = statistics.resolution_stats(vals, 1100)
    assert rec["median_A"] == pytest.approx(s[500])
    assert rec["q25_A"] == pytest.approx(s[250])
    assert rec["q75_A"] == pytest.approx(s[750])
    assert rec["mean_A"] == pytest.approx(vals.sum() / vals.size)
    assert rec["unresolved_fraction"] == pytest.approx(99 / 1100)


@pytest.mark.parametrize("threshold", [0.143, 0.5])
def test_crossing_resolution_of_logistic_curve_matches_closed_form(threshold: float) -> None:
    f0, w = 0.25, 0.012
    f = np.linspace(0, 0.5, 2001)
    fsc = 1 / (1 + np.exp((f - f0) / w))
    exact = 1 / (f0 + w * np.log(1 / threshold - 1))
    # the report quotes crossings from resmap_core.fsc.gold_standard (no second implementation)
    assert threshold_crossing(f, fsc, threshold).value_A == pytest.approx(exact, rel=1e-4)


def test_crossing_resolution_is_none_when_curve_never_falls_below_threshold() -> None:
    f = np.linspace(0, 0.5, 50)
    # not a measured resolution: a "better than" bound at the last shell
    assert threshold_crossing(f, np.full(50, 0.9), 0.143).bound == "better_than"


def test_central_slices_and_gallery_of_non_cubic_box() -> None:
    vol = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    sl = plots.central_slices(vol)
    nz, ny, nx = SHAPE
    assert np.array_equal(sl["xy"], vol[nz // 2])
    assert np.array_equal(sl["xz"], vol[:, ny // 2, :]) and sl["xz"].shape == (nz, nx)
    assert np.array_equal(sl["yz"], vol[:, :, nx // 2]) and sl["yz"].shape == (nz, ny)
    within = np.zeros(nz, bool)
    within[10:20] = True
    idx = plots.gallery_indices(nz, 4, within)
    assert len(idx) == 4 and all(10 <= i <= 19 for i in idx) and idx == sorted(idx)


def test_radial_power_of_plane_wave_peaks_in_its_shell() -> None:
    n, d, m = 32, 1.5, 5
    x = np.arange(n) * d
    vol = np.broadcast_to(np.cos(2 * np.pi * m * x / (n * d)), (n, n, n)).copy()
    f, p = spectra.radial_power(vol, (d, d, d))
    assert int(np.nanargmax(p)) == m
    assert f[m] == pytest.approx(m / (n * d))
    # all the power is in that shell: Parseval, |F|² summed over ±k = n⁶/2 spread over the shell
    others = np.delete(p, m)
    assert np.nanmax(others) < 1e-9 * p[m]


def test_spectrum_rise_separates_decaying_from_sharpened_spectra() -> None:
    f = np.linspace(0, 0.4, 60)
    assert spectra.spectrum_rise(f, np.exp(-30 * f)) < 1
    assert spectra.spectrum_rise(f, np.exp(+5 * f)) > 1
    assert spectra.band_ratio(f, np.ones(60), (0.05, 0.35), (0.65, 0.95)) == pytest.approx(1.0)


def _blob_box(sigma: float, n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(9)
    z, y, x = np.indices((n, n, n)) - (n - 1) / 2
    return np.exp(-(x * x + y * y + z * z) / (2 * sigma * sigma)) + 0.02 * rng.standard_normal(
        (n, n, n)
    )


def _sphere(radius: float, n: int = 40) -> np.ndarray:
    z, y, x = np.indices((n, n, n)) - (n - 1) / 2
    return x * x + y * y + z * z <= radius * radius


def test_mask_fit_sees_tight_loose_and_fitting_masks() -> None:
    dens = _blob_box(3.0)  # density (above 5 MAD of noise) reaches r ≈ 6.4 voxels
    tight = diagnostics.mask_fit(dens, _sphere(3.0))
    good = diagnostics.mask_fit(dens, _sphere(9.0))
    loose = diagnostics.mask_fit(dens, _sphere(19.0))
    assert tight["edge_fraction"] > 0.9 and tight["outside_fraction"] > 0.5
    assert good["edge_fraction"] < 0.05 and good["outside_fraction"] < 0.05
    assert 1 < good["volume_ratio"] < 10
    assert loose["volume_ratio"] > 10
    # the volume ratio is a plain voxel count ratio
    t = good["threshold"]
    flattened = diagnostics.mask_fit(dens * _sphere(9.0), _sphere(9.0))
    assert flattened["flat_background"] == 1 and flattened["edge_fraction"] is None
    assert good["flat_background"] == 0
    assert good["volume_ratio"] == pytest.approx(
        _sphere(9.0).sum() / ((dens > t) & _sphere(9)).sum()
    )


# ----------------------------------------------------------------------------------------------
# Diagnostics
# ----------------------------------------------------------------------------------------------

_F = np.linspace(0, 0.4, 60)


def _clean() -> dict:
    return dict(
        lowpass={"detected": False, "cutoff_A": None},
        map_spectrum=(_F, np.exp(-30 * _F) + 1e-4),
        noise_spectrum=(_F, 1 + 0.2 * _F),
        prewhitened=False,
        mask_fit_record={"edge_fraction": 0.02, "outside_fraction": 0.01, "volume_ratio": 2.5},
        mask_source="given",
        fsc_curve=(_F, fsc_model(_F, 4.0)),
        unresolved_fraction=0.05,
    )


def test_diagnose_is_silent_on_clean_inputs() -> None:
    assert diagnostics.diagnose(**_clean()) == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"lowpass": {"detected": True, "cutoff_A": 6.0}}, "lowpass"),
        ({"map_spectrum": (_F, np.exp(-30 * _F) + 1e-4 + 1e-3 * np.exp(15 * _F))}, "sharpened"),
        ({"noise_spectrum": (_F, np.exp(-20 * _F))}, "noise_colour"),
        ({"mask_fit_record": {"edge_fraction": 0.6, "outside_fraction": 0.3, "volume_ratio": 1.2}},
         "mask_tight"),
        ({"mask_fit_record": {"edge_fraction": 0.0, "outside_fraction": 0.0, "volume_ratio": 40.0}},
         "mask_loose"),
        ({"fsc_curve": (_F, fsc_model(_F, 4.0, tail=0.1))}, "fsc_tail"),
        ({"fsc_curve": (_F, np.full(_F.size, 0.9))}, "fsc_no_fall"),
        ({"unresolved_fraction": 0.6}, "unresolved"),
        ({"mask_fit_record": {"flat_background": 1}}, "masked_input"),
    ],
)  # fmt: skip
def test_diagnose_flags_each_crafted_problem(change: dict, code: str) -> None:
    args = _clean() | change
    found = diagnostics.diagnose(**args)
    assert [f.code for f in found] == [code]
    assert found[0].text and found[0].level == "warning"


# ----------------------------------------------------------------------------------------------
# Input parsing
# ----------------------------------------------------------------------------------------------


def test_deposited_fsc_xml_is_parsed_sorted_by_frequency(tmp_path: Path) -> None:
    p = tmp_path / "fsc.xml"
    p.write_text(
        "<fsc><coordinate><x>0.2</x><y>0.4</y></coordinate>"
        "<coordinate><x>0.0</x><y>1.0</y></coordinate>"
        "<coordinate><x>0.1</x><y>0.9</y></coordinate></fsc>"
    )
    f, c = parse_deposited_fsc(p)
    assert f.tolist() == [0.0, 0.1, 0.2] and c.tolist() == [1.0, 0.9, 0.4]


def test_deposited_fsc_with_entity_declarations_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "bomb.xml"
    p.write_text(
        '<?xml version="1.0"?><!DOCTYPE fsc [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;">]><fsc><coordinate><x>&b;</x><y>1</y></coordinate></fsc>'
    )
    with pytest.raises(InputError, match="DOCTYPE"):
        parse_deposited_fsc(p)


def test_benchmarks_give_mean_seconds_per_rule(tmp_path: Path) -> None:
    (tmp_path / "synth").mkdir()
    header = "s\th:m:s\tmax_rss\n"
    (tmp_path / "synth" / "fdr.tsv").write_text(header + "2.0\t0:00:02\t10\n4.0\t0:00:04\t10\n")
    (tmp_path / "fsc.tsv").write_text(header + "1.5\t0:00:01\t10\nNA\tNA\tNA\n")
    (tmp_path / "running.tsv").write_text(header)  # a job still running: no row yet
    assert read_benchmarks(tmp_path) == {"fsc": 1.5, "synth/fdr": 3.0}
    assert read_benchmarks(tmp_path / "not-yet") == {}


def test_provenance_seconds_read_both_record_shapes() -> None:
    rec = {
        "rule_seconds": {"fdr": 2.5},
        "benchmarks": {"fsc": {"seconds": 1.0, "max_rss_MB": 3}, "wfsc": {"seconds": None}},
    }
    assert provenance_seconds(rec) == {"fdr": 2.5, "fsc": 1.0}


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("EMD-3488", "EMD-3488"), ("3488", "EMD-3488"), ("emd_11638", "EMD-11638"),
     ('3488" onmouseover="x', None), ("javascript:alert(1)", None), (None, None)],
)  # fmt: skip
def test_emdb_link_is_built_from_digits_only(raw: str | None, shown: str | None) -> None:
    label, url = emdb_link(raw)
    assert label == shown
    if shown:
        assert url == "https://www.ebi.ac.uk/emdb/" + shown


# ----------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    root = tmp_path_factory.mktemp("full")
    paths = write_dataset(
        root / "data", title="Haemoglobin <script>alert('x')</script> & co", with_band=True
    )
    out = root / "reports" / "synth" / "index.html"
    assert run_cli(cli_args(paths, out)) == 0
    return paths, out


def test_report_writes_page_scripts_and_summary(full_report: tuple[dict, Path]) -> None:
    paths, out = full_report
    folder = out.parent
    html = out.read_text(encoding="utf-8")
    for section in ("header", "summary", "view3d", "fsc", "slices", "browser", "histograms",
                    "wavelengths", "diagnostics", "provenance"):  # fmt: skip
        assert f'id="{section}"' in html
    assert html.count('src="data:image/png;base64,') == 9  # 8 figures, the key twice
    cxc = (folder / "synth_resmap.cxc").read_text()
    assert 'open "../../data/map.mrc" format mrc' in cxc
    assert 'open "../../data/LOCAL.mrc" format mrc' in cxc
    assert re.search(
        r"color sample #1 map #2 palette ([\d.]+,#[0-9a-f]{6}:){6}[\d.]+,#[0-9a-f]{6}", cxc
    )
    assert 'open "../../data/WFSC.mrc"' in (folder / "synth_wfsc.cxc").read_text()
    summary = json.loads((folder / "summary.json").read_text())
    mask = make_mask()
    local = make_local(mask)
    vals = local[statistics.resolved_voxels(local, mask, 100.0)]
    assert summary["resmap_median_A"] == pytest.approx(float(np.median(vals)))
    assert summary["unresolved_fraction"] == pytest.approx(1 - vals.size / mask.sum())
    assert summary["fsc_0143_A"] == 3.9 and summary["emdb_id"] == "EMD-1234"
    assert summary["warnings"] == []


def test_report_escapes_input_text_and_references_nothing_remote(
    full_report: tuple[dict, Path],
) -> None:
    html = full_report[1].read_text(encoding="utf-8")
    # only the page's own scripts: the scene data, Mol* from the folder beside, the page script
    assert re.findall(r"<script[^>]*>", html.lower()) == [
        '<script type="application/json" id="scene-data">',
        '<script src="molstar/molstar.js">',
        "<script>",
    ]
    assert "Haemoglobin &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co" in html
    assert 'src="http' not in html and "@import" not in html
    assert re.findall(r"<link[^>]*>", html) == [
        '<link rel="stylesheet" href="molstar/molstar.css">'
    ]
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert all(h.startswith("#") or h in ("https://www.ebi.ac.uk/emdb/EMD-1234",
                                          "molstar/molstar.css") for h in hrefs)  # fmt: skip
    assert "default-src 'none'" in html  # the page's policy refuses the network


def test_report_is_byte_identical_when_rebuilt(full_report: tuple[dict, Path]) -> None:
    paths, out = full_report
    before = {p: p.read_bytes() for p in out.parent.rglob("*") if p.is_file()}
    assert run_cli(cli_args(paths, out)) == 0
    after = {p: p.read_bytes() for p in out.parent.rglob("*") if p.is_file()}
    assert before == after


def test_single_map_report_builds_and_says_what_is_absent(tmp_path: Path) -> None:
    paths = write_dataset(tmp_path / "d", with_fsc=False, with_wfsc=False, with_deposited=False)
    rec = json.loads((tmp_path / "d" / "LOCAL.json").read_text())
    rec["prewhitening"] = None
    (tmp_path / "d" / "LOCAL.json").write_text(json.dumps(rec))
    out = tmp_path / "r" / "index.html"
    assert run_cli(cli_args(paths, out)) == 0
    html = out.read_text(encoding="utf-8")
    assert "No gold-standard FSC (single-map mode has no half maps)." in html
    assert "No windowed-FSC map (single-map mode has no half maps)" in html
    assert "No deposited EMDB FSC curve." in html
    assert "No pre-whitening was applied" in html
    assert "No FSC curve" in html
    assert (
        "No windowed-FSC local resolution map was given"
        in (tmp_path / "r" / "synth_wfsc.cxc").read_text()
    )
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["spearman"] is None and summary["band_median_A"] is None
    assert "No band-energy map (the second estimator, docs/band-energy.md)." in html
    assert 'id="band-about"' not in html and "Band energy" not in html
    assert not (tmp_path / "r" / "synth_band.cxc").exists()
    assert "No windowed-FSC or band-energy map: no voxel-wise comparison." in html


def test_report_without_record_or_mask_still_builds(tmp_path: Path) -> None:
    paths = write_dataset(tmp_path / "d", with_json=False, with_deposited=False)
    del paths["mask"]
    out = tmp_path / "r" / "index.html"
    assert run_cli(cli_args(paths, out)) == 0
    html = out.read_text(encoding="utf-8")
    assert "No ResMap record (LOCAL.json)" in html
    assert "No mask was given" in html


def _table(html: str, table_id: str) -> list[list[str]]:
    """The cells of the table ``table_id`` as text, row by row (tags dropped, spaces folded)."""
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert table is not None, table_id
    rows = re.findall(r"<tr>(.*?)</tr>", table[1], re.S)
    cells = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S) for row in rows]
    return [[" ".join(re.sub(r"<[^>]+>", "", c).split()) for c in row] for row in cells]


def test_band_energy_is_a_fourth_answer_named_with_its_constants(
    full_report: tuple[dict, Path],
) -> None:
    paths, out = full_report
    html = out.read_text(encoding="utf-8")
    mask = make_mask()
    local = make_local(mask)
    band = make_band(local, mask)
    values = band[statistics.resolved_voxels(band, mask, 100.0)]
    width, window = BAND_CONSTANTS["band_width"], BAND_CONSTANTS["band_window"]
    label = f"Band energy (shell sd {width:g}/λ, window sd {window:g} λ)"  # the record's
    rows = _table(html, "local-resolution")
    assert [r[0] for r in rows[1:]] == ["ResMap", "windowed FSC", label]
    median, q25, q75, mean, unresolved = rows[3][1:]
    assert median == f"{np.median(values):.2f} Å" and mean == f"{values.mean():.2f} Å"
    quartiles = [f"{v:.2f} Å" for v in np.percentile(values, [25, 75])]
    assert [q25, q75] == quartiles
    assert unresolved == f"{100 * (1 - values.size / mask.sum()):.1f} %"
    about = re.search(r'<p class="caption" id="band-about">(.*?)</p>', html, re.S)
    assert about and label in " ".join(about[1].split()) and "docs/band-energy.md" in about[1]
    pairs = [r[0] for r in _table(html, "agreement")[1:]]
    assert pairs == ["ResMap vs windowed FSC", "ResMap vs Band energy",
                     "windowed FSC vs Band energy"]  # fmt: skip
    summary = json.loads((out.parent / "summary.json").read_text())
    assert summary["band_median_A"] == pytest.approx(float(np.median(values)))
    assert summary["band_unresolved_fraction"] == pytest.approx(1 - values.size / mask.sum())
    # ResMap vs windowed FSC stays the Spearman of the index; the band's shows in the table
    assert summary["spearman"] is not None
    assert "band.band_width" in html and "band-energy map" in html  # provenance rows


def test_band_agreement_and_histograms_use_voxels_resolved_in_both(
    full_report: tuple[dict, Path],
) -> None:
    from resmap_core.progress import Progress
    from resmap_core.report.build import build_context
    from resmap_core.report.load import ReportInputs, load

    paths, out = full_report
    inputs = ReportInputs(name="synth", out=out, **paths)
    context = build_context(inputs, load(inputs), Progress(True))
    mask = make_mask()
    local = make_local(mask)
    band = make_band(local, mask)
    both = statistics.resolved_voxels(local, mask, 100.0) & statistics.resolved_voxels(
        band, mask, 100.0
    )
    rec = next(a for a in context["agreements"] if a["keys"] == ("resmap", "band"))
    assert rec["voxels"] == int(both.sum())
    expected = stats.spearmanr(local[both], band[both]).statistic
    assert rec["spearman"] == pytest.approx(expected, abs=1e-12)
    assert rec["median_difference_A"] == pytest.approx(float(np.median(local[both] - band[both])))
    # one colour scale for all four answers: it reaches the band's finest value
    assert context["scale"].lo_A <= float(band[both].min())
    assert context["band_constants"] == "shell sd 0.2/λ, window sd 0.5 λ"


@pytest.mark.parametrize(
    ("record", "named"),
    [
        (None, "no record BAND.json beside the band-energy map"),
        ({"estimator": {"name": "resmap", "kernel": "paper"}}, "not band energy"),
        ({"median_A": 5.0}, "the estimator 'resmap', not band energy"),  # written before it
    ],
)
def test_a_band_map_without_its_band_record_is_refused_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], record: dict | None, named: str
) -> None:
    paths = write_dataset(tmp_path / "d", with_band=True, with_deposited=False)
    side = tmp_path / "d" / "BAND.json"
    if record is None:
        side.unlink()
    else:
        side.write_text(json.dumps(record))
    out = tmp_path / "r" / "index.html"
    assert run_cli(cli_args(paths, out)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("resmap report: error:") and "BAND" in err and "\n" not in err
    assert named in err and not out.exists()


@pytest.fixture(scope="module")
def correlated_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of half maps that still correlate beyond their FSC resolution, without a
    deposited FSC curve."""
    root = tmp_path_factory.mktemp("correlated")
    paths = write_dataset(root / "d", fsc_tail=0.1, with_deposited=False)
    out = root / "r" / "synth" / "index.html"
    assert run_cli(cli_args(paths, out)) == 0
    return out


def test_correlated_half_maps_are_flagged_in_the_report(correlated_report: Path) -> None:
    out = correlated_report
    assert 'data-code="fsc_tail"' in out.read_text(encoding="utf-8")
    assert json.loads((out.parent / "summary.json").read_text())["warnings"] == ["fsc_tail"]


def test_map_on_another_grid_is_refused_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_dataset(tmp_path / "d", with_deposited=False)
    geom = MapGeometry(shape=(10, 10, 10), voxel_size_A=(1.2, 1.2, 1.2))
    write_map(paths["wfsc"], np.ones((10, 10, 10), np.float32), geom)
    out = tmp_path / "r" / "index.html"
    assert run_cli(cli_args(paths, out)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("resmap report: error:") and "WFSC.mrc" in err and "\n" not in err
    assert not out.exists()


def test_map_header_without_voxel_size_takes_the_local_maps(tmp_path: Path) -> None:
    import mrcfile

    paths = write_dataset(tmp_path / "d", with_deposited=False)
    with mrcfile.open(paths["map"], mode="r+") as mrc:
        mrc.header.cella = (0.0, 0.0, 0.0)  # no voxel size in the header
    out = tmp_path / "r" / "index.html"
    assert run_cli(cli_args(paths, out)) == 0
    assert json.loads((out.parent / "summary.json").read_text())["warnings"] == []


def test_importing_the_report_loads_neither_matplotlib_nor_jinja2() -> None:
    code = (
        "import sys, resmap_core.report, resmap_core.cli.commands.report\n"
        "print(sorted({'matplotlib', 'jinja2'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_report_index_links_every_dataset_and_escapes_titles(
    full_report: tuple[dict, Path], tmp_path: Path
) -> None:
    _, out = full_report
    other = write_dataset(tmp_path / "d2", title="Second", with_deposited=False)
    out2 = tmp_path / "reports" / "second" / "index.html"
    assert run_cli(cli_args(other, out2, name="second")) == 0
    index = tmp_path / "reports" / "index.html"
    assert run_cli(["report-index", "--out", str(index), "--quiet", str(out.parent),
                    str(out2.parent / "summary.json")]) == 0  # fmt: skip
    html = index.read_text(encoding="utf-8")
    assert 'href="./second/index.html"' in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert len(hrefs) == 2 and all(h.endswith("/index.html") for h in hrefs)
    assert "<script" not in html.lower() and "&lt;script&gt;" in html


def test_figures_are_byte_identical_between_calls() -> None:
    f = np.linspace(0, 0.4, 40)
    a = plots.plot_fsc([("corrected", f, fsc_model(f, 4.0))], None)
    b = plots.plot_fsc([("corrected", f, fsc_model(f, 4.0))], None)
    assert a == b and a[:8] == b"\x89PNG\r\n\x1a\n" and b"Software" not in a


def test_density_helper_gives_no_warnings_with_its_mask() -> None:
    # the synthetic dataset used above is "clean": its mask neither cuts nor drowns the density
    rec = diagnostics.mask_fit(make_density(), make_mask())
    assert rec["edge_fraction"] <= diagnostics.MASK_EDGE_FRACTION
    assert rec["volume_ratio"] <= diagnostics.MASK_LOOSE_RATIO


def test_local_map_with_nan_outside_gives_the_same_statistics(tmp_path: Path) -> None:
    paths = write_dataset(tmp_path / "d", with_deposited=False)
    out100 = tmp_path / "r100" / "index.html"
    assert run_cli(cli_args(paths, out100)) == 0
    mask = make_mask()
    local = make_local(mask)
    local[local == 100.0] = np.nan
    geom = MapGeometry(shape=SHAPE, voxel_size_A=(1.2, 1.2, 1.2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mrcfile notes the NaNs we mean to write
        write_map(paths["local"], local, geom)
    rec = json.loads((tmp_path / "d" / "LOCAL.json").read_text())
    rec["outside_value"] = float("nan")
    (tmp_path / "d" / "LOCAL.json").write_text(json.dumps(rec))
    outnan = tmp_path / "rnan" / "index.html"
    assert run_cli(cli_args(paths, outnan)) == 0
    a = json.loads((out100.parent / "summary.json").read_text())
    b = json.loads((outnan.parent / "summary.json").read_text())
    assert a["resmap_median_A"] == b["resmap_median_A"]
    assert a["unresolved_fraction"] == b["unresolved_fraction"]
    assert a["spearman"] == b["spearman"]


# ----------------------------------------------------------------------------------------------
# FSC bounds: a curve that never crosses a threshold is printed as a bound, in words
# ----------------------------------------------------------------------------------------------


def _fsc_from_the_cli(folder: Path, anti_correlated: bool) -> Path:
    """FSC.json from the real ``resmap fsc`` on half maps of the report grid.

    A white signal at SNR 10⁴ keeps every FSC above both thresholds up to Nyquist (2.4 Å);
    anti-correlated halves put every FSC near −1, below both thresholds from the first shell
    (52.8 Å, the longest box edge).
    """
    rng = np.random.default_rng(11)
    signal = rng.standard_normal(SHAPE)
    geom = MapGeometry(shape=SHAPE, voxel_size_A=VOXEL)
    second = -signal if anti_correlated else signal
    for name, vol in (("h1", signal), ("h2", second), ("fmask", make_mask().astype(np.float32))):
        noisy = vol if name == "fmask" else vol + 0.01 * rng.standard_normal(SHAPE)
        write_map(folder / f"{name}.mrc", noisy, geom)
    out = folder / "FSC.json"
    assert main(["fsc", str(folder / "h1.mrc"), str(folder / "h2.mrc"), "--mask",
                 str(folder / "fmask.mrc"), "--out", str(out), "--quiet"]) == 0  # fmt: skip
    return out


def _bare_numbers(html: str, number: str, words: str) -> list[str]:
    """Occurrences of ``number`` (e.g. "2.40 Å") in the page not preceded by ``words``."""
    return [m.group(0) for m in re.finditer(rf"(.{{0,30}}){re.escape(number)}", html)
            if not m.group(1).endswith(words)]  # fmt: skip


@pytest.mark.parametrize(
    ("anti_correlated", "bound"), [(False, "better_than"), (True, "worse_than")]
)
def test_fsc_bounds_from_the_real_cli_are_printed_as_bounds_everywhere(
    tmp_path: Path, anti_correlated: bool, bound: str
) -> None:
    paths = write_dataset(tmp_path / "d", with_deposited=False)
    paths["fsc"] = _fsc_from_the_cli(tmp_path / "d", anti_correlated)
    rec = json.loads(paths["fsc"].read_text())
    for t in ("0.143", "0.5"):
        assert rec["resolutions"]["corrected"][t]["bound"] == bound
    value = rec["resolutions"]["corrected"]["0.143"]["value_A"]
    number = f"{value:.2f} Å"  # the top shell (≈ Nyquist, 2.4 Å) or the first (52.8 Å)
    words = "better than " if bound == "better_than" else "worse than "
    text = crossing_text(Crossing(value, bound), rec["nyquist_A"])  # type: ignore[arg-type]
    assert text.startswith(words + number + " (")
    out = tmp_path / "r" / "synth" / "index.html"
    assert run_cli(cli_args(paths, out)) == 0
    html = out.read_text(encoding="utf-8")
    headline = re.search(r'<p class="headline" id="headline">(.*?)</p>', html, re.S)
    assert headline and f"<strong>{text}</strong> at FSC 0.143; {text} at FSC 0.5" in headline[1]
    row = re.search(r'<tr><td class="l">corrected</td>(.*?)</tr>', html)
    assert row and row[1] == f"<td>{text}</td><td>{text}</td>"
    alt = re.search(r'<img class="fig" alt="FSC curves: ([^"]*)"', html)
    assert alt and f"corrected FSC 0.143: {text}; corrected FSC 0.5: {text}" in alt[1]
    assert _bare_numbers(html, number, words) == []
    summary = json.loads((out.parent / "summary.json").read_text())
    assert summary["fsc_curve"] == "corrected"
    assert summary["fsc_0143_bound"] == bound and summary["fsc_05_bound"] == bound
    assert summary["fsc_0143_A"] == pytest.approx(value)
    index = tmp_path / "r" / "index.html"
    assert run_cli(["report-index", "--out", str(index), "--quiet", str(out.parent)]) == 0
    assert f"<td>{text}</td>" in index.read_text(encoding="utf-8")


def test_old_fsc_records_still_read_and_a_nyquist_fallback_reads_as_a_bound(
    tmp_path: Path,
) -> None:
    paths = write_dataset(tmp_path / "d", with_deposited=False, fsc_bound=True, legacy_fsc=True)
    out = tmp_path / "r" / "index.html"
    assert run_cli(cli_args(paths, out)) == 0
    html = out.read_text(encoding="utf-8")
    assert '<tr><td class="l">corrected</td><td>better than 2.40 Å (Nyquist)</td>' in html
    assert '<tr><td class="l">masked</td><td>3.80 Å</td><td>4.00 Å</td></tr>' in html
    assert _bare_numbers(html, "2.40 Å", "better than ") == []
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["fsc_0143_bound"] == "better_than" and summary["fsc_05_A"] == 4.1


def test_windowed_fsc_bounds_are_said_in_words(tmp_path: Path) -> None:
    paths = write_dataset(tmp_path / "d", with_deposited=False)
    rec = json.loads((tmp_path / "d" / "WFSC.json").read_text())
    rec["bounds"] = {
        "better_than": {"value_A": 2.4, "fraction": 0.125},
        "worse_than": {"value_A": 19.2, "fraction": 0.0},
    }
    (tmp_path / "d" / "WFSC.json").write_text(json.dumps(rec))
    out = tmp_path / "r" / "index.html"
    assert run_cli(cli_args(paths, out)) == 0
    html = out.read_text(encoding="utf-8")
    assert (
        "Windowed FSC: 12.5 % of the mask is better than 2.40 Å (Nyquist): the FSC never fell "
        "below 0.143 in its box; the map holds 2.40 Å there." in html
    )
    assert "worse than 19.20" not in html  # no voxel at that bound: nothing said


def test_fsc_summary_reads_legacy_bare_numbers_through_the_fsc_record() -> None:
    """FSC.json is read by FSCRecord.from_json: an old bare number at the top shell is a bound."""
    from resmap_core.io.records.fsc import FSCRecord
    from resmap_core.report.crossings import fsc_summary

    f = [0.0, 0.1, 0.2, 0.25]
    legacy = {
        "frequency_invA": f,
        "fsc_unmasked": [1.0, 0.9, 0.6, 0.4],
        "resolutions": {"unmasked": {"0.143": 4.0, "0.5": 4.5}},
        "voxel_size_A": [2.0, 2.0, 2.0],
    }
    summary = fsc_summary(FSCRecord.from_json(legacy))
    head = summary.headline()
    assert summary.main == "unmasked" and summary.nyquist_A == 4.0
    assert head is not None and head["0.143"] == Crossing(4.0, "better_than")
    assert head["0.5"] == Crossing(4.5)
    assert [row["text"]["0.143"] for row in summary.rows][1:] == ["—", "—"]
    assert [label for label, *_ in summary.curves] == ["unmasked"]


def test_wfsc_bounds_come_from_the_wfsc_record_and_tolerate_malformed_entries() -> None:
    """WFSC.json is read by WFSCRecord.from_json; a malformed ``bounds`` entry gives no note."""
    from resmap_core.io.records.wfsc import WFSCRecord
    from resmap_core.report.crossings import wfsc_bound_notes, wfsc_crossing

    record = WFSCRecord.from_json(
        {"cutoff": 0.143, "bounds": {"better_than": {"value_A": 2.4, "fraction": 0.25}}}
    )
    notes = wfsc_bound_notes(record, 2.4)
    assert len(notes) == 1 and "25.0 %" in notes[0] and "0.143" in notes[0]
    assert wfsc_crossing(2.4, record) == Crossing(2.4, "better_than")
    assert wfsc_crossing(5.0, record) == Crossing(5.0)
    assert wfsc_bound_notes(WFSCRecord.from_json({"bounds": {"worse_than": 3}}), 2.4) == []
    assert wfsc_bound_notes(None, 2.4) == []


# ----------------------------------------------------------------------------------------------
# The 3D view and slice browser: embedded maps, the viewer files, the model
# ----------------------------------------------------------------------------------------------


def _unpacked(b64: str, tmp_path: Path, name: str) -> tuple[np.ndarray, object]:
    """An embedded MRC (gzip + base64) read back with mrcfile: (data [z, y, x], header)."""
    import mrcfile

    path = tmp_path / name
    path.write_bytes(gzip.decompress(base64.b64decode(b64)))
    with mrcfile.open(path, permissive=True) as mrc:
        return np.array(mrc.data), mrc.header.copy()


def test_block_mean_of_finite_voxels_equals_a_loop_oracle() -> None:
    from resmap_core.report.volumes import block_mean, display_grid

    rng = np.random.default_rng(2)
    vol = rng.normal(size=(9, 8, 7))
    vol[rng.random(vol.shape) < 0.3] = np.nan
    vol[0:2, 0:2, 0:2] = np.nan  # a block with no finite voxel
    geom = MapGeometry(shape=vol.shape, voxel_size_A=(1.0, 1.5, 2.0), start_vox=(4, 0, -2))
    grid = display_grid(geom, max_edge=4)  # longest edge 9 -> blocks of 3 voxels
    assert grid.factor == 3 and grid.geometry.shape == (3, 2, 2)
    out = block_mean(vol, grid)
    for z, y, x in np.ndindex(out.shape):
        block = vol[3 * z : 3 * z + 3, 3 * y : 3 * y + 3, 3 * x : 3 * x + 3]
        finite = block[np.isfinite(block)]
        expected = finite.mean() if finite.size else np.nan
        np.testing.assert_allclose(out[z, y, x], expected, rtol=1e-6, equal_nan=True)
    # display voxel 0 sits at the centre of the first block: start x voxel + one voxel
    assert grid.geometry.voxel_size_A == (3.0, 4.5, 6.0)
    np.testing.assert_allclose(grid.geometry.origin_A, (4 * 1.0 + 1.0, 0 + 1.5, -2 * 2.0 + 2.0))


def test_reach_one_voxel_fills_the_rim_and_keeps_deeper_gaps() -> None:
    from resmap_core.report.volumes import reach_one_voxel

    vol = np.full((9, 9, 9), 5.0, np.float32)
    vol[4, 4, 4] = np.nan  # one unresolved voxel among resolved ones
    vol[:, :, 6:] = np.nan  # a region three voxels deep with no resolution
    vol[0, 0, 6] = 9.0
    out = reach_one_voxel(vol)
    assert out[4, 4, 4] == 5.0  # filled from a neighbour
    assert np.isfinite(out[:, :, 6]).all()  # the first layer of the gap takes its neighbour's
    assert out[0, 0, 7] == 9.0 and out[5, 5, 6] == 5.0
    assert np.isnan(out[4, 4, 7:]).all()  # further in, still no resolution


def test_embedded_maps_read_back_as_mrc_files(tmp_path: Path) -> None:
    from resmap_core.report.volumes import density_volume, display_grid, layer_volume

    density = make_density()
    geom = MapGeometry(shape=SHAPE, voxel_size_A=VOXEL, origin_A=(3.0, -2.0, 1.0))
    grid = display_grid(geom)
    rec = density_volume(density, grid)
    data, header = _unpacked(rec["mrc"], tmp_path, "density.mrc")
    assert data.dtype == np.int16 and data.shape == SHAPE and int(header.mode) == 1
    np.testing.assert_allclose(data * rec["scale"], density, atol=rec["scale"] / 2 + 1e-9)
    assert (float(header.origin.x), float(header.origin.y)) == (3.0, -2.0)
    assert float(header.cella.x) == pytest.approx(SHAPE[2] * VOXEL[0])
    assert rec["offset"] == 1024 + int(header.nsymbt)
    mask = make_mask()
    local = make_local(mask)
    ok = statistics.resolved_voxels(local, mask, 100.0)
    layer = layer_volume("ResMap", local, ok, grid)
    values, _ = _unpacked(layer["mrc"], tmp_path, "local.mrc")
    assert values.dtype == np.float32
    assert np.array_equal(values[ok], local[ok])  # resolved voxels keep their value
    far = ndimage.binary_dilation(ok, np.ones((3, 3, 3), bool))
    assert np.isnan(values[~far]).all()  # more than a voxel from any resolution: none
    own = gzip.decompress(base64.b64decode(layer["resolved"]))  # the slice browser's flags
    assert np.array_equal(np.frombuffer(own, np.uint8).reshape(SHAPE), ok.astype(np.uint8))


def test_colour_scale_covers_the_data_and_counts_what_lies_above() -> None:
    rng = np.random.default_rng(8)
    a = rng.choice(np.arange(3.7, 17.0, 1.0), size=5000, p=0.5 ** np.arange(14) / 1.99987793)
    b = np.concatenate([rng.uniform(3.3, 9.0, 2950), rng.uniform(18.0, 20.5, 50)])
    scale = statistics.colour_scale(a, b)
    allv = np.concatenate([a, b])
    assert scale.lo_A == 3.0 and scale.lo_A <= allv.min()  # the finest value is on the scale
    assert scale.hi_A == np.ceil(np.percentile(allv, 99) * 2) / 2
    assert scale.above == pytest.approx(float((allv > scale.hi_A).mean()))
    assert scale.extend == "max"
    whole = statistics.colour_scale(np.array([4.0, 4.2, 5.0, 6.1]), top_percentile=100)
    assert whole.range_A == (4.0, 6.5) and whole.extend == "neither"


def test_grey_limits_are_percentiles_inside_the_padded_mask() -> None:
    density = make_density()
    density[:, :, :3] = 50.0  # a bright slab far from the particle must not set the contrast
    mask = make_mask(8.0)
    region = statistics.padded_region(mask, (1.2, 1.2, 1.2), pad_A=6.0)
    assert region.sum() > mask.sum() and not region[:, :, :3].any()
    lo, hi = statistics.grey_limits(density, region)
    assert (lo, hi) == pytest.approx(tuple(np.percentile(density[region], [1.0, 99.5])))
    assert hi < 50.0


def test_viewer_files_are_copied_once_beside_the_page_and_never_inlined(
    full_report: tuple[dict, Path],
) -> None:
    from resmap_core.report.viewer import ASSETS, FILES, install_viewer

    paths, out = full_report
    folder = out.parent / "molstar"
    for name in FILES:
        assert (folder / name).read_bytes() == (ASSETS / name).read_bytes()
    html = out.read_text(encoding="utf-8")
    assert len(html) < 2_000_000 and "Mol* contributors" not in html  # not inlined
    stamp = (folder / "molstar.js").stat().st_mtime_ns
    assert install_viewer(out.parent) == "molstar"
    assert (folder / "molstar.js").stat().st_mtime_ns == stamp  # identical: not rewritten


def test_fitted_model_travels_in_the_page_as_its_own_text(tmp_path: Path) -> None:
    from resmap_core.report.build import model_payload
    from resmap_core.report.load import read_model_file

    model = Path(__file__).parent / "data" / "emd_3488" / "5ni1_updated.cif.gz"
    payload = model_payload(read_model_file(model))
    assert payload is not None and payload["format"] == "mmcif" and payload["name"] == model.name
    packed = base64.b64decode(payload["data"])
    assert gzip.decompress(packed) == gzip.decompress(model.read_bytes())
    pdb = tmp_path / "m.pdb"
    pdb.write_text("ATOM      1  CA  ALA A   1       1.000   2.000   3.000  1.00 20.00\n")
    assert read_model_file(pdb).format == "pdb" and model_payload(None) is None
    with pytest.raises(InputError, match="not a model file name"):
        read_model_file(tmp_path / "model.txt")
    with pytest.raises(InputError, match="no such file"):
        read_model_file(tmp_path / "absent.cif")


def _scene(out: Path) -> dict:
    """The JSON the page's scripts read (#scene-data)."""
    html = out.read_text(encoding="utf-8")
    raw = re.search(r'<script type="application/json" id="scene-data">(.*?)</script>', html, re.S)
    assert raw is not None
    return json.loads(raw[1])


def test_scene_carries_the_key_and_the_maps_on_the_display_grid(
    full_report: tuple[dict, Path],
) -> None:
    scene = _scene(full_report[1])
    assert scene["grid"]["shape_zyx"] == list(SHAPE) and scene["grid"]["factor"] == 1
    assert [layer["name"] for layer in scene["layers"]] == ["ResMap", "windowed FSC", "Band energy"]
    assert len(scene["key"]["stops"]) == 32 and scene["key"]["stops"][0] == "#30123b"
    lo, hi = scene["key"]["range_A"]
    assert lo <= 3.0 < 8.0 <= hi  # the ResMap values (3-8 Å) lie on the key
    span = scene["density"]["level_span"]
    assert span[0] <= scene["density"]["level"] <= span[1]
    assert scene["model"] is None


def test_parameter_values_read_as_numbers_people_read() -> None:
    from resmap_core.report.records import readable

    assert readable("100") == readable(100.0) == "100"  # config text and the record's number
    assert readable(26.249998092651367) == "26.25"
    assert readable([3.7, 4.7]) == "3.7, 4.7" and readable(None) == "none"
    assert readable(True) == "true" and readable("paper") == "paper"
    assert readable("6e71b7f41659161a2c9b1d9e906706b3") == "6e71b7f41659161a2c9b1d9e906706b3"


def test_versions_fold_to_one_row_per_package_that_matters() -> None:
    from resmap_core.report.provenance import fold_versions

    recorded = [("report", "numpy", "2.4"), ("workflow", "numpy", "2.4"), ("FSC", "numpy", "2.3"),
                ("report", "resmap_core", "0.1.0"), ("workflow", "pulp", "3.0"),
                ("workflow", "yte", "1.5")]  # fmt: skip
    rows, others = fold_versions(recorded)
    assert rows == [
        {"package": "resmap_core", "versions": "0.1.0 (report)"},
        {"package": "numpy", "versions": "2.4 (report, workflow); 2.3 (FSC)"},
    ]
    assert others == ["pulp", "yte"]


def test_run_times_are_sorted_by_the_numbers_in_rule_names() -> None:
    from resmap_core.report.provenance import natural_key

    names = ["pass_lambda_10.7A", "pass_lambda_3.7A", "fdr", "pass_lambda_4.7A", "wfsc"]
    assert sorted(names, key=natural_key) == [
        "fdr", "pass_lambda_3.7A", "pass_lambda_4.7A", "pass_lambda_10.7A", "wfsc"]  # fmt: skip


def test_resolution_axis_ticks_are_round_and_apart() -> None:
    ticks = plots.resolution_ticks(0.305)
    assert ticks == [3.5, 4.0, 5.0, 6.0, 8.0, 10.0, 20.0, 50.0]
    f = 1 / np.array(ticks)
    assert f.max() <= 0.305 and np.diff(np.sort(f)).min() >= 0.06 * 0.305


def test_chimerax_keys_name_the_measure_they_show(full_report: tuple[dict, Path]) -> None:
    folder = full_report[1].parent
    resmap = (folder / "synth_resmap.cxc").read_text()
    wfsc = (folder / "synth_wfsc.cxc").read_text()
    assert "2dlabels text 'ResMap local resolution (Å)'" in resmap
    assert "2dlabels text 'windowed-FSC local resolution (Å)'" in wfsc
    band = (folder / "synth_band.cxc").read_text()
    assert 'open "../../data/BAND.mrc" format mrc' in band
    assert "2dlabels text 'band-energy local resolution (Å)'" in band


def test_fsc_caption_names_the_deposited_curve_only_when_it_is_drawn(
    full_report: tuple[dict, Path], correlated_report: Path
) -> None:
    assert "the curve deposited in the EMDB" in full_report[1].read_text(encoding="utf-8")
    text = " ".join(correlated_report.read_text(encoding="utf-8").split())  # no deposited curve
    assert "deposited in the EMDB" not in text and "top axis: resolution (Å)" in text


def test_index_and_page_say_warnings_in_words(correlated_report: Path, tmp_path: Path) -> None:
    index = tmp_path / "index.html"
    assert run_cli(["report-index", "--out", str(index), "--quiet",
                    str(correlated_report.parent)]) == 0  # fmt: skip
    row = re.search(r'<span class="warn">(.*?)</span>', index.read_text(encoding="utf-8"))
    assert row and row[1] == "half maps not independent"
    page = correlated_report.read_text(encoding="utf-8")
    assert "Warning, half maps not independent:" in page
    assert "1 warning(s)</strong>: half maps not independent" in page


def test_simulated_half_maps_are_announced_at_the_top(
    full_report: tuple[dict, Path], tmp_path: Path
) -> None:
    paths = write_dataset(tmp_path / "d", with_deposited=False)
    half = tmp_path / "d" / "half1.mrc"
    write_map(half, make_density(), MapGeometry(shape=SHAPE, voxel_size_A=VOXEL),
              label="SIMULATED half map 1 from a test")  # fmt: skip
    rec = json.loads((tmp_path / "d" / "LOCAL.json").read_text())
    rec["inputs"] = [{"path": str(half), "sha256": "00"}, {"path": "gone.mrc", "sha256": "11"}]
    (tmp_path / "d" / "LOCAL.json").write_text(json.dumps(rec))
    out = tmp_path / "r" / "index.html"
    assert run_cli(cli_args(paths, out)) == 0
    html = out.read_text(encoding="utf-8")
    banner = re.search(r'<div class="simulated" id="simulated">(.*?)</div>', html, re.S)
    assert banner and "half1.mrc: resmap_core SIMULATED half map 1 from a test" in banner[1]
    assert html.index('id="simulated"') < html.index('id="summary"')
    # a dataset whose input maps do not say so (or are gone) gets no banner
    assert 'id="simulated"' not in full_report[1].read_text(encoding="utf-8")
