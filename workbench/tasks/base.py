"""A task is data: a prompt template, an output schema with an escape hatch, labels, and hooks for variants."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel

from ..errors import ConfigError

@functools.lru_cache(maxsize=256)
def _json_schema(name: str, schema: type[BaseModel]) -> dict:
    return {"name": name, "schema": schema.model_json_schema()}


_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    description: str
    prompt: str  # template; {variables} are filled by render()
    schema: type[BaseModel]
    label_field: str | None = None  # the output field a verdict is read from
    labels: tuple[str, ...] = ()  # allowed verdicts of classification tasks, in order
    free_text: bool = False  # the whole reply is the answer (no JSON expected)
    normalize: Callable[[dict], dict] | None = None  # turns obvious variants into the schema's values
    from_text: Callable[[str], dict | None] | None = None  # last resort for replies without JSON
    check: Callable[[BaseModel], str | None] | None = None  # returns a message when the output contradicts itself
    examples: dict[str, str] = field(default_factory=dict)  # default values of the template's variables
    # Score mode's questions, in the System One format of transformers' pipeline("decision") ("choice" with criteria,
    # "score" with levels lowest first, "noul" yes/no), keyed by the output field each answers (dotted when nested,
    # e.g. "categories.weapons"). Their text may use the prompt's {variables}. The label_field's question gives the
    # label probabilities; a task without questions (free text) has no score mode.
    decision: dict[str, dict] = field(default_factory=dict)

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_VARIABLE.findall(self.prompt)))

    def render(self, prompt: str | None = None, variables: dict[str, Any] | None = None) -> str:
        """Fill {name} placeholders. JSON examples in a prompt need no escaping: only {identifier} is a variable."""
        template = self.prompt if prompt is None else prompt
        values = {**self.examples, **{k: v for k, v in (variables or {}).items() if v not in (None, "")}}
        missing = [n for n in dict.fromkeys(_VARIABLE.findall(template)) if n not in values]
        if missing:
            raise ConfigError(f"task {self.name!r} needs a value for {', '.join('{' + m + '}' for m in missing)}"
                              f" — pass variables={{{', '.join(repr(m) + ': ...' for m in missing)}}}")
        return _VARIABLE.sub(lambda m: str(values[m.group(1)]), template)

    def json_schema(self) -> dict | None:
        """The response_format schema (built once per task: a batch asks for it on every call). Do not modify."""
        if self.free_text:
            return None
        return _json_schema(self.name, self.schema)

    def verdict(self, output: dict | None) -> str | None:
        """The label a result stands for (what evaluation compares), as a string."""
        if not output or not self.label_field:
            return None
        value = output.get(self.label_field)
        return str(value).lower() if isinstance(value, bool) else (None if value is None else str(value))

