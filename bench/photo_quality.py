"""What a reduced-scale JPEG decode does to the image sent, and where a photo's CPU goes (prints figures).

    python bench/photo_quality.py

For each photo and long edge: the PSNR of the image as sent (JPEG quality 85) against an ideal resize of the full
decode (LANCZOS straight from full size, no shortcut), and its bytes, for today's full-size path (LANCZOS with a
reducing gap) and for a 1/2, 1/4 or 1/8-scale decode followed by LANCZOS, bicubic (what images.py ships) or
bilinear. Then one 12 MP photo's preparation step by step, on one thread, median of 7.

Photos: a synthetic 12 MP phone photo with sensor-like noise (tests/test_images.py; the hard case: fine detail), a
photo of the photos benchmark (a high-detail pattern; it is written by `batch_bench.py photos`, skipped if absent)
and two sample images at 256 px.
"""
from __future__ import annotations

import hashlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_images import _phone_photo  # noqa: E402 — the tests' synthetic photo, so both use one

FILTERS = {"LANCZOS": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC,
           "bilinear": Image.Resampling.BILINEAR}
BENCH_PHOTO = Path(tempfile.gettempdir()) / "workbench-batch-bench" / "photos12mp" / "photo00.jpg"


def _sent(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)


def _psnr(sent: bytes, ideal: np.ndarray) -> float:
    return float(10 * np.log10(255 ** 2 / np.mean((_pixels(sent) - ideal) ** 2)))


def quality(name: str, data: bytes, edges: tuple[int, ...]) -> None:
    full = Image.open(io.BytesIO(data)).convert("RGB")
    for edge in edges:
        scale = edge / max(full.size)
        size = (round(full.width * scale), round(full.height * scale))
        ideal = np.asarray(full.resize(size, Image.Resampling.LANCZOS), dtype=np.float64)
        today = _sent(full.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))
        reduced = Image.open(io.BytesIO(data))
        reduced.draft("RGB", size)
        reduced = reduced.convert("RGB")
        cells = [f"today {_psnr(today, ideal):.1f} dB {len(today) / 1024:.0f} KB"]
        for label, how in FILTERS.items():
            sent = _sent(reduced.resize(size, how))
            cells.append(f"{label} {_psnr(sent, ideal):.1f} dB {len(sent) / 1024:.0f} KB")
        print(f"{name} at {edge} px (decoded {reduced.width}×{reduced.height}): " + "; ".join(cells))


def steps(data: bytes, edge: int = 1536, repeat: int = 7) -> None:
    """One photo's preparation, step by step, as load_image and encode_image do it."""
    times: dict[str, list[float]] = {}

    def timed(label, fn):
        started = time.thread_time()
        out = fn()
        times.setdefault(label, []).append(time.thread_time() - started)
        return out

    width, height = Image.open(io.BytesIO(data)).size
    size = (edge, round(height * edge / width))
    for _ in range(repeat):
        def decode():
            image = Image.open(io.BytesIO(data))
            image.draft("RGB", size)
            return image.convert("RGB")
        reduced = timed("decode at 1/2 scale", decode)
        assert reduced.width == width // 2, reduced.size
        timed("file hash", lambda: hashlib.sha256(b"file:" + data).hexdigest())
        small = timed("bicubic resize", lambda: reduced.resize(size, Image.Resampling.BICUBIC))
        timed("LANCZOS resize (for comparison)", lambda: reduced.resize(size, Image.Resampling.LANCZOS))
        timed("encode (JPEG 85)", lambda: _sent(small))
        timed("full-size decode (for comparison)", lambda: Image.open(io.BytesIO(data)).convert("RGB"))
    print(f"one {len(data) / 1e6:.1f} MB photo sent at {edge} px, CPU on one thread, median of {repeat}: "
          + "; ".join(f"{label} {1000 * statistics.median(t):.0f} ms" for label, t in times.items()))


def main() -> None:
    photo = _phone_photo()
    quality("synthetic noisy 12 MP photo", photo, (1536, 768))
    if BENCH_PHOTO.exists():
        quality("photos benchmark photo", BENCH_PHOTO.read_bytes(), (1536, 768))
    for name in ("road_pothole_severe.jpg", "park_scene.jpg"):
        quality(name, (ROOT / "sample_images" / name).read_bytes(), (256,))
    steps(photo)
    if BENCH_PHOTO.exists():
        steps(BENCH_PHOTO.read_bytes())


if __name__ == "__main__":
    main()
