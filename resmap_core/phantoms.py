"""Synthetic maps with known band limits, for tests, calibration and benchmarks.

A phantom is random density band-limited at a chosen resolution d (all Fourier power at
|k| ≤ 1/d, none beyond) inside a smooth spherical envelope; regions of different d are
blended with smooth weights. Noise is white Gaussian, independent per half map.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from .spectrum import frequency_magnitude


def band_limited_noise(
    shape: tuple[int, int, int],
    spacing_zyx_A: tuple[float, float, float],
    resolution_A: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Unit-variance random field, flat spectrum up to 1/``resolution_A`` Å⁻¹, none beyond."""
    white = rng.standard_normal(shape)
    spec = sfft.rfftn(white)
    spec[frequency_magnitude(shape, spacing_zyx_A) > 1.0 / resolution_A] = 0.0
    field = sfft.irfftn(spec, s=shape)
    return field / field.std()


def radius_A(shape: tuple[int, int, int], spacing_zyx_A: tuple[float, float, float]) -> np.ndarray:
    """Distance (Å) of every voxel centre from the box centre."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    return np.sqrt(
        sum(
            ((g - (n - 1) / 2.0) * d) ** 2
            for g, n, d in zip(grids, shape, spacing_zyx_A, strict=True)
        )
    )


def smooth_step(x: np.ndarray, edge: float, width: float) -> np.ndarray:
    """0 → 1 raised-cosine step centred on ``edge`` over ``width`` (same units as x)."""
    t = np.clip((x - edge) / width + 0.5, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def shell_phantom(
    shape: tuple[int, int, int],
    spacing_zyx_A: tuple[float, float, float],
    core_resolution_A: float,
    shell_resolution_A: float,
    core_radius_A: float,
    outer_radius_A: float,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sphere whose core is band-limited at one resolution and its outer shell at another.

    Returns (density, core_region, shell_region); the regions exclude a 3 Å transition band.
    """
    rng = np.random.default_rng(seed)
    r = radius_A(shape, spacing_zyx_A)
    core = band_limited_noise(shape, spacing_zyx_A, core_resolution_A, rng)
    shell = band_limited_noise(shape, spacing_zyx_A, shell_resolution_A, rng)
    blend = smooth_step(r, core_radius_A, 3.0)
    envelope = 1.0 - smooth_step(r, outer_radius_A, 3.0)
    density = envelope * ((1.0 - blend) * core + blend * shell)
    core_region = r < core_radius_A - 3.0
    shell_region = (r > core_radius_A + 3.0) & (r < outer_radius_A - 3.0)
    return density, core_region, shell_region


def half_maps(
    density: np.ndarray, noise_sigma: float, seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Two half maps: ``density`` plus independent white noise of s.d. ``noise_sigma``."""
    rng = np.random.default_rng(seed)
    h1 = density + noise_sigma * rng.standard_normal(density.shape)
    h2 = density + noise_sigma * rng.standard_normal(density.shape)
    return h1.astype(np.float32), h2.astype(np.float32)
