"""The parser on messy model output: every outcome is a typed status, and the raw text is never trusted blindly."""
import pytest

from workbench.parsing import parse_reply
from workbench.tasks import TASKS, get_task

tag = get_task("tag_rating")
pothole = get_task("pothole_severity")
moderation = get_task("moderation")
pii = get_task("pii_detection")


@pytest.mark.parametrize("text, status, score", [
    ('{"score": 4, "explanation": "trees everywhere"}', "ok", 4),
    ('```json\n{"score": 3, "explanation": "x"}\n```', "ok", 3),
    ('Sure! Here is my rating: {"score": 5, "explanation": "a \\"perfect\\" match }"} Hope it helps.', "repaired", 5),
    ("{'score': 2, 'explanation': 'single quotes',}", "repaired", 2),
    ('{"score": 4, "explanation": "trailing comma",}', "repaired", 4),
    ('{"score": "4/5", "explanation": "fraction"}', "repaired", 4),
    ('{"rating": 1, "reason": "synonyms"}', "repaired", 1),
    ("Score: 4/5 — the tree is clearly visible.", "repaired", 4),
])
def test_tag_rating_variants(text, status, score):
    parsed = parse_reply(tag, text)
    assert parsed.status == status
    assert parsed.output["score"] == score


def test_out_of_range_score_is_invalid_not_clipped():
    parsed = parse_reply(tag, '{"score": 7, "explanation": "very"}')
    assert parsed.status == "invalid_output"
    assert parsed.output is None
    assert "score" in parsed.error and "7" in parsed.error


def test_refusal_empty_truncated_filtered():
    assert parse_reply(tag, "I'm sorry, but I can't help with that request.").status == "refused"
    assert parse_reply(tag, "   \n").status == "empty"
    assert parse_reply(tag, None).status == "empty"
    cut = parse_reply(tag, '{"score": 4, "explanation": "the image sho', finish_reason="length")
    assert cut.status == "truncated" and cut.output is None  # never repaired into plausible data
    filtered = parse_reply(moderation, '{"flagged": false}', finish_reason="content_filter")
    assert filtered.status == "filtered" and filtered.output is None  # never counted as "safe"


def test_two_json_objects_take_the_first():
    parsed = parse_reply(tag, '{"score": 2, "explanation": "a"}\n{"score": 5, "explanation": "b"}')
    assert parsed.status == "repaired"
    assert parsed.output["score"] == 2


def test_prose_without_json_is_invalid():
    parsed = parse_reply(tag, "The picture shows a quiet street at dusk.")
    assert parsed.status == "invalid_output"
    assert "JSON" in parsed.error


@pytest.mark.parametrize("text, severity", [
    ('{"severity": "severe", "reason": "deep"}', "severe"),
    ('{"severity": "Medium", "reason": "r"}', "moderate"),
    ('{"severity": "none"}', "no_pothole"),
    ("Severe.", "severe"),
    ("There is no pothole in this image.", "no_pothole"),
])
def test_pothole_variants(text, severity):
    parsed = parse_reply(pothole, text)
    assert parsed.status in ("ok", "repaired")
    assert parsed.output["severity"] == severity


def test_pothole_ambiguous_text_is_not_guessed():
    assert parse_reply(pothole, "somewhere between minor and severe").status == "invalid_output"
    assert parse_reply(pothole, '{"severity": "catastrophic"}').status == "invalid_output"


def test_moderation_inconsistent_flag_is_reported():
    parsed = parse_reply(moderation, '{"flagged": false, "categories": {"violence": true}, "reason": "a fight"}')
    assert parsed.status == "inconsistent"
    assert "violence" in parsed.error
    assert parsed.output["categories"]["violence"] is True


def test_moderation_category_aliases_and_list_form():
    parsed = parse_reply(moderation, '{"flagged": true, "categories": ["violence/graphic", "weapons"]}')
    assert parsed.status == "repaired"
    assert parsed.output["categories"]["violence/graphic"] is True
    assert parsed.output["categories"]["weapons"] is True


def test_pii_kinds_normalised():
    parsed = parse_reply(pii, '{"contains_pii": true, "found": [{"kind": "Phone Number", "evidence": "555"},'
                              ' {"kind": "tattoo", "evidence": "arm"}]}')
    assert parsed.status == "repaired"
    assert [f["kind"] for f in parsed.output["found"]] == ["phone", "other"]
    assert parse_reply(pii, '{"contains_pii": false, "found": [{"kind": "email"}]}').status == "inconsistent"


def test_free_text_task_keeps_the_answer():
    parsed = parse_reply(get_task("ask"), "  A red car parked by a tree.  ")
    assert parsed.status == "ok" and parsed.output == {"answer": "A red car parked by a tree."}


def test_every_task_schema_has_an_escape_hatch_or_free_text():
    for task in TASKS.values():
        fields = task.schema.model_fields
        assert task.free_text or "unsure" in fields or "reason" in fields or "explanation" in fields, task.name
        if task.labels:
            assert task.label_field in fields
