"""EMDB download against a real loopback HTTP server serving the archive layout."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _workflow_helpers import (
    MirrorServer,
    Route,
    add_entry,
    header_xml,
    map_bytes,
    truncated_gzip,
)

from resmap_core.errors import InputError
from resmap_core.io.emdb import (
    DownloadPolicy,
    download,
    fetch_entry,
    normalise_accession,
    parse_header,
)
from resmap_core.io.mrc import read_map, sha256_file

FAST = DownloadPolicy(timeout_s=5.0, retries=3, backoff_s=0.01)


@pytest.fixture(scope="module")
def maps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Three small gzipped MRC maps (12×10×8 voxels, 1.5 Å), seeded."""
    tmp = tmp_path_factory.mktemp("maps")
    rng = np.random.default_rng(11638)
    return {
        key: map_bytes(tmp, rng.normal(size=(8, 10, 12)).astype(np.float32), 1.5)
        for key in ("half1", "half2", "map")
    }


@pytest.fixture()
def server() -> MirrorServer:
    with MirrorServer() as srv:
        yield srv


def publish_normal(server: MirrorServer, maps: dict[str, bytes], number: str = "11638") -> None:
    header = header_xml(number, "Test entry", 1.5, 3.1, half_maps=True)
    add_entry(server, number, maps, header)


def test_accessions_are_normalised_and_junk_is_refused() -> None:
    assert normalise_accession("emd_11638") == ("EMD-11638", "11638")
    assert normalise_accession(" 3488 ") == ("EMD-3488", "3488")
    with pytest.raises(InputError, match="not an EMDB accession"):
        normalise_accession("EMD-12x")


def test_header_gives_title_voxel_size_resolution_and_files() -> None:
    header = parse_header(header_xml("10418", "A title", 0.83, 2.7, True, mask=True), "EMD-10418")
    assert header.title == "A title"
    assert header.voxel_size_A == (0.83, 0.83, 0.83)
    assert header.author_resolution_A == 2.7
    assert header.map_file == "emd_10418.map.gz"
    assert header.half_map_files == ["emd_10418_half_map_1.map.gz", "emd_10418_half_map_2.map.gz"]
    assert header.mask_files == ["emd_10418_msk_1.map"]
    assert header.fsc_file == "emd_10418_fsc.xml"


def test_normal_entry_is_fetched_with_half_maps_hashes_and_metadata(
    server: MirrorServer, maps: dict[str, bytes], tmp_path: Path
) -> None:
    publish_normal(server, maps)
    entry = fetch_entry("EMD-11638", tmp_path, server.base_url, FAST)
    assert entry["mode"] == "split"
    assert entry["title"] == "Test entry"
    assert entry["author_resolution_A"] == 3.1
    assert entry["voxel_size_A"] == [1.5, 1.5, 1.5]
    for key in ("half1", "half2", "map"):
        path = Path(entry["files"][key]["path"])
        assert path.read_bytes() == maps[key]
        assert entry["files"][key]["sha256"] == sha256_file(path)
        assert (path.parent / (path.name + ".sha256")).read_text().split()[0] == sha256_file(path)
    assert read_map(entry["files"]["half1"]["path"]).data.shape == (8, 10, 12)
    assert Path(entry["deposited_fsc"]).read_bytes() == b"<fsc/>"
    assert "mask" not in entry["files"]


def test_second_fetch_downloads_nothing(
    server: MirrorServer, maps: dict[str, bytes], tmp_path: Path
) -> None:
    publish_normal(server, maps)
    fetch_entry("EMD-11638", tmp_path, server.base_url, FAST)
    before = dict(server.hits)
    again = fetch_entry("EMD-11638", tmp_path, server.base_url, FAST)
    assert dict(server.hits) == before
    assert again["mode"] == "split"


def test_damaged_local_copy_is_downloaded_again(
    server: MirrorServer, maps: dict[str, bytes], tmp_path: Path
) -> None:
    publish_normal(server, maps)
    entry = fetch_entry("EMD-11638", tmp_path, server.base_url, FAST)
    half1 = Path(entry["files"]["half1"]["path"])
    half1.write_bytes(b"garbage")
    fetch_entry("EMD-11638", tmp_path, server.base_url, FAST)
    assert half1.read_bytes() == maps["half1"]
    assert server.hits["/emdb/structures/EMD-11638/other/emd_11638_half_map_1.map.gz"] == 2


def test_entry_without_half_maps_stops_unless_single_map_is_allowed(
    server: MirrorServer, maps: dict[str, bytes], tmp_path: Path
) -> None:
    header = header_xml("5168", "No halves", 1.5, 6.6, half_maps=False)
    add_entry(server, "5168", {"map": maps["map"]}, header, fsc=None)
    with pytest.raises(InputError, match="no deposited half maps.*allow_single_map"):
        fetch_entry("EMD-5168", tmp_path, server.base_url, FAST)
    entry = fetch_entry("EMD-5168", tmp_path, server.base_url, FAST, allow_single_map=True)
    assert entry["mode"] == "single"
    assert set(entry["files"]) == {"map"}
    assert entry["deposited_fsc"] is None


def test_missing_entry_404_is_reported_once_without_retries(
    server: MirrorServer, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="EMD-99999: no such entry"):
        fetch_entry("EMD-99999", tmp_path, server.base_url, FAST)
    assert server.hits["/emdb/structures/EMD-99999/header/emd-99999-v30.xml"] == 1
    assert list(tmp_path.iterdir()) == []


def test_server_error_then_success_is_retried_with_exponential_backoff(
    server: MirrorServer, tmp_path: Path
) -> None:
    server.routes["/f.txt"] = Route(b"payload", fail=[500, 503])
    waits: list[float] = []
    policy = DownloadPolicy(timeout_s=5.0, retries=3, backoff_s=0.5)
    url = server.base_url.replace("/emdb", "/f.txt")
    sha = download(url, tmp_path / "f.txt", policy, sleep=waits.append)
    assert (tmp_path / "f.txt").read_bytes() == b"payload"
    assert waits == [0.5, 1.0]
    assert server.hits["/f.txt"] == 3
    assert sha == sha256_file(tmp_path / "f.txt")


def test_persistent_server_error_gives_up_after_the_retries(
    server: MirrorServer, tmp_path: Path
) -> None:
    server.routes["/f.txt"] = Route(b"payload", fail=[500] * 10)
    url = server.base_url.replace("/emdb", "/f.txt")
    with pytest.raises(InputError, match="download failed after 3 attempts.*HTTP 500"):
        download(url, tmp_path / "f.txt", DownloadPolicy(5.0, 2, 0.0))
    assert server.hits["/f.txt"] == 3
    assert list(tmp_path.iterdir()) == []


def test_truncated_gzip_is_rejected_and_leaves_no_file(
    server: MirrorServer, maps: dict[str, bytes], tmp_path: Path
) -> None:
    publish_normal(server, maps)
    bad = truncated_gzip(maps["half1"])
    server.routes["/emdb/structures/EMD-11638/other/emd_11638_half_map_1.map.gz"] = Route(bad)
    with pytest.raises(InputError, match="corrupt or truncated gzip"):
        fetch_entry("EMD-11638", tmp_path, server.base_url, FAST)
    assert not (tmp_path / "emd_11638_half_map_1.map.gz").exists()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_body_cut_short_is_retried_until_complete(
    server: MirrorServer, maps: dict[str, bytes], tmp_path: Path
) -> None:
    server.routes["/h.map.gz"] = Route(maps["half2"], cut_first=2)
    url = server.base_url.replace("/emdb", "/h.map.gz")
    download(url, tmp_path / "h.map.gz", FAST)
    assert gzip.decompress((tmp_path / "h.map.gz").read_bytes())
    assert (tmp_path / "h.map.gz").read_bytes() == maps["half2"]
    assert server.hits["/h.map.gz"] == 3


def test_stalled_server_times_out_and_fails_cleanly(server: MirrorServer, tmp_path: Path) -> None:
    server.routes["/slow"] = Route(b"late", stall_s=3.0)
    url = server.base_url.replace("/emdb", "/slow")
    start = time.monotonic()
    with pytest.raises(InputError, match="download failed after 2 attempts.*timed out"):
        download(url, tmp_path / "slow.txt", DownloadPolicy(timeout_s=0.3, retries=1, backoff_s=0))
    assert time.monotonic() - start < 2.5
    assert list(tmp_path.iterdir()) == []


def test_deposited_mask_is_fetched_on_request(
    server: MirrorServer, maps: dict[str, bytes], tmp_path: Path
) -> None:
    header = header_xml("10418", "Masked", 1.5, 2.7, half_maps=True, mask=True)
    mask = gzip.decompress(maps["map"])
    add_entry(server, "10418", {**maps, "mask": mask}, header)
    entry = fetch_entry("EMD-10418", tmp_path, server.base_url, FAST, use_deposited_mask=True)
    assert Path(entry["files"]["mask"]["path"]).read_bytes() == mask


def test_fetch_command_writes_meta_and_reports_404_in_one_line(
    server: MirrorServer, maps: dict[str, bytes], tmp_path: Path
) -> None:
    publish_normal(server, maps)
    base = [
        sys.executable,
        "-m",
        "resmap_core",
        "fetch",
        "--base-url",
        server.base_url,
        "--backoff",
        "0",
        "--quiet",
    ]
    ok = subprocess.run(
        [
            *base,
            "EMD-11638",
            "--dataset",
            "d1",
            "--out-dir",
            str(tmp_path / "d1"),
            "--meta",
            str(tmp_path / "d1" / "meta.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    meta = json.loads((tmp_path / "d1" / "meta.json").read_text())
    assert meta["dataset"] == "d1" and meta["source"] == "emdb" and meta["mode"] == "split"
    assert meta["shape_zyx"] == [8, 10, 12]
    assert meta["author_resolution_A"] == 3.1
    bad = subprocess.run(
        [
            *base,
            "EMD-4040",
            "--out-dir",
            str(tmp_path / "x"),
            "--meta",
            str(tmp_path / "x" / "meta.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0
    assert "EMD-4040: no such entry" in bad.stderr


def test_file_url_mirror_works_and_missing_files_are_not_retried(
    maps: dict[str, bytes], tmp_path: Path
) -> None:
    mirror = tmp_path / "mirror" / "structures" / "EMD-10418"
    for folder, name, blob in [
        ("header", "emd-10418-v30.xml", header_xml("10418", "Local", 1.5, 2.7, half_maps=True)),
        ("other", "emd_10418_half_map_1.map.gz", maps["half1"]),
        ("other", "emd_10418_half_map_2.map.gz", maps["half2"]),
        ("map", "emd_10418.map.gz", maps["map"]),
    ]:
        (mirror / folder).mkdir(parents=True, exist_ok=True)
        (mirror / folder / name).write_bytes(blob)
    waits: list[float] = []
    entry = fetch_entry(
        "EMD-10418", tmp_path / "out", (tmp_path / "mirror").as_uri(), FAST, sleep=waits.append
    )
    assert entry["mode"] == "split" and entry["deposited_fsc"] is None
    assert waits == []
