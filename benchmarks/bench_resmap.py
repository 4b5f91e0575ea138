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
    python benchmarks/bench_resmap.py --phantoms   # issue-11 table: 256³ two lobes and ball,
                                                   # time split by stage, vs the 2014 program,
                                                   # ResMap-H2 and band energy (× H2)
    python benchmarks/bench_resmap.py --huge 768 1024   # `resmap local` on large_maps.py pairs
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

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


# The 2014 program on the reference machine (2 cores), split mode, 2.2–12.2 Å in 1 Å steps,
# no pre-whitening, its own kernel: seconds for 256³ two lobes (2.8 % mask) and ball (31 %).
REFERENCE_2014_S = {"lobes": 49.9, "ball": 259.0}


def run_phantom(kind: str, n: int, threads: int, estimator: str = "resmap") -> dict:
    """One issue-11 phantom through the four stages, each timed (seconds), in this process."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from resmap_core.io.mrc import MapData, MapGeometry
    from resmap_core.localres import scan
    from resmap_core.testing.phantoms import compact_particle, dense_particle, noisy_half_maps

    shape, spacing = (n, n, n), (1.0, 1.0, 1.0)
    if kind == "lobes":
        density, mask = compact_particle(shape, spacing, 4.0, 0.028, seed=1)
    else:
        density, mask = dense_particle(shape, spacing, 4.0, 0.31, seed=1)
    h1, h2 = noisy_half_maps(density, spacing, float(np.std(density[mask])), seed=2)
    del density
    geometry = MapGeometry(shape=shape, voxel_size_A=spacing)
    maps = [MapData(h1, geometry, ""), MapData(h2, geometry, "")]
    params = scan.Params(
        min_res_A=2.2, max_res_A=12.2, kernel="resmap-1.1", prewhiten=False, lowpass_check=False,
        estimator=estimator,
    )  # fmt: skip
    t = [time.perf_counter()]
    prep = scan.prepare_inputs(maps, mask, params, threads=threads)
    t.append(time.perf_counter())
    passes = [scan.compute_pass(prep, lam, threads) for lam in scan.wavelengths(prep)]
    t.append(time.perf_counter())
    resolution, records = scan.assign_resolution(prep, iter(passes))
    t.append(time.perf_counter())
    volume, record = scan.finalize(prep, resolution, records)
    out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"bench_{kind}_{n}.mrc")
    scan.write_result(out, volume, record, geometry, t[-1] - t[0])
    t.append(time.perf_counter())
    pair = fft_pair_seconds(shape, threads)
    stages = np.diff(t)
    return {
        "kind": kind, "estimator": estimator, "box": n, "mask_fraction": float(mask.mean()),
        "wavelengths": len(passes),
        "prepare": stages[0], "passes": stages[1], "null_fdr": stages[2], "write": stages[3],
        "total": float(stages.sum()), "fft_pair_seconds": pair,
    }  # fmt: skip


def print_phantoms(threads: int) -> None:
    """The issue-11 table: both 256³ phantoms, stage times and ratios, each estimator (band
    energy's total also as a multiple of ResMap-H2's on the same input)."""
    print(f"threads={threads}  split, 2.2–12.2 Å, 1 Å steps, kernel resmap-1.1, no whitening")
    print(
        f"{'phantom':>8} {'estim.':>6} {'mask':>6} {'nλ':>3} {'prep s':>7} {'passes s':>8} "
        f"{'null+FDR s':>10} {'write s':>7} {'total s':>7} {'pairs/λ':>7} {'FDR %':>5} "
        f"{'vs 2014':>7} {'× H2':>5} {'FFT s':>6}"
    )
    for kind in ("lobes", "ball"):
        h2_total = None
        for estimator in ("resmap", "band"):
            r = _phantom_case(kind, estimator, threads)
            h2_total = h2_total or r["total"]
            _print_phantom_row(r, h2_total)


def _phantom_case(kind: str, estimator: str, threads: int) -> dict:
    """:func:`run_phantom` in its own process (its own memory and caches)."""
    out = subprocess.run(
        [sys.executable, __file__, "--phantom-case", kind, "--estimator", estimator,
         "--threads", str(threads)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def _print_phantom_row(r: dict, h2_total: float) -> None:
    """One line of :func:`print_phantoms`."""
    kind = r["kind"]
    print(
        f"{kind:>8} {r['estimator']:>6} {100 * r['mask_fraction']:>5.1f}% {r['wavelengths']:>3} "
        f"{r['prepare']:>7.2f} {r['passes']:>8.2f} {r['null_fdr']:>10.3f} {r['write']:>7.2f} "
        f"{r['total']:>7.2f} {r['passes'] / r['wavelengths'] / r['fft_pair_seconds']:>7.2f} "
        f"{100 * r['null_fdr'] / r['total']:>5.1f} "
        f"{REFERENCE_2014_S[kind] / r['total']:>6.1f}× {r['total'] / h2_total:>5.2f} "
        f"{r['fft_pair_seconds']:>6.3f}",
        flush=True,
    )


def run_huge(n: int, threads: int, folder: str) -> None:
    """`resmap local` (defaults) on a large_maps.py pair of ``n``³: wall time and peak RSS."""
    import large_maps

    where = os.path.join(folder, f"pair{n}")
    if not os.path.exists(os.path.join(where, "half2.mrc")):
        large_maps.make(n, Path(where))
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(
        [sys.executable, "-m", "resmap_core.cli.main", "local", f"{where}/half1.mrc",
         f"{where}/half2.mrc", "--mask", f"{where}/mask.mrc", "--out", f"{where}/local.mrc",
         "--threads", str(threads)],
        check=True,
    )  # fmt: skip
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    map_mb = n**3 * 4 / 2**20
    print(
        f"{n:>5}³  wall {wall:7.1f} s  peak {peak_mb:7.0f} MB = {peak_mb / map_mb:4.2f}× map"
        f"{'' if before == 0 else ' (peak includes an earlier child)'}",
        flush=True,
    )


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
    parser.add_argument("--phantoms", action="store_true", help="the issue-11 256³ table")
    parser.add_argument("--huge", type=int, nargs="*", help="boxes for `resmap local` runs")
    parser.add_argument("--folder", default=os.environ.get("TMPDIR", "/tmp"))
    parser.add_argument("--case", nargs=2, type=float, help=argparse.SUPPRESS)
    parser.add_argument("--phantom-case", help=argparse.SUPPRESS)
    parser.add_argument("--estimator", default="resmap", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phantom_case:
        print(json.dumps(run_phantom(args.phantom_case, 256, args.threads, args.estimator)))
        return
    if args.phantoms:
        print_phantoms(args.threads)
        return
    if args.huge:
        for n in args.huge:
            run_huge(n, args.threads, args.folder)
        return
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
