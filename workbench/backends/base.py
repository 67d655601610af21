"""What every backend declares and returns. Backends receive encoded images; they never open files."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar, Protocol

if TYPE_CHECKING:
    from ..images import LoadedImage
    from ..models import ModelSpec


@dataclass(frozen=True)
class Capabilities:
    images: bool = True
    json_schema: bool = False  # honours response_format={"type": "json_schema", ...}
    logprobs: bool = False
    local: bool = False
    streaming: bool = True


@dataclass(frozen=True)
class Availability:
    status: str  # "ready" | "key_missing" | "unreachable" | "unsupported" | "not_installed" | "unknown"
    message: str = ""

    @property
    def ready(self) -> bool:
        return self.status == "ready"


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


class Backend(Protocol):
    name: ClassVar[str]

    def capabilities(self, spec: "ModelSpec") -> Capabilities: ...

    def availability(self, spec: "ModelSpec", keys: dict[str, str] | None = None) -> Availability: ...

    def chat(self, spec: "ModelSpec", request: ChatRequest, keys: dict[str, str] | None = None) -> Reply: ...


BACKENDS: dict[str, Callable[[], Backend]] = {}
_INSTANCES: dict[str, Backend] = {}


def register_backend(name: str):
    """Class decorator: `@register_backend("openai")` makes the backend selectable in the models file."""

    def wrap(cls):
        cls.name = name
        BACKENDS[name] = cls
        return cls

    return wrap


def get_backend(name: str) -> Backend:
    from ..errors import ConfigError

    if name not in BACKENDS:
        from . import load_builtin_backends

        load_builtin_backends(name)
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r} — use one of: {', '.join(sorted(BACKENDS))}")
    if name not in _INSTANCES:
        _INSTANCES[name] = BACKENDS[name]()
    return _INSTANCES[name]
