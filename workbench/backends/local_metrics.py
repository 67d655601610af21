"""Per-call measurements for local models: time to first token, peak RAM, and VRAM on CUDA."""
from __future__ import annotations

import resource
import sys
import time
from typing import Callable

from transformers import TextStreamer
from transformers.generation.streamers import BaseStreamer


class FirstTokenStreamer(TextStreamer):
    """Records when the first generated token arrives and forwards the text so far to `on_text`."""

    def __init__(self, tokenizer, on_text: Callable[[str], None] | None = None):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.on_text = on_text
        self.first_token_at: float | None = None
        self.text = ""

    def put(self, value):
        if not self.next_tokens_are_prompt and self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        super().put(value)

    def on_finalized_text(self, text: str, stream_end: bool = False):
        self.text += text
        if self.on_text and text:
            self.on_text(self.text)


class FirstTokenTimer(BaseStreamer):
    """Records when the first generated tokens arrive, for batches (TextStreamer takes one sequence only)."""

    def __init__(self):
        self.first_token_at: float | None = None
        self._prompt_seen = False

    def put(self, value):
        if self._prompt_seen and self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        self._prompt_seen = True  # generate() first hands over the prompt

    def end(self):
        pass


def reset_peak_memory(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()


def memory_metrics(device: str) -> dict:
    # ru_maxrss is the process's peak so far (KiB on Linux, bytes on macOS), not this call's alone.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    metrics = {"peak_rss_mb": round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)}
    if device == "cuda":
        import torch

        metrics["vram_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        metrics["vram_reserved_mb"] = round(torch.cuda.max_memory_reserved() / 2**20, 1)
    return metrics
