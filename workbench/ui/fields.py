"""UI pieces both the Compare and the Batch tab use."""
from __future__ import annotations

import gradio as gr

from ..calls import availability
from ..models import ModelSpec
from ..tasks import get_task


def model_choices(specs: list[ModelSpec], keys: dict | None) -> list[tuple[str, str]]:
    """Checkbox labels that say whether each model can run now, and why not."""
    choices = []
    for spec in specs:
        status = availability(spec, keys)
        note = "ready" if status.ready else f"{status.status}: {status.message}"
        choices.append((f"{spec.name} — {note}", spec.name))
    return choices


def task_fields(task_name: str):
    """When the task changes: its default prompt, and the variable box (tag, question) it needs."""
    task = get_task(task_name)
    variable = task.variables[0] if task.variables else None
    return (gr.update(value=task.prompt),
            gr.update(visible=variable is not None, label=(variable or "").capitalize(),
                      value=task.examples.get(variable, "") if variable else ""))
