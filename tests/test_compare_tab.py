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
