"""Shared fixtures: tiny offline models, built once per test session."""
from __future__ import annotations

import os

import pytest

from .serve_fixture import transformers_serve  # noqa: F401

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_llava_dir(tmp_path_factory):
    from workbench.testing import build_tiny_llava

    return str(build_tiny_llava(tmp_path_factory.mktemp("models") / "tiny-llava"))


@pytest.fixture(scope="session")
def tiny_idefics3_dir(tmp_path_factory):
    from workbench.testing import build_tiny_idefics3

    return str(build_tiny_idefics3(tmp_path_factory.mktemp("models") / "tiny-idefics3"))


@pytest.fixture(scope="session")
def tiny_smolvlm_dir(tmp_path_factory):
    """An Idefics3 folder that declares SmolVLMProcessor, as the real default model does."""
    from workbench.testing import build_tiny_idefics3

    return str(build_tiny_idefics3(tmp_path_factory.mktemp("models") / "tiny-smolvlm", declare_smolvlm=True))


@pytest.fixture
def sample_image():
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (96, 64), (90, 90, 90))
    ImageDraw.Draw(img).ellipse((30, 20, 60, 44), fill=(20, 20, 20))
    return img
