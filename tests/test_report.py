"""Notebook tables and figures: what answers contain, cost vs quality, latency, local speed — on hand-made results."""
from __future__ import annotations

import math

import pandas as pd
import pytest
from matplotlib.figure import Figure

from workbench.report import (category_rates, format_costs, kind_counts, local_speed, plot_cost_vs_quality,
                              plot_latency)


def _frame(rows):
    base = {"model": "m", "prompt_version": "default", "status": "ok", "output": None, "latency_s": 0.5,
            "metrics": None, "label": None}
    return pd.DataFrame([{**base, **row} for row in rows])


def test_category_rates_counts_answered_images_only():
    results = _frame([
        {"output": {"flagged": True, "categories": {"violence": True, "weapons": True}}},
        {"output": {"flagged": True, "categories": {"violence": True}}},
        {"output": {"flagged": False, "categories": {}}, "status": "repaired"},
        {"output": None, "status": "invalid_output"},  # not answered: not counted
        {"model": "other", "output": {"flagged": False, "categories": {"violence": False}}},
    ])
    rates = category_rates(results).set_index("model")
    assert rates.loc["m", "answered"] == 3
    assert rates.loc["m", "violence"] == pytest.approx(2 / 3)
    assert rates.loc["m", "weapons"] == pytest.approx(1 / 3)
    assert rates.loc["other", "violence"] == 0
    unanswered = category_rates(results[results["output"].isna()])
    assert unanswered.empty and list(unanswered.columns) == ["model", "prompt_version", "answered"]


def test_kind_counts_counts_each_kind_once_per_image():
    results = _frame([
        {"output": {"contains_pii": True, "found": [{"kind": "email"}, {"kind": "email"}, {"kind": "name"}]}},
        {"output": {"contains_pii": True, "found": [{"kind": "face"}]}},
        {"output": {"contains_pii": False, "found": []}},
    ])
    (row,) = kind_counts(results).to_dict("records")
    assert (row["answered"], row["email"], row["name"], row["face"]) == (3, 1, 1, 1)


def test_local_speed_reads_call_metrics_and_skips_hosted_models():
    results = _frame([
        {"model": "local", "metrics": {"tokens_per_s": 10.0, "peak_rss_mb": 500.0}},
        {"model": "local", "metrics": {"tokens_per_s": 30.0, "peak_rss_mb": 700.0}},
        {"model": "local", "status": "error", "metrics": {"tokens_per_s": 1000.0}},  # failed calls excluded
        {"model": "hosted", "metrics": {"sent_image_bytes": 1000}},
    ])
    table = local_speed(results)
    assert list(table["model"]) == ["local"]
    row = table.iloc[0]
    assert row["calls"] == 2 and row["tokens_per_s"] == 20.0 and row["peak_ram_mb"] == 700.0
    assert math.isnan(row["peak_vram_mb"])


def test_cost_vs_quality_draws_one_point_per_model_and_lists_unknown_costs():
    summary = pd.DataFrame({"model": ["local", "hosted", "unpriced"], "prompt_version": ["default"] * 3,
                            "accuracy": [0.5, 0.9, 0.7], "cost_per_1k_usd": [0.0, 3.5, float("nan")]})
    fig = plot_cost_vs_quality(summary)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    points = [c for c in ax.collections if len(c.get_offsets())]
    assert len(points) == 2  # the model with an unknown cost is not drawn at $0
    assert any("cost unknown: unpriced" in t.get_text() for t in ax.texts)
    assert isinstance(plot_cost_vs_quality(summary.drop(columns="accuracy")), Figure)  # says "no accuracy"


def test_latency_plot_has_one_row_per_model_and_prompt():
    results = _frame([{"model": "a", "latency_s": 0.1}, {"model": "a", "latency_s": 0.3},
                      {"model": "b", "latency_s": 1.0}, {"model": "b", "status": "error", "latency_s": None}])
    ax = plot_latency(results).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a · default", "b · default"]
    empty = plot_latency(results[results["status"] == "error"]).axes[0]
    assert any("no answered calls" in t.get_text() for t in empty.texts)


def test_format_costs_shows_unknown_as_a_dash_and_free_as_zero():
    frame = pd.DataFrame({"model": ["a", "b", "c"], "cost_per_1k": [3.6123, 0.0, float("nan")],
                          "batch_cost_per_1k": [None, 1.5, 2.0], "cost_source": ["reported", None, None]})
    shown = format_costs(frame)
    assert list(shown["cost_per_1k"]) == ["$3.61", "$0", "—"]
    assert list(shown["batch_cost_per_1k"]) == ["—", "$1.50", "$2.00"]
    assert shown["cost_source"].iloc[0] == "reported" and frame["cost_per_1k"].iloc[0] == 3.6123
