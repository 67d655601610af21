"""Images saved as bytes through a per-thread scratch file (workbench/image_bytes.py)."""
from __future__ import annotations

import io
import os
import threading

import numpy as np
import pytest
from PIL import Image

from workbench import image_bytes
from workbench.image_bytes import saved_bytes


def _noise(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _through_bytesio(pil: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    pil.save(buffer, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("options", [{"format": "JPEG", "quality": 85}, {"format": "PNG"}])
def test_the_same_bytes_as_through_a_bytesio_and_nothing_left_of_a_bigger_image(options):
    big, small = _noise((640, 480), 0), _noise((40, 30), 1)
    assert saved_bytes(big, **options) == _through_bytesio(big, **options)
    assert saved_bytes(small, **options) == _through_bytesio(small, **options)  # the scratch file was emptied


def test_threads_encoding_at_once_each_get_their_own_image():
    images = [_noise((320, 240), seed) for seed in range(4)]
    expected = [_through_bytesio(im, format="JPEG", quality=85) for im in images]
    got: dict[int, list[bytes]] = {}

    def encode(at: int) -> None:
        got[at] = [saved_bytes(images[at], format="JPEG", quality=85) for _ in range(20)]

    threads = [threading.Thread(target=encode, args=(at,)) for at in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(got[at] == [expected[at]] * 20 for at in range(4))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_does_not_write_into_its_parents_scratch_file():
    image = _noise((64, 48), 2)
    parent_bytes = saved_bytes(image, format="PNG")
    parent_file = image_bytes._SCRATCH.file
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: encode another image, report whether it used a file of its own
        try:
            saved_bytes(_noise((8, 8), 3), format="PNG")
            os.write(write, b"own" if image_bytes._SCRATCH.file is not parent_file else b"shared")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 16)
    os.waitpid(pid, 0)
    os.close(read)
    assert answer == b"own"
    parent_file.seek(0)
    assert parent_file.read(len(parent_bytes)) == parent_bytes  # the parent's last image is untouched
