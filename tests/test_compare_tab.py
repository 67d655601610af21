"""The Compare tab's handlers and the Models box both tabs share, called directly (the browser test is in
test_app.py)."""
from __future__ import annotations

import pytest

from workbench import ModelSpec
from workbench.ui.compare_tab import add_custom_model, run_comparison
from workbench.ui.fields import refreshed_models

IMAGE = "sample_images/road_pothole_severe.jpg"


@pytest.fixture(scope="module")
def fault_server():
    from tests.fault_server import FaultServer

    with FaultServer() as server:
        yield server


def test_a_new_run_clears_the_previous_table_first(fault_server):
    catalog = [ModelSpec(name="served", provider="custom", base_url=fault_server.url, model="stream-ok")]
    steps = list(run_comparison(IMAGE, "pothole_severity", "Grade it. JSON.", "", ["served"], {}, [], 16, 512,
                                "auto", "generate", catalog=catalog))
    (cards, table), *_ = steps
    assert 'data-status="running"' in cards
    assert len(table) == 0 and "model" in table.columns  # an empty table, not the last run's rows
    final_cards, final_table = steps[-1]
    assert list(final_table["model"]) == ["served"] and 'data-status="running"' not in final_cards


def test_models_box_follows_the_sessions_keys_and_added_models(fault_server):
    catalog = [ModelSpec(name="keyed", provider="custom", base_url=fault_server.url, model="ok",
                         key_env="WB_TAB_TEST_ABSENT_KEY")]
    extra = add_custom_model([], "mine", fault_server.url, "ok", "", catalog)
    without = refreshed_models(catalog, {}, extra, ["keyed", "gone"])
    labels = dict((value, label) for label, value in without["choices"])
    assert list(labels) == ["keyed", "mine"] and "key_missing" in labels["keyed"] and "ready" in labels["mine"]
    assert without["value"] == ["keyed"]  # a ticked model no longer there is dropped
    with_key = refreshed_models(catalog, {"WB_TAB_TEST_ABSENT_KEY": "typed"}, extra, ["keyed"])
    assert "ready" in dict((v, lab) for lab, v in with_key["choices"])["keyed"]


def _sent_size(body: dict) -> tuple[int, int]:
    import base64
    import io

    from PIL import Image

    url = next(part["image_url"]["url"] for message in body["messages"] if isinstance(message["content"], list)
               for part in message["content"] if part.get("type") == "image_url")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size


def test_a_models_own_max_edge_is_sent_until_the_slider_moves(fault_server):
    """The slider starts at 0 (each model's own): the models file's max_edge is what the app sends, as the
    notebooks do; a moved slider wins. The sample image is 960×640."""
    import app

    catalog = [ModelSpec(name="small", provider="custom", base_url=fault_server.url, model="ok", max_edge=320)]
    demo = app.build_demo(catalog)
    untouched = next(b.value for b in demo.blocks.values() if getattr(b, "label", None) == "Max long edge sent (px)")
    args = (IMAGE, "pothole_severity", "Grade it. JSON.", "", ["small"], {}, [], 16)
    list(run_comparison(*args, untouched, "auto", "generate", catalog=catalog))
    assert max(_sent_size(fault_server.last_request)) == 320
    list(run_comparison(*args, 512, "auto", "generate", catalog=catalog))
    assert max(_sent_size(fault_server.last_request)) == 512


def test_the_cost_preview_uses_the_models_own_max_edge_at_zero(fault_server):
    from workbench.ui.compare_tab import cost_preview

    catalog = [ModelSpec(name="small", provider="custom", base_url=fault_server.url, model="ok", max_edge=320)]
    frame = cost_preview(IMAGE, ["small"], "Grade it.", 0, "auto", [], catalog)
    assert list(frame["sent size"]) == ["320×213"]


def test_the_reasoning_effort_setting_reaches_the_call(fault_server):
    catalog = [ModelSpec(name="thinker", provider="custom", base_url=fault_server.url, model="reasoning")]
    args = (IMAGE, "pothole_severity", "Grade it. JSON.", "", ["thinker"], {}, [], 64, 0, "auto", "generate")
    list(run_comparison(*args, "high", catalog=catalog))
    assert fault_server.last_request["reasoning_effort"] == "high"
    list(run_comparison(*args, "none", catalog=catalog))
    assert "reasoning_effort" not in fault_server.last_request  # none: not sent at all
