"""The notebooks' parameters: models, images and limits from arguments, then the environment, then defaults."""
from __future__ import annotations

from pathlib import Path

import pytest

from workbench import ConfigError, ModelSpec
from workbench.notebook_setup import (DEFAULT_MAX_TOKENS, model_status, notebook_params, ready, sample_images_dir,
                                      task_labels)

MODELS = """
[[models]]
name = "Local A"
backend = "transformers"
model = "{folder}"
selected = true

[[models]]
name = "Local B"
backend = "transformers"
model = "{folder}"

[[models]]
name = "Hosted"
provider = "openai"
model = "gpt-4o"
key_env = "WB_NOTEBOOK_TEST_KEY"
"""


@pytest.fixture
def models_file(tmp_path, monkeypatch):
    path = tmp_path / "models.toml"
    path.write_text(MODELS.format(folder=tmp_path))
    monkeypatch.setenv("WORKBENCH_MODELS", str(path))
    for name in ("WORKBENCH_NOTEBOOK_MODELS", "WORKBENCH_SAMPLES", "WORKBENCH_MAX_TOKENS", "WB_NOTEBOOK_TEST_KEY"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_defaults_come_from_the_models_file_and_sample_images(models_file):
    params = notebook_params("moderation")
    assert [s.name for s in params.models] == ["Local A"]  # the ticked ones
    assert [s.name for s in params.catalog] == ["Local A", "Local B", "Hosted"]
    assert [s.name for s in params.cloud_models] == ["Hosted"]
    assert params.max_tokens == DEFAULT_MAX_TOKENS
    assert params.samples == sample_images_dir() and params.labels_csv.name == "labels.csv"
    assert set(params.labels["task"]) == {"moderation"} and len(params.images) == len(params.labels)
    assert all(Path(p).is_file() for p in params.images)
    assert len(params.all_images) > len(params.images)
    assert "Local A" in repr(params)


def test_environment_overrides(models_file, monkeypatch, tmp_path):
    samples = tmp_path / "imgs"
    samples.mkdir()
    (samples / "labels.csv").write_text("file,task,label,tag\na.png,tag_rating,3,cat\nb.png,moderation,true,\n")
    monkeypatch.setenv("WORKBENCH_NOTEBOOK_MODELS", "Local B, Hosted")
    monkeypatch.setenv("WORKBENCH_SAMPLES", str(samples))
    monkeypatch.setenv("WORKBENCH_MAX_TOKENS", "12")
    params = notebook_params("tag_rating")
    assert [s.name for s in params.models] == ["Local B", "Hosted"]
    assert params.max_tokens == 12
    assert params.labels.to_dict("records") == [
        {"file": "a.png", "task": "tag_rating", "label": "3", "tag": "cat", "path": str(samples / "a.png")}]
    # arguments win over the environment
    assert [s.name for s in notebook_params("tag_rating", models=["Local A"], max_tokens=5).models] == ["Local A"]


def test_bad_settings_say_what_to_fix(models_file, monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_NOTEBOOK_MODELS", "Nope")
    with pytest.raises(ConfigError, match="unknown model 'Nope'"):
        notebook_params("moderation")
    monkeypatch.delenv("WORKBENCH_NOTEBOOK_MODELS")
    monkeypatch.setenv("WORKBENCH_MAX_TOKENS", "lots")
    with pytest.raises(ConfigError, match="WORKBENCH_MAX_TOKENS"):
        notebook_params("moderation")
    monkeypatch.delenv("WORKBENCH_MAX_TOKENS")
    monkeypatch.setenv("WORKBENCH_SAMPLES", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="WORKBENCH_SAMPLES"):
        notebook_params("moderation")
    with pytest.raises(ConfigError, match="unknown task"):
        task_labels("nope")


def test_ready_names_what_it_skips_and_why(models_file, monkeypatch, tiny_llava_dir):
    local = ModelSpec(name="tiny", backend="transformers", model=tiny_llava_dir)
    hosted = ModelSpec(name="Hosted", provider="openai", model="gpt-4o", key_env="WB_NOTEBOOK_TEST_KEY")
    said = []
    assert ready([local, hosted], say=said.append) == [local]
    assert said == [f"skipped Hosted: key_missing — {said[0].split(' — ', 1)[1]}"]
    assert "WB_NOTEBOOK_TEST_KEY" in said[0]
    assert ready([hosted], {"WB_NOTEBOOK_TEST_KEY": "sk-test"}, say=said.append) == [hosted]
    table = model_status([local, hosted])
    assert list(table["status"]) == ["ready", "key_missing"] and table.loc[1, "key"] == "WB_NOTEBOOK_TEST_KEY"
