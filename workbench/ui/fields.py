"""UI pieces both the Compare and the Batch tab use."""
from __future__ import annotations

import gradio as gr

from ..calls import availability
from ..models import ModelSpec
from ..tasks import get_task
from ..wording import reworded

# Tables keep their headers and cells on one line and scroll sideways inside their frame, instead of squeezing
# every column until a header reads one letter per line.
APP_CSS = """
.wb-table th, .wb-table th *, .wb-table td, .wb-table td * {
  white-space: nowrap !important; word-break: normal !important; }
.wb-warning.prose { border: 1px solid #d4a72c; background: #fff8c5; border-radius: 8px; padding: 8px 12px; }
.wb-warning.prose * { color: #3b2300 !important; }
"""


def session_specs(catalog: list[ModelSpec], extra: list[dict] | None) -> list[ModelSpec]:
    """The models file's models plus the ones added in this browser session (kept as dicts in gr.State)."""
    return [*catalog, *(ModelSpec(**e) for e in extra or [])]


def model_choices(specs: list[ModelSpec], keys: dict | None) -> list[tuple[str, str]]:
    """Checkbox labels that say whether each model can run now, and why not."""
    choices = []
    for spec in specs:
        status = availability(spec, keys)
        if status.ready:  # a first download is said with its size: nothing else is, before anything runs
            note = status.message if status.message.startswith("downloads on first use") else "ready"
        else:
            note = f"{status.status}: {reworded(status.message, 'app')}"
        choices.append((f"{spec.name} — {note}", spec.name))
    return choices


def refreshed_models(catalog: list[ModelSpec], keys: dict | None, extra: list[dict] | None, ticked: list[str]):
    """The Models box relabelled for the session's keys and added models; ticks kept where the model still is."""
    specs = session_specs(catalog, extra)
    names = {s.name for s in specs}
    return gr.update(choices=model_choices(specs, keys), value=[n for n in ticked or [] if n in names])


def task_fields(task_name: str):
    """When the task changes: its default prompt, and the variable box (tag, question) it needs."""
    task = get_task(task_name)
    variable = task.variables[0] if task.variables else None
    return (gr.update(value=task.prompt),
            gr.update(visible=variable is not None, label=(variable or "").capitalize(),
                      value=task.examples.get(variable, "") if variable else ""))

