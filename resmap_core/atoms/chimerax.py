"""A ChimeraX script (``.cxc``) that opens the model and colours its residues by local resolution.

It opens the written mmCIF and attribute file (paths relative to the script's folder, where
ChimeraX runs a ``.cxc``) and colours by the first measure with the report's palette and
colour scale (:func:`resmap_core.report.statistics.colour_scale`: from the finest value to the
99th percentile, on 0.5 Å steps) over all measures; one commented line per further measure
switches to it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from resmap_core.report.chimerax import cxc_path
from resmap_core.report.plots import PALETTE, palette_stops
from resmap_core.report.statistics import colour_scale

#: Colour of residues without a value.
NO_VALUE_COLOUR = "gray"


def colour_command(label: str, vrange_A: tuple[float, float]) -> str:
    """``color byattribute`` of residue attribute ``label`` with the report's palette."""
    palette = ":".join(f"{v:.2f},{c}" for v, c in palette_stops(*vrange_A))
    return f"color byattribute r:{label} palette {palette} noValueColor {NO_VALUE_COLOUR}"


def model_script(
    model_path: Path, defattr_path: Path, labels: tuple[str, ...], residue_values: np.ndarray
) -> str:
    """The ``.cxc`` text; ``residue_values`` (m, n_residues) in Å, one row per label."""
    script_dir = model_path.parent
    vrange = colour_scale(residue_values[np.isfinite(residue_values)]).range_A
    key = " ".join(f"{c}:{v:.1f}" for v, c in palette_stops(*vrange))
    lines = [
        f"# ChimeraX: the model coloured by per-residue local resolution (Å), palette {PALETTE}",
        f"# range {vrange[0]:.2f}-{vrange[1]:.2f} Å; residues without a value are "
        f"{NO_VALUE_COLOUR}.",
        "# Paths are relative to this script's folder; open it with: open THIS_FILE.cxc",
        f'open "{cxc_path(model_path, script_dir)}" format mmcif',
        f'open "{cxc_path(defattr_path, script_dir)}" format defattr',
        "cartoon; show ligand | solvent atoms",
        colour_command(labels[0], vrange),
    ]
    lines += [f"# {colour_command(label, vrange)}" for label in labels[1:]]
    lines += [
        f"key {key} pos 0.78,0.08 size 0.2,0.03",
        f"2dlabels text '{labels[0]} local resolution (Å)' xpos 0.78 ypos 0.12 size 16",
        "view",
    ]
    return "\n".join(lines) + "\n"
