"""The Mol* viewer files the report's 3D view loads, shipped with the package.

``static/molstar/`` holds the built viewer of the npm package ``molstar`` (``molstar.js``,
``molstar.css``) and its MIT licence. :func:`install_viewer` copies them once into ``molstar/``
beside a report page, so every page of that folder loads them from disk (``<script src>``),
never from the network, and no page inlines them.
"""

from __future__ import annotations

from pathlib import Path

from resmap_core.io.atomic import write_bytes

#: Version of the shipped Mol* build (static/molstar/README.md says how to update it).
VERSION = "5.11.0"
#: The shipped folder and the files a page needs (the licence travels with them).
ASSETS = Path(__file__).resolve().parent / "static" / "molstar"
FILES = ("molstar.js", "molstar.css", "LICENSE")
#: Folder beside the report page that receives them.
FOLDER = "molstar"


def viewer_available() -> bool:
    """True when the package holds every viewer file (False in a build without package data)."""
    return all((ASSETS / name).is_file() for name in FILES)


def install_viewer(report_dir: Path) -> str | None:
    """Copy the viewer files into ``report_dir/molstar/`` unless identical copies are there.

    Returns the folder's name relative to ``report_dir`` (for ``src``/``href``), or None when
    the package lacks the files (the page then says the 3D view is unavailable). Each file is
    written atomically; an identical file is left untouched, so rebuilding a report does not
    rewrite 5 MB.
    """
    if not viewer_available():
        return None
    dest = report_dir / FOLDER
    for name in FILES:
        data = (ASSETS / name).read_bytes()
        target = dest / name
        if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
            continue
        write_bytes(target, data)
    return FOLDER
