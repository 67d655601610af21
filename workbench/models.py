"""The models to compare: one readable TOML file, plus environment overrides."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .providers import PROVIDERS, Provider
from .py310 import tomllib

DEFAULT_MODELS_FILE = Path(__file__).with_name("default_models.toml")
DEFAULT_LOCAL_MODEL = "HuggingFaceTB/SmolVLM-256M-Instruct"


class PriceOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input_per_m: float | None = None
    output_per_m: float | None = None
    per_image: float | None = None
    gpu_hour_usd: float | None = None
    source: str = "models file"
    as_of: str = ""


class ModelSpec(BaseModel):
    """One entry of the models file: a model, the backend that runs it and how to reach it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    backend: str = "openai"
    model: str = Field(min_length=1)
    provider: str | None = None
    base_url: str | None = None
    key_env: str | None = None
    price: PriceOverride | None = None
    quantization: Literal["4bit", "8bit"] | None = None
    device: str = "auto"
    dtype: str = "auto"
    max_edge: int | None = Field(default=None, gt=0)
    detail: Literal["low", "high", "auto"] = "auto"
    timeout: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    json_schema: bool | None = None
    reasoning_effort: Literal["low", "medium", "high"] | None = None  # sent only when set: for models that take it
    selected: bool = False  # ticked by default in the app
    local: bool | None = None  # runs on your own hardware ($0 per token); None: decided by backend / provider

    @property
    def preset(self) -> Provider | None:
        return PROVIDERS.get(self.provider or "")

    @property
    def resolved_base_url(self) -> str | None:
        return self.base_url or (self.preset.base_url if self.preset else None)

    @property
    def resolved_key_env(self) -> str | None:
        return self.key_env or (self.preset.key_env if self.preset else None)

    @property
    def is_local(self) -> bool:
        """Runs on hardware the user owns: priced by time (optional $/GPU-hour), not per token.

        A custom URL is not assumed local (it may be a proxy to a paid API): set `local = true` for it."""
        if self.local is not None:
            return self.local
        return self.backend in ("transformers", "mlx") or bool(self.preset and self.preset.self_hosted)


def _read(path: Path) -> list[ModelSpec]:
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"models file {path} does not exist — create it or unset WORKBENCH_MODELS") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"models file {path} is not valid TOML: {e}") from None
    for key in data:
        if key != "models":
            table = isinstance(data[key], (dict, list))
            raise ConfigError(f"{path}, line {_line_of(text, key, table=table)}: unknown table or key {key!r}"
                              f"{_did_you_mean(key, ['models'])} — each model is a [[models]] table")
    entries = data.get("models", [])
    if not entries:
        raise ConfigError(f"{path} has no models — add at least one [[models]] table with a name and a model "
                          "(see workbench/default_models.toml for examples)")
    specs = [_entry(path, text, i, entry) for i, entry in enumerate(entries)]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: model names must be unique, found duplicates in {names}")
    return specs


def _entry(path: Path, text: str, i: int, entry: dict) -> ModelSpec:
    where = entry.get("name", f"entry {i + 1}")
    unknown = [k for k in entry if k not in ModelSpec.model_fields]
    if unknown:
        key = unknown[0]
        raise ConfigError(f"{path}, line {_line_of(text, key, after=i)}: model {where!r} has an unknown key {key!r}"
                          f"{_did_you_mean(key, list(ModelSpec.model_fields))} — the keys a model takes are: "
                          f"{', '.join(ModelSpec.model_fields)}")
    try:
        spec = ModelSpec(**entry)
    except ValidationError as e:
        raise ConfigError(f"{path}: model {where!r} is invalid: {_first_error(e)}") from None
    if spec.provider and spec.provider not in PROVIDERS:
        raise ConfigError(f"{path}: model {spec.name!r} names unknown provider {spec.provider!r}"
                          f"{_did_you_mean(spec.provider, list(PROVIDERS))} — use one of: {', '.join(PROVIDERS)}")
    return spec


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"


def _did_you_mean(word: str, valid: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, valid, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _line_of(text: str, key: str, after: int | None = None, table: bool = False) -> int | str:
    """The line where `key` is set or opened as a table; with `after`, inside the (after+1)-th [[models]]."""
    import re

    lines = text.splitlines()
    start = 0
    if after is not None:
        headers = [n for n, line in enumerate(lines) if re.match(r"\s*\[\[\s*models\s*\]\]", line)]
        start = headers[after] if after < len(headers) else 0
    name = re.escape(key)
    pattern = re.compile(rf"\s*\[\[?\s*{name}\s*\]\]?" if table else rf"\s*({name}|\"{name}\")\s*=")
    for n in range(start, len(lines)):
        if pattern.match(lines[n]):
            return n + 1
    return "?"


def models_file() -> Path:
    """WORKBENCH_MODELS, else ./models.toml, else the defaults shipped with the package."""
    if os.environ.get("WORKBENCH_MODELS"):
        return Path(os.environ["WORKBENCH_MODELS"])
    local = Path("models.toml")
    return local if local.exists() else DEFAULT_MODELS_FILE


def load_models(path: str | Path | None = None) -> list[ModelSpec]:
    """Read the models file. WORKBENCH_LOCAL_MODEL swaps the embedded default model (hub id or folder)."""
    specs = _read(Path(path) if path else models_file())
    local_override = os.environ.get("WORKBENCH_LOCAL_MODEL")
    if local_override:
        specs = [s.model_copy(update={"model": local_override}) if s.model == DEFAULT_LOCAL_MODEL else s
                 for s in specs]
    return specs


def resolve_models(models, available: list[ModelSpec] | None = None) -> list[ModelSpec]:
    """Turn names, ModelSpecs or dicts into ModelSpecs; None means the models ticked by default."""
    available = available if available is not None else load_models()
    by_name = {s.name: s for s in available}
    if models is None:
        return [s for s in available if s.selected] or available[:1]
    if isinstance(models, (str, ModelSpec, dict)):
        models = [models]
    out = []
    for m in models:
        if isinstance(m, ModelSpec):
            out.append(m)
        elif isinstance(m, dict):
            try:
                out.append(ModelSpec(**m))
            except ValidationError as e:
                raise ConfigError(f"model {m.get('name', m)!r} is invalid: {_first_error(e)}") from None
        elif m in by_name:
            out.append(by_name[m])
        else:
            raise ConfigError(f"unknown model {m!r} — choose one of: {', '.join(by_name)}{_where_to_add()}")
    return out


def _where_to_add() -> str:
    path = models_file()
    if path == DEFAULT_MODELS_FILE:  # the package's own file: never the place for a user's models
        return " (or add it to a models.toml of your own: copy the built-in list and set WORKBENCH_MODELS)"
    return f" (or add it to {path})"


@lru_cache(maxsize=1)
def default_models() -> tuple[ModelSpec, ...]:
    return tuple(_read(DEFAULT_MODELS_FILE))
