"""Fetching the fitted model: a loopback HTTP server serving the PDB archive's divided layout
(normal, 404, truncated), a file:// mirror, the fitted PDB id from an EMDB header, and the
workflow's ``model: pdb:XXXX`` / ``model: fetch`` in one real Snakemake run against loopback
mirrors."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _workflow_helpers import (
    REDUCED,
    MirrorServer,
    Route,
    add_entry,
    copy_workflow,
    header_xml,
    map_bytes,
    run_snakemake,
    truncated_gzip,
    write_config,
)

from resmap_core.errors import InputError
from resmap_core.io.download import DownloadPolicy
from resmap_core.io.emdb import parse_header
from resmap_core.io.mrc import read_map, sha256_file
from resmap_core.io.pdb import fetch_model, fitted_model_id, model_url, normalise_pdb_id

DATA = Path(__file__).resolve().parent / "data"
MODEL = DATA / "emd_3488" / "5ni1_updated.cif.gz"
FAST = DownloadPolicy(timeout_s=5.0, retries=2, backoff_s=0.0)
PATH_5NI1 = "/pdb/mmCIF/ni/5ni1.cif.gz"


def with_fitted_models(header: bytes, *pdb_ids: str) -> bytes:
    """An EMDB header (tests/_workflow_helpers.header_xml) that lists fitted models."""
    refs = "".join(
        f"<pdb_reference><pdb_id>{i}</pdb_id><relationship><in_frame>FULLOVERLAP</in_frame>"
        "</relationship></pdb_reference>"
        for i in pdb_ids
    )
    crossrefs = f"<crossreferences><pdb_list>{refs}</pdb_list></crossreferences>"
    return header.replace(b"<map ", crossrefs.encode() + b"<map ", 1)


@pytest.fixture()
def server() -> MirrorServer:
    with MirrorServer() as srv:
        yield srv


def pdb_base(server: MirrorServer) -> str:
    return server.base_url.replace("/emdb", "/pdb")


def test_ids_and_urls_follow_the_divided_layout() -> None:
    assert normalise_pdb_id(" pdb:5NI1 ") == "5ni1"
    assert model_url("https://m/x/", "5NI1") == "https://m/x/mmCIF/ni/5ni1.cif.gz"
    with pytest.raises(InputError, match="is not a PDB id"):
        normalise_pdb_id("5ni")


def test_a_model_is_fetched_hashed_and_not_fetched_twice(server, tmp_path: Path) -> None:
    server.routes[PATH_5NI1] = Route(MODEL.read_bytes())
    dest = tmp_path / "model.cif.gz"
    record = fetch_model("5NI1", dest, pdb_base(server), FAST)
    assert dest.read_bytes() == MODEL.read_bytes()
    assert record == {
        "pdb_id": "5ni1",
        "url": pdb_base(server) + "/mmCIF/ni/5ni1.cif.gz",
        "path": str(dest),
        "sha256": sha256_file(dest),
    }
    assert (tmp_path / "model.cif.gz.sha256").read_text().split()[0] == record["sha256"]
    fetch_model("5ni1", dest, pdb_base(server), FAST)
    assert server.hits[PATH_5NI1] == 1


def test_a_missing_model_404_fails_at_once_naming_the_id(server, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"PDB 9XYZ: not found at .*pdb_base_url"):
        fetch_model("9xyz", tmp_path / "model.cif.gz", pdb_base(server), FAST)
    assert server.hits["/pdb/mmCIF/xy/9xyz.cif.gz"] == 1
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_model_is_retried_then_refused_and_leaves_nothing(server, tmp_path) -> None:
    server.routes[PATH_5NI1] = Route(truncated_gzip(MODEL.read_bytes()))
    with pytest.raises(InputError, match="after 3 attempts.*corrupt or truncated gzip"):
        fetch_model("5ni1", tmp_path / "model.cif.gz", pdb_base(server), FAST)
    assert server.hits[PATH_5NI1] == 3
    assert list(tmp_path.iterdir()) == []


def test_a_body_cut_short_once_is_fetched_again(server, tmp_path: Path) -> None:
    server.routes[PATH_5NI1] = Route(MODEL.read_bytes(), cut_first=1)
    fetch_model("5ni1", tmp_path / "model.cif.gz", pdb_base(server), FAST)
    assert gzip.decompress((tmp_path / "model.cif.gz").read_bytes()).startswith(b"data_5NI1")
    assert server.hits[PATH_5NI1] == 2


def test_the_emdb_header_names_the_fitted_model(tmp_path: Path) -> None:
    header = with_fitted_models(header_xml("3488", "Hb", 1.05, 3.2, False), "5NI1", "bad!", "1abc")
    assert parse_header(header, "EMD-3488").fitted_pdb_ids == ["5ni1", "1abc"]
    (tmp_path / "h.xml").write_bytes(header)
    assert fitted_model_id(tmp_path / "h.xml", "EMD-3488") == "5ni1"
    (tmp_path / "none.xml").write_bytes(header_xml("3488", "Hb", 1.05, 3.2, False))
    with pytest.raises(InputError, match="lists no fitted model"):
        fitted_model_id(tmp_path / "none.xml", "EMD-3488")


def file_mirror(root: Path) -> str:
    """A file:// PDB mirror holding 5NI1."""
    folder = root / "mmCIF" / "ni"
    folder.mkdir(parents=True)
    shutil.copy(MODEL, folder / "5ni1.cif.gz")
    return root.as_uri()


def test_a_file_mirror_works_and_a_missing_file_is_not_retried(tmp_path: Path) -> None:
    base = file_mirror(tmp_path / "pdb")
    fetch_model("5ni1", tmp_path / "m.cif.gz", base, FAST, sleep=pytest.fail)
    assert (tmp_path / "m.cif.gz").read_bytes() == MODEL.read_bytes()
    with pytest.raises(InputError, match="PDB 1ABC: not found"):
        fetch_model("1abc", tmp_path / "x.cif.gz", base, FAST, sleep=pytest.fail)


@pytest.mark.slow
def test_workflow_fetches_models_and_runs_atoms_and_locfilt(tmp_path: Path) -> None:
    """One Snakemake run against loopback mirrors: the demo (EMD-3488 binned, SIMULATED half
    maps) with model: pdb:5ni1 through atoms and locfilt, and an EMDB entry with model: fetch,
    whose header names 5NI1, through the model download."""
    work = tmp_path / "work"
    work.mkdir()
    copy_workflow(work)
    demo = {"half1": "demo/demo_half_map_1.mrc.gz", "half2": "demo/demo_half_map_2.mrc.gz",
            "mask": "demo/demo_mask.mrc.gz", "model": "pdb:5ni1"}  # fmt: skip
    small = np.random.default_rng(0).standard_normal((16, 16, 16)).astype(np.float32)
    hb = {"emdb": "EMD-3488", "model": "fetch", "allow_single_map": True}
    targets = [
        "results/demo/atoms/model_locres.json",
        "results/demo/locfilt.mrc",
        "resources/hb/model.cif.gz",  # only the model is fetched for this one
    ]
    with MirrorServer() as server:
        header = with_fitted_models(header_xml("3488", "Hb", 1.05, 3.2, False), "5ni1")
        add_entry(server, "3488", {"map": map_bytes(tmp_path, small, 1.05)}, header, fsc=None)
        server.routes[PATH_5NI1] = Route(MODEL.read_bytes())
        write_config(
            work,
            {**REDUCED, "windowed_fsc": {"enabled": True, "step": 4},
             "datasets": {"demo": demo, "hb": hb}, "emdb_base_url": server.base_url,
             "pdb_base_url": pdb_base(server), "download": {"backoff_s": 0.0}},
        )  # fmt: skip
        proc = run_snakemake(work, *targets)
        assert server.hits[PATH_5NI1] == 2  # one download per dataset
    assert proc.returncode == 0, proc.stdout[-4000:]
    for dataset in ("demo", "hb"):
        fetched = json.loads((work / f"resources/{dataset}/model.json").read_text())
        assert fetched["pdb_id"] == "5ni1" and fetched["sha256"] == sha256_file(MODEL)
    assert "fetching" in (work / "logs/hb/fetch_model.log").read_text()
    record = json.loads((work / targets[0]).read_text())
    assert [m["label"] for m in record["measures"]] == ["resmap", "wfsc_05", "wfsc_0143"]
    assert record["measures"][2]["path"].endswith("results/demo/wfsc_0143.mrc")
    rated = [r for r in record["residues"] if r["values"]["resmap"] is not None]
    assert len(rated) > 500 and record["atoms"]["total"] == 4579
    for suffix in ("cif", "csv", "defattr", "cxc"):
        assert (work / f"results/demo/atoms/model_locres.{suffix}").stat().st_size > 0
    filtered = read_map(work / targets[1])
    assert filtered.geometry == read_map(work / "results/demo/map.mrc").geometry
