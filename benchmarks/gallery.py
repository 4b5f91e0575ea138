"""The input gallery of tests/test_gallery.py at production sizes: does the default run cope?

Runs `resmap local`'s default scan (low-pass check and pre-whitening on, data-driven range)
on synthetic half maps of a compact particle (two lobes, 2.8 % mask) and a dense one (a ball
filling 31 % of the box) at 256³ (1 Å voxels, texture band-limited at 4 Å), with white and 1/f
noise, sharpened (B = −50 Å²) and blurred (B = +30 Å²) pairs, deliberate low-pass filters,
an affine change of the maps, single-map mode and an embedding in a larger box of noise, and
prints one row per case:

    case | mode | mask % | low-pass call (cutoff Å) [true cutoff] | median Å | unresolved % |
    invariance (% of mask voxels within one wavelength step of the case it is compared with) |
    seconds (run_local alone, generation excluded)

Unfiltered cases should show no low-pass call, filtered ones their cutoff; transformed cases
should agree with their reference (≥ 95 % within one step, 100 % for the affine change).

    python benchmarks/gallery.py                 # 256³ cases (a few minutes on 2 cores)
    python benchmarks/gallery.py --huge          # also 512³ lobes and ball (≈ 5 GB per run)
    python benchmarks/gallery.py --box 128 --only lobes ball   # other size, some cases
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # run from a checkout, cases from the tests

from _gallery_helpers import (  # noqa: E402
    ONE_OVER_F,
    Case,
    Inputs,
    make_inputs,
    particle,
    run_inputs,
    scaled,
    within_one_step,
)

from resmap_core.testing import phantoms  # noqa: E402

LOBES_SHARE, BALL_SHARE = 0.028, 0.31  # the shares of issue 9's phantoms
STEP_A = 1.0  # the default wavelength step
EMBED_MAX_RES_A = 16.2  # both boxes of the embedding pair scan the same range


def cases(n: int) -> list[tuple[Case, str | None, str]]:
    """(case, name of the case it is compared with or None, transform) for an n³ box.

    ``transform`` is "" (the case's maps as built), "affine" (a·h + b of every map) or
    "embed" (the maps placed in an (n + n/4)³ box padded with noise of the same σ).
    """
    box = (n, n, n)
    lobes = Case(f"lobes-{n}", shape=box, share=LOBES_SHARE, seed=1)
    ball = Case(f"ball-{n}", particle="ball", shape=box, share=BALL_SHARE, seed=2)
    single = Case(f"lobes-{n}-single", shape=box, share=LOBES_SHARE, snr=3.0, mode="single", seed=3)
    embed_ref = replace(lobes, name=f"lobes-{n}-max{EMBED_MAX_RES_A:g}", max_res_A=EMBED_MAX_RES_A)
    return [
        (lobes, None, ""),
        (replace(lobes, name=f"lobes-{n}-auto-mask", given_mask=False), None, ""),
        (replace(lobes, name=f"lobes-{n}-1f", noise_exponent=ONE_OVER_F), None, ""),
        (replace(lobes, name=f"lobes-{n}-envelope-snr10", snr=10.0, mean_level=4.0), None, ""),
        (
            replace(lobes, name=f"lobes-{n}-sharpened-B-50", filter=("bfactor", -50.0)),
            lobes.name,
            "",
        ),
        (replace(lobes, name=f"lobes-{n}-blurred-B+30", filter=("bfactor", 30.0)), lobes.name, ""),
        (replace(lobes, name=f"lobes-{n}-affine"), lobes.name, "affine"),
        (replace(lobes, name=f"lobes-{n}-hard-6A", filter=("hard", 6.0)), None, ""),
        (ball, None, ""),
        (replace(ball, name=f"ball-{n}-auto-mask", given_mask=False), None, ""),
        (replace(ball, name=f"ball-{n}-sharpened-B-50", filter=("bfactor", -50.0)), ball.name, ""),
        (replace(ball, name=f"ball-{n}-cosine-8A", filter=("cosine", 8.0)), None, ""),
        (replace(ball, name=f"ball-{n}-butterworth-5A", filter=("butterworth", 5.0)), None, ""),
        (single, None, ""),
        (
            replace(single, name=f"{single.name}-sharpened-B-50", filter=("bfactor", -50.0)),
            single.name,
            "",
        ),
        (embed_ref, None, ""),
        (replace(embed_ref, name=f"lobes-{n}-embedded"), embed_ref.name, "embed"),
    ]


def huge_cases() -> list[tuple[Case, str | None, str]]:
    """512³ lobes and ball, each with its sharpened pair."""
    box = (512, 512, 512)
    lobes = Case("lobes-512", shape=box, share=LOBES_SHARE, seed=1)
    ball = Case("ball-512", particle="ball", shape=box, share=BALL_SHARE, seed=2)
    return [
        (lobes, None, ""),
        (
            replace(lobes, name="lobes-512-sharpened-B-50", filter=("bfactor", -50.0)),
            lobes.name,
            "",
        ),
        (ball, None, ""),
        (replace(ball, name="ball-512-sharpened-B-50", filter=("bfactor", -50.0)), ball.name, ""),
    ]


def embedded(case: Case, inputs: Inputs) -> tuple[Inputs, tuple[slice, ...]]:
    """``inputs`` in a box a quarter larger per axis, padded with white noise of the same σ;
    returns the larger inputs and the window of the original box inside it."""
    pad = tuple(max(8, n // 8) for n in case.shape)
    shape = tuple(n + 2 * p for n, p in zip(case.shape, pad, strict=True))
    density, mask = particle(case)
    sigma = phantoms.noise_sigma_for_snr(density, mask, case.snr)
    del density
    maps = [
        phantoms.embed_in_noise(m, case.spacing, shape, pad, sigma, seed=case.seed + 40 + i)
        for i, m in enumerate(inputs.maps)
    ]
    window = tuple(slice(p, p + n) for p, n in zip(pad, case.shape, strict=True))
    return Inputs(maps, phantoms.embed_mask(inputs.mask, shape, pad), case.spacing), window


def run_row(
    case: Case, transform: str, threads: int
) -> tuple[np.ndarray, dict, float, np.ndarray, tuple[slice, ...] | None]:
    """Build and run one case: (map, record, seconds, true mask, window in the map or None)."""
    inputs = make_inputs(case)
    mask = inputs.mask
    window = None
    if transform == "affine":
        inputs = scaled(inputs)
    elif transform == "embed":
        inputs, window = embedded(case, inputs)
    start = time.perf_counter()
    volume, record = run_inputs(case, inputs, threads=threads)
    return volume, record, time.perf_counter() - start, mask, window


def lowpass_text(case: Case, record: dict) -> str:
    """The low-pass call (cutoff Å) and, for filtered cases, the true cutoff."""
    lp = record.get("lowpass") or {}
    call = f"yes {lp['cutoff_A']:.2f}" if lp.get("detected") else "no"
    if case.lowpass_filtered:
        call += f" [true {case.filter[1]:g}]"  # type: ignore[index]
    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--box", type=int, default=256, help="edge of the cubic box (256)")
    parser.add_argument("--huge", action="store_true", help="also 512³ lobes and ball")
    parser.add_argument("--only", nargs="*", default=None, help="cases whose name contains one")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    rows = cases(args.box) + (huge_cases() if args.huge else [])
    if args.only:
        wanted = [r for r in rows if any(word in r[0].name for word in args.only)]
        needed = {r[1] for r in wanted if r[1]}
        rows = [r for r in rows if r in wanted or r[0].name in needed]
    print(f"threads={args.threads}  (default scan; 1 Å voxels, texture 4 Å, SNR 1 unless named)")
    header = (
        f"{'case':<34} {'mode':<6} {'mask':>6} {'low-pass call (Å)':<24} {'median':>7} "
        f"{'unres.':>7} {'invariance':>10} {'s':>7}"
    )
    print(header)
    print("-" * len(header))
    results: dict[str, np.ndarray] = {}
    for case, reference, transform in rows:
        try:
            volume, record, seconds, mask, window = run_row(case, transform, args.threads)
        except Exception as exc:  # a failing case is a finding, not the end of the table
            print(f"{case.name:<34} {case.mode:<6} FAILED {type(exc).__name__}: {exc}", flush=True)
            continue
        inside = volume if window is None else volume[window]
        if reference is None:
            results[case.name] = inside
            invariance = "—"
        elif reference in results:
            share = within_one_step(results[reference], inside, mask, STEP_A)
            invariance = f"{100 * share:.1f} %"
        else:
            invariance = "no ref."
        median = record["median_A"]
        print(
            f"{case.name:<34} {case.mode:<6} {100 * mask.mean():>5.1f}% "
            f"{lowpass_text(case, record):<24} "
            f"{'none' if median is None else f'{median:.1f}':>7} "
            f"{100 * record['unresolved_fraction']:>6.1f}% {invariance:>10} {seconds:>7.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
