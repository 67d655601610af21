"""One record per (image, model) call: the parsed output or a typed failure, and what the call cost."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .errors import BackendError

# Statuses of a call whose text was parsed; "error" means the call itself failed (see error_type).
PARSED_OK = ("ok", "repaired")
STATUSES = ("ok", "repaired", "invalid_output", "inconsistent", "refused", "empty", "truncated", "filtered", "error")


@dataclass
class Result:
    """One call's record. Made by `workbench.lifecycle.settle` only."""

    model: str  # display name from the models file
    model_id: str
    backend: str
    task: str
    status: str
    image: str = ""  # file name or description of the image
    image_hash: str = ""
    prompt_hash: str = ""
    mode: str = "generate"  # generate | score
    output: dict | None = None
    label: str | None = None  # the verdict evaluation compares (e.g. "severe", "4", "true")
    raw_text: str = ""
    finish_reason: str | None = None
    latency_s: float | None = None
    time_to_first_token_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None  # None means unknown, never free
    cost_source: str | None = None  # "reported" by the provider | "estimated" from prices and usage
    probabilities: dict[str, float] | None = None
    expected_score: float | None = None
    error_type: str | None = None
    error: str | None = None  # a plain message, keys redacted
    metrics: dict = field(default_factory=dict)
    # The typed error behind a failed call made in this process (a 429 or a 401), for whoever handles it; never
    # stored or exported, and left out of to_dict.
    failure: "BackendError | None" = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status in PARSED_OK

    def to_dict(self) -> dict:
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if f.name != "failure"}

    def to_row(self) -> dict:
        """A flat row for a DataFrame: metrics are spread into their own columns."""
        row = {k: v for k, v in self.to_dict().items() if k != "metrics"}
        row.update({f"m_{k}": v for k, v in self.metrics.items()})
        return row
