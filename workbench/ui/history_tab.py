"""The "History" tab: past runs from the run store; open one, evaluate it, download it as CSV or as an HTML report,
share it as a link. With sign-in on (WORKBENCH_LOGIN=hf) it lists and opens only the signed-in user's runs."""
from __future__ import annotations

import tempfile

import gradio as gr

from ..errors import WorkbenchError
from ..evaluate import evaluate_run
from ..exports import export_run
from ..html_report import write_report
from ..store import RunStore, list_runs, open_run
from ..tables import readable
from .access import current_user, may_see
from .share_link import link_to_run, share_controls, wire_share

RESULT_COLUMNS = ("image_path", "model", "prompt_version", "status", "label", "expected", "latency_s", "cost",
                  "error_type", "error")


def runs_table(profile: gr.OAuthProfile | None = None):
    runs = list_runs(limit=200, owner=current_user(profile))
    return readable(runs), gr.update(choices=list(runs["run_id"]) if "run_id" in runs else [])


def open_clicked_run(runs, evt: gr.SelectData, profile: gr.OAuthProfile | None = None):
    """A click on any cell of a run's row opens that run."""
    if runs is None or "run_id" not in runs or not evt.index or evt.index[0] >= len(runs):
        raise gr.Error("Click a row of the runs table (press Refresh if it is empty).")
    run_id = str(runs.iloc[evt.index[0]]["run_id"])
    return (gr.update(value=run_id), *open_history_run(run_id, profile))


def _own_run(run_id: str, profile: gr.OAuthProfile | None) -> str:
    """The run's full id, when this user may see it (with sign-in on: their own runs only)."""
    if not run_id:
        raise gr.Error("Choose a run first.")
    user = current_user(profile)
    try:
        store = RunStore()
        full = store.run(run_id)["id"]
    except WorkbenchError as e:
        raise gr.Error(str(e)) from None
    if not may_see(store.owner(full), user):
        raise gr.Error("That run is not one of yours: choose one of your runs in the Run box (press Refresh).")
    return full


def open_history_run(run_id: str, profile: gr.OAuthProfile | None = None):
    run_id = _own_run(run_id, profile)
    try:
        results = open_run(run_id)
        evaluation = evaluate_run(run_id)
        export = export_run(run_id, path=f"{tempfile.mkdtemp(prefix='workbench-export-')}/{run_id}.csv")
    except WorkbenchError as e:
        raise gr.Error(str(e)) from None
    keep = [c for c in RESULT_COLUMNS if c in results.columns]
    return readable(results[keep]), readable(evaluation.summary), str(export)


def report_file(run_id: str, profile: gr.OAuthProfile | None = None) -> str:
    """The run's HTML report (images embedded, opens offline, fits in an email), written for download."""
    run_id = _own_run(run_id, profile)
    try:
        return str(write_report(run_id, path=f"{tempfile.mkdtemp(prefix='workbench-report-')}/{run_id}.html"))
    except WorkbenchError as e:
        raise gr.Error(f"The report could not be written: {e}") from None


def share_history_run(run_id: str, profile: gr.OAuthProfile | None = None):
    return link_to_run(_own_run(run_id, profile), profile)


def build_history_tab() -> None:
    with gr.Tab("History") as tab:
        refresh = gr.Button("Refresh", size="sm")
        runs = gr.Dataframe(label="Runs in the store (newest first; click a row to open it)", interactive=False,
                            elem_id="history-runs", elem_classes=["wb-table"])
        run_id = gr.Dropdown(label="Run", choices=[], allow_custom_value=True, elem_id="history-run")
        with gr.Row():
            open_button = gr.Button("Open run")
            report = gr.Button("HTML report", elem_id="history-report")
        metrics = gr.Dataframe(label="Metrics", interactive=False, elem_classes=["wb-table"], visible=False)
        results = gr.Dataframe(label="Results", interactive=False, elem_id="history-results",
                               elem_classes=["wb-table"], visible=False)  # no "1 2 3" headers before a run
        share, link = share_controls("history")
        with gr.Row():
            download = gr.File(label="Download (CSV)")
            report_download = gr.File(label="Report (HTML: opens offline, can be attached to an email)",
                                      elem_id="history-report-file")
    refresh.click(runs_table, None, [runs, run_id], api_name="runs")
    tab.select(runs_table, None, [runs, run_id], api_visibility="private")
    shown = dict(fn=lambda: (gr.update(visible=True),) * 3 + (gr.update(value="", visible=False),), inputs=None,
                 outputs=[results, metrics, share, link], api_visibility="private")  # hidden until a run is opened
    open_button.click(open_history_run, run_id, [results, metrics, download], api_name="open_run").success(**shown)
    runs.select(open_clicked_run, runs, [run_id, results, metrics, download],
                api_visibility="private").success(**shown)
    run_id.change(lambda: gr.update(value="", visible=False), None, link, api_visibility="private",
                  queue=False)  # another run chosen: the old run's link goes
    report.click(report_file, run_id, report_download, api_name="report",
                 api_description="Write the run's HTML report (images embedded, opens offline); returns the file.")
    wire_share(share, link, share_history_run, run_id)
