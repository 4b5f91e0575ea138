"""Phantoms with a known local resolution (``resmap_core.testing.phantoms``, calibration study
``benchmarks/band_calibration.py``): each states its truth, and the truth is measured here.

The chirp's local wavelength is read off a Gaussian-windowed Fourier transform of its radial
profile; band limits through the share of spectral power beyond fractions of the cutoff (a flat
spectrum up to k_c puts 1 − f³ of its power beyond f·k_c: 66 % beyond 0.7·k_c, none beyond k_c;
a finite envelope leaks a little past k_c, so the upper check is at 1.5·k_c).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft as sfft

from resmap_core.spectrum import frequency_magnitude
from resmap_core.testing import phantoms

SPACING = (1.0, 1.0, 1.0)


def _power(density: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(|k| Å⁻¹, power) of every coefficient of the full spectrum (rfftn, halves counted twice)."""
    power = np.abs(sfft.rfftn(density)) ** 2
    power[..., 1:] *= 2.0
    return frequency_magnitude(density.shape, SPACING), power


def _share_beyond(density: np.ndarray, k0: float) -> float:
    """Share of the spectral power of ``density`` at |k| > ``k0`` (Å⁻¹)."""
    k, power = _power(density)
    return float(power[k > k0].sum() / power.sum())


def _quantile_frequency(density: np.ndarray, q: float) -> float:
    """|k| (Å⁻¹) below which the share ``q`` of the spectral power of ``density`` lies."""
    k, power = _power(density)
    order = np.argsort(k, axis=None)
    cumulative = np.cumsum(power.ravel()[order])
    return float(k.ravel()[order][np.searchsorted(cumulative, q * cumulative[-1])])


def _peak_wavelength(profile: np.ndarray, centre: float, sd: float) -> float:
    """Wavelength (voxels) of the spectral peak of ``profile`` under a Gaussian window."""
    x = np.arange(profile.size, dtype=np.float64)
    windowed = profile * np.exp(-0.5 * ((x - centre) / sd) ** 2)
    spectrum = np.abs(np.fft.rfft(windowed, 8192))
    k = np.fft.rfftfreq(8192)
    return float(1.0 / k[1 + np.argmax(spectrum[1:])])


def _check_band_limit(density: np.ndarray, cutoff_A: float) -> None:
    """Flat spectrum up to 1/cutoff_A: about 1 − 0.7³ of the power beyond 0.7/cutoff_A, and
    almost none beyond 1.5/cutoff_A."""
    assert 0.5 < _share_beyond(density, 0.7 / cutoff_A) < 0.8
    assert _share_beyond(density, 1.5 / cutoff_A) < 0.03


# --- the chirp ---------------------------------------------------------------------------------


def test_chirp_truth_falls_linearly_from_12_to_3_A_and_is_undefined_beyond():
    n = 65
    density, truth = phantoms.chirp_phantom(n)
    assert density.shape == truth.shape == (n, n, n)
    assert density.dtype == truth.dtype == np.float64
    c, radius = n // 2, 0.4 * n
    r = np.abs(np.arange(n) - c).astype(np.float64)
    line = truth[c, c, :]
    inside = r <= radius
    np.testing.assert_allclose(line[inside], 12.0 - 9.0 * r[inside] / radius, rtol=1e-12)
    assert np.all(np.isnan(line[~inside]))
    assert truth[c, c, c] == 12.0
    # zero beyond the fade, radially symmetric
    full = phantoms.radius_A(density.shape, SPACING)
    assert np.all(density[full >= radius + 0.06 * n] == 0.0)
    np.testing.assert_allclose(density[c, c, c:], density[c:, c, c], atol=1e-12)
    np.testing.assert_allclose(density[c, c, c:], density[c, c:, c], atol=1e-12)


@pytest.mark.parametrize("fraction", [0.15, 0.35, 0.55, 0.75, 0.9])
def test_chirp_measured_local_wavelength_matches_its_truth(fraction):
    n = 97
    density, truth = phantoms.chirp_phantom(n)
    c = n // 2
    r0 = fraction * 0.4 * n
    measured = _peak_wavelength(density[c, c, :], c + r0, sd=3.0)
    expected = float(phantoms.chirp_wavelength_A(np.array(r0), 0.4 * n))
    assert measured == pytest.approx(expected, rel=0.03)
    # the truth map says the same at the nearest voxel
    assert truth[c, c, c + round(r0)] == pytest.approx(expected, abs=9.0 / (0.4 * n))


def test_chirp_phase_derivative_is_two_pi_over_the_wavelength():
    radius = 40.0
    r = np.linspace(0.5, radius - 0.5, 50)
    h = 1e-4
    derivative = (phantoms.chirp_phase(r + h, radius) - phantoms.chirp_phase(r - h, radius)) / (
        2 * h
    )
    np.testing.assert_allclose(
        derivative, 2 * np.pi / phantoms.chirp_wavelength_A(r, radius), rtol=1e-6
    )


def test_chirp_in_coarser_voxels_keeps_wavelengths_in_angstrom_and_refuses_aliasing():
    n, spacing = 51, 1.25
    density, truth = phantoms.chirp_phantom(n, spacing_A=spacing)
    c, radius = n // 2, 0.4 * n * spacing
    assert truth[c, c, c] == 12.0
    assert np.nanmin(truth) == pytest.approx(3.0, abs=9.0 * spacing / radius)
    measured = spacing * _peak_wavelength(density[c, c, :], c + 0.5 * radius / spacing, sd=3.0)
    assert measured == pytest.approx(7.5, rel=0.03)
    with pytest.raises(ValueError, match="cannot hold"):
        phantoms.chirp_phantom(n, spacing_A=1.5)
    with pytest.raises(ValueError, match="leaves the box"):
        phantoms.chirp_phantom(n, spacing_A=spacing, fade_A=12.0)


# --- lobes, radial ball, blob ------------------------------------------------------------------


def test_two_lobes_are_band_limited_at_their_truth():
    n = 80
    density, truth = phantoms.two_lobes_phantom(n, seed=3)
    assert density.shape == truth.shape == (n, n, n) and density.dtype == np.float64
    assert set(np.unique(truth[np.isfinite(truth)])) == {4.0, 8.0}
    left, right = np.zeros_like(density), np.zeros_like(density)
    assert np.all(density[..., n // 2 - 2 : n // 2 + 2] == 0.0)  # lobes apart: clean halves
    left[..., : n // 2] = density[..., : n // 2]
    right[..., n // 2 :] = density[..., n // 2 :]
    assert np.all(truth[..., : n // 2][np.isfinite(truth[..., : n // 2])] == 4.0)
    assert np.all(truth[..., n // 2 :][np.isfinite(truth[..., n // 2 :])] == 8.0)
    _check_band_limit(left, 4.0)
    _check_band_limit(right, 8.0)
    # the lobes are textured at unit variance inside (envelope 1 there)
    assert 0.7 < np.std(density[np.isfinite(truth)]) < 1.2


def test_band_limited_blob_has_its_cutoff_and_a_ball_of_truth():
    n = 64
    density, truth = phantoms.band_limited_blob(n, 5.0, seed=4)
    _check_band_limit(density, 5.0)
    r = phantoms.radius_A(density.shape, SPACING)
    radius = 0.3 * n
    assert np.all(truth[r <= radius] == 5.0) and np.all(np.isnan(truth[r > radius]))
    assert np.all(density[r >= radius + 2.0] == 0.0)


def test_radial_ball_band_limit_grows_with_radius_at_constant_variance():
    n = 96
    density, truth = phantoms.radial_resolution_ball(n, 3.0, 8.0, shells=4, seed=2)
    r = phantoms.radius_A(density.shape, SPACING)
    radius = 0.4 * n
    # the truth: 3 Å at the centre, 8 Å at the surface, steps up with radius, NaN beyond
    order = np.argsort(r[r <= radius])
    steps = truth[r <= radius][order]
    assert steps[0] == 3.0 and steps[-1] == 8.0 and np.all(np.diff(steps) >= 0.0)
    np.testing.assert_allclose(np.unique(steps), np.linspace(3.0, 8.0, 4))
    assert np.all(np.isnan(truth[r > radius]))
    # cross-faded shells keep unit variance at every radius inside the ball
    for r0 in range(3, int(radius) - 4, 3):
        shell = (r >= r0) & (r < r0 + 3)
        assert 0.8 < np.var(density[shell]) < 1.25, r0
    # the band limit measured in each shell (radial Gaussian weight) rises outwards
    thickness = radius / 4
    measured = []
    for j in range(4):
        weight = np.exp(-0.5 * ((r - (j + 0.5) * thickness) / 2.0) ** 2) * (r < radius)
        measured.append(1.0 / _quantile_frequency(density * weight, 0.9))
    assert np.all(np.diff(measured) > 0.3), measured
    assert measured[0] == pytest.approx(3.0, rel=0.1)
    assert 0.7 * 8.0 < measured[-1] <= 8.0, measured  # the narrow weight blurs the outer limit


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: phantoms.two_lobes_phantom(40, seed=seed),
        lambda seed: phantoms.radial_resolution_ball(40, 3.0, 6.0, seed=seed),
        lambda seed: phantoms.band_limited_blob(40, 4.0, seed=seed),
    ],
)
def test_textured_phantoms_are_reproducible_from_their_seed(make):
    a, truth_a = make(7)
    b, truth_b = make(7)
    c, truth_c = make(8)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(truth_a, truth_b)
    np.testing.assert_array_equal(truth_a, truth_c)  # the truth depends on geometry only
    assert not np.allclose(a, c)


# --- noise and support -------------------------------------------------------------------------


@pytest.mark.parametrize("exponent", [0.0, 1.0])
def test_phantom_half_maps_carry_relative_noise_sigma_root_two_each(exponent):
    density, truth = phantoms.band_limited_blob(48, 5.0, seed=1)
    signal_sd = np.std(density[np.isfinite(truth)])
    h1, h2 = phantoms.phantom_half_maps(density, truth, 2.0, exponent=exponent, seed=5)
    assert h1.dtype == h2.dtype == np.float32 and h1.shape == density.shape
    n1, n2 = h1 - density, h2 - density
    for noise in (n1, n2):
        assert np.std(noise) == pytest.approx(2.0 * np.sqrt(2.0) * signal_sd, rel=0.02)
    assert abs(np.corrcoef(n1.ravel(), n2.ravel())[0, 1]) < 0.02
    assert np.std((n1 + n2) / 2) == pytest.approx(2.0 * signal_sd, rel=0.03)
    # white: flat spectrum; 1/f: power at 0.05 Å⁻¹ far above power at 0.4 Å⁻¹
    k, power = _power(n1)
    low = power[(k > 0.04) & (k < 0.06)].mean()
    high = power[(k > 0.38) & (k < 0.42)].mean()
    ratio = low / high
    assert (0.8 < ratio < 1.25) if exponent == 0.0 else (ratio > 30.0)
    again = phantoms.phantom_half_maps(density, truth, 2.0, exponent=exponent, seed=5)
    np.testing.assert_array_equal(again[0], h1)


def test_phantom_support_is_the_truth_region_grown_by_the_margin():
    _, truth = phantoms.band_limited_blob(48, 5.0, seed=1)
    support = phantoms.phantom_support(truth, margin_A=4.0)
    r = phantoms.radius_A(truth.shape, SPACING)
    radius = 0.3 * 48
    assert np.all(support[r <= radius + 3.5]) and not np.any(support[r > radius + 4.6])
