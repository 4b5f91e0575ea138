"""Synthetic, deterministic report inputs (files as docs/outputs.md describes them), and a
headless Chromium driven over the DevTools protocol for the browser tests."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import numpy as np

from resmap_core.io.mrc import MapGeometry, write_map

SHAPE = (36, 40, 44)  # z, y, x: a non-cubic box
VOXEL = (1.2, 1.2, 1.2)  # x, y, z in Å


def fsc_model(f: np.ndarray, res_A: float, tail: float = 0.0) -> np.ndarray:
    """A smooth FSC falling through 0.5 near 1/res_A, with a constant ``tail`` far out."""
    core = 1.0 / (1.0 + np.exp((f - 1.0 / res_A) / 0.012))
    return np.maximum(core, tail) if tail else core


def _grids() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z, y, x = np.indices(SHAPE, dtype=np.float64)
    c = [(n - 1) / 2 for n in SHAPE]
    return z - c[0], y - c[1], x - c[2]


def make_density(seed: int = 0) -> np.ndarray:
    """A few Gaussian blobs near the centre plus weak white noise, float32 ``[z, y, x]``."""
    rng = np.random.default_rng(seed)
    z, y, x = _grids()
    vol = np.zeros(SHAPE)
    for cz, cy, cx, s in [(0, 0, 0, 4.0), (5, -4, 3, 2.5), (-4, 5, -5, 3.0), (2, 6, 6, 2.0)]:
        vol += np.exp(-((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s))
    vol += 0.02 * rng.standard_normal(SHAPE)
    return vol.astype(np.float32)


def make_mask(radius: float = 12.0) -> np.ndarray:
    """A spherical mask of ``radius`` voxels around the box centre."""
    z, y, x = _grids()
    return (z * z + y * y + x * x) <= radius * radius


def make_local(mask: np.ndarray, seed: int = 1) -> np.ndarray:
    """Local resolution rising from ~3 Å at the centre to ~8 Å at the mask edge; 100 outside
    the mask and at a few unresolved voxels."""
    rng = np.random.default_rng(seed)
    z, y, x = _grids()
    r = np.sqrt(z * z + y * y + x * x)
    lam = np.array([3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0])
    idx = np.clip(np.rint(r / 12.0 * (lam.size - 1)), 0, lam.size - 1).astype(int)
    local = lam[idx]
    local[rng.random(SHAPE) < 0.05] = 100.0
    local[~mask] = 100.0
    return local.astype(np.float32)


def make_band(local: np.ndarray, mask: np.ndarray, seed: int = 2) -> np.ndarray:
    """A band-energy map: ResMap's wavelengths one step finer where above 3 Å, a few more
    unresolved voxels (100 Å), 100 outside the mask."""
    rng = np.random.default_rng(seed)
    band = np.where(local > 3.0, local - np.float32(0.5), local).astype(np.float32)
    band[local == 100.0] = 100.0
    band[mask & (rng.random(SHAPE) < 0.04)] = 100.0
    return band


#: The band estimator's constants in the synthetic band-energy record (not the defaults).
BAND_CONSTANTS = {"name": "band", "band_width": 0.2, "band_window": 0.5}


def write_dataset(
    root: Path,
    *,
    title: str = "Synthetic test complex",
    with_fsc: bool = True,
    with_wfsc: bool = True,
    with_band: bool = False,
    with_deposited: bool = True,
    with_json: bool = True,
    fsc_tail: float = 0.0,
    fsc_bound: bool = False,
    legacy_fsc: bool = False,
) -> dict[str, Path]:
    """Write a dataset's inputs under ``root``; return the paths the CLI takes.

    ``fsc_bound``: the corrected FSC never falls below 0.143, so its 0.143 resolution is the
    bound "better than Nyquist" (2.4 Å). ``legacy_fsc``: FSC.json as written before bounds
    existed (bare numbers under ``resolutions``, no ``*_bound`` fields, no ``nyquist_A``).
    ``with_band``: a band-energy map (:func:`make_band`) with its record (BAND.json: the
    LOCAL.json form, its ``estimator`` :data:`BAND_CONSTANTS`).
    """
    root.mkdir(parents=True, exist_ok=True)
    geom = MapGeometry(shape=SHAPE, voxel_size_A=VOXEL, origin_A=(0.0, 0.0, 0.0))
    density = make_density()
    mask = make_mask()
    local = make_local(mask)
    paths: dict[str, Path] = {}
    paths["map"] = root / "map.mrc"
    paths["mask"] = root / "mask.mrc"
    paths["local"] = root / "LOCAL.mrc"
    write_map(paths["map"], density, geom)
    write_map(paths["mask"], mask.astype(np.float32), geom)
    write_map(paths["local"], local, geom)
    lam = [3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0]
    assigned = [int(((local == v) & mask).sum()) for v in lam]
    nyq = 0.5 / VOXEL[0]
    f = np.linspace(0, nyq, 30)
    if with_json:
        local_json = {
            "mode": "split" if with_fsc else "single",
            "voxel_size_A": list(VOXEL),
            "analysis_voxel_size_A": list(VOXEL),
            "p_value": 0.05,
            "kernel": "paper",
            "fdr_mode": "per-wavelength",
            "outside_value": 100.0,
            "median_A": 5.0,
            "mean_A": 5.0,
            "quartiles_A": [4.0, 5.0, 6.0],
            "min_A": 3.0,
            "max_A": 8.0,
            "unresolved_fraction": 0.05,
            "mask_voxels": int(mask.sum()),
            "histogram": {"lambda_A": lam, "count": assigned},
            "wavelengths": [
                {
                    "lambda_A": v,
                    "window_radius_vox": [3, 3, 3],
                    "sigma2": 0.01 * (1 + i),
                    "noise_blocks": 20,
                    "null_weights": [1.0] * 16,
                    "threshold_uncorrected": 20.0 + i,
                    "threshold_fdr": 30.0 + i if i < 7 else None,
                    "tested": int(mask.sum()) - sum(assigned[:i]),
                    "assigned": assigned[i],
                }
                for i, v in enumerate(lam)
            ],
            "prewhitening": {
                "elbow_A": 10.0,
                "coefficients": [1.0, -2.0],
                "frequency_invA": f.tolist(),
                "spectrum_before": (np.exp(-40 * f) + 1e-3).tolist(),
                "spectrum_after": (np.full(f.size, 1e-3) + 1e-4 * f).tolist(),
            },
            "noise_spectrum": {"frequency_invA": f.tolist(), "power": (1.0 + 0.1 * f).tolist()},
            "lowpass": {"detected": False, "cutoff_A": None, "resample_factor": 1.0},
            "mask": {"source": "given", "path": str(paths["mask"]), "voxels": int(mask.sum())},
            "inputs": [{"path": "half1.mrc", "sha256": "ab" * 32}],
            "parameters": {"p_value": 0.05, "min_res": None, "step_res": 0.5},
            "seconds": 1.5,
            "versions": {"resmap_core": "0.1.0", "numpy": "2", "scipy": "1", "python": "3.11"},
        }
        (root / "LOCAL.json").write_text(json.dumps(local_json, indent=2, sort_keys=True))
    if with_fsc:
        paths["fsc"] = root / "FSC.json"
        corrected = fsc_model(f, 4.1, fsc_tail)
        resolutions = {
            "unmasked": {"0.143": 4.3, "0.5": 4.5},
            "masked": {"0.143": 3.8, "0.5": 4.0},
            "corrected": {"0.143": 3.9, "0.5": 4.1},
        }
        if fsc_bound:
            corrected = np.maximum(corrected, 0.2)  # stays above 0.143 up to Nyquist
            resolutions["corrected"]["0.143"] = 2 * VOXEL[0]
        rec = {
            "frequency_invA": f.tolist(),
            "fsc_unmasked": fsc_model(f, 4.5, fsc_tail).tolist(),
            "fsc_masked": fsc_model(f, 4.0, fsc_tail).tolist(),
            "fsc_corrected": corrected.tolist(),
            "fsc_randomised": (fsc_model(f, 4.0) * (f < 0.15)).tolist(),
            "halfbit": [0.2] * f.size,
            "randomise_from_A": 6.7,
            "resolution_curve": "corrected",
            "resolution_0143_A": resolutions["corrected"]["0.143"],
            "resolution_05_A": 4.1,
            "resolutions": resolutions,
            "voxel_size_A": list(VOXEL),
            "mask": {"source": "given", "path": "mask.mrc", "voxels": int(mask.sum())},
            "inputs": [],
            "seed": 7,
            "versions": {"resmap_core": "0.1.0"},
            "seconds": 0.3,
        }
        if not legacy_fsc:  # the record as resmap fsc writes it now (docs/outputs.md)
            bound = "better_than" if fsc_bound else None
            rec["resolutions"] = {
                curve: {
                    t: {
                        "value_A": v,
                        "bound": bound if (curve, t) == ("corrected", "0.143") else None,
                    }
                    for t, v in values.items()
                }
                for curve, values in resolutions.items()
            }
            rec |= {"resolution_0143_bound": bound, "resolution_05_bound": None,
                    "nyquist_A": 2 * VOXEL[0]}  # fmt: skip
        paths["fsc"].write_text(json.dumps(rec))
    if with_band:
        band = make_band(local, mask)
        paths["band"] = root / "BAND.mrc"
        write_map(paths["band"], band, geom)
        values = band[mask & (band != 100.0)]
        (root / "BAND.json").write_text(
            json.dumps(
                {
                    "estimator": BAND_CONSTANTS,
                    "mode": "split" if with_fsc else "single",
                    "outside_value": 100.0,
                    "median_A": float(np.median(values)),
                    "unresolved_fraction": 1 - values.size / int(mask.sum()),
                    "parameters": {
                        "estimator": "band",
                        "band_width": BAND_CONSTANTS["band_width"],
                        "band_window": BAND_CONSTANTS["band_window"],
                    },
                    "versions": {"resmap_core": "0.1.0", "numpy": "2"},
                }
            )
        )
    if with_wfsc:
        rng = np.random.default_rng(3)
        wfsc = local * np.float32(1.1) + rng.normal(0, 0.3, SHAPE).astype(np.float32)
        wfsc[local == 100.0] = 100.0
        wfsc[mask & (rng.random(SHAPE) < 0.03)] = 100.0
        paths["wfsc"] = root / "WFSC.mrc"
        write_map(paths["wfsc"], wfsc, geom)
        (root / "WFSC.json").write_text(
            json.dumps({"box_vox": 16, "step_vox": 2, "cutoff": 0.143, "median_A": 5.5})
        )
    paths["meta"] = root / "meta.json"
    paths["meta"].write_text(
        json.dumps(
            {
                "dataset": "synth",
                "source": "emdb",
                "emdb_id": "EMD-1234",
                "title": title,
                "author_resolution_A": 4.2,
                "voxel_size_A": VOXEL[0],
                "files": {},
                "deposited_fsc": None,
            }
        )
    )
    if with_deposited:
        paths["deposited_fsc"] = root / "emd_1234_fsc.xml"
        pts = "".join(
            f"<coordinate><x>{a:.5f}</x><y>{b:.5f}</y></coordinate>"
            for a, b in zip(f, fsc_model(f, 4.3), strict=True)
        )
        paths["deposited_fsc"].write_text(f'<fsc title="t" xaxis="x" yaxis="y">{pts}</fsc>')
    paths["provenance"] = root / "provenance.json"
    paths["provenance"].write_text(
        json.dumps(
            {
                "inputs": [{"path": "resources/synth/half1.mrc", "sha256": "cd" * 32}],
                "parameters": {"p_value": 0.05, "wfsc": {"box": 16}},
                "versions": {"snakemake": "9.0.0"},
                "rule_seconds": {"fdr": 2.5, "fsc": 1.25},
            }
        )
    )
    return paths


def cli_args(paths: dict[str, Path], out: Path, name: str = "synth") -> list[str]:
    """``resmap report`` arguments for the written dataset."""
    args = ["report", "--name", name, "--out", str(out), "--quiet"]
    for key in ("map", "local", "mask", "fsc", "wfsc", "band", "meta", "deposited_fsc",
                "provenance"):  # fmt: skip
        if key in paths:
            args += [f"--{key.replace('_', '-')}", str(paths[key])]
    return args


def run_cli(argv: list[str]) -> int:
    """Run the real ``resmap`` command line in-process; returns its exit status."""
    from resmap_core.cli.main import main

    return main(argv)


#: The fitted model of EMD-3488 (tests/data/README.md).
MODEL_5NI1 = Path(__file__).resolve().parent / "data" / "emd_3488" / "5ni1_updated.cif.gz"
#: Residues of the synthetic model: an α-helix of Cα atoms through the synthetic box.
HELIX_RESIDUES = 24


def write_helix_model(path: Path) -> Path:
    """A PDB file: a poly-Ala α-helix (Cα trace: 1.5 Å rise, 2.3 Å radius, 100° per residue)
    along x through the centre of the synthetic box, in its frame (origin 0)."""
    centre = [(n - 1) / 2 * v for n, v in zip(SHAPE[::-1], VOXEL, strict=True)]  # x, y, z Å
    lines = []
    for i in range(HELIX_RESIDUES):
        turn = np.deg2rad(100.0 * i)
        x = centre[0] + 1.5 * (i - HELIX_RESIDUES / 2)
        y, z = centre[1] + 2.3 * np.cos(turn), centre[2] + 2.3 * np.sin(turn)
        lines.append(f"ATOM  {i + 1:5d}  CA  ALA A{i + 1:4d}    {x:8.3f}{y:8.3f}{z:8.3f}"
                     "  1.00 20.00           C  ")  # fmt: skip
    path.write_text("\n".join(lines) + "\nEND\n")
    return path


# ---- headless Chromium, driven over the DevTools protocol ----------------------------------


#: Chromium flags: headless, WebGL through SwiftShader (no GPU here), no sandbox (root), no
#: background traffic, and every network request sent to a closed local port as a second fence.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--remote-debugging-pipe", "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist", "--hide-scrollbars",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-default-apps", "--disable-extensions",
    "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)  # fmt: skip
#: URL schemes that stay on this machine.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


class Browser:
    """Headless Chromium over the DevTools protocol on a pipe (fds 3 and 4, no port, no extra
    package). Every request of the page is intercepted (``Fetch``): local ones continue, any
    other fails and is recorded in ``blocked``; ``requests`` lists every URL the page asked for
    ``errors`` every uncaught JavaScript exception and ``dialogs`` every alert the page opened."""

    def __init__(self, chromium: str, width: int = 1280, height: int = 1000) -> None:
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()

        def child_fds() -> None:  # the protocol's pipe: commands on fd 3, replies on fd 4
            a, b = os.dup(cmd_r), os.dup(out_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--window-size={width},{height}", "about:blank"],
            pass_fds=(3, 4), preexec_fn=child_fds,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(cmd_r)
        os.close(out_w)
        self._out = os.fdopen(cmd_w, "wb", buffering=0)
        self._in = os.fdopen(out_r, "rb", buffering=0)
        self._next, self._lock, self._done = 0, threading.Lock(), threading.Condition()
        self._replies: dict[int, dict] = {}
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Network"):
            self.page(f"{domain}.enable")
        self.page("Fetch.enable", patterns=[{"urlPattern": "*"}])

    def _send(self, message: dict) -> int:
        """Write one protocol message; returns its id."""
        with self._lock:
            self._next += 1
            message["id"] = self._next
            self._out.write(json.dumps(message).encode() + b"\0")
            return self._next

    def _read(self) -> None:
        """Reader thread: replies to waiting calls, events to the records, paused requests."""
        buffer = b""
        while chunk := self._in.read(1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                self._dispatch(json.loads(raw))

    def _dispatch(self, msg: dict) -> None:
        """Handle one message from Chromium."""
        method, params = msg.get("method"), msg.get("params", {})
        if "id" in msg:
            with self._done:
                self._replies[msg["id"]] = msg
                self._done.notify_all()
        elif method == "Fetch.requestPaused":
            url = params["request"]["url"]
            name, reply = "Fetch.continueRequest", {"requestId": params["requestId"]}
            if not url.startswith(LOCAL_SCHEMES):  # leaving the machine: refused, recorded
                self.blocked.append(url)
                name, reply["errorReason"] = "Fetch.failRequest", "Failed"
            self._send({"method": name, "params": reply, "sessionId": msg["sessionId"]})
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            self.errors.append(json.dumps(params["exceptionDetails"])[:500])
        elif method == "Page.javascriptDialogOpening":  # alert(): recorded, then dismissed
            self.dialogs.append(params.get("message", ""))
            self._send({"method": "Page.handleJavaScriptDialog", "params": {"accept": False},
                        "sessionId": msg["sessionId"]})  # fmt: skip

    def call(self, method: str, session: str | None = None, timeout: float = 60, **params: Any):
        """Send a command (to the browser, or to ``session``) and wait for its result."""
        message: dict = {"method": method, "params": params}
        if session:
            message["sessionId"] = session
        key = self._send(message)
        with self._done:
            if not self._done.wait_for(lambda: key in self._replies, timeout):
                raise TimeoutError(method)
            reply = self._replies.pop(key)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def page(self, method: str, **params: Any):
        """A command to the page."""
        return self.call(method, session=self.session, **params)

    def js(self, expression: str, awaited: bool = False) -> Any:
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        res = self.page("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=awaited)  # fmt: skip
        if "exceptionDetails" in res:
            raise RuntimeError(json.dumps(res["exceptionDetails"])[:1000])
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> None:
        """Poll until ``expression`` is truthy."""
        deadline = time.monotonic() + timeout
        while not self.js(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(expression)
            time.sleep(0.1)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.page("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def screenshot(self, selector: str | None = None) -> np.ndarray:
        """RGB float image [rows, cols, 3] of the viewport, or of the element ``selector``
        (scrolled into view)."""
        params: dict[str, Any] = {"format": "png"}
        if selector:  # in view first: Chromium only draws (and captures) what is on screen
            self.js(f"document.querySelector({json.dumps(selector)}).scrollIntoView()")
            rect = f"document.querySelector({json.dumps(selector)}).getBoundingClientRect()"
            box = self.js(f"(r => [r.x + scrollX, r.y + scrollY, r.width, r.height])({rect})")
            params["clip"] = dict(zip(("x", "y", "width", "height"), box, strict=True))
            params["clip"]["scale"] = 1
        png = base64.b64decode(self.page("Page.captureScreenshot", **params)["data"])
        return mpimg.imread(io.BytesIO(png), format="png")[..., :3]

    def key(self, selector: str, key: str, code: int) -> None:
        """Focus an element and press a key on it, as a user would (real key events)."""
        self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        for kind in ("keyDown", "keyUp"):
            self.page("Input.dispatchKeyEvent", type=kind, key=key, code=key,
                      windowsVirtualKeyCode=code)  # fmt: skip

    def close(self) -> None:
        """End Chromium (the process this object started)."""
        with contextlib.suppress(Exception):
            self.call("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
