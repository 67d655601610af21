"""A local model's first download, with its progress visible: huggingface_hub's own tqdm bar in notebooks and the
CLI, and `download_progress(model_id)` for the app, which shows it in that model's card while the bytes arrive.

    path = fetch_weights("HuggingFaceTB/SmolVLM-256M-Instruct")   # the cached snapshot folder
    download_progress("HuggingFaceTB/SmolVLM-256M-Instruct")      # Download(done=…, total=…) while it runs
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass

# Formats transformers does not load here: a hub repo may hold gigabytes of them (SmolVLM ships an onnx/ folder).
SKIPPED = ["onnx/*", "*.onnx", "*.onnx_data", "*.gguf", "*.msgpack", "*.h5", "*.tflite", "*.ot", "*.mlmodel",
           "*.mlpackage/*", "coreml/*", "*.pth"]
_BYTES_BAR = "huggingface_hub.snapshot_download"  # the name huggingface_hub gives its bytes-written bar
_downloads: dict[str, "Download"] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Download:
    """A download in progress: bytes written so far and the total once the hub has said it."""

    model_id: str
    done: int = 0
    total: int | None = None

    def describe(self) -> str:
        name = self.model_id.rsplit("/", 1)[-1]
        if not self.total:
            return f"downloading {name} (first use): {_mb(self.done)} MB so far"
        share = min(100, round(100 * self.done / self.total))
        return f"downloading {name} (first use): {_mb(self.done)} of {_mb(self.total)} MB ({share} %)"


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f}" if size >= 1e7 else f"{size / 1e6:.1f}"


def download_progress(model_id: str) -> Download | None:
    """The download of `model_id` running now in this process, or None (cached, a folder, or not started)."""
    with _lock:
        return _downloads.get(model_id)


def fetch_weights(model_id: str) -> str:
    """Download `model_id` into the Hugging Face cache (what transformers needs, not the onnx/gguf copies) and
    return its snapshot folder. Progress: a tqdm bar where huggingface_hub shows one, and download_progress()."""
    from huggingface_hub import snapshot_download

    with _lock:
        _downloads[model_id] = Download(model_id)
    try:
        return snapshot_download(model_id, ignore_patterns=SKIPPED, tqdm_class=_progress_bar(model_id),
                                 endpoint=os.environ.get("HF_ENDPOINT") or None)
    finally:
        with _lock:
            _downloads.pop(model_id, None)


def _progress_bar(model_id: str):
    """huggingface_hub's tqdm (it honours HF_HUB_DISABLE_PROGRESS_BARS) that also records the bytes written;
    a hidden bar does not count, so the count is kept here."""
    from huggingface_hub.utils import tqdm as hub_tqdm

    class Progress(hub_tqdm):
        def __init__(self, *args, **kwargs):
            self._counts = kwargs.get("name") == _BYTES_BAR
            self._done = 0
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            if self._counts and n:
                self._done += int(n)
                with _lock:
                    _downloads[model_id] = Download(model_id, self._done, int(self.total) if self.total else None)
            return super().update(n)

    return Progress
