"""The report in a real browser: headless Chromium renders it offline, every section is there,
every embedded image decodes and is not blank, nothing is fetched, injected markup stays text,
and an FSC that never falls below 0.143 reads as a bound ("better than … (Nyquist)")."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser

import matplotlib.image as mpimg
import numpy as np
import pytest
from _report_helpers import cli_args, run_cli, write_dataset

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

SECTIONS = ("header", "summary", "fsc", "slices", "histograms", "wavelengths", "diagnostics",
            "provenance")  # fmt: skip
TITLE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"
# Chromium flags: offline (every request goes to a closed local port), no GPU, no sandbox (root).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1280,2000"]  # fmt: skip


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
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("browser")
    paths = write_dataset(root / "data", title=TITLE, fsc_bound=True)
    out = root / "reports" / "synth" / "index.html"
    assert run_cli(cli_args(paths, out)) == 0
    url = out.resolve().as_uri()
    dom = subprocess.run([CHROMIUM, *FLAGS, "--dump-dom", url], capture_output=True, text=True,
                         timeout=60, check=True).stdout  # fmt: skip
    shot = root / "shot.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--screenshot={shot}", url], capture_output=True,
                   timeout=60, check=True)  # fmt: skip
    parser = _Dom()
    parser.feed(dom)
    return {"dom": dom, "parsed": parser, "shot": shot, "html": out.read_text(encoding="utf-8")}


def test_browser_renders_every_section(rendered: dict) -> None:
    ids = rendered["parsed"].ids
    assert all(s in ids for s in SECTIONS), sorted(set(SECTIONS) - ids)
    assert "Per-wavelength statistics" in rendered["dom"]


def test_every_embedded_image_decodes_and_is_not_blank(rendered: dict) -> None:
    images = rendered["parsed"].images
    assert len(images) == 7
    for src in images:
        assert src.startswith("data:image/png;base64,")
        pixels = mpimg.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100
        assert float(pixels[..., :3].std()) > 0.05  # not a blank canvas


def test_page_fetches_nothing_from_the_network(rendered: dict) -> None:
    for tag, key, value in rendered["parsed"].urls:
        ok = value.startswith(("data:image/png;base64,", "#")) or (
            tag == "a" and key == "href" and value.startswith("https://www.ebi.ac.uk/emdb/EMD-")
        )
        assert ok, (tag, key, value[:80])
    html = rendered["html"]
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert 'src="http' not in html


def test_injected_markup_in_title_shows_as_text(rendered: dict) -> None:
    parsed = rendered["parsed"]
    assert parsed.title_text == TITLE
    assert "script" not in parsed.tags
    assert parsed.images.count("x") == 0  # the injected <img> did not become an element
    assert "<title>ResMap report: synth</title>" in rendered["dom"]  # the script never ran


def test_offline_screenshot_shows_the_rendered_page(rendered: dict) -> None:
    shot = mpimg.imread(rendered["shot"])
    assert shot.shape[:2] == (2000, 1280)
    rgb = shot[..., :3]
    # figures and tables fill the page: many distinct, non-white pixels all the way down
    for band in np.array_split(rgb, 4, axis=0):
        assert float((band.min(axis=2) < 0.9).mean()) > 0.02


def test_fsc_bound_is_rendered_in_words_never_as_a_bare_number(rendered: dict) -> None:
    dom = rendered["dom"]
    bound = "better than 2.40 Å (Nyquist)"
    headline = re.search(r'id="headline">(.*?)</p>', dom, re.S)
    assert headline and f"<strong>{bound}</strong> at FSC 0.143" in headline[1]
    assert f'<td class="l">corrected</td><td>{bound}</td>' in dom
    alt = re.search(r'alt="FSC curves: ([^"]*)"', dom)
    assert alt and f"corrected FSC 0.143: {bound}" in alt[1]
    for m in re.finditer(r"(.{0,12})2\.40 Å", dom):
        assert m[1].endswith("better than "), m[0]
