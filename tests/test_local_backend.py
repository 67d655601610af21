"""Local transformers models: 4-/8-bit loading, per-call metrics, streaming and batched generation."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import workbench
from workbench.backends import ChatRequest
from workbench.backends.transformers_local import TransformersLocal, load_model, quantization_config
from workbench.errors import BackendError, UnavailableError
from workbench.images import load_image
from workbench.models import ModelSpec

backend = TransformersLocal()


def local(folder: str, **kw) -> ModelSpec:
    return ModelSpec(name="tiny", backend="transformers", model=folder, **kw)


def ask(image, prompt="Describe the image.", **kw) -> ChatRequest:
    kw.setdefault("max_tokens", 12)
    return ChatRequest(prompt=prompt, images=[load_image(image)], **kw)


def test_import_stays_light():
    code = ("import sys, workbench, workbench.scoring, workbench.backends.transformers_local, "
            "workbench.backends.mlx_local; print(sorted({'torch', 'transformers', 'bitsandbytes', 'mlx'} & "
            "set(sys.modules)))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


# --- quantized loading ------------------------------------------------------------------------------------


def linear_types(model, under: str) -> set[str]:
    return {type(m).__name__ for name, m in model.named_modules()
            if name.startswith(under) and isinstance(m, torch.nn.Linear)}


@pytest.mark.parametrize("kind, quantized", [("4bit", "Linear4bit"), ("8bit", "Linear8bitLt")])
def test_quantized_language_model_on_cpu_generates(tiny_llava_dir, sample_image, kind, quantized):
    bnb = pytest.importorskip("bitsandbytes")
    spec = local(tiny_llava_dir, quantization=kind, device="cpu")  # on CUDA: tests/test_cuda.py
    model = load_model(spec).model
    assert linear_types(model, "model.language_model") == {quantized}
    assert all(isinstance(m, getattr(bnb.nn, quantized)) for n, m in model.named_modules()
               if n.startswith("model.language_model") and isinstance(m, torch.nn.Linear))
    # Narrower than bitsandbytes' CPU block size: kept in full precision, or generate fails.
    for kept in ("model.vision_tower", "model.multi_modal_projector", "lm_head"):
        assert linear_types(model, kept) == {"Linear"}
    result = workbench.run_model(sample_image, "ask", spec, max_tokens=6)
    assert result.status == "truncated"  # the call worked and generated right up to max_tokens
    assert result.output_tokens == result.metrics["generated_tokens"] == 6


@pytest.mark.parametrize("fixture, expected", [
    ("tiny_llava_dir", {"model.vision_tower", "model.multi_modal_projector", "lm_head"}),
    ("tiny_idefics3_dir", {"model.vision_model", "model.connector", "lm_head"})])
def test_cpu_skip_list_names_real_modules(request, fixture, expected):
    pytest.importorskip("bitsandbytes")
    from transformers import AutoConfig, AutoModelForImageTextToText

    folder = request.getfixturevalue(fixture)
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(folder))
    names = {name for name, _ in model.named_modules()}
    skip = set(quantization_config("4bit", "cpu").llm_int8_skip_modules)
    assert expected <= names and expected <= skip
    assert quantization_config("4bit", "cuda").llm_int8_skip_modules is None  # on CUDA the normal path


def test_missing_bitsandbytes_explains_the_install(monkeypatch, tmp_path, sample_image):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # makes `import bitsandbytes` fail
    with pytest.raises(UnavailableError, match="pip install bitsandbytes"):
        quantization_config("4bit", "cpu")
    spec = local(str(tmp_path), quantization="4bit")
    assert backend.availability(spec).status == "not_installed"
    result = workbench.run_model(sample_image, "ask", spec)
    assert result.status == "error" and result.error_type == "not_installed"
    assert "pip install bitsandbytes" in result.error


# --- per-call metrics and streaming -------------------------------------------------------------------------


def test_local_call_metrics_reach_the_result(tiny_llava_dir, sample_image):
    result = workbench.run_model(sample_image, "ask", local(tiny_llava_dir, device="cpu"), max_tokens=10)
    m = result.metrics
    assert m["generated_tokens"] == result.output_tokens == 10
    assert m["tokens_per_s"] > 0 and m["peak_rss_mb"] > 50 and m["device"] == "cpu"
    assert 0 < result.time_to_first_token_s < result.latency_s
    assert result.input_tokens > 16  # the image's 16 tokens and the prompt
    row = result.to_row()
    assert row["m_tokens_per_s"] == m["tokens_per_s"] and row["m_peak_rss_mb"] == m["peak_rss_mb"]


def test_cuda_memory_metrics(monkeypatch):
    from workbench.backends import local_metrics

    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a: 300 * 2**20)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda *a: 512 * 2**20)
    metrics = local_metrics.memory_metrics("cuda")
    assert (metrics["vram_allocated_mb"], metrics["vram_reserved_mb"]) == (300.0, 512.0)
    assert "vram_allocated_mb" not in local_metrics.memory_metrics("cpu")


def test_streaming_grows_then_the_parsed_result_replaces_it(tiny_llava_dir, sample_image):
    seen: list[str] = []
    result = workbench.run_model(sample_image, "pothole_severity", local(tiny_llava_dir), max_tokens=24,
                                 on_text=seen.append)
    assert len(seen) >= 2
    assert all(later.startswith(earlier) and len(later) > len(earlier) for earlier, later in zip(seen, seen[1:]))
    assert seen[-1] == result.raw_text
    assert result.status != "error" and result.status in ("truncated", "invalid_output", "ok", "repaired")


# --- batched generation ---------------------------------------------------------------------------------------


def test_batches_give_the_same_answers_as_one_by_one(tiny_dir_any, sample_image):
    spec = local(tiny_dir_any)
    prompts = ["Describe the image.", "Is there a pothole?", "Rate the tag road from 0 to 5.", "Hi", "Safe?"]
    requests = [ask(sample_image, p) for p in prompts]
    batched = backend.chat_batch(spec, requests, batch_size=2)
    single = [backend.chat(spec, r) for r in requests]
    assert [r.text for r in batched] == [r.text for r in single]
    assert [r.input_tokens for r in batched] == [r.input_tokens for r in single]
    assert [r.output_tokens for r in batched] == [r.output_tokens for r in single]
    assert batched[0].metrics["batch_size"] == 2 and "batch_size" not in batched[-1].metrics  # a lone one: chat()
    assert batched[0].metrics["batch_tokens_per_s"] > 0 and batched[0].time_to_first_token_s > 0


@pytest.fixture(params=["llava", "idefics3"])
def tiny_dir_any(request, tiny_llava_dir, tiny_idefics3_dir):
    return {"llava": tiny_llava_dir, "idefics3": tiny_idefics3_dir}[request.param]


def test_a_failing_item_does_not_sink_its_batch(tiny_llava_dir, sample_image):
    spec = local(tiny_llava_dir)
    bad = ask(sample_image, "Two images? <image>")  # one image, two image tokens: the processor refuses it
    requests = [ask(sample_image, "First."), bad, ask(sample_image, "Third.")]
    replies = backend.chat_batch(spec, requests, batch_size=8)
    assert isinstance(replies[1], BackendError) and "rejected the input" in str(replies[1])
    assert [r.text for r in (replies[0], replies[2])] == [backend.chat(spec, r).text for r in (requests[0],
                                                                                               requests[2])]


def test_requests_with_different_settings_are_batched_apart(tiny_llava_dir, sample_image):
    spec = local(tiny_llava_dir)
    requests = [ask(sample_image, max_tokens=3), ask(sample_image, max_tokens=7), ask(sample_image, max_tokens=3)]
    replies = backend.chat_batch(spec, requests)
    assert [r.output_tokens for r in replies] == [3, 7, 3]
    assert [r.metrics.get("batch_size") for r in replies] == [2, None, 2]  # a lone request runs as a plain call


def test_batch_of_a_model_that_cannot_load(tmp_path, sample_image):
    replies = backend.chat_batch(local(str(tmp_path / "absent")), [ask(sample_image), ask(sample_image)])
    assert len(replies) == 2 and all(isinstance(r, BackendError) for r in replies)


def test_every_forward_pass_of_a_model_runs_on_its_own_inference_thread(tiny_llava_dir, sample_image):
    # chat, chat_batch and score, called from several threads, all reach the model on one thread of its own.
    import threading
    from concurrent.futures import ThreadPoolExecutor

    spec = local(tiny_llava_dir)
    loaded = load_model(spec)
    threads: set[str] = set()
    hook = loaded.model.register_forward_pre_hook(lambda *_: threads.add(threading.current_thread().name))
    try:
        with ThreadPoolExecutor(3) as callers:
            calls = [callers.submit(backend.chat, spec, ask(sample_image, max_tokens=2)),
                     callers.submit(backend.chat_batch, spec, [ask(sample_image, max_tokens=2)] * 2),
                     callers.submit(workbench.run_model, sample_image, "pothole_severity", spec, mode="score")]
            replies = [call.result() for call in calls]
    finally:
        hook.remove()
    assert replies[0].output_tokens == 2 and replies[1][0].metrics["batch_size"] == 2
    assert replies[2].status != "error", replies[2].error
    assert len(threads) == 1 and threads.pop().startswith(loaded.inference.name + "_")
