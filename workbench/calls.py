"""Run one image through one or many models; every model gets a Result, whatever happens to the others."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable

from .backends import Availability, get_backend
from .errors import BackendError, ConfigError
from .images import load_image
from .lifecycle import MODES, CallPlan, call, prompt_hash
from .models import ModelSpec, resolve_models
from .results import Result
from .tasks import Task, get_task

if TYPE_CHECKING:
    import pandas as pd


def availability(spec: ModelSpec, keys: dict[str, str] | None = None) -> Availability:
    try:
        return get_backend(spec.backend).availability(spec, keys)
    except BackendError as e:
        return Availability("unknown", str(e))


__all__ = ["MODES", "availability", "compare", "compare_results", "prompt_hash", "run_model"]


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
    image = load_image(image)
    plan = CallPlan.of(image, task, spec, text, mode=mode, variables=variables, keys=keys, max_tokens=max_tokens,
                       temperature=temperature, max_edge=max_edge, detail=detail,
                       reasoning_effort=_effort(reasoning_effort))
    return call(plan, image, on_text)


def _effort(value: str | None) -> str | None:
    if value in (None, "", "low", "medium", "high"):
        return value or None
    raise ConfigError(f"reasoning_effort {value!r} — use low, medium or high (or leave it unset)")


def compare_results(image, task: str | Task = "ask", models=None, **options) -> list[Result]:
    """Run every model concurrently on one image; results come back in the order the models were given."""
    task = get_task(task)
    specs = resolve_models(models)
    task.render(options.get("prompt"), options.get("variables"))  # raise on a bad prompt before any call
    image = load_image(image)
    with ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
        futures = [pool.submit(run_model, image, task, spec, **options) for spec in specs]
        return [f.result() for f in futures]


def compare(image, task: str | Task = "ask", models=None, **options) -> "pd.DataFrame":
    """`workbench.compare(image, task="pothole_severity", models=[...])` → one DataFrame row per model."""
    import pandas as pd

    frame = pd.DataFrame([r.to_row() for r in compare_results(image, task, models, **options)])
    # Nullable integers: a failed call has no token counts, and that must not turn 512 into 512.0.
    return frame.astype({"input_tokens": "Int64", "output_tokens": "Int64"})
