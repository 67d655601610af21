"""A run as one self-contained HTML file, for people who will not open a notebook: attach it to an email, open it
offline in any browser.

    import workbench
    workbench.write_report("20260101-120000-ab12")            # -> runs/20260101-120000-ab12.html
    workbench.write_report(run_id, "pothole-report.html", recommendation=workbench.recommend(run_id))

    workbench report RUN [-o FILE] [--labels CSV]

The file holds everything it shows: thumbnails (160 px JPEG) and plots (SVG) as `data:` URIs, the styles inline, no
script, no font, no link to fetch — and a Content-Security-Policy that forbids fetching anything, so even a model's
answer that smuggled markup in (it is escaped anyway) could not call home. Readable from phone width (390 px) up.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterable

from .html_embed import esc
from .report_sections import (ReportSection, answers_section, metrics_section, plots_section, prompts_section,
                              recommendation_section, run_section)

# Nothing may be fetched: images are data: URIs, styles are inline, there is no script.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

STYLE = """
:root { color-scheme: light; --ink: #1d232b; --muted: #5f6b7a; --line: #d9dee5; --ok: #1f7a3d; --bad: #b3261e;
        --bg: #f6f7f9; font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); line-height: 1.45; font-size: 15px; }
main { max-width: 1200px; margin: 0 auto; padding: 16px; }
header h1 { font-size: 1.5rem; margin: 0.2em 0; overflow-wrap: anywhere; }
nav { display: flex; flex-wrap: wrap; gap: 6px 14px; font-size: 0.9rem; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin: 16px 0; }
h2 { font-size: 1.2rem; margin: 0.2em 0 0.6em; } h3 { font-size: 1rem; margin: 1em 0 0.4em; }
.muted { color: var(--muted); font-weight: normal; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; max-width: 100%; margin: 8px 0; }
table { border-collapse: collapse; font-size: 0.9rem; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; white-space: nowrap; }
.note { background: #fff7e0; border-left: 4px solid #e0a800; padding: 8px 12px; }
.plot { margin: 8px 0; overflow-x: auto; }
.plot img { max-width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
figure { margin: 0; } figcaption { font-size: 0.85rem; color: var(--muted); overflow-wrap: anywhere; }
article.image { display: grid; grid-template-columns: 170px 1fr; gap: 12px; padding: 12px 0;
                border-top: 1px solid var(--line); }
.thumb img { max-width: 160px; max-height: 160px; border-radius: 4px; display: block; }
.nothumb { width: 160px; height: 100px; background: var(--bg); color: var(--muted); font-size: 0.8rem;
           display: flex; align-items: center; justify-content: center; text-align: center; overflow: hidden; }
.answers { display: grid; grid-template-columns: repeat(auto-fit, minmax(230px, 1fr)); gap: 8px; min-width: 0; }
.answer { border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; min-width: 0; }
.answer.right { border-left: 4px solid var(--ok); } .answer.wrong { border-left: 4px solid var(--bad); }
.answer.s-error { background: #fdf0ef; }
.who { font-size: 0.8rem; font-weight: 600; overflow-wrap: anywhere; }
.verdict { font-size: 1.05rem; font-weight: 600; overflow-wrap: anywhere; }
.right .verdict { color: var(--ok); } .wrong .verdict { color: var(--bad); }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.8rem; background: var(--bg); padding: 6px;
      border-radius: 4px; margin: 4px 0; }
pre.raw { max-height: 12em; overflow-y: auto; }
.error { color: var(--bad); font-size: 0.85rem; overflow-wrap: anywhere; margin: 4px 0; }
.facts { font-size: 0.75rem; color: var(--muted); }
footer { font-size: 0.8rem; color: var(--muted); text-align: center; padding: 12px; }
@media (max-width: 600px) {
  main { padding: 8px; } section { padding: 10px; }
  article.image { grid-template-columns: 1fr; }
  .answers { grid-template-columns: 1fr; }
  .plot img { max-width: none; width: 640px; }  /* a plot shrunk to phone width is unreadable: scroll it instead */
}
@media print { section { break-inside: avoid-page; } pre.raw { max-height: none; } }
"""


def report_html(run_id: str, db: str | os.PathLike | None = None, *, labels=None, recommendation=None,
                extra_sections: Iterable[ReportSection] = ()) -> str:
    """The report page as a string. `labels`: a labels CSV/DataFrame when the run was made without one.
    `recommendation`: what `workbench.recommend` returns (DataFrame, mapping or text), shown after the run facts.
    `extra_sections`: further `ReportSection`s, placed after the metrics."""
    from .evaluate import evaluate_run
    from .store import RunStore

    store = RunStore(db)
    run = store.run(run_id)
    evaluation = evaluate_run(store.results(run["id"]), labels=labels)
    sections = [run_section(run, store.counts(run["id"])), recommendation_section(recommendation),
                metrics_section(evaluation), *extra_sections, plots_section(evaluation),
                answers_section(evaluation.results, [(m["name"], v) for m in run["models"] for v in run["prompts"]]),
                prompts_section(run, evaluation.results)]
    return page(f"{run['task']} — run {run['id']}", [s for s in sections if s is not None])


def page(title: str, sections: list[ReportSection]) -> str:
    """One HTML document: the sections in order, a table of contents, inline styles, nothing to fetch."""
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{s.html}</section>' for s in sections)
    made = time.strftime("%Y-%m-%d %H:%M")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="referrer" content="no-referrer">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body><main>"
            f'<header><p class="muted">VLM Workbench report</p><h1>{esc(title)}</h1><nav>{nav}</nav></header>'
            f"{body}<footer>Made by VLM Workbench on {esc(made)}. This file is self-contained: it loads nothing "
            "from the network.</footer></main></body></html>\n")


def write_report(run_id: str, path: str | os.PathLike | None = None, db: str | os.PathLike | None = None, *,
                 labels=None, recommendation=None, extra_sections: Iterable[ReportSection] = ()) -> Path:
    """Write the run's report; the default path is <store folder>/<run id>.html. Returns the file written."""
    from .store import RunStore

    store = RunStore(db)
    run_id = store.run(run_id)["id"]  # a unique prefix is enough; the file is named after the full id
    text = report_html(run_id, db=store.path, labels=labels, recommendation=recommendation,
                       extra_sections=extra_sections)
    target = Path(path) if path else store.path.parent / f"{run_id}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
