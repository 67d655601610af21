"""Local Hugging Face models: AutoProcessor + AutoModelForImageTextToText, loaded once per process."""
from __future__ import annotations

import dataclasses
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, ConfigError, UnavailableError
from ..images import DEFAULT_MAX_EDGE, resized
from .inference_thread import InferenceThread
from .label_questions import IMAGE_PLACEHOLDER
from .base import Availability, Backend, Capabilities, ChatRequest, Reply
from ..zerogpu import gpu_call, on_zerogpu
from .download import fetch_weights
from .hub import cuda_present, is_cached, offline_fixes, quantized_needs, weights_status
from .registry import register_backend

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
    derived: dict = field(default_factory=dict)  # built from the model on first use (decision pipelines), under lock
    # every generate and forward pass of this model runs here (chat, chat_batch, score): see inference_thread.py
    inference: InferenceThread = field(default_factory=InferenceThread)


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


def pick_dtype(device: str, requested: str = "auto", quantization: str | None = None):
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    if device == "cuda" and quantization == "8bit":
        return torch.float16  # LLM.int8 computes in fp16: bf16 activations are cast, with a warning, every call
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
    import transformers
    from transformers import AutoConfig, AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(model_id)
    except (OSError, ImportError, ValueError, KeyError) as first:
        model_type = getattr(AutoConfig.from_pretrained(model_id), "model_type", "")
        fallback = PROCESSOR_FALLBACKS.get(model_type)
        if not fallback:
            raise first
        return getattr(transformers, fallback).from_pretrained(model_id)
    # Once mlx-vlm has loaded a model in this process, AutoProcessor hands out mlx-vlm's own processor for some
    # architectures (it patches from_pretrained for llava): no chat template, MLX tensors. Take transformers' own.
    own = getattr(transformers, type(processor).__name__, None)
    if not type(processor).__module__.startswith("transformers.") and own is not None:
        processor = own.from_pretrained(model_id)
    return processor


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
    kwargs: dict = {"dtype": pick_dtype(device, spec.dtype, spec.quantization)}
    if quant is not None:
        kwargs.update(quantization_config=quant, device_map=device)
    try:
        source = _weights_folder(spec.model)
        processor = load_processor(source)
        model = AutoModelForImageTextToText.from_pretrained(source, **kwargs).eval()
    except OSError as e:
        raise UnavailableError(_explain_load_failure(spec.model, e)) from None
    if quant is None:
        model = model.to(device)
    return LoadedModel(processor, model, device, threading.Lock(), time.perf_counter() - start)


def _weights_folder(model_id: str) -> str:
    """Where to load from: a folder or a cached hub id as given; a hub id not cached yet is downloaded first, with
    its progress shown (download_progress for the app's card, huggingface_hub's bar elsewhere)."""
    if Path(model_id).exists() or is_cached(model_id) or os.environ.get("HF_HUB_OFFLINE") == "1":
        return model_id
    try:
        return fetch_weights(model_id)
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 — the hub client's errors are not all OSError: say what failed, with fixes
        raise OSError(f"{type(e).__name__}: {e}") from e


def _explain_load_failure(model_id: str, e: Exception) -> str:
    said = str(e).splitlines()[0] if str(e) else type(e).__name__
    if not Path(model_id).exists() and (os.environ.get("HF_HUB_OFFLINE") == "1" or _OFFLINE.search(str(e))):
        return f"cannot download {model_id} ({said[:160]}) — {offline_fixes(model_id)}"
    return (f"cannot load {model_id}: {said} — check the hub id or folder (your models file, or "
            "WORKBENCH_LOCAL_MODEL)")


_OFFLINE = re.compile(r"connect|offline|resolve|network|timed? ?out|cannot find the requested files", re.I)


def _installed(package: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(package) is not None
    except ValueError:  # in sys.modules as None: deliberately blocked
        return False


@register_backend("transformers")
class TransformersLocal(Backend):
    def capabilities(self, spec: "ModelSpec") -> Capabilities:
        return Capabilities(images=True, json_schema=False, logprobs=True, local=True, streaming=True, batching=True)

    def availability(self, spec: "ModelSpec", keys: dict | None = None) -> Availability:
        for package in ("torch", "transformers"):
            if not _installed(package):
                return Availability("not_installed", f"{spec.name} needs {package} — pip install {package}")
        if spec.quantization and not _installed("bitsandbytes"):
            return Availability("not_installed", f"{spec.name} is {spec.quantization}: pip install bitsandbytes")
        if (spec.model, spec.quantization, spec.device, spec.dtype) in _LOADED:  # this very model, as configured
            return Availability("ready", "loaded")
        weights = weights_status(spec.model)
        if weights.runnable and spec.quantization and spec.device in ("auto", "cuda") and not cuda_present():
            # Still runnable for those who insist: "needs_gpu" is a warning, not a block.
            return Availability("needs_gpu", f"{quantized_needs(spec.model, spec.quantization)} ({weights.message})")
        return weights

    def chat(self, spec: "ModelSpec", request: ChatRequest, keys: dict | None = None) -> Reply:
        if on_zerogpu():  # the GPU worker is another process: a streaming callback cannot cross into it
            request = dataclasses.replace(request, on_text=None)
        return gpu_call(_chat_on_device, len(request.images), request.max_tokens, spec, request)

    def chat_batch(self, spec: "ModelSpec", requests: list[ChatRequest], batch_size: int = 8,
                   keys: dict | None = None) -> list[Reply | BackendError]:
        """Many requests to one model, in left-padded mini-batches of `batch_size`; replies in request order.

        Requests that differ in max_tokens or temperature go to different batches. A batch that fails is run again
        one by one, so a bad item comes back as its own BackendError and the others still get replies. Batched
        requests do not stream; a reply's latency_s is its share of its batch's time (metrics["batch_s"])."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        try:
            load_model(spec)  # a model that cannot load fails every request the same way, at once
        except BackendError as e:
            return [e] * len(requests)
        replies: list[Reply | BackendError | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault((request.max_tokens, request.temperature), []).append(i)
        for indices in groups.values():
            for at in range(0, len(indices), batch_size):
                chunk = indices[at:at + batch_size]
                batch = [requests[i] for i in chunk]
                try:
                    done = gpu_call(_generate_batch_on_device, sum(len(r.images) for r in batch),
                                    batch[0].max_tokens, spec, batch) if len(batch) > 1 else None
                except Exception:  # noqa: BLE001 — retried item by item below, where each error is reported
                    done = None
                for i, reply in zip(chunk, done or [self._chat_or_error(spec, r) for r in batch]):
                    replies[i] = reply
        return replies

    def _chat_or_error(self, spec: "ModelSpec", request: ChatRequest) -> Reply | BackendError:
        try:
            return self.chat(spec, request)
        except BackendError as e:
            return e
        except Exception as e:  # noqa: BLE001 — one bad item must not sink the batch
            return BackendError(f"{spec.name} failed on this item: {type(e).__name__}: {e}")

    def score(self, spec: "ModelSpec", request: ChatRequest, questions: dict[str, dict],
              keys: dict | None = None):
        """Label probabilities with transformers' pipeline("decision"), built on the loaded model (see scoring.py)."""
        from .base import ScoreReply
        from .local_metrics import memory_metrics

        loaded = load_model(spec)
        assets = {IMAGE_PLACEHOLDER.format(i + 1): _image_for(loaded, spec, request, img)
                  for i, img in enumerate(request.images)}
        state = "".join(assets)
        probabilities, labels, tokens, elapsed = loaded.inference.run(_score_locked, loaded, spec, questions, state,
                                                                      assets)
        metrics = {"forward_passes": len(questions), "device": loaded.device, **memory_metrics(loaded.device)}
        return ScoreReply(probabilities, labels, input_tokens=tokens, latency_s=elapsed, metrics=metrics)


def _score_locked(loaded: LoadedModel, spec: "ModelSpec", questions: dict[str, dict], state: str, assets: dict
                  ) -> tuple[dict, dict, int, float]:
    """On the model's inference thread: one prompt, one forward pass per question."""
    from .local_metrics import reset_peak_memory

    probabilities, labels, tokens = {}, {}, 0
    with loaded.lock:
        reset_peak_memory(loaded.device)
        start = time.perf_counter()
        for name, question in questions.items():
            labels[name] = _answer_labels(loaded, name, question)
            answer, tokens_read = _decide(loaded, spec, labels[name], name, question, state, assets)
            probabilities[name] = _option_probabilities(answer)
            tokens += tokens_read
        return probabilities, labels, tokens, time.perf_counter() - start


def _chat_on_device(spec: "ModelSpec", request: ChatRequest) -> Reply:
    """One chat where the GPU is: here, or on ZeroGPU inside its GPU worker (a fork holding the models loaded at
    start-up). Module-level, so ZeroGPU can pickle it."""
    loaded = load_model(spec)
    inputs = _inputs(loaded, spec, [request])
    return loaded.inference.run(_generate_locked, loaded, inputs, request)


def _generate_locked(loaded: LoadedModel, inputs, request: ChatRequest) -> Reply:
    with loaded.lock:
        return _generate(loaded, inputs, request)


def _generate_batch_on_device(spec: "ModelSpec", requests: list[ChatRequest]) -> list[Reply]:
    return _generate_batch(load_model(spec), spec, requests)


def _inputs(loaded: LoadedModel, spec: "ModelSpec", requests: list[ChatRequest]):
    """Tokenised chats for the processor; several requests are left-padded into one batch."""
    conversations = []
    for request in requests:
        content = [{"type": "image", "image": _image_for(loaded, spec, request, img)} for img in request.images]
        content.append({"type": "text", "text": request.prompt})
        conversations.append([{"role": "user", "content": content}])
    batched = len(requests) > 1
    padding = {"padding": True, "padding_side": "left"} if batched else None  # generation continues at the right
    try:
        inputs = loaded.processor.apply_chat_template(conversations if batched else conversations[0],
                                                      add_generation_prompt=True, tokenize=True, return_dict=True,
                                                      return_tensors="pt", processor_kwargs=padding)
    except ValueError as e:
        raise BackendError(f"{spec.name}'s processor rejected the input: {e}") from None
    return inputs.to(loaded.device)


def _generate(loaded: LoadedModel, inputs, request: ChatRequest) -> Reply:
    import torch

    from .local_metrics import FirstTokenStreamer, memory_metrics, reset_peak_memory

    tokenizer = _tokenizer(loaded)
    streamer = FirstTokenStreamer(tokenizer, request.on_text)
    reset_peak_memory(loaded.device)
    prompt_len = inputs["input_ids"].shape[1]
    start = time.perf_counter()
    with torch.inference_mode():
        out = loaded.model.generate(**inputs, max_new_tokens=request.max_tokens, streamer=streamer,
                                    **_sampling(request))
    elapsed = time.perf_counter() - start
    new_tokens = out[0, prompt_len:]
    text = tokenizer.decode(new_tokens, skip_special_tokens=True)
    n, finish = _length_and_finish(new_tokens.tolist(), _eos_ids(loaded), request.max_tokens)
    ttft = streamer.first_token_at - start if streamer.first_token_at else None
    metrics = {"generated_tokens": n, "tokens_per_s": round(n / elapsed, 2) if elapsed > 0 else None,
               "device": loaded.device, **memory_metrics(loaded.device)}
    return Reply(text=text, finish_reason=finish, input_tokens=int(prompt_len), output_tokens=n,
                 latency_s=elapsed, time_to_first_token_s=ttft, metrics=metrics)


def _generate_batch(loaded: LoadedModel, spec: "ModelSpec", requests: list[ChatRequest]) -> list[Reply]:
    """One padded generate for requests that share max_tokens and temperature."""
    import torch

    from .local_metrics import FirstTokenTimer, memory_metrics, reset_peak_memory

    tokenizer = _tokenizer(loaded)
    if tokenizer.pad_token is None:  # padding needs one; the end-of-text token is the usual stand-in
        tokenizer.pad_token = tokenizer.eos_token
    inputs = _inputs(loaded, spec, requests)
    timer = FirstTokenTimer()

    def padded_generate():  # on the model's inference thread
        with loaded.lock:
            reset_peak_memory(loaded.device)
            start = time.perf_counter()
            with torch.inference_mode():
                out = loaded.model.generate(**inputs, max_new_tokens=requests[0].max_tokens, streamer=timer,
                                            pad_token_id=tokenizer.pad_token_id, **_sampling(requests[0]))
            return out, start, time.perf_counter() - start, memory_metrics(loaded.device)

    out, start, elapsed, memory = loaded.inference.run(padded_generate)
    rows = out[:, inputs["input_ids"].shape[1]:].tolist()
    counted = [_length_and_finish(row, _eos_ids(loaded), requests[0].max_tokens) for row in rows]
    total = sum(n for n, _ in counted)
    ttft = timer.first_token_at - start if timer.first_token_at else None
    replies = []
    for row, (n, finish), mask in zip(rows, counted, inputs["attention_mask"]):
        metrics = {"generated_tokens": n, "tokens_per_s": round(n / elapsed, 2) if elapsed > 0 else None,
                   "batch_size": len(requests), "batch_s": round(elapsed, 4),
                   "batch_tokens_per_s": round(total / elapsed, 2) if elapsed > 0 else None,
                   "device": loaded.device, **memory}
        replies.append(Reply(text=tokenizer.decode(row[:n], skip_special_tokens=True), finish_reason=finish,
                             input_tokens=int(mask.sum()), output_tokens=n, latency_s=elapsed / len(requests),
                             time_to_first_token_s=ttft, metrics=metrics))
    return replies


def _image_for(loaded: LoadedModel, spec: "ModelSpec", request: ChatRequest, image):
    """The image capped at max_edge, then box-reduced by a whole factor while it stays at least twice the size the
    model's image processor resizes to: that processor's own resize of a big photo costs more than the forward pass
    of a small model, and it still does the final resize itself."""
    pil = resized(image, request.max_edge or spec.max_edge or DEFAULT_MAX_EDGE)
    if "input_edge" not in loaded.derived:
        loaded.derived["input_edge"] = _processor_edge(getattr(loaded.processor, "image_processor", None))
    edge = loaded.derived["input_edge"]
    factor = min(pil.size) // (2 * edge) if edge else 0
    return pil.reduce(factor) if factor >= 2 else pil


def _processor_edge(image_processor) -> int | None:
    """The largest edge an image processor resizes to; None where it keeps resolutions dynamic (min/max pixels)."""
    edges = []
    for name in ("size", "crop_size", "max_image_size"):
        size = getattr(image_processor, name, None)
        if size is None:
            continue
        try:
            values = dict(size)  # a dict, or transformers' SizeDict (iterates as key/value pairs)
        except (TypeError, ValueError):
            continue
        if values.get("min_pixels") or values.get("max_pixels"):
            return None
        edges += [v for k, v in values.items() if isinstance(v, int) and k in _EDGE_KEYS]
    return max(edges) if edges else None


_EDGE_KEYS = {"height", "width", "shortest_edge", "longest_edge", "max_height", "max_width"}


def _sampling(request: ChatRequest) -> dict:
    return {"do_sample": True, "temperature": request.temperature} if request.temperature > 0 else {
        "do_sample": False}


def _length_and_finish(new_tokens: list[int], eos: set[int], max_tokens: int) -> tuple[int, str]:
    """Tokens generated up to and including the first end token (what follows in a batch row is padding)."""
    end = next((i + 1 for i, token in enumerate(new_tokens) if token in eos), None)
    if end is not None:
        return end, "stop"
    return len(new_tokens), "length" if len(new_tokens) >= max_tokens else "stop"


def _eos_ids(loaded: LoadedModel) -> set[int]:
    return set(_as_list(loaded.model.generation_config.eos_token_id))


def _tokenizer(loaded: LoadedModel):
    return getattr(loaded.processor, "tokenizer", loaded.processor)


# --- score mode: transformers' pipeline("decision") on the loaded model --------------------------------------


def _answer_labels(loaded: LoadedModel, name: str, question: dict) -> list[str]:
    """The first candidate label set whose labels are distinct single tokens of this tokenizer (the pipeline's rule)."""
    from transformers.decision import label_token_ids

    from .label_questions import ScoreUnavailable, label_candidates, options

    key = ("labels", question["type"], tuple(options(question)))
    if key in loaded.derived:
        return loaded.derived[key]
    tokenizer = _tokenizer(loaded)
    tried = []
    for labels in [*label_candidates(question), _first_tokens(tokenizer, options(question))]:
        if not labels:
            continue
        try:
            label_token_ids(tokenizer, tuple(labels))
        except ValueError:
            tried.append("/".join(labels))
            continue
        loaded.derived[key] = labels
        return labels
    raise ScoreUnavailable(f"{name!r}: no answer labels that are distinct single tokens for this model "
                           f"(tried {'; '.join(tried)})")


def _first_tokens(tokenizer, names: list[str]) -> list[str]:
    """Each option's first token, as text: usable as answer labels when they differ."""
    ids = tokenizer(names, add_special_tokens=False)["input_ids"]
    return [tokenizer.decode(i[:1]) for i in ids] if all(ids) else []


def _decide(loaded: LoadedModel, spec: "ModelSpec", labels: list[str], name: str, question: dict, state: str,
            assets: dict) -> tuple[dict, int]:
    """One question through the pipeline's own stages, which also gives the prompt's length: (answer, tokens)."""
    request = {"state": state, "questions": {name: question}, "assets": assets}
    sanitize = loaded.derived.get("decision_sanitize", True)
    pipe = _decision_pipeline(loaded, question["type"], labels, sanitize)
    try:
        inputs = pipe.preprocess(request if sanitize else _without_control_tokens(loaded, request))
    except ValueError as e:
        if sanitize and "char_to_token" in str(e):
            # Idefics3's processor maps characters to tokens, which the pipeline's sanitised encoding of user text
            # does not support: encode plainly for this model, after dropping control tokens from our text.
            loaded.derived["decision_sanitize"] = False
            return _decide(loaded, spec, labels, name, question, state, assets)
        raise BackendError(f"{spec.name} cannot score {name!r}: {e}") from None
    tokens = sum(int(prompt["input_ids"].shape[-1]) for prompt, _ in inputs["prompts"])
    return pipe.postprocess(pipe.forward(inputs))[name], tokens


def _decision_pipeline(loaded: LoadedModel, kind: str, labels: list[str], sanitize: bool):
    key = ("decision", kind, tuple(labels), sanitize)
    if key not in loaded.derived:
        from transformers import pipeline
        from transformers.decision import DecisionConfig

        config = DecisionConfig(labels={kind: list(labels)}, sanitize_control_tokens=sanitize)
        # device=-1: stay where the model is; a model placed by device_map (quantized) takes no device at all
        device = None if getattr(loaded.model, "hf_device_map", None) is not None else -1
        loaded.derived[key] = pipeline("decision", model=loaded.model, processor=loaded.processor,
                                       tokenizer=_tokenizer(loaded), decision_config=config, device=device)
    return loaded.derived[key]


def _without_control_tokens(loaded: LoadedModel, request: dict) -> dict:
    special = [t.content for t in _tokenizer(loaded).added_tokens_decoder.values() if t.special]

    def clean(value):
        if isinstance(value, str):
            for token in special:
                value = value.replace(token, "")
            return value
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return [clean(v) for v in value] if isinstance(value, list) else value

    return {**request, "questions": clean(request["questions"])}


def _option_probabilities(answer: dict) -> dict[str, float]:
    if answer["type"] == "noul":
        return {"true": answer["noul"], "false": 1.0 - answer["noul"]}
    return dict(answer["probabilities"])


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
