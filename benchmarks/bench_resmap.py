"""Speed and memory of `resmap local` on synthetic half maps (split mode by default).

Prints, per box and mask size: seconds per wavelength, whole-run seconds, peak RSS of the run
(inputs included, test-data generation excluded) as MB, as a multiple of the float32 map (×map)
and, without the ~80 MB of the interpreter and libraries, net× — and seconds per
wavelength divided by the seconds of one rfftn + irfftn pair (float64, same box, same process).
The scan covers 2.2–12.2 Å in 1 Å steps on 1 Å voxels (the reference measurement of the 2014
program used this range). Each case runs in its own process so that peak RSS is its own.

    python benchmarks/bench_resmap.py            # 64³ .. 256³
    python benchmarks/bench_resmap.py --large    # also 384³ and 512³
    python benchmarks/bench_resmap.py --boxes 256 --variant single   # or lowpass
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import scipy.fft as sfft

MASK_FRACTIONS = (0.03, 0.30)


def fft_pair_seconds(shape: tuple[int, int, int], threads: int) -> float:
    """Best of three rfftn + irfftn pairs on a float64 array of ``shape``."""
    data = np.random.default_rng(0).standard_normal(shape)
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        sfft.irfftn(sfft.rfftn(data, workers=threads), s=shape, workers=threads)
        best = min(best, time.perf_counter() - start)
    return best


def _reset_peak_rss() -> None:
    """Reset the kernel's high-water mark of this process (Linux); no-op elsewhere."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _status_MB(field: str) -> float | None:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MB; None where there is none."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _rss_MB() -> float:
    """Resident memory now (Linux), else 0."""
    return _status_MB("VmRSS") or 0.0


def _peak_rss_MB() -> float:
    """Peak resident memory since the last reset (VmHWM), else since the process started."""
    peak = _status_MB("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _lowpass(volume: np.ndarray, cutoff_A: float) -> None:
    """Zero every Fourier coefficient beyond ``cutoff_A`` (1 Å voxels), in place."""
    kz, ky = (np.fft.fftfreq(n) for n in volume.shape[:2])
    kx = np.fft.rfftfreq(volume.shape[2])
    ft = sfft.rfftn(volume)
    k2 = kz[:, None, None] ** 2 + ky[None, :, None] ** 2 + kx[None, None, :] ** 2
    ft[k2 > cutoff_A**-2] = 0.0
    volume[...] = sfft.irfftn(ft, volume.shape)


def run_case(n: int, fraction: float, threads: int, variant: str = "split") -> dict:
    """One benchmark case in this process; returns its numbers.

    ``variant``: ``split`` (half maps), ``single`` (one map, noise from the background) or
    ``lowpass`` (half maps low-pass filtered at 3 Å, so the scan resamples them).
    """
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # a checkout
    from resmap_core.io.mrc import MapData, MapGeometry
    from resmap_core.localres.scan import Params, run_local
    from resmap_core.testing.phantoms import band_limited_noise, half_maps, radius_A

    imports_mb = _rss_MB()  # interpreter, NumPy, SciPy and resmap_core: paid once, any box
    shape = (n, n, n)
    spacing = (1.0, 1.0, 1.0)
    r = radius_A(shape, spacing)
    mask_radius = (fraction * 3.0 / (4.0 * np.pi)) ** (1.0 / 3.0) * n
    mask = r < mask_radius
    rng = np.random.default_rng(n)
    density = band_limited_noise(shape, spacing, 4.0, rng) * (r < mask_radius * 0.9)
    h1, h2 = half_maps(density, noise_sigma=1.0, seed=n)
    del density, r
    geometry = MapGeometry(shape=shape, voxel_size_A=spacing)
    if variant == "lowpass":
        _lowpass(h1, 3.0)
        _lowpass(h2, 3.0)
    if variant == "single":
        del h2
        maps = [MapData(h1, geometry, "")]
    else:
        maps = [MapData(h1, geometry, ""), MapData(h2, geometry, "")]
    params = Params(min_res_A=2.2, max_res_A=12.2, step_res_A=1.0)
    _reset_peak_rss()  # the peak of run_local itself, not of making the test data
    start = time.perf_counter()
    _, record = run_local(maps, mask, params, threads=threads)
    total = time.perf_counter() - start
    peak_mb = _peak_rss_MB()  # before the reference FFT pair, which needs memory of its own
    tested = len(record["wavelengths"])
    pair = fft_pair_seconds(shape, threads)
    per_wavelength = total / max(tested, 1)
    return {
        "box": n,
        "mask_fraction": float(mask.mean()),
        "wavelengths": tested,
        "seconds_total": total,
        "seconds_per_wavelength": per_wavelength,
        "fft_pair_seconds": pair,
        "fft_pairs_per_wavelength": per_wavelength / pair,
        "peak_rss_MB": peak_mb,
        "imports_MB": imports_mb,
        "map_float32_MB": n**3 * 4 / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also 384³ and 512³")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--boxes", type=int, nargs="*", default=None)
    parser.add_argument(
        "--variant",
        choices=("split", "single", "lowpass"),
        default="split",
        help="half maps (default), one map, or half maps low-pass filtered at 3 Å",
    )
    parser.add_argument("--case", nargs=2, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        case = run_case(int(args.case[0]), args.case[1], args.threads, args.variant)
        print(json.dumps(case))
        return
    boxes = args.boxes or ([64, 128, 192, 256] + ([384, 512] if args.large else []))
    header = (
        f"{'box':>5} {'mask':>6} {'nλ':>3} {'s/λ':>8} {'total s':>8} {'peak MB':>8} "
        f"{'×map':>5} {'net×':>5} {'FFT pair s':>10} {'pairs/λ':>8}"
    )
    print(f"threads={args.threads}  (2.2–12.2 Å, 1 Å steps, 1 Å voxels, {args.variant})")
    print(header)
    for n in boxes:
        for fraction in MASK_FRACTIONS:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--case",
                    str(n),
                    str(fraction),
                    "--threads",
                    str(args.threads),
                    "--variant",
                    args.variant,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{row['box']:>5} {100 * row['mask_fraction']:>5.1f}% {row['wavelengths']:>3} "
                f"{row['seconds_per_wavelength']:>8.3f} {row['seconds_total']:>8.2f} "
                f"{row['peak_rss_MB']:>8.0f} {row['peak_rss_MB'] / row['map_float32_MB']:>5.1f} "
                f"{(row['peak_rss_MB'] - row['imports_MB']) / row['map_float32_MB']:>5.1f} "
                f"{row['fft_pair_seconds']:>10.3f} {row['fft_pairs_per_wavelength']:>8.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
