"""The default model's availability tells the truth before anything runs, and fails fast when the hub is away."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import workbench
from workbench.backends import hub
from workbench.models import DEFAULT_LOCAL_MODEL, ModelSpec

DEFAULT = ModelSpec(name="SmolVLM-256M (local)", backend="transformers", model=DEFAULT_LOCAL_MODEL)


@pytest.fixture
def online(monkeypatch):
    """As on a machine with a network: HF_HUB_OFFLINE unset (these machines have no route to the hub)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "_probes", {})


def test_hub_unreachable_is_said_before_the_call_and_the_call_fails_fast(online, monkeypatch, sample_image):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: as unreachable as the hub is
    status = workbench.availability(DEFAULT)
    assert status.status == "unavailable" and not status.runnable
    for fix in ("offline and not downloaded", "HF_HUB_OFFLINE=1", "WORKBENCH_LOCAL_MODEL"):
        assert fix in status.message
    started = time.perf_counter()
    result = workbench.run_model(sample_image, "pothole_severity", DEFAULT)
    assert time.perf_counter() - started < 10
    assert result.status == "error" and result.error_type == "unavailable"
    assert "HF_HUB_OFFLINE" in result.error and "WORKBENCH_LOCAL_MODEL" in result.error


def test_the_real_hub_is_unreachable_here_and_that_is_said_within_seconds(online, monkeypatch):
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    started = time.perf_counter()
    status = workbench.availability(DEFAULT)
    assert time.perf_counter() - started < hub.PROBE_TIMEOUT_S + 3
    assert status.status == "unavailable" and "offline and not downloaded" in status.message


def test_offline_mode_without_a_download_names_the_fixes(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    status = workbench.availability(DEFAULT)
    assert status.status == "unavailable"
    assert "HF_HUB_OFFLINE=1 is set" in status.message and "local folder" in status.message
    assert "unset HF_HUB_OFFLINE" in status.message and "set HF_HUB_OFFLINE=1 with" not in status.message


class _Hub(BaseHTTPRequestHandler):
    """The hub's model-info endpoint, at the HTTP boundary (the real one is remote)."""

    def do_GET(self):  # noqa: N802 — http.server's name
        body = json.dumps({"siblings": [{"rfilename": "model.safetensors", "size": 512_600_000},
                                        {"rfilename": "config.json", "size": 2_000}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_reachable_hub_says_the_model_downloads_on_first_use_and_how_big(online, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        status = workbench.availability(DEFAULT)
    finally:
        server.shutdown()
    assert status.status == "ready" and status.message == "downloads on first use (≈ 513 MB)"


def test_a_local_folder_is_ready(tiny_llava_dir, tmp_path):
    import shutil

    folder = shutil.copytree(tiny_llava_dir, tmp_path / "tiny")  # not loaded by another test in this process
    status = workbench.availability(ModelSpec(name="tiny", backend="transformers", model=str(folder)))
    assert (status.status, status.message) == ("ready", "local folder")


def test_a_missing_folder_says_so(tmp_path):
    status = workbench.availability(ModelSpec(name="gone", backend="transformers", model=str(tmp_path / "gone")))
    assert status.status == "unavailable" and "does not exist" in status.message


def test_a_4bit_entry_without_a_cuda_gpu_is_not_ready_but_still_runnable(tiny_llava_dir):
    if hub.cuda_present():
        pytest.skip("this machine has a CUDA GPU")
    spec = ModelSpec(name="TagRater 4-bit", backend="transformers", model=str(tiny_llava_dir), quantization="4bit")
    status = workbench.availability(spec)
    assert status.status == "needs_gpu" and status.runnable
    assert "CUDA GPU for bitsandbytes 4bit" in status.message


def test_memory_figure_comes_from_the_parameter_count_in_the_name():
    message = hub.quantized_needs("Pixuai/Llama-3.2-11B-Vision-Instruct-TagRater", "4bit")
    assert "about 7 GB of GPU memory" in message
