"""What a Hugging Face Space installs, resolved with pip's dry run (`--dry-run --ignore-installed --report`): nothing
is installed, pip only decides which distributions it would take.

A Gradio Space runs one `pip install -r requirements.txt gradio[oauth,mcp]==<sdk_version> spaces ...`. On a CPU
Space the README has the owner set the Space variable PIP_EXTRA_INDEX_URL to PyTorch's CPU wheel index: pip then
sees `torch 2.13.0+cpu` beside the registry's `torch 2.13.0` (a CUDA build with ~15 nvidia-* packages) and takes the
`+cpu` one, since `==2.13.0` matches both and a local version sorts higher. Here the machine's pip configuration
plays that index's part (its find-links folder holds the CPU wheel for Python 3.11): the check is that, with a CPU
wheel offered, the whole set resolves to it and to no nvidia-*/cuda-*/triton package — and, as a control, that
without it the same pin pulls the CUDA packages (so the check can see them). Whether the Space's build really passes
the variable to pip is not checkable here: the README says what its build log shows when it does.

Python 3.10 (what ZeroGPU documents) is resolved by a real 3.10 interpreter, because pip evaluates requirement
markers (`python_version >= "3.11"`) against the interpreter it runs on, not `--python-version`."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SDK_VERSION = "6.31.0"  # README front matter's sdk_version
SPACE_EXTRAS = [f"gradio[oauth,mcp]=={SDK_VERSION}", "uvicorn>=0.14.0", "websockets>=10.4", "spaces"]
GPU_PREFIXES = ("nvidia-", "cuda-", "triton")
pytestmark = pytest.mark.slow  # each full resolution takes 1-2 minutes on 2 cores


def _resolve(python: str, *args: str, isolated: bool = False) -> dict[str, str]:
    """name → version pip would install, from its JSON report; pytest.skip when the registry cannot be reached."""
    cmd = [python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-",
           "--only-binary=:all:", *(["--isolated"] if isolated else []), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    if done.returncode != 0 and ("NewConnectionError" in done.stderr or "Network is unreachable" in done.stderr):
        pytest.skip(f"the package registry cannot be reached: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    return {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}


def _gpu_packages(names: dict[str, str]) -> list[str]:
    return sorted(n for n in names if n.startswith(GPU_PREFIXES))


def _python310() -> str | None:
    for candidate in (shutil.which("python3.10"), os.path.expanduser("~/.pyenv/versions/3.10.13/bin/python3.10")):
        if candidate and subprocess.run([candidate, "--version"], capture_output=True).returncode == 0:
            return candidate
    return None


def test_the_cpu_space_requirements_resolve_to_cpu_torch_and_no_nvidia_package():
    offered = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
                              "--quiet", "torch==2.13.0+cpu"], capture_output=True, text=True, timeout=300)
    if offered.returncode != 0:
        pytest.skip("no CPU torch wheel is offered to pip here — set PIP_EXTRA_INDEX_URL to PyTorch's CPU wheel "
                    "index, as the CPU Space does, to run this check")
    names = _resolve(sys.executable, "-r", "requirements.txt", *SPACE_EXTRAS)
    assert names["torch"] == "2.13.0+cpu"
    assert _gpu_packages(names) == []
    assert "torchvision" not in names  # unpinned it would bring a CUDA torch back
    assert names["gradio"] == SDK_VERSION and "mcp" in names and "spaces" in names


def test_without_a_cpu_wheel_offered_the_same_torch_pin_pulls_the_cuda_packages():
    """The control: pip's own defaults only (`--isolated` drops this machine's config) — the registry's torch."""
    names = _resolve(sys.executable, "torch==2.13.0", isolated=True)
    assert "+cpu" not in names["torch"]
    assert len(_gpu_packages(names)) >= 5, names


def test_the_requirements_resolve_on_python_3_10_for_zerogpu():
    python = _python310()
    if python is None:
        pytest.skip("no Python 3.10 interpreter here")
    names = _resolve(python, "-r", "requirements.txt", *SPACE_EXTRAS)
    assert names["torch"].startswith("2.13.0") and names["gradio"] == SDK_VERSION
    # what differs on 3.10: the newest transformers (5.21+, with pipeline("decision") for score mode) and
    # genai-prices need 3.11, so pip takes an older transformers and leaves the price database out
    major, minor = (int(x) for x in names["transformers"].split(".")[:2])
    assert (major, minor) < (5, 21) and "genai-prices" not in names
