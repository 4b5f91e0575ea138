"""The report section on local resolution at the model (resmap_core/report/atoms.py and the
partial templates/_atoms.html.j2), built from synthetic records with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from resmap_core.errors import InputError
from resmap_core.io.records.atoms import AtomsRecord, MeasureInput, ResidueRow
from resmap_core.io.records.common import InputFile
from resmap_core.report.atoms import (
    WORST,
    atoms_section,
    plot_profiles,
    read_atoms_record,
    worst_residues,
)
from resmap_core.report.render import render

LABELS = ("resmap", "wfsc_05")


def residue(chain: str, number: int, value: float | None, b: float | None, polymer=True):
    """A residue whose wfsc_05 value is its resmap value + 0.5 Å."""
    values = {"resmap": value, "wfsc_05": None if value is None else value + 0.5}
    return ResidueRow(chain, number, "", "ALA" if polymer else "HOH", polymer, 5, b, "inside",
                      values, {k: 10 for k in LABELS})  # fmt: skip


def record(with_b: bool = True) -> AtomsRecord:
    """Chain A: B rises as resolution improves (ρ = −1); chain B: B unrelated to resolution;
    chain <C>: B rises with coarser resolution (ρ = +1). A water in A, one residue without a
    value in B."""
    n = 30
    res = [residue("A", i, 2.0 + 0.1 * i, 100.0 - i) for i in range(1, n + 1)]
    res.append(residue("A", 401, 9.0, 10.0, polymer=False))  # water: left out of summaries
    b_noise = np.random.default_rng(0).permutation(n)
    res += [residue("B", i, 3.0 + 0.05 * i, float(b_noise[i - 1])) for i in range(1, n + 1)]
    res.append(residue("B", 99, None, 50.0))
    res += [residue("<C>", i, 2.5 + 0.1 * i, 10.0 + i) for i in range(1, n + 1)]
    if not with_b:
        res = [ResidueRow(**{**r.__dict__, "b_mean": 20.0}) for r in res]
    chains = {
        c: {"residues": sum(r.chain == c for r in res),
            "summarised": sum(r.chain == c and r.polymer for r in res),
            "median_A": {k: 3.0 for k in LABELS}}
        for c in ("A", "B", "<C>")
    }  # fmt: skip
    return AtomsRecord(
        radius_A=3.0,
        measures=tuple(MeasureInput(k, f"{k}.mrc", None) for k in LABELS),
        model=InputFile("models/5ni1.cif.gz", None),
        model_format="mmcif",
        has_b_factors=with_b,
        mask=None,
        atoms={"total": 500, "inside": 480, "outside_map": 5, "outside_mask": 15},
        residues=tuple(res),
        chains=chains,
        outputs={"mmcif": "m.cif", "defattr": "m.defattr", "csv": "m.csv", "cxc": "m.cxc"},
        versions={},
    )


def html_of(context: dict) -> str:
    return render("_atoms.html.j2", {"atoms": context})


def test_without_a_model_the_section_says_so() -> None:
    html = html_of(atoms_section(None))
    assert 'id="atoms-absent"' in html and "No atomic model was given" in html
    assert "<table" not in html


def test_worst_residues_are_the_coarsest_first_measure_values() -> None:
    rows = worst_residues(record())
    assert len(rows) == WORST
    firsts = [r["measures"][0] for r in rows]
    assert firsts == sorted(firsts, reverse=True) and firsts[0] == 9.0  # the water counts here
    assert rows[0]["residue"] == "A 401 HOH"
    assert all(r["measures"][1] == pytest.approx(r["measures"][0] + 0.5) for r in rows)


def test_correlations_per_chain_with_plain_notes_for_negative_and_weak() -> None:
    context = atoms_section(record())
    rows = {(r["chain"], r["measure"]): r for r in context["correlations"]}
    assert rows[("A", "resmap")]["rho"] == pytest.approx(-1.0)
    assert rows[("A", "resmap")]["n"] == 30  # the water is left out
    assert rows[("A", "resmap")]["note"].startswith("negative")
    assert abs(rows[("B", "resmap")]["rho"]) < 0.3
    assert rows[("B", "resmap")]["n"] == 30  # the residue without a value is left out
    assert rows[("B", "resmap")]["note"].startswith(("weak", "negative"))
    assert rows[("<C>", "wfsc_05")]["rho"] == pytest.approx(1.0)
    assert rows[("<C>", "wfsc_05")]["note"] is None
    html = html_of(context)
    assert "negative: residues with higher B-factors have finer local resolution" in html
    assert "&lt;C&gt;" in html and "<C>" not in html  # names are text, escaped


def test_section_shows_medians_counts_and_files() -> None:
    html = html_of(atoms_section(record()))
    assert 'id="atoms-chains"' in html and html.count("3.00 Å") >= 6
    assert "5 outside the map" in html and "15" in html
    assert "resmap 1, wfsc_05 1" in html  # residues without a value
    assert "<code>m.defattr</code>" in html and "5ni1.cif.gz" in html
    assert html.count("<tr>") == 1 + 3 + 1 + WORST + 1 + 3 * 2


def test_a_model_without_b_factors_says_so_instead_of_correlating() -> None:
    context = atoms_section(record(with_b=False))
    assert context["correlations"] == []
    html = html_of(context)
    assert 'id="atoms-no-b"' in html and 'id="atoms-correlation"' not in html


def test_profile_figure_is_a_deterministic_png_with_one_panel_per_chain() -> None:
    first, second = plot_profiles(record()), plot_profiles(record())
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and first == second
    one_chain = record()
    one_chain = AtomsRecord(**{**one_chain.__dict__, "chains": {"A": one_chain.chains["A"]}})
    assert len(plot_profiles(one_chain)) < len(first)  # fewer panels, a smaller figure


def test_the_record_is_read_from_json_and_bad_files_are_refused(tmp_path: Path) -> None:
    good = tmp_path / "atoms.json"
    good.write_text(json.dumps(record().to_json()))
    assert read_atoms_record(good) == record()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"radius_A": 3.0}))
    with pytest.raises(InputError, match="not a resmap atoms record"):
        read_atoms_record(bad)


def test_report_command_shows_the_model_section_from_resmap_atoms(tmp_path: Path) -> None:
    """The real chain: resmap atoms on a dataset's local map, then resmap report --atoms
    --model; the page holds the section with the model's residues, and without --atoms it says
    that no model was given."""
    from _report_helpers import HELIX_RESIDUES, cli_args, run_cli, write_dataset, write_helix_model

    paths = write_dataset(tmp_path)
    model = write_helix_model(tmp_path / "helix.pdb")
    out_cif = tmp_path / "atoms" / "model_locres.cif"
    out_cif.parent.mkdir()
    argv = ["atoms", f"resmap={paths['local']}", str(model), "--out", str(out_cif), "--quiet"]
    assert run_cli(argv) == 0
    record = read_atoms_record(out_cif.with_suffix(".json"))
    assert len(record.residues) == HELIX_RESIDUES
    page = tmp_path / "with" / "index.html"
    argv = cli_args(paths, page) + ["--atoms", str(out_cif.with_suffix(".json"))]
    assert run_cli([*argv, "--model", str(model)]) == 0
    html = page.read_text()
    assert 'id="atoms"' in html and 'id="atoms-chains"' in html and "A 2 ALA" in html
    plain = tmp_path / "without" / "index.html"
    assert run_cli(cli_args(paths, plain)) == 0
    assert "No atomic model was given" in plain.read_text()
