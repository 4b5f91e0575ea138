"""Atomic models read with gemmi (mmCIF, PDB, gzipped or not) and placed on a map's grid.

The frame tests store one map (a linear field of position, anisotropic voxels) with different
headers: ORIGIN or start indices, and permuted axis orders. Trilinear interpolation reproduces a
linear field exactly, so every atom must read the field's value at its own position, whatever
the header, and every header must give the same per-atom and per-residue values.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import gemmi
import numpy as np
import pytest
from _mrc_helpers import to_file_order, write_raw_mrc

from resmap_core.atoms.analysis import sample_model
from resmap_core.atoms.measures import read_measures
from resmap_core.errors import InputError
from resmap_core.io.model import grid_origin_A, map_indices, read_model
from resmap_core.io.mrc import MapGeometry, read_map

DATA = Path(__file__).resolve().parent / "data"
MODEL = DATA / "emd_3488" / "5ni1_updated.cif.gz"  # 4579 atoms, chains A-D, in EMD-3488's frame

#: Anisotropic voxel (x, y, z) in Å and where voxel (0, 0, 0) sits, as start indices.
VOXEL = (1.1, 1.3, 0.9)
START = (9, 10, 17)  # → first voxel at (9.9, 13.0, 15.3) Å, below every atom of 5NI1
SHAPE_ZYX = (90, 62, 76)  # covers up to (92.4, 92.3, 95.4) Å
#: The field: value = A0 + GRAD · (x, y, z), in Å so that values look like resolutions.
A0, GRAD = 2.0, np.array([0.011, -0.007, 0.019])


def linear_field() -> np.ndarray:
    """The field at the voxel centres, canonical [z, y, x], float32."""
    axes = [
        (np.arange(n) + s) * v
        for n, s, v in zip(SHAPE_ZYX[::-1], START, VOXEL, strict=True)  # x, y, z
    ]
    x, y, z = axes
    field = (
        A0 + GRAD[0] * x[None, None, :] + GRAD[1] * y[None, :, None] + GRAD[2] * z[:, None, None]
    )
    return field.astype(np.float32)


def write_variant(path: Path, axes: tuple[int, int, int], use_origin: bool) -> Path:
    """The field stored with MAPC/MAPR/MAPS ``axes`` and either ORIGIN or start indices."""
    file_array = to_file_order(linear_field(), axes)
    if use_origin:
        origin = tuple(float(np.float32(s * v)) for s, v in zip(START, VOXEL, strict=True))
        starts = (0, 0, 0)
    else:
        origin = (0.0, 0.0, 0.0)
        starts = tuple(START[a - 1] for a in axes)  # NXSTART… are per file axis
    write_raw_mrc(path, file_array, axes=axes, voxel=VOXEL, starts=starts, origin=origin)
    return path


VARIANTS = [
    ((1, 2, 3), False),
    ((1, 2, 3), True),
    ((3, 1, 2), False),
    ((2, 3, 1), True),
    ((3, 2, 1), False),
]


@pytest.fixture(scope="module")
def model():
    return read_model(MODEL)


def test_the_5ni1_model_reads_with_its_chains_residues_and_b_factors(model) -> None:
    assert model.format == "mmcif" and model.atom_count == 4579
    res = model.residues
    assert sorted(set(res.chain)) == ["A", "B", "C", "D"]
    assert len(res) == 602
    polymer = [n for n, p in zip(res.name, res.polymer, strict=True) if p]
    assert len(polymer) == 141 + 146 + 141 + 146  # haemoglobin α and β chains
    assert {n for n, p in zip(res.name, res.polymer, strict=True) if not p} == {"HEM", "HOH"}
    assert res.chain[0] == "A" and res.number[0] == 1 and res.name[0] == "VAL"
    assert model.heavy.all()  # no hydrogens in 5NI1
    assert model.has_b_factors()
    # every atom belongs to a residue of its own chain and name
    table = model.document.sole_block().get_mmcif_category("_atom_site", raw=True)
    assert [res.name[i] for i in model.residue[:3]] == table["auth_comp_id"][:3]


@pytest.mark.parametrize(("axes", "use_origin"), VARIANTS)
def test_every_header_places_the_atoms_where_the_field_says(
    tmp_path: Path, model, axes, use_origin
) -> None:
    path = write_variant(tmp_path / "field.mrc", axes, use_origin)
    geometry = read_map(path).geometry
    np.testing.assert_allclose(
        grid_origin_A(geometry), np.array(START) * np.array(VOXEL), rtol=1e-6
    )
    measures, mask = read_measures([f"field={path}"], None)
    values = sample_model(model, measures, mask, radius_A=3.0)
    expected = A0 + model.xyz_A @ GRAD
    np.testing.assert_allclose(values.atom_values[0], expected, atol=2e-5)


def test_all_headers_give_identical_per_atom_and_per_residue_values(tmp_path: Path, model) -> None:
    results = []
    for k, (axes, use_origin) in enumerate(VARIANTS):
        path = write_variant(tmp_path / f"v{k}.mrc", axes, use_origin)
        measures, mask = read_measures([str(path)], None)
        results.append(sample_model(model, measures, mask, radius_A=3.0))
    first = results[0]
    assert np.isfinite(first.residue_values).all()
    for other in results[1:]:
        np.testing.assert_allclose(other.atom_values, first.atom_values, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(other.residue_voxels, first.residue_voxels)
        np.testing.assert_allclose(other.residue_values, first.residue_values, rtol=0, atol=1e-6)


def test_map_indices_follow_origin_precedence_over_start() -> None:
    """ORIGIN, when non-zero, places voxel 0 (as ChimeraX does); start indices otherwise."""
    both = MapGeometry((4, 4, 4), (2.0, 2.0, 2.0), origin_A=(10.0, 0.0, 0.0), start_vox=(3, 3, 3))
    start_only = MapGeometry((4, 4, 4), (2.0, 2.0, 2.0), start_vox=(3, 3, 3))
    point = np.array([[12.0, 8.0, 6.0]])  # x, y, z
    np.testing.assert_allclose(map_indices(both, point), [[3.0, 4.0, 1.0]])  # z, y, x
    np.testing.assert_allclose(map_indices(start_only, point), [[0.0, 1.0, 3.0]])


def _plain_copies(tmp_path: Path) -> dict[str, Path]:
    """5NI1 as plain and gzipped mmCIF and PDB (PDB written by gemmi)."""
    cif = tmp_path / "5ni1.cif"
    cif.write_bytes(gzip.decompress(MODEL.read_bytes()))
    pdb = tmp_path / "5ni1.pdb"
    gemmi.read_structure(str(MODEL)).write_pdb(str(pdb))
    pdb_gz = tmp_path / "5ni1.pdb.gz"
    with open(pdb, "rb") as src, gzip.open(pdb_gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return {"cif": cif, "cif.gz": MODEL, "pdb": pdb, "pdb.gz": pdb_gz}


def _by_residue(m) -> dict[tuple, np.ndarray]:
    """Coordinates and B-factors of each residue, keyed by (chain, number, icode, name)."""
    res = m.residues
    out = {}
    for i in range(len(res)):
        rows = m.residue == i
        key = (res.chain[i], int(res.number[i]), res.icode[i], res.name[i])
        out[key] = np.hstack([m.xyz_A[rows], m.b_iso[rows, None]])
    return out


def test_plain_and_gzipped_mmcif_and_pdb_read_the_same_model(tmp_path: Path) -> None:
    files = _plain_copies(tmp_path)
    models = {k: read_model(p) for k, p in files.items()}
    assert models["pdb.gz"].format == "pdb" and models["cif"].format == "mmcif"
    for plain, packed in (("cif", "cif.gz"), ("pdb", "pdb.gz")):
        np.testing.assert_array_equal(models[plain].xyz_A, models[packed].xyz_A)
        np.testing.assert_array_equal(models[plain].residue, models[packed].residue)
    cif, pdb = _by_residue(models["cif"]), _by_residue(models["pdb"])
    assert set(cif) == set(pdb) and len(cif) == 602
    for key, rows in cif.items():
        np.testing.assert_allclose(pdb[key], rows, atol=1e-3)  # PDB: 3 decimals, B 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("none.cif", None, "no such file"),
        ("model.xyz", b"x", "not a model file name"),
        ("bad.cif", b"data_x\n_cell.length_a 'unclosed\n", "not a readable mmcif model"),
        ("empty.cif", b"data_x\n_cell.length_a 10\n", "holds no atoms"),
        ("bad.cif.gz", b"\x1f\x8b\x08\x00trunc", "not a readable mmcif model"),
    ],
)
def test_bad_model_files_are_refused_with_one_line(tmp_path: Path, name, content, message) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        read_model(path)
    assert "\n" not in str(info.value)


def test_a_file_with_two_models_is_refused(tmp_path: Path) -> None:
    st = gemmi.read_structure(str(MODEL))
    st.add_model(st[0])
    st.renumber_models()
    path = tmp_path / "two.cif"
    st.make_mmcif_document().write_file(str(path))
    with pytest.raises(InputError, match="holds 2 models"):
        read_model(path)
