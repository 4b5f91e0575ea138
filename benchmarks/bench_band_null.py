"""Timings of the band-energy null law (resmap_core/localres/band_null.py).

    PYTHONPATH=. python3 benchmarks/bench_band_null.py [--radii 2 3 … 9] [--threads 1]

For each window radius R (cubic, R³ … offsets (2R+1)³) the law of a realistic kernel: a Gaussian
shell B (ρ = 0.15) at λ = R/1.5 voxels on a periodic 64³ box, a = F⁻¹[B²], window
w(t) = exp(−t²/2s²), s = 0.75λ (so R = ceil(2s)).  Columns:

- build: ``band_null`` (parity blocks + 8 dense eigensolves), best of three;
- kept, dof: kept weights and the effective degrees of freedom (Σe)²/Σe²;
- tail cold / warm: one ``tail_probability`` call on 1000 statistics spread from the bulk to
  P ≈ 1e-300, from an empty cache (its bins' grids designed and summed) and again (cached);
- null 1000: the same on 1000 draws of Q itself (where a scan's p-values lie), cached;
- quantile cold / warm: ``tail_quantile`` at p = 0.05, 1e-6, 1e-50, 1e-200 (mean per call),
  from an empty cache and with the grids cached (memo of quantiles emptied).

Each time is also given in units of one rfftn + irfftn pair of a 256³ float32 map, measured in
the same process with the same number of threads (``--threads``, also the BLAS threads).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np
import scipy.fft as sfft
from threadpoolctl import threadpool_limits

from resmap_core.localres import band_null as bn
from resmap_core.localres.band_null import BandNull, band_null

PS = (0.05, 1e-6, 1e-50, 1e-200)


def best_of(fn: Callable[[], object], repeats: int = 3, reset: Callable[[], None] | None = None):
    """Smallest wall time of ``repeats`` calls (``reset`` before each, untimed)."""
    best = math.inf
    for _ in range(repeats):
        if reset is not None:
            reset()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def fft_pair_seconds(threads: int) -> float:
    """Best of three rfftn + irfftn pairs of a 256³ float32 map."""
    data = np.random.default_rng(0).standard_normal((256, 256, 256), dtype=np.float32)
    return best_of(
        lambda: sfft.irfftn(sfft.rfftn(data, workers=threads), s=data.shape, workers=threads)
    )


def kernel_and_window(radius: int, n: int = 64) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """The realistic kernel (offsets −2R..2R, exactly even) and window of radius R."""
    lam = radius / 1.5
    s = 0.75 * lam
    k = np.fft.fftfreq(n)
    kk = np.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2)
    gain = np.exp(-0.5 * ((kk - 1.0 / lam) * lam / 0.15) ** 2)
    gain[n // 2], gain[:, n // 2], gain[:, :, n // 2] = 0.0, 0.0, 0.0
    a = np.fft.ifftn(gain**2).real
    idx = np.arange(-2 * radius, 2 * radius + 1) % n
    a = a[np.ix_(idx, idx, idx)]
    for axis in range(3):
        a = 0.5 * (a + np.flip(a, axis))
    w = np.exp(-0.5 * (np.arange(-radius, radius + 1) / s) ** 2)
    return a, (w, w, w)


def spread_statistics(law: BandNull) -> np.ndarray:
    """1000 statistics evenly spaced from the bulk (p ≈ 0.9) to p ≈ 1e-300."""
    top = law.tail_quantile(1e-300)
    bn._CACHE.clear()
    low = law.tail_quantile(0.9)
    bn._CACHE.clear()
    return np.linspace(low, top, 1000)


def null_draws(law: BandNull, rng: np.random.Generator) -> np.ndarray:
    """1000 draws of Σ e_j χ²₁ (+ the rest's mean)."""
    return (rng.standard_normal((1000, law.weights.size)) ** 2) @ law.weights + law.rest_sum


def quantiles(law: BandNull) -> None:
    """The quantiles of PS, without start (memoised: the memo is emptied first)."""
    bn._evaluator(law).quantiles.clear()
    for p in PS:
        law.tail_quantile(p)


def row(radius: int, rng: np.random.Generator) -> list[float]:
    """[offsets, build, kept, dof, tail cold, tail warm, null 1000, quantile cold, warm]."""
    a, window = kernel_and_window(radius)
    build = best_of(lambda: band_null(a, window))
    law = band_null(a, window)
    e = law.weights
    dof = (e.sum() + law.rest_sum) ** 2 / (np.sum(e * e) + law.rest_square)
    xs, draws = spread_statistics(law), null_draws(law, rng)
    cold = best_of(lambda: law.tail_probability(xs), reset=bn._CACHE.clear)
    warm = best_of(lambda: law.tail_probability(xs))
    null_warm = best_of(lambda: law.tail_probability(draws))
    q_cold = best_of(lambda: quantiles(law), reset=bn._CACHE.clear) / len(PS)
    q_warm = best_of(lambda: quantiles(law)) / len(PS)
    return [(2 * radius + 1) ** 3, build, e.size, dof, cold, warm, null_warm, q_cold, q_warm]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--radii", type=int, nargs="+", default=list(range(2, 10)))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(20261202)
    with threadpool_limits(args.threads):
        pair = fft_pair_seconds(args.threads)
        rows = [(r, row(r, rng)) for r in args.radii]
    print(f"one rfftn+irfftn pair, 256³ float32, {args.threads} thread(s): {pair:.3f} s")
    head = ("R", "offsets", "build s", "kept", "dof", "tail cold", "tail warm", "null 1000")
    print(" ".join(f"{h:>9}" for h in head) + f" {'q cold':>9} {'q warm':>9}  (tails: 1000 x)")
    for r, v in rows:
        cells = [f"{r:>9d}", f"{v[0]:>9d}", f"{v[1]:>9.3f}", f"{v[2]:>9d}", f"{v[3]:>9.1f}"]
        cells += [f"{t:>9.4f}" for t in v[4:]]
        print(" ".join(cells))
    print("\nthe same times in FFT pairs (time / pair):")
    head = ("R", "build", "tail cold", "tail warm", "null 1000", "q cold", "q warm")
    print(" ".join(f"{h:>9}" for h in head))
    for r, v in rows:
        print(f"{r:>9d} " + " ".join(f"{t / pair:>9.4f}" for t in [v[1], *v[4:]]))


if __name__ == "__main__":
    main()
