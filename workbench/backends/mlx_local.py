"""mlx-vlm on Apple Silicon. Elsewhere it reports itself unavailable instead of failing at import."""
from __future__ import annotations

import importlib.util
import platform
import sys
import threading
import time
from typing import TYPE_CHECKING

from ..errors import UnavailableError
from ..images import DEFAULT_MAX_EDGE, resized
from .base import Availability, Capabilities, ChatRequest, Reply, register_backend

if TYPE_CHECKING:
    from ..models import ModelSpec

_LOADED: dict[str, tuple] = {}
_LOCK = threading.Lock()


def on_apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


@register_backend("mlx")
class MLXLocal:
    def capabilities(self, spec: "ModelSpec") -> Capabilities:
        return Capabilities(images=True, local=True, streaming=False)

    def availability(self, spec: "ModelSpec", keys: dict | None = None) -> Availability:
        if not on_apple_silicon():
            return Availability("unsupported", "unavailable: needs Apple Silicon (mlx-vlm)")
        if importlib.util.find_spec("mlx_vlm") is None:
            return Availability("not_installed", f"{spec.name} needs mlx-vlm — pip install mlx-vlm")
        return Availability("ready", "loads on first use")

    def chat(self, spec: "ModelSpec", request: ChatRequest, keys: dict | None = None) -> Reply:
        try:
            from mlx_vlm import generate, load
            from mlx_vlm.prompt_utils import apply_chat_template
        except ImportError:
            raise UnavailableError("mlx models need mlx-vlm on Apple Silicon — pip install mlx-vlm") from None
        with _LOCK:
            if spec.model not in _LOADED:
                _LOADED[spec.model] = load(spec.model)
            model, processor = _LOADED[spec.model]
            max_edge = request.max_edge or spec.max_edge or DEFAULT_MAX_EDGE
            images = [resized(img, max_edge) for img in request.images]
            prompt = apply_chat_template(processor, model.config, request.prompt, num_images=len(images))
            start = time.perf_counter()
            result = generate(model, processor, prompt, images, max_tokens=request.max_tokens,
                              temperature=request.temperature, verbose=False)
            elapsed = time.perf_counter() - start
        text = getattr(result, "text", result)
        out_tokens = getattr(result, "generation_tokens", None)
        return Reply(text=text, finish_reason="length" if out_tokens == request.max_tokens else "stop",
                     input_tokens=getattr(result, "prompt_tokens", None), output_tokens=out_tokens,
                     latency_s=elapsed, metrics={"tokens_per_s": getattr(result, "generation_tps", None),
                                                 "peak_memory_gb": getattr(result, "peak_memory", None)})
