"""For GPU fleets: the model itself served by vLLM inside Ray Data (`ray.data.llm`), rather than calls to a
server. This builds the processor; it needs vLLM on the cluster's GPU nodes (`pip install vllm` there — never on
a CPU-only machine, where it pulls a CUDA build).

    from workbench.batch.on_ray.vllm import vllm_processor
    processor = vllm_processor(spec, "pothole_severity", max_tokens=256, engines=4)
    answers = processor(ray.data.from_items([{"image_path": p} for p in paths]))  # a column `answer` per row

Rows come back with `answer` (the generated text) and `error` (vLLM's per-row failure, else empty): parse them
with the task as any reply is (`workbench.parsing.parse_reply`)."""
from __future__ import annotations

import base64
import importlib.util
import mimetypes

from ...errors import ConfigError
from ...models import ModelSpec
from ...tasks import get_task

VLLM_HINT = "pip install vllm on the cluster's GPU nodes (it needs CUDA; Ray Data LLM drives it)"


def vllm_config(spec: ModelSpec, *, engines: int = 1, batch_size: int = 32, gpus_per_engine: int = 1,
                max_model_len: int = 8192):
    """The `ray.data.llm.vLLMEngineProcessorConfig` for a models-file entry: its weights (`spec.model`, a hub id or
    a folder), one image per prompt, `engines` vLLM replicas of `gpus_per_engine` GPUs each (tensor parallel)."""
    from .cluster import import_ray

    import_ray()
    from ray.data.llm import vLLMEngineProcessorConfig

    return vLLMEngineProcessorConfig(
        model_source=spec.model, batch_size=batch_size, concurrency=engines,
        engine_kwargs={"max_model_len": max_model_len, "tensor_parallel_size": gpus_per_engine,
                       "limit_mm_per_prompt": {"image": 1}},
        prepare_multimodal_stage=True, should_continue_on_error=True)  # a failed row is a row, not a failed run


def vllm_processor(spec: ModelSpec, task, *, max_tokens: int = 512, temperature: float = 0.0, **config):
    """A Ray Data processor that answers `task`'s prompt for each row's `image_path` with `spec`'s model in vLLM.
    Raises ConfigError naming the install when vLLM is missing (its config is built first, so a bad setting
    shows here too)."""
    built = vllm_config(spec, **config)
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError(f"{spec.name} through vLLM needs vLLM, which is not installed here — {VLLM_HINT}")
    from ray.data.llm import build_processor

    prompt = get_task(task).render(get_task(task).prompt, {})
    sampling = {"temperature": temperature, "max_tokens": max_tokens}
    return build_processor(built, preprocess=lambda row: {**row, "messages": messages(prompt, row["image_path"]),
                                                          "sampling_params": sampling},
                           postprocess=lambda row: {"image_path": row["image_path"],
                                                    "answer": row.get("generated_text") or "",
                                                    "error": row.get("__inference_error__") or ""})


def messages(prompt: str, image_path: str) -> list[dict]:
    """The OpenAI-style chat that vLLM's multimodal stage reads: the prompt and the image as a data URL."""
    mime = mimetypes.guess_type(image_path)[0] or "image/jpeg"
    with open(image_path, "rb") as f:
        url = f"data:{mime};base64,{base64.b64encode(f.read()).decode()}"
    return [{"role": "user", "content": [{"type": "text", "text": prompt},
                                         {"type": "image_url", "image_url": {"url": url}}]}]
