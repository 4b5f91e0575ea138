"""Corrected-FSC resolutions on phantoms: ours, RELION's and the analytic expectation (a table).

    PYTHONPATH=. python3 benchmarks/fsc_vs_relion.py [--no-demo]

Phantoms (tests/_fsc_helpers.py, the same ones the tests use): a known signal s, half maps
s + n_i with independent white noise of variance σ² per voxel, and a binary mask m given as a
file. The analytic expectation of the masked FSC per shell is
Σ|F[m·s]|² / (Σ|F[m·s]|² + N_k·σ²·Σ_v m(v)²), N_k = Fourier coefficients in the shell; its
crossings are the "analytic" column. Columns: ``resmap fsc --mask`` (the mask as given), the same
with the former default (a 6-voxel raised-cosine edge added to the binary mask), and
``relion_postprocess`` with the same mask (when installed; it takes one pixel size, so it runs on
the cubic, isotropic phantoms only). "Δ shells" is (1/ours − 1/analytic) / shell width: how many
shells ours sits from the analytic crossing (negative: at lower frequency, a worse resolution).
With ``--demo`` (default on) the embedded demo's half maps and mask are added (no analytic value:
the signal is not known).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the phantoms and the oracle live with the tests

from _fsc_helpers import (  # noqa: E402
    PHANTOMS,
    analytic_masked_fsc,
    make_phantom,
    relion_fsc_table,
    write_phantom,
)

from resmap_core.cli.main import main  # noqa: E402
from resmap_core.fsc.crossing import Crossing, crossing_text, threshold_crossing  # noqa: E402

RELION = shutil.which("relion_postprocess")
THRESHOLDS = ("0.143", "0.5")


def relion_corrected(folder: Path, h1: Path, h2: Path, mask: Path, angpix: float) -> dict | None:
    """RELION's corrected-FSC crossings (Crossing per threshold), or None without RELION."""
    if RELION is None:
        return None
    cmd = [RELION, "--i", str(h1), "--i2", str(h2), "--angpix", f"{angpix:.6f}", "--mask",
           str(mask), "--o", "pp", "--auto_bfac", "false", "--adhoc_bfac", "0"]  # fmt: skip
    # RELION exits non-zero when ghostscript (for its PDF log) is missing, after writing pp.star.
    subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=600)
    star = folder / "pp.star"
    if not star.is_file():
        return None
    table = relion_fsc_table(star.read_text())
    freq = table["_rlnResolution"]
    corrected = table["_rlnFourierShellCorrelationCorrected"]
    return {t: threshold_crossing(freq, corrected, float(t)) for t in THRESHOLDS}


def ours_corrected(folder: Path, h1: Path, h2: Path, mask: Path, *extra: str) -> dict:
    """``resmap fsc --mask`` corrected-FSC crossings and the record's Nyquist."""
    out = folder / f"FSC{'_'.join(extra)}.json"
    argv = ["fsc", str(h1), str(h2), "--mask", str(mask), "--out", str(out), "--quiet", *extra]
    assert main(argv) == 0
    rec = json.loads(out.read_text())
    crossings = {t: Crossing.from_record(rec["resolutions"]["corrected"][t]) for t in THRESHOLDS}
    return {"crossings": crossings, "nyquist": rec["nyquist_A"], "freq": rec["frequency_invA"]}


def _shells(crossing: Crossing | None, analytic: Crossing | None, step: float) -> str:
    """Signed distance in shells between two measured crossings (blank for bounds)."""
    if crossing is None or analytic is None or crossing.bound or analytic.bound:
        return ""
    if crossing.value_A is None or analytic.value_A is None:
        return ""
    return f"{(1 / crossing.value_A - 1 / analytic.value_A) / step:+.2f}"


def rows_for(name: str, folder: Path, paths: dict, spacing: tuple, analytic: dict | None) -> list:
    """Table rows (one per threshold) for one map pair and mask."""
    ours = ours_corrected(folder, paths["h1"], paths["h2"], paths["mask"])
    edge = f"{6.0 * max(spacing):g}"
    old = ours_corrected(folder, paths["h1"], paths["h2"], paths["mask"], "--soft-edge", edge)
    cubic = len(set(spacing)) == 1 and len(set(paths["shape"])) == 1
    relion = relion_corrected(folder, paths["h1"], paths["h2"], paths["mask"], spacing[0])
    step = ours["freq"][1]
    rows = []
    for t in THRESHOLDS:
        text = {
            "ours": crossing_text(ours["crossings"][t], ours["nyquist"]),
            "old": crossing_text(old["crossings"][t], ours["nyquist"]),
            "relion": "not installed" if RELION is None else "n/a (cubic, one pixel size)",
            "analytic": "— (signal unknown)",
        }
        if relion is not None and cubic:
            text["relion"] = crossing_text(relion[t], ours["nyquist"])
        a = analytic[t] if analytic else None
        if a is not None:
            text["analytic"] = crossing_text(a, ours["nyquist"])
        r = relion[t] if relion is not None and cubic else None
        rows.append(
            [
                name,
                t,
                text["ours"],
                text["old"],
                text["relion"],
                text["analytic"],
                _shells(ours["crossings"][t], a, step),
                _shells(old["crossings"][t], a, step),
                _shells(r, a, step),
            ]  # fmt: skip
        )
    return rows


def main_table(demo: bool) -> None:
    """Run every phantom (and the demo) and print the table."""
    header = ["map", "FSC", "ours (mask as given)", "ours, old 6-voxel edge", "RELION",
              "analytic", "Δ ours", "Δ old", "Δ RELION"]  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(PHANTOMS):
            phantom, seed = make_phantom(name)
            folder = Path(tmp) / name
            folder.mkdir()
            paths = write_phantom(folder, phantom, seed) | {"shape": phantom.signal.shape}
            freq, expected = analytic_masked_fsc(phantom)
            analytic = {t: threshold_crossing(freq, expected, float(t)) for t in THRESHOLDS}
            label = f"{phantom.name} {'×'.join(map(str, phantom.signal.shape[::-1]))}"
            spacing = phantom.spacing_zyx_A
            rows += rows_for(label, folder, paths, spacing, analytic)
        if demo:
            folder = Path(tmp) / "demo"
            folder.mkdir()
            paths = {
                "h1": ROOT / "demo" / "demo_half_map_1.mrc.gz",
                "h2": ROOT / "demo" / "demo_half_map_2.mrc.gz",
                "mask": ROOT / "demo" / "demo_mask.mrc.gz",
                "shape": (64, 64, 64),
            }
            for key in ("h1", "h2", "mask"):  # RELION reads plain MRC only
                plain = folder / Path(paths[key]).name.removesuffix(".gz")
                subprocess.run(["gunzip", "-c", str(paths[key])], stdout=plain.open("wb"),
                               check=True)  # fmt: skip
                paths[key] = plain
            rows += rows_for("demo 64³ (EMD-3488, simulated halves)", folder, paths,
                             (1.640625,) * 3, None)  # fmt: skip
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    print(f"\nRELION: {RELION or 'not installed'}. Δ: shells from the analytic crossing.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-demo", action="store_true", help="phantoms only")
    main_table(demo=not parser.parse_args().no_demo)
