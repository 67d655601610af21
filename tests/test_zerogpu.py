"""ZeroGPU glue: what can be shown off ZeroGPU — the installed `spaces` package imports, its GPU decorator wraps the
runner and a real local model's generate returns the same reply through it on CPU, the ZeroGPU signal is read as
`spaces` reads it, the GPU time asked for grows with images and tokens, and nothing changes for `python app.py`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from workbench import zerogpu
from workbench.zerogpu import gpu_call, gpu_seconds, on_zerogpu

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def runner_reset(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    monkeypatch.setattr(zerogpu, "_runner", None)


@pytest.mark.parametrize("value", ["1", "t", "true", "True", "TRUE", "0", "false", "yes", "", "on"])
def test_the_zerogpu_signal_is_read_as_the_spaces_package_reads_it(value):
    import spaces.config as spaces_config
    assert on_zerogpu({"SPACES_ZERO_GPU": value}) == spaces_config.boolean(value)
    assert on_zerogpu({}) is False and spaces_config.boolean(None) is False


def test_the_gpu_time_asked_grows_with_images_and_tokens_within_bounds(monkeypatch):
    monkeypatch.delenv("WORKBENCH_ZEROGPU_MAX_S", raising=False)
    assert gpu_seconds(1, 64) < gpu_seconds(3, 64) < gpu_seconds(3, 512)
    assert gpu_seconds(1, 64) < gpu_seconds(1, 256)
    assert gpu_seconds(["a", "b"], 100) == gpu_seconds(2, 100)
    assert gpu_seconds(0, 0) == zerogpu.MIN_S and gpu_seconds(500, 100_000) == zerogpu.DEFAULT_MAX_S
    monkeypatch.setenv("WORKBENCH_ZEROGPU_MAX_S", "600")  # a PRO account's longer quota
    assert gpu_seconds(500, 100_000) == 600
    # spaces.GPU calls the duration with the wrapped function's own arguments
    assert zerogpu._duration(print, 3, 512, (), {}) == gpu_seconds(3, 512)


def test_off_zerogpu_gpu_call_is_a_plain_call_and_spaces_is_not_imported():
    probe = ("import sys; from workbench.zerogpu import gpu_call, prepare; "
             "r = gpu_call(divmod, 2, 64, 7, 2); p = prepare(['anything']); "
             "print(r, p, [m for m in ('spaces', 'gradio', 'torch') if m in sys.modules])")
    env = {k: v for k, v in __import__("os").environ.items() if k != "SPACES_ZERO_GPU"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)
    assert done.stdout.strip() == "(3, 1) [] []", done.stderr


def test_through_the_spaces_decorator_a_local_model_answers_the_same_on_cpu(tiny_llava_dir, sample_image,
                                                                          runner_reset, monkeypatch):
    from workbench.backends.base import ChatRequest
    from workbench.backends.transformers_local import _generate, _inputs, load_model
    from workbench.images import load_image
    from workbench.models import ModelSpec

    spec = ModelSpec(name="tiny llava", backend="transformers", model=tiny_llava_dir, device="cpu")
    request = ChatRequest(prompt="What is in the picture?", images=[load_image(sample_image)], max_tokens=12)

    def chat_on_device(spec, request):  # the shape the backend's call takes under gpu_call
        loaded = load_model(spec)
        with loaded.lock:
            return _generate(loaded, _inputs(loaded, spec, [request]), request)

    direct = chat_on_device(spec, request)
    runner = zerogpu.build_runner(use_spaces=True)  # spaces.GPU(_run, duration=...) — a no-op off ZeroGPU
    assert runner is zerogpu._run
    monkeypatch.setattr(zerogpu, "_runner", runner)
    through = gpu_call(chat_on_device, request.images, request.max_tokens, spec, request)
    assert through.text == direct.text and through.output_tokens == direct.output_tokens
    assert through.metrics["device"] == "cpu"


def _chat_on_device(spec, request):
    """Module level, as the backend's must be: on ZeroGPU the function itself is pickled to the GPU worker."""
    from workbench.backends.transformers_local import _generate, _inputs, load_model

    loaded = load_model(spec)
    with loaded.lock:
        return _generate(loaded, _inputs(loaded, spec, [request]), request)


def test_a_forked_worker_answers_with_the_model_loaded_before_the_fork(tiny_llava_dir, sample_image):
    """ZeroGPU's shape without its GPU: the model is loaded in the main process, the call runs in a forked worker
    that receives the runner's arguments pickled and sends the reply back pickled — the same reply as here."""
    import multiprocessing

    from workbench.backends.base import ChatRequest
    from workbench.backends.transformers_local import _LOADED, load_model
    from workbench.images import load_image
    from workbench.models import ModelSpec

    spec = ModelSpec(name="tiny llava", backend="transformers", model=tiny_llava_dir, device="cpu")
    request = ChatRequest(prompt="Describe it.", images=[load_image(sample_image)], max_tokens=10)
    load_model(spec)
    loaded_before = len(_LOADED)
    here = _chat_on_device(spec, request)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        there = pool.apply_async(zerogpu._run, (_chat_on_device, 1, 10, (spec, request), {})).get(timeout=120)
    assert (there.text, there.output_tokens) == (here.text, here.output_tokens)
    assert len(_LOADED) == loaded_before  # the worker used the fork's copy; nothing new loaded here


def test_a_gpu_call_passes_arguments_and_errors_through(runner_reset):
    assert gpu_call(lambda a, *, b: (a, b), 1, 32, "x", b="y") == ("x", "y")
    with pytest.raises(ZeroDivisionError):
        gpu_call(lambda: 1 / 0, 1, 32)
