"""End-to-end behaviour of the ResMap-H2 scan: calibration, ordering, geometry, real maps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _mrc_helpers import to_file_order, write_raw_mrc

from resmap_core.io.mrc import MapData, MapGeometry, read_map, write_map
from resmap_core.localres.scan import Params, run_local
from resmap_core.testing.phantoms import band_limited_noise, half_maps, radius_A, shell_phantom

DATA = Path(__file__).resolve().parent / "data"  # real EMDB maps, see tests/data/README.md
SPACING = (1.0, 1.0, 1.0)


def _maps(*arrays: np.ndarray, spacing=SPACING) -> list[MapData]:
    shape = arrays[0].shape
    geometry = MapGeometry(shape=shape, voxel_size_A=spacing[::-1])
    return [MapData(np.asarray(a, np.float32), geometry, "") for a in arrays]


def _sphere(shape, radius_vox) -> np.ndarray:
    return radius_A(shape, SPACING) < radius_vox


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("mode", ["single", "split"])
def test_pure_white_noise_assigns_at_most_p_of_the_mask(seed, mode):
    rng = np.random.default_rng(seed)
    shape = (48, 48, 48)
    mask = _sphere(shape, 14)
    if mode == "split":
        maps = _maps(rng.standard_normal(shape), rng.standard_normal(shape))
    else:
        maps = _maps(rng.standard_normal(shape))
    params = Params(p_value=0.05, min_res_A=2.2, max_res_A=8.2)
    volume, record = run_local(maps, mask, params)
    assigned = np.isfinite(volume[mask]) & (volume[mask] < 100.0)
    assert assigned.mean() <= 0.05
    assert record["unresolved_fraction"] >= 0.95


@pytest.fixture(scope="module")
def two_zone_result():
    shape = (64, 64, 64)
    density, core, shell = shell_phantom(shape, SPACING, 3.0, 6.0, 12.0, 24.0, seed=4)
    mask = radius_A(shape, SPACING) < 24.0
    out = {}
    # half-map noise σ 1 and 2 against unit signal: SNR near 1, as in real maps
    for noise in (1.0, 2.0):
        h1, h2 = half_maps(density, noise, seed=5)
        volume, record = run_local(
            _maps(h1, h2), mask, Params(min_res_A=2.2, max_res_A=12.2, outside=float("nan"))
        )
        out[noise] = volume
    return out, core, shell


def test_two_regions_of_known_resolution_give_ordered_separated_medians(two_zone_result):
    volumes, core, shell = two_zone_result
    volume = volumes[1.0]
    core_median = np.nanmedian(volume[core])
    shell_median = np.nanmedian(volume[shell])
    assert 2.2 <= core_median <= 4.2
    assert shell_median >= core_median + 1.0  # at least one 1-Å step apart
    assert 4.2 <= shell_median <= 8.2
    # separated, not just different medians: the quartiles do not overlap
    assert np.nanpercentile(volume[core], 75) <= np.nanpercentile(volume[shell], 25)


def test_more_noise_never_gives_smaller_wavelengths(two_zone_result):
    volumes, core, shell = two_zone_result
    low, high = volumes[1.0], volumes[2.0]
    inside = core | shell
    low_v = np.where(np.isnan(low), 100.0, low)[inside]
    high_v = np.where(np.isnan(high), 100.0, high)[inside]
    assert np.median(high_v) >= np.median(low_v)
    assert np.percentile(high_v, 25) >= np.percentile(low_v, 25)
    assert np.mean(high_v >= low_v) >= 0.95


def test_axis_order_does_not_change_the_physical_result(tmp_path):
    from resmap_core.cli.main import main

    shape = (40, 44, 36)  # non-cubic, anisotropic voxels
    voxel_xyz = (1.0, 1.1, 1.2)
    spacing = voxel_xyz[::-1]
    rng = np.random.default_rng(8)
    density = band_limited_noise(shape, spacing, 4.0, rng) * (radius_A(shape, spacing) < 14)
    h1, h2 = half_maps(density, 0.3, seed=9)
    mask = (radius_A(shape, spacing) < 16).astype(np.float32)
    results = []
    for axes in [(1, 2, 3), (3, 1, 2)]:
        tag = "".join(map(str, axes))
        for name, arr in (("h1", h1), ("h2", h2), ("mask", mask)):
            write_raw_mrc(
                tmp_path / f"{name}_{tag}.mrc",
                to_file_order(arr.astype(np.float32), axes),
                axes=axes,
                voxel=voxel_xyz,
            )
        out = tmp_path / f"local_{tag}.mrc"
        code = main(
            [
                "local",
                str(tmp_path / f"h1_{tag}.mrc"),
                str(tmp_path / f"h2_{tag}.mrc"),
                "--out",
                str(out),
                "--mask",
                str(tmp_path / f"mask_{tag}.mrc"),
                "--max-res",
                "8",
                "--quiet",
            ]
        )
        assert code == 0
        results.append(read_map(out))
    np.testing.assert_array_equal(results[0].data, results[1].data)
    np.testing.assert_allclose(results[1].voxel_size_A, voxel_xyz, rtol=1e-5)
    assert np.isfinite(results[0].data).all() and (results[0].data < 100).any()


def test_threads_and_stage_commands_give_byte_identical_maps(tmp_path):
    from resmap_core.cli.main import main

    shape = (40, 40, 40)
    rng = np.random.default_rng(10)
    density = band_limited_noise(shape, SPACING, 4.0, rng) * (radius_A(shape, SPACING) < 13)
    h1, h2 = half_maps(density, 0.4, seed=11)
    geometry = MapGeometry(shape=shape, voxel_size_A=SPACING, origin_A=(5.0, 6.0, 7.0))
    write_map(tmp_path / "h1.mrc", h1, geometry)
    write_map(tmp_path / "h2.mrc", h2, geometry)
    write_map(tmp_path / "mask.mrc", radius_A(shape, SPACING) < 16, geometry)
    halves = [str(tmp_path / "h1.mrc"), str(tmp_path / "h2.mrc")]
    opts = ["--max-res", "9", "--mask", str(tmp_path / "mask.mrc"), "--quiet"]
    assert main(["local", *halves, "--out", str(tmp_path / "a.mrc"), "--threads", "1", *opts]) == 0
    assert main(["local", *halves, "--out", str(tmp_path / "b.mrc"), "--threads", "2", *opts]) == 0
    assert (tmp_path / "a.mrc").read_bytes() == (tmp_path / "b.mrc").read_bytes()
    prep = str(tmp_path / "prep.npz")
    assert main(["prepare", *halves, "--out", prep, *opts]) == 0
    assert main(["wavelengths", prep, "--out", str(tmp_path / "wl.json"), "--quiet"]) == 0
    grid = json.loads((tmp_path / "wl.json").read_text())["wavelengths_A"]
    passes = []
    for lam in reversed(grid):  # any order
        out = str(tmp_path / f"pass_{lam:.2f}.npz")
        assert main(["pass", prep, "--wavelength", str(lam), "--out", out, "--quiet"]) == 0
        passes.append(out)
    assert main(["fdr", prep, *passes, "--out", str(tmp_path / "c.mrc"), "--quiet"]) == 0
    assert (tmp_path / "a.mrc").read_bytes() == (tmp_path / "c.mrc").read_bytes()
    rec_a = json.loads((tmp_path / "a.json").read_text())
    rec_c = json.loads((tmp_path / "c.json").read_text())
    assert rec_a["wavelengths"] == rec_c["wavelengths"]
    out_map = read_map(tmp_path / "a.mrc")
    assert out_map.geometry.origin_A == (5.0, 6.0, 7.0)


def test_local_json_has_the_documented_fields(tmp_path):
    from resmap_core.cli.main import main

    shape = (40, 40, 40)
    rng = np.random.default_rng(12)
    density = band_limited_noise(shape, SPACING, 4.0, rng) * (radius_A(shape, SPACING) < 13)
    h1, h2 = half_maps(density, 0.4, seed=13)
    geometry = MapGeometry(shape=shape, voxel_size_A=SPACING)
    write_map(tmp_path / "h1.mrc", h1, geometry)
    write_map(tmp_path / "h2.mrc", h2, geometry)
    write_map(tmp_path / "mask.mrc", radius_A(shape, SPACING) < 16, geometry)
    assert (
        main(
            [
                "local",
                str(tmp_path / "h1.mrc"),
                str(tmp_path / "h2.mrc"),
                "--out",
                str(tmp_path / "o.mrc"),
                "--mask",
                str(tmp_path / "mask.mrc"),
                "--max-res",
                "7",
                "--quiet",
            ]
        )
        == 0
    )
    rec = json.loads((tmp_path / "o.json").read_text())
    for key in (
        "mode",
        "voxel_size_A",
        "p_value",
        "median_A",
        "mean_A",
        "quartiles_A",
        "unresolved_fraction",
        "wavelengths",
        "prewhitening",
        "kernel",
        "seconds",
        "versions",
    ):
        assert key in rec, key
    assert rec["mode"] == "split"
    for w in rec["wavelengths"]:
        for key in (
            "lambda_A",
            "window_radius_vox",
            "sigma2",
            "threshold_uncorrected",
            "threshold_fdr",
            "tested",
            "assigned",
        ):
            assert key in w, key
    assert sum(w["assigned"] for w in rec["wavelengths"]) == sum(rec["histogram"]["count"])
    assert rec["inputs"][0]["sha256"]


def test_real_emdb_map_runs_end_to_end_in_single_map_mode(tmp_path):
    from resmap_core.cli.main import main

    entry = DATA / "emd_5168/emd_5168.map.gz"
    out = tmp_path / "local.mrc"
    assert main(["local", str(entry), "--out", str(out), "--quiet"]) == 0
    rec = json.loads(out.with_suffix(".json").read_text())
    assert rec["mode"] == "single"
    assert 3.8 <= rec["median_A"] <= 12.0, rec["median_A"]  # published 6.6 Å
    assert rec["unresolved_fraction"] < 0.5
    result = read_map(out)
    source = read_map(entry)
    assert result.geometry.shape == source.geometry.shape
    assert result.geometry.start_vox == source.geometry.start_vox
    np.testing.assert_allclose(result.voxel_size_A, source.voxel_size_A, rtol=1e-5)


def test_flattened_solvent_is_refused_in_single_map_mode(tmp_path, capsys):
    from resmap_core.cli.main import main

    # EMD-3488 is a masked deposition: most of its solvent is exactly 0
    out = tmp_path / "local.mrc"
    code = main(["local", str(DATA / "emd_3488/emd_3488.mrc.gz"), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "exactly the same value" in err and "half maps" in err
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_real_map_with_surrogate_half_maps_runs_in_split_mode():
    """EMD-3488 (3.2 Å published) + independent noise per half (surrogate half maps)."""
    source = read_map(DATA / "emd_3488/emd_3488.mrc.gz")
    density = source.data.astype(np.float64)
    sigma = density[density > 0].std()  # the FSC then crosses 0.143 near 3.2 Å
    h1, h2 = half_maps(density, sigma, seed=21)
    maps = [MapData(h1, source.geometry, ""), MapData(h2, source.geometry, "")]
    _, rec = run_local(maps, None, Params(max_res_A=8.0))
    assert rec["mode"] == "split"
    assert not rec["lowpass"]["detected"]  # the added noise is white: nothing filtered it
    assert 2.8 <= rec["median_A"] <= 4.5, rec["median_A"]
    assert rec["unresolved_fraction"] < 0.5


def test_min_res_at_input_nyquist_runs_on_plain_and_lowpass_resampled_maps():
    import scipy.fft as sfft

    shape = (48, 48, 48)
    density = band_limited_noise(shape, SPACING, 4.0, np.random.default_rng(6))
    h1, h2 = half_maps(density * (radius_A(shape, SPACING) < 15), 0.3, seed=7)
    geometry = MapGeometry(shape=shape, voxel_size_A=SPACING)
    mask = radius_A(shape, SPACING) < 18
    plain = [MapData(h1, geometry, ""), MapData(h2, geometry, "")]
    _, rec = run_local(plain, mask, Params(min_res_A=2.0, max_res_A=5.0, lowpass_check=False))
    assert rec["wavelengths"][0]["lambda_A"] == 2.0
    assert rec["wavelengths"][0]["window_radius_vox"] == [2, 2, 2]
    kz, ky = np.fft.fftfreq(48)[:, None, None], np.fft.fftfreq(48)[None, :, None]
    k = np.sqrt(kz**2 + ky**2 + np.fft.rfftfreq(48)[None, None, :] ** 2)  # 1/Å
    filtered = []
    for h in (h1, h2):
        spectrum = sfft.rfftn(h)
        spectrum[k > 1 / 3.2] = 0.0
        filtered.append(MapData(sfft.irfftn(spectrum, shape).astype(np.float32), geometry, ""))
    _, rec = run_local(filtered, mask, Params(min_res_A=2.0, max_res_A=8.0))
    assert rec["lowpass"]["detected"]
    coarse = max(rec["analysis_voxel_size_A"])
    first = rec["wavelengths"][0]["lambda_A"]
    assert coarse > 1.2 and 2.2 * coarse - 1e-6 <= first < 2.2 * coarse + 1.0 + 1e-6


def test_fdr_on_the_grid_prefix_that_scan_status_calls_finished_equals_resmap_local(
    tmp_path, capsys
):
    from resmap_core.cli.main import main

    shape = (40, 40, 40)
    rng = np.random.default_rng(12)
    density = band_limited_noise(shape, SPACING, 3.0, rng) * (radius_A(shape, SPACING) < 13)
    h1, h2 = half_maps(density, 0.1, seed=13)  # strong: every voxel resolves early
    geometry = MapGeometry(shape=shape, voxel_size_A=SPACING)
    for name, data in (("h1", h1), ("h2", h2), ("mask", radius_A(shape, SPACING) < 14)):
        write_map(tmp_path / f"{name}.mrc", data, geometry)
    halves = [str(tmp_path / "h1.mrc"), str(tmp_path / "h2.mrc")]
    opts = ["--mask", str(tmp_path / "mask.mrc"), "--quiet"]
    assert main(["local", *halves, "--out", str(tmp_path / "a.mrc"), *opts]) == 0
    prep = str(tmp_path / "prep.npz")
    assert main(["prepare", *halves, "--out", prep, *opts]) == 0
    assert main(["wavelengths", prep, "--out", str(tmp_path / "wl.json"), "--quiet"]) == 0
    grid = json.loads((tmp_path / "wl.json").read_text())["wavelengths_A"]
    passes, statuses = [], []
    for i, lam in enumerate(grid):
        passes.append(str(tmp_path / f"pass_{lam:.2f}.npz"))
        assert main(["pass", prep, "--wavelength", str(lam), "--out", passes[-1], "--quiet"]) == 0
        status = tmp_path / f"status_{i}.json"
        assert main(["scan-status", prep, *passes, "--out", str(status), "--quiet"]) == 0
        statuses.append(json.loads(status.read_text())["finished"])
        if statuses[-1]:
            break
    assert statuses[-1] and not any(statuses[:-1]) and len(passes) < len(grid)
    needed = len(passes)
    if needed > 1:  # one pass short of the finishing prefix: refused in one line
        assert main(["fdr", prep, *passes[:-1], "--out", str(tmp_path / "x.mrc")]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "longer wavelengths could resolve" in err
        assert not (tmp_path / "x.mrc").exists()
    assert main(["fdr", prep, *passes, "--out", str(tmp_path / "c.mrc"), "--quiet"]) == 0
    assert (tmp_path / "a.mrc").read_bytes() == (tmp_path / "c.mrc").read_bytes()
    rec_a = json.loads((tmp_path / "a.json").read_text())["wavelengths"]
    assert rec_a == json.loads((tmp_path / "c.json").read_text())["wavelengths"]
    assert len(rec_a) == needed
    # a gap in the grid is refused whatever the status
    gap = [passes[0], *passes[2:]] if needed > 2 else passes[1:]
    assert main(["fdr", prep, *gap, "--out", str(tmp_path / "y.mrc")]) == 2
