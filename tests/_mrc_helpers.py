"""Writing MRC files with arbitrary axis order, for tests of geometry handling."""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np


def to_file_order(canonical: np.ndarray, axes: tuple[int, int, int]) -> np.ndarray:
    """Data block [section, row, column] of a canonical [z, y, x] array for MAPC/R/S ``axes``."""
    phys_of_canonical = {3: 0, 2: 1, 1: 2}
    order = [phys_of_canonical[axes[2]], phys_of_canonical[axes[1]], phys_of_canonical[axes[0]]]
    return np.ascontiguousarray(np.transpose(canonical, order))


def write_raw_mrc(
    path: Path,
    file_array: np.ndarray,
    axes=(1, 2, 3),
    voxel=(1.0, 1.0, 1.0),
    starts=(0, 0, 0),
    origin=(0.0, 0.0, 0.0),
) -> None:
    """Write a file whose data block is ``file_array[section, row, column]`` as given."""
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(file_array)
        h = mrc.header
        h.mapc, h.mapr, h.maps = axes
        # MX/MY/MZ and CELLA are per X, Y, Z: sizes along the physical axes.
        sizes = {
            axes[0]: file_array.shape[2],
            axes[1]: file_array.shape[1],
            axes[2]: file_array.shape[0],
        }
        h.mx, h.my, h.mz = sizes[1], sizes[2], sizes[3]
        h.cella.x, h.cella.y, h.cella.z = (sizes[i + 1] * voxel[i] for i in range(3))
        h.nxstart, h.nystart, h.nzstart = starts
        h.origin.x, h.origin.y, h.origin.z = origin
