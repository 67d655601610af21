"""`python app.py` as a user starts it, on a free loopback port, for the tests that drive the real app."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(work: Path, models_toml: str | None = None, *, env: dict | None = None, drop: tuple = (),
              timeout_s: float = 120, args: tuple = ()):
    """(process, url, log path) once the page answers. `models_toml`: written to work/models.toml and used;
    `env`: variables on top of this process's environment; `drop`: variables to leave out of it; `args`: more
    command-line arguments (`--mcp`)."""
    work.mkdir(parents=True, exist_ok=True)
    extra = dict(env or {})
    if models_toml is not None:
        (work / "models.toml").write_text(models_toml)
        extra.setdefault("WORKBENCH_MODELS", str(work / "models.toml"))
    full = {k: v for k, v in os.environ.items() if k not in drop}
    full.update({"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1",
                 "GRADIO_TEMP_DIR": str(work / "gradio-tmp"), **extra})
    port = free_port()
    log_path = work / "app.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), *args], cwd=work,
                                env=full, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc, url, log_path
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"app did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.3)


def stop_app(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def road_grader(work: Path, grades: dict[str, str], earlier: list[str]):
    """A fault server that grades sample photos as `grades` says (file name → severity; it reports a cost), a
    models file naming it "road grader", and a run store already holding a batch of the photos `earlier` made
    from Python: (server, models file, store path, that run). The caller stops the server."""
    import json

    from tests.fault_server import FaultServer
    from workbench import ModelSpec, run_batch

    faults = FaultServer().start()
    for name, answer in grades.items():
        faults.images[name] = str(ROOT / "sample_images" / name)
        faults.answers[("cost", name)] = json.dumps({"severity": answer, "reason": "looked at it"})
    models = work / "models.toml"
    models.write_text(f"""
[[models]]
name = "road grader"
provider = "custom"
base_url = "{faults.url}"
model = "cost"
max_edge = 512
selected = true
""")
    db = work / "runs.db"
    grader = ModelSpec(name="road grader", provider="custom", base_url=faults.url, model="cost", max_edge=512)
    run = run_batch([str(ROOT / "sample_images" / n) for n in earlier], "pothole_severity", [grader], db=db,
                    progress=False, source="notebook")
    return faults, models, db, run
