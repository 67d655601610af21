"""What crosses between the driver and Ray's workers: an item as a small JSON row, and its outcome back as the
Result's fields. Plain JSON, so a row is the same on every node and never carries a live object (or a key)."""
from __future__ import annotations

import json
from dataclasses import dataclass, fields

from ...models import ModelSpec
from ...results import Result
from ..inputs import BatchInput
from ..items import Item

_RESULT_FIELDS = tuple(f.name for f in fields(Result) if f.name != "failure")


def item_row(index: int, item: Item) -> dict:
    """The row Ray Data carries for one pending item: its index in the driver's list, and what a worker needs."""
    inp = item.input
    return {"i": index, "item": json.dumps({
        "path": inp.path, "label": inp.label, "variables": inp.variables, "model": item.spec.name,
        "version": item.version, "text": item.text, "prompt_hash": item.prompt_hash,
        "params_hash": item.params_hash, "model_key": item.model_key})}


def item_of_row(payload: str, specs: dict[str, ModelSpec]) -> Item:
    """The worker's copy of the driver's item (the spec comes from the run's models, shipped once per actor)."""
    d = json.loads(payload)
    inp = BatchInput(d["path"], d["label"], d["variables"] or {})
    return Item(inp, specs[d["model"]], d["version"], d["text"], d["prompt_hash"], d["params_hash"], d["model_key"])


@dataclass
class Outcome:
    """One item's end on a worker: its Result, the attempts it took, and what the worker learnt of its image."""

    index: int
    result: Result
    attempts: int
    image_hash: str | None  # None: the image could not be read
    stat: tuple[int, int] | None  # the file's (size, mtime_ns) as the worker read it

    def to_row(self) -> dict:
        result = {name: getattr(self.result, name) for name in _RESULT_FIELDS}
        return {"i": self.index, "outcome": json.dumps({
            "result": result, "attempts": self.attempts, "image_hash": self.image_hash,
            "stat": list(self.stat) if self.stat else None}, default=str)}

    @classmethod
    def of_row(cls, index: int, payload: str) -> "Outcome":
        d = json.loads(payload)
        stat = tuple(d["stat"]) if d["stat"] else None
        return cls(int(index), Result(**d["result"]), int(d["attempts"]), d["image_hash"], stat)
