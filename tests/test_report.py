"""Tests of the report: the figure data (against independent oracles), the diagnostics, input
parsing, and the ``resmap report`` / ``resmap report-index`` commands on synthetic datasets."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from _report_helpers import (
    SHAPE,
    VOXEL,
    cli_args,
    fsc_model,
    make_density,
    make_local,
    make_mask,
    run_cli,
    write_dataset,
)
from scipy import stats

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
    paths = write_dataset(root / "data", title="Haemoglobin <script>alert('x')</script> & co")
    out = root / "reports" / "synth" / "index.html"
    assert run_cli(cli_args(paths, out)) == 0
    return paths, out


def test_report_writes_page_scripts_and_summary(full_report: tuple[dict, Path]) -> None:
    paths, out = full_report
    folder = out.parent
    html = out.read_text(encoding="utf-8")
    for section in ("header", "summary", "fsc", "slices", "histograms", "wavelengths",
                    "diagnostics", "provenance"):  # fmt: skip
        assert f'id="{section}"' in html
    assert html.count('src="data:image/png;base64,') == 7
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
    assert "<script" not in html.lower()
    assert "Haemoglobin &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co" in html
    assert "<link" not in html and 'src="http' not in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert all(h.startswith("#") or h == "https://www.ebi.ac.uk/emdb/EMD-1234" for h in hrefs)


def test_report_is_byte_identical_when_rebuilt(full_report: tuple[dict, Path]) -> None:
    paths, out = full_report
    before = {p.name: p.read_bytes() for p in out.parent.iterdir()}
    assert run_cli(cli_args(paths, out)) == 0
    after = {p.name: p.read_bytes() for p in out.parent.iterdir()}
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
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["spearman"] is None


def test_report_without_record_or_mask_still_builds(tmp_path: Path) -> None:
    paths = write_dataset(tmp_path / "d", with_json=False, with_deposited=False)
    del paths["mask"]
    out = tmp_path / "r" / "index.html"
    assert run_cli(cli_args(paths, out)) == 0
    html = out.read_text(encoding="utf-8")
    assert "No ResMap record (LOCAL.json)" in html
    assert "No mask was given" in html


def test_correlated_half_maps_are_flagged_in_the_report(tmp_path: Path) -> None:
    paths = write_dataset(tmp_path / "d", fsc_tail=0.1, with_deposited=False)
    out = tmp_path / "r" / "index.html"
    assert run_cli(cli_args(paths, out)) == 0
    assert 'data-code="fsc_tail"' in out.read_text(encoding="utf-8")
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["warnings"] == ["fsc_tail"]


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
