"""The notebook playground driven without a browser: set widget values, press buttons in Python, on a tiny model."""
from __future__ import annotations

import datetime
import io

import pandas as pd
import pytest
from PIL import Image

from workbench import ModelSpec, get_task
from workbench.playground import TABLE_COLUMNS, Playground, PromptVersion, results_table

SAMPLES = ["sample_images/road_pothole_severe.jpg", "sample_images/park_scene.jpg"]


@pytest.fixture(scope="module")
def models(tiny_llava_dir):
    return [ModelSpec(name="tiny llava", backend="transformers", model=tiny_llava_dir),
            ModelSpec(name="needs key", provider="openai", model="gpt-4o", key_env="WB_PLAYGROUND_ABSENT_KEY")]


@pytest.fixture
def playground(models):
    return Playground("pothole_severity", models=models, images=SAMPLES, max_tokens=6, store=None)


def _upload(pg: Playground, name: str, data: bytes) -> None:
    pg.upload.value = ({"name": name, "type": "image/png", "size": len(data), "content": memoryview(data),
                        "last_modified": datetime.datetime.now(datetime.timezone.utc)},)


def _png(size=(40, 30), colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def test_prefilled_from_task_and_models_labelled(playground):
    assert playground.prompt.value == get_task("pothole_severity").prompt
    assert playground.image_picker.value == SAMPLES[0]
    assert playground.preview.value  # a thumbnail of the picked image
    labels = dict((value, label) for label, value in playground.model_picker.options)
    assert "ready" in labels["tiny llava"] and "$0/image" in labels["tiny llava"]
    assert "key_missing" in labels["needs key"] and "≈$" in labels["needs key"]  # priced, though not runnable
    assert playground.model_picker.value == ("tiny llava",)  # only the ready model is ticked at first
    assert "WB_PLAYGROUND_ABSENT_KEY" in playground.model_info.value


def test_run_button_fills_table_and_cards(playground):
    playground.model_picker.value = ("tiny llava", "needs key")
    playground.run_button.click()
    table = playground.table
    assert isinstance(table, pd.DataFrame) and list(table.columns) == list(TABLE_COLUMNS)
    assert list(table["model"]) == ["tiny llava", "needs key"]
    local, keyless = playground.results
    assert local.status != "error" and 0 < local.output_tokens <= 6 and local.latency_s > 0
    assert local.image == "road_pothole_severe.jpg" and local.prompt_hash
    assert keyless.status == "error" and keyless.error_type == "key_missing"
    assert table.loc[1, "cost"] == "—"  # unknown is not zero
    assert 'data-model="tiny llava"' in playground.cards.value and 'data-model="needs key"' in playground.cards.value
    assert "<table" in playground.table_html.value and "Done in" in playground.status.value


def test_edited_prompt_and_selection_change_are_used(playground):
    playground.prompt.value = "Is there a pothole? Answer with JSON only: {\"severity\": \"minor\"}"
    playground.image_picker.value = SAMPLES[1]
    (result,) = playground.run()
    assert result.image == "park_scene.jpg"
    from workbench.calls import prompt_hash

    assert result.prompt_hash == prompt_hash(playground.prompt.value)


def test_task_change_prefills_prompt_and_asks_for_the_tag(playground):
    playground.task_picker.value = "tag_rating"
    assert playground.prompt.value == get_task("tag_rating").prompt
    assert playground.variable.layout.display != "none" and playground.variable.description == "Tag"
    assert playground.run() == []
    assert "Tag box" in playground.status.value  # said in the panel, not raised
    playground.variable.value = "pothole"
    (result,) = playground.run()
    assert result.task == "tag_rating" and result.status != "error"
    playground.task_picker.value = "pothole_severity"
    assert playground.variable.layout.display == "none"


def test_bad_input_is_reported_not_raised(playground):
    playground.model_picker.value = ()
    assert playground.run() == []
    assert "tick at least one model" in playground.status.value
    playground.image_picker.options = []
    playground.model_picker.value = ("tiny llava",)
    assert playground.run() == []
    assert "pick a sample image or upload one" in playground.status.value


def test_upload_adds_and_selects_the_image(playground):
    _upload(playground, "my photo.png", _png())
    assert playground.image_picker.value == "upload:my photo.png"
    assert "my photo.png (uploaded)" in [label for label, _ in playground.image_picker.options]
    (result,) = playground.run()
    assert result.image == "my photo.png" and result.status != "error"


def test_upload_of_a_non_image_is_rejected(playground):
    before = playground.image_picker.options
    _upload(playground, "notes.png", b"this is not an image")
    assert playground.image_picker.options == before
    assert "Upload rejected" in playground.status.value and "notes.png" in playground.status.value


def test_score_mode_gives_a_result_per_model(playground):
    playground.mode.value = "score"
    playground.model_picker.value = ("tiny llava", "needs key")
    results = playground.run()
    assert [r.model for r in results] == ["tiny llava", "needs key"]
    assert all(r.mode == "score" for r in results)
    local = results[0]
    if local.probabilities:  # score mode available: one probability per label, summing to 1
        assert set(local.probabilities) == set(get_task("pothole_severity").labels)
        assert sum(local.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
        assert playground.table.loc[0, "probabilities"]


def test_save_as_prompt_version_without_a_store(playground, monkeypatch):
    import workbench.playground.versions as module  # where the playground looks for the default store

    monkeypatch.setattr(module, "default_store", lambda: None)
    playground.prompt.value = "Grade the pothole: {\"severity\": \"minor\"}"
    playground.version_name.value = "terse"
    playground.save_button.click()
    (version,) = playground.versions
    assert isinstance(version, PromptVersion) and version.stored is False
    assert (version.task, version.name, version.prompt) == ("pothole_severity", "terse", playground.prompt.value)
    assert "in memory" in playground.status.value
    playground.version_name.value = ""
    assert playground.save_version().name == "v2"  # unnamed versions are numbered


def test_save_as_prompt_version_goes_to_the_store(models):
    class FakeStore:
        def __init__(self):
            self.saved = []

        def save_prompt_version(self, task, name, prompt):
            self.saved.append((task, name, prompt))
            return {"id": len(self.saved), "version": name}

    store = FakeStore()
    pg = Playground("moderation", models=models, images=SAMPLES, store=store)
    version = pg.save_version("baseline")
    assert store.saved == [("moderation", "baseline", get_task("moderation").prompt)]
    assert version.stored and version.extra["id"] == 1 and "run store" in pg.status.value


def test_results_table_formats_unknown_cost_and_probabilities():
    from workbench import Result

    rows = results_table([
        Result(model="a", model_id="a", backend="openai", task="moderation", status="ok", label="true", cost=None,
               probabilities={"false": 0.25, "true": 0.75}, latency_s=0.123456),
        Result(model="b", model_id="b", backend="transformers", task="moderation", status="ok", cost=0.0,
               metrics={"tokens_per_s": 12.5}),
    ])
    assert list(rows["cost"]) == ["—", "$0"]
    assert rows.loc[0, "probabilities"] == "false 0.25 · true 0.75" and rows.loc[0, "latency_s"] == 0.123
    assert rows.loc[1, "tokens_per_s"] == 12.5


def test_displays_as_a_widget(playground):
    bundle = playground._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_saved_prompt_versions_persist_in_the_run_store(models, tmp_path):
    from workbench.store import RunStore

    db = tmp_path / "wb.db"
    pg = Playground("moderation", models=models, images=SAMPLES, store=RunStore(db))
    pg.prompt.value = "Unsafe? Answer JSON {\"flagged\": true|false}"
    pg.version_name.value = "terse"
    pg.save_button.click()
    assert pg.versions[-1].stored and "run store" in pg.status.value
    assert RunStore(db).get_prompt_version("moderation", "terse") == pg.prompt.value

    pg.prompt.value = "Something else entirely"
    pg.save_button.click()  # the same name with another text: said in the panel, nothing overwritten
    assert "already saved with a different text" in pg.status.value
    assert RunStore(db).get_prompt_version("moderation", "terse").startswith("Unsafe?")

    fresh = Playground("moderation", models=models, images=SAMPLES, store=RunStore(db))
    assert [(v.task, v.name, v.stored) for v in fresh.versions] == [("moderation", "terse", True)]
    assert ("terse", "terse") in fresh.version_picker.options
    fresh.version_picker.value = "terse"  # picking a saved version loads its text into the editor
    assert fresh.prompt.value.startswith("Unsafe?") and fresh.version_name.value == "terse"
    fresh.version_name.value = ""
    assert fresh.save_version().name == "v2"  # numbering continues after the saved ones
    fresh.task_picker.value = "ask"
    assert fresh.version_picker.options == (("—", None),)  # versions are per task
