"""Calibration of the local-resolution estimators on phantoms with a known local resolution.

Phantoms (``resmap_core.testing.phantoms``, 1 Å voxels, n³ box): the ResMap paper's chirp
(local wavelength 12 Å at the centre falling linearly to 3 Å at 0.4·n), two lobes band-limited
at 4 and 8 Å, a ball whose band limit grows from 3 Å (centre) to 8 Å (surface) in 4 shells, and
balls with one band limit. Half maps carry independent noise of s.d. σ·√2 each, σ relative to
the signal's s.d. over the phantom's support (white, or 1/f with the same total variance). The
mask is the support grown by 4 Å; the scan covers 2.2–14.2 Å in 1 Å steps (``--data-driven``:
the program's defaults); pre-whitening and the low-pass check stay on (every input is noisy).

Reported per phantom, noise and estimator: Spearman ρ_s between estimate and truth over the
support (unresolved voxels count as 100 Å), medians per truth band with ✓ when within one grid
step of the band's centre (chirp), the lobes' medians, order and separation in grid steps, the
ball's median per shell, the blob's median vs its cutoff, the resolved share of the support and
the wall time of each run. Pure noise (no signal, white and 1/f, several seeds): the share of
mask voxels given any resolution, which a calibrated test keeps at or below p = 0.05. The grid
part scans the band estimator's two shape constants (``band_width`` ρ × ``band_window`` κ):
chirp Spearman at each σ and the lobes' separation. Timing: seconds of ResMap-H2 vs band
energy on the same inputs and their ratio.

    python benchmarks/band_calibration.py                          # H2, all phantom parts
    python benchmarks/band_calibration.py --estimator both         # H2 and band energy
    python benchmarks/band_calibration.py --estimator band --parts grid   # ρ × κ (slow)
    python benchmarks/band_calibration.py --estimator both --parts all    # everything
    python benchmarks/band_calibration.py --size 64 --parts chirp noise --noise-seeds 1 2 3 4
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # a checkout

from resmap_core.io.mrc import MapData, MapGeometry  # noqa: E402
from resmap_core.localres.params import Params  # noqa: E402
from resmap_core.localres.scan import run_local  # noqa: E402
from resmap_core.testing import phantoms  # noqa: E402

SPACING = (1.0, 1.0, 1.0)
UNRESOLVED_A = 100.0
P_VALUE = 0.05
MASK_MARGIN_A = 4.0
CHIRP_BANDS = ((3.0, 5.0), (5.0, 7.0), (7.0, 9.0), (9.0, 12.0))
COLOURS = {"white": 0.0, "1/f": 1.0}
PARTS = ("chirp", "lobes", "ball", "blob", "noise", "grid")
Phantom = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Estimator:
    """One estimator setting: ``resmap`` (H2) or ``band`` with its shape constants."""

    name: str
    band_width: float | None = None
    band_window: float | None = None

    @property
    def label(self) -> str:
        """Short row label: 'resmap', 'band' or 'band ρ=… κ=…' when the constants are set."""
        if self.name != "band" or self.band_width is None:
            return self.name
        return f"band ρ={self.band_width:g} κ={self.band_window:g}"


@dataclass
class Study:
    """The run's settings and its timing log (label of the input → estimator → (seconds,
    wavelengths tested))."""

    size: int
    seeds: list[int]
    sigmas: list[float]
    colours: list[str]
    estimators: list[Estimator]
    grid_A: tuple[float | None, float | None, float]
    threads: int
    times: dict[str, dict[str, tuple[float, int]]] = field(default_factory=dict)


def band_available() -> bool:
    """True when :class:`Params` has the band-energy estimator (``estimator``, ``band_*``)."""
    names = {f.name for f in dataclasses.fields(Params)}
    return {"estimator", "band_width", "band_window"} <= names


def make_params(estimator: Estimator, grid_A: tuple[float | None, float | None, float]) -> Params:
    """Parameters of one run: the wavelength grid (Å) and, for band energy, its constants."""
    min_res, max_res, step = grid_A
    kwargs: dict = {"min_res_A": min_res, "max_res_A": max_res, "step_res_A": step}
    if estimator.name == "band":
        kwargs["estimator"] = "band"
        if estimator.band_width is not None:
            kwargs["band_width"] = estimator.band_width
        if estimator.band_window is not None:
            kwargs["band_window"] = estimator.band_window
    return Params(**kwargs)


def estimate(
    halves: tuple[np.ndarray, np.ndarray],
    mask: np.ndarray,
    estimator: Estimator,
    study: Study,
    label: str,
) -> tuple[np.ndarray, float]:
    """Local resolution (Å, 100 outside/unresolved) of ``halves`` and the run's seconds; the
    time and the number of wavelengths tested (the scan stops once every voxel is decided)
    are logged under ``label`` (the input) and the estimator's label."""
    geometry = MapGeometry(shape=halves[0].shape, voxel_size_A=SPACING)
    maps = [MapData(h, geometry, "") for h in halves]
    params = make_params(estimator, study.grid_A)
    start = time.perf_counter()
    volume, record = run_local(maps, mask, params, threads=study.threads)
    seconds = time.perf_counter() - start
    study.times.setdefault(label, {})[estimator.label] = (seconds, len(record["wavelengths"]))
    return np.where(np.isfinite(volume), volume, UNRESOLVED_A), seconds


def step_A(study: Study) -> float:
    """The grid step (Å)."""
    return study.grid_A[2]


# --- metrics -----------------------------------------------------------------------------------


def spearman(volume: np.ndarray, truth: np.ndarray) -> float:
    """Spearman rank correlation of estimate and truth over the truth's support (NaN when
    either is constant there)."""
    inside = np.isfinite(truth)
    est, ref = volume[inside], truth[inside]
    if np.ptp(est) == 0 or np.ptp(ref) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.spearmanr(est, ref).statistic)


def resolved_share(volume: np.ndarray, region: np.ndarray) -> float:
    """Share of ``region`` voxels given a resolution (below the unresolved value)."""
    return float(np.mean(volume[region] < UNRESOLVED_A))


def median_in(volume: np.ndarray, region: np.ndarray) -> float:
    """Median estimate (Å; unresolved = 100) over ``region`` (NaN when empty)."""
    return float(np.median(volume[region])) if region.any() else float("nan")


def marked(value: float, target: float, step: float) -> str:
    """``value`` (Å) with ✓ when within one grid step of ``target``, ✗ otherwise."""
    ok = abs(value - target) <= step + 1e-9
    return f"{value:6.2f}{'✓' if ok else '✗'}"


def lobe_summary(volume: np.ndarray, truth: np.ndarray, step: float) -> tuple[float, float, str]:
    """Medians of the 4-Å and 8-Å lobes and 'order, separation in grid steps'."""
    fine, coarse = median_in(volume, truth == 4.0), median_in(volume, truth == 8.0)
    separation = (coarse - fine) / step
    return fine, coarse, f"{'ok' if fine < coarse else 'WRONG'} {separation:+5.1f} steps"


# --- phantoms and inputs -----------------------------------------------------------------------


def noisy_inputs(
    phantom: Phantom, sigma: float, colour: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Half maps of ``phantom`` at relative noise ``sigma`` of ``colour`` (white, 1/f)."""
    density, truth = phantom
    return phantoms.phantom_half_maps(density, truth, sigma, COLOURS[colour], seed=1000 + seed)


def cases(
    study: Study, make: Callable[[int], Phantom]
) -> Iterator[tuple[str, Phantom, tuple[np.ndarray, np.ndarray], np.ndarray]]:
    """(label, phantom, half maps, mask) for every colour × σ × seed of ``study``."""
    for seed in study.seeds:
        phantom = make(seed)
        mask = phantoms.phantom_support(phantom[1], margin_A=MASK_MARGIN_A)
        for colour in study.colours:
            for sigma in study.sigmas:
                label = f"{colour:>5} σ={sigma:<4g} seed {seed}"
                yield label, phantom, noisy_inputs(phantom, sigma, colour, seed), mask


# --- the parts ---------------------------------------------------------------------------------


def part_chirp(study: Study) -> None:
    """Chirp: Spearman, median per true-λ band (✓ within one step of its centre), resolved %."""
    n, step = study.size, step_A(study)
    bands = " ".join(f"{f'{lo:g}–{hi:g} Å':>8}" for lo, hi in CHIRP_BANDS)
    print(f"\n## chirp {n}³ (12 → 3 Å at r = {0.4 * n:g} vox); medians ✓ = within {step:g} Å")
    print(f"{'input':<22} {'estimator':<20} {'ρ_s':>6} {bands} {'resolved':>8} {'s':>6}")
    for label, (_, truth), halves, mask in cases(study, lambda _: phantoms.chirp_phantom(n)):
        for est in study.estimators:
            volume, seconds = estimate(halves, mask, est, study, f"chirp {label}")
            medians = []
            for lo, hi in CHIRP_BANDS:
                band = (truth >= lo) & ((truth < hi) if hi < 12.0 else (truth <= hi))
                medians.append(marked(median_in(volume, band), 0.5 * (lo + hi), step))
            print(
                f"{label:<22} {est.label:<20} {spearman(volume, truth):>6.3f} "
                f"{' '.join(f'{m:>8}' for m in medians)} "
                f"{100 * resolved_share(volume, np.isfinite(truth)):>7.1f}% {seconds:>6.1f}",
                flush=True,
            )


def part_lobes(study: Study) -> None:
    """Two lobes (4 Å, 8 Å): medians, order and separation (truth: 4 Å = 4 steps apart)."""
    n, step = study.size, step_A(study)
    print(f"\n## two lobes {n}³ (4 Å at −x, 8 Å at +x; true separation {4.0 / step:g} steps)")
    header = f"{'4-Å lobe':>9} {'8-Å lobe':>9} {'order, separation':>18}"
    print(f"{'input':<22} {'estimator':<20} {'ρ_s':>6} {header} {'resolved':>8} {'s':>6}")
    lobes = cases(study, lambda seed: phantoms.two_lobes_phantom(n, seed=seed))
    for label, (_, truth), halves, mask in lobes:
        for est in study.estimators:
            volume, seconds = estimate(halves, mask, est, study, f"lobes {label}")
            fine, coarse, order = lobe_summary(volume, truth, step)
            print(
                f"{label:<22} {est.label:<20} {spearman(volume, truth):>6.3f} "
                f"{marked(fine, 4.0, step):>9} {marked(coarse, 8.0, step):>9} {order:>18} "
                f"{100 * resolved_share(volume, np.isfinite(truth)):>7.1f}% {seconds:>6.1f}",
                flush=True,
            )


def part_ball(study: Study) -> None:
    """Radial ball (3 Å at the centre → 8 Å at the surface, 4 shells): median per shell."""
    n, step = study.size, step_A(study)
    levels = np.linspace(3.0, 8.0, 4)
    shells = " ".join(f"{f'{d:.2f} Å':>8}" for d in levels)
    print(f"\n## radial ball {n}³ (band limit per shell, centre → surface; ✓ within {step:g} Å)")
    print(f"{'input':<22} {'estimator':<20} {'ρ_s':>6} {shells} {'resolved':>8} {'s':>6}")
    balls = cases(study, lambda seed: phantoms.radial_resolution_ball(n, 3.0, 8.0, seed=seed))
    for label, (_, truth), halves, mask in balls:
        for est in study.estimators:
            volume, seconds = estimate(halves, mask, est, study, f"ball {label}")
            medians = [marked(median_in(volume, truth == d), d, step) for d in levels]
            print(
                f"{label:<22} {est.label:<20} {spearman(volume, truth):>6.3f} "
                f"{' '.join(f'{m:>8}' for m in medians)} "
                f"{100 * resolved_share(volume, np.isfinite(truth)):>7.1f}% {seconds:>6.1f}",
                flush=True,
            )


def part_blob(study: Study, cutoffs_A: list[float]) -> None:
    """Balls band-limited at one cutoff each: median vs cutoff (✓ within one grid step)."""
    n, step = study.size, step_A(study)
    print(f"\n## band-limited blobs {n}³ (radius {0.3 * n:g} vox); median vs cutoff")
    print(f"{'input':<22} {'estimator':<20} {'cutoff':>6} {'median':>8} {'resolved':>8} {'s':>6}")
    for cutoff in cutoffs_A:
        blobs = cases(study, lambda seed, d=cutoff: phantoms.band_limited_blob(n, d, seed=seed))
        for label, (_, truth), halves, mask in blobs:
            for est in study.estimators:
                volume, seconds = estimate(halves, mask, est, study, f"blob {cutoff:g} {label}")
                median = marked(median_in(volume, np.isfinite(truth)), cutoff, step)
                print(
                    f"{label:<22} {est.label:<20} {cutoff:>6g} {median:>8} "
                    f"{100 * resolved_share(volume, np.isfinite(truth)):>7.1f}% {seconds:>6.1f}",
                    flush=True,
                )


def part_noise(study: Study, seeds: list[int]) -> None:
    """Pure noise (no signal): share of mask voxels given a resolution, per seed."""
    n = study.size
    _, truth = phantoms.chirp_phantom(n)
    mask = phantoms.phantom_support(truth, margin_A=MASK_MARGIN_A)
    shape = (n, n, n)
    print(f"\n## pure noise {n}³, mask {mask.mean():.1%} of the box; calibrated: ≤ {P_VALUE:g}")
    print(f"{'colour':<6} {'estimator':<20} {'per seed: resolved share of the mask':<44} worst")
    for colour in study.colours:
        for est in study.estimators:
            shares = []
            for seed in seeds:
                halves = phantoms.noisy_half_maps(
                    np.zeros(shape), SPACING, 1.0, COLOURS[colour], seed=2000 + seed
                )
                volume, _ = estimate(halves, mask, est, study, f"noise {colour} seed {seed}")
                shares.append(resolved_share(volume, mask))
            worst = max(shares)
            cells = " ".join(f"{s:.4f}" for s in shares)
            verdict = "ok" if worst <= P_VALUE else "OVER p"
            print(f"{colour:<6} {est.label:<20} {cells:<44} {worst:.4f} {verdict}", flush=True)


def grid_inputs(study: Study, lobe_sigma: float) -> tuple[list, tuple]:
    """Inputs of the grid part (white noise, first seed): one chirp per σ and the lobes."""
    n, seed = study.size, study.seeds[0]
    chirp = phantoms.chirp_phantom(n)
    chirp_mask = phantoms.phantom_support(chirp[1], margin_A=MASK_MARGIN_A)
    chirps = [(s, chirp[1], noisy_inputs(chirp, s, "white", seed)) for s in study.sigmas]
    lobes = phantoms.two_lobes_phantom(n, seed=seed)
    lobe_mask = phantoms.phantom_support(lobes[1], margin_A=MASK_MARGIN_A)
    lobe_case = (lobes[1], noisy_inputs(lobes, lobe_sigma, "white", seed), lobe_mask)
    return [(chirp_mask, *c) for c in chirps], lobe_case


def part_grid(study: Study, widths: list[float], windows: list[float], lobe_sigma: float) -> None:
    """Band energy over ρ (band_width) × κ (band_window): chirp Spearman per σ (white noise)
    and the lobes' separation at ``lobe_sigma``; * marks the defaults (0.15, 0.75)."""
    chirps, (lobe_truth, lobe_halves, lobe_mask) = grid_inputs(study, lobe_sigma)
    step = step_A(study)
    sig = " ".join(f"{f'ρ_s σ={s:g}':>10}" for s in study.sigmas)
    print(f"\n## band-energy shape constants, {study.size}³, white noise, seed {study.seeds[0]}")
    print(
        f"{'ρ':>5} {'κ':>5}  {sig} {f'lobes σ={lobe_sigma:g}: 4 / 8 Å, order, sep.':>36} {'s':>6}"
    )
    for width in widths:
        for window in windows:
            est = Estimator("band", width, window)
            start, cells = time.perf_counter(), []
            for mask, sigma, truth, halves in chirps:
                volume, _ = estimate(halves, mask, est, study, f"grid chirp σ={sigma:g}")
                cells.append(f"{spearman(volume, truth):>10.3f}")
            volume, _ = estimate(lobe_halves, lobe_mask, est, study, "grid lobes")
            fine, coarse, order = lobe_summary(volume, lobe_truth, step)
            default = "*" if (width, window) == (0.15, 0.75) else " "
            print(
                f"{width:>5g} {window:>5g}{default} {' '.join(cells)} "
                f"{f'{fine:6.2f} / {coarse:6.2f}  {order}':>36} "
                f"{time.perf_counter() - start:>6.1f}",
                flush=True,
            )


def print_timing(study: Study) -> None:
    """Seconds and wavelengths tested (nλ) of H2 and of band energy (default constants) on the
    same inputs, seconds per wavelength, and the ratio of the run times."""
    pairs = [(k, v) for k, v in study.times.items() if "resmap" in v and "band" in v]
    if not pairs:
        return
    print("\n## wall time on the same input: ResMap-H2 vs band energy (default constants)")
    cols = f"{'s':>7} {'nλ':>3} {'s/λ':>5}"
    print(f"{'input':<32} {'resmap:':<7}{cols}  {'band:':<5}{cols} {'band/resmap':>11}")
    for label, times in pairs:
        cells = []
        for name in ("resmap", "band"):
            seconds, count = times[name]
            cells.append(f"{seconds:>7.2f} {count:>3} {seconds / max(count, 1):>5.2f}")
        ratio = times["band"][0] / times["resmap"][0]
        print(f"{label:<32} {'':<7}{cells[0]}  {'':<5}{cells[1]} {ratio:>11.2f}")
    totals = [sum(t[name][0] for _, t in pairs) for name in ("resmap", "band")]
    counts = [sum(t[name][1] for _, t in pairs) for name in ("resmap", "band")]
    print(
        f"{'all':<32} {'':<7}{totals[0]:>7.1f} {counts[0]:>3} {totals[0] / counts[0]:>5.2f}  "
        f"{'':<5}{totals[1]:>7.1f} {counts[1]:>3} {totals[1] / counts[1]:>5.2f} "
        f"{totals[1] / totals[0]:>11.2f}"
    )


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100, help="box edge (voxels of 1 Å)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="phantom/noise seeds")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--colours", nargs="+", choices=tuple(COLOURS), default=list(COLOURS))
    parser.add_argument("--parts", nargs="+", choices=(*PARTS, "all"), default=list(PARTS[:5]))
    parser.add_argument("--estimator", choices=("resmap", "band", "both"), default="resmap")
    parser.add_argument("--blob-cutoffs", type=float, nargs="+", default=[3.0, 5.0, 8.0])
    parser.add_argument("--noise-seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--widths", type=float, nargs="+", default=[0.10, 0.15, 0.20, 0.25])
    parser.add_argument("--windows", type=float, nargs="+", default=[0.5, 0.75, 1.0, 1.25])
    parser.add_argument("--grid-lobe-sigma", type=float, default=1.0)
    parser.add_argument("--min-res", type=float, default=2.2)
    parser.add_argument("--max-res", type=float, default=14.2)
    parser.add_argument("--step-res", type=float, default=1.0)
    parser.add_argument("--data-driven", action="store_true", help="the program's own grid")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    return parser.parse_args()


def make_study(args: argparse.Namespace) -> Study:
    """The study's settings from the command line (exits when band energy is asked for but
    :class:`Params` does not have it yet)."""
    names = ["resmap", "band"] if args.estimator == "both" else [args.estimator]
    parts = PARTS if "all" in args.parts else args.parts
    if ("band" in names or "grid" in parts) and not band_available():
        sys.exit("this resmap_core's Params has no band-energy estimator yet")
    grid = (None, None, args.step_res) if args.data_driven else (
        args.min_res, args.max_res, args.step_res
    )  # fmt: skip
    return Study(
        size=args.size,
        seeds=args.seeds,
        sigmas=args.sigmas,
        colours=args.colours,
        estimators=[Estimator(name) for name in names],
        grid_A=grid,
        threads=args.threads,
    )


def main() -> None:
    args = parse_args()
    study = make_study(args)
    parts = PARTS if "all" in args.parts else args.parts
    lo, hi, step = study.grid_A
    span = "data-driven" if lo is None else f"{lo:g}–{hi:g} Å"
    print(
        f"box {study.size}³, 1 Å voxels, scan {span} in {step:g} Å steps, p = {P_VALUE:g}, "
        f"whitening on, threads {study.threads}, estimators "
        f"{', '.join(e.label for e in study.estimators)}"
        f"{' (grid: band)' if 'grid' in parts else ''}; unresolved = {UNRESOLVED_A:g} Å"
    )
    start = time.perf_counter()
    runners = {
        "chirp": lambda: part_chirp(study),
        "lobes": lambda: part_lobes(study),
        "ball": lambda: part_ball(study),
        "blob": lambda: part_blob(study, args.blob_cutoffs),
        "noise": lambda: part_noise(study, args.noise_seeds),
        "grid": lambda: part_grid(study, args.widths, args.windows, args.grid_lobe_sigma),
    }
    for part in PARTS:
        if part in parts:
            runners[part]()
    print_timing(study)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
