"""The "Batch & evaluate" tab: many images × models × prompt versions, live progress, metrics, download."""
from __future__ import annotations

import tempfile
import threading
import time
from functools import partial

import gradio as gr

from .. import TASKS, ImageError, WorkbenchError, get_task
from ..batch import run_batch
from ..evaluate import evaluate_run
from ..exports import export_run
from ..models import ModelSpec
from ..uploads import image_paths
from ..wording import error_message
from .fields import model_choices, refreshed_models, session_specs, task_fields
from .recommend_section import build_recommendation_section

def run_batch_job(uploads, labels_csv, task_name, variable, prompt_a, prompt_b, model_names, mode, workers, keys,
                  extra, catalog: list[ModelSpec], progress=gr.Progress()):
    """Generator: live progress in the summary, then metrics, confusion matrix, compliance, changes, export."""
    if not uploads:
        raise gr.Error("Upload images (or a .zip of images) first.")
    if not model_names:
        raise gr.Error("Tick at least one model.")
    task = get_task(task_name)
    variables = {task.variables[0]: variable} if task.variables and variable else None
    prompts = {"v1": prompt_a or task.prompt}
    if prompt_b and prompt_b.strip():
        prompts["v2"] = prompt_b
    folder = tempfile.mkdtemp(prefix="workbench-batch-")
    try:
        paths = image_paths([getattr(u, "name", u) for u in uploads], folder)
    except ImageError as e:
        raise gr.Error(str(e)) from None
    specs_by_name = {s.name: s for s in session_specs(catalog, extra)}
    specs = [specs_by_name[n] for n in model_names if n in specs_by_name]
    state: dict = {}

    def work():
        try:
            state["run"] = run_batch(paths, task, specs, prompts=prompts, variables=variables, labels=labels_csv,
                                     keys=keys, workers=int(workers), mode=mode, progress=False,
                                     on_progress=lambda p: state.__setitem__("progress", p), source="app upload")
        except Exception as e:  # noqa: BLE001 — shown to the user below, whatever it is
            state["error"] = e

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    while worker.is_alive():
        p = state.get("progress")
        if p is not None:
            progress(p.fraction, desc=p.describe())
            yield f"**Running…** {p.describe()}", gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        time.sleep(0.5)
    if "error" in state:
        error = state["error"]
        message = error_message(error, "app") if isinstance(error, WorkbenchError) else \
            f"{type(error).__name__}: {error}"
        raise gr.Error(f"The batch could not run: {message}")
    batch = state["run"]
    evaluation = evaluate_run(batch, db=batch.db)
    figures = evaluation.figures()
    changes = evaluation.prompt_changes
    summary = "\n".join([f"**Done.** {batch.summary()}", *[f"- {m}" for m in batch.messages],
                         f"\nRun id `{batch.run_id}` — open it later in the History tab."])
    export = export_run(batch.run_id, db=batch.db, path=f"{folder}/{batch.run_id}.csv")
    compared = gr.update(value=changes.head(200), visible=True) if len(prompts) > 1 else gr.update(visible=False)
    yield (summary, evaluation.summary.round(3), figures.get("confusion"), evaluation.compliance, compared,
           str(export))


def build_batch_tab(catalog: list[ModelSpec], keys: gr.State, extra: gr.State) -> None:
    """The tab; its Models box follows the session's keys and the models added in the Compare tab."""
    with gr.Tab("Batch & evaluate"):
        with gr.Row():
            with gr.Column():
                uploads = gr.File(label="Images, or a .zip of images", file_count="multiple",
                                  file_types=["image", ".zip"], elem_id="batch-uploads")
                labels_csv = gr.File(label="Labels CSV (optional): file,label[,tag]", file_types=[".csv"],
                                     type="filepath")
                task = gr.Dropdown([(t.title, t.name) for t in TASKS.values()], value="pothole_severity",
                                   label="Task")
                variable = gr.Textbox(label="Tag", visible=False, placeholder="e.g. pothole")
                prompt_a = gr.Textbox(TASKS["pothole_severity"].prompt, label="Prompt v1", lines=5)
                prompt_b = gr.Textbox("", label="Prompt v2 (optional: compare two prompt versions)", lines=3)
            with gr.Column():
                models = gr.CheckboxGroup(model_choices(catalog, {}),
                                          value=[s.name for s in catalog if s.selected], label="Models",
                                          elem_id="batch-models")
                mode = gr.Radio([("Generate an answer", "generate"), ("Score every label", "score")],
                                value="generate", label="Mode")
                workers = gr.Slider(1, 64, value=8, step=1, label="Concurrent calls per server")
                run = gr.Button("Run batch", variant="primary")
        summary = gr.Markdown(elem_id="batch-summary")
        metrics = gr.Dataframe(label="Metrics per model and prompt version", interactive=False)
        confusion = gr.Plot(label="Confusion matrix")
        compliance = gr.Dataframe(label="Format compliance (share of each status)", interactive=False)
        changes = gr.Dataframe(label="Verdicts that changed between prompt versions", interactive=False)
        download = gr.File(label="All results (CSV)")
        build_recommendation_section()  # its own run picker and handlers: see recommend_section.py

        task.change(task_fields, task, [prompt_a, variable], api_visibility="private")
        for state in (keys, extra):
            state.change(partial(refreshed_models, catalog), [keys, extra, models], models, api_visibility="private",
                         show_progress="hidden")
        run.click(partial(run_batch_job, catalog=catalog),
                  [uploads, labels_csv, task, variable, prompt_a, prompt_b, models, mode, workers, keys, extra],
                  [summary, metrics, confusion, compliance, changes, download], api_name="batch",
                  concurrency_id="batch", concurrency_limit=1)

