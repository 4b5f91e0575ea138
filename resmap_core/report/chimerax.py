"""ChimeraX command scripts (``.cxc``) that colour the map's surface by a local-resolution map.

Paths in a script are relative to the report folder, because ChimeraX runs a ``.cxc`` with its
own folder as the working directory; the palette and range are the report's (docs/report.md).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from resmap_core.errors import InputError
from resmap_core.report.plots import PALETTE, palette_stops

# A ChimeraX command line cannot quote these inside a double-quoted path.
_UNSAFE_CXC = re.compile(r'["\n\r;#]')


def cxc_path(target: Path, report_dir: Path) -> str:
    """Path of ``target`` relative to the report folder, POSIX style, checked for quoting."""
    rel = Path(os.path.relpath(target.resolve(), report_dir.resolve())).as_posix()
    if _UNSAFE_CXC.search(rel):
        raise InputError(
            f'{target}: the path holds a character (" ; # or newline) that a '
            "ChimeraX script cannot quote; rename the file."
        )
    return rel


def chimerax_script(
    map_rel: str,
    values_rel: str | None,
    what: str,
    vrange_A: tuple[float, float],
    contour: float,
) -> str:
    """A ChimeraX ``.cxc`` that shows the map's surface coloured by a local-resolution map.

    ``vrange_A`` is the colour range (Å), ``contour`` the surface level in map units. Without
    ``values_rel`` the script shows only the map and says why.
    """
    lines = [
        f"# ChimeraX: surface of the map coloured by {what} (Å), palette {PALETTE}",
        f"# range {vrange_A[0]:.2f}-{vrange_A[1]:.2f} Å, the same as in the HTML report.",
        "# Paths are relative to this script's folder; open it with: open THIS_FILE.cxc",
        f'open "{map_rel}" format mrc',
        f"volume #1 style surface level {contour:.6g} step 1",
    ]
    if values_rel is None:
        lines.append(f"# No {what} map was given to the report; only the map is shown.")
        return "\n".join(lines) + "\n"
    stops = palette_stops(*vrange_A)
    palette = ":".join(f"{v:.2f},{c}" for v, c in stops)
    key = " ".join(f"{c}:{v:.1f}" for v, c in stops)
    lines += [
        f'open "{values_rel}" format mrc',
        "volume #2 hide",
        f"color sample #1 map #2 palette {palette}",
        f"key {key} pos 0.78,0.08 size 0.2,0.03",
        f"2dlabels text '{what} (Å)' xpos 0.62 ypos 0.12 size 16",
        "view",
    ]
    return "\n".join(lines) + "\n"


def report_scripts(
    map_path: Path,
    colouring: dict[str, tuple[Path | None, str]],
    report_dir: Path,
    vrange_A: tuple[float, float],
    contour: float,
) -> dict[str, str]:
    """{file name: text} of one script per entry of ``colouring`` (file name → (the
    local-resolution map, None when not given, and the measure in words, the key's title)); a
    script without its map shows only the map."""
    map_rel = cxc_path(map_path, report_dir)
    return {
        name: chimerax_script(
            map_rel, cxc_path(values, report_dir) if values else None, what, vrange_A, contour
        )
        for name, (values, what) in colouring.items()
    }
