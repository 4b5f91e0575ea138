"""A fingerprint of the package's code, so that Snakemake reruns numeric jobs after an edit."""

from __future__ import annotations

import hashlib
from pathlib import Path


def package_fingerprint(root: str | Path | None = None) -> str:
    """SHA-256 over the names and bytes of every ``.py`` file of ``resmap_core`` (sorted).

    Any edit of the package changes it; put it in the ``params`` of numeric rules so that
    Snakemake reruns them after a code change. ``root`` defaults to this package's folder.
    """
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()
