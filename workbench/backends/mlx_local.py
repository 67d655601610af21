"""mlx-vlm on Apple Silicon. Elsewhere it reports itself unavailable instead of failing at import.

What runs where is written down in docs/mlx.md: the generate path below also runs on Linux with `mlx[cpu]`
(tests/test_mlx.py), but the backend only offers itself on macOS arm64, where MLX uses the GPU.
"""
from __future__ import annotations

import importlib.util
import platform
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, UnavailableError
from ..images import DEFAULT_MAX_EDGE, resized
from .base import Availability, Backend, Capabilities, ChatRequest, Reply
from .registry import register_backend

if TYPE_CHECKING:
    from ..models import ModelSpec

INSTALL = "pip install mlx-vlm"


@dataclass
class _MLXModel:
    model: Any
    processor: Any  # mlx-vlm's processor
    hf_processor: Any = None  # transformers' processor for the same folder, where mlx-vlm's cannot prepare inputs


_LOADED: dict[str, _MLXModel] = {}
_LOCK = threading.Lock()  # one generate at a time: MLX models are not safe to share between concurrent calls


def on_apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


@register_backend("mlx")
class MLXLocal(Backend):
    def capabilities(self, spec: "ModelSpec") -> Capabilities:
        return Capabilities(images=True, local=True, streaming=True)

    def availability(self, spec: "ModelSpec", keys: dict | None = None) -> Availability:
        if not on_apple_silicon():
            return Availability("unsupported", "unavailable: needs Apple Silicon (mlx-vlm)")
        if importlib.util.find_spec("mlx_vlm") is None:
            return Availability("not_installed", f"{spec.name} needs mlx-vlm — {INSTALL}")
        return Availability("ready", "loads on first use")

    def chat(self, spec: "ModelSpec", request: ChatRequest, keys: dict | None = None) -> Reply:
        try:
            from mlx_vlm import apply_chat_template
        except ImportError:
            raise UnavailableError(f"mlx models need mlx-vlm on Apple Silicon — {INSTALL}") from None
        max_edge = request.max_edge or spec.max_edge or DEFAULT_MAX_EDGE
        images = [resized(img, max_edge) for img in request.images]
        with _LOCK:
            loaded = _load(spec)
            prompt = apply_chat_template(loaded.processor, loaded.model.config, request.prompt,
                                         num_images=len(images))
            try:
                return _stream(loaded, request, prompt=prompt, image=images or None)
            except ValueError as e:
                if not str(e).startswith("Failed to process inputs"):
                    raise BackendError(f"{spec.name} (mlx-vlm) failed: {e}") from None
                # mlx-vlm 0.7's own processor for some architectures (llava) hands text options such as `padding`
                # to transformers 5's strict image processors. Tokenise with transformers' processor instead.
                reply = _stream(loaded, request, prompt="", **_transformers_inputs(loaded, spec, request, images))
                reply.metrics["inputs_from"] = "transformers processor"
                return reply


def _load(spec: "ModelSpec") -> _MLXModel:
    from mlx_vlm import load

    if spec.model not in _LOADED:
        try:
            model, processor = load(spec.model)
        except (OSError, ValueError) as e:
            raise UnavailableError(f"mlx-vlm cannot load {spec.model}: {str(e).splitlines()[0]} — use an MLX "
                                   "checkpoint (e.g. from mlx-community) or convert one with `mlx_vlm.convert`")
        _LOADED[spec.model] = _MLXModel(model, processor)
    return _LOADED[spec.model]


def _stream(loaded: _MLXModel, request: ChatRequest, **inputs) -> Reply:
    """mlx-vlm's stream_generate, with the text so far handed to `on_text` as it arrives."""
    from mlx_vlm import stream_generate

    from .local_metrics import memory_metrics

    text, last, ttft = "", None, None
    start = time.perf_counter()
    for last in stream_generate(loaded.model, loaded.processor, max_tokens=request.max_tokens,
                                temperature=request.temperature, **inputs):
        if ttft is None:
            ttft = time.perf_counter() - start
        text += last.text
        if request.on_text and last.text:
            request.on_text(text)
    elapsed = time.perf_counter() - start
    n = last.generation_tokens if last else 0
    metrics = {"generated_tokens": n, "tokens_per_s": round(last.generation_tps, 2) if last else None,
               "device": "mlx", "mlx_peak_memory_mb": round(last.peak_memory * 1024, 1) if last else None,
               **memory_metrics("cpu")}
    finish = (last.finish_reason if last else None) or ("length" if n >= request.max_tokens else "stop")
    return Reply(text=text, finish_reason=finish, input_tokens=last.prompt_tokens if last else None,
                 output_tokens=n, latency_s=elapsed, time_to_first_token_s=ttft, metrics=metrics)


def _transformers_inputs(loaded: _MLXModel, spec: "ModelSpec", request: ChatRequest, images: list) -> dict:
    """input_ids, pixel_values, mask (and any other processor outputs) as MLX arrays, from transformers' processor."""
    import mlx.core as mx

    from .transformers_local import load_processor

    if loaded.hf_processor is None:
        loaded.hf_processor = load_processor(spec.model)
    content = [{"type": "image", "image": img} for img in images] + [{"type": "text", "text": request.prompt}]
    inputs = loaded.hf_processor.apply_chat_template([{"role": "user", "content": content}], tokenize=True,
                                                     add_generation_prompt=True, return_dict=True,
                                                     return_tensors="np")
    arrays = {key: mx.array(value) for key, value in inputs.items()}
    arrays["mask"] = arrays.pop("attention_mask")
    return arrays
