"""The HTML report in a real browser: Debian's headless chromium renders the plots (DOM dump and screenshot).

Skipped when chromium is not installed, except under CI (``CI`` set), where that is a failure.
The screenshot is kept as an artefact in the test's ``tmp_path`` (its path is printed; ``pytest -s`` shows it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from pytest_llmtrust.reporting.html import write_html
from tests.unit.reporting.documents import full_document

if TYPE_CHECKING:
    from pathlib import Path

WIDTH, HEIGHT = 1280, 2400
KINDS = ("rates", "heatmap", "shape", "steering")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--force-device-scale-factor=1",
    f"--window-size={WIDTH},{HEIGHT}",
]
# Appended to the page for the test only: after layout, write each plot's box into the DOM as JSON.
PROBE = (
    "<script>const boxes=[...document.querySelectorAll('svg.plot')].map(s=>{const r=s.getBoundingClientRect();"
    "return {kind:s.getAttribute('class').split('plot-')[1],x:r.x,y:r.y+scrollY,w:r.width,h:r.height};});"
    "const pre=document.createElement('pre');pre.id='probe';pre.textContent=JSON.stringify(boxes);"
    "document.body.appendChild(pre);</script>"
)


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "Debian chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run this test", pytrace=False)
        pytest.skip(message)
    return path


def run_chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium took more than 60 s: {' '.join(command)}")
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if "dbus" not in line.lower()]
        pytest.fail(f"chromium exited with {done.returncode}:\n" + "\n".join(errors[-30:]))
    return done


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chromium()
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_html(full_document(), path)
    path.write_text(path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def dom(page: Path) -> str:
    return run_chromium(page.parent / "profile-dom", "--dump-dom", page.as_uri()).stdout


@pytest.fixture(scope="module")
def boxes(dom: str) -> list[dict[str, Any]]:
    probe = dom.split('<pre id="probe">', 1)[1].split("</pre>", 1)[0]
    return list(json.loads(probe.replace("&quot;", '"').replace("&amp;", "&")))


def test_rendered_dom_has_the_plots(dom: str, boxes: list[dict[str, Any]]) -> None:
    for kind in KINDS:
        assert f'class="plot plot-{kind}"' in dom
    assert [b["kind"] for b in boxes].count("rates") == 5
    assert sorted({b["kind"] for b in boxes}) == sorted(KINDS)
    for box in boxes:  # laid out, with a size, inside the page width
        assert box["w"] > 100, box
        assert box["h"] > 40, box
        assert 0 <= box["x"] <= box["x"] + box["w"] <= WIDTH, box
    assert dom.count('class="cell"') == 14
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "<script>alert" not in dom


def test_screenshot_draws_the_plots(page: Path, boxes: list[dict[str, Any]], tmp_path: Path) -> None:
    shot = page.parent / "screenshot.png"
    run_chromium(page.parent / "profile-shot", f"--screenshot={shot}", page.as_uri())
    artefact = tmp_path / "llmtrust-report.png"
    shutil.copy(shot, artefact)
    shutil.copy(page, tmp_path / "llmtrust-report.html")
    print(f"report screenshot: {artefact}")

    with Image.open(artefact) as image:
        assert image.size == (WIDTH, HEIGHT)
        rgb = image.convert("RGB")
    visible = [b for b in boxes if b["y"] + b["h"] <= HEIGHT]
    assert {b["kind"] for b in visible} == set(KINDS), "a plot fell below the screenshot"
    for box in visible:
        counts = colours(rgb, box)
        inked = sum(n for n, c in counts if min(c) < 230) / sum(n for n, _ in counts)
        assert inked > 0.01, (box, inked)
        assert len(counts) > 20, (box, len(counts))

    heat = next(b for b in visible if b["kind"] == "heatmap")
    reds = sum(n for n, (r, _, b) in colours(rgb, heat) if r > 150 and r - b > 60)
    blues = sum(n for n, (r, _, b) in colours(rgb, heat) if b > 150 and b - r > 60)
    assert reds > 500, reds  # both ends of the diverging scale are drawn
    assert blues > 500, blues

    rates = next(b for b in visible if b["kind"] == "rates")
    greens = sum(n for n, (r, g, b) in colours(rgb, rates) if g > 100 and g - r > 50 and g - b > 30)
    assert greens > 20, greens  # the passing rate's point and whisker


def colours(image: Image.Image, box: dict[str, Any]) -> list[tuple[int, tuple[int, int, int]]]:
    """``(pixel count, colour)`` for every colour inside a plot's box."""
    region = image.crop((int(box["x"]), int(box["y"]), int(box["x"] + box["w"]), int(box["y"] + box["h"])))
    return list(region.getcolors(maxcolors=region.width * region.height) or [])


def test_missing_chromium_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run this test"):
        chromium()
