"""Checks on drawn figures and HTML pages that people look at: texts that collide or leave the
figure, and images of a page that do not load."""

from __future__ import annotations

import base64
import io
import itertools
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any


def overlapping_text(fig: Any) -> list[str]:
    """Pairs of drawn text elements that overlap, or any that leaves the figure (window extents
    after a real Agg draw)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    # Tick labels of ticks outside the view limits exist but are not drawn.
    undrawn = set()
    for ax in fig.axes:
        for axis, i, limits in ((ax.xaxis, 0, ax.get_xlim()), (ax.yaxis, 1, ax.get_ylim())):
            for label in axis.get_ticklabels():
                if not min(limits) - 1e-9 <= label.get_position()[i] <= max(limits) + 1e-9:
                    undrawn.add(id(label))
    texts = {id(t): t for t in fig.findobj(Text)}  # findobj meets legend texts twice
    boxes = [
        (t.get_text(), t.get_window_extent(renderer))
        for key, t in texts.items()
        if key not in undrawn and t.get_visible() and t.get_text().strip()
    ]
    bounds = fig.bbox
    problems = [
        f"{t!r} leaves the figure"
        for t, b in boxes
        if b.x0 < bounds.x0 - 1 or b.y0 < bounds.y0 - 1 or b.x1 > bounds.x1 + 1 or b.y1 > bounds.y1 + 1
    ]
    for (t1, b1), (t2, b2) in itertools.combinations(boxes, 2):
        inter = b1.intersection(b1, b2)
        if inter is not None and inter.width > 1 and inter.height > 1:
            problems.append(f"{t1!r} overlaps {t2!r}")
    return problems


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.sources.append(values.get("src") or "")
        for name in ("href", "src"):
            if tag != "img" and values.get(name):
                self.links.append(str(values[name]))


def page_images(path: Path) -> list[tuple[str, tuple[int, int]]]:
    """(alt-less src head, (width, height)) of every <img> of the page, each decoded by Pillow.

    Raises AssertionError for an image that is not an inline data: URI (MLflow shows HTML
    artifacts in a sandboxed frame that cannot fetch anything) or does not decode.
    """
    from PIL import Image

    parser = _Images()
    parser.feed(path.read_text(encoding="utf-8"))
    found = []
    for src in parser.sources:
        match = re.fullmatch(r"data:image/(png|jpeg|svg\+xml);base64,([A-Za-z0-9+/=]+)", src)
        assert match, f"{path.name}: <img src={src[:60]!r}> is not an inline base64 image"
        raw = base64.b64decode(match.group(2), validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            image.load()  # decodes every pixel: a truncated PNG fails here
            found.append((src[:40], image.size))
    return found


def page_links(path: Path) -> list[str]:
    """Every href/src of the page other than its images."""
    parser = _Images()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.links


CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def browser_image_sizes(path: Path, timeout: float = 120) -> list[tuple[int, int]] | None:
    """The natural size of every <img> of `path` as headless Chromium loaded it (0x0: broken), or
    None when no Chromium is installed. A copy of the page gets a script that writes the sizes into
    the DOM once loaded; --dump-dom prints it."""
    import json
    import shutil
    import subprocess
    import tempfile

    browser = next((found for name in CHROMIUM if (found := shutil.which(name))), None)
    if browser is None:
        return None
    probe = (
        "<script>window.addEventListener('load',()=>{const p=document.createElement('pre');"
        "p.id='sizes';p.textContent=JSON.stringify([...document.images].map(i=>[i.naturalWidth,"
        "i.naturalHeight]));document.body.appendChild(p);});</script>"
    )
    with tempfile.TemporaryDirectory(prefix="chromium-") as home:
        copy = Path(home) / path.name
        copy.write_text(
            path.read_text(encoding="utf-8").replace("</body>", probe + "</body>"), encoding="utf-8"
        )
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={home}/profile", "--virtual-time-budget=5000", "--dump-dom", copy.as_uri()],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    found = re.search(r'<pre id="sizes">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"chromium printed no sizes (rc {proc.returncode}): {proc.stderr[-500:]}"
    return [tuple(pair) for pair in json.loads(found.group(1))]
