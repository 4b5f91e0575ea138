"""Shared helpers for the EMDB and workflow tests: a loopback HTTP server serving the EMDB
archive layout, synthetic entries, and running Snakemake on a copy of the workflow."""

from __future__ import annotations

import gzip
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from resmap_core.io.mrc import MapGeometry, write_map

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo"

#: Three wavelengths and no windowed FSC: the smallest run that still exercises every stage.
REDUCED = {
    "min_res": 4.0,
    "max_res": 8.0,
    "step_res": 2.0,
    "windowed_fsc": {"enabled": False},
}
#: ``resmap local`` options giving the map of a :data:`REDUCED` run.
REDUCED_OPTIONS = ["--min-res", "4", "--max-res", "8", "--step-res", "2"]


# ---- loopback EMDB mirror --------------------------------------------------------------------


class Route:
    """What the server answers for one path.

    ``body`` is served with a correct Content-Length. ``fail`` lists HTTP statuses to answer
    first, one per request, before the body. ``stall_s`` sleeps before answering (each time).
    ``cut_first`` answers the first ``cut_first`` requests with a body cut in half while still
    announcing the full length.
    """

    def __init__(
        self, body: bytes, fail: list[int] | None = None, stall_s: float = 0.0, cut_first: int = 0
    ) -> None:
        self.body = body
        self.fail = list(fail or [])
        self.stall_s = stall_s
        self.cut_first = cut_first


class MirrorServer:
    """A threaded HTTP server on 127.0.0.1 serving ``routes`` (path → Route), counting hits."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server.hits[self.path] += 1
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                if route.stall_s:
                    time.sleep(route.stall_s)
                if route.fail:
                    self.send_error(route.fail.pop(0))
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                if route.cut_first > 0:
                    route.cut_first -= 1
                    self.wfile.write(route.body[: len(route.body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(route.body)

            def log_message(self, *args: object) -> None:
                pass

        class QuietServer(http.server.ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients that time out or hang up are part of the tests

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/emdb"

    def __enter__(self) -> MirrorServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def map_bytes(tmp: Path, data: np.ndarray, voxel_A: float) -> bytes:
    """A gzipped float32 MRC file's bytes for ``data[z, y, x]``."""
    path = tmp / f"tmp_{os.getpid()}_{id(data)}.mrc.gz"
    write_map(path, data, MapGeometry(shape=data.shape, voxel_size_A=(voxel_A,) * 3))
    blob = path.read_bytes()
    path.unlink()
    return blob


def header_xml(
    number: str,
    title: str,
    voxel_A: float,
    resolution_A: float,
    half_maps: bool,
    fsc: bool = True,
    mask: bool = False,
) -> bytes:
    """A minimal EMDB v3.0 header with the elements resmap_core reads."""
    halves = (
        "<half_map_list>"
        + "".join(
            f'<half_map format="CCP4"><file>emd_{number}_half_map_{i}.map.gz</file></half_map>'
            for i in (1, 2)
        )
        + "</half_map_list>"
        if half_maps
        else ""
    )
    seg = (
        f"<segmentation_list><segmentation><file>emd_{number}_msk_1.map</file>"
        "</segmentation></segmentation_list>"
        if mask
        else ""
    )
    fsc_xml = f"<validation><fsc_curve><file>emd_{number}_fsc.xml</file></fsc_curve></validation>"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><emd emdb_id="EMD-{number}" version="3.0.2.1">'
        f"<admin><title>{title}</title></admin>"
        f'<map format="CCP4"><file>emd_{number}.map.gz</file>'
        f'<pixel_spacing><x units="Å">{voxel_A}</x><y units="Å">{voxel_A}</y>'
        f'<z units="Å">{voxel_A}</z></pixel_spacing></map>'
        f"<interpretation>{seg}{halves}</interpretation>"
        "<structure_determination_list><structure_determination><singleparticle_processing>"
        f'<final_reconstruction><resolution res_type="BY AUTHOR" units="Å">{resolution_A}'
        "</resolution></final_reconstruction></singleparticle_processing>"
        "</structure_determination></structure_determination_list>"
        f"{fsc_xml if fsc else ''}</emd>"
    ).encode()


def add_entry(
    server: MirrorServer,
    number: str,
    files: dict[str, bytes],
    header: bytes,
    fsc: bytes | None = b"<fsc/>",
) -> None:
    """Publish an entry: ``files`` maps half1/half2/map/mask to file bytes."""
    root = f"/emdb/structures/EMD-{number}"
    server.routes[f"{root}/header/emd-{number}-v30.xml"] = Route(header)
    names = {
        "half1": f"other/emd_{number}_half_map_1.map.gz",
        "half2": f"other/emd_{number}_half_map_2.map.gz",
        "map": f"map/emd_{number}.map.gz",
        "mask": f"masks/emd_{number}_msk_1.map",
    }
    for key, blob in files.items():
        server.routes[f"{root}/{names[key]}"] = Route(blob)
    if fsc is not None:
        server.routes[f"{root}/fsc/emd_{number}_fsc.xml"] = Route(fsc)


def truncated_gzip(blob: bytes) -> bytes:
    """A gzip stream cut short (valid header, missing tail)."""
    assert gzip.decompress(blob)  # the original is valid
    return blob[: len(blob) * 2 // 3]


# ---- running the workflow --------------------------------------------------------------------


def copy_workflow(dest: Path, with_demo: bool = True) -> Path:
    """Copy Snakefile, workflow/, config/ (and demo/) into ``dest``; return ``dest``."""
    shutil.copy2(REPO / "Snakefile", dest / "Snakefile")
    for folder in ["workflow", "config", "profiles"] + (["demo"] if with_demo else []):
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def write_config(workdir: Path, overrides: dict) -> Path:
    """config/config.yaml of the copy with top-level keys replaced by ``overrides``."""
    path = workdir / "config" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg.update(overrides)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def snakemake_cmd(*args: str, cores: int = 2, profile: str = "none") -> list[str]:
    """``python -m snakemake`` with this interpreter, a core budget and no workflow profile."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        str(cores),
        "--workflow-profile",
        profile,
        *args,
    ]


def run_snakemake(
    workdir: Path,
    *args: str,
    cores: int = 2,
    profile: str = "none",
    timeout: float = 600,
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    """Run Snakemake in ``workdir`` (stderr merged into stdout, as text)."""
    return subprocess.run(
        snakemake_cmd(*args, cores=cores, profile=profile),
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def pass_files(workdir: Path, dataset: str) -> list[Path]:
    """The per-wavelength statistic files written so far."""
    return sorted((workdir / "results" / dataset / "passes").glob("lambda_*A.npz"))


def resmap_local_demo(out: Path, *options: str) -> subprocess.CompletedProcess:
    """``resmap local`` on the demo's half maps and mask, writing ``out`` (quiet)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "resmap_core",
            "local",
            str(DEMO / "demo_half_map_1.mrc.gz"),
            str(DEMO / "demo_half_map_2.mrc.gz"),
            "--mask",
            str(DEMO / "demo_mask.mrc.gz"),
            "--out",
            str(out),
            "--quiet",
            *options,
        ],
        capture_output=True,
        text=True,
    )
