"""A task is data: a prompt template, an output schema with an escape hatch, labels, and hooks for variants.

A task also declares what kind of answer it gives (`kind`), its positive label where there is one, and how its
verdict reads to a person, so cards and evaluation ask the task and never test its name."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel

from ..errors import ConfigError, MissingVariables

@functools.lru_cache(maxsize=256)
def _json_schema(name: str, schema: type[BaseModel]) -> dict:
    return {"name": name, "schema": schema.model_json_schema()}


_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
KINDS = ("classification", "rating", "free_text")  # what evaluation computes: labels, 0–5 style scores, nothing


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
    # "classification", "rating" (integer labels, lowest first) or "free_text"; None: free_text when the whole
    # reply is the answer, else classification.
    kind: str | None = None
    positive: str | None = None  # the label that means "flag it" (moderation's "true"), for threshold curves
    # How the verdict reads on a card: a template over the output ("{score} / 5") or a function of the output;
    # None: the verdict with "_" as spaces (free text: the answer).
    verdict_format: str | Callable[[dict], str] | None = None

    def __post_init__(self) -> None:
        kind = self.kind or ("free_text" if self.free_text else "classification")
        object.__setattr__(self, "kind", kind)  # frozen: the derived default is set once, here
        if kind not in KINDS:
            raise ConfigError(f"task {self.name!r}: kind={kind!r} is not one of {', '.join(KINDS)}")
        if kind == "rating" and not (self.labels and all(re.fullmatch(r"-?\d+", x) for x in self.labels)
                                     and [int(x) for x in self.labels] == sorted(int(x) for x in self.labels)):
            raise ConfigError(f"task {self.name!r} is a rating: give labels as integer strings, lowest first, "
                              "e.g. labels=('0', '1', '2', '3', '4', '5')")
        if self.positive is not None and self.positive not in self.labels:
            raise ConfigError(f"task {self.name!r}: positive={self.positive!r} is not one of its labels "
                              f"({', '.join(self.labels) or 'none'}) — add it to labels or leave positive=None")

    @property
    def levels(self) -> tuple[int, int] | None:
        """A rating's lowest and highest score (None for other kinds)."""
        return (int(self.labels[0]), int(self.labels[-1])) if self.kind == "rating" else None

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_VARIABLE.findall(self.prompt)))

    def render(self, prompt: str | None = None, variables: dict[str, Any] | None = None) -> str:
        """Fill {name} placeholders. JSON examples in a prompt need no escaping: only {identifier} is a variable."""
        template = self.prompt if prompt is None else prompt
        values = {**self.examples, **{k: v for k, v in (variables or {}).items() if v not in (None, "")}}
        missing = [n for n in dict.fromkeys(_VARIABLE.findall(template)) if n not in values]
        if missing:
            raise MissingVariables(f"task {self.name!r}", missing)
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

    def verdict_text(self, output: dict | None) -> str:
        """What a person reads first on a card: the label, score or answer."""
        out = output or {}
        if self.kind == "free_text" or not self.label_field:
            return str(out.get("answer", ""))
        if self.label_field not in out:  # nothing parsed: the card shows the status and the error instead
            return ""
        if callable(self.verdict_format):
            return self.verdict_format(out)
        if isinstance(self.verdict_format, str):
            try:
                return self.verdict_format.format(**out)
            except (KeyError, IndexError, ValueError, TypeError):  # an output without the template's fields
                pass
        label = self.verdict(out)
        return "" if label is None else label.replace("_", " ")

    def definition(self) -> dict:
        """What a run stores so that any process can rebuild the task: everything but the code hooks."""
        from .definition import task_definition

        return task_definition(self)

    @classmethod
    def from_definition(cls, definition: dict) -> "Task":
        """A task rebuilt from `definition()` (its schema a pydantic model made from the stored JSON schema).

        Code hooks (normalize, from_text, check, a function verdict_format) cannot be stored: a rebuilt task
        has none, so it parses strictly by its schema. Register the task to get them back."""
        from .definition import task_from_definition

        return task_from_definition(definition, cls)

