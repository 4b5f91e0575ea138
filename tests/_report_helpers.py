"""Synthetic, deterministic report inputs (files as docs/outputs.md describes them)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from resmap_core.io.mrc import MapGeometry, write_map

SHAPE = (36, 40, 44)  # z, y, x: a non-cubic box
VOXEL = (1.2, 1.2, 1.2)  # x, y, z in Å


def fsc_model(f: np.ndarray, res_A: float, tail: float = 0.0) -> np.ndarray:
    """A smooth FSC falling through 0.5 near 1/res_A, with a constant ``tail`` far out."""
    core = 1.0 / (1.0 + np.exp((f - 1.0 / res_A) / 0.012))
    return np.maximum(core, tail) if tail else core


def _grids() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z, y, x = np.indices(SHAPE, dtype=np.float64)
    c = [(n - 1) / 2 for n in SHAPE]
    return z - c[0], y - c[1], x - c[2]


def make_density(seed: int = 0) -> np.ndarray:
    """A few Gaussian blobs near the centre plus weak white noise, float32 ``[z, y, x]``."""
    rng = np.random.default_rng(seed)
    z, y, x = _grids()
    vol = np.zeros(SHAPE)
    for cz, cy, cx, s in [(0, 0, 0, 4.0), (5, -4, 3, 2.5), (-4, 5, -5, 3.0), (2, 6, 6, 2.0)]:
        vol += np.exp(-((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s))
    vol += 0.02 * rng.standard_normal(SHAPE)
    return vol.astype(np.float32)


def make_mask(radius: float = 12.0) -> np.ndarray:
    """A spherical mask of ``radius`` voxels around the box centre."""
    z, y, x = _grids()
    return (z * z + y * y + x * x) <= radius * radius


def make_local(mask: np.ndarray, seed: int = 1) -> np.ndarray:
    """Local resolution rising from ~3 Å at the centre to ~8 Å at the mask edge; 100 outside
    the mask and at a few unresolved voxels."""
    rng = np.random.default_rng(seed)
    z, y, x = _grids()
    r = np.sqrt(z * z + y * y + x * x)
    lam = np.array([3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0])
    idx = np.clip(np.rint(r / 12.0 * (lam.size - 1)), 0, lam.size - 1).astype(int)
    local = lam[idx]
    local[rng.random(SHAPE) < 0.05] = 100.0
    local[~mask] = 100.0
    return local.astype(np.float32)


def write_dataset(
    root: Path,
    *,
    title: str = "Synthetic test complex",
    with_fsc: bool = True,
    with_wfsc: bool = True,
    with_deposited: bool = True,
    with_json: bool = True,
    fsc_tail: float = 0.0,
    fsc_bound: bool = False,
    legacy_fsc: bool = False,
) -> dict[str, Path]:
    """Write a dataset's inputs under ``root``; return the paths the CLI takes.

    ``fsc_bound``: the corrected FSC never falls below 0.143, so its 0.143 resolution is the
    bound "better than Nyquist" (2.4 Å). ``legacy_fsc``: FSC.json as written before bounds
    existed (bare numbers under ``resolutions``, no ``*_bound`` fields, no ``nyquist_A``).
    """
    root.mkdir(parents=True, exist_ok=True)
    geom = MapGeometry(shape=SHAPE, voxel_size_A=VOXEL, origin_A=(0.0, 0.0, 0.0))
    density = make_density()
    mask = make_mask()
    local = make_local(mask)
    paths: dict[str, Path] = {}
    paths["map"] = root / "map.mrc"
    paths["mask"] = root / "mask.mrc"
    paths["local"] = root / "LOCAL.mrc"
    write_map(paths["map"], density, geom)
    write_map(paths["mask"], mask.astype(np.float32), geom)
    write_map(paths["local"], local, geom)
    lam = [3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0]
    assigned = [int(((local == v) & mask).sum()) for v in lam]
    nyq = 0.5 / VOXEL[0]
    f = np.linspace(0, nyq, 30)
    if with_json:
        local_json = {
            "mode": "split" if with_fsc else "single",
            "voxel_size_A": list(VOXEL),
            "analysis_voxel_size_A": list(VOXEL),
            "p_value": 0.05,
            "kernel": "paper",
            "fdr_mode": "per-wavelength",
            "outside_value": 100.0,
            "median_A": 5.0,
            "mean_A": 5.0,
            "quartiles_A": [4.0, 5.0, 6.0],
            "min_A": 3.0,
            "max_A": 8.0,
            "unresolved_fraction": 0.05,
            "mask_voxels": int(mask.sum()),
            "histogram": {"lambda_A": lam, "count": assigned},
            "wavelengths": [
                {
                    "lambda_A": v,
                    "window_radius_vox": [3, 3, 3],
                    "sigma2": 0.01 * (1 + i),
                    "noise_blocks": 20,
                    "null_weights": [1.0] * 16,
                    "threshold_uncorrected": 20.0 + i,
                    "threshold_fdr": 30.0 + i if i < 7 else None,
                    "tested": int(mask.sum()) - sum(assigned[:i]),
                    "assigned": assigned[i],
                }
                for i, v in enumerate(lam)
            ],
            "prewhitening": {
                "elbow_A": 10.0,
                "coefficients": [1.0, -2.0],
                "frequency_invA": f.tolist(),
                "spectrum_before": (np.exp(-40 * f) + 1e-3).tolist(),
                "spectrum_after": (np.full(f.size, 1e-3) + 1e-4 * f).tolist(),
            },
            "noise_spectrum": {"frequency_invA": f.tolist(), "power": (1.0 + 0.1 * f).tolist()},
            "lowpass": {"detected": False, "cutoff_A": None, "resample_factor": 1.0},
            "mask": {"source": "given", "path": str(paths["mask"]), "voxels": int(mask.sum())},
            "inputs": [{"path": "half1.mrc", "sha256": "ab" * 32}],
            "parameters": {"p_value": 0.05, "min_res": None, "step_res": 0.5},
            "seconds": 1.5,
            "versions": {"resmap_core": "0.1.0", "numpy": "2", "scipy": "1", "python": "3.11"},
        }
        (root / "LOCAL.json").write_text(json.dumps(local_json, indent=2, sort_keys=True))
    if with_fsc:
        paths["fsc"] = root / "FSC.json"
        corrected = fsc_model(f, 4.1, fsc_tail)
        resolutions = {
            "unmasked": {"0.143": 4.3, "0.5": 4.5},
            "masked": {"0.143": 3.8, "0.5": 4.0},
            "corrected": {"0.143": 3.9, "0.5": 4.1},
        }
        if fsc_bound:
            corrected = np.maximum(corrected, 0.2)  # stays above 0.143 up to Nyquist
            resolutions["corrected"]["0.143"] = 2 * VOXEL[0]
        rec = {
            "frequency_invA": f.tolist(),
            "fsc_unmasked": fsc_model(f, 4.5, fsc_tail).tolist(),
            "fsc_masked": fsc_model(f, 4.0, fsc_tail).tolist(),
            "fsc_corrected": corrected.tolist(),
            "fsc_randomised": (fsc_model(f, 4.0) * (f < 0.15)).tolist(),
            "halfbit": [0.2] * f.size,
            "randomise_from_A": 6.7,
            "resolution_curve": "corrected",
            "resolution_0143_A": resolutions["corrected"]["0.143"],
            "resolution_05_A": 4.1,
            "resolutions": resolutions,
            "voxel_size_A": list(VOXEL),
            "mask": {"source": "given", "path": "mask.mrc", "voxels": int(mask.sum())},
            "inputs": [],
            "seed": 7,
            "versions": {"resmap_core": "0.1.0"},
            "seconds": 0.3,
        }
        if not legacy_fsc:  # the record as resmap fsc writes it now (docs/outputs.md)
            bound = "better_than" if fsc_bound else None
            rec["resolutions"] = {
                curve: {
                    t: {
                        "value_A": v,
                        "bound": bound if (curve, t) == ("corrected", "0.143") else None,
                    }
                    for t, v in values.items()
                }
                for curve, values in resolutions.items()
            }
            rec |= {"resolution_0143_bound": bound, "resolution_05_bound": None,
                    "nyquist_A": 2 * VOXEL[0]}  # fmt: skip
        paths["fsc"].write_text(json.dumps(rec))
    if with_wfsc:
        rng = np.random.default_rng(3)
        wfsc = local * np.float32(1.1) + rng.normal(0, 0.3, SHAPE).astype(np.float32)
        wfsc[local == 100.0] = 100.0
        wfsc[mask & (rng.random(SHAPE) < 0.03)] = 100.0
        paths["wfsc"] = root / "WFSC.mrc"
        write_map(paths["wfsc"], wfsc, geom)
        (root / "WFSC.json").write_text(
            json.dumps({"box_vox": 16, "step_vox": 2, "cutoff": 0.143, "median_A": 5.5})
        )
    paths["meta"] = root / "meta.json"
    paths["meta"].write_text(
        json.dumps(
            {
                "dataset": "synth",
                "source": "emdb",
                "emdb_id": "EMD-1234",
                "title": title,
                "author_resolution_A": 4.2,
                "voxel_size_A": VOXEL[0],
                "files": {},
                "deposited_fsc": None,
            }
        )
    )
    if with_deposited:
        paths["deposited_fsc"] = root / "emd_1234_fsc.xml"
        pts = "".join(
            f"<coordinate><x>{a:.5f}</x><y>{b:.5f}</y></coordinate>"
            for a, b in zip(f, fsc_model(f, 4.3), strict=True)
        )
        paths["deposited_fsc"].write_text(f'<fsc title="t" xaxis="x" yaxis="y">{pts}</fsc>')
    paths["provenance"] = root / "provenance.json"
    paths["provenance"].write_text(
        json.dumps(
            {
                "inputs": [{"path": "resources/synth/half1.mrc", "sha256": "cd" * 32}],
                "parameters": {"p_value": 0.05, "wfsc": {"box": 16}},
                "versions": {"snakemake": "9.0.0"},
                "rule_seconds": {"fdr": 2.5, "fsc": 1.25},
            }
        )
    )
    return paths


def cli_args(paths: dict[str, Path], out: Path, name: str = "synth") -> list[str]:
    """``resmap report`` arguments for the written dataset."""
    args = ["report", "--name", name, "--out", str(out), "--quiet"]
    for key in ("map", "local", "mask", "fsc", "wfsc", "meta", "deposited_fsc", "provenance"):
        if key in paths:
            args += [f"--{key.replace('_', '-')}", str(paths[key])]
    return args


def run_cli(argv: list[str]) -> int:
    """Run the real ``resmap`` command line in-process; returns its exit status."""
    from resmap_core.cli.main import main

    return main(argv)
