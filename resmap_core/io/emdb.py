"""Download EMDB entries (maps, half maps, masks, header, FSC curve) with the standard library.

The server is any base URL that mirrors the EMDB archive layout::

    BASE/structures/EMD-N/header/emd-N-v30.xml
    BASE/structures/EMD-N/map/emd_N.map.gz
    BASE/structures/EMD-N/other/emd_N_half_map_1.map.gz   (and _2)
    BASE/structures/EMD-N/masks/emd_N_msk_1.map
    BASE/structures/EMD-N/fsc/emd_N_fsc.xml

Files are downloaded by :func:`resmap_core.io.download.download` (streamed, checked, hashed,
renamed into place, retried on transient failures; HTTP 404 is final). The header also names
the atomic models fitted to the map (:attr:`EntryHeader.fitted_pdb_ids`), which
:mod:`resmap_core.io.pdb` fetches.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from resmap_core import defaults
from resmap_core.errors import InputError
from resmap_core.io.download import DEFAULT_POLICY, DownloadPolicy, NotFoundError, download
from resmap_core.io.values import finite_float

__all__ = [
    "DEFAULT_BASE_URL",
    "DownloadPolicy",
    "EntryHeader",
    "NotFoundError",
    "download",
    "fetch_entry",
    "fitted_pdb_ids",
    "header_file_name",
    "normalise_accession",
    "parse_header",
]

DEFAULT_BASE_URL = defaults.text("emdb_base_url")
_ACCESSION = re.compile(r"^(?:EMD[-_]?)?(\d{4,6})$", re.IGNORECASE)


@dataclass(frozen=True)
class EntryHeader:
    """What the EMDB header XML says about an entry (file names relative to their folder)."""

    accession: str
    title: str | None
    voxel_size_A: tuple[float, float, float] | None  # (x, y, z)
    author_resolution_A: float | None
    map_file: str | None
    half_map_files: list[str] = field(default_factory=list)
    mask_files: list[str] = field(default_factory=list)
    fsc_file: str | None = None
    fitted_pdb_ids: list[str] = field(default_factory=list)


def normalise_accession(text: str) -> tuple[str, str]:
    """``'EMD-11638'``, ``'emd_11638'`` or ``'11638'`` → ``('EMD-11638', '11638')``."""
    match = _ACCESSION.match(str(text).strip())
    if match is None:
        raise InputError(
            f"{text!r} is not an EMDB accession; write it as EMD-NNNNN (e.g. EMD-11638)."
        )
    number = match.group(1)
    return f"EMD-{number}", number


def header_file_name(accession: str) -> str:
    """File name of an entry's v3 header XML: ``EMD-3488`` → ``emd-3488-v30.xml``."""
    _, number = normalise_accession(accession)
    return f"emd-{number}-v30.xml"


def entry_url(base_url: str, accession: str, folder: str, name: str) -> str:
    """URL of file ``name`` in ``folder`` (map, other, masks, header, fsc) of an entry."""
    return f"{base_url.rstrip('/')}/structures/{accession}/{folder}/{name}"


def _local_name(tag: str) -> str:
    """XML tag without its namespace."""
    return tag.rsplit("}", 1)[-1]


def _find_all(root: ET.Element, name: str) -> list[ET.Element]:
    return [el for el in root.iter() if _local_name(el.tag) == name]


def _child_text(el: ET.Element, name: str) -> str | None:
    for child in el:
        if _local_name(child.tag) == name and child.text and child.text.strip():
            return child.text.strip()
    return None


def _parse_xml(xml_bytes: bytes, accession: str) -> ET.Element:
    """The root element of a header, or InputError naming the entry."""
    try:
        return ET.fromstring(xml_bytes)
    except ET.ParseError as exc:
        raise InputError(f"{accession}: the header XML cannot be parsed ({exc}).") from None


_PDB_ID = re.compile(r"^[0-9][a-z0-9]{3}$")


def fitted_pdb_ids(root: ET.Element) -> list[str]:
    """PDB ids (lower case, in header order) of the models fitted to the map.

    They are the ``crossreferences/pdb_list/pdb_reference/pdb_id`` elements of a v3 header;
    anything that is not a 4-character PDB id is skipped.
    """
    ids: list[str] = []
    for ref in _find_all(root, "pdb_reference"):
        text = (_child_text(ref, "pdb_id") or "").lower()
        if _PDB_ID.match(text) and text not in ids:
            ids.append(text)
    return ids


def parse_header(xml_bytes: bytes, accession: str) -> EntryHeader:
    """Title, voxel size (Å), author-reported resolution (Å), file names and fitted models
    from a v3 header."""
    root = _parse_xml(xml_bytes, accession)
    title = next((el.text.strip() for el in _find_all(root, "title") if el.text), None)
    map_file, voxel = None, None
    for el in root:
        if _local_name(el.tag) != "map":
            continue
        map_file = _child_text(el, "file")
        spacing = next((c for c in el if _local_name(c.tag) == "pixel_spacing"), None)
        if spacing is not None:
            xyz = tuple(finite_float(_child_text(spacing, a)) for a in ("x", "y", "z"))
            if all(v is not None and v > 0 for v in xyz):
                voxel = xyz  # type: ignore[assignment]
    resolution = None
    for el in _find_all(root, "resolution"):
        value = finite_float(el.text.strip() if el.text else None)
        if value is not None and el.get("res_type", "BY AUTHOR").upper() == "BY AUTHOR":
            resolution = value
            break
    halves = [f for el in _find_all(root, "half_map") if (f := _child_text(el, "file"))]
    masks = [
        f
        for el in _find_all(root, "segmentation") + _find_all(root, "mask")
        if (f := _child_text(el, "file")) and "msk" in f
    ]
    fsc = next((f for el in _find_all(root, "fsc_curve") if (f := _child_text(el, "file"))), None)
    return EntryHeader(
        accession=accession,
        title=title,
        voxel_size_A=voxel,
        author_resolution_A=resolution,
        map_file=map_file,
        half_map_files=sorted(halves),
        mask_files=sorted(masks),
        fsc_file=fsc,
        fitted_pdb_ids=fitted_pdb_ids(root),
    )


def fetch_entry(
    accession: str,
    dest_dir: str | Path,
    base_url: str = DEFAULT_BASE_URL,
    policy: DownloadPolicy = DEFAULT_POLICY,
    allow_single_map: bool = False,
    use_deposited_mask: bool = False,
    say: Callable[[str], None] = lambda _msg: None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Fetch what local-resolution analysis of an entry needs into ``dest_dir``.

    Returns a record ``{accession, title, author_resolution_A, voxel_size_A, mode, files,
    deposited_fsc}`` where ``files`` maps ``half1``/``half2``/``map``/``mask`` to
    ``{"path", "sha256"}``. An entry without two half maps is fetched in single-map mode when
    ``allow_single_map`` is set, otherwise :class:`InputError` says so.
    """
    accession, number = normalise_accession(accession)
    out = Path(dest_dir)
    get = _getter(base_url, accession, out, policy, say, sleep)
    header_name = header_file_name(accession)
    try:
        header_path, _ = get("header", header_name)
    except NotFoundError:
        raise InputError(
            f"{accession}: no such entry at {base_url} (header {header_name} not found); "
            "check the accession and the base URL."
        ) from None
    header = parse_header(header_path.read_bytes(), accession)
    files: dict[str, dict[str, str]] = {}
    halves = header.half_map_files or [f"emd_{number}_half_map_{i}.map.gz" for i in (1, 2)]
    try:
        for key, name in zip(("half1", "half2"), halves[:2], strict=False):
            path, sha = get("other", name)
            files[key] = {"path": str(path), "sha256": sha}
    except NotFoundError:
        files.clear()
    if len(files) < 2:
        files.clear()
        if not allow_single_map:
            raise InputError(
                f"{accession}: the entry has no deposited half maps, so gold-standard local "
                "resolution is impossible; set allow_single_map: true for this dataset to run "
                "single-map mode on the primary map."
            )
    map_path, map_sha = get("map", header.map_file or f"emd_{number}.map.gz")
    files["map"] = {"path": str(map_path), "sha256": map_sha}
    if use_deposited_mask:
        if not header.mask_files:
            raise InputError(
                f"{accession}: no mask is deposited; set deposited_mask: false to use an "
                "automatic mask or give one with mask:."
            )
        mask_path, mask_sha = get("masks", header.mask_files[0])
        files["mask"] = {"path": str(mask_path), "sha256": mask_sha}
    fsc_path = None
    try:
        fsc_path, _ = get("fsc", header.fsc_file or f"emd_{number}_fsc.xml")
    except NotFoundError:
        say(f"{accession}: no deposited FSC curve")
    return {
        "emdb_id": accession,
        "title": header.title,
        "author_resolution_A": header.author_resolution_A,
        "voxel_size_A": list(header.voxel_size_A) if header.voxel_size_A else None,
        "mode": "split" if "half1" in files else "single",
        "files": files,
        "deposited_fsc": str(fsc_path) if fsc_path else None,
    }


def _getter(
    base_url: str,
    accession: str,
    out: Path,
    policy: DownloadPolicy,
    say: Callable[[str], None],
    sleep: Callable[[float], None],
) -> Callable[[str, str], tuple[Path, str]]:
    """A function ``(folder, name) -> (local path, sha256)`` bound to one entry."""

    def get(folder: str, name: str) -> tuple[Path, str]:
        if "/" in name or name.startswith("."):
            raise InputError(f"{accession}: refusing suspicious file name {name!r} in the header.")
        url = entry_url(base_url, accession, folder, name)
        path = out / name
        say(f"fetching {url}")
        return path, download(url, path, policy, sleep=sleep, say=say)

    return get
