"""Timings of the exact null (Ruben mixture, tail quantile) and of BY: old against new.

    PYTHONPATH=. python3 benchmarks/bench_null.py [--ref HEAD] [--sizes 100000 1000000]

"old" is resmap_core/null.py and fdr.py at git revision ``--ref`` (``git show REF:…``, loaded
into temporary modules; once this code is committed, pass the commit before it); "new" is the
working tree. Null weights: ``basis.local_model(λ, (1, 1, 1), 'paper').null_weights``.
Rows, per λ = 2.2, 5.2, 12.2 Å (``paper`` kernel):

- mixture: the coefficients a_0..a_{n−1} from an empty cache (n = 4096, and 65536 as
  needed for tails near 1e-300 at 2.2 Å);
- quantile: ``tail_quantile`` at p = 0.05 (the uncorrected threshold) and 0.05/10⁶, mixture
  cached (the new code's memo of quantiles emptied);
- BY: ``benjamini_yekutieli`` on 10⁵ and 10⁶ statistics (null draws, a fifth with signal),
  cache cold as at each wavelength of a scan; old and new must reject the same voxels;
- the same at 2.2 Å for the ``resmap-1.1`` kernel, whose weights spread over 3.6 decades
  (the slowest case for the old code: ~10⁵ series terms);
- scan: the null work of a per-wavelength scan, 2.2–12.2 Å in 1 Å steps, 470 000 mask voxels
  (a 256³ box with a 2.8 % mask): uncorrected threshold plus BY over the unresolved voxels.

Each time is also given in units of one rfftn + irfftn pair of a 256³ float32 map (same
process, ``--threads`` workers).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import scipy.fft as sfft

from resmap_core.localres import fdr, null
from resmap_core.localres.basis import local_model

REPO = Path(__file__).resolve().parent.parent
LAMBDAS = (2.2, 5.2, 12.2)
Row = tuple[str, float, float, str]


def load_old(ref: str, tmp: Path) -> tuple[ModuleType, ModuleType]:
    """null and fdr at git revision ``ref`` as modules ``old_null`` / ``old_fdr``."""
    mods = []
    for name in ("null", "fdr"):
        src = subprocess.run(
            ["git", "show", f"{ref}:resmap_core/{name}.py"],
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        path = tmp / f"old_{name}.py"
        path.write_text(src)
        spec = importlib.util.spec_from_file_location(f"old_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)
        mods.append(mod)
    old_null, old_fdr = mods
    old_fdr.null = old_null  # the old BY on the old tail
    return old_null, old_fdr


def best_of(fn: Callable[[], object], repeats: int = 3, reset: Callable[[], None] | None = None):
    """Smallest wall time of ``repeats`` calls (``reset`` runs before each, untimed)."""
    times = []
    for _ in range(repeats):
        if reset is not None:
            reset()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def fft_pair_seconds(threads: int) -> float:
    """Best of three rfftn + irfftn pairs of a 256³ float32 map."""
    data = np.random.default_rng(0).standard_normal((256, 256, 256), dtype=np.float32)
    return best_of(
        lambda: sfft.irfftn(sfft.rfftn(data, workers=threads), s=data.shape, workers=threads)
    )


def statistics(w: np.ndarray, n: int, signal: float, seed: int) -> np.ndarray:
    """n null draws Σ_j w_j χ²₁, the first ``signal`` fraction raised by Exp(5)·Σw."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n)
    for wj in w:  # weight by weight keeps memory at one n-vector
        out += wj * rng.standard_normal(n) ** 2
    k = int(signal * n)
    out[:k] += rng.exponential(5.0, k) * float(w.sum())
    return out


def clear(*mods: ModuleType) -> Callable[[], None]:
    """A reset that empties the mixture caches of ``mods``."""
    return lambda: [m._CACHE.clear() for m in mods] and None


def same_decisions(a, b) -> bool:
    """Whether two ByResults reject the same tests at the same thresholds."""
    return (
        a.n_rejected == b.n_rejected
        and a.p_threshold == b.p_threshold
        and all(np.array_equal(x, y) for x, y in zip(a.rejected, b.rejected, strict=True))
        and a.stat_thresholds == b.stat_thresholds
    )


def scan_null(nmod: ModuleType, fmod: ModuleType, n_vox: int) -> float:
    """Seconds of the per-wavelength null work of a 2.2–12.2 Å scan over ``n_vox`` voxels."""
    lams = np.arange(2.2, 12.25, 1.0)
    weights = [local_model(lam, (1, 1, 1), "paper").null_weights for lam in lams]
    stats = [statistics(w, n_vox, 0.3, 7 + i) for i, w in enumerate(weights)]
    nmod._CACHE.clear()
    resolved = np.zeros(n_vox, bool)
    t0 = time.perf_counter()
    for w, s in zip(weights, stats, strict=True):
        nmod.tail_quantile(0.05, w)  # the wavelength record's uncorrected threshold
        by = fmod.benjamini_yekutieli([np.where(resolved, np.nan, s)], [w], 0.05)
        resolved |= by.rejected[0]
    return time.perf_counter() - t0


def forget_quantiles() -> None:
    """Empty the new code's memo of quantiles (so that each call is timed in full)."""
    for mix in null._CACHE.values():
        mix.quantiles.clear()


def mixture_rows(old_null, w: np.ndarray, label: str, sizes: tuple[int, ...]) -> list[Row]:
    """Mixture coefficients a_0..a_{n−1} from an empty cache, old and new."""
    out = []
    for n in sizes:
        t_old = best_of(lambda n=n: old_null._mixture(w, n), 1, clear(old_null))
        t_new = best_of(lambda n=n: null._coefficients(null._mixture(w), n), 3, clear(null))
        out.append((f"mixture {n} terms  {label}", t_old, t_new, ""))
    return out


def quantile_rows(old_null, w: np.ndarray, label: str) -> list[Row]:
    """tail_quantile at the uncorrected level and at 0.05/10⁶, mixture cached."""
    out = []
    for p in (0.05, 0.05 / 1e6):
        old_null.tail_quantile(p, w), null.tail_quantile(p, w)  # extend both mixtures
        t_old = best_of(lambda p=p: old_null.tail_quantile(p, w))
        t_new = best_of(lambda p=p: null.tail_quantile(p, w), 3, forget_quantiles)
        out.append((f"tail_quantile({p:.0e})  {label}", t_old, t_new, ""))
    return out


def by_rows(old_null, old_fdr, w: np.ndarray, label: str, sizes: list[int]) -> list[Row]:
    """BY on n statistics with cold caches (as at each wavelength), old and new."""
    out = []
    for n in sizes:
        s = statistics(w, n, 0.2, 1)
        res = {}
        for tag, nm, fm in (("old", old_null, old_fdr), ("new", null, fdr)):
            nm._CACHE.clear()
            t0 = time.perf_counter()
            res[tag] = (fm.benjamini_yekutieli([s], [w], 0.05), time.perf_counter() - t0)
        note = "same" if same_decisions(res["old"][0], res["new"][0]) else "DIFFERENT"
        out.append((f"BY {n:.0e} stats  {label}", res["old"][1], res["new"][1], note))
    return out


def rows(old_null, old_fdr, sizes: list[int]) -> list[Row]:
    """(label, old seconds, new seconds, note) for every benchmark row."""
    out: list[Row] = []
    cases = [(lam, "paper", (4096, 65536) if lam == 2.2 else (4096,)) for lam in LAMBDAS]
    cases.append((2.2, "resmap-1.1", (65536,)))  # e_max/e_min ≈ 3700: the widest real spread
    for lam, kernel, terms in cases:
        w = local_model(lam, (1, 1, 1), kernel).null_weights
        label = f"λ={lam}" + ("" if kernel == "paper" else f" {kernel}")
        out += mixture_rows(old_null, w, label, terms)
        out += quantile_rows(old_null, w, label)
        out += by_rows(old_null, old_fdr, w, label, sizes if kernel == "paper" else sizes[:1])
    t_old = scan_null(old_null, old_fdr, 470_000)
    t_new = scan_null(null, fdr, 470_000)
    out.append(("scan 2.2–12.2 Å, 470k voxels", t_old, t_new, "11 λ"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD", help="git revision of the old code")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--threads", type=int, default=1, help="FFT workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old_null, old_fdr = load_old(args.ref, Path(tmp))
        table = rows(old_null, old_fdr, args.sizes)
    pair = fft_pair_seconds(args.threads)
    print(f"one rfftn+irfftn pair, 256³ float32, {args.threads} worker(s): {pair:.3f} s")
    print(f"{'':38} {'old s':>9} {'new s':>9} {'speed-up':>9} {'new/FFT':>8}")
    for label, t_old, t_new, note in table:
        print(
            f"{label:38} {t_old:9.4f} {t_new:9.4f} {t_old / t_new:8.1f}× {t_new / pair:8.3f}"
            f"  {note}"
        )


if __name__ == "__main__":
    main()
