"""Reading numbers from text and JSON written by others (EMDB headers, benchmarks, records)."""

from __future__ import annotations

import math
from typing import Any


def finite_float(value: Any) -> float | None:
    """``float(value)`` when that is a finite number (numbers and numeric text), else None.

    Missing, unparsable, NaN and infinite values all read as absent, so they never reach a
    record, a table or a figure.
    """
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
