"""Result cards as HTML: one card per model, side by side. Used by the app and by notebooks (IPython HTML)."""
from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING

from .results import Result

if TYPE_CHECKING:
    from .comparison import CompareSnapshot

CSS = """
.wb-cards{display:flex;gap:12px;flex-wrap:wrap;align-items:stretch}
.wb-card{flex:1 1 260px;max-width:100%;border:1px solid #d0d7de;border-radius:10px;padding:12px;
  background:var(--block-background-fill,#fff);color:var(--body-text-color,#1f2328)}
.wb-card h4{margin:0 0 6px 0;font-size:15px}
.wb-badge{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600;color:#fff}
.wb-ok{background:#1a7f37}.wb-repaired{background:#9a6700}.wb-warn{background:#bc4c00}.wb-error{background:#cf222e}
.wb-running{background:#0969da}
.wb-verdict{font-size:22px;font-weight:700;margin:8px 0 4px}
.wb-why{margin:4px 0 8px;font-size:13px}
.wb-meta{font-size:12px;opacity:.8;margin-top:8px}
.wb-card pre{white-space:pre-wrap;word-break:break-word;font-size:12px;max-height:220px;overflow:auto;margin:4px 0}
.wb-prob{display:flex;align-items:center;gap:6px;font-size:12px}
.wb-prob span:first-child{width:80px}
.wb-bar{height:8px;background:#0969da;border-radius:4px}
"""

_BADGE = {"ok": "wb-ok", "repaired": "wb-repaired", "error": "wb-error", "running": "wb-running"}


def _usd(value: float | None) -> str:
    from .costs import format_usd

    return format_usd(value)


def verdict_text(result: Result) -> str:
    """What a person reads first: the label, score or answer."""
    from .tasks import TASKS

    task = TASKS.get(result.task)
    if task is not None:  # the task says how its verdict reads
        return task.verdict_text(result.output)
    out = result.output or {}  # a task this process does not know: its verdict, else a free answer
    return str(out.get("answer") or result.label or "")


def _reason(out: dict) -> str:
    for key in ("reason", "explanation"):
        if out.get(key):
            return out[key]
    return ""


def _meta(result: Result) -> str:
    parts = []
    if result.latency_s is not None:
        parts.append(f"{result.latency_s:.2f} s")
    if result.time_to_first_token_s is not None:
        parts.append(f"first token {result.time_to_first_token_s:.2f} s")
    tokens = f"{_n(result.input_tokens)} in / {_n(result.output_tokens)} out"
    tokens += f" ({n} reasoning)" if (n := result.metrics.get("reasoning_tokens")) else ""
    parts.append(tokens)
    rate = result.metrics.get("tokens_per_s")
    if rate:
        parts.append(f"{rate} tok/s")
    cost = _usd(result.cost) + (" (reported)" if result.cost_source == "reported" else "")
    parts.append(f"cost {cost}")
    if result.metrics.get("peak_rss_mb"):
        parts.append(f"RAM {result.metrics['peak_rss_mb']:.0f} MB")
    if result.metrics.get("vram_allocated_mb"):
        parts.append(f"VRAM {result.metrics['vram_allocated_mb']:.0f} MB")
    return " · ".join(parts)


def _n(value) -> str:
    return "—" if value is None else str(value)


def _probabilities(probs: dict[str, float] | None) -> str:
    if not probs:
        return ""
    rows = "".join(f'<div class="wb-prob"><span>{escape(str(k))}</span><div class="wb-bar" '
                   f'style="width:{max(1, round(p * 120))}px"></div><span>{p:.0%}</span></div>'
                   for k, p in probs.items())
    return f'<div class="wb-probs">{rows}</div>'


def result_card(result: Result) -> str:
    badge = _BADGE.get(result.status, "wb-warn")
    head = (f'<h4>{escape(result.model)}</h4><span class="wb-badge {badge}">{escape(result.status)}</span>')
    if result.status == "error":
        body = (f'<div class="wb-verdict">{escape(result.error_type or "error")}</div>'
                f'<div class="wb-why">{escape(result.error or "")}</div>')
    else:
        body = (f'<div class="wb-verdict">{escape(verdict_text(result))}</div>'
                f'<div class="wb-why">{escape(_reason(result.output or {}))}</div>')
        if result.error:
            body += f'<div class="wb-why"><b>Note:</b> {escape(result.error)}</div>'
    if result.metrics.get("score_note"):  # why score mode answered in generate mode, or asked other questions
        body += f'<div class="wb-why wb-score-note"><b>Score mode:</b> {escape(result.metrics["score_note"])}</div>'
    body += _probabilities(result.probabilities)
    raw = (f"<details><summary>Raw output</summary><pre>{escape(result.raw_text or '')}</pre>"
           f"<pre>{escape(json.dumps(result.output, indent=1)) if result.output else ''}</pre></details>")
    return (f'<div class="wb-card" data-model="{escape(result.model)}" data-status="{escape(result.status)}">'
            f'{head}{body}{raw}<div class="wb-meta">{escape(_meta(result))}</div></div>')


def running_card(name: str, partial_text: str = "", status: str = "") -> str:
    """A model still running: its text so far, else what it is doing (its first download, in MB) or waiting."""
    text = escape(partial_text) if partial_text else escape(status) or "waiting for the first token…"
    state = "downloading" if status and not partial_text else "running"
    return (f'<div class="wb-card" data-model="{escape(name)}" data-status="running"><h4>{escape(name)}</h4>'
            f'<span class="wb-badge wb-running">{state}</span><pre>{text}</pre></div>')


def cards_html(cards: list[str]) -> str:
    return f'<style>{CSS}</style><div class="wb-cards">{"".join(cards)}</div>'


def results_html(results: list[Result]) -> str:
    return cards_html([result_card(r) for r in results])


def snapshot_html(snapshot: "CompareSnapshot") -> str:
    """A comparison in progress (workbench.compare_stream): finished models as result cards, the rest running."""
    return cards_html([result_card(m.result) if m.done else running_card(m.model, m.text, m.status)
                       for m in snapshot.models])
