"""The report in a real browser: headless Chromium (WebGL through SwiftShader) opens the page from
disk with every request intercepted. The 3D view is drawn, coloured across the key, and follows
its controls (measure, surface level, the fitted model's cartoon); the slice browser moves; every
section and image is there; nothing leaves the machine; injected markup stays text; an FSC that
never falls below 0.143 reads as a bound. One page serves every test (SwiftShader draws on the
CPU, so each page costs tens of seconds)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import time
from html.parser import HTMLParser

import matplotlib.image as mpimg
import numpy as np
import pytest
from _report_helpers import (
    HELIX_RESIDUES,
    LOCAL_SCHEMES,
    Browser,
    write_dataset,
    write_helix_model,
)

from resmap_core.report.build import build_report
from resmap_core.report.load import ReportInputs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

SECTIONS = ("header", "summary", "view3d", "fsc", "slices", "browser", "histograms",
            "wavelengths", "diagnostics", "provenance")  # fmt: skip
TITLE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"
VIEWER = "#viewer3d canvas"
READY = "document.getElementById('viewer3d').dataset.state === 'ready'"
PLUGIN = "document.getElementById('viewer3d').plugin"


class _Dom(HTMLParser):
    """Collects element ids, tags, URL-bearing attributes and the text of one element."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self.urls: list[tuple[str, str, str]] = []
        self.images: list[str] = []
        self.title_text = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        self._in_title = a.get("id") == "dataset-title"
        for key in ("src", "href", "srcset", "poster", "data", "action", "background"):
            if a.get(key) is not None:
                self.urls.append((tag, key, a[key] or ""))
        if tag == "img":
            self.images.append(a.get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_text += data


@pytest.fixture(scope="module")
def browser() -> Browser:
    chrome = Browser(CHROMIUM)  # type: ignore[arg-type]
    yield chrome
    chrome.close()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> dict:
    """The synthetic report with a fitted model, opened from disk; the 3D view and the slice
    browser drawn."""
    root = tmp_path_factory.mktemp("browser")
    paths = write_dataset(root / "data", title=TITLE, fsc_bound=True, with_band=True)
    paths["model"] = write_helix_model(root / "data" / "helix.pdb")
    out = root / "reports" / "synth" / "index.html"
    build_report(ReportInputs(name="synth", out=out, **paths), quiet=True)
    browser.open(out.resolve().as_uri())
    browser.wait_for(READY, timeout=120)
    browser.wait_for("+document.getElementById('slice-canvas').dataset.drawn > 0")
    # SwiftShader renders on the CPU: one frame per redraw instead of Mol*'s temporal
    # antialiasing (several frames), so every change shows up in one frame.
    browser.js(f"{PLUGIN}.canvas3d.setProps({{ multiSample: {{ mode: 'off' }} }})")
    browser.js("document.getElementById('view3d').scrollIntoView()")
    dom = browser.js("document.documentElement.outerHTML")
    parser = _Dom()
    parser.feed(dom)
    scene = json.loads(browser.js("document.getElementById('scene-data').textContent"))
    return {"dom": dom, "parsed": parser, "scene": scene, "out": out}


def _palette(scene: dict) -> np.ndarray:
    """The key's colours as 256 RGB rows (0–1), as the page interpolates its 32 stops."""
    stops = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in scene["key"]["stops"]])
    t = np.linspace(0, len(stops) - 1, 256)
    return np.stack([np.interp(t, np.arange(len(stops)), stops[:, c]) for c in range(3)], 1) / 255


def _key_positions(image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Position (0–1 along the key) of every pixel whose colour is a colour of the key."""
    pixels = image.reshape(-1, 3)
    distance = np.linalg.norm(pixels[:, None, :] - palette[None, ::4, :], axis=2)
    nearest = distance.argmin(axis=1)
    return nearest[distance.min(axis=1) < 0.06] / (palette[::4].shape[0] - 1)


def _drawn(image: np.ndarray) -> np.ndarray:
    """Pixels that are not the viewer's near-white background."""
    return image.min(axis=2) < 0.9


def test_browser_renders_every_section(page: dict, browser: Browser) -> None:
    ids = page["parsed"].ids
    assert all(s in ids for s in SECTIONS), sorted(set(SECTIONS) - ids)
    assert "Per-wavelength statistics" in page["dom"]
    assert browser.errors == [] and browser.dialogs == []


def test_every_image_decodes_and_is_not_blank(page: dict, browser: Browser) -> None:
    images = page["parsed"].images
    assert len(images) == 9 and len(set(images)) == 8  # the colour key is shown twice
    for src in images:
        assert src.startswith("data:image/png;base64,")
        pixels = mpimg.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 60
        assert float(pixels[..., :3].std()) > 0.05  # not a blank canvas
    loaded = "[...document.images].every(i => i.complete && i.naturalWidth > 0)"
    assert browser.js(loaded)


def test_no_request_leaves_the_machine(page: dict, browser: Browser) -> None:
    assert browser.blocked == []
    assert browser.requests and all(u.startswith(LOCAL_SCHEMES) for u in browser.requests)
    viewer = [u for u in browser.requests if u.startswith("file:")]
    assert any(u.endswith("/molstar/molstar.js") for u in viewer)
    for tag, key, value in page["parsed"].urls:  # and the page names nothing remote
        ok = value.startswith(("data:image/png;base64,", "#", "molstar/")) or (
            tag == "a" and key == "href" and value.startswith("https://www.ebi.ac.uk/emdb/EMD-")
        )
        assert ok, (tag, key, value[:80])
    # and the page's own policy refuses the network to any script in it
    fetched = "fetch('https://example.org/x').then(() => 'fetched', () => 'refused')"
    assert browser.js(fetched, awaited=True) == "refused"
    assert not any(u.startswith("https:") for u in browser.requests)


def test_3d_view_is_drawn_and_its_colours_span_the_key(page: dict, browser: Browser) -> None:
    lit = browser.screenshot(VIEWER)
    assert _drawn(lit).mean() > 0.05 and float(lit.std()) > 0.05  # a surface, not a blank canvas
    browser.js("document.getElementById('viewer-flat').click()")
    flat = _wait_changed(browser, lit)
    positions = _key_positions(flat[_drawn(flat)], _palette(page["scene"]))
    drawn = int(_drawn(flat).sum())
    assert positions.size > 0.3 * drawn  # most of the surface wears a colour of the key
    lo, hi = np.percentile(positions, [2, 98])
    assert hi - lo > 0.25, (lo, hi)  # from fine (blue-green) to coarse (orange-red)
    assert (np.histogram(positions, bins=8, range=(0, 1))[0] > 0.01 * positions.size).sum() >= 3


def _wait_changed(browser: Browser, before: np.ndarray, timeout: float = 20) -> np.ndarray:
    """A screenshot of the 3D view once it differs from ``before`` (Mol* redraws asynchronously)."""
    for _ in range(int(timeout / 0.25)):
        after = browser.screenshot(VIEWER)
        if after.shape == before.shape and float(np.abs(after - before).mean()) > 0.002:
            return after
        time.sleep(0.25)
    raise AssertionError("the 3D view did not change")


def test_3d_view_follows_the_measure_and_the_surface_level(page: dict, browser: Browser) -> None:
    resmap = browser.screenshot(VIEWER)
    browser.js("document.querySelector('input[name=viewer-layer][value=\"1\"]').click()")
    browser.wait_for("document.getElementById('viewer3d').dataset.layer === '1'")
    wfsc = _wait_changed(browser, resmap)  # the same surface, coloured by the other map
    assert abs(_drawn(wfsc).mean() - _drawn(resmap).mean()) < 0.02
    names = "[...document.querySelectorAll('#viewer-controls label')].map(l => l.innerText)"
    assert [n.strip() for n in browser.js(names)[:3]] == ["ResMap", "windowed FSC", "Band energy"]
    browser.js("document.querySelector('input[name=viewer-layer][value=\"2\"]').click()")
    browser.wait_for("document.getElementById('viewer3d').dataset.layer === '2'")
    band = _wait_changed(browser, wfsc)  # the fourth answer colours the same surface
    assert abs(_drawn(band).mean() - _drawn(resmap).mean()) < 0.02
    browser.js("(() => { const l = document.getElementById('viewer-level');"
               " l.value = String(+l.min + 0.6 * (l.max - l.min));"
               " l.dispatchEvent(new Event('input')); })()")  # fmt: skip
    higher = _wait_changed(browser, band)
    assert _drawn(higher).mean() < 0.8 * _drawn(band).mean()  # a higher level encloses less
    assert browser.errors == []


def test_slice_browser_moves(page: dict, browser: Browser) -> None:
    canvas = "#slice-canvas"
    drawn = "+document.getElementById('slice-canvas').dataset.drawn"
    pixels = "document.getElementById('slice-canvas').toDataURL()"
    browser.js(f"document.querySelector('{canvas}').scrollIntoView()")
    count, before = browser.js(drawn), browser.js(pixels)
    position = browser.js("document.getElementById('slice-position').textContent")
    browser.key("#slice-index", "ArrowRight", 39)
    browser.wait_for(f"{drawn} > {count}")
    assert browser.js(pixels) != before  # the next section, drawn in the page
    assert browser.js("document.getElementById('slice-position').textContent") != position
    browser.js("(() => { const a = document.getElementById('slice-axis'); a.value = 'x';"
               " a.dispatchEvent(new Event('change')); })()")  # fmt: skip
    nz, ny, _ = page["scene"]["grid"]["shape_zyx"]
    assert browser.js("[document.getElementById('slice-canvas').width,"
                      " document.getElementById('slice-canvas').height]") == [ny, nz]  # fmt: skip
    options = "[...document.getElementById('slice-layer').options].map(o => o.text)"
    assert browser.js(options)[:3] == ["ResMap", "windowed FSC", "Band energy"]
    coloured = browser.screenshot(canvas)
    browser.js("(() => { const o = document.getElementById('slice-opacity'); o.value = '0';"
               " o.dispatchEvent(new Event('input')); })()")  # fmt: skip
    grey = browser.screenshot(canvas)
    assert np.ptp(grey, axis=2).max() < 0.02  # no colour left: the map alone, in grey
    assert np.ptp(coloured, axis=2).max() > 0.3


def test_injected_markup_in_title_stays_inert(page: dict, browser: Browser) -> None:
    parsed = page["parsed"]
    assert parsed.title_text == TITLE
    assert parsed.tags.count("script") == 3  # the scene data, Mol*, the page's own script
    assert parsed.images.count("x") == 0  # the injected <img> did not become an element
    assert browser.js("document.title") == "ResMap report: synth"  # the script never ran
    assert browser.dialogs == []


def test_fsc_bound_is_rendered_in_words_never_as_a_bare_number(page: dict) -> None:
    dom = page["dom"]
    bound = "better than 2.40 Å (Nyquist)"
    headline = re.search(r'id="headline">(.*?)</p>', dom, re.S)
    assert headline and f"<strong>{bound}</strong> at FSC 0.143" in headline[1]
    assert f'<td class="l">corrected</td><td>{bound}</td>' in dom
    alt = re.search(r'alt="FSC curves: ([^"]*)"', dom)
    assert alt and f"corrected FSC 0.143: {bound}" in alt[1]
    for m in re.finditer(r"(.{0,12})2\.40 Å", dom):
        assert m[1].endswith("better than "), m[0]


def test_fitted_model_is_drawn_as_a_cartoon(page: dict, browser: Browser) -> None:
    atoms = f"{PLUGIN}.managers.structure.hierarchy.current.structures"
    assert browser.js(f"{atoms}.map(s => s.cell.obj.data.elementCount)") == [HELIX_RESIDUES]
    kinds = f"{atoms}[0].components.flatMap(c => c.representations.map(r => r.cell.obj.label))"
    assert browser.js(kinds) == ["Cartoon"]
    with_model = browser.screenshot(VIEWER)
    browser.js("document.getElementById('viewer-model').click()")
    without = _wait_changed(browser, with_model)  # hiding the cartoon changes the picture
    changed = np.abs(without - with_model).max(axis=2) > 0.1
    assert changed.mean() > 0.005
    browser.js("document.getElementById('viewer-model').click()")
    assert browser.blocked == [] and browser.errors == []


def test_the_fence_refuses_and_records_a_network_request(page: dict, browser: Browser) -> None:
    """The harness itself: a page without the report's policy asks for a remote URL."""
    browser.blocked.clear()
    browser.open("data:text/html,<p>no policy here</p>")
    fetched = "fetch('https://example.org/y').then(() => 'fetched', () => 'refused')"
    assert browser.js(fetched, awaited=True) == "refused"
    assert browser.blocked == ["https://example.org/y"]
    browser.blocked.clear()
