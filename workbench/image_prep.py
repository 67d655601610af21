"""Preparing one image file to be sent: decoded (a big JPEG at a reduced scale), hashed, resized to each long
edge a batch sends at, and encoded where the backend takes bytes. The same function runs in a batch's decoder
threads and in its worker processes (see batch/photo_processes.py), so both give the same bytes and the same hash.

A module of its own, importing only `images`: a worker process imports it (spawn starts a fresh interpreter), and
importing the batch package there would cost it most of a second and tens of MB."""
from __future__ import annotations

import dataclasses
import io
import os
import time
from dataclasses import dataclass
from typing import Callable

from PIL import Image

from .images import load_image, resized


def file_stat(path: str) -> tuple[int, int] | None:
    """(size, mtime in ns): an image file unchanged since it was hashed need not be read again."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


@dataclass(frozen=True)
class PreparedFile:
    source: str  # the file's name, as results show it
    sha256: str  # LoadedImage.sha256
    sent: dict  # {long edge: what is sent at that edge}: the resized LoadedImage, or the backend's encoded image
    stat: tuple[int, int] | None  # file_stat, taken before reading
    cpu_s: float  # CPU seconds this took on the thread that prepared it


def prepare_file(path: str, edges: list[int], prepare: Callable | None) -> PreparedFile:
    """The image file at `path`, prepared to be sent. Decoded once, at the smallest scale that covers the largest
    edge; what is sent is the resized `LoadedImage`, or `prepare(resized image, edge)` (the backend's encoded bytes)
    where the backend offers that: a photo waiting for its call then holds a few hundred KB rather than its pixels.
    Raises what `load_image` raises."""
    started = time.thread_time()  # in a worker process, its only thread
    stat = file_stat(path)
    image = load_image(path, max_edge=max(edges))  # a big JPEG decodes at a reduced scale: see load_image
    sent = {}
    for edge in edges:
        small = dataclasses.replace(image, pil=resized(image, edge))
        sent[edge] = small if prepare is None else prepare(small, edge)
    return PreparedFile(image.source, image.sha256, sent, stat, time.thread_time() - started)


def warm_up(prepare: Callable | None) -> None:
    """Pay a process's one-off costs of reading an image (Pillow's plugins and codecs, the backend's encoder: about
    40 ms) on a tiny image, so that the first real image's time is its own: the reader sizes its chunks and its
    decoder threads on that time (a first 32-pixel PNG took 35 ms, later ones 0.3 ms)."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    image = load_image(buffer.getvalue(), max_edge=8)
    if prepare is not None:
        prepare(image, 8)
