"""The mlx-vlm backend: unavailable off Apple Silicon, and its real generate path run on Linux with `mlx[cpu]`.

What this proves and what it cannot is written down in docs/mlx.md.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

import pytest

import workbench
from workbench.backends import ChatRequest, get_backend
from workbench.backends import mlx_local
from workbench.images import load_image
from workbench.models import ModelSpec

needs_mlx = pytest.mark.skipif(importlib.util.find_spec("mlx_vlm") is None,
                               reason='mlx-vlm is not installed (pip install mlx-vlm "mlx[cpu]" to run it on Linux)')


def mlx_spec(folder: str = "mlx-community/SmolVLM-256M-Instruct-bf16") -> ModelSpec:
    return ModelSpec(name="tiny (mlx)", backend="mlx", model=folder)


def ask(image, **kw) -> ChatRequest:
    kw.setdefault("max_tokens", 8)
    return ChatRequest(prompt="Describe the image.", images=[load_image(image)], **kw)


# --- availability: everywhere -------------------------------------------------------------------------------


def test_off_apple_silicon_it_is_unavailable_with_the_reason(monkeypatch):
    for system, machine in (("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "x86_64"), ("win32", "AMD64")):
        monkeypatch.setattr(mlx_local.sys, "platform", system)
        monkeypatch.setattr(mlx_local.platform, "machine", lambda m=machine: m)
        status = get_backend("mlx").availability(mlx_spec())
        assert (status.status, status.message) == ("unsupported", "unavailable: needs Apple Silicon (mlx-vlm)")


def test_on_apple_silicon_without_mlx_vlm_it_names_the_install(monkeypatch):
    monkeypatch.setattr(mlx_local, "on_apple_silicon", lambda: True)
    monkeypatch.setattr(mlx_local.importlib.util, "find_spec", lambda name: None)
    status = get_backend("mlx").availability(mlx_spec())
    assert status.status == "not_installed" and "pip install mlx-vlm" in status.message


def test_model_list_and_calls_report_it_instead_of_crashing(monkeypatch, sample_image):
    monkeypatch.setattr(mlx_local, "on_apple_silicon", lambda: False)
    assert workbench.availability(mlx_spec()).message == "unavailable: needs Apple Silicon (mlx-vlm)"
    result = workbench.run_model(sample_image, "pothole_severity", mlx_spec())
    assert (result.status, result.error_type) == ("error", "unsupported")
    assert result.error == "unavailable: needs Apple Silicon (mlx-vlm)"


def test_importing_the_backend_does_not_import_mlx():
    code = "import sys, workbench.backends.mlx_local; print('mlx' in sys.modules or 'mlx_vlm' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


# --- the real mlx-vlm path, on this machine's CPU ---------------------------------------------------------------


@pytest.fixture(scope="module")
def mlx_idefics3_dir(tiny_idefics3_dir, tmp_path_factory):
    """The SmolVLM architecture, converted by mlx-vlm's own converter."""
    from mlx_vlm import convert

    out = tmp_path_factory.mktemp("mlx") / "tiny-idefics3-mlx"
    convert(tiny_idefics3_dir, mlx_path=str(out))
    return str(out)


@pytest.fixture(scope="module")
def mlx_llava_dir(tiny_llava_dir, tmp_path_factory):
    """LLaVA converted by mlx-vlm. transformers 5 saves the CLIP tower's weights one level flatter than mlx-vlm
    reads them (`vision_tower.X` for `vision_tower.vision_model.X`), so they are renamed first."""
    from mlx_vlm import convert
    from safetensors.numpy import load_file, save_file

    renamed = tmp_path_factory.mktemp("mlx") / "tiny-llava-renamed"
    shutil.copytree(tiny_llava_dir, renamed)
    weights = load_file(renamed / "model.safetensors")
    prefix = "vision_tower."
    save_file({(prefix + "vision_model." + k[len(prefix):] if k.startswith(prefix) else k): v
               for k, v in weights.items()}, renamed / "model.safetensors", metadata={"format": "pt"})
    out = renamed.parent / "tiny-llava-mlx"
    convert(str(renamed), mlx_path=str(out))
    return str(out)


@needs_mlx
def test_generates_with_mlx_vlm_own_processor(mlx_idefics3_dir, sample_image):
    seen: list[str] = []
    reply = get_backend("mlx").chat(mlx_spec(mlx_idefics3_dir), ask(sample_image, on_text=seen.append))
    assert reply.output_tokens == 8 and reply.finish_reason == "length" and reply.input_tokens > 4
    assert seen and seen[-1] == reply.text  # streamed as it came, the final text last
    m = reply.metrics
    assert m["generated_tokens"] == 8 and m["tokens_per_s"] > 0 and m["peak_rss_mb"] > 0
    assert 0 < reply.time_to_first_token_s <= reply.latency_s
    assert "inputs_from" not in m


@needs_mlx
def test_llava_runs_on_transformers_inputs_and_matches_torch(mlx_llava_dir, tiny_llava_dir, sample_image):
    import numpy as np
    import torch
    from mlx_vlm import generate

    from workbench.backends.transformers_local import load_model

    spec = mlx_spec(mlx_llava_dir)
    reply = get_backend("mlx").chat(spec, ask(sample_image))
    # mlx-vlm 0.7's LlavaProcessor passes `padding` to transformers 5's image processor, which refuses it.
    assert reply.metrics["inputs_from"] == "transformers processor" and reply.output_tokens == 8

    # The converted model computes what the torch model it came from computes: same greedy tokens, same
    # next-token log-probabilities, from the same inputs.
    loaded, request = mlx_local._LOADED[mlx_llava_dir], ask(sample_image)
    inputs = mlx_local._transformers_inputs(loaded, spec, request, [request.images[0].pil])
    mlx_tokens = generate(loaded.model, loaded.processor, "", max_tokens=6, temperature=0.0, **inputs).token_ids
    first = generate(loaded.model, loaded.processor, "", max_tokens=1, temperature=0.0, **inputs)
    torch_model = load_model(ModelSpec(name="t", backend="transformers", model=tiny_llava_dir)).model
    torch_inputs = {("attention_mask" if k == "mask" else k): torch.tensor(np.array(v)) for k, v in inputs.items()}
    with torch.no_grad():
        out = torch_model.generate(**torch_inputs, max_new_tokens=6, do_sample=False)
        logits = torch_model(**torch_inputs).logits[0, -1]
    assert list(mlx_tokens) == out[0, torch_inputs["input_ids"].shape[1]:].tolist()
    expected = torch.log_softmax(logits.float(), -1).numpy()
    assert np.abs(np.array(first.logprobs) - expected).max() < 1e-3


@needs_mlx
def test_4bit_mlx_weights_generate(tiny_idefics3_dir, tmp_path, sample_image):
    import mlx.nn as nn
    from mlx_vlm import convert

    out = tmp_path / "tiny-idefics3-mlx-4bit"
    convert(tiny_idefics3_dir, mlx_path=str(out), quantize=True, q_bits=4, q_group_size=32)
    reply = get_backend("mlx").chat(mlx_spec(str(out)), ask(sample_image))
    assert reply.output_tokens == 8
    model = mlx_local._LOADED[str(out)].model
    assert any(isinstance(m, nn.QuantizedLinear) for _, m in model.language_model.named_modules())


@needs_mlx
def test_transformers_backend_still_gets_its_own_processor_after_mlx(mlx_llava_dir, tiny_llava_dir):
    import transformers

    from workbench.backends.transformers_local import load_processor

    mlx_local._load(mlx_spec(mlx_llava_dir))  # importing mlx-vlm's llava patches AutoProcessor for llava
    assert type(transformers.AutoProcessor.from_pretrained(tiny_llava_dir)).__module__.startswith("mlx_vlm")
    processor = load_processor(tiny_llava_dir)
    assert type(processor) is transformers.LlavaProcessor and processor.chat_template


@needs_mlx
def test_score_mode_falls_back_to_generate_on_mlx(monkeypatch, mlx_idefics3_dir, sample_image):
    monkeypatch.setattr(mlx_local, "on_apple_silicon", lambda: True)  # let the call through on this machine
    result = workbench.run_model(sample_image, "pothole_severity", mlx_spec(mlx_idefics3_dir), mode="score",
                                 max_tokens=8)
    assert result.mode == "generate" and result.probabilities is None and result.output_tokens == 8
    assert result.metrics["score_note"].startswith("label probabilities not available: the mlx backend")
