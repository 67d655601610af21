"""Issue 2's two figures: time from `python app.py` to a served page vs `import gradio` alone (goal ≤ 1.5×),
and the bytes sent for a 12-megapixel photo at default settings (goal ≤ 500 KB).

    python bench/app_startup.py
"""
from __future__ import annotations

import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNS = 3


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_import_gradio() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gradio"], check=True)
    return time.perf_counter() - start


def time_app_to_page() -> float:
    port = _port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5).status_code == 200:
                    return time.perf_counter() - start
            except httpx.HTTPError:
                time.sleep(0.05)
            if proc.poll() is not None:
                raise RuntimeError("app.py exited before serving a page")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def photo_12mp() -> bytes:
    """A photo-like 4000×3000 JPEG: smooth gradients, shapes and sensor-like noise (no downloaded image)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:3000, 0:4000].astype(np.float32)
    base = np.stack([120 + 80 * np.sin(x / 700), 110 + 60 * np.cos(y / 500), 100 + 50 * np.sin((x + y) / 900)], -1)
    noisy = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noisy).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def bytes_sent_for_12mp() -> tuple[int, int, int]:
    """Encoded image bytes and the whole HTTP request body, as a real OpenAI-compatible call sends them."""
    from tests.fault_server import FaultServer
    from workbench import ModelSpec, encode_image, load_image, run_model

    raw = photo_12mp()
    encoded = encode_image(load_image(raw))
    with FaultServer() as server:
        spec = ModelSpec(name="bench", provider="custom", base_url=server.url, model="ok")
        run_model(raw, "ask", spec)
        body = int(server.last_headers.get("content-length") or server.last_headers.get("Content-Length"))
    return len(raw), encoded.size_bytes, body


def main() -> None:
    gradio_s = statistics.median(time_import_gradio() for _ in range(RUNS))
    app_s = statistics.median(time_app_to_page() for _ in range(RUNS))
    print(f"import gradio alone:            {gradio_s:.2f} s (median of {RUNS})")
    print(f"python app.py → page served:    {app_s:.2f} s (median of {RUNS})")
    print(f"ratio:                          {app_s / gradio_s:.2f}×  (goal ≤ 1.5×)")
    original, image_bytes, body = bytes_sent_for_12mp()
    print(f"12 MP photo: file {original / 1e6:.1f} MB → image sent {image_bytes / 1024:.0f} KB, "
          f"whole request {body / 1024:.0f} KB (goal ≤ 500 KB)")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # no ./models.toml or runs/ from the caller's folder
        main()
