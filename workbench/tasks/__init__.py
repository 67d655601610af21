"""The task registry. Adding a task is one module with a TASK and one line here."""
from __future__ import annotations

from ..errors import ConfigError
from . import ask, moderation, pii_detection, pothole_severity, tag_rating
from .base import Task

TASKS: dict[str, Task] = {t.name: t for t in (moderation.TASK, pii_detection.TASK, tag_rating.TASK,
                                               pothole_severity.TASK, ask.TASK)}


def get_task(task: str | Task) -> Task:
    if isinstance(task, Task):
        return task
    try:
        return TASKS[task]
    except KeyError:
        raise ConfigError(f"unknown task {task!r} — choose one of: {', '.join(TASKS)}") from None


__all__ = ["TASKS", "Task", "get_task"]
