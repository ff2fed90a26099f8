"""One self-contained HTML page, the way people read a run or a decision in MLflow.

Shared by the model card of a fit (card.py) and the decision report of a promotion (report.py).
MLflow's artifact view shows an HTML artifact in a sandboxed frame that cannot fetch other
artifacts, so every image is a data: URI (PNG) and the style sheet is inline; the page is sized
for that view (~1,100 px) and for a browser opening the downloaded file.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# 100 dpi: a 5.5 x 4.5 in figure is 550 x 450 px, two side by side within the page's 1,100 px.
DPI = 100
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:1.4em;margin:0 0 .4em}h2{font-size:1.15em;margin:1.4em 0 .5em}
.lead{color:#555;margin:0 0 1em}
.verdict{padding:10px 14px;border-radius:6px;font-size:1.05em;margin:.6em 0 1em}
.promoted{background:#e6f4ea;border:1px solid #34a853}.kept{background:#fef7e0;border:1px solid #f9ab00}
table{border-collapse:collapse;font-size:.92em;margin:.3em 0}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f5f5f5;white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums}
td{overflow-wrap:anywhere}
.drop{background:#fce8e6}.muted{color:#777}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:16px;align-items:start}
figure{margin:0}.plots img{width:100%;height:auto;border:1px solid #eee}
code{background:#f3f3f3;padding:0 3px;border-radius:3px;overflow-wrap:anywhere}
"""


def figure(size: tuple[float, float] = (5.2, 4.4)) -> tuple[Figure, Any]:
    # The Figure class needs no pyplot: no GUI backend, no global figure registry to leak.
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def png(fig: Figure) -> str:
    """The figure as base64 PNG text (for a data: URI)."""
    return base64.b64encode(png_bytes(fig)).decode("ascii")


def images(items: Iterable[tuple[str, bytes]]) -> str:
    """<figure>s of PNG bytes inline, in a wrapping row."""
    cells = "".join(
        f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,'
        f'{base64.b64encode(raw).decode("ascii")}"></figure>'
        for alt, raw in items
    )
    return f"<div class=plots>{cells}</div>" if cells else '<p class="muted">no plots</p>'


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def facts(rows: Iterable[tuple[str, Any]]) -> str:
    """A two-column table: a name per row, its value (numbers formatted, text escaped)."""
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(fmt(v))}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


_NUMBER = re.compile(r"[-+]?[\d.,]+%?")


def _numeric(value: Any) -> bool:
    """Numbers, and text that is one (a formatted share, "43.7%"): right-aligned in tables."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) or (isinstance(value, str) and bool(_NUMBER.fullmatch(value)))


def table(
    head: Sequence[str], rows: Iterable[Sequence[Any]], classes: Sequence[str] = (), align: bool = True
) -> str:
    """A table with a header row; numbers right-aligned unless `align` is off (lists of values
    read better left-aligned); `classes` per row (e.g. "drop") if given."""
    top = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(
            f"<td class=num>{html.escape(fmt(v))}</td>"
            if align and _numeric(v)
            else f"<td>{html.escape(fmt(v))}</td>"
            for v in row
        )
        klass = classes[i] if i < len(classes) and classes[i] else ""
        body.append(f'<tr class="{klass}">{cells}</tr>' if klass else f"<tr>{cells}</tr>")
    return f"<table><tr>{top}</tr>{''.join(body)}</table>"


def document(title: str, body: str) -> str:
    """The whole page: `body` is trusted HTML built by the callers from escaped parts."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )
