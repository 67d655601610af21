import zipfile

import pytest

from workbench import ImageError
from workbench.uploads import image_paths


def test_zip_is_unpacked_images_only_and_never_outside(tmp_path, sample_image):
    img = tmp_path / "a.png"
    sample_image.save(img)
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(img, "nested/a.png")
        zf.writestr("notes.txt", "not an image")
        zf.writestr("../../evil.png", b"x")
        zf.writestr("/abs/evil2.png", b"x")
        zf.writestr("__MACOSX/.hidden.png", b"x")
    out = tmp_path / "out"
    paths = image_paths([str(archive), str(img)], out)
    assert sorted(p.split("/")[-1] for p in paths) == ["a.png", "a.png"]
    assert not (tmp_path / "evil.png").exists() and not list(tmp_path.parent.glob("evil*.png"))
    assert all(str(out) in p for p in paths if p != str(img))


def test_bad_uploads_say_what_to_do(tmp_path):
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"PK not really")
    with pytest.raises(ImageError, match="zip"):
        image_paths([str(bad)], tmp_path)
    doc = tmp_path / "report.docx"
    doc.write_bytes(b"x")
    with pytest.raises(ImageError, match="neither an image"):
        image_paths([str(doc)], tmp_path)
