"""The sections of a run's HTML report: what was run, the metrics, the recommendation, the plots, every image's
answers side by side, and the prompt versions. Each builder returns a `ReportSection` whose HTML is already
escaped (see `workbench.html_embed.esc`); `workbench.html_report` assembles them into one page.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .html_embed import (definition_list, esc, figure_uri, fmt_number, fmt_seconds, fmt_share, fmt_usd, html_table,
                         thumbnail_uri)

if TYPE_CHECKING:
    import pandas as pd

    from .evaluate import Evaluation

RAW_TEXT_CHARS = 1500  # of each answer shown in the report; the full text stays in the run store and the exports

# summary column -> (header, format); only the columns a run has are shown, in this order
SUMMARY_COLUMNS = {
    "model": ("model", None), "prompt_version": ("prompt", None), "n": ("items", None),
    "parsed": ("parsed", fmt_share), "accuracy": ("accuracy", fmt_share), "macro_f1": ("macro F1", fmt_number),
    "mae": ("MAE", fmt_number), "within_1": ("within 1", fmt_share), "qwk": ("QWK", fmt_number),
    "ece": ("calibration error", fmt_number), "latency_p50_s": ("latency p50", fmt_seconds),
    "latency_p95_s": ("latency p95", fmt_seconds), "cost_per_1k_usd": ("$ per 1,000 images", fmt_usd),
    "spent_usd": ("spent", fmt_usd),
}


@dataclass(frozen=True)
class ReportSection:
    """One section of the report. `html` is the body, already escaped: build it with `esc`, `html_table`,
    `definition_list` — never put model output or file names in it unescaped."""

    id: str
    title: str
    html: str


def run_section(run: dict, counts: dict) -> ReportSection:
    """What was run: task, when, on what, with which models and settings, and how it went."""
    models = "".join(f"<li><b>{esc(m.get('name'))}</b> <span class=muted>{esc(m.get('backend'))} · "
                     f"{esc(m.get('model'))}</span></li>" for m in run["models"])
    params = run.get("params") or {}
    facts = [("task", run["task"]), ("run", run["id"]), ("started", run["started_at"]),
             ("finished", run.get("finished_at") or "unfinished"), ("input", run.get("source")),
             ("items", run["n_items"]), ("answered", counts.get("answered", 0)), ("failed", counts.get("failed", 0)),
             ("served from the store", counts.get("cached", 0)), ("spent", fmt_usd(counts.get("spent"))),
             ("settings", ", ".join(f"{k}={v}" for k, v in params.items() if v is not None))]
    return ReportSection("run", "The run", definition_list(facts) + f"<h3>Models</h3><ul>{models}</ul>")


def metrics_section(evaluation: "Evaluation") -> ReportSection:
    """The summary per model × prompt version; accuracy only where the run has labels, and a note when it has none."""
    summary = evaluation.summary
    labelled = bool(evaluation.results["expected"].notna().any())
    columns = [c for c in SUMMARY_COLUMNS if c in summary.columns]
    body = "" if labelled else (
        '<p class="note" id="no-labels">No labels in this run, so no accuracy: the table shows format, speed and '
        "cost only. Give expected labels (<code>workbench batch --labels labels.csv</code>, or "
        "<code>workbench eval RUN --labels labels.csv</code>) to measure quality.</p>")
    body += html_table(summary[columns], formats={c: f for c, (_, f) in SUMMARY_COLUMNS.items() if f},
                       headers={c: h for c, (h, _) in SUMMARY_COLUMNS.items()})
    if len(evaluation.agreement):
        body += "<h3>Agreement between models</h3>" + html_table(
            evaluation.agreement, formats={"agreement": fmt_share, "kappa": fmt_number},
            headers={"prompt_version": "prompt", "model_a": "model A", "model_b": "model B", "n": "images"})
    for (model, version), table in evaluation.confusion.items():
        body += html_table(table.reset_index(), caption=f"Confusion: {model} · {version} (rows: expected)")
    return ReportSection("metrics", "Metrics", body)


def recommendation_section(recommendation) -> ReportSection | None:
    """The hook for `workbench.recommend` (built in another change): give its result — a DataFrame, a mapping, or
    plain text — and it becomes the report's "Recommendation" section; None leaves the section out."""
    import pandas as pd

    if recommendation is None:
        return None
    if isinstance(recommendation, ReportSection):
        return recommendation
    if isinstance(recommendation, pd.DataFrame):
        body = html_table(recommendation)
    elif isinstance(recommendation, dict):
        body = definition_list(recommendation.items())
    else:
        body = "".join(f"<p>{esc(line)}</p>" for line in str(recommendation).split("\n\n"))
    return ReportSection("recommendation", "Recommendation", body)


def plots_section(evaluation: "Evaluation") -> ReportSection | None:
    """The evaluation's figures (confusion, reliability, thresholds), cost vs quality and latency, as inline SVG."""
    from .report import plot_cost_vs_quality, plot_latency

    figures = dict(evaluation.figures())
    summary = evaluation.summary
    quality = next((q for q in ("accuracy", "mae") if q in summary.columns and summary[q].notna().any()), None)
    if quality:
        figures["cost vs quality"] = plot_cost_vs_quality(summary, quality=quality)
    if (evaluation.results["status"] != "error").any():
        figures["latency"] = plot_latency(evaluation.results)
    if not figures:
        return None
    body = "".join(f'<figure class="plot"><img src="{uri}" alt="{esc(name)}"><figcaption>{esc(name)}</figcaption>'
                   f"</figure>" for name, uri in ((n, figure_uri(f)) for n, f in figures.items()))
    return ReportSection("plots", "Plots", body)


def answers_section(results: "pd.DataFrame", order: list[tuple[str, str]] = ()) -> ReportSection:
    """One card per image (and prompt variables), by file path: its thumbnail and label, then every model × prompt
    version's answer side by side, in `order` (the run's models × its prompt versions) so columns line up."""
    present = set(zip(results["model"], results["prompt_version"]))
    columns = [c for c in order if c in present]
    columns += [c for c in dict.fromkeys(zip(results["model"], results["prompt_version"])) if c not in columns]
    thumbnails: dict[str, str | None] = {}
    cards = []
    for (path, _), frame in results.groupby(["image_path", "variables_key"], sort=True):
        if path not in thumbnails:
            thumbnails[path] = thumbnail_uri(path)
        cards.append(_image_card(str(path), frame, columns, thumbnails[path]))
    intro = (f"<p>{len(cards)} images × {len(columns)} model/prompt combinations. Answers are shown as the models "
             f"gave them (the first {RAW_TEXT_CHARS:,} characters).</p>")
    return ReportSection("answers", "Answers, image by image", intro + "".join(cards))


def _image_card(path: str, frame: "pd.DataFrame", columns: list[tuple], thumb: str | None) -> str:
    name = Path(path).name
    first = frame.iloc[0]
    picture = (f'<img src="{thumb}" alt="{esc(name)}">' if thumb
               else f'<div class="nothumb">image not available<br>{esc(path)}</div>')
    variables = first["variables"] if isinstance(first["variables"], dict) else {}
    about = [f"expected: <b>{esc(first['expected'])}</b>"] if first["expected"] is not None else []
    about += [f"{esc(k)}={esc(v)}" for k, v in variables.items()]
    by_column = {(r["model"], r["prompt_version"]): r for r in frame.to_dict("records")}
    cells = "".join(_answer_cell(by_column.get(c), c) for c in columns)
    return (f'<article class="image" data-image="{esc(name)}"><figure class="thumb">{picture}<figcaption>'
            f"<b>{esc(name)}</b><br>{'<br>'.join(about)}</figcaption></figure>"
            f'<div class="answers">{cells}</div></article>')


def _answer_cell(row: dict | None, column: tuple) -> str:
    model, version = column
    who = f'<div class="who">{esc(model)} <span class="muted">· {esc(version)}</span></div>'
    if row is None:
        return f'<div class="answer missing">{who}<p class="muted">not run on this image</p></div>'
    status, label, expected = row["status"], row["label"], row["expected"]
    verdict = ("right" if label == expected else "wrong") if expected is not None and status != "error" else ""
    mark = {"right": " ✓", "wrong": " ✗"}.get(verdict, "")
    raw = str(row.get("raw_text") or "")
    clipped = raw[:RAW_TEXT_CHARS] + (" …" if len(raw) > RAW_TEXT_CHARS else "")
    facts = [status, fmt_seconds(row.get("latency_s")), fmt_usd(row.get("cost")),
             *(["cached"] if row.get("cached") else [])]
    parts = [who, f'<div class="verdict">{esc(label if label is not None else status)}{mark}</div>']
    if clipped:
        parts.append(f'<pre class="raw">{esc(clipped)}</pre>')
    if isinstance(row.get("error"), str) and row["error"]:
        parts.append(f'<p class="error">{esc(row.get("error_type"))}: {esc(row["error"])}</p>')
    parts.append(f'<div class="facts">{" · ".join(esc(f) for f in facts)}</div>')
    return (f'<div class="answer s-{esc(status)} {verdict}" data-model="{esc(model)}" '
            f'data-version="{esc(version)}">{"".join(parts)}</div>')


def prompts_section(run: dict, results: "pd.DataFrame") -> ReportSection:
    """Every prompt version the run used, verbatim, with its hash (the same hash means the same text)."""
    hashes = results.drop_duplicates("prompt_version").set_index("prompt_version")["prompt_hash"].to_dict() \
        if "prompt_hash" in results else {}
    blocks = [f'<h3>{esc(version)} <span class="muted">{esc(hashes.get(version, ""))}</span></h3>'
              f'<pre class="prompt">{esc(text)}</pre>' for version, text in run["prompts"].items()]
    variables = {json.dumps(v, sort_keys=True) for v in results.get("variables", []) if v}
    note = "<p class=muted>Prompt variables ({…}) are filled per image; see each image's card.</p>" if variables else ""
    return ReportSection("prompts", "Prompt versions", "".join(blocks) + note)
