"""Where a local model's weights are, told before anything loads: a folder, the local cache, a download to come, or
nowhere reachable — with the fixes. No network wait here is longer than `PROBE_TIMEOUT_S`."""
from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

from .base import Availability

PROBE_TIMEOUT_S = 2.0
_PROBE_TTL_S = 60.0
_probes: dict[str, tuple[float, int | None | Exception]] = {}  # model id → (when, download bytes or the failure)
_lock = threading.Lock()
# Sizes of the weights of models the project ships as defaults, for when the hub cannot say (bytes).
KNOWN_SIZES = {"HuggingFaceTB/SmolVLM-256M-Instruct": 513_000_000}


def offline_fixes(model_id: str) -> str:
    if os.environ.get("HF_HUB_OFFLINE") == "1":  # telling them to set what is set would send them in circles
        return (f"unset HF_HUB_OFFLINE and connect to the internet once so {model_id} downloads, or point "
                "WORKBENCH_LOCAL_MODEL (or the models file) at a local folder holding it")
    return (f"connect to the internet once so {model_id} downloads, or set HF_HUB_OFFLINE=1 with a copy already "
            "downloaded, or point WORKBENCH_LOCAL_MODEL (or the models file) at a local folder")


def weights_status(model_id: str) -> Availability:
    """ready (a folder, or in the cache) | downloads on first use (≈ size) | unavailable (offline, not cached)."""
    if Path(model_id).is_dir():
        return Availability("ready", "local folder")
    if Path(model_id).expanduser().is_absolute() or model_id.startswith((".", "~")):
        return Availability("unavailable", f"the folder {model_id} does not exist — check the path in the models "
                                           "file or WORKBENCH_LOCAL_MODEL")
    if is_cached(model_id):
        return Availability("ready", "in the local cache; loads on first use")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return Availability("unavailable", f"offline and not downloaded — HF_HUB_OFFLINE=1 is set and {model_id} "
                                           f"is not in the local cache: {offline_fixes(model_id)}")
    found = _probe(model_id)
    if isinstance(found, Exception):
        return Availability("unavailable", f"offline and not downloaded — the Hugging Face Hub cannot be reached "
                                           f"({_reason(found)}): {offline_fixes(model_id)}")
    return Availability("ready", f"downloads on first use ({describe_size(found)})")


def is_cached(model_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:  # noqa: BLE001 — a malformed id: from_pretrained will explain it at first use
        return False


def describe_size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    return f"≈ {size / 1e9:.1f} GB" if size >= 1e9 else f"≈ {size / 1e6:.0f} MB"


def _probe(model_id: str) -> int | None | Exception:
    """The download size from the hub (None if it did not say), or the failure; one probe per minute per model."""
    with _lock:
        seen = _probes.get(model_id)
        if seen and time.monotonic() - seen[0] < _PROBE_TTL_S:
            return seen[1]
    found = _ask_hub(model_id)
    with _lock:
        _probes[model_id] = (time.monotonic(), found)
    return found


def _ask_hub(model_id: str) -> int | None | Exception:
    import httpx

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    try:
        response = httpx.get(f"{endpoint}/api/models/{model_id}", params={"blobs": "true"},
                             timeout=PROBE_TIMEOUT_S, follow_redirects=True)
    except httpx.HTTPError as e:
        return e
    if response.status_code != 200:
        return KNOWN_SIZES.get(model_id)  # private, gated or renamed: from_pretrained explains it at first use
    try:
        files = response.json().get("siblings") or []
    except ValueError:
        return KNOWN_SIZES.get(model_id)
    weights = [f.get("size") or 0 for f in files if re.search(r"\.(safetensors|bin)$", f.get("rfilename", ""))]
    return sum(weights) or KNOWN_SIZES.get(model_id)


def _reason(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:120]


def cuda_present() -> bool:
    """Without importing torch (2 s at app start): torch if already loaded, else the NVIDIA driver's own files."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        return bool(torch.cuda.is_available())
    return Path("/proc/driver/nvidia/version").exists()


def quantized_needs(model_id: str, quantization: str) -> str:
    """What a bitsandbytes entry needs, with a memory figure from the parameter count in its name (e.g. 11B)."""
    found = re.search(r"(\d+(?:\.\d+)?)\s*[Bb]\b", model_id.replace("-", " ").replace("_", " "))
    bytes_per_param = 0.5 if quantization == "4bit" else 1.0
    memory = f", about {float(found.group(1)) * bytes_per_param * 1.2:.0f} GB of GPU memory" if found else ""
    return f"needs a CUDA GPU for bitsandbytes {quantization}{memory}; on this machine it would run very slowly"
