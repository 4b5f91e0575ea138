"""Half maps of large boxes (768³, 1024³) made without full-box complex temporaries.

A compact two-lobe particle of sparse "atoms" (random points of unit weight inside two balls
that fill ``mask_fraction`` of the box) blurred with a Gaussian of ``blur_A`` Å (scipy.ndimage,
float32, one axis at a time), written with independent white noise added slab by slab through
mrcfile's memory-mapped writer. Peak memory: two float32 boxes (the density and one blur pass);
a 768³ pair takes about a minute on the 2-core reference machine.

    python benchmarks/large_maps.py 768 /tmp/big768      # writes half1.mrc, half2.mrc, mask.mrc
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import mrcfile
import numpy as np
from scipy import ndimage

SLAB = 32
"""z-planes of noise drawn and written at a time."""


def _lobe_centres(n: int, radius: float) -> np.ndarray:
    """Centres (z, y, x voxels) of two touching balls of ``radius`` along x at the box centre."""
    c = (n - 1) / 2.0
    return np.array([[c, c, c - radius], [c, c, c + radius]])


def sparse_particle(n: int, mask_fraction: float, atoms_per_A3: float, blur_A: float, seed: int):
    """(density float32 [z, y, x], mask bool) of a two-lobe particle on 1 Å voxels.

    Atoms are uniform inside the lobes; the density is their point weights blurred by a
    Gaussian of s.d. ``blur_A`` voxels; the mask is the two balls grown by 3·blur.
    """
    radius = (mask_fraction * n**3 * 3.0 / (8.0 * np.pi)) ** (1.0 / 3.0)
    rng = np.random.default_rng(seed)
    count = int(atoms_per_A3 * 2 * 4.0 / 3.0 * np.pi * radius**3)
    direction = rng.standard_normal((count, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    r = radius * rng.random(count) ** (1.0 / 3.0)
    centres = _lobe_centres(n, radius)[rng.integers(0, 2, count)]
    points = np.clip(np.rint(centres + direction * r[:, None]).astype(np.int64), 0, n - 1)
    density = np.zeros((n, n, n), dtype=np.float32)
    np.add.at(density, (points[:, 0], points[:, 1], points[:, 2]), np.float32(1.0))
    blurred = np.empty_like(density)
    for axis in range(3):  # one axis at a time, ping-pong between two float32 boxes
        ndimage.gaussian_filter1d(density, blur_A, axis=axis, output=blurred, truncate=3.0)
        density, blurred = blurred, density
    del blurred
    mask = _lobe_mask(n, radius + 3.0 * blur_A)
    return density, mask


def _lobe_mask(n: int, radius: float) -> np.ndarray:
    """Union of the two lobes' balls of ``radius`` voxels, built one z-plane at a time."""
    mask = np.zeros((n, n, n), dtype=bool)
    axis = np.arange(n, dtype=np.float32)
    for cz, cy, cx in _lobe_centres(n, radius - 0.0):
        for z in range(max(0, int(cz - radius)), min(n, int(cz + radius) + 2)):
            d2 = (z - cz) ** 2 + (axis[:, None] - cy) ** 2 + (axis[None, :] - cx) ** 2
            mask[z] |= d2 < radius**2
    return mask


def write_pair(folder: Path, density: np.ndarray, noise_sd: float, seed: int) -> None:
    """half1.mrc and half2.mrc: ``density`` + independent white noise (1 Å voxels)."""
    rng = np.random.default_rng(seed)
    for name in ("half1.mrc", "half2.mrc"):
        with mrcfile.new_mmap(folder / name, density.shape, mrc_mode=2, overwrite=True) as mrc:
            for z0 in range(0, density.shape[0], SLAB):
                z1 = min(z0 + SLAB, density.shape[0])
                slab = rng.standard_normal((z1 - z0, *density.shape[1:]), dtype=np.float32)
                slab *= np.float32(noise_sd)
                slab += density[z0:z1]
                mrc.data[z0:z1] = slab
            mrc.voxel_size = 1.0


def make(n: int, folder: Path, mask_fraction: float = 0.11, seed: int = 0) -> dict:
    """Write half1.mrc, half2.mrc and mask.mrc of an ``n``³ box into ``folder``; their facts."""
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    density, mask = sparse_particle(n, mask_fraction, 0.01, 1.2, seed)
    signal_sd = float(density[mask].std())
    write_pair(folder, density, signal_sd, seed + 1)  # SNR 1 inside the mask
    del density
    with mrcfile.new(folder / "mask.mrc", mask.astype(np.float32), overwrite=True) as mrc:
        mrc.voxel_size = 1.0
    return {"box": n, "mask_fraction": float(mask.mean()), "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("box", type=int)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--mask-fraction", type=float, default=0.11)
    args = parser.parse_args()
    facts = make(args.box, args.folder, args.mask_fraction)
    print(
        f"{facts['box']}³ pair, mask {100 * facts['mask_fraction']:.1f} %, "
        f"{facts['seconds']:.0f} s -> {args.folder}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
