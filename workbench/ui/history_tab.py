"""The "History" tab: past runs from the run store; open one, evaluate it, download it."""
from __future__ import annotations

import tempfile

import gradio as gr

from ..errors import WorkbenchError
from ..evaluate import evaluate_run
from ..exports import export_run
from ..store import list_runs, open_run
from ..tables import readable

RESULT_COLUMNS = ("image_path", "model", "prompt_version", "status", "label", "expected", "latency_s", "cost",
                  "error_type", "error")


def runs_table():
    runs = list_runs(limit=200)
    return readable(runs), gr.update(choices=list(runs["run_id"]) if "run_id" in runs else [])


def open_clicked_run(runs, evt: gr.SelectData):
    """A click on any cell of a run's row opens that run."""
    if runs is None or "run_id" not in runs or not evt.index or evt.index[0] >= len(runs):
        raise gr.Error("Click a row of the runs table (press Refresh if it is empty).")
    run_id = str(runs.iloc[evt.index[0]]["run_id"])
    return (gr.update(value=run_id), *open_history_run(run_id))


def open_history_run(run_id: str):
    if not run_id:
        raise gr.Error("Choose a run first.")
    try:
        results = open_run(run_id)
        evaluation = evaluate_run(run_id)
        export = export_run(run_id, path=f"{tempfile.mkdtemp(prefix='workbench-export-')}/{run_id}.csv")
    except WorkbenchError as e:
        raise gr.Error(str(e)) from None
    keep = [c for c in RESULT_COLUMNS if c in results.columns]
    return readable(results[keep]), readable(evaluation.summary), str(export)


def build_history_tab() -> None:
    with gr.Tab("History") as tab:
        refresh = gr.Button("Refresh", size="sm")
        runs = gr.Dataframe(label="Runs in the store (newest first; click a row to open it)", interactive=False,
                            elem_id="history-runs", elem_classes=["wb-table"])
        run_id = gr.Dropdown(label="Run", choices=[], allow_custom_value=True, elem_id="history-run")
        open_button = gr.Button("Open run")
        metrics = gr.Dataframe(label="Metrics", interactive=False, elem_classes=["wb-table"], visible=False)
        results = gr.Dataframe(label="Results", interactive=False, elem_id="history-results",
                               elem_classes=["wb-table"], visible=False)  # no "1 2 3" headers before a run
        download = gr.File(label="Download (CSV)")
        refresh.click(runs_table, None, [runs, run_id], api_name="runs")
        tab.select(runs_table, None, [runs, run_id], api_visibility="private")
        shown = dict(fn=lambda: (gr.update(visible=True),) * 2, inputs=None, outputs=[results, metrics],
                     api_visibility="private")  # hidden until a run is opened: no "1 2 3" headers before
        open_button.click(open_history_run, run_id, [results, metrics, download], api_name="open_run").success(**shown)
        runs.select(open_clicked_run, runs, [run_id, results, metrics, download],
                    api_visibility="private").success(**shown)
