"""Reasoning models (2026): thinking is stripped before parsing and kept in the raw text, reasoning tokens are
counted in cost exactly once and shown apart, `reasoning_effort` is sent where set, and a reply that was cut
while still thinking is truncated, not empty. Replies come from the scripted server at the HTTP boundary."""
from __future__ import annotations

import json

import pytest

from workbench import run_model
from workbench.cards import result_card
from workbench.errors import ConfigError
from workbench.models import ModelSpec
from workbench.parsing import parse_reply
from workbench.tasks import get_task

from .fault_server import PROMPT_TOKENS, REASONING_TOKENS, THINKING, FaultServer

ANSWER = {"severity": "moderate", "reason": "one hole, wider than a hand"}
PRICE = {"input_per_m": 1.0, "output_per_m": 10.0}


@pytest.fixture(scope="module")
def server():
    with FaultServer(reply_text=json.dumps(ANSWER)) as running:
        yield running


def spec(server, model: str, **kw) -> ModelSpec:
    return ModelSpec(name=f"thinker {model}", provider="custom", base_url=server.url, model=model, timeout=10,
                     max_retries=0, price=PRICE, **kw)


def answer_tokens() -> int:
    return len(json.dumps(ANSWER).split())


def test_a_think_block_is_stripped_and_its_tokens_are_paid_for_once(server, sample_image):
    result = run_model(sample_image, "pothole_severity", spec(server, "reasoning"))
    assert result.status == "ok" and result.output["severity"] == "moderate"
    assert result.raw_text.startswith("<think>") and THINKING in result.raw_text  # kept in the raw text
    assert result.metrics["reasoning_tokens"] == REASONING_TOKENS
    assert result.output_tokens == answer_tokens() + REASONING_TOKENS  # inside completion_tokens: counted once
    expected = (PROMPT_TOKENS * 1.0 + (answer_tokens() + REASONING_TOKENS) * 10.0) / 1e6
    assert result.cost == pytest.approx(expected) and result.cost_source == "estimated"


@pytest.mark.parametrize("model", ["reasoning-field", "reasoning-apart"])
def test_a_providers_reasoning_field_is_kept_in_raw_text_and_counted_once(server, sample_image, model):
    result = run_model(sample_image, "pothole_severity", spec(server, model))
    assert result.status == "ok" and result.output["severity"] == "moderate"
    assert f"<think>\n{THINKING}\n</think>" in result.raw_text and result.raw_text.endswith(json.dumps(ANSWER))
    assert result.metrics["reasoning_tokens"] == REASONING_TOKENS
    # reasoning-apart leaves the reasoning out of completion_tokens (its total_tokens shows it): added, once
    assert result.output_tokens == answer_tokens() + REASONING_TOKENS


def test_a_reply_that_is_only_reasoning_cut_by_the_token_limit_is_truncated(server, sample_image):
    result = run_model(sample_image, "pothole_severity", spec(server, "reasoning-length"), max_tokens=64)
    assert result.status == "truncated" and result.error_type == "truncated"
    assert THINKING in result.raw_text and result.metrics["reasoning_tokens"] == 64


@pytest.mark.parametrize("text", ["<think>Looking at the road, the hole is", "Looking at the road…</think>\n\n"])
def test_parsing_a_reply_still_inside_its_reasoning(text):
    parsed = parse_reply(get_task("pothole_severity"), text, "stop")
    expected = "truncated" if text.startswith("<think>") else "empty"  # a closed block with nothing after: empty
    assert parsed.status == expected


def test_reasoning_that_mentions_json_does_not_become_the_answer():
    text = '<think>Maybe {"severity": "severe"}? No, it is small.</think>\n{"severity": "minor"}'
    parsed = parse_reply(get_task("pothole_severity"), text, "stop")
    assert parsed.status == "ok" and parsed.output["severity"] == "minor"


def test_reasoning_effort_is_sent_only_when_set(server, sample_image):
    run_model(sample_image, "pothole_severity", spec(server, "reasoning"))
    assert "reasoning_effort" not in server.last_request
    run_model(sample_image, "pothole_severity", spec(server, "reasoning", reasoning_effort="high"))
    assert server.last_request["reasoning_effort"] == "high"
    run_model(sample_image, "pothole_severity", spec(server, "reasoning", reasoning_effort="high"),
              reasoning_effort="low")
    assert server.last_request["reasoning_effort"] == "low"  # the call's setting wins over the models file


def test_a_bad_reasoning_effort_is_refused_at_the_boundary(server, sample_image):
    with pytest.raises(ConfigError, match="low, medium or high"):
        run_model(sample_image, "pothole_severity", spec(server, "reasoning"), reasoning_effort="max")
    with pytest.raises(ValueError):
        spec(server, "reasoning", reasoning_effort="max")


def test_the_card_shows_reasoning_tokens_apart(server, sample_image):
    card = result_card(run_model(sample_image, "pothole_severity", spec(server, "reasoning")))
    assert f"{answer_tokens() + REASONING_TOKENS} out ({REASONING_TOKENS} reasoning)" in card
    plain = result_card(run_model(sample_image, "pothole_severity", spec(server, "ok")))
    assert "reasoning" not in plain


def test_a_streamed_reply_keeps_its_reasoning_out_of_the_live_text(server, sample_image):
    seen: list[str] = []
    result = run_model(sample_image, "pothole_severity", spec(server, "reasoning-field"), on_text=seen.append)
    assert result.status == "ok" and result.output["severity"] == "moderate"
    assert seen[-1] == json.dumps(ANSWER) and all("<think>" not in text for text in seen)
    assert result.raw_text.startswith("<think>") and THINKING in result.raw_text
    assert result.metrics["reasoning_tokens"] == REASONING_TOKENS


def test_reasoning_effort_in_the_models_file(tmp_path):
    from workbench.models import load_models

    entry = '[[models]]\nname = "thinker"\nprovider = "openrouter"\nmodel = "deepseek/deepseek-r1"\n'
    (tmp_path / "ok.toml").write_text(entry + 'reasoning_effort = "medium"\n')
    assert load_models(tmp_path / "ok.toml")[0].reasoning_effort == "medium"
    (tmp_path / "bad.toml").write_text(entry + 'reasoning_effort = "max"\n')
    with pytest.raises(ConfigError, match="reasoning_effort"):
        load_models(tmp_path / "bad.toml")
