"""The task registry. Adding a task is one module with a TASK and one line here — or `register_task(task)`."""
from __future__ import annotations

import json

from ..errors import ConfigError
from . import ask, moderation, pii_detection, pothole_severity, tag_rating
from .base import KINDS, Task

TASKS: dict[str, Task] = {t.name: t for t in (moderation.TASK, pii_detection.TASK, tag_rating.TASK,
                                               pothole_severity.TASK, ask.TASK)}
BUILT_IN = frozenset(TASKS)


def get_task(task: str | Task) -> Task:
    if isinstance(task, Task):
        return task
    try:
        return TASKS[task]
    except KeyError:
        raise ConfigError(f"unknown task {task!r} — choose one of: {', '.join(TASKS)}, or add yours with "
                          "workbench.register_task(Task(...))") from None


def register_task(task: Task) -> Task:
    """Add a task (or replace a task of yours registered earlier under its name); returns it.

    A built-in task's name cannot be given another definition: name your variant differently."""
    if not isinstance(task, Task):
        raise ConfigError(f"register_task takes a workbench.Task, not a {type(task).__name__}")
    current = TASKS.get(task.name)
    if current is not None and task.name in BUILT_IN and current != task:
        raise ConfigError(f"{task.name!r} is a built-in task with another definition — register yours under a "
                          f"new name, e.g. dataclasses.replace(task, name='{task.name}_custom')")
    TASKS[task.name] = task
    return task


def task_for_run(name: str, definition: dict | None) -> Task:
    """The task a stored run was made with: the registered one when its definition is the stored one (it keeps
    its code hooks), else rebuilt from the stored definition; a store without definitions finds it by name."""
    if definition is None:
        return get_task(name)
    registered = TASKS.get(name)
    if registered is not None and _same(registered.definition(), definition):
        return registered
    return Task.from_definition(definition)


def _same(a: dict, b: dict) -> bool:
    """Equal as stored JSON (a tuple and a list of the same labels are the same definition)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


__all__ = ["BUILT_IN", "KINDS", "TASKS", "Task", "get_task", "register_task", "task_for_run"]
