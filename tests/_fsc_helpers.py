"""Synthetic half maps and masks shared by the FSC and windowed-FSC tests (deterministic)."""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft
from scipy import ndimage


def blob_structure(shape: tuple[int, int, int], seed: int, n_blobs: int = 60) -> np.ndarray:
    """A particle-like density: Gaussian blobs (σ 1.5 voxels) inside a central sphere, float64."""
    rng = np.random.default_rng(seed)
    vol = np.zeros(shape)
    centre = np.array(shape) / 2.0
    radius = 0.3 * min(shape)
    pts = []
    while len(pts) < n_blobs:
        p = centre + rng.uniform(-radius, radius, 3)
        if np.linalg.norm(p - centre) < radius:
            pts.append(p)
    idx = np.clip(np.rint(pts).astype(int), 0, np.array(shape) - 1)
    vol[tuple(idx.T)] = rng.uniform(0.5, 1.5, n_blobs)
    vol = ndimage.gaussian_filter(vol, 1.5)
    return vol / vol.std()


def lowpass(vol: np.ndarray, cutoff_fraction: float) -> np.ndarray:
    """Sharp low-pass at ``cutoff_fraction`` of Nyquist (voxel units)."""
    f = sfft.rfftn(vol)
    kz = np.fft.fftfreq(vol.shape[0])[:, None, None]
    ky = np.fft.fftfreq(vol.shape[1])[None, :, None]
    kx = np.fft.rfftfreq(vol.shape[2])[None, None, :]
    f[np.sqrt(kz**2 + ky**2 + kx**2) > 0.5 * cutoff_fraction] = 0
    return sfft.irfftn(f, vol.shape)


def half_maps(
    shape: tuple[int, int, int], seed: int, noise: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(half1, half2, signal): a blob structure plus independent white noise of std ``noise``."""
    signal = blob_structure(shape, seed)
    rng = np.random.default_rng(seed + 1)
    h1 = signal + noise * rng.standard_normal(shape)
    h2 = signal + noise * rng.standard_normal(shape)
    return h1, h2, signal


def sphere_mask(shape: tuple[int, int, int], radius_fraction: float = 0.35) -> np.ndarray:
    """Boolean sphere of radius ``radius_fraction`` × the smallest edge, centred in the box."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    r2 = sum((g - n / 2.0) ** 2 for g, n in zip(grids, shape, strict=True))
    return r2 < (radius_fraction * min(shape)) ** 2
