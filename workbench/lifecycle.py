"""One call's lifecycle, for every surface (a single call, a comparison, the playground, a batch lane):

    plan = CallPlan.of(image, task, spec, prompt_text, mode="generate", ...)   # what is asked, of whom
    outcome = attempt(plan, backend, request)     # one try: a Reply or ScoreReply, or it raises
    result = settle(plan, outcome, elapsed=...)   # a reply, a score reply or an exception → a Result

Retries wrap `attempt` and act on the exception it raised; a Result is only ever made once, by `settle`.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from .backends import (Availability, Backend, Capabilities, ChatRequest, Reply, ScoreReply, ScoreUnavailable,
                       get_backend)
from .errors import BackendError, ConfigError, WorkbenchError
from .keys import resolve_key
from .parsing import parse_reply
from .redact import redact
from .results import Result
from .scoring import fill_scores, score_questions, why_not_scorable

if TYPE_CHECKING:
    from .images import LoadedImage
    from .models import ModelSpec
    from .tasks import Task

MODES = ("generate", "score")  # generate text and parse it | read a probability for every allowed label


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r} — use one of: {', '.join(MODES)}")
    return mode


@dataclass
class CallPlan:
    """Everything one call needs, decided before it is made: task, model, rendered prompt, image, parameters."""

    task: "Task"
    spec: "ModelSpec"
    prompt: str  # rendered
    prompt_hash: str
    image_source: str
    image_hash: str
    mode: str = "generate"
    max_tokens: int = 512
    temperature: float = 0.0
    max_edge: int | None = None
    detail: str | None = None
    variables: dict | None = None
    keys: dict[str, str] | None = field(default=None, repr=False)
    images: int = 1
    reasoning_effort: str | None = None  # low | medium | high; None: the models file's, if any
    questions: dict | None = None  # set by `attempt` in score mode: the questions asked
    fallback: str | None = None  # set by `attempt`: why score mode answered in generate mode
    score_note: str | None = None  # set by `attempt`: score mode asked the task's questions, not a custom prompt
    batch_api: float | None = None  # sent through a provider's Batch API: the factor on the list price (0.5)

    @property
    def answered_in(self) -> str:
        return "generate" if self.mode == "generate" or self.fallback else "score"

    @classmethod
    def of(cls, image: "LoadedImage", task: "Task", spec: "ModelSpec", prompt: str, *, mode: str = "generate",
           prompt_hash_: str | None = None, **params) -> "CallPlan":
        return cls(task, spec, prompt, prompt_hash_ or prompt_hash(prompt), image.source, image.sha256,
                   check_mode(mode), **params)

    @property
    def secret(self) -> str | None:
        """The key this call uses, so that no message or raw text can carry it."""
        return resolve_key(self.spec.resolved_key_env, self.keys)

    def request(self, images: list, capabilities: Capabilities,
                on_text: Callable[[str], None] | None = None) -> ChatRequest:
        return ChatRequest(prompt=self.prompt, images=images, max_tokens=self.max_tokens,
                           temperature=self.temperature, max_edge=self.max_edge,
                           detail=self.detail or self.spec.detail,
                           json_schema=self.task.json_schema() if capabilities.json_schema else None,
                           on_text=on_text if capabilities.streaming else None,
                           reasoning_effort=self.reasoning_effort or self.spec.reasoning_effort)

    def blocked(self, backend: Backend) -> Availability | None:
        """Why no call can succeed now (a missing key, a missing package, no image input), or None."""
        if not backend.capabilities(self.spec).images:
            return Availability("unsupported", f"{self.spec.name} does not take images")
        status = backend.availability(self.spec, self.keys)
        return None if status.runnable else status


# --- one try ------------------------------------------------------------------------------------------------


def attempt(plan: CallPlan, backend: Backend, request: ChatRequest, spec: "ModelSpec | None" = None):
    """One try, in this thread: a Reply or a ScoreReply; raises the backend's error. `spec`: the one to send with
    (a batch turns the SDK's own retries off), default the plan's."""
    spec = spec or plan.spec
    if plan.mode == "score" and (questions := _score_questions(plan, backend)) is not None:
        try:
            return backend.score(spec, request, questions, plan.keys)
        except ScoreUnavailable as e:
            plan.fallback = f"label probabilities not available: {e}"
    return backend.chat(spec, request, plan.keys)


async def attempt_async(plan: CallPlan, backend: Backend, request: ChatRequest, spec: "ModelSpec | None" = None):
    """`attempt` on an event loop: `achat` (a coroutine for HTTP backends, a thread otherwise). Score mode runs
    whole in a thread with the plan's own spec: outside the batch's shared clients, so with the SDK's retries."""
    if plan.mode == "score":
        return await asyncio.to_thread(attempt, plan, backend, request)
    return await backend.achat(spec or plan.spec, request, plan.keys)


def _score_questions(plan: CallPlan, backend: Backend) -> dict | None:
    """The questions score mode asks, or None (with the reason in plan.fallback) when it cannot ask them."""
    plan.fallback = plan.score_note = None
    why_not = why_not_scorable(plan.task, plan.spec, backend)
    if why_not is None:
        try:
            questions, note = score_questions(plan.task, plan.prompt, plan.variables)
        except ConfigError as e:  # a custom prompt hid the task's variables, and none were passed
            why_not = f"score mode could not word its questions: {e}"
        else:
            plan.score_note, plan.questions = note, questions
            return questions
    plan.fallback = why_not
    return None


def call(plan: CallPlan, image: "LoadedImage", on_text: Callable[[str], None] | None = None) -> Result:
    """Plan → Result for one call made here and now (no retries beyond the backend's own)."""
    started = time.perf_counter()
    try:
        backend = get_backend(plan.spec.backend)
        request = plan.request([image], backend.capabilities(plan.spec), on_text)
        outcome = plan.blocked(backend) or attempt(plan, backend, request)
    except Exception as e:  # noqa: BLE001 — typed or not, the failure belongs to this model's result only
        outcome = e
    return settle(plan, outcome, elapsed=time.perf_counter() - started)


# --- the Result ---------------------------------------------------------------------------------------------


def failure(kind: str, message: str) -> BackendError:
    """A typed failure made by the engine itself (an image it could not read, a lane stopped after bad keys)."""
    error = BackendError(message)
    error.kind = kind
    return error


def settle(plan: CallPlan, outcome, *, elapsed: float | None = None) -> Result:
    """The one place a Result is made: from a Reply, a ScoreReply, an unrunnable Availability or an exception."""
    result = Result(model=plan.spec.name, model_id=plan.spec.model, backend=plan.spec.backend, task=plan.task.name,
                    status="error", image=plan.image_source, image_hash=plan.image_hash,
                    prompt_hash=plan.prompt_hash, mode=plan.answered_in)
    if isinstance(outcome, Reply):
        _from_reply(result, plan, outcome, elapsed)
    elif isinstance(outcome, ScoreReply):
        fill_scores(result, plan, outcome)
        result.cost, result.cost_source = cost_of(plan.spec, outcome, plan.images)
    elif isinstance(outcome, Availability):
        result.error_type, result.error = outcome.status, outcome.message
    else:
        _from_error(result, plan, outcome, elapsed)
    if plan.fallback:
        result.metrics["score_note"] = plan.fallback + " — answered in generate mode"
    elif plan.score_note and result.ok:
        result.metrics["score_note"] = plan.score_note
    return result


def _from_reply(result: Result, plan: CallPlan, reply: Reply, elapsed: float | None) -> None:
    task, secret = plan.task, plan.secret
    parsed = parse_reply(task, reply.text, reply.finish_reason)
    result.status, result.output, result.error = parsed.status, parsed.output, parsed.error
    if parsed.status not in ("ok", "repaired", "invalid_output", "refused", "empty"):
        result.error_type = parsed.status
    result.label = task.verdict(parsed.output)
    result.raw_text = redact(reply.text, [secret]) or ""
    result.finish_reason = reply.finish_reason
    result.latency_s = reply.latency_s or elapsed
    result.time_to_first_token_s = reply.time_to_first_token_s
    result.input_tokens, result.output_tokens = reply.input_tokens, reply.output_tokens
    result.metrics = dict(reply.metrics)
    if reply.sent_image_bytes is not None:
        result.metrics["sent_image_bytes"] = reply.sent_image_bytes
    result.cost, result.cost_source = cost_of(plan.spec, reply, plan.images)
    if plan.batch_api is not None and result.cost_source == "estimated":
        result.cost *= plan.batch_api
        result.cost_source = f"estimated (batch API −{round((1 - plan.batch_api) * 100)} %)"


def _from_error(result: Result, plan: CallPlan, error: BaseException, elapsed: float | None) -> None:
    """A typed failure with the key redacted; text streamed before the failure is kept as raw output."""
    secret = plan.secret
    if isinstance(error, WorkbenchError):
        result.error_type, result.error = error.kind, redact(str(error), [secret])
    else:  # a bug in one backend must not sink a comparison or a batch
        result.error_type, result.error = "internal", redact(f"{type(error).__name__}: {error}", [secret])
    partial = error.partial_text if isinstance(error, BackendError) else None
    result.raw_text = redact(partial or "", [secret]) or ""
    result.latency_s = elapsed
    if isinstance(error, BackendError):
        result.failure = error.with_traceback(None)  # no traceback: it would keep frames alive


def cost_of(spec: "ModelSpec", reply: Reply | ScoreReply, images: int) -> tuple[float | None, str | None]:
    if reply.reported_cost is not None:
        return reply.reported_cost, "reported"
    from .costs import call_cost

    cost = call_cost(price_of(spec), reply.input_tokens, reply.output_tokens, images=images, seconds=reply.latency_s)
    return cost, ("estimated" if cost is not None else None)


def price_of(spec: "ModelSpec"):
    """The model's price (list price, the models file's override on top); looked up once per model, since a batch
    prices every call."""
    # is_local follows from provider, backend and local: the key holds those, not the property (a preset lookup)
    key = (spec.model, spec.provider, spec.backend, spec.local, spec.price.model_dump_json() if spec.price else None)
    if key not in _PRICES:
        from .costs import lookup_price

        override = spec.price.model_dump(exclude_none=True) if spec.price else None
        _PRICES[key] = lookup_price(spec.model, override, local=spec.is_local, provider=spec.provider)
    return _PRICES[key]


_PRICES: dict[tuple, object] = {}  # prices do not change while a process runs (the database is a pinned snapshot)
