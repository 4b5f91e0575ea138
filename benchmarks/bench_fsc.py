"""Timings of the gold-standard FSC and the windowed FSC (prints numbers; see docs/fsc.md).

    PYTHONPATH=. python3 benchmarks/bench_fsc.py [--sizes 128 256] [--threads 2] [--full]

Half maps: Gaussian blobs inside a sphere plus independent noise; the mask is a sphere covering
a third of the box. Windowed FSC at box 20, step 1 and the default step. Step 1 at 256³ is
timed on whole bands of planes (half of the boxes) and extrapolated unless --full. The
one-box-at-a-time reference transforms and sums each box on its own (timed on a sample and
extrapolated).
``relion_postprocess --locres`` is timed when installed (on the 128³ maps only by default).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from resmap_core.fsc.gold_standard import gold_standard_fsc
from resmap_core.fsc.masks import soft_mask
from resmap_core.fsc.windowed import DEFAULT_STEP, sample_points, windowed_fsc
from resmap_core.fsc.windowed_tiles import TILE_Z, hann_window, local_fsc_curves
from resmap_core.io.mrc import MapGeometry, write_map
from resmap_core.spectrum import make_shells, rfft_weights

BOX = 20
VOXEL_A = 1.0


def synthetic_halves(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(half1, half2, mask): blobs in a sphere + noise, and a sphere mask of 1/3 of the box."""
    rng = np.random.default_rng(seed)
    vol = np.zeros((n, n, n), dtype=np.float32)
    radius = 0.43 * n  # (4/3)π r³ = n³/3
    pts = rng.uniform(-radius, radius, (40 * n, 3))
    pts = pts[np.linalg.norm(pts, axis=1) < radius * 0.9] + n / 2
    vol[tuple(np.clip(pts.astype(int), 0, n - 1).T)] = 1.0
    vol = ndimage.gaussian_filter(vol, 1.5)
    vol /= vol.std()
    h1 = vol + 0.5 * rng.standard_normal(vol.shape, dtype=np.float32)
    h2 = vol + 0.5 * rng.standard_normal(vol.shape, dtype=np.float32)
    grid = np.ogrid[:n, :n, :n]
    mask = sum((g - n / 2) ** 2 for g in grid) < radius**2
    return h1, h2, mask


def one_box_at_a_time(h1, h2, points, box) -> float:
    """Seconds per box of a plain loop: cut, taper, rfftn each box, bincount the shells."""
    shells = make_shells((box,) * 3, (VOXEL_A,) * 3)
    w = np.broadcast_to(rfft_weights((box,) * 3), shells.index.shape).ravel()
    idx = shells.index.ravel()
    win = hann_window(box)
    p1 = np.pad(h1, box)
    p2 = np.pad(h2, box)
    start = time.perf_counter()
    for z, y, x in points:
        sl = (slice(z + box - box // 2, z + 2 * box - box // 2),
              slice(y + box - box // 2, y + 2 * box - box // 2),
              slice(x + box - box // 2, x + 2 * box - box // 2))  # fmt: skip
        f1 = sfft.rfftn(p1[sl] * win).ravel()
        f2 = sfft.rfftn(p2[sl] * win).ravel()
        cross = np.bincount(idx, w * (f1 * f2.conj()).real, shells.count + 1)
        a = np.bincount(idx, w * abs(f1) ** 2, shells.count + 1)
        b = np.bincount(idx, w * abs(f2) ** 2, shells.count + 1)
        _ = cross / np.sqrt(a * b)
    return (time.perf_counter() - start) / len(points)


def relion_locres(h1, h2, seconds_limit: int = 1800) -> float | None:
    """Wall seconds of relion_postprocess --locres (sampling 10 Å), or None if not installed."""
    exe = shutil.which("relion_postprocess")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        geom = MapGeometry(h1.shape, (VOXEL_A,) * 3)
        write_map(Path(d) / "h1.mrc", h1, geom)
        write_map(Path(d) / "h2.mrc", h2, geom)
        cmd = [exe, "--i", "h1.mrc", "--i2", "h2.mrc", "--angpix", str(VOXEL_A), "--o", "pp",
               "--locres", "--locres_sampling", "10", "--adhoc_bfac", "0"]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(cmd, cwd=d, capture_output=True, timeout=seconds_limit)
        return time.perf_counter() - start


def bench(n: int, threads: int, full: bool, with_relion: bool) -> None:
    h1, h2, mask = synthetic_halves(n)
    spacing = (VOXEL_A,) * 3
    print(f"--- {n}³, mask {mask.mean():.3f} of the box ({int(mask.sum())} voxels), "
          f"box {BOX}, threads {threads}")  # fmt: skip
    soft = soft_mask(mask, spacing, 6.0)
    t = time.perf_counter()
    gold_standard_fsc(h1, h2, spacing, soft, seed=0, threads=threads)
    print(f"gold-standard FSC (unmasked, masked, corrected): {time.perf_counter() - t:.2f} s")

    t = time.perf_counter()
    windowed_fsc(h1, h2, mask, spacing, box=BOX, step=DEFAULT_STEP, threads=threads)
    t_default = time.perf_counter() - t
    n_default = len(sample_points(mask, DEFAULT_STEP))
    print(f"windowed FSC step {DEFAULT_STEP}: {t_default:.1f} s ({n_default} boxes, "
          f"{1e6 * t_default / n_default:.0f} µs/box, fill included)")  # fmt: skip

    points = sample_points(mask, 1)
    if full or len(points) <= 600_000:
        t = time.perf_counter()
        windowed_fsc(h1, h2, mask, spacing, box=BOX, step=1, threads=threads)
        t_step1 = time.perf_counter() - t
        how = "measured, fill included"
    else:
        # Every other band of TILE_Z planes (whole tiles; the sphere's caps and middle are both
        # in): neighbouring boxes share their x/y transforms, so a random subset of isolated
        # boxes would not be representative.
        band = (points[:, 0] // TILE_Z) % 2 == 1
        t = time.perf_counter()
        local_fsc_curves(h1, h2, points[band], BOX, spacing, threads)
        t_step1 = (time.perf_counter() - t) * len(points) / band.sum()
        how = f"extrapolated from the {band.sum()} boxes of every other band of {TILE_Z} planes"
    print(f"windowed FSC step 1: {t_step1:.1f} s ({len(points)} boxes, "
          f"{1e6 * t_step1 / len(points):.0f} µs/box; {how})")  # fmt: skip

    rng = np.random.default_rng(2)
    sample = points[rng.choice(len(points), 500, replace=False)]
    per_box = one_box_at_a_time(h1, h2, sample, BOX)
    naive = per_box * len(points)
    naive_default = per_box * n_default
    print(f"one box at a time: {1e6 * per_box:.0f} µs/box -> step 1 {naive:.0f} s, "
          f"step {DEFAULT_STEP} {naive_default:.0f} s (extrapolated); ours is "
          f"{naive / t_step1:.1f}x faster at step 1, {naive_default / t_default:.1f}x at step "
          f"{DEFAULT_STEP} (fill included)")  # fmt: skip
    if with_relion:
        secs = relion_locres(h1, h2)
        if secs is None:
            print("relion_postprocess --locres: not installed")
        else:
            print(f"relion_postprocess --locres (sampling 10 Å = every 10 voxels): {secs:.1f} s; "
                  f"time ratio RELION/ours: step 1 {secs / t_step1:.2f}, "
                  f"step {DEFAULT_STEP} {secs / t_default:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="run step 1 on every mask voxel")
    parser.add_argument("--relion-max", type=int, default=128, help="largest size timed in RELION")
    args = parser.parse_args()
    for n in args.sizes:
        bench(n, args.threads, args.full, n <= args.relion_max)


if __name__ == "__main__":
    main()
