"""The "Batch & evaluate" tab: many images × models × prompt versions, live progress, metrics, plots, download.

The key numbers (quality, compliance, cost per 1,000, p50 latency) and the two pictures come first; every metric,
format compliance and the prompt-version changes are one click behind them."""
from __future__ import annotations

import csv
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

import gradio as gr

from .. import TASKS, ImageError, WorkbenchError, get_task
from ..batch import run_batch
from ..evaluate import evaluate_run, key_metrics
from ..exports import export_run
from ..models import ModelSpec
from ..report import plot_cost_vs_quality, plot_latency
from ..tables import readable
from ..uploads import image_paths
from ..wording import error_message
from .access import current_user
from .fields import model_choices, refreshed_models, session_specs, task_fields
from .recommend_section import build_recommendation_section
from .share_link import link_to_run, reveal, share_controls, wire_share

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_images"
SAMPLE_LABELS = SAMPLE_DIR / "labels.csv"


def sample_inputs(task_name: str) -> tuple[list[str], str]:
    """The sample images labelled for this task, and the labels file (its `task` column picks the rows)."""
    if not SAMPLE_LABELS.is_file():
        raise gr.Error("The sample images are not installed here: upload images and a labels CSV instead.")
    with SAMPLE_LABELS.open(newline="") as f:
        rows = list(csv.DictReader(f))
    names = list(dict.fromkeys(r["file"] for r in rows if r.get("task") == task_name))
    if not names:
        tasks = ", ".join(TASKS[t].title for t in dict.fromkeys(r["task"] for r in rows) if t in TASKS)
        raise gr.Error(f"The sample images have no labels for this task: choose one of {tasks} in the Task box.")
    return [str(SAMPLE_DIR / n) for n in names], str(SAMPLE_LABELS)


def run_batch_job(uploads, labels_csv, task_name, variable, prompt_a, prompt_b, model_names, mode, workers, keys,
                  extra, catalog: list[ModelSpec], owner: str | None = None):
    """Generator: live progress in the summary, then metrics, confusion matrix, compliance, changes, export."""
    if not uploads:
        raise gr.Error("Upload images (or a .zip of images) first, or press \"Try the sample images\".")
    folder = tempfile.mkdtemp(prefix="workbench-batch-")
    try:
        paths = image_paths([getattr(u, "name", u) for u in uploads], folder)
    except ImageError as e:
        raise gr.Error(str(e)) from None
    task = get_task(task_name)
    variables = {task.variables[0]: variable} if task.variables and variable else None
    yield from _run_and_show(paths, labels_csv, task, variables, prompt_a, prompt_b, model_names, mode, workers,
                             keys, extra, catalog, folder, owner)


def run_sample_batch(task_name, prompt_a, prompt_b, model_names, mode, workers, keys, extra,
                     catalog: list[ModelSpec], owner: str | None = None):
    """The one-click tour: the sample images labelled for the chosen task, with their labels (tags included)."""
    paths, labels = sample_inputs(task_name)
    yield from _run_and_show(paths, labels, get_task(task_name), None, prompt_a, prompt_b, model_names, mode,
                             workers, keys, extra, catalog, tempfile.mkdtemp(prefix="workbench-batch-"), owner)


def _run_and_show(paths, labels, task, variables, prompt_a, prompt_b, model_names, mode, workers, keys, extra,
                  catalog, folder, owner=None):
    if not model_names:
        raise gr.Error("Tick at least one model.")
    prompts = {"v1": prompt_a or task.prompt}
    if prompt_b and prompt_b.strip():
        prompts["v2"] = prompt_b
    specs_by_name = {s.name: s for s in session_specs(catalog, extra)}
    specs = [specs_by_name[n] for n in model_names if n in specs_by_name]
    options = dict(prompts=prompts, variables=variables, labels=labels, keys=keys, workers=int(workers), mode=mode,
                   owner=owner)
    state: dict = {}
    worker = threading.Thread(target=_work, args=(state, paths, task, specs, options), daemon=True)
    worker.start()
    while worker.is_alive():  # the summary is the one progress display (the other outputs hide theirs)
        if (p := state.get("progress")) is not None:
            yield (f"**Running…** {p.describe()}", *[gr.skip()] * 6)
        time.sleep(0.5)
    if "error" in state:
        error = state["error"]
        message = error_message(error, "app") if isinstance(error, WorkbenchError) else \
            f"{type(error).__name__}: {error}"
        raise gr.Error(f"The batch could not run: {message}")
    batch = state["run"]
    evaluation = evaluate_run(batch, db=batch.db)
    summary = "\n".join([f"**Done.** {batch.summary()}", *[f"- {m}" for m in batch.messages],
                         f"\nRun id `{batch.run_id}` — open it later in the History tab."])
    export = export_run(batch.run_id, db=batch.db, path=f"{folder}/{batch.run_id}.csv")
    changes = evaluation.prompt_changes
    compared = gr.update(value=readable(changes.head(200)), visible=len(prompts) > 1)
    # Plain values for the API's outputs; key_results (next) makes the hidden ones visible.
    yield (summary, readable(evaluation.summary), evaluation.figures().get("confusion"),
           readable(evaluation.compliance), compared, str(export), {"run_id": batch.run_id, "db": str(batch.db)})


def _work(state: dict, paths, task, specs, options) -> None:
    try:
        state["run"] = run_batch(paths, task, specs, progress=False, source="app upload",
                                 on_progress=lambda p: state.__setitem__("progress", p), **options)
    except Exception as e:  # noqa: BLE001 — shown to the user, whatever it is
        state["error"] = e


def key_results(ran: dict | None):
    """After a run: the key numbers first, the cost-vs-quality and latency plots beside the confusion matrix, and
    the tables hidden before the run (metrics, compliance) shown."""
    if not ran:
        return (gr.skip(),) * 6
    evaluation = evaluate_run(ran["run_id"], db=ran["db"])
    table = evaluation.summary
    quality = next((q for q in ("accuracy", "mae") if q in table and table[q].notna().any()), "accuracy")
    return (gr.update(value=key_metrics(table), visible=True),
            gr.update(value=plot_cost_vs_quality(table, quality=quality), visible=True),
            gr.update(value=plot_latency(evaluation.results), visible=True), gr.update(visible=True),
            gr.update(visible=True), gr.update(visible=bool(evaluation.confusion)))


def _inputs_column() -> dict:
    uploads = gr.File(label="Images, or a .zip of images", file_count="multiple", file_types=["image", ".zip"],
                      elem_id="batch-uploads")
    labels_csv = gr.File(label="Labels CSV (optional): file,label[,tag]", file_types=[".csv"], type="filepath")
    task = gr.Dropdown([(t.title, t.name) for t in TASKS.values()], value="pothole_severity", label="Task")
    variable = gr.Textbox(label="Tag", visible=False, placeholder="e.g. pothole")
    prompt_a = gr.Textbox(TASKS["pothole_severity"].prompt, label="Prompt v1", lines=5)
    prompt_b = gr.Textbox("", label="Prompt v2 (optional: compare two prompt versions)", lines=3)
    return dict(uploads=uploads, labels_csv=labels_csv, task=task, variable=variable, prompt_a=prompt_a,
                prompt_b=prompt_b)


def _results_block() -> dict:
    hidden = dict(interactive=False, visible=False, elem_classes=["wb-table"])  # no "1 2 3" headers before a run
    summary = gr.Markdown(elem_id="batch-summary")
    key = gr.Dataframe(label="Key metrics per model and prompt version", elem_id="batch-key-metrics", **hidden)
    with gr.Row(equal_height=False):  # the confusion matrix, and beside it the two pictures the notebooks draw
        confusion = gr.Plot(label="Confusion matrix", visible=False, elem_id="batch-confusion", min_width=300)
        with gr.Column(scale=2, min_width=300):
            cost = gr.Plot(label="Cost vs quality", visible=False, elem_id="batch-cost-plot", show_label=False)
            latency = gr.Plot(label="Latency", visible=False, elem_id="batch-latency-plot", show_label=False)
    with gr.Accordion("All metrics, format compliance, changes between prompt versions", open=False):
        metrics = gr.Dataframe(label="Every metric per model and prompt version", **hidden)
        compliance = gr.Dataframe(label="Format compliance (share of each status)", **hidden)
        changes = gr.Dataframe(label="Verdicts that changed between prompt versions", **hidden)
    download = gr.File(label="All results (CSV)")
    share, link = share_controls("batch")
    return dict(summary=summary, key=key, confusion=confusion, cost=cost, latency=latency, metrics=metrics,
                compliance=compliance, changes=changes, download=download, share=share, link=link)


def build_batch_tab(catalog: list[ModelSpec], keys: gr.State, extra: gr.State) -> None:
    """The tab; its Models box follows the session's keys and the models added in the Compare tab."""
    with gr.Tab("Batch & evaluate"):
        with gr.Row():
            with gr.Column():
                i = _inputs_column()
            with gr.Column():
                models = gr.CheckboxGroup(model_choices(catalog, {}), value=[s.name for s in catalog if s.selected],
                                          label="Models", elem_id="batch-models")
                mode = gr.Radio([("Generate an answer", "generate"), ("Score every label", "score")],
                                value="generate", label="Mode")
                workers = gr.Slider(1, 64, value=8, step=1, label="Concurrent calls per server")
                run = gr.Button("Run batch", variant="primary")
                samples = gr.Button("Try the sample images and their labels", elem_id="batch-samples")
        r = _results_block()
        build_recommendation_section()  # its own run picker and handlers: see recommend_section.py
    ran = gr.State(None)
    i["task"].change(task_fields, i["task"], [i["prompt_a"], i["variable"]], api_visibility="private")
    for state in (keys, extra):
        state.change(partial(refreshed_models, catalog), [keys, extra, models], models, api_visibility="private",
                     show_progress="hidden")
    _wire_runs(i, r, dict(models=models, mode=mode, workers=workers, run=run, samples=samples), ran, catalog, keys,
               extra)


def _wire_runs(i: dict, r: dict, c: dict, ran: gr.State, catalog: list[ModelSpec], keys: gr.State,
               extra: gr.State) -> None:
    """Run batch and the sample button (the /batch and /batch_samples endpoints), then key results and the
    Share link button for the run."""
    def batch(uploads, labels_csv, task_name, variable, prompt_a, prompt_b, model_names, mode, workers, keys, extra,
              profile: gr.OAuthProfile | None):
        owner = current_user(profile)  # with sign-in on: only a signed-in user runs, and the run is theirs
        yield from run_batch_job(uploads, labels_csv, task_name, variable, prompt_a, prompt_b, model_names, mode,
                                 workers, keys, extra, catalog, owner)

    def batch_samples(task_name, prompt_a, prompt_b, model_names, mode, workers, keys, extra,
                      profile: gr.OAuthProfile | None):
        owner = current_user(profile)
        yield from run_sample_batch(task_name, prompt_a, prompt_b, model_names, mode, workers, keys, extra, catalog,
                                    owner)

    outputs = [r["summary"], r["metrics"], r["confusion"], r["compliance"], r["changes"], r["download"], ran]
    shown = dict(concurrency_id="batch", concurrency_limit=1, show_progress_on=[r["summary"]])
    after = [r["key"], r["cost"], r["latency"], r["metrics"], r["compliance"], r["confusion"]]
    common = [i["prompt_a"], i["prompt_b"], c["models"], c["mode"], c["workers"], keys, extra]
    for button, fn, inputs, name in ((c["run"], batch, [i["uploads"], i["labels_csv"], i["task"], i["variable"]],
                                      "batch"), (c["samples"], batch_samples, [i["task"]], "batch_samples")):
        button.click(reveal, None, [r["share"], r["link"]], api_visibility="private", queue=False)
        button.click(fn, [*inputs, *common], outputs, api_name=name, **shown).success(
            key_results, ran, after, api_visibility="private").success(
            reveal, ran, [r["share"], r["link"]], api_visibility="private")

    def share_run(ran, profile: gr.OAuthProfile | None):
        return link_to_run(ran and ran["run_id"], profile, ran and ran["db"])

    wire_share(r["share"], r["link"], share_run, ran)
