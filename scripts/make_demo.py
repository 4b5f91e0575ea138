#!/usr/bin/env python3
"""Build the embedded demo dataset (demo/*.mrc.gz) from EMD-3488 with SIMULATED half maps.

EMD-3488 (human haemoglobin, 3.2 Å, 100³ at 1.05 Å; no deposited half maps) is Fourier-binned to
64³ (1.640625 Å voxels, so the files stay small and the demo fast). The half maps are made the
way a reconstruction looks before sharpening:

1. the signal is damped by a B-factor envelope (``--bfactor``, amplitude exp(−B|k|²/4)), as an
   unsharpened map is; one side of the particle (x above the box centre, blended in with a
   4-voxel sigmoid) gets a much stronger envelope (``--worse-bfactor``), a region of
   deliberately worse resolution;
2. each half gets its own realisation of Gaussian noise whose power falls gently with frequency
   (``--noise-bfactor``), at ``--noise`` × the signal's σ inside the particle;
3. the mask is made as users make theirs: the average of the two halves low-passed to 15 Å,
   thresholded, the largest piece kept, holes filled, grown by 4 Å and given a 6 Å soft
   (raised-cosine) edge.

Seeded, so the files are byte-identical on every run.

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
from resmap_core.localres.mask import dilate_ball  # noqa: E402
from resmap_core.testing.phantoms import (  # noqa: E402
    bfactor_gain,
    cosine_lowpass,
    radial_filter,
    soft_mask,
)

DEFAULT_SOURCE = REPO / "tests" / "data" / "emd_3488" / "emd_3488.mrc.gz"
BOX = 64
#: The mask as users make it: low-pass (Å), threshold (fraction of the low-passed map's
#: maximum above its median), growth (Å) and soft edge (Å).
MASK_LOWPASS_A = 15.0
MASK_THRESHOLD = 0.12
MASK_GROW_A = 4.0
MASK_EDGE_A = 6.0


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


def worse_region_weight(shape: tuple[int, int, int]) -> np.ndarray:
    """Weight in [0, 1]: ~1 for x above the centre (the blurred side), ~0 below; sigmoid 4 vox."""
    x = np.arange(shape[2]) - (shape[2] - 1) / 2.0
    w = 1.0 / (1.0 + np.exp(-x / 4.0))
    return np.broadcast_to(w[None, None, :], shape)


def user_mask(average: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Soft mask (float32 in [0, 1]) from the half-map average, as users make one.

    Low-pass to :data:`MASK_LOWPASS_A`, threshold at :data:`MASK_THRESHOLD` of the way from the
    median to the maximum, keep the largest piece, fill holes, grow by :data:`MASK_GROW_A` and
    add a raised-cosine edge of :data:`MASK_EDGE_A` (all in Å).
    """
    smooth = radial_filter(average, spacing, cosine_lowpass(MASK_LOWPASS_A, 0.02))
    base = float(np.median(smooth))
    core = smooth > base + MASK_THRESHOLD * (float(smooth.max()) - base)
    labels, count = ndimage.label(core)
    if count > 1:
        sizes = ndimage.sum(core, labels, index=range(1, count + 1))
        core = labels == (1 + int(np.argmax(sizes)))
    grown = dilate_ball(ndimage.binary_fill_holes(core), spacing, MASK_GROW_A)
    return soft_mask(grown, spacing, MASK_EDGE_A)


def simulate(
    source: Path, seed: int, noise: float, bfactor: float, worse_bfactor: float, noise_b: float
) -> tuple[list[np.ndarray], np.ndarray, MapGeometry]:
    """The two simulated half maps (float32), the soft mask and their geometry."""
    m = read_map(source)
    voxel_A = m.voxel_size_A[0] * m.data.shape[0] / BOX
    spacing = (voxel_A,) * 3
    binned = fourier_bin(m.data, BOX).astype(np.float32)
    sharp = radial_filter(binned, spacing, bfactor_gain(bfactor))
    worse = radial_filter(binned, spacing, bfactor_gain(bfactor + worse_bfactor))
    w = worse_region_weight(binned.shape)
    signal = (1.0 - w) * sharp + w * worse
    inside = binned > binned.mean() + 2.0 * binned.std()
    sigma = noise * float(signal[inside].std())
    rng = np.random.default_rng(seed)
    halves = []
    for _ in range(2):
        white = rng.standard_normal(signal.shape).astype(np.float32)
        coloured = radial_filter(white, spacing, bfactor_gain(noise_b))
        coloured *= np.float32(sigma / float(coloured.std()))
        halves.append((signal + coloured).astype(np.float32))
    geometry = MapGeometry(shape=(BOX, BOX, BOX), voxel_size_A=spacing)
    return halves, user_mask(0.5 * (halves[0] + halves[1]), spacing), geometry


def main(argv: list[str] | None = None) -> int:
    """Write demo_half_map_1/2.mrc.gz and demo_mask.mrc.gz into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=REPO / "demo")
    parser.add_argument("--seed", type=int, default=3488)
    parser.add_argument(
        "--noise",
        type=float,
        default=0.25,
        help="noise σ relative to the signal σ inside the particle",
    )
    parser.add_argument("--bfactor", type=float, default=300.0, help="signal envelope B (Å²)")
    parser.add_argument(
        "--worse-bfactor",
        type=float,
        default=1700.0,
        help="extra envelope B (Å²) of the worse side",
    )
    parser.add_argument("--noise-bfactor", type=float, default=30.0,
                        help="envelope B (Å²) of the noise")  # fmt: skip
    args = parser.parse_args(argv)
    halves, mask, geometry = simulate(args.source, args.seed, args.noise, args.bfactor,
                                      args.worse_bfactor, args.noise_bfactor)  # fmt: skip
    mask_path = args.out / "demo_mask.mrc.gz"
    write_map(mask_path, mask, geometry, label="soft mask of the EMD-3488 demo (user-style)")
    print(f"wrote {mask_path} ({int((mask > 0.5).sum())} voxels above 0.5)")
    for i, half in enumerate(halves, start=1):
        path = args.out / f"demo_half_map_{i}.mrc.gz"
        write_map(path, half, geometry, label=f"SIMULATED half map {i} from EMD-3488 (demo)")
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
