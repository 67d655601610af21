"""Nothing lost under faults: a malformed 200 (an HTML page, a cut or unparsable body, no choices, null content) is
transient like a 429 or a 503 — retried, bounded and with backoff, in single calls and in batches — and stays a
failure that names the body when it repeats. Counted at the scripted server: no request is paid for twice."""
from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest
from PIL import Image

from workbench import run_model
from workbench.backends import ChatRequest
from workbench.backends import openai_compat
from workbench.batch import run_batch
from workbench.errors import DeadlineError, ProtocolError
from workbench.images import load_image
from workbench.models import ModelSpec

from .fault_server import HTML_PAGE, FaultServer, fault_server  # noqa: F401

FAULTS = ("429", "500", "503", "html", "truncated", "no-choices", "drop", "bad-json", "null-content")
MALFORMED = ["html", "bad-json", "no-choices", "no-message", "null-content"]
backend = openai_compat.OpenAICompatible()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(openai_compat, "PROTOCOL_RETRY_PAUSE_S", 0.01, raising=False)


def spec(server, model="ok", **kw) -> ModelSpec:
    kw.setdefault("timeout", 10)
    return ModelSpec(name=f"fault {model}", provider="custom", base_url=server.url, model=model, **kw)


def ask(image) -> ChatRequest:
    return ChatRequest(prompt="How bad is this pothole?", images=[image], max_tokens=64)


@pytest.fixture
def image(sample_image):
    return load_image(sample_image)


def noise_images(folder: Path, n: int) -> Path:
    """Distinct noise: plain colours can encode to the same JPEG, and so to the same request."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(3)
    for i in range(n):
        Image.frombytes("RGB", (24, 16), rng.randbytes(24 * 16 * 3)).save(folder / f"img{i:04d}.png")
    return folder


# --- single calls ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", MALFORMED)
def test_a_malformed_200_is_asked_again_in_a_single_call(fault_server, image, fault):
    model = f"{fault}-then-ok"
    reply = backend.chat(spec(fault_server, model, max_retries=1), ask(image))
    assert reply.text == fault_server.reply_text
    assert fault_server.calls_for(model) == 2


def test_run_model_gets_the_answer_after_an_html_page(fault_server, sample_image):
    result = run_model(sample_image, "ask", spec(fault_server, "html-then-ok"))
    assert result.status == "ok" and result.output == {"answer": fault_server.reply_text}
    assert fault_server.calls_for("html-then-ok") == 2


@pytest.mark.parametrize("model, begins", [("html", HTML_PAGE.decode()[:40]), ("bad-json", '{"id": "x", "choices"')])
def test_a_malformed_200_that_repeats_is_a_failure_naming_the_body(fault_server, image, model, begins):
    with pytest.raises(ProtocolError) as info:
        backend.chat(spec(fault_server, model, max_retries=2), ask(image))
    assert fault_server.calls_for(model) == 3  # the first try and max_retries more, no further
    message = str(info.value)
    assert "it begins" in message and begins in message and "3 tries" in message
    assert info.value.retryable


def test_no_retries_asked_for_none_made(fault_server, image):
    with pytest.raises(ProtocolError):
        backend.chat(spec(fault_server, "html", max_retries=0), ask(image))
    assert fault_server.calls_for("html") == 1


def test_retries_of_malformed_answers_stay_inside_the_deadline(fault_server, image, monkeypatch):
    monkeypatch.setattr(openai_compat, "PROTOCOL_RETRY_PAUSE_S", 0.4, raising=False)
    started = time.perf_counter()
    with pytest.raises(DeadlineError, match="within 1 s"):
        backend.chat(spec(fault_server, "html", max_retries=20, timeout=1), ask(image))
    assert time.perf_counter() - started < 2.0
    assert fault_server.calls_for("html") <= 4  # backed off (0.4 s, then 0.8 s, …), and cut off by the deadline


def test_null_content_is_a_protocol_error_not_an_empty_answer(fault_server, sample_image):
    result = run_model(sample_image, "ask", spec(fault_server, "null-content", max_retries=0))
    assert (result.status, result.error_type) == ("error", "protocol_error")
    assert "null" in result.error


# --- batches --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode, task, n", [("generate", "ask", 90), ("score", "pothole_severity", 40)])
def test_a_batch_under_faults_stores_every_item_answered_and_pays_for_none_twice(tmp_path, mode, task, n):
    images = noise_images(tmp_path / "imgs", n)
    db = tmp_path / "wb.db"
    with FaultServer(fault_once=FAULTS, fault_share=0.5) as server:
        flaky = spec(server)
        run = run_batch(images, task, [flaky], db=db, mode=mode, workers=8, progress=False)
        assert (run.total, run.answered, run.failed) == (n, n, 0)
        malformed = {"html", "truncated", "no-choices", "bad-json", "null-content"}
        assert len(malformed & set(server.faulted)) >= 3 and sum(server.faulted.values()) >= n // 4
        assert server.duplicates == 0  # no request answered successfully twice
        calls = sum(server.calls.values())

        again = run_batch(images, task, [flaky], db=db, mode=mode, workers=8, progress=False)
        assert sum(server.calls.values()) == calls and again.calls == 0 and again.up_to_date
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT image_path), SUM(status = 'error') FROM results "
                            "WHERE run_id = ?", (run.run_id,)).fetchone() == (n, n, 0)


def test_a_batch_item_whose_server_always_answers_html_fails_after_max_attempts(tmp_path, fault_server):
    images = noise_images(tmp_path / "imgs", 3)
    run = run_batch(images, "ask", [spec(fault_server, "html")], db=tmp_path / "wb.db", workers=2,
                    max_attempts=3, progress=False)
    assert (run.answered, run.failed) == (0, 3)
    assert fault_server.calls_for("html") == 9  # three items, three tries each: bounded
    frame = run.results()
    assert set(frame["error_type"]) == {"protocol_error"} and set(frame["attempts"]) == {3}
    assert frame["error"].str.contains("HTML page (it begins '<!DOCTYPE html>", regex=False).all()


@pytest.mark.parametrize("fault", ["no-choices", "html", "bad-json"])
def test_score_mode_asks_again_after_a_malformed_200_instead_of_falling_back(fault_server, sample_image, fault):
    # A server that returns label probabilities: a malformed 200 is not "no logprobs here" (generate mode).
    fault_server.script["logprobs"] = [fault, "logprobs"]
    scorer = ModelSpec(name="scorer", provider="vllm", base_url=fault_server.url, model="logprobs", timeout=10,
                       max_retries=1)
    result = run_model(sample_image, "pothole_severity", scorer, mode="score")
    assert result.status == "ok" and result.mode == "score" and "score_note" not in result.metrics
    assert result.probabilities and fault_server.calls_for("logprobs") == 2
