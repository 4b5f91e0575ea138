"""Download EMDB entries (maps, half maps, masks, header, FSC curve) with the standard library.

The server is any base URL that mirrors the EMDB archive layout::

    BASE/structures/EMD-N/header/emd-N-v30.xml
    BASE/structures/EMD-N/map/emd_N.map.gz
    BASE/structures/EMD-N/other/emd_N_half_map_1.map.gz   (and _2)
    BASE/structures/EMD-N/masks/emd_N_msk_1.map
    BASE/structures/EMD-N/fsc/emd_N_fsc.xml

Every file is streamed to a temporary name, checked (gzip files are decompressed completely),
hashed, and renamed into place; a ``.sha256`` sidecar records the hash so a later run that finds
the file intact downloads nothing. Transient failures (timeouts, connection errors, HTTP 5xx,
truncated bodies) are retried with exponential back-off; HTTP 404 is final.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path

from resmap_core import defaults
from resmap_core.errors import InputError
from resmap_core.io.atomic import atomic_path, write_text
from resmap_core.io.values import finite_float

DEFAULT_BASE_URL = defaults.text("emdb_base_url")
_CHUNK = 1 << 20
_ACCESSION = re.compile(r"^(?:EMD[-_]?)?(\d{4,6})$", re.IGNORECASE)


class NotFoundError(InputError):
    """The server answered 404: the file does not exist (not retried)."""


@dataclass(frozen=True)
class DownloadPolicy:
    """How hard to try: per-socket-operation timeout (s), attempts after the first, back-off (s).

    The wait before retry ``k`` (1-based) is ``backoff_s * 2**(k-1)``.
    """

    timeout_s: float = defaults.number("download.timeout_s")
    retries: int = defaults.integer("download.retries")
    backoff_s: float = defaults.number("download.backoff_s")


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


def normalise_accession(text: str) -> tuple[str, str]:
    """``'EMD-11638'``, ``'emd_11638'`` or ``'11638'`` → ``('EMD-11638', '11638')``."""
    match = _ACCESSION.match(str(text).strip())
    if match is None:
        raise InputError(
            f"{text!r} is not an EMDB accession; write it as EMD-NNNNN (e.g. EMD-11638)."
        )
    number = match.group(1)
    return f"EMD-{number}", number


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


def parse_header(xml_bytes: bytes, accession: str) -> EntryHeader:
    """Title, voxel size (Å), author-reported resolution (Å) and file names from a v3 header."""
    try:
        root = ET.fromstring(xml_bytes)
    except ET.ParseError as exc:
        raise InputError(f"{accession}: the header XML cannot be parsed ({exc}).") from None
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
    )


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def verified_sha256(path: Path) -> str | None:
    """The file's SHA-256 when it and a matching ``.sha256`` sidecar exist, else None."""
    side = _sidecar(path)
    if not (path.is_file() and side.is_file()):
        return None
    # imported here: io.mrc brings NumPy and mrcfile, which downloading does not need
    from resmap_core.io.mrc import sha256_file

    recorded = side.read_text().split()[0] if side.read_text().strip() else ""
    actual = sha256_file(path)
    return actual if recorded == actual else None


def _check_gzip(path: Path, url: str) -> None:
    """Decompress ``path`` completely; a truncated or corrupt stream raises a retryable error."""
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(_CHUNK):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        raise _Transient(f"{url}: corrupt or truncated gzip data ({exc})") from None


class _Transient(Exception):
    """A failure worth retrying."""


def _fetch_once(url: str, dest: Path, timeout_s: float) -> str:
    """One attempt: stream ``url`` into ``dest`` atomically; return its SHA-256."""
    request = urllib.request.Request(url, headers={"User-Agent": "resmap_core"})
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            expected = response.headers.get("Content-Length")
            with atomic_path(dest) as tmp:
                received = 0
                with open(tmp, "wb") as out:
                    while block := response.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        received += len(block)
                if expected is not None and received != int(expected):
                    raise _Transient(f"{url}: received {received} of {expected} bytes")
                if dest.name.endswith(".gz"):
                    _check_gzip(tmp, url)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise NotFoundError(f"{url}: not found on the server (HTTP 404).") from None
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Transient(f"{url}: HTTP {exc.code} {exc.reason}") from None
        raise InputError(f"{url}: the server refused the request (HTTP {exc.code}).") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, FileNotFoundError):  # file:// mirrors
            raise NotFoundError(f"{url}: no such file.") from None
        raise _Transient(f"{url}: {exc.reason}") from None
    except (TimeoutError, ConnectionError) as exc:
        raise _Transient(f"{url}: {getattr(exc, 'reason', exc)}") from None
    except HTTPException as exc:  # IncompleteRead and friends
        raise _Transient(f"{url}: {type(exc).__name__} {exc}") from None
    return digest.hexdigest()


def download(
    url: str,
    dest: str | Path,
    policy: DownloadPolicy = DownloadPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = lambda _msg: None,
) -> str:
    """Download ``url`` to ``dest`` unless an intact copy is already there; return its SHA-256.

    Raises :class:`NotFoundError` on HTTP 404 and :class:`InputError` once the retries are spent.
    """
    path = Path(dest)
    known = verified_sha256(path)
    if known is not None:
        return known
    last = ""
    for attempt in range(policy.retries + 1):
        if attempt:
            wait = policy.backoff_s * 2 ** (attempt - 1)
            say(f"retrying {url} in {wait:g} s ({last})")
            sleep(wait)
        try:
            sha = _fetch_once(url, path, policy.timeout_s)
        except _Transient as exc:
            last = str(exc)
            continue
        write_text(_sidecar(path), f"{sha}  {path.name}\n")
        return sha
    raise InputError(
        f"{url}: download failed after {policy.retries + 1} attempts ({last}); "
        "check the network or the base URL and rerun."
    )


def fetch_entry(
    accession: str,
    dest_dir: str | Path,
    base_url: str = DEFAULT_BASE_URL,
    policy: DownloadPolicy = DownloadPolicy(),
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
    header_name = f"emd-{number}-v30.xml"
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
