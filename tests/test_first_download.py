"""A local model's first download shows as progress in its card (and huggingface_hub's bar elsewhere), then loads
from the cache; later runs download nothing. The hub is served on loopback by tests/fake_hub.py."""
from __future__ import annotations

import huggingface_hub.constants
import pytest

import workbench
from workbench.backends import hub
from workbench.backends.download import Download, download_progress
from workbench.cards import snapshot_html
from workbench.models import ModelSpec
from workbench.ui.fields import model_choices

from .fake_hub import FakeHub

REPO = "org/tiny-vlm"


@pytest.fixture
def fresh_hub(monkeypatch, tmp_path, tiny_llava_dir):
    """As on a machine with a network and an empty Hugging Face cache, the hub serving a tiny model slowly."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "_probes", {})
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # read when it was imported
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    with FakeHub(REPO, tiny_llava_dir, bytes_per_s=3e5) as served:
        monkeypatch.setenv("HF_ENDPOINT", served.url)
        yield served


def test_the_first_download_shows_in_the_models_card_then_later_runs_use_the_cache(fresh_hub, sample_image):
    spec = ModelSpec(name="tiny from the hub", backend="transformers", model=REPO)
    before = workbench.availability(spec)
    assert before.runnable and before.message.startswith("downloads on first use (≈")
    (label, _), = model_choices([spec], {})  # the app's Models box says so before anything runs
    assert label.startswith("tiny from the hub — downloads on first use (≈")
    snapshots = list(workbench.compare_stream(sample_image, "pothole_severity", [spec], max_tokens=4))
    statuses = [m.status for s in snapshots for m in s.models if m.status]
    assert statuses and all(s.startswith("downloading tiny-vlm (first use): ") for s in statuses)
    shown = next(snapshot_html(s) for s in snapshots if any(m.status for m in s.models))
    assert "downloading tiny-vlm (first use)" in shown and "waiting for the first token" not in shown
    assert snapshots[-1].results[0].status != "error", snapshots[-1].results[0].error  # random weights: any text
    assert "model.safetensors" in fresh_hub.downloads and download_progress(REPO) is None
    assert workbench.availability(spec).message == "loaded"
    assert hub.is_cached(REPO)

    sent = len(fresh_hub.downloads)
    again = workbench.run_model(sample_image, "pothole_severity", spec, max_tokens=4)
    assert again.status != "error" and len(fresh_hub.downloads) == sent  # nothing downloaded twice


def test_download_progress_reads_in_megabytes_with_a_share_once_the_total_is_known():
    assert Download("org/m", 120_000_000, 513_000_000).describe() == \
        "downloading m (first use): 120 of 513 MB (23 %)"
    assert Download("org/m", 5_000_000).describe() == "downloading m (first use): 5.0 MB so far"

