"""A batch's items — image × model × prompt version — and the hashes that say when two calls are the same:
pure functions, nothing here sends or reads an image."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Iterable

from ..errors import MissingVariables
from ..lifecycle import prompt_hash
from ..models import ModelSpec
from ..tasks import Task
from .inputs import BatchInput, variables_key


@dataclass(eq=False)  # identity: an item is a dict key while its image is in flight
class Item:
    input: BatchInput
    spec: ModelSpec
    version: str
    text: str  # the rendered prompt
    prompt_hash: str
    params_hash: str
    model_key: str
    image_hash: str | None = None
    call_key: str | None = None

    @property
    def key(self) -> tuple:
        """Unique within a run (the store's UNIQUE constraint)."""
        return (self.input.path, self.spec.name, self.version, self.prompt_hash)

    def set_image_hash(self, sha256: str) -> None:
        self.image_hash = sha256
        self.call_key = hashlib.sha256(
            f"{sha256}|{self.prompt_hash}|{self.model_key}|{self.params_hash}".encode()).hexdigest()[:32]


def expand(inputs: list[BatchInput], specs: list[ModelSpec], versions: dict[str, str], task: Task,
            params: dict) -> list["Item"]:
    """Image-major order, so one decoded image serves all its models and prompt versions in a lane."""
    items = []
    params_hash = params_hash_of(params)
    model_keys = [model_key_of(spec) for spec in specs]
    prompts: dict[tuple, tuple[str, str]] = {}  # (version, variables) -> (text, hash): most inputs share one
    for inp in inputs:
        for version, template in versions.items():
            key = (version, variables_key(inp.variables) if inp.variables else "")
            if key not in prompts:
                try:
                    text = task.render(template, inp.variables)
                except MissingVariables as e:
                    raise MissingVariables(f"{inp.path}: {e.subject}", e.names, csv=True) from None
                prompts[key] = (text, prompt_hash(text))
            text, text_hash = prompts[key]
            items.extend(Item(inp, spec, version, text, text_hash, params_hash, model_key)
                         for spec, model_key in zip(specs, model_keys))
    return items


def item_of(inp: BatchInput, spec: ModelSpec, version: str, text: str, params: dict) -> Item:
    return Item(inp, spec, version, text, prompt_hash(text), params_hash_of(params), model_key_of(spec))


def params_hash_of(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def model_key_of(spec: ModelSpec) -> str:
    """What makes two calls the same model: not the display name, which the user may rename. A setting added later
    (reasoning_effort) joins the key only when set, so the keys of stores written before it stay the same."""
    key = "|".join(str(x) for x in (spec.backend, spec.resolved_base_url or "", spec.model, spec.quantization,
                                    spec.max_edge, spec.detail, spec.dtype))
    return f"{key}|effort={spec.reasoning_effort}" if spec.reasoning_effort else key


def fingerprint_of(task: Task, specs, versions, params, inputs: list[BatchInput]) -> str:
    digest = hashlib.sha256(json.dumps([task.name, [(s.name, model_key_of(s)) for s in specs], versions, params],
                                       sort_keys=True).encode())
    for inp in inputs:
        digest.update(f"\n{inp.path}\t{variables_key(inp.variables)}\t{inp.label}".encode())
    return digest.hexdigest()[:32]


def describe(inputs) -> str:
    if isinstance(inputs, (str, os.PathLike)):
        return str(inputs)
    try:
        return f"{len(inputs)} inputs"
    except TypeError:
        return "inputs"


def by_image(items: list[Item]) -> Iterable[list[Item]]:
    group: list[Item] = []
    for it in items:
        if group and it.input.path != group[0].input.path:
            yield group
            group = []
        group.append(it)
    if group:
        yield group
