"""Calibration of the window kernel on phantoms with known band limits.

For each band limit d (Å) a sphere of random density band-limited at exactly 1/d Å⁻¹ gets
independent white noise per half map, scaled so that the spectral SNR of the half-map average
is ``--snr`` in every shell up to 1/d (FSC = snr/(1+snr) there, 0 beyond: a map "resolved to
d"). `resmap local` (split mode) runs with both kernels and the median local resolution inside
the sphere (away from its edge) is printed. The kernel whose medians sit closest to the true
band limits (from above, on the 1-Å grid) is the better default. Also prints the two-zone
phantom of the 2014 measurements (3-Å core, 6-Å shell).

    python benchmarks/calibrate_kernel.py [--box 72] [--snr 1.0]
"""

from __future__ import annotations

import argparse

import numpy as np

from resmap_core.io.mrc import MapData, MapGeometry
from resmap_core.localres.scan import Params, run_local
from resmap_core.testing.phantoms import band_limited_noise, half_maps, radius_A, shell_phantom

SPACING = (1.0, 1.0, 1.0)


def _run(h1: np.ndarray, h2: np.ndarray, mask: np.ndarray, kernel: str) -> np.ndarray:
    geometry = MapGeometry(shape=h1.shape, voxel_size_A=SPACING)
    maps = [MapData(h1, geometry, ""), MapData(h2, geometry, "")]
    params = Params(min_res_A=2.2, max_res_A=14.2, kernel=kernel, outside=float("nan"))
    volume, _ = run_local(maps, mask, params)
    return volume


def _half_map_sigma(band_limit_A: float, snr: float) -> float:
    """Half-map noise σ giving spectral SNR ``snr`` inside the band of unit-variance density.

    The density's power fills the sphere |k| ≤ 1/d (volume 4π/(3d³) Å⁻³), white noise fills the
    whole Nyquist cube (1 Å⁻³ for 1 Å voxels); the average of two halves has half the variance.
    """
    band_fraction = 4.0 * np.pi / (3.0 * band_limit_A**3)
    return float(np.sqrt(2.0 / (band_fraction * snr)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--box", type=int, default=72)
    parser.add_argument("--snr", type=float, default=1.0, help="spectral SNR inside the band")
    args = parser.parse_args()
    shape = (args.box,) * 3
    r = radius_A(shape, SPACING)
    outer = 0.33 * args.box
    mask = r < outer
    core = r < outer - 5.0
    print(f"box {args.box}³, 1 Å voxels, spectral SNR {args.snr} inside the band, 2.2–14.2 Å")
    print(f"{'band limit (Å)':>15} {'paper median':>13} {'resmap-1.1 median':>18}")
    for d in (3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        rng = np.random.default_rng(int(d * 10))
        density = band_limited_noise(shape, SPACING, d, rng) * (r < outer)
        h1, h2 = half_maps(density, _half_map_sigma(d, args.snr), seed=int(d * 10) + 1)
        medians = [np.nanmedian(_run(h1, h2, mask, k)[core]) for k in ("paper", "resmap-1.1")]
        print(f"{d:>15.1f} {medians[0]:>13.2f} {medians[1]:>18.2f}", flush=True)
    density, core3, shell6 = shell_phantom(shape, SPACING, 3.0, 6.0, 0.17 * args.box, outer, 4)
    h1, h2 = half_maps(density, _half_map_sigma(3.0, args.snr), seed=5)
    print("two-zone phantom (3-Å core, 6-Å shell): median core / shell")
    for kernel in ("paper", "resmap-1.1"):
        vol = _run(h1, h2, mask, kernel)
        print(f"  {kernel:>10}: {np.nanmedian(vol[core3]):.2f} / {np.nanmedian(vol[shell6]):.2f}")


if __name__ == "__main__":
    main()
