"""The OpenAI-compatible backend against a real `transformers serve` running the tiny LLaVA on loopback."""
from __future__ import annotations

import pytest

from workbench.backends import ChatRequest, get_backend
from workbench.errors import BadRequestError
from workbench.images import load_image
from workbench.models import ModelSpec


def served_spec(served, **kw) -> ModelSpec:
    return ModelSpec(name="tiny LLaVA (transformers serve)", provider="transformers-serve",
                     base_url=served.base_url, model=served.model, timeout=60, **kw)


@pytest.fixture
def request_with_image(sample_image):
    return ChatRequest(prompt="Describe the pothole.", images=[load_image(sample_image)], max_tokens=12)


def test_available(transformers_serve):
    assert get_backend("openai").availability(served_spec(transformers_serve)).ready


def test_chat_with_an_image(transformers_serve, request_with_image):
    reply = get_backend("openai").chat(served_spec(transformers_serve), request_with_image)
    assert isinstance(reply.text, str)  # random weights: any text
    assert reply.input_tokens and reply.input_tokens > 16  # the prompt plus the image's tokens
    assert reply.output_tokens and reply.output_tokens <= 12
    assert reply.finish_reason in ("stop", "length")
    assert reply.latency_s > 0 and reply.sent_image_bytes > 0
    assert reply.reported_cost is None


def test_streaming(transformers_serve, request_with_image):
    seen: list[str] = []
    request_with_image.on_text = seen.append
    reply = get_backend("openai").chat(served_spec(transformers_serve), request_with_image)
    assert seen and seen[-1] == reply.text
    assert 0 < reply.time_to_first_token_s <= reply.latency_s
    assert reply.input_tokens and reply.output_tokens and reply.finish_reason in ("stop", "length")


def test_wrong_model_id_is_explained(transformers_serve, request_with_image):
    wrong = served_spec(transformers_serve).model_copy(update={"model": "some/other-model"})
    with pytest.raises(BadRequestError, match="pinned"):
        get_backend("openai").chat(wrong, request_with_image)
