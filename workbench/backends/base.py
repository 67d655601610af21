"""The backend contract: what every backend declares, what it is asked, and what it returns.

A backend subclasses `Backend` and implements `chat`; everything else has a working default (async through a
thread, batches through a loop, no shared session, no image preparation, no label probabilities). What the call
engine needs to know about a backend is a declared flag in `Capabilities`, never a probe for a method. Backends
receive encoded or decoded images; they never open files. The reply types live here, beside the contract, so no
backend imports from a layer above it.
"""
from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar

from ..errors import BackendError

if TYPE_CHECKING:
    from ..images import LoadedImage
    from ..models import ModelSpec

# Availability states in which no call can succeed: the call is not made, its Result carries the message.
UNRUNNABLE = ("key_missing", "unsupported", "not_installed", "unavailable", "unreachable")


@dataclass(frozen=True)
class Capabilities:
    images: bool = True  # takes images at all; a text-only model gets an `unsupported` Result, not a call
    json_schema: bool = False  # honours response_format={"type": "json_schema", ...}
    logprobs: bool = False  # `score` gives label probabilities (score mode)
    local: bool = False  # runs on this machine or the user's own server ($0 per token)
    streaming: bool = True  # `chat` calls request.on_text as text arrives
    concurrent: bool = False  # `achat` is a real coroutine: many calls in flight on one event loop (HTTP)
    batching: bool = False  # `chat_batch` puts several requests through one forward pass
    encodes_ahead: bool = False  # `prepare_image` returns the request's encoded image (made off the event loop)


@dataclass(frozen=True)
class Availability:
    status: str  # "ready" | "key_missing" | "unreachable" | "unsupported" | "not_installed" | "unavailable" | "unknown"
    message: str = ""

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @property
    def runnable(self) -> bool:
        """False when no call can succeed now; the Result says why instead of calling."""
        return self.status not in UNRUNNABLE


@dataclass
class ChatRequest:
    prompt: str
    images: list["LoadedImage"]
    max_tokens: int = 512
    temperature: float = 0.0
    json_schema: dict | None = None  # {"name": ..., "schema": {...}}; sent only where the backend supports it
    max_edge: int | None = None  # long-edge cap for what is sent (None: backend default)
    detail: str = "auto"  # OpenAI image detail: low | high | auto
    on_text: Callable[[str], None] | None = None  # streaming: called with the text so far
    reasoning_effort: str | None = None  # low | medium | high, for reasoning models that take it; None: not sent


@dataclass
class Reply:
    text: str
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reported_cost: float | None = None  # a figure the provider itself reported (OpenRouter usage.cost)
    latency_s: float = 0.0
    time_to_first_token_s: float | None = None
    sent_image_bytes: int | None = None
    metrics: dict = field(default_factory=dict)  # tokens/s, peak RSS, VRAM ... where the backend measures them


@dataclass
class ScoreReply:
    """What `Backend.score` returns: for every question, a probability per option, summing to 1."""

    probabilities: dict[str, dict[str, float]]  # question → option ("minor", "3", "true") → p
    labels: dict[str, list[str]]  # question → the answer tokens read, one per option
    input_tokens: int | None = None
    latency_s: float = 0.0
    metrics: dict = field(default_factory=dict)
    output_tokens: int = 0  # nothing is generated
    reported_cost: float | None = None


class ScoreUnavailable(BackendError):
    """This model cannot give label probabilities for these questions; score mode falls back to generate mode."""

    kind = "score_unavailable"


class Backend(ABC):
    """Subclass, implement `chat`, declare `capabilities`, and register with `@register_backend("name")`."""

    name: ClassVar[str]

    @abstractmethod
    def chat(self, spec: "ModelSpec", request: ChatRequest, keys: dict[str, str] | None = None) -> Reply:
        """One call. Raise a typed BackendError on failure; never return a half-filled Reply."""

    def capabilities(self, spec: "ModelSpec") -> Capabilities:
        return Capabilities()

    def availability(self, spec: "ModelSpec", keys: dict[str, str] | None = None) -> Availability:
        return Availability("ready")

    async def achat(self, spec: "ModelSpec", request: ChatRequest, keys: dict[str, str] | None = None) -> Reply:
        return await asyncio.to_thread(self.chat, spec, request, keys)

    def chat_batch(self, spec: "ModelSpec", requests: list[ChatRequest], batch_size: int = 8,
                   keys: dict[str, str] | None = None) -> list[Reply | BackendError]:
        """Replies in request order; a failed request comes back as its own BackendError."""
        out: list[Reply | BackendError] = []
        for request in requests:
            try:
                out.append(self.chat(spec, request, keys))
            except BackendError as e:
                out.append(e)
            except Exception as e:  # noqa: BLE001 — one bad item must not sink the others
                out.append(BackendError(f"{spec.name} failed on this item: {type(e).__name__}: {e}"))
        return out

    def score(self, spec: "ModelSpec", request: ChatRequest, questions: dict[str, dict],
              keys: dict[str, str] | None = None) -> ScoreReply:
        raise ScoreUnavailable(f"the {self.name} backend does not return label probabilities")

    def session(self) -> contextlib.AbstractAsyncContextManager:
        """`async with backend.session():` around many `achat` calls (a batch): shared clients, if any."""
        return contextlib.nullcontext()

    def prepare_image(self, image: "LoadedImage", max_edge: int):
        """What the request should carry for `image` at this long edge; declared by `encodes_ahead`."""
        return image

    def lane(self, spec: "ModelSpec") -> str:
        """Calls with the same lane share one concurrency limit in a batch: one per server, one per local device."""
        return self.name

    def for_batch(self, spec: "ModelSpec") -> "ModelSpec":
        """The spec a batch sends with: the batch engine retries and paces calls itself, so a backend with its own
        retries turns them off here."""
        return spec
