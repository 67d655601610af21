"""A task as plain JSON, and back: what a run stores so retry, evaluation and export work in any process.

The output schema travels as JSON Schema and comes back as a pydantic model, for the subset tasks use: objects
(nested, by `$ref` or inline), string / integer / number / boolean, enums, arrays, optional (`anyOf` with null),
defaults, and minimum / maximum / length bounds. Code hooks (normalize, from_text, check) are not data and are
not stored; a rebuilt task parses strictly by its schema.
"""
from __future__ import annotations

import functools
import json
import keyword
import re
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..errors import ConfigError

FORMAT = 1  # bump when the stored shape changes; readers accept this version only
_SCALARS = {"string": str, "integer": int, "number": float, "boolean": bool}
_BOUNDS = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt",
           "minLength": "min_length", "maxLength": "max_length", "minItems": "min_length",
           "maxItems": "max_length"}


def task_definition(task) -> dict:
    return {"format": FORMAT, "name": task.name, "title": task.title, "description": task.description,
            "prompt": task.prompt, "label_field": task.label_field, "labels": list(task.labels),
            "kind": task.kind, "positive": task.positive, "free_text": task.free_text,
            "examples": dict(task.examples), "decision": task.decision,
            "verdict_format": task.verdict_format if isinstance(task.verdict_format, str) else None,
            "schema": task.schema.model_json_schema()}


def task_from_definition(definition: dict, task_class: type):
    """Cached by content: evaluation asks for the same run's task many times."""
    if not isinstance(definition, dict) or definition.get("format") != FORMAT:
        raise ConfigError(f"not a stored task definition (format {FORMAT}): {str(definition)[:80]!r}")
    return _rebuild(json.dumps(definition, sort_keys=True), task_class)


@functools.lru_cache(maxsize=64)
def _rebuild(text: str, task_class: type):
    """`task_class` is passed in (it is `Task`) so this module does not import the one that imports it."""
    d = json.loads(text)
    schema = model_from_schema(d["schema"])
    return task_class(name=d["name"], title=d["title"], description=d["description"], prompt=d["prompt"],
                schema=schema, label_field=d["label_field"], labels=tuple(d["labels"]), free_text=d["free_text"],
                examples=d["examples"], decision=d["decision"], kind=d["kind"], positive=d["positive"],
                verdict_format=d["verdict_format"])


def model_from_schema(schema: dict, name: str | None = None) -> type[BaseModel]:
    """A pydantic model that validates what `schema` (a model's `model_json_schema()`) describes."""
    return _object(schema, schema.get("$defs", {}), name or schema.get("title") or "Output")


def _object(schema: dict, defs: dict, name: str) -> type[BaseModel]:
    required = set(schema.get("required", ()))
    fields: dict[str, Any] = {}
    for prop, spec in schema.get("properties", {}).items():
        annotation, extra = _type(spec, defs, f"{name}_{_identifier(prop)}")
        kwargs = {**extra, "description": spec.get("description")}
        if _identifier(prop) != prop:  # "sexual/minors": a Python name, the stored name as its alias
            kwargs["alias"] = prop
        if prop in required:
            fields[_identifier(prop)] = (annotation, Field(**kwargs))
        elif "default" in spec:
            fields[_identifier(prop)] = (annotation, Field(spec["default"], **kwargs))
        else:  # a default_factory leaves no default in the schema: an empty value of the type
            fields[_identifier(prop)] = (annotation, Field(default_factory=_empty(spec, defs), **kwargs))
    extra = "forbid" if schema.get("additionalProperties") is False else "ignore"
    config = ConfigDict(populate_by_name=True, extra=extra)
    return create_model(_identifier(name), __config__=config, **fields)


def _type(spec: dict, defs: dict, name: str) -> tuple[Any, dict]:
    """(annotation, Field keywords) for one property."""
    if "$ref" in spec:
        return _object(_resolve(spec["$ref"], defs), defs, spec["$ref"].rsplit("/", 1)[-1]), {}
    if "anyOf" in spec:
        options = [s for s in spec["anyOf"] if s.get("type") != "null"]
        if len(options) != 1:
            raise ConfigError(f"stored schema: {name} has a union of types, which tasks do not use")
        annotation, extra = _type(options[0], defs, name)
        return (Optional[annotation] if len(options) < len(spec["anyOf"]) else annotation), extra
    bounds = {_BOUNDS[k]: v for k, v in spec.items() if k in _BOUNDS}
    if "enum" in spec:
        return Literal[tuple(spec["enum"])], {}
    kind = spec.get("type")
    if kind in _SCALARS:
        return _SCALARS[kind], bounds
    if kind == "array":
        items, _ = _type(spec.get("items", {}), defs, name) if spec.get("items") else (Any, {})
        return list[items], bounds
    if kind == "object":
        return (_object(spec, defs, spec.get("title") or name), {}) if "properties" in spec else (dict, {})
    if kind is None:
        return Any, {}
    raise ConfigError(f"stored schema: {name} has type {kind!r}, which tasks do not use")


def _resolve(ref: str, defs: dict) -> dict:
    key = ref.rsplit("/", 1)[-1]
    if not ref.startswith("#/$defs/") or key not in defs:
        raise ConfigError(f"stored schema: cannot resolve {ref!r}")
    return defs[key]


def _empty(spec: dict, defs: dict):
    kind = _resolve(spec["$ref"], defs).get("type") if "$ref" in spec else spec.get("type")
    if kind == "array":
        return list
    if kind == "object" and "$ref" in spec:
        model = _object(_resolve(spec["$ref"], defs), defs, spec["$ref"].rsplit("/", 1)[-1])
        return model  # every field of a nested object without a default has one (as ModerationCategories)
    return lambda: None


def _identifier(name: str) -> str:
    ident = re.sub(r"\W", "_", name)
    # Not a Python name, private to pydantic ("_x"), or shadowing a BaseModel attribute ("json", "model_…").
    if (not ident or ident[0].isdigit() or ident[0] == "_" or keyword.iskeyword(ident) or hasattr(BaseModel, ident)
            or ident.startswith("model_")):
        ident = f"f_{ident}"
    return ident
