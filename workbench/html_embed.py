"""Pieces of a self-contained HTML page: escaped text, thumbnails and figures as `data:` URIs, small tables.

Nothing here refers to a file or a network address: everything a page needs travels inside it, so it opens offline
and survives being attached to an email. Every piece of text that came from a model, a file name or a prompt goes
through `esc` — model output is untrusted.
"""
from __future__ import annotations

import base64
import html
import io
import math
from typing import TYPE_CHECKING, Iterable

from .redact import redact

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

THUMB_EDGE = 160  # px, long edge: small enough that 100 images stay well under a few MB
THUMB_QUALITY = 70


def esc(value) -> str:
    """Text for HTML (element content and quoted attributes); None and NaN become an em dash; keys are redacted."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return html.escape(redact(str(value)) or "", quote=True)


def thumbnail_uri(path: str, edge: int = THUMB_EDGE) -> str | None:
    """The image at `path` as a small JPEG `data:` URI (EXIF rotation applied, no EXIF/GPS kept); None when the file
    is gone or cannot be decoded — a report about a run is still useful without its pictures."""
    from .errors import WorkbenchError
    from .images import encode_image, load_image

    try:
        encoded = encode_image(load_image(path), max_edge=edge, quality=THUMB_QUALITY)
    except (WorkbenchError, OSError):
        return None
    return encoded.data_url


def figure_uri(figure: "Figure") -> str:
    """A matplotlib figure as an SVG `data:` URI (text drawn as paths: no font files needed). As an <img>, an SVG
    cannot run scripts or fetch anything."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def fmt_share(value) -> str:
    return "—" if _missing(value) else f"{float(value):.0%}"


def fmt_number(value, digits: int = 3) -> str:
    return "—" if _missing(value) else f"{float(value):.{digits}g}"


def fmt_seconds(value) -> str:
    return "—" if _missing(value) else f"{float(value):.2f} s"


def fmt_usd(value) -> str:
    from .costs import format_usd

    return format_usd(None if _missing(value) else float(value))


def html_table(frame: "pd.DataFrame", formats: dict | None = None, headers: dict | None = None,
               caption: str | None = None) -> str:
    """A DataFrame as an escaped <table> inside a horizontally scrolling box (narrow screens scroll, never clip).
    `formats`: column -> function(value) -> str (other cells are escaped as they are); `headers`: column -> title."""
    formats, headers = formats or {}, headers or {}
    head = "".join(f"<th scope=col>{esc(headers.get(c, c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = (esc(formats[c](v)) if c in formats else esc(v) for c, v in zip(frame.columns, record))
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    title = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<div class="scroll"><table>{title}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def definition_list(pairs: Iterable[tuple[str, object]]) -> str:
    return "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs) + "</dl>"


def _missing(value) -> bool:
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False
