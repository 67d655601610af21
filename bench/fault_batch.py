"""Issue "Nothing lost under faults": 300 images against a loopback server that answers each distinct request at
most once with a fault (429, 500, 503, an HTML page with status 200, a cut JSON body, `choices=[]`, a dropped
connection), in generate and in score mode; then `kill -9` of a CLI batch mid-run and the same command again.

    python bench/fault_batch.py            # prints one line per experiment

Figures: items stored ok / stored as failures, calls made, duplicate paid calls (a distinct request answered
successfully twice, counted at the server), calls made by a re-run; for kill -9: items committed at the kill,
calls of the second run, and the answers paid twice (received before the kill but not yet committed).
"""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from tests.fault_server import FaultServer  # noqa: E402
from workbench.batch import run_batch  # noqa: E402
from workbench.models import ModelSpec  # noqa: E402

FAULTS = ("429", "500", "503", "html", "truncated", "no-choices", "drop")
SHARE = 0.16  # of the distinct requests faulted once: with 3 malformed kinds of 7, about 7 % of 300 items
IMAGES = 300


def make_images(folder: Path, n: int = IMAGES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    for i in range(n):  # noise: plain colours can encode to the same JPEG, and so to the same request
        Image.frombytes("RGB", (24, 16), rng.randbytes(24 * 16 * 3)).save(folder / f"img{i:04d}.png")
    return folder


def library_batch(tmp: Path, mode: str) -> str:
    images = make_images(tmp / "imgs")
    task = "pothole_severity" if mode == "score" else "ask"
    with FaultServer(fault_once=FAULTS, fault_share=SHARE) as server:
        spec = ModelSpec(name="flaky", provider="custom", base_url=server.url, model="ok", timeout=10)
        run = run_batch(images, task, [spec], db=tmp / "wb.db", mode=mode, workers=16, progress=False)
        calls, faulted = sum(server.calls.values()), sum(server.faulted.values())
        again = run_batch(images, task, [spec], db=tmp / "wb.db", mode=mode, workers=16, progress=False)
        assert again.calls == 0 or run.failed, "a re-run after a clean run must send nothing"
        rerun_calls = sum(server.calls.values()) - calls
        frame = run.results()
        for _, row in frame[frame["status"] == "error"].iterrows():
            print(f"  failure: {row['error_type']}: {row['error']}")
        return (f"{mode}: {run.answered}/{run.total} answered, {run.failed} stored as failures, {calls} calls "
                f"({faulted} faults sent: {dict(server.faulted)}), {server.duplicates} duplicate paid calls; "
                f"re-run: {rerun_calls} calls")


def _stored(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def kill_and_rerun(tmp: Path, kill_at: int = 100) -> str:
    images = make_images(tmp / "imgs")
    db = tmp / "wb.db"
    with FaultServer(fault_once=FAULTS, fault_share=SHARE, latency_s=0.02) as server:
        command = [sys.executable, "-m", "workbench", "batch", "--path", str(images), "--task", "ask", "--model",
                   "ok", "--api-base", server.url, "--workers", "8", "--db", str(db), "--no-progress", "--json"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(command, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while _stored(db) < kill_at and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        at_kill, paid_before = _stored(db), sum(server.paid.values())
        first_calls = sum(server.calls.values())
        done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
        second_calls = sum(server.calls.values()) - first_calls
        with sqlite3.connect(db) as conn:
            ok, failed = conn.execute("SELECT SUM(status != 'error'), SUM(status = 'error') FROM results").fetchone()
        return (f"kill -9: {at_kill} committed at the kill ({paid_before} answers received, {first_calls} calls); "
                f"second run: {second_calls} calls for {IMAGES - at_kill} missing items, "
                f"{server.duplicates} answers paid twice; end: {ok} ok, {failed} failures (rc {done.returncode})")


def main() -> None:
    chosen = sys.argv[1:] or ["generate", "score", "kill"]
    experiments = {"generate": lambda t: library_batch(t, "generate"), "score": lambda t: library_batch(t, "score"),
                   "kill": kill_and_rerun}
    for experiment in (experiments[name] for name in chosen):
        with tempfile.TemporaryDirectory() as tmp:
            print(experiment(Path(tmp)), flush=True)


if __name__ == "__main__":
    main()
