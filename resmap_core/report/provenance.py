"""The report's provenance section: inputs with their sha256, parameters, package versions,
per-rule run times and the run date.

Rows come from the report's own inputs and from the records of the steps that made them
(the workflow's provenance record, LOCAL.json, FSC.json, WFSC.json).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import re
from pathlib import Path
from typing import Any

from resmap_core import __version__
from resmap_core.io.mrc import sha256_file
from resmap_core.report.load import Loaded, ReportInputs
from resmap_core.report.records import flatten
from resmap_core.report.viewer import VERSION as MOLSTAR_VERSION

_INPUT_ROLES = ("map", "local", "mask", "fsc", "wfsc", "band", "meta", "deposited_fsc",
                "provenance", "model")  # fmt: skip
#: The packages whose versions change the numbers or the page, in the order they are listed;
#: every other package a record names is folded into one line.
KEY_PACKAGES = ("resmap_core", "python", "numpy", "scipy", "mrcfile", "matplotlib", "jinja2",
                "snakemake", "molstar")  # fmt: skip


def versions_here() -> dict[str, str]:
    """Versions of the packages that built the report."""
    out = {"resmap_core": __version__, "python": platform.python_version(),
           "molstar": MOLSTAR_VERSION}  # fmt: skip
    for pkg in ("numpy", "scipy", "mrcfile", "matplotlib", "jinja2", "snakemake"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def run_date(local_path: Path, provenance: dict | None) -> str:
    """Run date: provenance ``run_date``, else SOURCE_DATE_EPOCH, else LOCAL.mrc's mtime (UTC).

    Never the wall clock, so rebuilding the report from the same files gives the same bytes.
    """
    if provenance and provenance.get("run_date"):
        return str(provenance["run_date"])
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    ts = float(epoch) if epoch and epoch.isdigit() else local_path.stat().st_mtime
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def input_rows(inputs: ReportInputs, prov: dict, lj: dict) -> list[dict[str, str]]:
    """(role, path, sha256) of every input: the report's own files, the workflow's, ResMap's."""
    rows = []
    for role in _INPUT_ROLES:
        p = getattr(inputs, role)
        if p is not None and Path(p).is_file():
            rows.append({"role": f"report: {role}", "path": str(p), "sha256": sha256_file(p)})
    for src, rec in (("workflow", prov.get("inputs")), ("ResMap", lj.get("inputs"))):
        for item in rec or []:
            if isinstance(item, dict):
                rows.append(
                    {
                        "role": f"{src}: {item['role']}" if item.get("role") else src,
                        "path": str(item.get("path", "")),
                        "sha256": str(item.get("sha256", "")),
                    }
                )
    return rows


def parameter_rows(data: Loaded) -> list[tuple[str, str]]:
    """(dotted key, JSON text) of the workflow's, ResMap's, the FSC's, the windowed FSC's and
    the band energy's parameters, in that order."""
    prov = data.run.provenance or {}
    fsc_json = data.fsc_json or {}
    wfsc_json = data.wfsc_json or {}
    params: list[tuple[str, str]] = []
    flatten("workflow", prov.get("parameters") or {}, params)
    for key in ("source", "wavelengths_A", "code_fingerprint", "code_fingerprint_params"):
        if key in prov:
            flatten(f"workflow.{key}", prov[key], params)
    flatten("local", (data.local_json or {}).get("parameters") or {}, params)
    for key in ("seed", "randomise_from_A"):
        if key in fsc_json:
            flatten(f"fsc.{key}", fsc_json[key], params)
    for key in ("box_vox", "step_vox", "cutoff"):
        if key in wfsc_json:
            flatten(f"wfsc.{key}", wfsc_json[key], params)
    if data.band is not None:
        flatten("band", data.band.record.get("parameters") or {}, params)
    return params


def recorded_versions(data: Loaded) -> list[tuple[str, str, str]]:
    """(source, package, version): the report's own, then each record's ``versions``."""
    versions = [("report", k, v) for k, v in versions_here().items()]
    for src, rec in (
        ("workflow", (data.run.provenance or {}).get("versions")),
        ("ResMap map", (data.local_json or {}).get("versions")),
        ("FSC", (data.fsc_json or {}).get("versions")),
        ("windowed FSC", (data.wfsc_json or {}).get("versions")),
        ("band-energy map", (data.band.record if data.band else {}).get("versions")),
    ):
        if isinstance(rec, dict):
            versions += [(src, str(k), str(v)) for k, v in sorted(rec.items())]
    return versions


def fold_versions(
    versions: list[tuple[str, str, str]],
) -> tuple[list[dict[str, str]], list[str]]:
    """One row per package of :data:`KEY_PACKAGES` ({package, version, sources}: the sources
    that recorded each distinct version, "2.4 (report, workflow); 2.3 (FSC)"), and the names
    of every other package recorded (sorted), which the page lists on one line."""
    by_package: dict[str, dict[str, list[str]]] = {}
    for src, pkg, version in versions:
        by_package.setdefault(pkg, {}).setdefault(version, []).append(src)
    rows = []
    for pkg in KEY_PACKAGES:
        found = by_package.get(pkg)
        if not found:
            continue
        text = "; ".join(f"{v} ({', '.join(dict.fromkeys(srcs))})" for v, srcs in found.items())
        rows.append({"package": pkg, "versions": text})
    others = sorted(p for p in by_package if p not in KEY_PACKAGES)
    return rows, others


def natural_key(name: str) -> tuple:
    """Sort key that orders the numbers inside a name by value (``pass_3.7A`` before
    ``pass_10.7A``), the rest alphabetically."""
    parts = re.split(r"(\d+(?:\.\d+)?)", name)
    return tuple((1, float(p), "") if i % 2 else (0, 0.0, p) for i, p in enumerate(parts))


def provenance_context(inputs: ReportInputs, data: Loaded) -> dict[str, Any]:
    """The template fields of the provenance section and the header's run date."""
    seconds = data.run.rule_seconds
    versions, others = fold_versions(recorded_versions(data))
    return {
        "run_date": run_date(inputs.local, data.run.provenance),
        "inputs": input_rows(inputs, data.run.provenance or {}, data.local_json or {}),
        "params": parameter_rows(data),
        "versions": versions,
        "other_packages": others,
        "rule_seconds": sorted(seconds.items(), key=lambda item: natural_key(item[0])),
        "total_seconds": sum(seconds.values()) if seconds else None,
    }
