"""One record per (image, model) call: the parsed output or a typed failure, and what the call cost."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Statuses of a call whose text was parsed; "error" means the call itself failed (see error_type).
PARSED_OK = ("ok", "repaired")
STATUSES = ("ok", "repaired", "invalid_output", "inconsistent", "refused", "empty", "truncated", "filtered", "error")


@dataclass
class Result:
    """A failed call made in this process also carries `failure`, the typed BackendError behind it, so that a
    caller that retries (a batch) can tell a 429 from a 401; it is not a field, and never stored or exported."""

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

    @property
    def ok(self) -> bool:
        return self.status in PARSED_OK

    def to_dict(self) -> dict:
        return asdict(self)

    def to_row(self) -> dict:
        """A flat row for a DataFrame: metrics are spread into their own columns."""
        row = {k: v for k, v in self.to_dict().items() if k != "metrics"}
        row.update({f"m_{k}": v for k, v in self.metrics.items()})
        return row
