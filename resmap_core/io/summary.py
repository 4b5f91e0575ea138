"""Summaries shared by every command that writes a result record."""

from __future__ import annotations

import platform

import numpy as np

from resmap_core import __version__


def versions() -> dict:
    """Versions of the software that computed a result."""
    # imported here: SciPy takes tenths of a second to import, and the workflow's provenance
    # record, which calls this in the Snakemake process, needs only its version string
    import scipy

    return {
        "resmap_core": __version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }


def resolution_summary(values: np.ndarray) -> dict:
    """Statistics (Å) of local resolutions inside a mask; NaN marks unresolved voxels.

    ``values`` holds one entry per mask voxel. Returns median, mean, quartiles, min and max of
    the resolved voxels and the unresolved fraction of the mask.
    """
    resolved = values[np.isfinite(values)]
    if resolved.size == 0:
        return {
            "median_A": None,
            "mean_A": None,
            "quartiles_A": None,
            "min_A": None,
            "max_A": None,
            "unresolved_fraction": 1.0,
        }
    q = np.percentile(resolved, [25, 50, 75])
    return {
        "median_A": float(q[1]),
        "mean_A": float(resolved.mean()),
        "quartiles_A": [float(v) for v in q],
        "min_A": float(resolved.min()),
        "max_A": float(resolved.max()),
        "unresolved_fraction": float(1.0 - resolved.size / max(values.size, 1)),
    }
