"""The OpenAI-compatible backend against a scripted loopback server: every fault becomes the right typed error."""
from __future__ import annotations

import asyncio
import base64
import io
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from workbench.backends import ChatRequest, get_backend
from workbench.backends.openai_compat import OpenAICompatible
from workbench.errors import (AuthError, BadRequestError, ConfigError, ConnectionFailedError, DeadlineError,
                              KeyMissingError, NotFoundError, ProtocolError, RateLimitError, ServerError)
from workbench.images import load_image
from workbench.models import ModelSpec

from .fault_server import COST, PROMPT_TOKENS, FaultServer, fault_server  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-test-dummy-0000"
KEYS = {"OPENROUTER_API_KEY": KEY}
SCHEMA = {"name": "pothole severity", "schema": {"type": "object", "properties": {"severity": {"type": "string"}}}}
backend = OpenAICompatible()


def spec(server_or_url, model="ok", provider="openrouter", **kw) -> ModelSpec:
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.url
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 10)
    return ModelSpec(name=f"{model} ({provider})", provider=provider, base_url=url, model=model, **kw)


@pytest.fixture
def image(sample_image):
    return load_image(sample_image)


def ask(image, **kw) -> ChatRequest:
    return ChatRequest(prompt="How bad is this pothole?", images=[image], max_tokens=64, **kw)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# --- the happy path --------------------------------------------------------------------------------------


def test_registered_as_openai_backend():
    assert isinstance(get_backend("openai"), OpenAICompatible)


def test_import_does_not_load_openai():
    code = "import sys, workbench.backends.openai_compat; assert 'openai' not in sys.modules and 'httpx' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ok_reply_and_request(fault_server, image):
    reply = backend.chat(spec(fault_server), ask(image, temperature=0.3, detail="low"), KEYS)
    assert reply.text == fault_server.reply_text
    assert reply.finish_reason == "stop"
    assert reply.input_tokens == PROMPT_TOKENS and reply.output_tokens == len(reply.text.split())
    assert reply.reported_cost is None
    assert reply.latency_s > 0 and reply.time_to_first_token_s is None
    body = fault_server.last_request
    assert body["model"] == "ok" and body["max_tokens"] == 64 and body["temperature"] == 0.3
    assert "stream" not in body and "response_format" not in body
    [message] = body["messages"]
    text_part, image_part = message["content"]
    assert text_part == {"type": "text", "text": "How bad is this pothole?"}
    assert image_part["type"] == "image_url"
    assert image_part["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert image_part["image_url"]["detail"] == "low"  # OpenRouter takes `detail`
    sent = base64.b64decode(image_part["image_url"]["url"].split(",", 1)[1])
    assert reply.sent_image_bytes == len(sent)
    assert fault_server.last_headers["authorization"] == f"Bearer {KEY}"


def test_detail_only_for_openai_style_providers_and_max_edge_applies(fault_server, image):
    backend.chat(spec(fault_server, provider="ollama"), ask(image, max_edge=32), KEYS)
    image_url = fault_server.last_request["messages"][0]["content"][1]["image_url"]
    assert "detail" not in image_url
    sent = Image.open(io.BytesIO(base64.b64decode(image_url["url"].split(",", 1)[1])))
    assert max(sent.size) == 32


def test_several_images_each_sent(fault_server, image):
    reply = backend.chat(spec(fault_server), ChatRequest(prompt="compare", images=[image, image]), KEYS)
    parts = fault_server.last_request["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url"]
    assert reply.sent_image_bytes > 0


def test_reported_cost_from_usage(fault_server, image):
    assert backend.chat(spec(fault_server, "cost"), ask(image), KEYS).reported_cost == pytest.approx(COST)


def test_key_never_needed_by_local_server_without_key_env(fault_server, image):
    reply = backend.chat(spec(fault_server, provider="ollama"), ask(image))
    assert reply.text
    assert fault_server.last_headers["authorization"] == "Bearer not-needed"


def test_works_from_worker_threads_and_inside_a_running_loop(fault_server, image):
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: backend.chat(spec(fault_server), ask(image), KEYS), range(16)))
    assert all(r.text for r in replies) and fault_server.calls_for("ok") == 16

    async def from_a_notebook_cell():
        return backend.chat(spec(fault_server), ask(image), KEYS)

    assert asyncio.run(from_a_notebook_cell()).text


def test_achat_runs_concurrently(fault_server, image):
    fault_server.latency_s = 0.2

    async def many():
        return await asyncio.gather(*(backend.achat(spec(fault_server), ask(image), KEYS) for _ in range(10)))

    assert len(asyncio.run(many())) == 10
    assert fault_server.most_in_flight == 10  # all at once at the server, not one after another (no wall clock)


# --- retries and deadlines -------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["429-then-ok", "500-then-ok"])
def test_retryable_status_then_ok(fault_server, image, model):
    started = time.perf_counter()
    reply = backend.chat(spec(fault_server, model, max_retries=2), ask(image), KEYS)
    assert reply.text and fault_server.calls_for(model) == 2
    assert time.perf_counter() - started < 1.0  # retry-after-ms was honoured, no half-second backoff


def test_rate_limit_after_retries(fault_server, image):
    with pytest.raises(RateLimitError) as info:
        backend.chat(spec(fault_server, "429", max_retries=1), ask(image), KEYS)
    assert fault_server.calls_for("429") == 2
    message = str(info.value)
    assert "OpenRouter" in message and "retry-after 0" in message and "1 retry" in message
    assert info.value.retry_after == 0


def test_server_error_after_retries(fault_server, image):
    with pytest.raises(ServerError, match="503") as info:
        backend.chat(spec(fault_server, "503", max_retries=2), ask(image), KEYS)
    assert fault_server.calls_for("503") == 3
    assert "overloaded" in str(info.value)


@pytest.mark.parametrize("max_retries", [0, 2])
def test_deadline_covers_the_whole_call(fault_server, image, max_retries):
    started = time.perf_counter()
    with pytest.raises(DeadlineError) as info:
        backend.chat(spec(fault_server, "slow", timeout=1, max_retries=max_retries), ask(image), KEYS)
    assert time.perf_counter() - started < 2.0
    assert "within 1 s" in str(info.value) and "timeout" in str(info.value)


# --- malformed answers -----------------------------------------------------------------------------------


def test_html_page_is_a_protocol_error(fault_server, image):
    with pytest.raises(ProtocolError, match="HTML page.*/v1"):
        backend.chat(spec(fault_server, "html"), ask(image), KEYS)


@pytest.mark.parametrize("model, words", [("bad-json", "could not parse"), ("no-choices", "no choices"),
                                          ("no-message", "without a message"), ("truncated", "closed the connection")])
def test_malformed_answers_are_protocol_errors(fault_server, image, model, words):
    with pytest.raises(ProtocolError, match=words):
        backend.chat(spec(fault_server, model), ask(image), KEYS)


def test_truncated_body_is_retried_then_protocol_error(fault_server, image):
    with pytest.raises(ProtocolError):
        backend.chat(spec(fault_server, "truncated", max_retries=1), ask(image), KEYS)
    assert fault_server.calls_for("truncated") == 2


def test_dropped_connection(fault_server, image):
    with pytest.raises(ConnectionFailedError, match="cannot reach .* is the server running"):
        backend.chat(spec(fault_server, "drop"), ask(image), KEYS)
    assert fault_server.calls_for("drop") == 1


def test_closed_port(image):
    url = closed_port_url()
    with pytest.raises(ConnectionFailedError, match=f"cannot reach {url}"):
        backend.chat(spec(url, provider="ollama"), ask(image))


# --- the server says no ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["401", "403"])
def test_rejected_key_names_the_env_var_and_never_the_key(fault_server, image, status):
    with pytest.raises(AuthError) as info:
        backend.chat(spec(fault_server, status), ask(image), KEYS)
    message = str(info.value)
    assert "key rejected by OpenRouter" in message and "check OPENROUTER_API_KEY" in message
    assert KEY not in message and "dummy" not in message
    assert KEY not in repr(info.value.__cause__) and info.value.__suppress_context__


def test_optional_key_left_out_but_required_says_set_it(fault_server, image):
    with pytest.raises(AuthError, match="set WB_TEST_ABSENT_KEY in the environment or .env"):
        backend.chat(spec(fault_server, "401", provider="vllm", key_env="WB_TEST_ABSENT_KEY"), ask(image))


def test_unknown_model(fault_server, image):
    with pytest.raises(NotFoundError) as info:
        backend.chat(spec(fault_server, "404"), ask(image), KEYS)
    message = str(info.value)
    assert "model '404' not found" in message and f"GET {fault_server.url}/models" in message


def test_bad_request_keeps_the_servers_message(fault_server, image):
    with pytest.raises(BadRequestError, match="400.*Invalid image"):
        backend.chat(spec(fault_server, "400"), ask(image), KEYS)


def test_missing_key_raises_before_any_request(fault_server, image):
    with pytest.raises(KeyMissingError,
                       match="needs WB_TEST_ABSENT_KEY — set WB_TEST_ABSENT_KEY in the environment or .env"):
        backend.chat(spec(fault_server, key_env="WB_TEST_ABSENT_KEY"), ask(image))
    assert sum(fault_server.calls.values()) == 0


def test_no_base_url_is_a_config_error(image):
    with pytest.raises(ConfigError, match="no base_url"):
        backend.chat(ModelSpec(name="x", provider="custom", model="m"), ask(image))


# --- streaming ---------------------------------------------------------------------------------------------


def test_streaming_calls_on_text_and_measures_ttft(fault_server, image):
    seen: list[str] = []
    reply = backend.chat(spec(fault_server, "stream-ok"), ask(image, on_text=seen.append), KEYS)
    assert reply.text == fault_server.reply_text and seen[-1] == reply.text
    assert len(seen) >= 3 and all(b.startswith(a) for a, b in zip(seen, seen[1:]))
    assert 0 < reply.time_to_first_token_s <= reply.latency_s
    assert reply.finish_reason == "stop" and reply.input_tokens == PROMPT_TOKENS and reply.output_tokens
    body = fault_server.last_request
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_streaming_reports_cost(fault_server, image):
    reply = backend.chat(spec(fault_server, "cost"), ask(image, on_text=lambda text: None), KEYS)
    assert reply.reported_cost == pytest.approx(COST)


@pytest.mark.parametrize("model", ["stream-cut", "stream-bad-chunk"])
def test_broken_stream_keeps_partial_text(fault_server, image, model):
    seen: list[str] = []
    with pytest.raises(ProtocolError, match="stream") as info:
        backend.chat(spec(fault_server, model), ask(image, on_text=seen.append), KEYS)
    assert info.value.partial_text == "A grey " == seen[-1]


def test_server_that_ignores_stream_still_answers(fault_server, image):
    reply = backend.chat(spec(fault_server, "ignore-stream"), ask(image, on_text=lambda text: None), KEYS)
    assert reply.text == fault_server.reply_text and reply.input_tokens == PROMPT_TOKENS


def test_html_instead_of_a_stream(fault_server, image):
    with pytest.raises(ProtocolError, match="HTML page"):
        backend.chat(spec(fault_server, "html"), ask(image, on_text=lambda text: None), KEYS)


def test_slow_stream_hits_the_deadline(fault_server, image):
    with pytest.raises(DeadlineError) as info:
        backend.chat(spec(fault_server, "slow", timeout=1), ask(image, on_text=lambda text: None), KEYS)
    assert info.value.partial_text is None  # nothing had arrived yet


# --- structured output -------------------------------------------------------------------------------------


def test_json_schema_sent_where_the_provider_supports_it(fault_server, image):
    reply = backend.chat(spec(fault_server), ask(image, json_schema=SCHEMA), KEYS)
    fmt = fault_server.last_request["response_format"]
    assert fmt == {"type": "json_schema", "json_schema": {"name": "pothole_severity", "schema": SCHEMA["schema"],
                                                          "strict": False}}
    assert reply.metrics["json_schema"] == "sent"


@pytest.mark.parametrize("provider, override", [("localai", None), ("openrouter", False)])
def test_json_schema_not_sent_where_unsupported(fault_server, image, provider, override):
    reply = backend.chat(spec(fault_server, provider=provider, json_schema=override), ask(image, json_schema=SCHEMA),
                         KEYS)
    assert "response_format" not in fault_server.last_request and "json_schema" not in reply.metrics


def test_json_schema_rejected_then_retried_without(fault_server, image):
    reply = backend.chat(spec(fault_server, "schema-400"), ask(image, json_schema=SCHEMA), KEYS)
    assert reply.text and reply.metrics["json_schema"] == "rejected"
    assert fault_server.calls_for("schema-400") == 2 and "response_format" not in fault_server.last_request


def test_capabilities_follow_the_preset(fault_server):
    assert backend.capabilities(spec(fault_server, provider="openai")).logprobs
    assert not backend.capabilities(spec(fault_server, provider="localai")).json_schema
    assert backend.capabilities(spec(fault_server, provider="localai", json_schema=True)).json_schema
    assert backend.capabilities(spec(fault_server)).local  # loopback URL
    assert not backend.capabilities(ModelSpec(name="p", provider="openrouter", model="m")).local


# --- availability ------------------------------------------------------------------------------------------


def test_availability_key_missing():
    pixtral = ModelSpec(name="Pixtral-12B (OpenRouter)", provider="openrouter", model="mistralai/pixtral-12b",
                        key_env="WB_TEST_ABSENT_KEY")
    status = backend.availability(pixtral)
    assert status.status == "key_missing"
    assert status.message == ("Pixtral-12B (OpenRouter) needs WB_TEST_ABSENT_KEY — "
                              "set WB_TEST_ABSENT_KEY in the environment or .env")
    assert backend.availability(pixtral, {"WB_TEST_ABSENT_KEY": KEY}).ready  # remote: not probed


def test_availability_loopback(fault_server):
    assert backend.availability(spec(fault_server), KEYS).ready
    assert backend.availability(spec(fault_server, provider="vllm", key_env="WB_TEST_ABSENT_KEY")).ready
    url = closed_port_url()
    started = time.perf_counter()
    status = backend.availability(spec(url, provider="ollama"))
    assert status.status == "unreachable"
    assert status.message == (f"Ollama at {url} is not answering — start the server or change base_url; "
                              f"check it with `curl {url}/models`")
    assert time.perf_counter() - started < 1.5


def test_availability_without_base_url():
    status = backend.availability(ModelSpec(name="mine", provider="custom", model="m"))
    assert status.status == "unknown" and "base_url" in status.message


# --- the batch's lean path (plain http, no SDK retries, inside a session) ----------------------------------


def _in_session(spec_, request):
    async def call():
        async with backend.session():
            return await backend.achat(spec_, request, KEYS)

    return asyncio.run(call())


def _outcome(call):
    try:
        reply = call()
    except Exception as e:  # noqa: BLE001 — compared below, type and message
        return type(e), str(e), getattr(e, "retry_after", None), getattr(e, "partial_text", None)
    return "reply", reply.text, reply.finish_reason, reply.input_tokens, reply.output_tokens, reply.reported_cost, \
        reply.sent_image_bytes, reply.metrics.get("json_schema")


@pytest.mark.parametrize("model", ["ok", "cost", "html", "bad-json", "no-choices", "no-message", "401", "403", "404",
                                   "400", "429", "500", "503", "schema-400"])
def test_lean_path_answers_and_fails_exactly_as_the_sdk(fault_server, image, model):
    request = lambda: ask(image, json_schema=SCHEMA)  # noqa: E731 — a fresh request per call
    via_sdk = _outcome(lambda: backend.chat(spec(fault_server, model), request(), KEYS))
    lean = _outcome(lambda: _in_session(spec(fault_server, model), request()))
    assert lean == via_sdk
    assert "authorization" in fault_server.last_headers and fault_server.last_headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("model, error, words", [("truncated", ProtocolError, "closed the connection in the middle"),
                                                 ("drop", ConnectionFailedError, "cannot reach .* is the server running")])
def test_lean_path_maps_broken_connections_like_the_sdk(fault_server, image, model, error, words):
    with pytest.raises(error, match=words):
        _in_session(spec(fault_server, model), ask(image))
    assert fault_server.calls_for(model) == 1  # never re-sent behind the batch's back
    url = closed_port_url()
    with pytest.raises(ConnectionFailedError, match=f"cannot reach {url}"):
        _in_session(spec(url, provider="ollama"), ask(image))


def test_lean_path_keeps_connections_alive_and_honours_the_deadline(fault_server, image):
    async def many():
        async with backend.session():
            first = await asyncio.gather(*(backend.achat(spec(fault_server), ask(image), KEYS) for _ in range(8)))
            second = await asyncio.gather(*(backend.achat(spec(fault_server), ask(image), KEYS) for _ in range(8)))
            with pytest.raises(DeadlineError, match="within 1 s"):
                await backend.achat(spec(fault_server, "slow", timeout=1), ask(image), KEYS)
            return first + second, await backend.achat(spec(fault_server), ask(image), KEYS)

    replies, after = asyncio.run(many())
    assert all(r.text == fault_server.reply_text for r in replies) and after.text
    assert fault_server.calls_for("ok") == 17


def test_a_batch_session_on_plain_http_does_not_load_the_sdk(fault_server):
    code = f"""
import asyncio, sys
sys.path.insert(0, {str(REPO)!r})
from workbench.backends import ChatRequest
from workbench.backends.openai_compat import OpenAICompatible
from workbench.images import load_image
from workbench.models import ModelSpec
from PIL import Image
spec = ModelSpec(name="x", provider="custom", base_url={fault_server.url!r}, model="ok", max_retries=0)
backend = OpenAICompatible()
async def go():
    async with backend.session():
        return await backend.achat(spec, ChatRequest(prompt="hi", images=[load_image(Image.new("RGB", (8, 8)))]))
assert asyncio.run(go()).text
assert "openai" not in sys.modules and "httpx" not in sys.modules, "the SDK was imported"
"""
    subprocess.run([sys.executable, "-c", code], check=True)
