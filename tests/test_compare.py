"""compare() end to end on tiny local models built offline, through the real Auto classes."""
import dataclasses

import pandas as pd
import pytest

import workbench
from workbench import ConfigError, ImageError, ModelSpec


@pytest.fixture(scope="module")
def local_models(tiny_llava_dir, tiny_idefics3_dir):
    return [ModelSpec(name="tiny llava", backend="transformers", model=tiny_llava_dir),
            ModelSpec(name="tiny idefics3", backend="transformers", model=tiny_idefics3_dir)]


def test_compare_returns_one_row_per_model(local_models, sample_image):
    broken = ModelSpec(name="missing", backend="transformers", model="/nonexistent/model")
    keyless = ModelSpec(name="needs key", provider="openrouter", model="mistralai/pixtral-12b",
                        key_env="WB_TEST_ABSENT_KEY")
    df = workbench.compare(sample_image, task="pothole_severity", models=[*local_models, broken, keyless],
                           max_tokens=8)
    assert isinstance(df, pd.DataFrame)
    assert list(df["model"]) == ["tiny llava", "tiny idefics3", "missing", "needs key"]
    local = df.iloc[:2]
    assert set(local["status"]) <= {"ok", "repaired", "invalid_output", "truncated", "refused", "empty"}
    assert (local["output_tokens"] <= 8).all() and (local["input_tokens"] > 0).all()
    assert (local["latency_s"] > 0).all()
    assert (local["cost"] == 0).all()  # local models cost $0 per token unless a GPU-hour price is set
    assert df.iloc[2]["status"] == "error" and df.iloc[2]["error_type"] == "unavailable"
    assert df.iloc[3]["error_type"] == "key_missing" and "WB_TEST_ABSENT_KEY" in df.iloc[3]["error"]
    assert pd.isna(df.iloc[3]["cost"])  # unknown is not zero
    assert df["image_hash"].nunique() == 1 and df["prompt_hash"].nunique() == 1


def test_smolvlm_checkpoint_loads_without_torchvision(tiny_smolvlm_dir, sample_image):
    """The default model declares SmolVLMProcessor, which cannot be built without torchvision here."""
    spec = ModelSpec(name="smol", backend="transformers", model=tiny_smolvlm_dir)
    result = workbench.run_model(sample_image, "ask", spec, max_tokens=4)
    assert result.status != "error", result.error
    assert result.output_tokens and result.output_tokens <= 4


def test_streaming_text_reaches_the_callback(local_models, sample_image):
    seen = []
    result = workbench.run_model(sample_image, "ask", local_models[0], max_tokens=12, on_text=seen.append)
    assert seen, "on_text was never called"
    assert all(len(a) <= len(b) for a, b in zip(seen, seen[1:]))
    assert result.raw_text.startswith(seen[-1].strip()[:5])
    assert result.time_to_first_token_s is not None and result.time_to_first_token_s <= result.latency_s


def test_bad_input_raises_before_any_call(local_models, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    with pytest.raises(ImageError):
        workbench.compare(str(bad), task="ask", models=local_models)
    with pytest.raises(ConfigError, match="tag"):
        workbench.compare(tmp_path, task="tag_rating", models=local_models)
    with pytest.raises(ConfigError, match="mode"):
        workbench.run_model("sample_images/park_scene.jpg", "ask", local_models[0], mode="vibes")


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, workbench; workbench.TASKS; print(sorted(m for m in ('torch','transformers','gradio','openai') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- the compare engine every surface uses: workbench.compare_stream ------------------------------------------

@pytest.fixture(scope="module")
def fault_server():
    from tests.fault_server import FaultServer

    with FaultServer(slow_s=1.5) as server:
        yield server


def _served(server, name, behaviour):
    return ModelSpec(name=name, provider="custom", base_url=server.url, model=behaviour, max_retries=0, timeout=20)


def test_compare_stream_yields_snapshots_as_models_finish(fault_server, sample_image):
    models = [_served(fault_server, "slow", "slow"), _served(fault_server, "quick", "stream-ok"),
              _served(fault_server, "refused key", "401")]
    snapshots = list(workbench.compare_stream(sample_image, "ask", models, max_tokens=32))
    first, last = snapshots[0], snapshots[-1]
    assert [m.model for m in first.models] == ["slow", "quick", "refused key"] and not any(m.done for m in first.models)
    # The quick answer is shown while the slow model still runs: no waiting for the slowest model.
    assert any(s.models[1].done and not s.models[0].done for s in snapshots)
    assert any(m.text and not m.done for s in snapshots for m in s.models)  # streamed text, before the Result
    assert last.done and [r.model for r in last.results] == ["slow", "quick", "refused key"]
    assert [r.status for r in last.results][2] == "error" and last.results[1].status != "error"
    assert not any(s.done for s in snapshots[:-1])  # exactly one final snapshot, and it is the last
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.models[0].text = "changed"  # snapshots already handed out never change
    assert first.models[0].result is None and first.models[0].text == ""


def test_compare_stream_rejects_bad_input_before_any_call(fault_server, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    fault_server.reset()
    model = [_served(fault_server, "m", "ok")]
    with pytest.raises(ImageError):
        workbench.compare_stream(str(bad), "ask", model)  # raises on the call itself, not at the first next()
    with pytest.raises(ConfigError, match="tag"):
        workbench.compare_stream("sample_images/park_scene.jpg", "tag_rating", model)
    with pytest.raises(ConfigError, match="mode"):
        workbench.compare_stream("sample_images/park_scene.jpg", "ask", model, mode="vibes")
    with pytest.raises(TypeError):
        workbench.compare_stream("sample_images/park_scene.jpg", "ask", model, max_tokenz=3)
    assert sum(fault_server.calls.values()) == 0


def test_compare_results_is_the_stream_run_to_the_end(fault_server, sample_image):
    models = [_served(fault_server, "a", "ok"), _served(fault_server, "b", "cost")]
    results = workbench.compare_results(sample_image, "ask", models, max_tokens=16)
    assert [r.model for r in results] == ["a", "b"] and results[1].cost_source == "reported"
    table = workbench.results_table(results)
    assert list(table["model"]) == ["a", "b"] and table.loc[1, "cost"].endswith("(reported)")
    assert list(workbench.compare_stream(sample_image, "ask", [], max_tokens=4))[-1].results == []


def test_score_mode_fallback_says_why_in_the_card(fault_server, sample_image):
    """A model that cannot give label probabilities answers in generate mode, and its card says why."""
    (result,) = workbench.compare_results(sample_image, "moderation", [_served(fault_server, "no scores", "ok")],
                                          mode="score", max_tokens=16)
    assert result.mode == "generate" and "answered in generate mode" in result.metrics["score_note"]
    card = workbench.result_card(result)
    assert "wb-score-note" in card and "label probabilities not available" in card
