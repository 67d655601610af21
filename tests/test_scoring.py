"""Score mode: label probabilities from one forward pass, checked against the model's own logits."""
from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from pydantic import BaseModel

import workbench
from workbench.images import load_image
from workbench.models import ModelSpec
from workbench.scoring import IMAGE_PLACEHOLDER, score_questions
from workbench.tasks import Task, get_task

TAG = {"tag": "road damage"}


class Pick(BaseModel):
    choice: str


def many_options_task(options: dict) -> Task:
    return Task(name="many", title="Many", description="", prompt="Which option?", schema=Pick,
                label_field="choice", labels=tuple(options),
                decision={"choice": {"type": "choice", "instructions": "Which option?", "criteria": options}})


def local(folder: str, **kw) -> ModelSpec:
    return ModelSpec(name="tiny", backend="transformers", model=folder, **kw)


@pytest.fixture(params=["llava", "idefics3"])
def tiny_dir(request, tiny_llava_dir, tiny_idefics3_dir):
    return {"llava": tiny_llava_dir, "idefics3": tiny_idefics3_dir}[request.param]


def direct_probabilities(folder: str, image, question: dict, labels: list[str]) -> list[float]:
    """Softmax over the label tokens' next-token logits, computed here from the question's prompt, without the
    pipeline: the prompt as transformers' generic decision template words it, the image where the state is."""
    from transformers.decision import DecisionConfig
    from transformers.decision.template_utils import DECISION_PROMPT, parse_questions
    from transformers.utils.chat_template_utils import _compile_jinja_template

    from workbench.backends.transformers_local import load_model

    loaded = load_model(local(folder))
    [parsed] = parse_questions({"q": question}, DecisionConfig(labels={question["type"]: labels}))
    placeholder = IMAGE_PLACEHOLDER.format(1)
    text = _compile_jinja_template(DECISION_PROMPT).render(state=placeholder, question=parsed)
    assert text.startswith(placeholder)
    content = [{"type": "image", "image": image.pil}, {"type": "text", "text": text[len(placeholder):]}]
    inputs = loaded.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                                  tokenize=True, return_dict=True, return_tensors="pt")
    with torch.no_grad():
        logits = loaded.model(**inputs).logits[0, -1]
    ids = loaded.processor.tokenizer.convert_tokens_to_ids(labels)
    return torch.softmax(logits[ids].float(), -1).tolist()


@pytest.mark.parametrize("task_name, labels", [("pothole_severity", list("ABCD")),
                                                ("tag_rating", list("012345")),
                                                ("pii_detection", ["Yes", "No"])])
def test_probabilities_match_the_models_logits(tiny_dir, sample_image, task_name, labels):
    task, image = get_task(task_name), load_image(sample_image)
    result = workbench.run_model(image, task, local(tiny_dir), variables=TAG, mode="score")

    assert (result.mode, result.status, result.error) == ("score", "ok", None)
    assert list(result.probabilities) == list(task.labels)  # one entry per label, in the task's order
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert result.metrics["score_labels"] == "/".join(labels)

    question = score_questions(task, task.render(None, TAG))[0][task.label_field]
    expected = direct_probabilities(tiny_dir, image, question, labels)
    options = ["true", "false"] if question["type"] == "noul" else list(task.labels)  # label order of the prompt
    assert [result.probabilities[o] for o in options] == pytest.approx(expected, abs=1e-5)


def test_result_record_of_a_score_call(tiny_llava_dir, sample_image):
    result = workbench.run_model(sample_image, "pothole_severity", local(tiny_llava_dir), mode="score")
    best = max(result.probabilities, key=result.probabilities.get)
    assert result.label == best == result.output["severity"]
    assert result.output["reason"] == f"score mode: p={result.probabilities[best]:.2f}"
    assert result.input_tokens > 16 and result.output_tokens == 0 and result.latency_s > 0
    assert result.cost_source == "estimated" and result.cost is not None
    assert result.metrics["forward_passes"] == 1 and result.metrics["peak_rss_mb"] > 0
    assert result.expected_score is None and result.raw_text == ""


def test_expected_score_is_the_probability_weighted_level(tiny_dir, sample_image):
    result = workbench.run_model(sample_image, "tag_rating", local(tiny_dir), variables=TAG, mode="score")
    probabilities = result.probabilities
    assert result.expected_score == pytest.approx(sum(int(k) * p for k, p in probabilities.items()))
    best = max(probabilities, key=probabilities.get)
    assert result.output["score"] == int(best) and result.label == best
    assert f"expected score {result.expected_score:.2f}" in result.output["explanation"]


def test_moderation_gives_flagged_and_every_category(tiny_dir, sample_image):
    from workbench.tasks.moderation import CATEGORIES, Moderation

    result = workbench.run_model(sample_image, "moderation", local(tiny_dir), mode="score")
    assert result.mode == "score" and result.status in ("ok", "inconsistent")
    assert set(result.probabilities) == {"false", "true"}
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert result.metrics["forward_passes"] == 1 + len(CATEGORIES)
    for category in CATEGORIES:
        p = result.metrics[f"p_{category}"]
        assert 0 < p < 1
        assert result.output["categories"][category] is (p >= 0.5)
    assert result.output["flagged"] is (result.probabilities["true"] >= 0.5)
    Moderation.model_validate(result.output)  # schema-valid, aliases included


def test_tag_is_read_back_from_the_rendered_prompt():
    task = get_task("tag_rating")
    questions, note = score_questions(task, task.render(None, {"tag": "red {bicycle}"}))
    assert note is None
    assert questions["score"]["instructions"] == 'How well does this image match the search tag "red {bicycle}"?'
    questions, note = score_questions(task, "my own prompt", {"tag": "cat"})
    assert "custom prompt is not used" in note and '"cat"' in questions["score"]["instructions"]


def test_custom_prompt_is_noted(tiny_llava_dir, sample_image):
    result = workbench.run_model(sample_image, "pothole_severity", local(tiny_llava_dir), mode="score",
                                 prompt="Grade this road. Reply with JSON.")
    assert result.mode == "score" and "custom prompt is not used" in result.metrics["score_note"]


def test_custom_prompt_with_variables_needs_them_passed(tiny_llava_dir, sample_image):
    from workbench.lifecycle import CallPlan, call

    task, image, spec = get_task("tag_rating"), load_image(sample_image), local(tiny_llava_dir)
    text = task.render("Score the tag {tag} from 0 to 5.", TAG)
    scored = call(CallPlan.of(image, task, spec, text, mode="score", max_tokens=4, variables=TAG), image)
    assert scored.mode == "score" and "custom prompt is not used" in scored.metrics["score_note"]
    unworded = call(CallPlan.of(image, task, spec, text, mode="score", max_tokens=4), image)  # the tag is nowhere
    assert unworded.mode == "generate" and "could not word its questions" in unworded.metrics["score_note"]


def test_more_options_than_letters_are_labelled_by_their_first_token(tiny_llava_dir, sample_image):
    from workbench.backends.transformers_local import load_model

    options = {f"{c}{c}{c}xq": None for c in "abcdefghijklmnopqrstuvwxyz0123"}  # 30 options, none one token
    result = workbench.run_model(sample_image, many_options_task(options), local(tiny_llava_dir), mode="score")
    tokenizer = load_model(local(tiny_llava_dir)).processor.tokenizer
    first = [tokenizer.decode(tokenizer(o, add_special_tokens=False)["input_ids"][:1]) for o in options]
    assert (result.mode, result.status) == ("score", "ok") and result.metrics["score_labels"] == "/".join(first)
    assert result.output == {"choice": result.label} and result.label in options
    assert list(result.probabilities) == list(options)
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_label_set_that_cannot_be_single_tokens_falls_back_to_generate(tiny_llava_dir, sample_image):
    # 30 options: more than there are letters, and each option's first token is the same ("option").
    options = {f"option {i}": None for i in range(30)}
    result = workbench.run_model(sample_image, many_options_task(options), local(tiny_llava_dir), mode="score",
                                 max_tokens=4)
    assert result.mode == "generate" and result.probabilities is None
    assert result.status != "error" and result.output_tokens == 4
    note = result.metrics["score_note"]
    assert note.startswith("label probabilities not available") and "answered in generate mode" in note


def test_task_without_labels_falls_back_to_generate(tiny_llava_dir, sample_image):
    result = workbench.run_model(sample_image, "ask", local(tiny_llava_dir), mode="score", max_tokens=4)
    assert result.mode == "generate" and "has no labels to score" in result.metrics["score_note"]


def test_unavailable_model_is_an_error_result_not_a_crash(tmp_path, sample_image):
    result = workbench.run_model(sample_image, "pothole_severity", local(str(tmp_path / "absent")), mode="score")
    assert (result.mode, result.status) == ("score", "error") and result.probabilities is None
    assert result.error_type in ("unavailable", "not_installed")


def test_score_mode_on_a_4bit_model(tiny_llava_dir, sample_image):
    pytest.importorskip("bitsandbytes")
    result = workbench.run_model(sample_image, "pii_detection", local(tiny_llava_dir, quantization="4bit"),
                                 mode="score")
    assert result.mode == "score" and result.status == "ok"
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)


# --- OpenAI-compatible servers: top_logprobs of the first answer token ---------------------------------------


class LogprobServer:
    """A loopback chat server answering one token, with `top` as its top_logprobs (None: no logprobs at all)."""

    def __init__(self, top: list[tuple[str, float]] | None):
        self.top, self.requests = top, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._send({"data": []})

            def do_POST(self):
                server.requests.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                choice = {"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "B"}}
                if server.top is not None:
                    choice["logprobs"] = {"content": [{"token": "B", "logprob": -0.5, "top_logprobs": [
                        {"token": t, "logprob": lp} for t, lp in server.top]}]}
                self._send({"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice],
                            "usage": {"prompt_tokens": 40, "completion_tokens": 1, "total_tokens": 41}})

            def _send(self, body):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def logprob_server(request):
    server = LogprobServer(request.param)
    yield server
    server.close()


def served(server, provider="vllm") -> ModelSpec:
    return ModelSpec(name=f"served ({provider})", provider=provider, base_url=server.url, model="m", max_retries=0,
                     timeout=10)


TOP = [("B", -0.4), (" A", -1.6), ("A", -3.0), ("The", -2.0), ("C", -2.5)]  # D is not among the top tokens


@pytest.mark.parametrize("logprob_server", [TOP], indirect=True)
def test_openai_compatible_probabilities_from_top_logprobs(logprob_server, sample_image):
    result = workbench.run_model(sample_image, "pothole_severity", served(logprob_server), mode="score")
    mass = {"A": math.exp(-1.6) + math.exp(-3.0), "B": math.exp(-0.4), "C": math.exp(-2.5), "D": 0.0}
    total = sum(mass.values())
    expected = {"no_pothole": mass["A"] / total, "minor": mass["B"] / total, "moderate": mass["C"] / total,
                "severe": 0.0}
    assert result.mode == "score" and result.status == "ok"
    assert result.probabilities == pytest.approx(expected)
    assert result.label == "minor" and result.metrics["label_mass_severity"] == pytest.approx(total, abs=1e-4)
    assert result.input_tokens == 40
    sent = logprob_server.requests[-1]
    assert (sent["logprobs"], sent["top_logprobs"], sent["max_tokens"]) == (True, 20, 1)
    prompt = sent["messages"][0]["content"][0]["text"]
    assert "A. no_pothole: there is no pothole" in prompt and prompt.endswith("(A to D) only.")


@pytest.mark.parametrize("logprob_server", [None], indirect=True)
def test_server_without_logprobs_says_not_available(logprob_server, sample_image):
    result = workbench.run_model(sample_image, "pothole_severity", served(logprob_server), mode="score")
    assert result.mode == "generate" and result.probabilities is None
    assert result.metrics["score_note"].startswith("label probabilities not available")
    assert "returned no top_logprobs" in result.metrics["score_note"]


@pytest.mark.parametrize("logprob_server", [TOP], indirect=True)
def test_provider_without_logprobs_is_not_asked_for_them(logprob_server, sample_image):
    result = workbench.run_model(sample_image, "pothole_severity", served(logprob_server, "transformers-serve"),
                                 mode="score")
    assert result.mode == "generate" and result.probabilities is None
    assert "not available" in result.metrics["score_note"]
    assert all("logprobs" not in r for r in logprob_server.requests)
