"""The one results table: a list of Result records → a DataFrame to read, in the app, the playground and notebooks.

Short headers, numbers rounded, "—" for an unknown cost (unknown is not zero), the cost source said in the cell.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .costs import format_usd
from .results import Result

if TYPE_CHECKING:
    import pandas as pd

TABLE_COLUMNS = ("model", "status", "label", "probabilities", "expected_score", "latency_s", "ttft_s",
                 "input_tokens", "output_tokens", "tokens_per_s", "cost", "error_type", "error", "note")

# Short headers for a person (the app's Compare table); code and notebooks keep TABLE_COLUMNS' names.
HEADERS = {"expected_score": "score", "latency_s": "latency (s)", "ttft_s": "first token (s)",
           "input_tokens": "tokens in", "output_tokens": "tokens out", "tokens_per_s": "tokens/s",
           "estimated_cost": "estimated cost", "error_type": "error kind"}


def with_headers(frame: "pd.DataFrame") -> "pd.DataFrame":
    """The same table with the short headers of HEADERS (e.g. "latency (s)" for latency_s)."""
    return frame.rename(columns=HEADERS)


def results_table(results: list[Result], estimated_costs: dict[str, float | None] | None = None) -> "pd.DataFrame":
    """One row per result: parsed verdict, probabilities, latency and time to first token, tokens, tokens/s, cost
    ("—" if unknown, "(reported)" when the provider said it), the error. `estimated_costs` (model → the cost
    estimated before the call) adds an `estimated_cost` column beside `cost`, so a wrong price shows at once."""
    import pandas as pd

    rows = [_row(r) for r in results]
    frame = pd.DataFrame(rows, columns=list(TABLE_COLUMNS)).astype({"input_tokens": "Int64",
                                                                    "output_tokens": "Int64"})
    if estimated_costs is not None:
        frame.insert(frame.columns.get_loc("cost") + 1, "estimated_cost",
                     [format_usd(estimated_costs.get(r.model)) for r in results])
    return frame


def _row(r: Result) -> dict:
    probs = " · ".join(f"{k} {p:.2f}" for k, p in (r.probabilities or {}).items())
    return {"model": r.model, "status": r.status, "label": r.label, "probabilities": probs or None,
            "expected_score": _round(r.expected_score), "latency_s": _round(r.latency_s),
            "ttft_s": _round(r.time_to_first_token_s), "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens, "tokens_per_s": _round(r.metrics.get("tokens_per_s"), 1),
            "cost": format_usd(r.cost) + (" (reported)" if r.cost_source == "reported" else ""),
            "error_type": r.error_type, "error": r.error, "note": r.metrics.get("score_note")}


def _round(value, digits: int = 3):
    return None if value is None else round(value, digits)


def without_empty_columns(frame: "pd.DataFrame", keep: tuple[str, ...] = ("model", "status", "cost")) -> "pd.DataFrame":
    """The table without the columns no row has a value in (probabilities in generate mode, errors when none
    failed), so a narrow screen shows what is there; `keep` columns always stay."""
    return frame[[c for c in frame.columns if c in keep or frame[c].notna().any()]]


def readable(frame: "pd.DataFrame", digits: int = 3) -> "pd.DataFrame":
    """A copy for a person to read in the app: image paths as file names (not the upload's temp folder), dicts
    and lists as short text (a browser table shows them as "[object Object]"), money as "$0.00042" or "—"
    (unknown), other numbers rounded."""
    import os

    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if column == "image_path" or str(column).endswith("_path"):
            out[column] = [os.path.basename(str(v)) if isinstance(v, str) else v for v in values]
        elif _is_money(str(column)) and pd.api.types.is_numeric_dtype(values):  # $0.00042 must not round to 0
            out[column] = [format_usd(None if pd.isna(v) else float(v)) for v in values]
        elif values.map(lambda v: isinstance(v, (dict, list, tuple))).any():
            out[column] = [_text(v) for v in values]
        elif pd.api.types.is_float_dtype(values):
            out[column] = values.round(digits)
    return out


def _is_money(column: str) -> bool:
    return (column == "cost" or column.startswith("cost_") or "_cost" in column or column.endswith("_usd")) \
        and column != "cost_source"


def _text(value) -> str | None:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or None
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) if isinstance(v, (dict, list, tuple)) else str(v) for v in value) or None
    return value
