"""Fixtures shared by several test files."""

from __future__ import annotations

import pytest

from resmap_core.localres import null


@pytest.fixture()
def series_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts evaluations of the null's tail series (``calls[0]``), from an empty mixture cache."""
    calls = [0]
    real = null._series

    def counting(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(null, "_series", counting)
    null._CACHE.clear()
    return calls
