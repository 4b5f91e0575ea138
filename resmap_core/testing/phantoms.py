"""Synthetic maps with known band limits, for tests, calibration and benchmarks.

A phantom is random density band-limited at a chosen resolution d (all Fourier power at
|k| ≤ 1/d, none beyond) inside a smooth spherical envelope; regions of different d are
blended with smooth weights. Noise is white Gaussian, independent per half map.

The input gallery (below; tests/test_gallery.py, benchmarks/gallery.py) adds particles with a
strong low-frequency envelope (two lobes, a dense ball), white and 1/f noise, radial filters
applied to the whole box (hard, cosine-edged and Butterworth low-pass, B-factor blur and
sharpening), embedding in a larger box of noise and masked depositions (solvent exactly 0).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from resmap_core.spectrum import frequency_magnitude, irfftn_consuming, radial_gain


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


# ---------------------------------------------------------------------------------------------
# The input gallery: particles, noise of several colours, radial filters, boxes, masked maps.
#
# Every generator takes ``shape`` (nz, ny, nx) voxels and ``spacing_zyx_A`` (Å per voxel along
# z, y, x), so non-cubic boxes and anisotropic voxels are handled alike, and returns float32
# arrays [z, y, x] (masks: bool). Spectra go through single-precision half spectra (rfftn),
# gains are applied a few z-planes at a time (no full-size |k| array) and the inverse transform
# reuses the spectrum's memory, so a 512³ map needs about two map-sized buffers beyond itself.
# ---------------------------------------------------------------------------------------------

Shape = tuple[int, int, int]
Spacing = tuple[float, float, float]
Gain = Callable[[np.ndarray], np.ndarray]
"""A radial gain: amplitude factor as a function of |k| (Å⁻¹, array of any shape)."""


def radial_filter(volume: np.ndarray, spacing_zyx_A: Spacing, gain: Gain) -> np.ndarray:
    """``volume`` with its spectrum multiplied by ``gain(|k|)`` everywhere, float32 [z, y, x].

    The gain acts on every coefficient of the box, including the corners beyond the Nyquist
    sphere (|k| up to √3 × Nyquist on a cube), as a filter applied by a program would.
    """
    vol = np.asarray(volume, dtype=np.float32)
    spectrum = sfft.rfftn(vol)
    radial_gain(spectrum, vol.shape, spacing_zyx_A, gain)
    return irfftn_consuming(spectrum, vol.shape).astype(np.float32, copy=False)


def hard_lowpass(cutoff_A: float) -> Gain:
    """Gain 1 for |k| ≤ 1/``cutoff_A`` Å⁻¹, 0 beyond (the true cutoff is 1/cutoff_A)."""
    kc = 1.0 / cutoff_A
    return lambda k: (k <= kc).astype(np.float64)


def cosine_lowpass(cutoff_A: float, edge_invA: float) -> Gain:
    """Raised-cosine edge of total width ``edge_invA`` (Å⁻¹) centred on 1/``cutoff_A``.

    As RELION's soft low-pass: gain 1 below kc − w/2, ½ at kc, 0 beyond kc + w/2, so the
    true cutoff (half amplitude) is kc = 1/cutoff_A.
    """
    kc = 1.0 / cutoff_A

    def gain(k: np.ndarray) -> np.ndarray:
        t = np.clip((k - (kc - edge_invA / 2.0)) / edge_invA, 0.0, 1.0)
        return 0.5 + 0.5 * np.cos(np.pi * t)

    return gain


def butterworth_lowpass(cutoff_A: float, order: int = 8) -> Gain:
    """Butterworth amplitude 1/√(1 + (|k|/kc)^(2·order)); half power at kc = 1/cutoff_A."""
    kc = 1.0 / cutoff_A
    return lambda k: 1.0 / np.sqrt(1.0 + (k / kc) ** (2 * order))


def bfactor_gain(b_A2: float) -> Gain:
    """Amplitude exp(−B|k|²/4) (B in Å²): B > 0 blurs, B < 0 sharpens (unbounded in corners)."""
    return lambda k: np.exp(-b_A2 * k * k / 4.0)


def power_law_gain(exponent: float) -> Gain:
    """Amplitude |k|^−a for |k| > 0 and 0 at |k| = 0 (a = ``exponent``; 0 gives white)."""

    def gain(k: np.ndarray) -> np.ndarray:
        # |k| = 0 maps to inf, whose negative power is 0: the DC term is dropped, no warning
        safe = np.where(k > 0.0, k, np.inf)
        return safe ** (-exponent) if exponent else np.where(k > 0.0, 1.0, 0.0)

    return gain


def _unit_variance(field: np.ndarray, planes: int = 16) -> np.ndarray:
    """``field`` (float32, in place) with mean 0 and variance 1.

    Sums run in double precision over ``planes`` z-planes at a time, so a large box needs no
    float64 copy of itself.
    """
    slabs = range(0, field.shape[0], planes)
    mean = sum(float(field[z : z + planes].sum(dtype=np.float64)) for z in slabs) / field.size
    field -= np.float32(mean)
    square = sum(float(np.square(field[z : z + planes], dtype=np.float64).sum()) for z in slabs)
    field /= np.float32(np.sqrt(square / field.size))
    return field


def coloured_noise(
    shape: Shape, spacing_zyx_A: Spacing, exponent: float, rng: np.random.Generator
) -> np.ndarray:
    """Gaussian noise of mean 0, variance 1, amplitude spectrum ∝ 1/|k|^``exponent``, float32.

    ``exponent`` 0 is plain white noise (no transform); 1 is the usual 1/f colour (power
    ∝ 1/|k|², three decades from the first shell to the 32nd).
    """
    white = rng.standard_normal(shape, dtype=np.float32)
    if exponent == 0:
        return _unit_variance(white)
    return _unit_variance(radial_filter(white, spacing_zyx_A, power_law_gain(exponent)))


def band_limited_field(
    shape: Shape, spacing_zyx_A: Spacing, resolution_A: float, rng: np.random.Generator
) -> np.ndarray:
    """Mean 0, variance 1 random field, flat spectrum up to 1/``resolution_A`` Å⁻¹, float32.

    Single-precision counterpart of :func:`band_limited_noise` for large boxes (different
    numbers for the same seed).
    """
    white = rng.standard_normal(shape, dtype=np.float32)
    return _unit_variance(radial_filter(white, spacing_zyx_A, hard_lowpass(resolution_A)))


def _centred_axes(shape: Shape, spacing_zyx_A: Spacing) -> list[np.ndarray]:
    """Per-axis coordinates (Å, float32, broadcastable) of voxel centres from the box centre."""
    axes = []
    for i, (n, d) in enumerate(zip(shape, spacing_zyx_A, strict=True)):
        view = [1, 1, 1]
        view[i] = n
        axes.append(((np.arange(n, dtype=np.float32) - (n - 1) / 2.0) * d).reshape(view))
    return axes


def _distance_A(shape: Shape, spacing_zyx_A: Spacing, centre_A: np.ndarray) -> np.ndarray:
    """Distance (Å, float32) of every voxel centre from ``centre_A`` (z, y, x from box centre)."""
    axes = _centred_axes(shape, spacing_zyx_A)
    r2 = (axes[0] - np.float32(centre_A[0])) ** 2
    r2 = r2 + (axes[1] - np.float32(centre_A[1])) ** 2  # broadcasts to (nz, ny, 1) first
    r2 = r2 + (axes[2] - np.float32(centre_A[2])) ** 2
    return np.sqrt(r2, out=r2)


def _textured(
    envelope: np.ndarray,
    spacing_zyx_A: Spacing,
    resolution_A: float,
    mean_level: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """envelope × (mean_level + unit-variance field band-limited at ``resolution_A``), float32.

    The mean level gives the particle its strong low-frequency envelope, as a real map has,
    over which the band-limited texture carries the resolution.
    """
    density = band_limited_field(envelope.shape, spacing_zyx_A, resolution_A, rng)
    density += np.float32(mean_level)
    density *= envelope
    return density


def compact_particle(
    shape: Shape,
    spacing_zyx_A: Spacing,
    resolution_A: float,
    mask_fraction: float = 0.03,
    mean_level: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Two touching lobes along the longest box axis: (density float32, mask bool).

    The mask is the union of two balls of radius R (Å) filling ``mask_fraction`` of the box;
    each lobe's envelope is the rounded, Gaussian-like exp(−(r/0.8R)⁴) (0.09 at the mask
    edge); the density is envelope × (``mean_level`` + texture band-limited at
    ``resolution_A`` Å). Raises ValueError when the lobes do not fit in the box.
    """
    volume_A3 = float(np.prod(shape)) * float(np.prod(spacing_zyx_A))
    radius = (mask_fraction * volume_A3 * 3.0 / (8.0 * np.pi)) ** (1.0 / 3.0)
    edges = np.asarray(shape, dtype=np.float64) * np.asarray(spacing_zyx_A)
    axis = int(np.argmax(edges))
    # 0.9 of each edge: the lobes keep a margin from the faces (the auto-mask clears those)
    if 4.0 * radius > 0.9 * edges[axis] or 2.0 * radius > 0.9 * edges.min():
        raise ValueError(f"two lobes of radius {radius:.1f} Å do not fit in a {edges} Å box")
    envelope = np.zeros(shape, dtype=np.float32)
    mask = np.zeros(shape, dtype=bool)
    for sign in (-1.0, 1.0):
        centre = np.zeros(3)
        centre[axis] = sign * radius
        r = _distance_A(shape, spacing_zyx_A, centre)
        mask |= r < radius
        r /= np.float32(0.8 * radius)
        r **= 4
        envelope += np.exp(-r)
    rng = np.random.default_rng(seed)
    return _textured(envelope, spacing_zyx_A, resolution_A, mean_level, rng), mask


def dense_particle(
    shape: Shape,
    spacing_zyx_A: Spacing,
    resolution_A: float,
    fill_fraction: float = 0.30,
    mean_level: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A ball filling ``fill_fraction`` of the box: (density float32, mask bool).

    The mask is the ball of radius R (Å) at the box centre; the envelope is 1 inside R − 2 Å
    and falls to 0 at R with a raised cosine; the density is envelope × (``mean_level`` +
    texture band-limited at ``resolution_A`` Å). Raises ValueError when the ball does not fit.
    """
    volume_A3 = float(np.prod(shape)) * float(np.prod(spacing_zyx_A))
    radius = (fill_fraction * volume_A3 * 3.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
    edges = np.asarray(shape, dtype=np.float64) * np.asarray(spacing_zyx_A)
    if 2.0 * radius > edges.min():
        raise ValueError(f"a ball of radius {radius:.1f} Å does not fit in a {edges} Å box")
    r = _distance_A(shape, spacing_zyx_A, np.zeros(3))
    mask = r < radius
    envelope = (1.0 - smooth_step(r, radius - 1.0, 2.0)).astype(np.float32)
    del r
    rng = np.random.default_rng(seed)
    return _textured(envelope, spacing_zyx_A, resolution_A, mean_level, rng), mask


def noise_sigma_for_snr(density: np.ndarray, mask: np.ndarray, snr: float) -> float:
    """Half-map noise s.d. giving ``snr`` = variance of ``density`` in ``mask`` / noise variance."""
    return float(np.sqrt(np.var(density[mask], dtype=np.float64) / snr))


def noisy_half_maps(
    density: np.ndarray,
    spacing_zyx_A: Spacing,
    noise_sigma: float,
    exponent: float = 0.0,
    seed: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Two half maps: ``density`` plus independent :func:`coloured_noise` × ``noise_sigma``.

    ``exponent`` 0 gives white noise, 1 the 1/f colour. float32 [z, y, x] each.
    """
    rng = np.random.default_rng(seed)
    halves = []
    for _ in range(2):
        half = coloured_noise(density.shape, spacing_zyx_A, exponent, rng)
        half *= np.float32(noise_sigma)
        half += density
        halves.append(half)
    return halves[0], halves[1]


def embed(volume: np.ndarray, background: np.ndarray, corner: tuple[int, int, int]) -> np.ndarray:
    """``background`` (float32 copy) with ``volume`` pasted at voxel ``corner`` (z, y, x)."""
    out = np.array(background, dtype=np.float32)
    out[tuple(slice(c, c + n) for c, n in zip(corner, volume.shape, strict=True))] = volume
    return out


def embed_in_noise(
    volume: np.ndarray,
    spacing_zyx_A: Spacing,
    shape: Shape,
    corner: tuple[int, int, int],
    noise_sigma: float,
    exponent: float = 0.0,
    seed: int = 2,
) -> np.ndarray:
    """``volume`` placed at ``corner`` in a box of ``shape`` padded with noise of its kind.

    The pad is :func:`coloured_noise` × ``noise_sigma`` with the same ``exponent``; for white
    noise the padded box is statistically the same as a map recorded in the larger box, for
    coloured noise the pad is independent of the noise inside (no correlation across the seam).
    """
    pad = coloured_noise(shape, spacing_zyx_A, exponent, np.random.default_rng(seed))
    pad *= np.float32(noise_sigma)
    return embed(volume, pad, corner)


def embed_mask(mask: np.ndarray, shape: Shape, corner: tuple[int, int, int]) -> np.ndarray:
    """``mask`` (bool) placed at ``corner`` in an empty box of ``shape``."""
    return embed(mask.astype(np.float32), np.zeros(shape, np.float32), corner) > 0.5


def soft_mask(mask: np.ndarray, spacing_zyx_A: Spacing, edge_A: float) -> np.ndarray:
    """1 on ``mask``, a raised cosine to 0 over ``edge_A`` Å outside it, exactly 0 beyond.

    Distances are Euclidean in Å (anisotropic voxels included); float32 [z, y, x].
    """
    distance = ndimage.distance_transform_edt(~np.asarray(mask, bool), sampling=spacing_zyx_A)
    # smooth_step reaches exactly 1 at the far end of the edge (cos π = −1), so 1 − it is 0.0
    return (1.0 - smooth_step(distance, edge_A / 2.0, edge_A)).astype(np.float32)


def masked_deposition(volume: np.ndarray, soft: np.ndarray) -> np.ndarray:
    """``volume`` × ``soft`` (float32): a map deposited masked, solvent exactly 0."""
    return (np.asarray(volume, np.float32) * soft).astype(np.float32, copy=False)
