import pytest

from workbench import ConfigError
from workbench.tasks import TASKS, get_task


def test_registry_has_the_shipped_tasks():
    assert {"moderation", "pii_detection", "tag_rating", "pothole_severity", "ask"} <= set(TASKS)
    assert get_task("pothole_severity").labels == ("no_pothole", "minor", "moderate", "severe")


def test_unknown_task_names_the_choices():
    with pytest.raises(ConfigError, match="pothole_severity"):
        get_task("potholes")


def test_render_fills_variables_and_keeps_json_braces():
    task = get_task("tag_rating")
    text = task.render(variables={"tag": "bicycle"})
    assert '"bicycle"' in text and '{"score": 0-5' in text


def test_missing_variable_names_it():
    with pytest.raises(ConfigError, match=r"\{tag\}"):
        get_task("tag_rating").render()


def test_custom_prompt_with_json_example_needs_no_escaping():
    task = get_task("pothole_severity")
    assert task.render('Reply {"severity": "minor"} only') == 'Reply {"severity": "minor"} only'


def test_json_schema_for_structured_output():
    schema = get_task("tag_rating").json_schema()
    assert schema["name"] == "tag_rating"
    assert schema["schema"]["properties"]["score"]["maximum"] == 5
    assert get_task("ask").json_schema() is None


def test_verdicts_are_strings():
    assert get_task("moderation").verdict({"flagged": True}) == "true"
    assert get_task("tag_rating").verdict({"score": 3}) == "3"
    assert get_task("pothole_severity").verdict(None) is None
