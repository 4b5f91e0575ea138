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


# ---------------------------------------------------------------------------------------------
# Phantoms with a known local resolution, for calibrating local-resolution estimators.
#
# Each generator takes a cubic box of ``n`` voxels (spacing in Å per voxel) and returns
# (density, truth): density float64 [z, y, x] and the TRUE local wavelength / band limit in Å
# on the same grid, NaN where it is undefined (outside the phantom's support). Distances are
# measured from the box centre ((n − 1)/2 voxels along each axis), as in :func:`radius_A`.
# ---------------------------------------------------------------------------------------------

CHIRP_CENTRE_A = 12.0
"""Local wavelength (Å) of :func:`chirp_phantom` at the box centre."""
CHIRP_EDGE_A = 3.0
"""Local wavelength (Å) of :func:`chirp_phantom` at radius 0.4·n voxels."""
CHIRP_RADIUS_FRACTION = 0.4
"""Radius of the chirp's defined region, as a fraction of the box edge (voxels)."""
BALL_RADIUS_FRACTION = 0.4
"""Radius of :func:`radial_resolution_ball`, as a fraction of the box edge (voxels)."""


def _cube(n: int, spacing_A: float) -> tuple[Shape, Spacing]:
    """Shape and zyx spacing of a cubic box of ``n`` voxels of ``spacing_A`` Å."""
    return (n, n, n), (spacing_A, spacing_A, spacing_A)


def chirp_wavelength_A(r_A: np.ndarray, edge_radius_A: float) -> np.ndarray:
    """The chirp's local wavelength (Å) at radius ``r_A`` (Å): 12 Å at 0, linear to 3 Å at
    ``edge_radius_A`` and held at 3 Å beyond."""
    slope = (CHIRP_CENTRE_A - CHIRP_EDGE_A) / edge_radius_A
    return CHIRP_CENTRE_A - slope * np.minimum(r_A, edge_radius_A)


def chirp_phase(r_A: np.ndarray, edge_radius_A: float) -> np.ndarray:
    """Phase (rad) ∫₀^r 2π/λ(r′) dr′ of the chirp at radius ``r_A`` (Å), λ of
    :func:`chirp_wavelength_A`: (2π/b)·ln(a/(a − b·r)) with a = 12 Å, b = 9 Å / ``edge_radius_A``,
    continued linearly (λ = 3 Å) beyond ``edge_radius_A``."""
    a = CHIRP_CENTRE_A
    b = (CHIRP_CENTRE_A - CHIRP_EDGE_A) / edge_radius_A
    inside = np.minimum(r_A, edge_radius_A)
    phase = (2.0 * np.pi / b) * np.log(a / (a - b * inside))
    return phase + 2.0 * np.pi * np.maximum(r_A - edge_radius_A, 0.0) / CHIRP_EDGE_A


def chirp_phantom(
    n: int, spacing_A: float = 1.0, fade_A: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The chirp of the ResMap paper (Fig. 1c): (density, truth), float64 [z, y, x], n³.

    Radially symmetric cos(φ(r)) whose local wavelength λ(r) = 2π/φ′(r) falls linearly from
    12 Å at the centre to 3 Å at R = 0.4·n voxels (:func:`chirp_phase`); beyond R it keeps
    λ = 3 Å while a raised cosine fades it from 1 at R to exactly 0 at R + ``fade_A`` Å
    (default 0.06·n voxels: 6 Å in a 100³ box of 1 Å voxels). The truth is λ(r) (Å) for
    r ≤ R, NaN beyond. The density is deterministic (no seed). Raises ValueError when 3 Å is
    not above Nyquist (2·``spacing_A``) or the fade leaves the box.
    """
    if 2.0 * spacing_A >= CHIRP_EDGE_A:
        raise ValueError(f"voxels of {spacing_A} Å cannot hold a {CHIRP_EDGE_A} Å wavelength")
    shape, spacing = _cube(n, spacing_A)
    radius = CHIRP_RADIUS_FRACTION * n * spacing_A
    fade_A = 0.06 * n * spacing_A if fade_A is None else fade_A
    if radius + fade_A > (n - 1) / 2.0 * spacing_A:
        raise ValueError(f"the chirp's fade (to {radius + fade_A:.1f} Å) leaves the box")
    r = radius_A(shape, spacing)
    envelope = 1.0 - smooth_step(r, radius + fade_A / 2.0, fade_A)
    density = envelope * np.cos(chirp_phase(r, radius))
    truth = np.where(r <= radius, chirp_wavelength_A(r, radius), np.nan)
    return density, truth


def _ball_envelope(r_A: np.ndarray, radius: float, edge_A: float) -> np.ndarray:
    """1 inside ``radius − edge_A/2`` Å, raised cosine to exactly 0 at ``radius + edge_A/2``."""
    return 1.0 - smooth_step(r_A, radius, edge_A)


def two_lobes_phantom(
    n: int,
    resolutions_A: tuple[float, float] = (4.0, 8.0),
    spacing_A: float = 1.0,
    edge_A: float = 4.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Two textured lobes side by side along x: (density, truth), float64 [z, y, x], n³.

    Lobe i (centre at x = ∓0.22·n voxels from the box centre, radius 0.17·n voxels) is a
    unit-variance random field band-limited at ``resolutions_A[i]`` Å (:func:`band_limited_noise`,
    flat spectrum up to the cutoff) under a soft ball envelope (raised cosine over ``edge_A`` Å,
    ½ at the radius, exactly 0 beyond radius + ``edge_A``/2: the lobes do not touch). Truth is
    ``resolutions_A[i]`` inside lobe i's radius, NaN elsewhere. Defaults: 4 Å at −x, 8 Å at +x.
    """
    shape, spacing = _cube(n, spacing_A)
    rng = np.random.default_rng(seed)
    radius = 0.17 * n * spacing_A
    offset = 0.22 * n * spacing_A
    if offset - radius < edge_A / 2.0:
        raise ValueError(f"lobes of {n} voxels with a {edge_A} Å edge would touch")
    density = np.zeros(shape)
    truth = np.full(shape, np.nan)
    for sign, resolution in zip((-1.0, 1.0), resolutions_A, strict=True):
        r = _distance_A(shape, spacing, np.array([0.0, 0.0, sign * offset])).astype(np.float64)
        texture = band_limited_noise(shape, spacing, resolution, rng)
        density += _ball_envelope(r, radius, edge_A) * texture
        truth[r <= radius] = resolution
    return density, truth


def _stick_breaking_weights(
    r_A: np.ndarray, boundaries_A: list[float], edge_A: float
) -> list[np.ndarray]:
    """Per-shell amplitude weights w_j(r) (list of arrays) with Σ w_j² = 1 everywhere.

    Across boundary b_j the weight passes from shell j to j + 1 as cos / sin of (π/2)·t, t a
    raised cosine over ``edge_A`` Å centred on b_j: smooth (no kink), and independent shells
    of unit variance then sum to unit variance at every radius.
    """
    weights, remaining = [], np.ones_like(r_A)
    for boundary in boundaries_A:
        t = smooth_step(r_A, boundary, edge_A)
        weights.append(remaining * np.cos(0.5 * np.pi * t))
        remaining = remaining * np.sin(0.5 * np.pi * t)
    weights.append(remaining)
    return weights


def radial_resolution_ball(
    n: int,
    inner_A: float,
    outer_A: float,
    shells: int = 4,
    spacing_A: float = 1.0,
    edge_A: float = 4.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A textured ball whose band limit grows with radius: (density, truth), float64, n³.

    The ball (radius R = 0.4·n voxels) is cut into ``shells`` equally thick shells; shell j
    holds its own unit-variance random field band-limited at d_j = ``inner_A`` + j·(``outer_A``
    − ``inner_A``)/(shells − 1) Å (``inner_A`` at the centre, ``outer_A`` at the surface). Shells
    cross-fade over ``edge_A`` Å with weights whose squares sum to 1 (constant variance), and
    the ball's edge is a raised cosine over ``edge_A`` Å (½ at R). Truth is d_j in shell j
    (boundaries at the middle of each cross-fade), NaN beyond R.
    """
    if shells < 2:
        raise ValueError("a radial-resolution ball needs at least 2 shells")
    shape, spacing = _cube(n, spacing_A)
    rng = np.random.default_rng(seed)
    radius = BALL_RADIUS_FRACTION * n * spacing_A
    boundaries = [radius * (j + 1) / shells for j in range(shells - 1)]
    cutoffs = np.linspace(inner_A, outer_A, shells)
    r = radius_A(shape, spacing)
    density = np.zeros(shape)
    for weight, cutoff in zip(_stick_breaking_weights(r, boundaries, edge_A), cutoffs, strict=True):
        density += weight * band_limited_noise(shape, spacing, float(cutoff), rng)
    density *= _ball_envelope(r, radius, edge_A)
    shell = np.searchsorted(np.asarray(boundaries), r)
    truth = np.where(r <= radius, cutoffs[np.minimum(shell, shells - 1)], np.nan)
    return density, truth


def band_limited_blob(
    n: int,
    cutoff_A: float,
    radius_fraction: float = 0.3,
    spacing_A: float = 1.0,
    edge_A: float = 4.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A textured ball with one band limit: (density, truth), float64 [z, y, x], n³.

    Unit-variance random field band-limited at ``cutoff_A`` Å under a ball envelope of radius
    ``radius_fraction``·n voxels (raised-cosine edge over ``edge_A`` Å, ½ at the radius);
    truth is ``cutoff_A`` inside the radius, NaN beyond.
    """
    shape, spacing = _cube(n, spacing_A)
    rng = np.random.default_rng(seed)
    radius = radius_fraction * n * spacing_A
    r = radius_A(shape, spacing)
    density = _ball_envelope(r, radius, edge_A) * band_limited_noise(shape, spacing, cutoff_A, rng)
    truth = np.where(r <= radius, cutoff_A, np.nan)
    return density, truth


def phantom_support(truth: np.ndarray, spacing_A: float = 1.0, margin_A: float = 4.0) -> np.ndarray:
    """A generous mask (bool): voxels within ``margin_A`` Å of the truth's defined region."""
    outside = ~np.isfinite(truth)
    distance = ndimage.distance_transform_edt(outside, sampling=spacing_A)
    return distance <= margin_A


def phantom_half_maps(
    density: np.ndarray,
    truth: np.ndarray,
    sigma: float,
    exponent: float = 0.0,
    spacing_A: float = 1.0,
    seed: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Two half maps at relative noise ``sigma``, as in the ResMap paper: float32 [z, y, x].

    Each half is ``density`` plus independent Gaussian noise of s.d. ``sigma``·√2·s, where s is
    the s.d. of ``density`` over the truth's defined region, so the half-map average carries
    noise of s.d. ``sigma``·s. ``exponent`` 0 gives white noise, 1 the 1/f colour (amplitude ∝
    1/|k|, :func:`coloured_noise`), of the same total variance.
    """
    signal_sd = float(np.std(density[np.isfinite(truth)]))
    noise_sigma = sigma * np.sqrt(2.0) * signal_sd
    return noisy_half_maps(
        density, _cube(density.shape[0], spacing_A)[1], noise_sigma, exponent, seed
    )
