"""One model on one image: `run_model` (bad input raises, a failing model returns an error Result), and whether a
model can run now. Several models at once: workbench.comparison."""
from __future__ import annotations

from typing import Callable

from .backends import Availability, get_backend
from .errors import BackendError, ConfigError
from .images import DEFAULT_MAX_EDGE, load_image
from .lifecycle import MODES, CallPlan, call, prompt_hash
from .models import ModelSpec, resolve_models
from .results import Result
from .tasks import Task, get_task


def availability(spec: ModelSpec, keys: dict[str, str] | None = None) -> Availability:
    try:
        return get_backend(spec.backend).availability(spec, keys)
    except BackendError as e:
        return Availability("unknown", str(e))


def sent_edge(max_edge: int | None, spec: ModelSpec) -> int:
    """The long edge a backend sends the image at (the rule they all apply): what `load_image` may decode to."""
    return max_edge or spec.max_edge or DEFAULT_MAX_EDGE


__all__ = ["MODES", "availability", "prompt_hash", "run_model"]  # comparisons: workbench.comparison


def run_model(image, task: str | Task, model: ModelSpec | str, *, prompt: str | None = None,
              variables: dict | None = None, keys: dict[str, str] | None = None, max_tokens: int = 512,
              temperature: float = 0.0, max_edge: int | None = None, detail: str | None = None,
              on_text: Callable[[str], None] | None = None, mode: str = "generate",
              reasoning_effort: str | None = None) -> Result:
    """One call. Bad input (task, prompt variables, image, mode) raises; a failing model returns an error Result.

    mode="generate" asks for text and parses it; mode="score" reads a probability for every allowed label.
    reasoning_effort (low | medium | high) overrides the models file's, for reasoning models that take it."""
    task = get_task(task)
    spec = resolve_models(model)[0] if not isinstance(model, ModelSpec) else model
    text = task.render(prompt, variables)
    image = load_image(image, max_edge=sent_edge(max_edge, spec))
    plan = CallPlan.of(image, task, spec, text, mode=mode, variables=variables, keys=keys, max_tokens=max_tokens,
                       temperature=temperature, max_edge=max_edge, detail=detail,
                       reasoning_effort=_effort(reasoning_effort))
    return call(plan, image, on_text)


def _effort(value: str | None) -> str | None:
    if value in (None, "", "low", "medium", "high"):
        return value or None
    raise ConfigError(f"reasoning_effort {value!r} — use low, medium or high (or leave it unset)")
