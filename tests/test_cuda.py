"""Local models on a CUDA GPU: 4-/8-bit bitsandbytes layers, bf16, VRAM metrics, score mode and batches.

CI has no GPU, so these skip there; run them on a CUDA machine with `python -m pytest tests/test_cuda.py`.
"""
from __future__ import annotations

import pytest
import torch

import workbench
from workbench.backends import ChatRequest
from workbench.backends.transformers_local import TransformersLocal, load_model
from workbench.images import load_image
from workbench.models import ModelSpec

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def local(folder: str, **kw) -> ModelSpec:
    return ModelSpec(name="tiny-gpu", backend="transformers", model=folder, **kw)


def layer_types(model, under: str) -> set[str]:
    return {type(m).__name__ for name, m in model.named_modules()
            if name.startswith(under) and isinstance(m, torch.nn.Linear)}


@pytest.mark.parametrize("kind, quantized", [("4bit", "Linear4bit"), ("8bit", "Linear8bitLt")])
def test_quantized_model_loads_on_the_gpu_generates_and_reports_vram(tiny_llava_dir, sample_image, kind,
                                                                      quantized):
    pytest.importorskip("bitsandbytes")
    spec = local(tiny_llava_dir, quantization=kind)
    loaded = load_model(spec)
    assert loaded.device == "cuda"
    assert layer_types(loaded.model, "model.language_model") == {quantized}
    assert {p.device.type for p in loaded.model.parameters()} == {"cuda"}
    result = workbench.run_model(sample_image, "ask", spec, max_tokens=6)
    assert result.status == "truncated" and result.output_tokens == 6
    assert result.metrics["device"] == "cuda"
    assert 0 < result.metrics["vram_allocated_mb"] <= result.metrics["vram_reserved_mb"]
    # LLM.int8 computes in fp16, so an 8-bit model loads in fp16 (bf16 would be cast on every call)
    assert loaded.model.dtype == (torch.float16 if kind == "8bit" else torch.bfloat16)


def test_full_precision_model_runs_in_bf16_on_the_gpu(tiny_llava_dir, sample_image):
    loaded = load_model(local(tiny_llava_dir))
    assert loaded.device == "cuda" and loaded.model.dtype == torch.bfloat16
    result = workbench.run_model(sample_image, "ask", local(tiny_llava_dir), max_tokens=5)
    assert result.output_tokens == 5 and result.metrics["tokens_per_s"] > 0


@pytest.mark.parametrize("quantization", [None, "4bit"])
def test_score_mode_on_the_gpu_gives_a_distribution(tiny_llava_dir, sample_image, quantization):
    spec = local(tiny_llava_dir, quantization=quantization)
    result = workbench.run_model(sample_image, "pothole_severity", spec, mode="score")
    assert result.mode == "score"
    assert result.probabilities and abs(sum(result.probabilities.values()) - 1) < 1e-3


def test_batches_on_the_gpu_answer_every_request(tiny_llava_dir, sample_image):
    spec = local(tiny_llava_dir, quantization="4bit")
    requests = [ChatRequest(prompt=p, images=[load_image(sample_image)], max_tokens=4)
                for p in ("One.", "Is there a pothole?", "Rate the tag road from 0 to 5.")]
    replies = TransformersLocal().chat_batch(spec, requests, batch_size=2)
    assert [r.output_tokens for r in replies] == [4, 4, 4]
    assert replies[0].metrics["batch_size"] == 2
