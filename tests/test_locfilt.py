"""Local filtering (``resmap locfilt``): the documented filter shape, the interpolation between
band-limited copies, the B-factor, and the two-region phantom of issue 12.

Power is measured in cubes well inside each region, apodised by a Hann window, so that what is
measured is the filtered map there and not the region's edges.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.fft as sfft

from resmap_core.cli.main import main
from resmap_core.filtering.local import (
    EDGE,
    ladder,
    local_filter,
    lowpass_gain,
    rung_weights,
    target_resolution,
)
from resmap_core.io.mrc import MapGeometry, read_map, write_map
from resmap_core.spectrum import frequency_magnitude

SPACING = (1.0, 1.0, 1.0)
#: The phantom: white noise, x < 64 at COARSE_A, x ≥ 64 at FINE_A (neither on a rung).
SHAPE = (64, 64, 128)
COARSE_A, FINE_A = 7.3, 3.3


def phantom() -> tuple[np.ndarray, np.ndarray]:
    """White noise (every frequency up to Nyquist) and its two-region local-resolution map."""
    data = np.random.default_rng(12).standard_normal(SHAPE).astype(np.float32)
    x = np.arange(SHAPE[2])[None, None, :]
    local = np.broadcast_to(np.where(x < 64, COARSE_A, FINE_A), SHAPE).astype(np.float32)
    return data, local


def windowed_power(volume: np.ndarray, x0: int) -> tuple[np.ndarray, np.ndarray]:
    """|F|² of the 32³ cube at rows/sections 16–48 and columns x0…x0+32 under a Hann window,
    and |k| (Å⁻¹) of each coefficient."""
    w = np.hanning(32)
    window = w[:, None, None] * w[None, :, None] * w[None, None, :]
    cube = volume[16:48, 16:48, x0 : x0 + 32].astype(np.float64) * window
    power = np.abs(sfft.fftn(cube)) ** 2
    k = np.sqrt(sum(g**2 for g in np.meshgrid(*(np.fft.fftfreq(32),) * 3, indexing="ij")))
    return power, k


@pytest.fixture(scope="module")
def filtered() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data, local = phantom()
    out, rungs = local_filter(data, local, SPACING)
    return data, out, rungs


def test_coarse_region_loses_tenfold_power_beyond_its_local_resolution(filtered) -> None:
    data, out, rungs = filtered
    assert not np.any(np.isclose(rungs, COARSE_A)) and not np.any(np.isclose(rungs, FINE_A))
    before, k = windowed_power(data, 16)  # x 16–48: inside the coarse half
    after, _ = windowed_power(out, 16)
    beyond = k > 1.0 / COARSE_A
    assert after[beyond].sum() <= before[beyond].sum() / 10.0


def test_fine_region_keeps_its_power_below_its_local_resolution(filtered) -> None:
    data, out, _ = filtered
    before, k = windowed_power(data, 80)  # x 80–112: inside the fine half
    after, _ = windowed_power(out, 80)
    below = k <= 1.0 / FINE_A
    assert after[below].sum() == pytest.approx(before[below].sum(), rel=0.10)


def test_a_uniform_map_on_a_rung_is_the_documented_lowpass(tmp_path: Path) -> None:
    """With one resolution everywhere, the output spectrum is the input's times H_r(|k|)."""
    shape, spacing = (24, 28, 32), (1.2, 1.0, 0.9)  # anisotropic voxels, non-cubic box
    data = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    resolution = 2.0 * 1.2 * 1.15**4  # a rung of the ladder
    out, rungs = local_filter(data, np.full(shape, resolution, np.float32), spacing)
    assert rungs.tolist() == pytest.approx([resolution])
    gain = sfft.rfftn(out.astype(np.float64)) / sfft.rfftn(data.astype(np.float64))
    k = frequency_magnitude(shape, spacing)
    np.testing.assert_allclose(gain.real, lowpass_gain(resolution)(k), atol=2e-4)
    assert np.abs(gain.imag).max() < 2e-4
    h = lowpass_gain(resolution)
    assert h(np.array([1.0 / resolution]))[0] == 1.0  # the pass band reaches 1/r
    assert h(np.array([(1.0 + EDGE) / resolution]))[0] == pytest.approx(0.0)


def test_bfactor_multiplies_amplitudes_by_exp_minus_b_k2_over_4() -> None:
    shape = (32, 32, 32)
    data = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    at_nyquist = np.full(shape, 2.0, np.float32)  # finest rung: nothing below Nyquist is cut
    out, _ = local_filter(data, at_nyquist, SPACING, bfactor_A2=-40.0)
    gain = sfft.rfftn(out.astype(np.float64)) / sfft.rfftn(data.astype(np.float64))
    k = frequency_magnitude(shape, SPACING)
    inside = k <= 0.5
    np.testing.assert_allclose(gain.real[inside], np.exp(40.0 * k[inside] ** 2 / 4.0), rtol=1e-3)


def test_rungs_bracket_each_voxel_and_weights_interpolate_in_frequency() -> None:
    rungs = ladder(3.0, 9.0, 2.0)
    assert rungs[0] == 2.0 and rungs[-1] >= 9.0 and rungs[-2] < 9.0
    np.testing.assert_allclose(rungs[1:] / rungs[:-1], 1.15)
    target = np.array([2.0, 2.3, 3.3, 7.3, rungs[-1]])
    lower, weight = rung_weights(target, rungs)
    lower = lower.astype(int)
    f_lo, f_hi = 1.0 / rungs[lower], 1.0 / rungs[np.minimum(lower + 1, len(rungs) - 1)]
    np.testing.assert_allclose((1 - weight) * f_lo + weight * f_hi, 1.0 / target, rtol=1e-6)
    assert np.all(rungs[lower] <= target + 1e-9)


def test_voxels_without_a_resolution_take_the_coarsest_one() -> None:
    local = np.array([3.0, 5.5, np.nan, 0.0, 100.0, 1.0])
    resolved = np.array([True, True, False, False, False, True])
    np.testing.assert_allclose(target_resolution(local, resolved, 2.0), [3, 5.5, 5.5, 5.5, 5.5, 2])


def test_cli_writes_the_filtered_map_on_the_input_grid_deterministically(tmp_path: Path) -> None:
    data, local = phantom()
    geometry = MapGeometry(SHAPE, SPACING, origin_A=(5.0, -3.0, 2.0), start_vox=(1, 2, 3))
    write_map(tmp_path / "map.mrc", data, geometry)
    local_with_outside = local.copy()
    local_with_outside[:4] = 100.0  # as resmap local writes outside its mask
    write_map(tmp_path / "local.mrc", local_with_outside, geometry)
    args = [str(tmp_path / "map.mrc"), str(tmp_path / "local.mrc"), "--quiet"]
    for name in ("a.mrc", "b.mrc"):
        assert main(["locfilt", *args, "--out", str(tmp_path / name)]) == 0
    out = read_map(tmp_path / "a.mrc")
    assert out.geometry == read_map(tmp_path / "map.mrc").geometry
    assert (tmp_path / "a.mrc").read_bytes() == (tmp_path / "b.mrc").read_bytes()
    expected, _ = local_filter(data, local_with_outside, SPACING)
    np.testing.assert_array_equal(out.data, expected)


def test_maps_on_different_grids_are_refused(tmp_path: Path, capsys) -> None:
    write_map(
        tmp_path / "map.mrc", np.zeros((8, 8, 8), np.float32), MapGeometry((8, 8, 8), SPACING)
    )
    write_map(
        tmp_path / "local.mrc", np.ones((8, 8, 9), np.float32), MapGeometry((8, 8, 9), SPACING)
    )
    code = main(["locfilt", str(tmp_path / "map.mrc"), str(tmp_path / "local.mrc"),
                 "--out", str(tmp_path / "o.mrc")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "not on the grid of" in err
    assert not (tmp_path / "o.mrc").exists()
