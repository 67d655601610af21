"""A real `transformers serve` on loopback, serving the tiny offline LLaVA: the OpenAI-compatible path end to end.

`transformers serve FOLDER` preloads that model and pins the server to it: requests must name the model by the
exact folder path it was started with (any other id gets a 400 "Server is pinned to ..."). Its /v1/models lists
the HF cache, not the pinned model, and answers 500 unless HF_HUB_CACHE exists, so readiness is polled on /health.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

STARTUP_TIMEOUT_S = float(os.environ.get("WORKBENCH_SERVE_STARTUP_S", "180"))  # slow on a busy 2-core machine
_CLI = "import sys; from transformers.cli.transformers import main; sys.argv[0] = 'transformers'; sys.exit(main())"


class ServedModel(NamedTuple):
    base_url: str  # the API root, ending in /v1
    model: str  # the id requests must name: the folder the server was started with


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(folder: str, port: int) -> list[str]:
    script = Path(sys.executable).with_name("transformers")  # the console script of this environment
    launcher = [str(script)] if script.exists() else [sys.executable, "-c", _CLI]
    return [*launcher, "serve", folder, "--host", "127.0.0.1", "--port", str(port)]


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _log_tail(path: Path, limit: int = 4000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-limit:] or "(no output)"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def transformers_serve(tiny_llava_dir, tmp_path_factory) -> ServedModel:
    workdir = tmp_path_factory.mktemp("transformers-serve")
    cache = workdir / "hf-cache"
    cache.mkdir()
    log_path = workdir / "serve.log"
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_CACHE": str(cache),
           "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:  # a file, not a pipe: a full pipe would stall the server
        proc = subprocess.Popen(_command(tiny_llava_dir, port), stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=workdir)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _answers(f"http://127.0.0.1:{port}/health"):
            if proc.poll() is not None:
                pytest.fail(f"`transformers serve` exited with code {proc.returncode}:\n{_log_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"`transformers serve` did not answer within {STARTUP_TIMEOUT_S:g} s:\n"
                            f"{_log_tail(log_path)}")
            time.sleep(0.25)
        yield ServedModel(f"http://127.0.0.1:{port}/v1", tiny_llava_dir)
    finally:
        _stop(proc)
