"""The report's HTML in a real browser: headless Chromium from the system's packages.

The page is loaded at a narrow and a wide window; a script measures that nothing
is wider than the window (the model row used to overflow the page) and every
image loaded, and a screenshot is taken (kept in pytest's tmp_path for a look).
Skipped, with the reason, where no Chromium is installed (``.ci/run`` installs
it with apt-get when it can).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from skkeras.report import cross_validated_report

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser",
                                                           "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium on this machine (apt-get install chromium); the layout check needs a "
           "real browser",
)

MEASURE = """
<script>
window.addEventListener("load", () => {
  const width = document.documentElement.clientWidth;
  const where = e => e.tagName + (e.closest("section") ? "#" + e.closest("section").id : "");
  // Wide numeric tables scroll inside their own box (div.wide); nothing else may be wider.
  const wide = [...document.querySelectorAll("table, figure, img, p, section, div.wide")]
    .filter(e => !e.parentElement.closest("div.wide"))
    .filter(e => e.getBoundingClientRect().right > width + 1).map(where);
  const scrolling = [...document.querySelectorAll("div.wide")]
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(where);
  const images = [...document.images];
  const broken = images.filter(i => !i.complete || i.naturalWidth === 0).length;
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify({scroll: document.documentElement.scrollWidth, width,
    wide, scrolling, images: images.length, broken});
  document.body.appendChild(out);
});
</script>
"""


def chromium(*args: str, profile) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A report whose model row is long: a grid, a wide categorical column, long names."""
    rng = np.random.default_rng(0)
    n = 80
    X = pd.DataFrame({
        "a_rather_long_numeric_feature_name_number_one": rng.normal(size=n),
        "another_long_feature_name_that_goes_on_and_on": rng.normal(size=n),
        "category": rng.choice(["alpha", "beta", "gamma"], size=n),
    })
    y = np.where(X.iloc[:, 0] + rng.normal(scale=0.5, size=n) > 0, "yes", "no")
    report = cross_validated_report(None, X, y, name="layout", cv=2, grid="epochs=1,2",
                                    hidden=(4,), baselines="logistic,dummy", validation_split=0.2)
    path = tmp_path_factory.mktemp("browser") / "report.html"
    path.write_text(report.to_html().replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    return path


@pytest.mark.parametrize("width", [760, 1280])
def test_nothing_overflows_the_window(page, width, tmp_path):
    result = chromium(f"--window-size={width},2000", "--virtual-time-budget=5000",
                      "--dump-dom", page.as_uri(), profile=tmp_path / "profile")
    match = re.search(r'<pre id="measured">(.*?)</pre>', result.stdout, flags=re.S)
    assert match, result.stderr[-2000:]
    import json

    measured = json.loads(match.group(1).replace("&quot;", '"'))
    assert measured["images"] == 4 and measured["broken"] == 0, measured
    assert measured["wide"] == [], measured
    assert measured["scroll"] <= measured["width"], measured
    if width >= 1280:  # a desktop window shows every table whole
        assert measured["scrolling"] == [], measured


def test_screenshot_shows_the_report(page, tmp_path):
    shot = tmp_path / "report.png"
    result = chromium("--window-size=1000,2400", "--virtual-time-budget=5000",
                      f"--screenshot={shot}", page.as_uri(), profile=tmp_path / "profile")
    assert shot.exists(), result.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2400, 1000)
    # Not a blank page: text, tables and plots give many distinct colours.
    colours = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50
