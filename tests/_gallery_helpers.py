"""Inputs of the gallery (tests/test_gallery.py, benchmarks/gallery.py) and how to run them.

A :class:`Case` names a synthetic input completely (particle, box, voxel size, noise, filter,
mask, mode, seed); :func:`make_inputs` builds it with the generators of
``resmap_core.testing.phantoms`` and :func:`run_case` runs the default ``resmap local`` scan on it
(low-pass check and pre-whitening on). Results are cached per case, failures included, so the
tests of several properties of one case share one run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from resmap_core.io.mrc import MapData, MapGeometry
from resmap_core.localres.scan import Params, run_local
from resmap_core.spectrum import make_shells
from resmap_core.testing import phantoms
from resmap_core.testing.phantoms import Shape, Spacing

WHITE = 0.0
ONE_OVER_F = 1.0
"""Noise colours: the exponent a of the amplitude spectrum 1/|k|^a."""

SCALE, OFFSET = 3.7, 12.5
"""The affine change a·h + b of metamorphic test (a)."""


@dataclass(frozen=True)
class Case:
    """One synthetic input and how it is analysed.

    ``particle``: "lobes" (two lobes, ~3 % mask), "ball" (~30 % of the box) or "shells" (a
    sphere with a 3 Å core and a 6 Å shell). ``shape`` (nz, ny, nx) voxels, ``spacing`` Å per
    voxel along z, y, x; ``resolution_A``: band limit of the particle's texture; ``snr``:
    variance of the density inside the mask / variance of each half map's noise;
    ``noise_exponent``: 0 white, 1 the 1/f colour; ``mean_level``: weight of the particle's
    smooth envelope against its texture (large = envelope-dominated spectrum);
    ``filter``: (kind, value) applied to every map — ("hard" | "cosine" | "butterworth",
    cutoff Å), ("butterworth2", cutoff Å) a gentle order-2 roll-off, or ("bfactor", B Å²);
    ``masked``: multiplied by a soft mask (solvent exactly 0); ``mode``: "split" (two half
    maps) or "single" (the first half map alone); ``given_mask``: the true mask is given,
    otherwise the automatic mask is used; ``max_res_A``: None keeps the data-driven default;
    ``share``: the mask's share of the box (default 0.03 for lobes, 0.30 for the ball).
    """

    name: str
    particle: str = "lobes"
    shape: Shape = (64, 64, 64)
    spacing: Spacing = (1.0, 1.0, 1.0)
    resolution_A: float = 4.0
    snr: float = 1.0
    noise_exponent: float = WHITE
    mean_level: float = 1.0
    filter: tuple[str, float] | None = None
    masked: bool = False
    mode: str = "split"
    given_mask: bool = True
    max_res_A: float | None = None
    share: float | None = None
    seed: int = 0

    def __str__(self) -> str:
        return self.name

    @property
    def lowpass_filtered(self) -> bool:
        """True when the filter is a deliberate low-pass with a definite cutoff."""
        return self.filter is not None and self.filter[0] in ("hard", "cosine", "butterworth")

    @property
    def step_invA(self) -> float:
        """Width of one Fourier shell of the input grid, Å⁻¹ (1 / longest box edge in Å)."""
        return make_shells(self.shape, self.spacing).step_invA


@dataclass(frozen=True)
class Inputs:
    """A case's maps (one or two, float32 [z, y, x]), its true mask and its geometry."""

    maps: list[np.ndarray]
    mask: np.ndarray
    spacing: Spacing

    def map_data(self) -> list[MapData]:
        """The maps as :class:`MapData` (voxel size (x, y, z) from ``spacing``)."""
        geometry = MapGeometry(shape=self.mask.shape, voxel_size_A=self.spacing[::-1])
        return [MapData(m, geometry, "") for m in self.maps]


def filter_gain(case: Case) -> phantoms.Gain:
    """The radial gain of ``case.filter``; cosine edges are two shells of the box wide."""
    kind, value = case.filter  # type: ignore[misc]
    if kind == "hard":
        return phantoms.hard_lowpass(value)
    if kind == "cosine":
        return phantoms.cosine_lowpass(value, 2.0 * case.step_invA)
    if kind == "butterworth":
        return phantoms.butterworth_lowpass(value, order=8)
    if kind == "butterworth2":
        return phantoms.butterworth_lowpass(value, order=2)
    if kind == "bfactor":
        return phantoms.bfactor_gain(value)
    raise ValueError(f"unknown filter {kind!r}")


def particle(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """(density float32, true mask bool) of ``case.particle`` on the case's grid."""
    if case.particle == "lobes":
        share = 0.03 if case.share is None else case.share
        return phantoms.compact_particle(
            case.shape, case.spacing, case.resolution_A, share, case.mean_level, case.seed
        )
    if case.particle == "ball":
        share = 0.30 if case.share is None else case.share
        return phantoms.dense_particle(
            case.shape, case.spacing, case.resolution_A, share, case.mean_level, case.seed
        )
    if case.particle == "shells":
        edge = min(n * d for n, d in zip(case.shape, case.spacing, strict=True))
        outer = 0.375 * edge
        density, _, _ = phantoms.shell_phantom(
            case.shape, case.spacing, 3.0, 6.0, 0.5 * outer, outer, seed=case.seed
        )
        return density.astype(np.float32), phantoms.radius_A(case.shape, case.spacing) < outer
    raise ValueError(f"unknown particle {case.particle!r}")


def make_inputs(case: Case) -> Inputs:
    """Build the maps of ``case``: particle + noise per half, then filter, then soft mask."""
    density, mask = particle(case)
    sigma = phantoms.noise_sigma_for_snr(density, mask, case.snr)
    halves = phantoms.noisy_half_maps(
        density, case.spacing, sigma, case.noise_exponent, seed=case.seed + 1
    )
    maps = list(halves if case.mode == "split" else halves[:1])
    if case.filter is not None:
        gain = filter_gain(case)
        maps = [phantoms.radial_filter(m, case.spacing, gain) for m in maps]
    if case.masked:
        soft = phantoms.soft_mask(mask, case.spacing, edge_A=6.0)
        maps = [phantoms.masked_deposition(m, soft) for m in maps]
    return Inputs(maps, mask, case.spacing)


def params(case: Case) -> Params:
    """Default parameters (low-pass check and pre-whitening on), ``max_res_A`` as the case says."""
    return Params(max_res_A=case.max_res_A)


def run_inputs(case: Case, inputs: Inputs, threads: int | None = None) -> tuple[np.ndarray, dict]:
    """``run_local`` on ``inputs`` with the case's mask choice and parameters."""
    mask = inputs.mask if case.given_mask else None
    return run_local(inputs.map_data(), mask, params(case), threads=threads)


_RESULTS: dict[Case, tuple[np.ndarray, dict] | BaseException] = {}


def run_case(case: Case) -> tuple[np.ndarray, dict]:
    """(local-resolution map, record) of ``case``, computed once per session.

    A failure is cached too and raised again as an ``AssertionError`` naming the case, so every
    property test of a failing case reports the same cause without rerunning it.
    """
    if case not in _RESULTS:
        try:
            _RESULTS[case] = run_inputs(case, make_inputs(case))
        except Exception as exc:  # any failure: the run did not exit cleanly
            _RESULTS[case] = exc
    result = _RESULTS[case]
    if isinstance(result, BaseException):
        raise AssertionError(
            f"{case}: the default run failed: {type(result).__name__}: {result}"
        ) from result
    return result


def scaled(inputs: Inputs, a: float = SCALE, b: float = OFFSET) -> Inputs:
    """``inputs`` with every map replaced by a·map + b (computed in double, stored float32)."""
    maps = [(a * m.astype(np.float64) + b).astype(np.float32) for m in inputs.maps]
    return replace(inputs, maps=maps)


def within_one_step(a: np.ndarray, b: np.ndarray, region: np.ndarray, step_A: float) -> float:
    """Fraction of ``region`` voxels where maps ``a`` and ``b`` (Å) differ by at most one step.

    Unresolved voxels carry the outside value (100 Å), so a voxel resolved in one map and not
    in the other counts as different.
    """
    diff = np.abs(a[region].astype(np.float64) - b[region].astype(np.float64))
    return float(np.mean(diff <= step_A + 1e-4))


def scanned_range(record: dict) -> tuple[float, float]:
    """(first, last) wavelength of the scan, Å."""
    lambdas = [w["lambda_A"] for w in record["wavelengths"]]
    return min(lambdas), max(lambdas)


def on_scanned_grid(volume: np.ndarray, record: dict, outside: float = 100.0) -> bool:
    """True when every voxel of ``volume`` holds a scanned wavelength or ``outside``."""
    allowed = np.array([w["lambda_A"] for w in record["wavelengths"]] + [outside], np.float32)
    return bool(np.isin(volume, allowed).all())
