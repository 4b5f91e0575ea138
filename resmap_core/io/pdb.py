"""Download the atomic model fitted to a map from a mirror of the PDB archive (standard library).

The server is any base URL that mirrors the wwPDB "divided" layout::

    BASE/mmCIF/<ab>/<id>.cif.gz        (<ab>: the middle two characters of the 4-character id)

e.g. ``https://files.wwpdb.org/pub/pdb/data/structures/divided/mmCIF/ni/5ni1.cif.gz``; a
``file://`` folder works too. Files go through :func:`resmap_core.io.download.download`
(streamed, gzip checked completely, hashed with a ``.sha256`` sidecar, retried on transient
failures, HTTP 404 final). Which model belongs to an EMDB entry is read from the entry's
header XML (:func:`resmap_core.io.emdb.fitted_pdb_ids`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from resmap_core import defaults
from resmap_core.errors import InputError
from resmap_core.io.download import DEFAULT_POLICY, DownloadPolicy, NotFoundError, download

DEFAULT_PDB_BASE_URL = defaults.text("pdb_base_url")
_PDB_ID = re.compile(r"^(?:PDB[-_:]?)?([0-9][A-Za-z0-9]{3})$", re.IGNORECASE)


def normalise_pdb_id(text: str) -> str:
    """``'5NI1'``, ``'pdb:5ni1'`` or ``' 5ni1 '`` → ``'5ni1'``; InputError for anything else."""
    match = _PDB_ID.match(str(text).strip())
    if match is None:
        raise InputError(f"{text!r} is not a PDB id; write it as four characters, e.g. 5NI1.")
    return match.group(1).lower()


def model_url(base_url: str, pdb_id: str) -> str:
    """URL of the gzipped mmCIF of ``pdb_id`` under a mirror of the divided layout."""
    pdb = normalise_pdb_id(pdb_id)
    return f"{base_url.rstrip('/')}/mmCIF/{pdb[1:3]}/{pdb}.cif.gz"


def fetch_model(
    pdb_id: str,
    dest: str | Path,
    base_url: str = DEFAULT_PDB_BASE_URL,
    policy: DownloadPolicy = DEFAULT_POLICY,
    say: Callable[[str], None] = lambda _msg: None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """Download the mmCIF of ``pdb_id`` to ``dest`` (a ``.cif.gz`` path); an intact copy is kept.

    Returns ``{"pdb_id", "url", "path", "sha256"}``. A model missing from the mirror (HTTP 404)
    raises :class:`InputError` naming the id and the mirror.
    """
    pdb = normalise_pdb_id(pdb_id)
    path = Path(dest)
    if not path.name.endswith(".cif.gz"):
        raise InputError(f"{path}: the fitted model is stored gzipped; name it *.cif.gz.")
    url = model_url(base_url, pdb)
    say(f"fetching {url}")
    try:
        sha = download(url, path, policy, sleep=sleep, say=say)
    except NotFoundError:
        raise InputError(
            f"PDB {pdb.upper()}: not found at {base_url} ({url}); check the id and the PDB "
            "mirror (pdb_base_url), or give the model as a local file."
        ) from None
    return {"pdb_id": pdb, "url": url, "path": str(path), "sha256": sha}


def fitted_model_id(header_xml: str | Path, accession: str) -> str:
    """The first PDB id the EMDB header XML lists as fitted to the map.

    Raises :class:`InputError` when the header lists none (the entry has no deposited model).
    """
    from resmap_core.io.emdb import parse_header

    path = Path(header_xml)
    if not path.is_file():
        raise InputError(f"{path}: no such EMDB header; fetch the entry first.")
    ids = parse_header(path.read_bytes(), accession).fitted_pdb_ids
    if not ids:
        raise InputError(
            f"{accession}: the EMDB header lists no fitted model; give the model as a local "
            "file (model: PATH) or name its PDB id (model: pdb:XXXX)."
        )
    return ids[0]
