"""Uploaded images and zip archives → a list of image paths, unpacked safely."""
from __future__ import annotations

import zipfile
from pathlib import Path

from .errors import ImageError
from .images import IMAGE_SUFFIXES

MAX_ZIP_FILES = 20_000
MAX_ZIP_BYTES = 4 * 2**30  # uncompressed


def image_paths(uploads: list[str], folder: str | Path) -> list[str]:
    """Images are passed through; a .zip is unpacked into `folder` (images only, no paths outside it)."""
    paths: list[str] = []
    for upload in uploads:
        if Path(upload).suffix.lower() == ".zip":
            paths.extend(unzip_images(upload, Path(folder) / Path(upload).stem))
        elif Path(upload).suffix.lower() in IMAGE_SUFFIXES:
            paths.append(str(upload))
        else:
            raise ImageError(f"{Path(upload).name} is neither an image nor a .zip of images — upload "
                             f"{', '.join(IMAGE_SUFFIXES)} files or a zip of them")
    return paths


def unzip_images(archive: str | Path, folder: Path) -> list[str]:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise ImageError(f"{Path(archive).name} is not a readable zip archive — re-create it and upload again") \
            from None
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir() and Path(m.filename).suffix.lower() in IMAGE_SUFFIXES
                   and not Path(m.filename).name.startswith(".")]
        if len(members) > MAX_ZIP_FILES or sum(m.file_size for m in members) > MAX_ZIP_BYTES:
            raise ImageError(f"{Path(archive).name} holds more than {MAX_ZIP_FILES:,} images or "
                             f"{MAX_ZIP_BYTES // 2**30} GB — split it, or run `python -m workbench batch` on a folder")
        out = []
        for member in members:
            target = (folder / member.filename).resolve()
            if folder.resolve() not in target.parents:  # "../" or absolute names: never write outside the folder
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "wb") as dst:
                dst.write(src.read())
            out.append(str(target))
    return out
