#!/usr/bin/env python3
"""Build the embedded demo dataset (demo/*.mrc.gz) from EMD-3488 with SIMULATED half maps.

EMD-3488 (human haemoglobin, 3.2 Å, 100³ at 1.05 Å; no deposited half maps) is Fourier-binned to
64³ (1.640625 Å voxels, so the files stay small and the demo fast). One side of the particle
(x above the box centre, with a smooth 4-voxel sigmoid transition) is low-passed with a Gaussian
whose amplitude falls to 1/2 at 1/8 Å⁻¹, giving a region of deliberately worse resolution. Two
independent realisations of white Gaussian noise are added to make the two "half maps". The
noise level is set relative to the signal inside the particle (``--noise``). A particle mask
(demo_mask.mrc.gz) is made from the clean map, as a user would supply one. Seeded, so the
files are byte-identical on every run.

Usage: python scripts/make_demo.py [--source PATH] [--out demo] [--seed 3488]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.fft
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from resmap_core.io.mrc import MapGeometry, read_map, write_map  # noqa: E402

DEFAULT_SOURCE = REPO / "tests" / "data" / "emd_3488" / "emd_3488.mrc.gz"
BOX = 64
BLUR_HALF_AMPLITUDE_A = 8.0


def fourier_bin(data: np.ndarray, box: int) -> np.ndarray:
    """Resample a cubic ``data[z, y, x]`` to ``box``³ by cropping its centred Fourier transform.

    The mean density is preserved (the scale accounts for the change in voxel count); the
    Nyquist planes of the smaller box are dropped to keep the result real and symmetric.
    """
    n = data.shape[0]
    spectrum = scipy.fft.fftshift(scipy.fft.fftn(data.astype(np.float64)))
    lo = n // 2 - box // 2
    cropped = spectrum[lo : lo + box, lo : lo + box, lo : lo + box].copy()
    cropped[0, :, :] = 0.0
    cropped[:, 0, :] = 0.0
    cropped[:, :, 0] = 0.0
    out = scipy.fft.ifftn(scipy.fft.ifftshift(cropped)).real
    return out * (box**3 / n**3)


def gaussian_lowpass(data: np.ndarray, voxel_A: float, half_amplitude_A: float) -> np.ndarray:
    """Multiply the spectrum by exp(-a s²) with amplitude 1/2 at s = 1/half_amplitude_A (Å⁻¹)."""
    freqs = [scipy.fft.fftfreq(n, d=voxel_A) for n in data.shape[:2]]
    freqs.append(scipy.fft.rfftfreq(data.shape[2], d=voxel_A))
    fz, fy, fx = np.meshgrid(*freqs, indexing="ij")
    s2 = fz**2 + fy**2 + fx**2
    a = np.log(2.0) * half_amplitude_A**2
    return scipy.fft.irfftn(scipy.fft.rfftn(data) * np.exp(-a * s2), s=data.shape)


def worse_region_weight(shape: tuple[int, int, int]) -> np.ndarray:
    """Weight in [0, 1]: ~1 for x above the centre (the blurred side), ~0 below; sigmoid 4 vox."""
    x = np.arange(shape[2]) - (shape[2] - 1) / 2.0
    w = 1.0 / (1.0 + np.exp(-x / 4.0))
    return np.broadcast_to(w[None, None, :], shape)


def particle_mask(clean: np.ndarray, voxel_A: float) -> np.ndarray:
    """Binary mask (float32 0/1): the clean map low-passed to 10 Å, thresholded at 2σ above its
    mean, largest component kept, holes filled, grown by 3 voxels."""
    smooth = gaussian_lowpass(clean, voxel_A, 10.0)
    core = smooth > smooth.mean() + 2.0 * smooth.std()
    labels, count = ndimage.label(core)
    if count > 1:
        sizes = ndimage.sum(core, labels, index=range(1, count + 1))
        core = labels == (1 + int(np.argmax(sizes)))
    core = ndimage.binary_fill_holes(core)
    ball = ndimage.generate_binary_structure(3, 1)
    return ndimage.binary_dilation(core, ball, iterations=3).astype(np.float32)


def simulate(
    source: Path, seed: int, noise: float
) -> tuple[list[np.ndarray], np.ndarray, MapGeometry]:
    """Return the two simulated half maps (float32), the mask and their geometry."""
    m = read_map(source)
    n = m.data.shape[0]
    voxel_A = m.voxel_size_A[0] * n / BOX
    sharp = fourier_bin(m.data, BOX)
    blurred = gaussian_lowpass(sharp, voxel_A, BLUR_HALF_AMPLITUDE_A)
    w = worse_region_weight(sharp.shape)
    signal = (1.0 - w) * sharp + w * blurred
    inside = sharp > sharp.mean() + 2.0 * sharp.std()
    sigma = noise * float(signal[inside].std())
    rng = np.random.default_rng(seed)
    halves = [(signal + rng.normal(0.0, sigma, signal.shape)).astype(np.float32) for _ in range(2)]
    geometry = MapGeometry(shape=(BOX, BOX, BOX), voxel_size_A=(voxel_A,) * 3)
    return halves, particle_mask(sharp, voxel_A), geometry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=REPO / "demo")
    parser.add_argument("--seed", type=int, default=3488)
    parser.add_argument(
        "--noise",
        type=float,
        default=0.6,
        help="noise σ relative to the signal σ inside the particle (0.6)",
    )
    args = parser.parse_args(argv)
    halves, mask, geometry = simulate(args.source, args.seed, args.noise)
    mask_path = args.out / "demo_mask.mrc.gz"
    write_map(mask_path, mask, geometry, label="mask of the EMD-3488 demo (from the clean map)")
    print(f"wrote {mask_path} ({int(mask.sum())} voxels, {mask_path.stat().st_size / 1e3:.0f} kB)")
    for i, half in enumerate(halves, start=1):
        path = args.out / f"demo_half_map_{i}.mrc.gz"
        write_map(
            path, half, geometry, label=f"SIMULATED half {i} from EMD-3488 (seed {args.seed})"
        )
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
