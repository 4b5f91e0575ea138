"""Reading values out of the JSON records the report takes (contracts in docs/outputs.md).

Records come from other tools and older versions, so every field is read defensively: a value
that is absent, not a number or not finite reads as None rather than failing the report.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from resmap_core.errors import InputError
from resmap_core.io.values import finite_float as finite_float  # the one parser


def sidecar_json(map_path: Path) -> Path:
    """``X.json`` beside ``X.mrc`` (also for ``.map``, ``.ccp4``, ``.mrcs`` and ``.gz`` names)."""
    name = map_path.name
    if name.lower().endswith(".gz"):
        name = name[: -len(".gz")]
    stem = re.sub(r"\.(mrc|map|ccp4|mrcs)$", "", name, flags=re.IGNORECASE)
    return map_path.with_name(stem + ".json")


def read_json(path: Path, what: str) -> dict:
    """Read a JSON object, or raise InputError naming the file and ``what`` it should hold."""
    if not path.is_file():
        raise InputError(f"{path}: no such file ({what}).")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({what}): {exc}.") from None
    if not isinstance(record, dict):
        raise InputError(f"{path}: expected a JSON object ({what}).")
    return record


#: Text that is a plain decimal number (e.g. the workflow's ``outside: "100"``), and nothing
#: longer, so hexadecimal digests are never read as numbers.
_SHORT_NUMBER = re.compile(r"[-+]?\d{1,9}(\.\d{0,9})?")


def readable(value: Any) -> str:
    """A parameter value as people read it: numbers to 4 significant digits (so 26.249998…
    reads 26.25 and the string "100" and the number 100.0 both read 100), strings without
    quotes, lists comma-separated, null as "none", booleans as true/false; anything else as
    JSON."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    short_number = isinstance(value, str) and _SHORT_NUMBER.fullmatch(value.strip())
    number = finite_float(value) if isinstance(value, float) or short_number else None
    if number is not None:
        return f"{number:.4g}"
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(readable(v) for v in value)
    return json.dumps(value, sort_keys=True, default=str)


def flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    """Append nested parameters to ``out`` as (dotted key, :func:`readable` text) rows, keys
    sorted."""
    if isinstance(value, dict):
        for k in sorted(value, key=str):
            flatten(f"{prefix}.{k}" if prefix else str(k), value[k], out)
    else:
        out.append((prefix, readable(value)))
