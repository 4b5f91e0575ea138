"""Pieces shared by the typed output records: reading JSON values tolerantly, and the
``inputs`` entries (path and sha256 of each input file)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from resmap_core.io.mrc import sha256_file


def number(value: Any) -> float | None:
    """A finite float from a JSON value, else None (bools are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def numbers(values: Any) -> tuple[float | None, ...] | None:
    """A JSON list of numbers (null entries kept as None); None when it is not a list."""
    return tuple(number(v) for v in values) if isinstance(values, list) else None


def integer(value: Any) -> int | None:
    """An int from a JSON value (bools are not), else None."""
    return of(int, value)


def integers(values: Any) -> tuple[int, ...] | None:
    """A JSON list of integers; None when it is not one."""
    if not isinstance(values, list):
        return None
    out = tuple(integer(v) for v in values)
    return None if None in out else out  # type: ignore[return-value]


def as_list(values: tuple | None) -> list | None:
    """A tuple field as its JSON list (None stays null)."""
    return None if values is None else list(values)


def of(kind: type, value: Any) -> Any:
    """``value`` when it is a ``kind`` (a bool is not an int here), else None."""
    ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    return value if ok else None


class Flat:
    """``to_json`` of a record whose fields are JSON scalars named as their keys."""

    def to_json(self) -> dict[str, Any]:
        """``{field: value}`` in field order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class InputFile(Flat):
    """One input map: its path as given and the SHA-256 of its bytes."""

    path: str
    sha256: str | None

    @classmethod
    def hashed(cls, path: str) -> InputFile:
        """The file at ``path`` with its checksum (reads the file)."""
        return cls(path, sha256_file(path))

    @classmethod
    def from_json(cls, record: Any) -> InputFile:
        """Read :meth:`to_json`'s form (missing fields: None)."""
        record = of(dict, record) or {}
        return cls(str(record.get("path", "")), record.get("sha256"))


def inputs_of(records: Any) -> tuple[InputFile, ...]:
    """The ``inputs`` list of a record (anything else: none)."""
    return tuple(InputFile.from_json(r) for r in records) if isinstance(records, list) else ()
