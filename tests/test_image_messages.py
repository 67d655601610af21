"""An image that cannot be read says which it is: a damaged file (re-download it), a valid file in a variant this
Pillow has no decoder for (re-save it), or a format we do not read (convert it). Files are built here, offline."""
from __future__ import annotations

import io
import random
import struct

import pytest
from PIL import Image

from workbench.errors import ImageError
from workbench.images import load_image


def bitfields_bmp(width: int = 4, height: int = 2) -> bytes:
    """A 32-bit BMP with BI_BITFIELDS masks in a 10-10-10 layout: valid, but not one Pillow decodes."""
    pixels = bytes(width * height * 4)
    dib = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 32, 3, len(pixels), 2835, 2835, 0, 0)
    masks = struct.pack("<III", 0x3FF00000, 0x000FFC00, 0x000003FF)
    offset = 14 + len(dib) + len(masks)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + dib + masks + pixels


def webp_in_tiff() -> bytes:
    """A TIFF whose strips say WebP compression (50001): a valid file that only some libtiff builds decode."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(out, format="TIFF")
    data = bytearray(out.getvalue())
    ifd = int.from_bytes(data[4:8], "little")
    for i in range(int.from_bytes(data[ifd:ifd + 2], "little")):
        entry = ifd + 2 + 12 * i
        if int.from_bytes(data[entry:entry + 2], "little") == 259:  # Compression
            data[entry + 8:entry + 10] = (50001).to_bytes(2, "little")
    return bytes(data)


def test_random_bytes_named_png_are_a_damaged_file_not_a_format_to_convert(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(random.Random(1).randbytes(3000))
    with pytest.raises(ImageError) as info:
        load_image(path)
    message = str(info.value)
    assert "broken.png" in message and "corrupt" in message and "re-download" in message
    assert "convert it" not in message


def test_a_png_with_a_damaged_header_is_corrupt(tmp_path):
    out = io.BytesIO()
    Image.new("RGB", (16, 16)).save(out, format="PNG")
    data = bytearray(out.getvalue())
    data[12:16] = b"XXXX"  # the IHDR chunk's name
    path = tmp_path / "photo.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError, match="corrupt.*re-download"):
        load_image(path)


@pytest.mark.parametrize("name, data, fmt", [("scan.bmp", bitfields_bmp(), "BMP"),
                                             ("scan.tif", webp_in_tiff(), "TIFF")])
def test_a_valid_file_in_a_variant_pillow_cannot_decode_says_so(tmp_path, name, data, fmt):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImageError) as info:
        load_image(path)
    message = str(info.value)
    assert f"is a {fmt} file in a variant" in message and "re-save it as PNG or JPEG" in message
    assert "truncated" not in message and "re-download" not in message


def test_a_format_we_do_not_read_still_says_convert(tmp_path):
    path = tmp_path / "icon.ico"
    Image.new("RGB", (8, 8)).save(path, format="ICO")
    with pytest.raises(ImageError, match="not a recognised image.*convert it to PNG or JPEG"):
        load_image(path)
