import dataclasses
import json

import pytest
from pydantic import BaseModel, Field, ValidationError

from workbench import ConfigError
from workbench.cards import verdict_text
from workbench.results import Result
from workbench.tasks import TASKS, Task, get_task, register_task, task_for_run


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


# --- self-contained tasks: kind, positive label, verdict text, registry, stored definitions ------------------


def test_tasks_declare_their_kind_and_positive_label():
    kinds = {name: (TASKS[name].kind, TASKS[name].positive) for name in
             ("moderation", "pii_detection", "tag_rating", "pothole_severity", "ask")}
    assert kinds == {"moderation": ("classification", "true"), "pii_detection": ("classification", "true"),
                     "tag_rating": ("rating", None), "pothole_severity": ("classification", None),
                     "ask": ("free_text", None)}
    assert get_task("tag_rating").levels == (0, 5) and get_task("moderation").levels is None


@pytest.mark.parametrize("task, output, reads", [
    ("tag_rating", {"score": 4}, "4 / 5"),
    ("pothole_severity", {"severity": "no_pothole"}, "no pothole"),
    ("moderation", {"flagged": True, "categories": {"weapons": True, "drugs": False}}, "flagged: weapons"),
    ("moderation", {"flagged": False}, "not flagged"),
    ("moderation", None, ""),
    ("pii_detection", {"contains_pii": True, "found": [{"kind": "email"}, {"kind": "face"}]}, "PII: email, face"),
    ("ask", {"answer": "A red car."}, "A red car."),
])
def test_cards_read_the_verdict_the_task_declares(task, output, reads):
    result = Result(model="m", model_id="m", backend="openai", task=task, status="ok", output=output)
    assert verdict_text(result) == get_task(task).verdict_text(output) == reads


class Colour(BaseModel):
    color: str
    confidence: float = Field(0.5, ge=0, le=1)


def colour_task(**kw) -> Task:
    return dataclasses.replace(get_task("pothole_severity"), name=kw.pop("name", "test_colour"), schema=Colour,
                               label_field="color", labels=("red", "green"), normalize=None, from_text=None,
                               decision={}, **kw)


def test_register_task_adds_one_and_cards_ask_it():
    task = register_task(colour_task(name="test_colour_cards", verdict_format="{color} at {confidence:.0%}"))
    try:
        assert get_task("test_colour_cards") is task
        result = Result(model="m", model_id="m", backend="openai", task=task.name, status="ok",
                        output={"color": "red", "confidence": 0.8})
        assert verdict_text(result) == "red at 80%"
    finally:
        TASKS.pop("test_colour_cards")


def test_a_built_in_name_cannot_get_another_definition():
    register_task(get_task("moderation"))  # the same definition again is fine
    with pytest.raises(ConfigError, match="built-in task.*new name"):
        register_task(dataclasses.replace(get_task("moderation"), prompt="Is it fine?"))
    assert get_task("moderation").prompt != "Is it fine?"
    with pytest.raises(ConfigError, match="workbench.Task"):
        register_task("moderation")


def test_bad_declarations_name_the_argument():
    with pytest.raises(ConfigError, match="kind="):
        colour_task(kind="regression")
    with pytest.raises(ConfigError, match="integer.*labels="):
        colour_task(kind="rating")
    with pytest.raises(ConfigError, match="positive='blue'"):
        colour_task(positive="blue")


@pytest.mark.parametrize("name", ["moderation", "pii_detection", "tag_rating", "pothole_severity", "ask"])
def test_a_task_rebuilt_from_its_stored_definition_validates_the_same(name):
    task = get_task(name)
    stored = json.loads(json.dumps(task.definition()))  # as the store keeps it
    rebuilt = task.from_definition(stored)
    assert rebuilt.definition() == stored
    assert (rebuilt.normalize, rebuilt.from_text, rebuilt.check) == (None, None, None)  # hooks are not data
    assert task_for_run(name, stored) is task  # where it is registered as stored, the registered one (hooks)
    good = {"moderation": {"flagged": True, "categories": {"sexual/minors": True}, "reason": "x"},
            "pii_detection": {"contains_pii": True, "found": [{"kind": "email", "evidence": "j@x"}]},
            "tag_rating": {"score": 4}, "pothole_severity": {"severity": "minor"}, "ask": {"answer": "hi"}}[name]
    dump = {"mode": "json", "by_alias": True}
    assert rebuilt.schema.model_validate(good).model_dump(**dump) == task.schema.model_validate(good).model_dump(
        **dump)
    bad = {"moderation": {"flagged": "perhaps"}, "pii_detection": {"contains_pii": True, "found": [{"kind": "x"}]},
           "tag_rating": {"score": 7}, "pothole_severity": {"severity": "huge"}, "ask": {}}[name]
    with pytest.raises(ValidationError):
        rebuilt.schema.model_validate(bad)


def test_a_changed_task_is_rebuilt_from_what_the_run_stored():
    stored = json.loads(json.dumps(get_task("tag_rating").definition()))
    stored["labels"] = ["1", "2", "3"]  # the run was made with another scale than today's built-in
    task = task_for_run("tag_rating", stored)
    assert task is not get_task("tag_rating") and task.levels == (1, 3)
    with pytest.raises(ConfigError, match="register_task"):
        task_for_run("never_registered", None)  # an old store without definitions: by name only


class Box(BaseModel):
    x: int = Field(ge=0)
    label: str = Field("", max_length=5)


class Rich(BaseModel):
    kind: str
    count: int | None = None
    share: float = Field(0.5, gt=0, lt=1)
    tags: list[str] = Field(default_factory=list)
    boxes: list[Box] = Field(default_factory=list)
    colours: list[str] = Field(default_factory=lambda: ["red"], min_length=1)
    ok: bool = True


def test_the_json_schema_subset_tasks_use_survives_the_store():
    rich = Task(name="test_rich", title="t", description="d", prompt="p", schema=Rich, label_field="kind")
    rebuilt = Task.from_definition(json.loads(json.dumps(rich.definition()))).schema
    good = {"kind": "a", "count": None, "share": 0.2, "tags": ["x"], "boxes": [{"x": 1, "label": "cat"}]}
    assert rebuilt.model_validate(good).model_dump() == {**Rich.model_validate(good).model_dump(),
                                                         "colours": []}  # a factory's value is not data
    for bad in ({"count": 1}, {"kind": "a", "share": 1}, {"kind": "a", "boxes": [{"x": -1}]},
                {"kind": "a", "boxes": [{"x": 1, "label": "too long"}]}, {"kind": "a", "ok": "perhaps"}):
        with pytest.raises(ValidationError):
            rebuilt.model_validate(bad)
