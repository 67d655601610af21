"""Run one image through one or many models; every model gets a Result, whatever happens to the others."""
from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable

from .backends import Availability, ChatRequest, get_backend
from .errors import BackendError, ConfigError
from .images import LoadedImage, load_image
from .keys import resolve_key
from .models import ModelSpec, resolve_models
from .parsing import parse_reply
from .redact import redact
from .results import Result
from .tasks import Task, get_task

if TYPE_CHECKING:
    import pandas as pd


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


def availability(spec: ModelSpec, keys: dict[str, str] | None = None) -> Availability:
    try:
        return get_backend(spec.backend).availability(spec, keys)
    except BackendError as e:
        return Availability("unknown", str(e))


def run_model(image, task: str | Task, model: ModelSpec | str, *, prompt: str | None = None,
              variables: dict | None = None, keys: dict[str, str] | None = None, max_tokens: int = 512,
              temperature: float = 0.0, max_edge: int | None = None, detail: str | None = None,
              on_text: Callable[[str], None] | None = None, mode: str = "generate") -> Result:
    """One call. Bad input (task, prompt variables, image) raises; a failing model returns an error Result.

    mode="generate" asks for text and parses it; mode="score" reads a probability for every allowed label."""
    task = get_task(task)
    spec = resolve_models(model)[0] if not isinstance(model, ModelSpec) else model
    text = task.render(prompt, variables)
    image = load_image(image)
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r} — use one of: {', '.join(MODES)}")
    request = ChatRequest(prompt=text, images=[image], max_tokens=max_tokens, temperature=temperature,
                          max_edge=max_edge, detail=detail or spec.detail, on_text=on_text)
    return MODES[mode](image, task, spec, text, keys, request, variables=variables)


def new_result(image: LoadedImage, task: Task, spec: ModelSpec, text: str) -> Result:
    """The record a call fills in; it starts as an error so that nothing can end without a status."""
    return Result(model=spec.name, model_id=spec.model, backend=spec.backend, task=task.name, status="error",
                  image=image.source, image_hash=image.sha256, prompt_hash=prompt_hash(text))


def failed_result(result: Result, error: Exception, secret: str | None, elapsed: float) -> Result:
    """A typed failure with the key redacted; text streamed before the failure is kept as raw output."""
    if isinstance(error, BackendError):
        result.error_type, result.error = error.kind, redact(str(error), [secret])
    else:  # a bug in one backend must not sink a comparison or a batch
        result.error_type, result.error = "internal", redact(f"{type(error).__name__}: {error}", [secret])
    result.status = "error"
    result.raw_text = redact(getattr(error, "partial_text", "") or "", [secret]) or ""
    result.latency_s = elapsed
    if isinstance(error, BackendError):
        result.failure = error.with_traceback(None)  # see Result; no traceback: it would keep frames alive
    return result


def finish_result(result: Result, task: Task, spec: ModelSpec, reply, images: int, secret: str | None,
                  started: float) -> Result:
    """Parse the reply into the task's schema and record usage, timing and cost."""
    parsed = parse_reply(task, reply.text, reply.finish_reason)
    result.status, result.output, result.error = parsed.status, parsed.output, parsed.error
    if parsed.status not in ("ok", "repaired", "invalid_output", "refused", "empty"):
        result.error_type = parsed.status
    result.label = task.verdict(parsed.output)
    result.raw_text = redact(reply.text, [secret]) or ""
    result.finish_reason = reply.finish_reason
    result.latency_s = reply.latency_s or (time.perf_counter() - started)
    result.time_to_first_token_s = reply.time_to_first_token_s
    result.input_tokens, result.output_tokens = reply.input_tokens, reply.output_tokens
    result.metrics = dict(reply.metrics)
    if reply.sent_image_bytes is not None:
        result.metrics["sent_image_bytes"] = reply.sent_image_bytes
    result.cost, result.cost_source = _cost(spec, reply, images)
    return result


UNRUNNABLE = ("key_missing", "unsupported", "not_installed", "unavailable")


def _call(image: LoadedImage, task: Task, spec: ModelSpec, text: str, keys, request: ChatRequest,
          variables: dict | None = None) -> Result:
    result = new_result(image, task, spec, text)
    secret = resolve_key(spec.resolved_key_env, keys)
    started = time.perf_counter()
    try:
        backend = get_backend(spec.backend)
        status = backend.availability(spec, keys)
        if status.status in UNRUNNABLE:
            result.error_type, result.error = status.status, status.message
            return result
        if backend.capabilities(spec).json_schema:
            request.json_schema = task.json_schema()
        reply = backend.chat(spec, request, keys)
    except Exception as e:  # noqa: BLE001 — typed or not, the failure belongs to this model's result only
        return failed_result(result, e, secret, time.perf_counter() - started)
    return finish_result(result, task, spec, reply, len(request.images), secret, started)


def _score(image: LoadedImage, task: Task, spec: ModelSpec, text: str, keys, request: ChatRequest,
           variables: dict | None = None) -> Result:
    from .scoring import score_call

    return score_call(image, task, spec, text, keys, request, variables)


MODES = {"generate": _call, "score": _score}


def _cost(spec: ModelSpec, reply, images: int) -> tuple[float | None, str | None]:
    if reply.reported_cost is not None:
        return reply.reported_cost, "reported"
    from .costs import call_cost, lookup_price

    override = spec.price.model_dump(exclude_none=True) if spec.price else None
    price = lookup_price(spec.model, override, local=spec.is_local)
    cost = call_cost(price, reply.input_tokens, reply.output_tokens, images=images, seconds=reply.latency_s)
    return cost, ("estimated" if cost is not None else None)


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
