"""Local Hugging Face models: AutoProcessor + AutoModelForImageTextToText, loaded once per process."""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, UnavailableError
from ..images import DEFAULT_MAX_EDGE, resized
from .base import Availability, Capabilities, ChatRequest, Reply, register_backend

if TYPE_CHECKING:
    from ..models import ModelSpec

# Checkpoints whose declared processor cannot be built here, and the processor class that reads the same files.
# SmolVLMProcessor needs torchvision for its video half; Idefics3Processor is the same image path without it.
PROCESSOR_FALLBACKS = {"idefics3": "Idefics3Processor", "smolvlm": "Idefics3Processor"}


@dataclass
class LoadedModel:
    processor: Any
    model: Any
    device: str
    lock: threading.Lock  # one generate at a time per model: concurrent calls would corrupt shared state
    load_s: float


_LOADED: dict[tuple, LoadedModel] = {}
_LOADING = threading.Lock()


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(device: str, requested: str = "auto"):
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16 if device == "mps" else torch.float32


def quantization_config(kind: str | None, device: str):
    if not kind:
        return None
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise UnavailableError(f"{kind} loading needs bitsandbytes — pip install bitsandbytes") from None
    import torch
    from transformers import BitsAndBytesConfig

    # On CPU, bitsandbytes breaks on layers narrower than its block size: keep the vision side and the head in
    # full precision (paths as in Llava/Mllama/Idefics3 checkpoints; names that do not exist are ignored).
    skip = ["model.vision_tower", "model.vision_model", "model.multi_modal_projector", "model.connector",
            "lm_head"] if device == "cpu" else None
    if kind == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", llm_int8_skip_modules=skip,
                              bnb_4bit_compute_dtype=torch.float32 if device == "cpu" else torch.bfloat16)


def load_processor(model_id: str):
    from transformers import AutoConfig, AutoProcessor

    try:
        return AutoProcessor.from_pretrained(model_id)
    except (OSError, ImportError, ValueError, KeyError) as first:
        model_type = getattr(AutoConfig.from_pretrained(model_id), "model_type", "")
        fallback = PROCESSOR_FALLBACKS.get(model_type)
        if not fallback:
            raise first
        import transformers

        return getattr(transformers, fallback).from_pretrained(model_id)


def load_model(spec: "ModelSpec") -> LoadedModel:
    key = (spec.model, spec.quantization, spec.device, spec.dtype)
    with _LOADING:
        if key not in _LOADED:
            _LOADED[key] = _load(spec)
        return _LOADED[key]


def _load(spec: "ModelSpec") -> LoadedModel:
    try:
        import torch  # noqa: F401
        from transformers import AutoModelForImageTextToText
    except ImportError as e:
        raise UnavailableError(f"local models need torch and transformers — pip install torch transformers ({e})")
    start = time.perf_counter()
    device = pick_device(spec.device)
    quant = quantization_config(spec.quantization, device)
    kwargs: dict = {"dtype": pick_dtype(device, spec.dtype)}
    if quant is not None:
        kwargs.update(quantization_config=quant, device_map=device)
    try:
        processor = load_processor(spec.model)
        model = AutoModelForImageTextToText.from_pretrained(spec.model, **kwargs).eval()
    except OSError as e:
        raise UnavailableError(_explain_load_failure(spec.model, e)) from None
    if quant is None:
        model = model.to(device)
    return LoadedModel(processor, model, device, threading.Lock(), time.perf_counter() - start)


def _explain_load_failure(model_id: str, e: Exception) -> str:
    if os.environ.get("HF_HUB_OFFLINE") == "1" and not Path(model_id).exists():
        return (f"{model_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE=1 — download it once "
                f"online (`huggingface-cli download {model_id}`) or point the models file at a local folder")
    return f"cannot load {model_id}: {str(e).splitlines()[0]} — check the hub id or folder in the models file"


def _is_cached(model_id: str) -> bool:
    if Path(model_id).is_dir():
        return True
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:  # a malformed id: from_pretrained will explain it at first use
        return False


@register_backend("transformers")
class TransformersLocal:
    def capabilities(self, spec: "ModelSpec") -> Capabilities:
        return Capabilities(images=True, json_schema=False, logprobs=True, local=True, streaming=True)

    def availability(self, spec: "ModelSpec", keys: dict | None = None) -> Availability:
        import importlib.util

        for package in ("torch", "transformers"):
            if importlib.util.find_spec(package) is None:
                return Availability("not_installed", f"{spec.name} needs {package} — pip install {package}")
        if spec.quantization and importlib.util.find_spec("bitsandbytes") is None:
            return Availability("not_installed", f"{spec.name} is {spec.quantization}: pip install bitsandbytes")
        if any(k[0] == spec.model for k in _LOADED):
            return Availability("ready", "loaded")
        if _is_cached(spec.model):
            return Availability("ready", "loads on first use")
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            return Availability("unavailable", f"{spec.model} is not downloaded and HF_HUB_OFFLINE=1 is set")
        return Availability("ready", "downloads from the Hugging Face Hub on first use")

    def chat(self, spec: "ModelSpec", request: ChatRequest, keys: dict | None = None) -> Reply:
        loaded = load_model(spec)
        inputs = self._inputs(loaded, spec, request)
        with loaded.lock:
            return _generate(loaded, inputs, request)

    def _inputs(self, loaded: LoadedModel, spec: "ModelSpec", request: ChatRequest):
        max_edge = request.max_edge or spec.max_edge or DEFAULT_MAX_EDGE
        content = [{"type": "image", "image": resized(img, max_edge)} for img in request.images]
        content.append({"type": "text", "text": request.prompt})
        messages = [{"role": "user", "content": content}]
        try:
            inputs = loaded.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                          return_dict=True, return_tensors="pt")
        except ValueError as e:
            raise BackendError(f"{spec.name}'s processor rejected the input: {e}") from None
        return inputs.to(loaded.device)


def _generate(loaded: LoadedModel, inputs, request: ChatRequest) -> Reply:
    import torch

    from .local_metrics import FirstTokenStreamer, memory_metrics, reset_peak_memory

    tokenizer = getattr(loaded.processor, "tokenizer", loaded.processor)
    streamer = FirstTokenStreamer(tokenizer, request.on_text)
    reset_peak_memory(loaded.device)
    prompt_len = inputs["input_ids"].shape[1]
    sampling = {"do_sample": True, "temperature": request.temperature} if request.temperature > 0 else {
        "do_sample": False}
    start = time.perf_counter()
    with torch.inference_mode():
        out = loaded.model.generate(**inputs, max_new_tokens=request.max_tokens, streamer=streamer, **sampling)
    elapsed = time.perf_counter() - start
    new_tokens = out[0, prompt_len:]
    text = tokenizer.decode(new_tokens, skip_special_tokens=True)
    eos = set(_as_list(loaded.model.generation_config.eos_token_id))
    n = int(new_tokens.shape[0])
    stopped = n > 0 and int(new_tokens[-1]) in eos
    finish = "length" if n >= request.max_tokens and not stopped else "stop"
    ttft = streamer.first_token_at - start if streamer.first_token_at else None
    metrics = {"generated_tokens": n, "tokens_per_s": round(n / elapsed, 2) if elapsed > 0 else None,
               "device": loaded.device, **memory_metrics(loaded.device)}
    return Reply(text=text, finish_reason=finish, input_tokens=int(prompt_len), output_tokens=n,
                 latency_s=elapsed, time_to_first_token_s=ttft, metrics=metrics)


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
