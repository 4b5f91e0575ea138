"""Streaming downloads with retries, integrity checks and a SHA-256 sidecar (standard library).

Shared by the archive fetchers (:mod:`resmap_core.io.emdb` for EMDB entries,
:mod:`resmap_core.io.pdb` for fitted models). Every file is streamed to a temporary name,
checked (gzip files are decompressed completely), hashed, and renamed into place; a
``.sha256`` sidecar records the hash so a later run that finds the file intact downloads
nothing. Transient failures (timeouts, connection errors, HTTP 5xx/408/429, truncated bodies)
are retried with exponential back-off; HTTP 404 is final (:class:`NotFoundError`).
"""

from __future__ import annotations

import gzip
import hashlib
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from resmap_core import defaults
from resmap_core.errors import InputError
from resmap_core.io.atomic import atomic_path, write_text

_CHUNK = 1 << 20


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


#: The policy of the table of defaults (resmap_core/defaults.py).
DEFAULT_POLICY = DownloadPolicy()


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
    policy: DownloadPolicy = DEFAULT_POLICY,
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
