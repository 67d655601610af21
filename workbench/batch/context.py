"""What every lane of one run shares — the store, the writer, the answers, progress, the run's settings — and
how an item's outcome becomes its stored row."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..lifecycle import CallPlan, failure, settle
from ..results import Result
from ..store import RunStore, now_iso
from ..tasks import Task
from .cache import Answers
from .items import Item
from .progress import Progress
from .writer import Writer


@dataclass
class Options:
    keys: dict | None
    workers: int
    batch_size: int
    max_attempts: int
    max_auth_failures: int
    force: bool
    retrying: bool = False


@dataclass(eq=False)
class RunContext:
    """One run's shared parts, handed to each lane: a lane keeps only its own state."""

    store: RunStore
    run_id: str
    task: Task
    params: dict
    options: Options
    writer: Writer
    answers: Answers
    progress: Progress  # also counts the calls sent
    messages: list[str] = field(default_factory=list)  # lane stops, unavailable models: kept in BatchRun

    def plan(self, item: Item, source: str, image_hash: str) -> CallPlan:
        p = self.params
        return CallPlan(self.task, item.spec, item.text, item.prompt_hash, source, image_hash, mode=p["mode"],
                        max_tokens=p["max_tokens"], temperature=p["temperature"], max_edge=p["max_edge"],
                        detail=p["detail"], variables=item.input.variables, keys=self.options.keys)

    def emit(self, item: Item, result: Result, attempts: int) -> dict:
        row = _row(self.run_id, item, result, attempts)
        self.answers.remember(item, row)  # before the writer can commit it
        self.writer.put(row)
        return row

    def emit_failure(self, item: Item, error_type: str, message: str) -> dict:
        """An item that is not sent (its image could not be read, its model cannot run, its lane stopped)."""
        plan = self.plan(item, Path(item.input.path).name, item.image_hash or "")
        return self.emit(item, settle(plan, failure(error_type, message)), 0)

    def say(self, message: str) -> None:
        """One clear line for the user (and kept in BatchRun.messages)."""
        self.messages.append(message)
        self.progress.write(message)


def _row(run_id: str, item: Item, result: Result, attempts: int) -> dict:
    return {
        "run_id": run_id, "image_path": item.input.path, "image_hash": item.image_hash or result.image_hash or None,
        "variables": item.input.variables, "expected": item.input.label, "model": item.spec.name,
        "model_id": result.model_id, "backend": result.backend, "prompt_version": item.version,
        "prompt_hash": item.prompt_hash, "params_hash": item.params_hash, "call_key": item.call_key,
        "mode": result.mode, "status": result.status, "label": result.label, "output": result.output,
        "raw_text": result.raw_text, "probabilities": result.probabilities, "expected_score": result.expected_score,
        "finish_reason": result.finish_reason, "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens, "cost": result.cost, "cost_source": result.cost_source,
        "latency_s": result.latency_s, "ttft_s": result.time_to_first_token_s, "error_type": result.error_type,
        "error": result.error, "metrics": result.metrics or None, "cached": 0, "attempts": attempts,
        "created_at": now_iso(),
    }
