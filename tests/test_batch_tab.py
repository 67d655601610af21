"""The Batch tab's handlers called directly: the sample-images tour, the key metrics and plots, readable tables
(the browser test is in test_app_tour.py)."""
from __future__ import annotations

import json

import gradio as gr
import pandas as pd
import pytest
from matplotlib.figure import Figure

from workbench import ModelSpec
from workbench.evaluate import key_metrics
from workbench.tables import readable
from workbench.ui.batch_tab import SAMPLE_DIR, key_results, run_sample_batch, sample_inputs

ROADS = {"road_pothole_severe.jpg": "severe", "road_pothole_moderate.jpg": "moderate",
         "road_pothole_minor.jpg": "severe", "road_clear.jpg": "no_pothole"}  # one wrong of four


@pytest.fixture
def fault_server():
    from tests.fault_server import FaultServer

    with FaultServer() as server:
        for name, answer in ROADS.items():
            server.images[name] = str(SAMPLE_DIR / name)
            server.answers[("ok", name)] = json.dumps({"severity": answer, "reason": "looked at it"})
        yield server


def test_the_sample_button_gives_metrics_and_both_plots(fault_server, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "runs.db"))
    catalog = [ModelSpec(name="roads", provider="custom", base_url=fault_server.url, model="ok")]
    steps = list(run_sample_batch("pothole_severity", "", "", ["roads"], "generate", 2, {}, [], catalog=catalog))
    summary, metrics, confusion, _compliance, _changes, export, ran = steps[-1]
    assert "Done." in summary and "4 items" in summary
    assert len(metrics) == 1 and confusion is not None and export.endswith(".csv")
    key, cost, latency, *shown = key_results(ran)
    assert all(update["visible"] for update in shown)  # metrics, compliance, confusion matrix
    table = key["value"]
    assert list(table["model"]) == ["roads"] and table["accuracy"].iloc[0] == 0.75
    assert table["$ / 1k images"].iloc[0] == "—"  # a custom server has no known price: unknown, never $0
    assert isinstance(cost["value"], Figure) and isinstance(latency["value"], Figure)
    assert cost["visible"] and latency["visible"]


def test_sample_images_exist_only_for_labelled_tasks():
    paths, labels = sample_inputs("tag_rating")
    assert len(paths) == 4 and labels.endswith("labels.csv")  # park_scene once, though it has two tag rows
    with pytest.raises(gr.Error, match="Task box"):
        sample_inputs("ask")


def test_key_metrics_come_first_and_rounded():
    summary = pd.DataFrame({"model": ["a", "b"], "prompt_version": ["v1", "v1"], "n": [3, 3],
                            "accuracy": [2 / 3, 1.0], "parsed": [1.0, 0.6666], "cost_per_1k_usd": [0.12345, None],
                            "latency_p50_s": [1.23456, 0.5], "macro_f1": [0.5, 1.0]})
    table = key_metrics(summary)
    assert list(table.columns) == ["model", "prompt_version", "accuracy", "compliance", "$ / 1k images",
                                   "p50 latency (s)"]
    assert table["accuracy"].tolist() == [0.67, 1.0] and table["$ / 1k images"].tolist() == ["$0.12", "—"]


def test_readable_tables_show_file_names_and_text_not_objects():
    frame = pd.DataFrame({"image_path": ["/tmp/gradio/abc123/road_clear.jpg"], "variables": [{"tag": "tree"}],
                          "latency_s": [1.234567], "cost": [0.00042], "total_cost_usd": [float("nan")]})
    out = readable(frame)
    assert out.iloc[0].tolist() == ["road_clear.jpg", "tag=tree", 1.235, "$0.00042", "—"]
