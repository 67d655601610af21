"""The committed sample images are reproducible from the script and correctly labelled."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"
SCRIPT = SAMPLES / "make_samples.py"

VALID_LABELS = {
    "pii_detection": {"true", "false"},
    "moderation": {"true", "false"},
    "pothole_severity": {"minor", "moderate", "severe", "no_pothole"},
    "tag_rating": {str(n) for n in range(6)},
}


def read_labels(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("samples")
    subprocess.run([sys.executable, str(SCRIPT), str(out_dir)], check=True, capture_output=True)
    return out_dir


LABELS = read_labels(SAMPLES / "labels.csv")
IMAGE_FILES = sorted({row["file"] for row in LABELS})


def test_labels_have_expected_columns():
    with (SAMPLES / "labels.csv").open(newline="") as f:
        assert next(csv.reader(f)) == ["file", "task", "label", "tag"]


@pytest.mark.parametrize("row", LABELS, ids=lambda r: f"{r['task']}-{r['file']}-{r['tag']}")
def test_label_is_valid_for_its_task(row):
    assert row["task"] in VALID_LABELS
    assert row["label"] in VALID_LABELS[row["task"]]
    assert bool(row["tag"]) == (row["task"] == "tag_rating")


@pytest.mark.parametrize("name", IMAGE_FILES)
def test_labelled_image_exists_and_opens(name):
    path = SAMPLES / name
    assert path.is_file()
    assert path.stat().st_size < 150 * 1024
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert 640 <= max(image.size) <= 1024


@pytest.mark.parametrize("name", IMAGE_FILES)
def test_script_reproduces_committed_image(regenerated, name):
    assert np.array_equal(pixels(regenerated / name), pixels(SAMPLES / name))


def test_script_reproduces_committed_labels(regenerated):
    assert read_labels(regenerated / "labels.csv") == LABELS
    assert sorted(p.name for p in regenerated.iterdir()) == sorted(IMAGE_FILES + ["labels.csv"])
