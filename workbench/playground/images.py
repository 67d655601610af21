"""The playground's image picker: the sample images, an upload (checked before it is kept), a thumbnail."""
from __future__ import annotations

import io
from html import escape
from pathlib import Path

from ..errors import ConfigError, ImageError
from ..images import load_image

_THUMBNAIL = 256


class ImagePicker:
    """The Playground's image handling (a part of Playground, not used alone)."""

    @staticmethod
    def _image_options(images) -> list[tuple[str, str]]:
        if images is None:
            from ..notebook_setup import image_files, sample_images_dir

            try:
                images = image_files(sample_images_dir())
            except ConfigError:
                images = []
        return [(Path(p).name, str(p)) for p in images]

    def _image_changed(self) -> None:
        source = self._image_source()
        if source is None:
            self.preview.value = b""
        else:
            try:
                self.preview.value = _thumbnail(source)
            except ImageError as e:
                self.preview.value = b""
                self._say(str(e), error=True)
        self._refresh_models()

    def _uploaded(self) -> None:
        files = self.upload.value
        if not files:
            return
        item = files[-1]
        name, data = item["name"], bytes(item["content"])
        try:
            load_image(_named_bytes(name, data))
        except ImageError as e:
            self._say(f"Upload rejected: {e}", error=True)
            return
        key = f"upload:{name}"
        self._uploads[key] = (name, data)
        options = [o for o in self.image_picker.options if o[1] != key]
        self.image_picker.options = [*options, (f"{name} (uploaded)", key)]
        self.image_picker.value = key
        self._say(f"Uploaded {escape(name)} ({len(data) / 1024:.0f} KB).")

    def _image_source(self):
        key = self.image_picker.value
        if key is None:
            return None
        if key in self._uploads:
            return _named_bytes(*self._uploads[key])
        return key


class _NamedBytes(io.BytesIO):
    name: str


def _named_bytes(name: str, data: bytes) -> io.BytesIO:
    """Bytes that carry their file name, so results say which upload they came from."""
    fp = _NamedBytes(data)
    fp.name = name
    return fp


def _thumbnail(source) -> bytes:
    image = load_image(source).pil.copy()
    image.thumbnail((_THUMBNAIL, _THUMBNAIL))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
