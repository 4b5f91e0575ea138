"""Synthetic half maps and masks shared by the FSC and windowed-FSC tests (deterministic)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from resmap_core.io.mrc import MapGeometry, write_map
from resmap_core.spectrum import make_shells, rfft_weights


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


# ------------------------------------------------------------------ phantoms with an oracle


@dataclass(frozen=True)
class Phantom:
    """A known signal, a binary mask and a noise level: half map i = signal + σ·noise_i.

    ``signal`` and ``mask`` are ``[z, y, x]`` (float64, bool) on a grid of ``spacing_zyx_A``
    (Å); ``sigma`` is the standard deviation of the white noise per voxel of each half map.
    """

    name: str
    signal: np.ndarray
    mask: np.ndarray
    spacing_zyx_A: tuple[float, float, float]
    sigma: float

    def halves(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Two half maps with independent white noise (seeded)."""
        rng = np.random.default_rng(seed)
        h1 = self.signal + self.sigma * rng.standard_normal(self.signal.shape)
        h2 = self.signal + self.sigma * rng.standard_normal(self.signal.shape)
        return h1, h2


def gaussian_blobs(
    shape: tuple[int, int, int],
    spacing_zyx_A: tuple[float, float, float],
    centres_A: list[tuple[float, float, float]],
    radii_A: tuple[float, float, float],
    per_centre: int,
    blob_sigma_A: float,
    seed: int,
) -> np.ndarray:
    """Gaussian blobs (σ ``blob_sigma_A`` Å) at random points in ellipsoids around each centre.

    Centres and semi-axes ``radii_A`` are (z, y, x) in Å from the grid origin; points snap to the
    nearest voxel and get amplitudes in [0.5, 1.5]. Normalised to unit standard deviation.
    """
    rng = np.random.default_rng(seed)
    spacing = np.asarray(spacing_zyx_A)
    points = []
    for centre in centres_A:
        found = 0
        while found < per_centre:
            u = rng.uniform(-1.0, 1.0, 3)
            if u @ u < 1.0:
                points.append(np.asarray(centre) + u * np.asarray(radii_A))
                found += 1
    idx = np.clip(np.rint(np.array(points) / spacing).astype(int), 0, np.array(shape) - 1)
    vol = np.zeros(shape)
    np.add.at(vol, tuple(idx.T), rng.uniform(0.5, 1.5, len(idx)))
    vol = ndimage.gaussian_filter(vol, tuple(blob_sigma_A / spacing))
    return vol / vol.std()


def particle_mask(
    signal: np.ndarray, spacing_zyx_A: tuple[float, float, float], margin_A: float
) -> np.ndarray:
    """Binary mask: voxels within ``margin_A`` Å of where the signal exceeds 5 % of its peak."""
    core = signal > 0.05 * signal.max()
    return ndimage.distance_transform_edt(~core, sampling=spacing_zyx_A) <= margin_A


def analytic_masked_fsc(phantom: Phantom) -> tuple[np.ndarray, np.ndarray]:
    """Expected masked FSC per shell of ``phantom`` (frequency Å⁻¹, FSC).

    With half maps s + n_i, independent white noise of variance σ² per voxel and a mask m, the
    masked maps are m·s + m·n_i; E|F[m·n_i](k)|² = σ²·Σ_v m(v)² at every k (unnormalised DFT),
    and the noise terms do not correlate, so per shell
    FSC = Σ|F[m·s]|² / (Σ|F[m·s]|² + N_k·σ²·Σ_v m(v)²), N_k = coefficients in the shell
    (full spectrum, as the FSC sums).
    """
    shape = phantom.signal.shape
    shells = make_shells(shape, phantom.spacing_zyx_A)
    w = np.broadcast_to(rfft_weights(shape), shells.index.shape)
    m = phantom.mask.astype(np.float64)
    f = sfft.rfftn(m * phantom.signal)
    signal_power = shells.sum(w * (f.real**2 + f.imag**2))
    noise_power = shells.sum(w) * phantom.sigma**2 * float(np.sum(m * m))
    return shells.frequency_invA, signal_power / (signal_power + noise_power)


def _two_lobe() -> Phantom:
    """Compact two-lobe particle (2.5 % of an 80³ box at 1.25 Å), tight mask, σ 1.5."""
    d = 1.25
    c = 40 * d
    spacing = (d, d, d)
    lobes = [(c - 7 * d, c, c - 2 * d), (c + 7 * d, c + d, c + 2 * d)]
    signal = gaussian_blobs((80, 80, 80), spacing, lobes, (9 * d,) * 3, 80, 1.0 * d, seed=0)
    return Phantom("two-lobe", signal, particle_mask(signal, spacing, 3 * d), spacing, 1.5)


def _dense_ball() -> Phantom:
    """Dense ball of blobs (13 % of an 80³ box at 1 Å), low SNR: σ 3."""
    spacing = (1.0, 1.0, 1.0)
    signal = gaussian_blobs((80, 80, 80), spacing, [(40.0,) * 3], (22.0,) * 3, 1000, 1.0, seed=0)
    return Phantom("dense ball", signal, particle_mask(signal, spacing, 3.0), spacing, 3.0)


def _anisotropic() -> Phantom:
    """Ellipsoidal particle in a non-cubic 64×88×76 (z, y, x) box, voxels 1.3×1.0×1.1 Å, σ 2."""
    shape, spacing = (64, 88, 76), (1.3, 1.0, 1.1)
    centre = tuple(n * d / 2 for n, d in zip(shape, spacing, strict=True))
    signal = gaussian_blobs(shape, spacing, [centre], (16.0, 24.0, 20.0), 600, 1.2, seed=0)
    return Phantom("anisotropic", signal, particle_mask(signal, spacing, 3.0), spacing, 2.0)


#: The phantoms of the analytic-oracle tests, by name, with the seed of their half-map noise.
PHANTOMS = {
    "two_lobe": (_two_lobe, 2),
    "dense_ball": (_dense_ball, 1),
    "anisotropic": (_anisotropic, 2),
}


def make_phantom(name: str) -> tuple[Phantom, int]:
    """One of :data:`PHANTOMS` and its noise seed."""
    build, seed = PHANTOMS[name]
    return build(), seed


def write_phantom(folder: Path, phantom: Phantom, seed: int) -> dict[str, Path]:
    """Write h1.mrc, h2.mrc and the binary mask.mrc of ``phantom`` (noise ``seed``) in ``folder``.

    Returns the paths by name. Maps are float32 MRC with the phantom's (x, y, z) voxel size.
    """
    geometry = MapGeometry(phantom.signal.shape, phantom.spacing_zyx_A[::-1])
    h1, h2 = phantom.halves(seed)
    paths = {name: folder / f"{name}.mrc" for name in ("h1", "h2", "mask")}
    for name, volume in (("h1", h1), ("h2", h2), ("mask", phantom.mask.astype(np.float32))):
        write_map(paths[name], volume, geometry)
    return paths


def relion_fsc_table(star_text: str) -> dict[str, np.ndarray]:
    """Columns of the data_fsc loop of a relion_postprocess STAR file, by label."""
    block = star_text.split("data_fsc", 1)[1].split("data_", 1)[0]
    labels, rows = [], []
    for line in block.splitlines():
        word = line.strip()
        if word.startswith("_rln"):
            labels.append(word.split()[0])
        elif word and word[0].isdigit():
            rows.append([float(v) for v in word.split()])
    table = np.array(rows)
    return {label: table[:, i] for i, label in enumerate(labels)}
