"""Turn whatever the user hands us into one clean RGB image, and encode it for a model.

Everything that reaches a backend goes through `load_image` (decode safely, normalise) and then
`encode_image` or `resized`. Backends never open files themselves.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import math
import os
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from workbench.errors import ImageError
from workbench.image_bytes import saved_bytes  # encodes with the GIL free

_HEIF_AVAILABLE = importlib.util.find_spec("pillow_heif") is not None

SUPPORTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF") + (
    ("HEIF",) if _HEIF_AVAILABLE else ()
)
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_EDGE = 1536
_HASH_STRIP_BYTES = 4 << 20
# File names worth trying when a folder or zip is scanned (the content still decides what opens).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".heif")

_SNIFF_BYTES = 4096
_ENCODINGS = {"JPEG": "image/jpeg", "JPG": "image/jpeg", "PNG": "image/png"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}
# Decode errors Pillow raises for damaged data (it has no single exception type for them).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)
# ...and the words it uses when the data is fine but in a variant it has no decoder for.
_VARIANT_WORDS = re.compile(r"unsupported|not supported|not available|not configured|unknown (?:raw )?mode|"
                            r"cannot handle|unknown compression", re.I)
# TIFF compressions every Pillow build decodes; others (WebP, ZSTD, LERC…) depend on how libtiff was built.
_TIFF_COMMON = {"raw", "tiff_ccitt", "group3", "group4", "tiff_lzw", "tiff_jpeg", "jpeg", "tiff_adobe_deflate",
                "packbits", "tiff_deflate", "tiff_raw_16"}
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
          (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))


@dataclass(frozen=True)
class LoadedImage:
    """A decoded, normalised image: RGB, EXIF rotation applied, first frame of an animation."""

    pil: Image.Image
    # Hash of the pixels, not the file bytes: the same picture under two names, or re-saved
    # losslessly (PNG vs. BMP, stripped metadata), gets the same id for caching and result tables.
    # A JPEG loaded for a known max_edge is decoded at a reduced scale (see `load_image`) and its full-size pixels
    # never exist. Its id is then a hash of the file's bytes, after the header "file:": the bytes fix every pixel
    # at every scale (EXIF orientation included), so the id is the same whichever size the photo is sent at, and
    # costs a fifth of hashing the pixels at 1/2 scale. A pixel hash's header ("WxH:RGB:") is never "file:",
    # so such an id can only miss an older store's key for the same photo (one new call), never match another
    # image's. An image decoded at full size keeps its pixel hash, as ever.
    sha256: str
    source: str
    format: str | None
    frames: int
    original_size: tuple[int, int]  # as stored, before EXIF rotation
    decoded_scale: int = 1  # 2, 4 or 8 when a JPEG was decoded at that fraction of its size (see load_image)

    @property
    def width(self) -> int:
        return self.pil.width

    @property
    def height(self) -> int:
        return self.pil.height


@dataclass(frozen=True)
class EncodedImage:
    """Bytes ready to send to a model API."""

    data: bytes
    mime: str
    width: int
    height: int

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    @property
    def size_bytes(self) -> int:
        return len(self.data)


# ---------------------------------------------------------------------------------------------
# load_image


def load_image(
    source: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS, background: tuple[int, int, int] = (255, 255, 255),
    max_edge: int | None = None,
) -> LoadedImage:
    """Decode `source` (path, bytes, file object, PIL image, numpy array) into a `LoadedImage`.

    max_edge: the largest long edge the image will be sent at, where the caller knows it. A JPEG is then decoded
    at the smallest of its DCT scales (1/2, 1/4, 1/8) that still covers it — a 12 MP phone photo sent at 1536 px
    is decoded at 1/2 scale, a quarter of the pixels — and `resized` takes it the rest of the way. The image's
    pixels are then those of that scale, its hash is of the file's bytes (see LoadedImage.sha256), and
    `original_size` stays the size as stored.

    Raises ImageError, with a message saying what to do, for anything we will not send to a model.
    """
    if isinstance(source, LoadedImage):
        return source
    if isinstance(source, Image.Image):
        return _from_pil(source, max_pixels, background)
    if isinstance(source, np.ndarray):
        pil = _array_to_pil(source)
        _check_pixels(pil.size, max_pixels, "<array>")
        return _finish(_to_rgb(pil, background), "<array>", None, 1, pil.size)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return _decode(io.BytesIO(data), data[:_SNIFF_BYTES], "<bytes>", max_pixels, background, max_edge)
    if isinstance(source, (str, os.PathLike)):
        return _from_path(source, max_pixels, background, max_edge)
    if hasattr(source, "read"):
        return _from_file_object(source, max_pixels, background, max_edge)
    raise ImageError(
        f"cannot load an image from a {type(source).__name__} — pass a file path, bytes, "
        "a binary file object, a PIL image or a numpy array"
    )


def _from_path(source: str | os.PathLike, max_pixels: int, background: tuple[int, int, int],
               max_edge: int | None = None) -> LoadedImage:
    text = os.fspath(source)
    if isinstance(text, str) and text.startswith(("http://", "https://")):
        raise ImageError(f"{text} is a URL; images are not downloaded — save the file and pass its path")
    path = Path(text)
    if not path.exists():
        raise ImageError(f"image file not found: {path} — check the path")
    if not path.is_file():
        raise ImageError(f"{path} is not a file — pass the path of an image file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path} is an empty file (0 bytes) — re-export or re-download it")
    with path.open("rb") as fp:
        head = fp.read(_SNIFF_BYTES)
        fp.seek(0)
        return _decode(fp, head, path.name, max_pixels, background, max_edge)


def _from_file_object(fp: IO[bytes], max_pixels: int, background: tuple[int, int, int],
                      max_edge: int | None = None) -> LoadedImage:
    data = fp.read()
    if not isinstance(data, (bytes, bytearray)):
        raise ImageError("the file object returned text, not bytes — open the file in binary mode ('rb')")
    name = getattr(fp, "name", None)
    label = Path(name).name if isinstance(name, str) else "<file>"
    return _decode(io.BytesIO(bytes(data)), bytes(data[:_SNIFF_BYTES]), label, max_pixels, background, max_edge)


def _decode(
    fp: IO[bytes], head: bytes, name: str, max_pixels: int, background: tuple[int, int, int],
    max_edge: int | None = None,
) -> LoadedImage:
    if not head:
        raise ImageError(f"{name} is an empty file (0 bytes) — re-export or re-download it")
    _reject_unsupported(head, name)
    im = _open(fp, head, name, max_pixels)
    _check_pixels(im.size, max_pixels, name)
    frames = _frame_count(im, name)
    original_size = im.size
    scale = _draft(im, max_edge)
    file_digest = _file_digest(fp) if scale > 1 else None  # before the pixels: load() seeks to its own offset
    _load_pixels(im, name)
    rgb = _to_rgb(_apply_exif_orientation(im), background)
    return _finish(rgb, name, im.format, frames, original_size, scale, file_digest)


def _file_digest(fp: IO[bytes]) -> str:
    """The id of an image decoded at a reduced scale: a hash of its file's bytes (see LoadedImage.sha256)."""
    digest = hashlib.sha256(b"file:")
    fp.seek(0)
    while chunk := fp.read(_HASH_STRIP_BYTES):
        digest.update(chunk)
    return digest.hexdigest()


def _draft(im: Image.Image, max_edge: int | None) -> int:
    """Ask the JPEG decoder for the smallest DCT scale whose long edge still covers `max_edge`; returns the scale
    divisor (1: full size). Other formats decode at full size: Pillow's `reduce` would need the full decode first,
    which is the cost this avoids (and `resized` already shrinks by whole factors before LANCZOS)."""
    if max_edge is None or im.format not in ("JPEG", "MPO"):
        return 1
    _check_edge(max_edge)
    width, height = im.size
    if max(width, height) < 2 * max_edge:
        return 1
    ratio = max_edge / max(width, height)
    im.draft(None, (math.ceil(width * ratio), math.ceil(height * ratio)))
    return round(width / im.size[0])


def _reject_unsupported(head: bytes, name: str) -> None:
    """Give a specific message for common non-image or unsupported files, judged by content."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or (text.startswith((b"<?xml", b"<!doctype")) and b"<svg" in text):
        raise ImageError(f"{name} is an SVG, which is not supported — export it as PNG or JPEG first")
    if head.startswith(b"%PDF"):
        raise ImageError(f"{name} is a PDF, which is not supported — export the page as PNG or JPEG first")
    if _is_heif(head):
        if not _HEIF_AVAILABLE:
            raise ImageError(
                f"{name} is a HEIC/HEIF photo — run `pip install pillow-heif` to read it, or export it as JPEG"
            )
        _register_heif()


def _is_heif(head: bytes) -> bool:
    """An ISO-BMFF 'ftyp' box whose brands say HEIF (AVIF shares the container and brand mif1)."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return False
    box_size = int.from_bytes(head[0:4], "big")
    body = head[8 : max(16, min(box_size, len(head)))]
    brands = {body[0:4]} | {body[i : i + 4] for i in range(8, len(body) - 3, 4)}
    return not (brands & _AVIF_BRANDS) and bool(brands & _HEIF_BRANDS)


def _register_heif() -> None:
    import pillow_heif  # optional; imported only when a HEIF file actually arrives

    pillow_heif.register_heif_opener()


def _decoder_names() -> list[str]:
    Image.init()  # loads Pillow's plugins so AVIF/HEIF show up if this Pillow has them
    return [name for name in SUPPORTED_FORMATS if name in Image.OPEN]


def _open(fp: IO[bytes], head: bytes, name: str, max_pixels: int) -> Image.Image:
    """Read only the header, with decoders restricted to the formats we support."""
    try:
        with warnings.catch_warnings():
            # Pillow warns between 1x and 2x its own limit; our cap (checked next) decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fp, formats=_decoder_names())
    except UnidentifiedImageError:
        raise _unidentified(head, name) from None
    except Image.DecompressionBombError as exc:
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(declared.group(1)) / 1e6:.0f} MP" if declared else "more pixels than Pillow allows"
        raise ImageError(
            f"{name} declares {size}, beyond what the decoder will safely open — "
            f"resize it below {max_pixels / 1e6:g} MP (max_pixels) first"
        ) from None
    except _DECODE_ERRORS as exc:
        raise _undecodable(name, exc, _sniff(head)) from None


def _sniff(head: bytes) -> str | None:
    """The format the file's first bytes say it is, whatever its name says."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for magic, fmt in _MAGIC if head.startswith(magic)), None)


def _unidentified(head: bytes, name: str) -> ImageError:
    """No decoder took the file: a damaged file of a format we read, or a format we do not read."""
    said = _sniff(head)
    if said:
        return ImageError(f"{name} starts like a {said} file but its header is damaged — the file is corrupt: "
                          "re-export or re-download it")
    named = Image.registered_extensions().get(Path(name).suffix.lower())
    if named in SUPPORTED_FORMATS:
        return ImageError(f"{name} is named as a {named} file but its content is not a recognised image (it "
                          f"begins {head[:16]!r}) — the file is corrupt: re-download it, or re-export it as PNG or "
                          "JPEG")
    return ImageError(f"{name} is not a recognised image (supported: {', '.join(SUPPORTED_FORMATS)}) "
                      "— convert it to PNG or JPEG")


def _undecodable(name: str, exc: Exception, fmt: str | None, im: Image.Image | None = None) -> ImageError:
    """A decode failure: a valid file in a variant this Pillow has no decoder for, or a damaged file."""
    variant = str(exc) if _VARIANT_WORDS.search(str(exc)) else None
    compression = im.info.get("compression") if im is not None and im.format == "TIFF" else None
    if variant is None and compression and compression not in _TIFF_COMMON:
        variant = f"{compression} compression, which this Pillow's libtiff was not built to decode"
    if variant:
        return ImageError(f"{name} is a {fmt or 'valid'} file in a variant this image library cannot decode "
                          f"({variant}) — the file is probably fine: re-save it as PNG or JPEG in an image editor")
    return ImageError(f"{name} is truncated or corrupt ({exc}) — re-export or re-download it")


def _check_pixels(size: tuple[int, int], max_pixels: int, name: str) -> None:
    """Our own cap, applied to the declared size before any pixel is decoded."""
    width, height = size
    if width * height > max_pixels:
        raise ImageError(
            f"{name} is {width}x{height} ({width * height / 1e6:.1f} MP), over the "
            f"{max_pixels / 1e6:g} MP limit (max_pixels) — resize it first"
        )
    if width < 1 or height < 1:
        raise ImageError(f"{name} has no pixels ({width}x{height}) — re-export it")


def _frame_count(im: Image.Image, name: str) -> int:
    if im.format == "MPO":  # camera JPEGs with a preview/depth image: not an animation
        return 1
    try:
        return int(getattr(im, "n_frames", 1))
    except _DECODE_ERRORS as exc:
        raise _undecodable(name, exc, im.format, im) from None


def _load_pixels(im: Image.Image, name: str) -> None:
    try:
        im.load()
    except _DECODE_ERRORS as exc:
        raise _undecodable(name, exc, im.format, im) from None


def _apply_exif_orientation(im: Image.Image) -> Image.Image:
    try:
        if im.getexif().get(0x0112, 1) in (None, 1):
            return im
        return ImageOps.exif_transpose(im)
    except _DECODE_ERRORS:
        return im  # broken EXIF must not cost the user the image; show it unrotated


# ---------------------------------------------------------------------------------------------
# Normalisation to RGB


def _to_rgb(im: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; transparency composited onto `background`."""
    if im.mode in _SIXTEEN_BIT_MODES or im.mode in ("I", "F"):
        return _deep_to_8bit(im).convert("RGB")
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        return _composite(im.convert("RGBA"), background)
    if im.mode == "RGB":
        return im
    try:
        return im.convert("RGB")
    except ValueError:
        raise ImageError(f"colour mode {im.mode} is not supported — re-save the image as RGB") from None


def _composite(rgba: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    # Pasting with the alpha mask means fully transparent pixels show the background,
    # never the (often garbage) colour stored under alpha 0.
    out = Image.new("RGB", rgba.size, tuple(background))
    out.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
    return out


def _deep_to_8bit(im: Image.Image) -> Image.Image:
    """Scale 16/32-bit greyscale to 8 bits by the data type's range (Pillow would clip)."""
    values = np.asarray(im)
    if im.mode in _SIXTEEN_BIT_MODES:
        return Image.fromarray((values >> 8).astype(np.uint8))
    if im.mode == "F":
        return Image.fromarray(_float_to_uint8(values))
    # Mode "I" is int32, but in practice holds 16-bit samples (older Pillow, TIFF).
    if values.min() >= 0 and values.max() <= 0xFFFF:
        return Image.fromarray((values >> 8).astype(np.uint8))
    return Image.fromarray(_stretch(values))


def _float_to_uint8(values: np.ndarray) -> np.ndarray:
    if values.size and (np.nanmin(values) < 0 or np.nanmax(values) > 1):
        return _stretch(values)
    return np.round(np.nan_to_num(values) * 255).astype(np.uint8)


def _stretch(values: np.ndarray) -> np.ndarray:
    """Last resort for data with no natural range: map min..max onto 0..255."""
    values = np.nan_to_num(values.astype(np.float64))
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.round((values - low) * (255.0 / (high - low))).astype(np.uint8)


def _from_pil(im: Image.Image, max_pixels: int, background: tuple[int, int, int]) -> LoadedImage:
    _check_pixels(im.size, max_pixels, "<PIL image>")
    frames = 1 if im.format == "MPO" else int(getattr(im, "n_frames", 1))
    _load_pixels(im, "<PIL image>")
    rgb = _to_rgb(_apply_exif_orientation(im), background)
    if rgb is im:
        rgb = im.copy()  # never share the caller's object: they may keep drawing on it
    return _finish(rgb, "<PIL image>", None, frames, im.size)


def _array_to_pil(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(
            f"numpy array of shape {array.shape} is not an image — expected HxW, HxWx3 or HxWx4"
        )
    # fromarray picks L, RGB or RGBA from the shape once the data is uint8.
    return Image.fromarray(np.ascontiguousarray(_array_to_uint8(array)))


def _array_to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype == np.uint16:
        return (array >> 8).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 1):
            raise ImageError("float arrays must hold values in 0..1 — divide by 255 (or your maximum) first")
        return np.round(np.nan_to_num(array) * 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ImageError(
                f"{array.dtype} array has values outside 0..255 — convert it to uint8 or uint16 first"
            )
        return array.astype(np.uint8)
    raise ImageError(f"numpy arrays of dtype {array.dtype} are not supported — use uint8, uint16 or float")


def _finish(
    rgb: Image.Image, source: str, fmt: str | None, frames: int, original_size: tuple[int, int], scale: int = 1,
    file_digest: str | None = None,
) -> LoadedImage:
    rgb.info.clear()  # drop EXIF/GPS, ICC, tRNS...: metadata never travels to a model
    return LoadedImage(rgb, file_digest or _pixel_digest(rgb), source, fmt, frames, original_size, scale)


def _pixel_digest(rgb: Image.Image) -> str:
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:RGB:".encode())
    # The same digest as over rgb.tobytes(), a strip of rows at a time: a 12 MP photo never has its 36 MB of
    # pixels copied whole (and the hash is about twice as quick).
    rows = max(1, _HASH_STRIP_BYTES // (3 * rgb.width))
    for top in range(0, rgb.height, rows):
        digest.update(rgb.crop((0, top, rgb.width, min(rgb.height, top + rows))).tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Encoding for model APIs


def resized(image: LoadedImage, max_edge: int | None) -> Image.Image:
    """The image with its long edge capped at `max_edge`. Never upscales.

    LANCZOS, except after a reduced-scale decode, where bicubic: the JPEG decoder's DCT scaling has done the big
    shrink (and its anti-aliasing), what is left is less than 2×, and there bicubic costs two thirds of LANCZOS's
    time (40 against 62 ms from 2000×1500 to 1536×1152) while the sent image stays as close to an ideal resize of
    the full photo (within 0.6 dB PSNR of LANCZOS after the same decode: `bench/photo_quality.py`, the README's
    Performance section; at least 35 dB against a full decode: tests/test_images.py).

    May return `image.pil` itself: copy before drawing on the result.
    """
    pil = image.pil
    if max_edge is None:
        return pil
    _check_edge(max_edge)
    long_edge = max(pil.size)
    if long_edge <= max_edge:
        return pil
    scale = max_edge / long_edge
    size = (max(1, round(pil.width * scale)), max(1, round(pil.height * scale)))
    if image.decoded_scale > 1:
        return pil.resize(size, Image.Resampling.BICUBIC)
    # reducing_gap: shrink by whole factors first, then LANCZOS; same look, much faster on big photos.
    return pil.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _check_edge(max_edge: Any) -> None:
    if not isinstance(max_edge, int) or max_edge < 1:
        raise ImageError(f"max_edge must be a positive whole number of pixels or None, not {max_edge!r}")


def encode_image(
    image: LoadedImage, *, max_edge: int | None = DEFAULT_MAX_EDGE, image_format: str = "JPEG", quality: int = 85
) -> EncodedImage:
    """Resize and encode for an API. JPEG by default; no EXIF/GPS is ever written."""
    fmt = image_format.upper()
    if fmt not in _ENCODINGS:
        raise ImageError(f"cannot encode as {image_format!r} — use 'JPEG' or 'PNG'")
    if not 1 <= quality <= 100:
        raise ImageError(f"JPEG quality must be between 1 and 100, not {quality}")
    pil = resized(image, max_edge)
    options = {"format": "PNG"} if fmt == "PNG" else {"format": "JPEG", "quality": quality}
    return EncodedImage(saved_bytes(pil, **options), _ENCODINGS[fmt], pil.width, pil.height)
