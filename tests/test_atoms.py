"""Local resolution at a fitted model: per-atom trilinear values, per-residue means within a
radius, atoms outside the map or mask, and the files (mmCIF, defattr, CSV, JSON, .cxc) that
must all carry the same numbers.

Maps are synthetic fields on the grid of EMD-3488 (100³, 1.05 Å) at the real model 5NI1, except
the closing check, which runs ``resmap local``, ``resmap wfsc`` and ``resmap atoms`` on EMD-3488
with SURROGATE half maps (the deposited map plus independent noise per half).
"""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from pathlib import Path

import gemmi
import numpy as np
import pytest

from resmap_core.atoms.analysis import sample_model
from resmap_core.atoms.measures import read_measures
from resmap_core.atoms.residues import residue_means, residue_voxels
from resmap_core.atoms.sampling import trilinear
from resmap_core.atoms.summary import chain_medians, spearman_by_chain
from resmap_core.cli.main import main
from resmap_core.io.model import read_model
from resmap_core.io.mrc import MapGeometry, read_map, write_map
from resmap_core.io.records.atoms import AtomsRecord
from resmap_core.report.plots import palette_stops
from resmap_core.testing.phantoms import half_maps

DATA = Path(__file__).resolve().parent / "data"
MODEL = DATA / "emd_3488" / "5ni1_updated.cif.gz"
GRID = MapGeometry(shape=(100, 100, 100), voxel_size_A=(1.05, 1.05, 1.05))
#: Voxels with x ≥ MASK_X_A are outside the synthetic mask (part of the model lies there).
MASK_X_A = 70.0


def positions_A() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y, z (Å) of the voxel centres of GRID, broadcastable over [z, y, x]."""
    c = np.arange(100) * 1.05
    return c[None, None, :], c[:, None][None], c[:, None, None]


def write_fields(folder: Path) -> dict[str, Path]:
    """Two smooth local-resolution maps (Å, 100 outside the mask, as resmap writes them) and
    the mask (x < MASK_X_A)."""
    x, y, z = positions_A()
    mask = np.broadcast_to(x < MASK_X_A, GRID.shape)
    a = 2.6 + 0.8 * np.sin(x / 9.0) * np.cos(y / 13.0) + 0.01 * z
    b = 3.4 + 0.02 * (x - y) + 0.3 * np.cos(z / 7.0)
    paths = {"a": folder / "a.mrc", "b": folder / "b.mrc", "mask": folder / "mask.mrc"}
    for key, field in (("a", a), ("b", b)):
        write_map(paths[key], np.where(mask, field, 100.0), GRID)
    write_map(paths["mask"], mask.astype(np.float32), GRID)
    return paths


def run_atoms(paths: dict[str, Path], out: Path, model: Path = MODEL) -> int:
    """``resmap atoms resmap=A wfsc_05=B MODEL --mask MASK --out OUT --quiet``."""
    argv = ["atoms", f"resmap={paths['a']}", f"wfsc_05={paths['b']}", str(model)]
    return main([*argv, "--mask", str(paths["mask"]), "--out", str(out), "--quiet"])


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The synthetic maps and one ``resmap atoms`` run; returns every path."""
    folder = tmp_path_factory.mktemp("atoms")
    paths = write_fields(folder)
    assert run_atoms(paths, folder / "out" / "model_locres.cif") == 0
    stem = folder / "out" / "model_locres"
    return {**paths, **{s: stem.with_suffix(f".{s}") for s in ("cif", "csv", "defattr", "cxc")},
            "json": stem.with_suffix(".json")}  # fmt: skip


def csv_values(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """CSV rows keyed by (chain, number + insertion code)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {(r["chain"], r["residue_number"] + r["insertion_code"]): r for r in rows}


def parse_defattr(path: Path) -> dict[str, dict[tuple[str, str], float]]:
    """A small reader of ChimeraX attribute files: {attribute: {(chain, residue): value}}."""
    out: dict[str, dict[tuple[str, str], float]] = {}
    current = None
    for line in path.read_text().splitlines():
        if line.startswith("attribute:"):
            current = out.setdefault(line.split(":", 1)[1].strip(), {})
        elif line.startswith("\t"):
            spec, value = line.strip().split("\t")
            chain, residue = spec.removeprefix("/").split(":")
            current[(chain, residue)] = float(value)
    return out


# ---- sampling -------------------------------------------------------------------------------


def test_trilinear_is_exact_for_a_linear_field_and_ignores_invalid_corners() -> None:
    rng = np.random.default_rng(1)
    z, y, x = np.meshgrid(*(np.arange(n) for n in (8, 9, 10)), indexing="ij")
    field = 1.0 + 0.3 * x - 0.2 * y + 0.1 * z
    points = rng.uniform([0, 0, 0], [7, 8, 9], size=(200, 3))
    exact = 1.0 + 0.3 * points[:, 2] - 0.2 * points[:, 1] + 0.1 * points[:, 0]
    np.testing.assert_allclose(trilinear(field, np.ones(field.shape, bool), points), exact)
    valid = rng.random(field.shape) > 0.3
    spoiled = np.where(valid, field, 1e6)  # invalid voxels must never leak in
    values = trilinear(spoiled, valid, points)
    finite = np.isfinite(values)
    assert finite.mean() > 0.9 and values[finite].max() < field.max() + 1e-9
    nowhere = trilinear(field, np.zeros(field.shape, bool), points)
    assert np.isnan(nowhere).all()


def test_residue_voxels_are_exactly_those_within_the_radius_of_any_atom() -> None:
    rng = np.random.default_rng(7)
    shape, spacing, radius = (14, 17, 12), (1.3, 0.9, 1.1), 2.5
    idx = rng.uniform(-2.0, [15.0, 18.0, 13.0], size=(40, 3))  # some atoms outside the box
    residue = np.sort(rng.integers(0, 9, size=40))
    pairs = residue_voxels(idx, residue, shape, spacing, radius)
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), -1).reshape(-1, 3)
    for r in range(9):
        atoms = idx[residue == r]
        d2 = (((grid[:, None, :] - atoms[None, :, :]) * np.array(spacing)) ** 2).sum(-1)
        expected = np.flatnonzero((d2 <= radius**2).any(axis=1)) if atoms.size else []
        np.testing.assert_array_equal(np.sort(pairs.voxel[pairs.residue == r]), expected)
    values = rng.uniform(2, 5, size=shape)
    valid = rng.random(shape) > 0.5
    mean, count = residue_means(pairs, values, valid, 9)
    for r in range(9):
        chosen = pairs.voxel[pairs.residue == r]
        chosen = chosen[valid.ravel()[chosen]]
        assert count[r] == chosen.size
        if chosen.size:
            assert mean[r] == pytest.approx(values.ravel()[chosen].mean())


def test_atoms_outside_the_map_or_mask_get_no_value_never_100(tmp_path: Path) -> None:
    """A map covering part of the model, a mask covering part of the map, 100 Å outside it."""
    model = read_model(MODEL)
    small = MapGeometry(shape=(100, 100, 50), voxel_size_A=(1.05, 1.05, 1.05))  # x < 52.5 Å
    field = np.full(small.shape, 3.0, np.float32)
    field[:, :, 40:] = 100.0  # what resmap local writes outside its mask (x ≥ 42 Å)
    write_map(tmp_path / "local.mrc", field, small)
    mask = np.zeros(small.shape, np.float32)
    mask[:, :, :40] = 1.0
    write_map(tmp_path / "mask.mrc", mask, small)
    for mask_path in (None, str(tmp_path / "mask.mrc")):
        measures, m = read_measures([str(tmp_path / "local.mrc")], mask_path)
        values = sample_model(model, measures, m, 3.0)
        x = model.xyz_A[:, 0]
        assert not np.any(values.atom_values == 100.0) and not np.any(values.residue_values > 3)
        inside_box = x < 52.5 - 0.525
        assert np.all(values.atom_status[~inside_box] == 1)  # outside the map
        assert np.isnan(values.atom_values[0][~inside_box]).all()
        np.testing.assert_allclose(values.atom_values[0][x < 40], 3.0)
        if mask_path is not None:
            assert np.all(values.atom_status[(x > 43) & inside_box] == 2)  # outside the mask


# ---- the files -------------------------------------------------------------------------------


def test_mmcif_b_column_and_defattr_parse_back_to_the_csv_numbers(written) -> None:
    table = csv_values(written["csv"])
    assert len(table) == 602
    header = next(csv.reader(open(written["csv"])))
    assert header == [
        "chain", "residue_number", "insertion_code", "residue_name", "resmap", "wfsc_05",
        "atom_count",
    ]  # fmt: skip
    empty = [k for k, r in table.items() if r["resmap"] == ""]
    assert 0 < len(empty) < 602  # the mask leaves some residues without a value
    block = gemmi.cif.read(str(written["cif"])).sole_block()
    atoms = block.get_mmcif_category("_atom_site", raw=True)
    for chain, num, icode, b in zip(
        atoms["auth_asym_id"], atoms["auth_seq_id"], atoms["pdbx_PDB_ins_code"],
        atoms["B_iso_or_equiv"], strict=True,
    ):  # fmt: skip
        expected = table[(chain, num + ("" if icode in "?." else icode))]["resmap"]
        assert b == (expected or "?")
    attributes = parse_defattr(written["defattr"])
    assert set(attributes) == {"resmap", "wfsc_05"}
    for label, values in attributes.items():
        with_value = {k: float(r[label]) for k, r in table.items() if r[label]}
        assert values == with_value


def test_every_other_mmcif_field_is_kept(written) -> None:
    before = gemmi.cif.read(str(MODEL)).sole_block()
    after = gemmi.cif.read(str(written["cif"])).sole_block()
    added = {"_resmap_atom_local_resolution.", "_resmap_local_resolution."}
    assert set(after.get_mmcif_category_names()) == set(before.get_mmcif_category_names()) | added
    for name in before.get_mmcif_category_names():
        old = before.get_mmcif_category(name, raw=True)
        new = after.get_mmcif_category(name, raw=True)
        if name == "_atom_site.":
            assert new.pop("B_iso_or_equiv") != old.pop("B_iso_or_equiv")
        assert new == old, name


def test_per_atom_values_and_the_json_record_match(written) -> None:
    model = read_model(MODEL)
    measures, mask = read_measures(
        [f"resmap={written['a']}", f"wfsc_05={written['b']}"], str(written["mask"])
    )
    values = sample_model(model, measures, mask, 3.0)
    block = gemmi.cif.read(str(written["cif"])).sole_block()
    per_atom = block.get_mmcif_category("_resmap_atom_local_resolution.", raw=True)
    for k, label in enumerate(("resmap", "wfsc_05")):
        text = np.array(per_atom[label])
        expected = values.atom_values[k]
        assert np.array_equal(text == "?", np.isnan(expected))
        np.testing.assert_allclose(text[text != "?"].astype(float), expected[text != "?"],
                                   atol=5e-4)  # fmt: skip
    assert set(per_atom["status"]) == {"inside", "outside_mask"}
    record = AtomsRecord.from_json(json.loads(written["json"].read_text()))
    table = csv_values(written["csv"])
    assert record.labels == ("resmap", "wfsc_05") and record.radius_A == 3.0
    assert record.atoms["total"] == 4579 and record.atoms["outside_mask"] > 0
    for row in record.residues:
        csv_row = table[(row.chain, f"{row.number}{row.icode}")]
        assert int(csv_row["atom_count"]) == row.atoms
        for label in record.labels:
            assert (row.values[label] is None) == (csv_row[label] == "")
            if row.values[label] is not None:
                assert f"{row.values[label]:.3f}" == csv_row[label]


def test_chimerax_script_opens_the_outputs_with_the_report_palette(written) -> None:
    script = written["cxc"].read_text()
    assert 'open "model_locres.cif" format mmcif' in script
    assert 'open "model_locres.defattr" format defattr' in script
    command = next(line for line in script.splitlines() if line.startswith("color byattribute"))
    assert command.startswith("color byattribute r:resmap palette ")
    colours = [stop.split(",")[1] for stop in command.split()[4].split(":")]
    assert colours == [c for _, c in palette_stops(0.0, 1.0)]
    assert "# color byattribute r:wfsc_05 " in script


def test_outputs_are_byte_identical_between_runs(written, tmp_path: Path) -> None:
    assert run_atoms(written, tmp_path / "model_locres.cif") == 0
    for suffix in ("cif", "csv", "defattr", "cxc"):
        again = (tmp_path / f"model_locres.{suffix}").read_bytes()
        assert again == written[suffix].read_bytes(), suffix


def test_gzipped_plain_pdb_and_mmcif_models_give_the_same_numbers(written, tmp_path) -> None:
    cif = tmp_path / "m.cif"
    cif.write_bytes(gzip.decompress(MODEL.read_bytes()))
    pdb = tmp_path / "m.pdb"
    gemmi.read_structure(str(MODEL)).write_pdb(str(pdb))
    with open(pdb, "rb") as src, gzip.open(tmp_path / "m.pdb.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    tables = {}
    for name, path in (("cif", cif), ("pdb", pdb), ("pdb.gz", tmp_path / "m.pdb.gz")):
        assert run_atoms(written, tmp_path / name.replace(".", "_") / "o.cif", path) == 0
        tables[name] = (tmp_path / name.replace(".", "_") / "o.csv").read_text()
    assert tables["cif"] == written["csv"].read_text()  # plain and gzipped mmCIF
    assert tables["pdb"] == tables["pdb.gz"]
    rows = {name: sorted(text.splitlines()) for name, text in tables.items()}
    assert rows["pdb"] == rows["cif"]  # same residues, same numbers (PDB orders them by chain)


def test_insertion_codes_reach_every_file(written, tmp_path: Path) -> None:
    """Residue A 10 becomes A 10B: the CSV, the attribute file and the mmCIF name it so."""
    document = gemmi.cif.read(str(MODEL))
    block = document.sole_block()
    table = block.get_mmcif_category("_atom_site", raw=True)
    for i, (chain, num) in enumerate(zip(table["auth_asym_id"], table["auth_seq_id"], strict=True)):
        if chain == "A" and num == "10":
            table["pdbx_PDB_ins_code"][i] = "B"
    block.set_mmcif_category("_atom_site", table, raw=True)
    model = tmp_path / "icode.cif"
    document.write_file(str(model))
    assert run_atoms(written, tmp_path / "o.cif", model) == 0
    rows = csv_values(tmp_path / "o.csv")
    assert ("A", "10B") in rows and ("A", "10") not in rows
    assert rows[("A", "10B")]["insertion_code"] == "B"
    assert "\t/A:10B\t" in (tmp_path / "o.defattr").read_text()
    assert parse_defattr(tmp_path / "o.defattr")["resmap"][("A", "10B")] == float(
        rows[("A", "10B")]["resmap"]
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["a={A}", "a={B}", "{MODEL}"], "the label 'a' names two maps"),
        (["1x={A}", "{MODEL}"], "'1x' is not a valid label"),
        (["{A}", "{SMALL}", "{MODEL}"], "not on the grid of"),
        (["{A}", "{A}"], "not a model file name"),
    ],
)
def test_bad_arguments_stop_with_one_line(written, tmp_path, capsys, argv, message) -> None:
    small = tmp_path / "small.mrc"
    write_map(small, np.ones((10, 10, 10), np.float32), MapGeometry((10, 10, 10), (1.05,) * 3))
    names = {"A": written["a"], "B": written["b"], "MODEL": MODEL, "SMALL": small}
    args = [a.format(**names) for a in argv]
    code = main(["atoms", *args, "--out", str(tmp_path / "o.cif")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "o.cif").exists()


# ---- summaries -------------------------------------------------------------------------------


def test_chain_medians_and_correlations_cover_polymer_residues() -> None:
    chains = ("A",) * 6 + ("B",) * 3
    polymer = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0], bool)  # A: 5 residues + a ligand
    values = np.array([3.0, 2.0, 4.0, np.nan, 5.0, 99.0, 6.0, 7.0, 8.0])
    assert chain_medians(chains, polymer, values) == {"A": 3.5, "B": 7.0}
    b = np.array([10.0, 5.0, 20.0, 1.0, 30.0, 0.0, 1.0, 2.0, 3.0])
    corr = spearman_by_chain(chains, polymer, b, values)
    assert corr["B"] is None  # fewer than 5 residues with both
    values[3] = 1.0
    corr = spearman_by_chain(chains, polymer, b, values)["A"]
    assert corr.rho == pytest.approx(1.0) and corr.n == 5


# ---- the closing check: EMD-3488 + 5NI1 with surrogate half maps ------------------------------


@pytest.mark.slow
def test_emd_3488_with_surrogate_half_maps_gives_every_residue_a_value(tmp_path: Path) -> None:
    """SURROGATE half maps: the deposited EMD-3488 map plus independent noise per half.

    The mask is the deposition's own (its non-zero voxels: EMD-3488's solvent is flattened to
    exactly 0). A short run: wavelengths up to 8 Å, windowed-FSC boxes every 4 voxels.
    """
    source = read_map(DATA / "emd_3488" / "emd_3488.mrc.gz")
    density = source.data.astype(np.float64)
    halves = half_maps(density, density[density > 0].std(), seed=21)
    for i, half in enumerate(halves, start=1):
        write_map(tmp_path / f"surrogate_half{i}.mrc", half, source.geometry, "SURROGATE")
    mask = str(tmp_path / "mask.mrc")
    write_map(mask, (density != 0).astype(np.float32), source.geometry)
    h1, h2 = (str(tmp_path / f"surrogate_half{i}.mrc") for i in (1, 2))
    local = ["local", h1, h2, "--mask", mask, "--max-res", "8", "--quiet"]
    assert main([*local, "--out", str(tmp_path / "local.mrc")]) == 0
    wfsc = ["wfsc", h1, h2, "--mask", mask, "--step", "4", "--quiet"]
    assert main([*wfsc, "--out", str(tmp_path / "wfsc.mrc")]) == 0
    maps = [f"resmap={tmp_path / 'local.mrc'}", f"wfsc_05={tmp_path / 'wfsc.mrc'}",
            f"wfsc_0143={tmp_path / 'wfsc_0143.mrc'}"]  # fmt: skip
    out = tmp_path / "atoms" / "5ni1_locres.cif"
    assert main(["atoms", *maps, str(MODEL), "--mask", mask, "--out", str(out), "--quiet"]) == 0
    record = AtomsRecord.from_json(json.loads(out.with_suffix(".json").read_text()))
    assert len(record.residues) == 602
    assert all(v is not None for r in record.residues for v in r.values.values())
    for chain, row in record.chains.items():
        for label, median in row["median_A"].items():
            assert 2.4 <= median <= 3.8, (chain, label, median)  # published: 3.2 Å
    chains = tuple(r.chain for r in record.residues)
    polymer = np.array([r.polymer for r in record.residues])
    b = np.array([r.b_mean for r in record.residues])
    resmap = np.array([r.values["resmap"] for r in record.residues])
    for chain, corr in spearman_by_chain(chains, polymer, b, resmap).items():
        assert corr is not None and corr.rho > 0.5, (chain, corr)
