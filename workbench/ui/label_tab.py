"""The "Label" tab: a run's images one at a time, the models' answers beside each, one click or key per label.

The queue's order (models disagree first, then the least sure best model) is fixed when the run is opened, so
Next and Back walk a stable list; a label stored moves to the next image. Everything a visitor does lives in
their own gr.State: two people labelling through a shared link never see each other's place or keys.
"""
from __future__ import annotations

import os
import tempfile
from functools import partial

import gradio as gr
import pandas as pd

from ..errors import WorkbenchError
from ..evaluate import evaluate_run
from ..labels import allowed_labels, export_labels, label_queue, set_label, top_probability
from ..store import list_runs, open_run
from ..store.labels import variables_key
from .access import current_user

MAX_BUTTONS = 9
METRIC_COLUMNS = ("model", "prompt_version", "n", "labelled", "accuracy", "macro_f1", "mae", "qwk")
PREVIEW_EDGE = 768
# Keys 1..9 (or the label itself when every label is one character, as ratings are) press the label's button;
# arrows walk the queue. Installed once per page, ignored while typing in a box.
KEYS_JS = """() => {
  if (window.wbLabelKeys) return;
  window.wbLabelKeys = true;
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey || (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT']
        .includes(t.tagName)))) return;
    const panel = document.getElementById('label-panel');
    if (!panel || panel.offsetParent === null) return;
    const press = (id) => { const b = document.getElementById(id); if (b) { b.click(); e.preventDefault(); } };
    if (e.key === 'ArrowRight') return press('label-next');
    if (e.key === 'ArrowLeft') return press('label-back');
    for (const b of panel.querySelectorAll('.wb-label-button button, button.wb-label-button')) {
      if (b.offsetParent !== null && b.innerText.trim().startsWith(e.key + ' ·')) { b.click(); e.preventDefault(); return; }
    }
  });
}"""


def run_choices(profile: gr.OAuthProfile | None = None):
    """The store's runs for a Run box; with sign-in on, the signed-in user's only."""
    runs = list_runs(limit=200, owner=current_user(profile))
    choices = [(f"{r.run_id} · {r.task} · {r.items} images", r.run_id) for r in runs.itertuples()]
    return gr.update(choices=choices, value=choices[0][1] if choices else None)


def _keys(labels: tuple[str, ...]) -> list[str]:
    if all(len(x) == 1 for x in labels):
        return list(labels)
    return [str(i + 1) for i in range(len(labels))]


def _preview(path: str):
    """The image, shrunk for the page; None (and the path in the caption) when it cannot be read any more."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.thumbnail((PREVIEW_EDGE, PREVIEW_EDGE))
            return image.convert("RGB")
    except (OSError, ValueError):
        return None


def _metrics(run_id: str) -> pd.DataFrame:
    """Per model and prompt version: how many items carry a label now, and the quality metrics they unlock."""
    summary = evaluate_run(run_id).summary
    return summary[[c for c in METRIC_COLUMNS if c in summary]].round(3)


def _answer_rows(results: pd.DataFrame, path: str, vkey: str) -> list[dict]:
    rows = []
    mine = results[(results["image_path"] == path) & (results["variables"].map(variables_key) == vkey)]
    for r in mine.itertuples():
        top = top_probability(r.probabilities)
        rows.append({"model": r.model if r.prompt_version == "default" else f"{r.model} ({r.prompt_version})",
                     "answer": r.label if isinstance(r.label, str) else f"— ({r.status})",
                     "top probability": "—" if top is None else f"{top:.2f}"})
    return rows


def open_label_run(run_id: str | None):
    """A fresh session state for the run: its queue (order fixed now), the task's labels, position 0."""
    if not run_id:
        raise gr.Error("Choose a run first (press Refresh if the list is empty).")
    try:
        queue, results = label_queue(run_id), open_run(run_id)
        labels = allowed_labels(run_id)
    except WorkbenchError as e:
        raise gr.Error(str(e)) from None
    items = [{"image_path": q.image_path, "variables": q.variables, "label": q.label, "who": q.who,
              "disagree": bool(q.disagree), "answers": _answer_rows(results, q.image_path, variables_key(q.variables))}
             for q in queue.itertuples()]
    state = {"run_id": str(results["run_id"].iloc[0]) if len(results) else run_id, "items": items, "pos": 0,
             "labels": list(labels)}
    return (state, *_view(state), _metrics(state["run_id"]))


def _view(state: dict) -> tuple:
    """Image, caption, answers table and the label buttons for the item at the state's position."""
    items, labels = state["items"], state["labels"]
    if not items:
        return (None, "This run has no results to label.", pd.DataFrame(), *[gr.update(visible=False)] * MAX_BUTTONS)
    item = items[state["pos"]]
    done = sum(i["label"] is not None for i in items)
    tags = ", ".join(f"{k}: {v}" for k, v in item["variables"].items())
    caption = (f"**Image {state['pos'] + 1} of {len(items)}** · {done} labelled · "
               + ("models disagree" if item["disagree"] else "models agree")
               + (f" · {tags}" if tags else "") + f"\n\n`{os.path.basename(item['image_path'])}` — label: **"
               + (f"{item['label']}** (by {item['who']})" if item["who"] else f"{item['label'] or 'none yet'}**"))
    if not labels:
        caption += "\n\nThis task's answers are free text: set labels with `workbench.set_label`."
    buttons = [gr.update(visible=n < len(labels), value=f"{key} · {labels[n]}" if n < len(labels) else "",
                         variant="primary" if n < len(labels) and labels[n] == item["label"] else "secondary")
               for n, key in enumerate((_keys(tuple(labels)) + [""] * MAX_BUTTONS)[:MAX_BUTTONS])]
    return (_preview(item["image_path"]), caption, pd.DataFrame(item["answers"]), *buttons)


def step(delta: int, state: dict | None):
    if not state or not state["items"]:
        raise gr.Error("Open a run first.")
    state = {**state, "pos": min(max(state["pos"] + delta, 0), len(state["items"]) - 1)}
    return (state, *_view(state))


def labeller(n: int):
    """The click handler of the n-th label button (a closure, not a partial: gradio finds gr.Request by its
    annotation, which a partial hides)."""

    def handler(state: dict | None, request: gr.Request):
        return label_nth(n, state, request)

    return handler


def label_nth(n: int, state: dict | None, request: gr.Request | None):
    """Store the n-th label for the current image (who: the signed-in user, else anonymous), then move on."""
    if not state or not state["items"]:
        raise gr.Error("Open a run first.")
    item = state["items"][state["pos"]]
    who = (request.username if request is not None else None) or "anonymous"
    try:
        stored = set_label(state["run_id"], item["image_path"], state["labels"][n], who=who,
                           variables=item["variables"])
    except WorkbenchError as e:
        raise gr.Error(str(e)) from None
    items = [dict(i) for i in state["items"]]
    items[state["pos"]].update(label=stored, who=who)
    state = {**state, "items": items, "pos": min(state["pos"] + 1, len(items) - 1)}
    return (state, *_view(state), _metrics(state["run_id"]))


def export_clicked(state: dict | None) -> str:
    if not state:
        raise gr.Error("Open a run first.")
    folder = tempfile.mkdtemp(prefix="workbench-labels-")
    return str(export_labels(state["run_id"], f"{folder}/labels-{state['run_id']}.csv"))


def build_label_tab() -> None:
    """The tab; its state (run, queue, position) is per browser session."""
    with gr.Tab("Label") as tab:
        state = gr.State(None)
        with gr.Row():
            run_id = gr.Dropdown(label="Run", choices=[], allow_custom_value=True, elem_id="label-run", scale=4)
            refresh = gr.Button("Refresh", size="sm", scale=1)
            open_button = gr.Button("Open run", variant="primary", elem_id="label-open", scale=1)
        with gr.Column(elem_id="label-panel"):
            caption = gr.Markdown(elem_id="label-caption")
            with gr.Row():
                image = gr.Image(label="Image", type="pil", interactive=False, height=360, elem_id="label-image")
                answers = gr.Dataframe(label="The models' answers", interactive=False, elem_id="label-answers")
            gr.Markdown("Set the true label: click, or press its key (← → walk the queue).")
            with gr.Row(elem_id="label-buttons"):
                buttons = [gr.Button(visible=False, elem_id=f"label-button-{n}", elem_classes="wb-label-button",
                                     min_width=90) for n in range(MAX_BUTTONS)]
            with gr.Row():
                back = gr.Button("← Back", elem_id="label-back", size="sm")
                forward = gr.Button("Next →", elem_id="label-next", size="sm")
        metrics = gr.Dataframe(label="Metrics with the labels so far", interactive=False, elem_id="label-metrics")
        with gr.Row():
            export = gr.Button("Export labels CSV", size="sm")
            download = gr.File(label="Labels CSV (path, label, task): evaluate_run and recommend read it",
                               elem_id="label-download")
        view = [image, caption, answers, *buttons]
        tab.select(run_choices, None, run_id, js=KEYS_JS, api_visibility="private")
        refresh.click(run_choices, None, run_id, api_visibility="private")
        open_button.click(open_label_run, run_id, [state, *view, metrics], api_visibility="private")
        back.click(partial(step, -1), state, [state, *view], api_visibility="private")
        forward.click(partial(step, 1), state, [state, *view], api_visibility="private")
        for n, button in enumerate(buttons):
            button.click(labeller(n), state, [state, *view, metrics], api_visibility="private",
                         concurrency_id="label", show_progress="hidden")
        export.click(export_clicked, state, download, api_visibility="private")
