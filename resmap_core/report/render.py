"""Rendering the report pages: the Jinja2 environment over ``templates/``, its filters, and the
embedding of figures as data URIs.

Autoescaping is always on and undefined names are errors, so input text (titles, file names,
parameters) appears as text and a template typo fails loudly. This module is imported only
when a page is built.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jinja2

from resmap_core.fsc.gold_standard import Crossing, crossing_text
from resmap_core.report.records import finite_float

TEMPLATES = Path(__file__).resolve().parent / "templates"


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...``: the page carries its figures, nothing is fetched."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def fmt(value: Any, digits: int = 2, unit: str = "") -> str:
    """Number with ``digits`` decimals (and unit), or an em dash when absent."""
    v = finite_float(value)
    if v is None:
        return "—"
    return f"{v:.{digits}f}{(' ' + unit) if unit else ''}"


def pct(value: Any) -> str:
    """Fraction as a percentage with one decimal, or an em dash."""
    v = finite_float(value)
    return "—" if v is None else f"{100 * v:.1f} %"


def crossing_filter(value: Any, bound: Any = None, nyquist_A: Any = None) -> str:
    """A resolution with its bound in words (summary.json fields), or an em dash when absent."""
    crossing = Crossing.from_record({"value_A": value, "bound": bound})
    return "—" if crossing.value_A is None else crossing_text(crossing, finite_float(nyquist_A))


def environment() -> jinja2.Environment:
    """Jinja2 environment over the package templates: autoescape always on, strict undefined."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = fmt
    env.filters["crossing"] = crossing_filter
    env.filters["pct"] = pct
    return env


def render(template: str, context: dict[str, Any]) -> str:
    """Render ``template`` (a file name in ``templates/``) with ``context`` to HTML text."""
    return environment().get_template(template).render(**context)
