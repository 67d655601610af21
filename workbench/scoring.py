"""Score mode: instead of generating text, read the probability of every allowed label from the model.

Each of a task's score questions (`Task.decision`, System One's `choice` / `score` / `noul`) is asked the way
transformers' `pipeline("decision")` asks it: the options listed with a one-token answer label each (A, B, … for
choices, 0–5 for levels, Yes/No for yes/no questions), and the probability of each label as the answer's first token,
from one forward pass. Backends that can do this declare `Capabilities.logprobs` and have a `score` method; for any
other model, task or label set, score mode falls back to generate mode and says why in `metrics["score_note"]`.
"""
from __future__ import annotations

import math
import re
import string
import time
from dataclasses import dataclass, field

from pydantic import ValidationError

from .errors import BackendError, ConfigError
from .redact import redact
from .results import Result

IMAGE_PLACEHOLDER = "[[image-{}]]"  # where each image sits in a score question's state
NOUL_OPTIONS = ("true", "false")  # the order in which yes/no labels are given (pipeline("decision")'s default)


@dataclass
class ScoreReply:
    """What a backend's `score` returns: for every question, a probability per option, summing to 1."""

    probabilities: dict[str, dict[str, float]]  # question → option ("minor", "3", "true") → p
    labels: dict[str, list[str]]  # question → the answer tokens read, one per option
    input_tokens: int | None = None
    latency_s: float = 0.0
    metrics: dict = field(default_factory=dict)
    output_tokens: int = 0  # nothing is generated
    reported_cost: float | None = None


class ScoreUnavailable(BackendError):
    """This model cannot give label probabilities for these questions; score mode falls back to generate mode."""

    kind = "score_unavailable"


# --- questions --------------------------------------------------------------------------------------------


def score_questions(task, text: str, variables: dict | None = None) -> tuple[dict[str, dict], str | None]:
    """The task's score questions with the prompt's variables filled in, and a note when the prompt was custom.

    Without `variables`, they are read back from `text` when it was rendered from the task's own template."""
    found = _prompt_variables(task.prompt, text)
    note = None if found is not None else "score mode asks the task's own questions; the custom prompt is not used"
    values = {**(found or {}), **(variables or {})}
    return {name: _fill(question, task, values) for name, question in task.decision.items()}, note


def _prompt_variables(template: str, text: str) -> dict[str, str] | None:
    parts = re.split(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", template)
    seen: set[str] = set()
    pattern = ""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            pattern += re.escape(part)
        else:
            pattern += f"(?P={part})" if part in seen else f"(?P<{part}>.*?)"
            seen.add(part)
    match = re.fullmatch(pattern, text, re.S)
    return match.groupdict() if match else None


def _fill(value, task, variables: dict):
    if isinstance(value, str):
        return task.render(value, variables)
    if isinstance(value, dict):
        return {k: _fill(v, task, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, task, variables) for v in value]
    return value


def options(question: dict) -> list[str]:
    """The options of a question in answer-label order: choice keys, levels "0".."n-1", or true/false."""
    if question["type"] == "noul":
        return list(NOUL_OPTIONS)
    if question["type"] == "score":
        return [str(i) for i in range(len(question["criteria"]))]
    return list(question["criteria"])


def label_candidates(question: dict) -> list[list[str]]:
    """Answer labels to try, best first; a model needs each to be one distinct token of its tokenizer."""
    n = len(options(question))
    if question["type"] == "noul":
        return [["Yes", "No"], ["yes", "no"], ["true", "false"]]
    candidates = [list(string.digits[:n])] if question["type"] == "score" and n <= 10 else []
    if n <= 26:
        candidates.append(list(string.ascii_uppercase[:n]))
    if question["type"] == "choice":
        candidates.append(options(question))  # the option names themselves, where each is a single token
    return candidates


def decision_prompt(question: dict, labels: list[str]) -> str:
    """The question as text, worded like pipeline("decision")'s generic prompt, for servers that return logprobs."""
    lines = [str(question.get("instructions") or "")]
    criteria = question.get("criteria")
    if question["type"] == "noul":
        lines += [f"{label}: {(criteria or {})[opt]}" for label, opt in zip(labels, NOUL_OPTIONS)
                  if (criteria or {}).get(opt)]
        lines.append(f"Answer {labels[0]} or {labels[1]} only.")
        return "\n".join(line for line in lines if line)
    if question["type"] == "choice":
        lines += [f"{label}. {opt}: {desc}" if desc else f"{label}. {opt}"
                  for label, (opt, desc) in zip(labels, criteria.items())]
    else:
        lines += [f"{label}. {level}" for label, level in zip(labels, criteria)]
    kind = "letter" if labels == list(string.ascii_uppercase[:len(labels)]) else "label"
    what = "option" if question["type"] == "choice" else "level"
    lines.append(f"Answer with the {kind} of the {what} that fits best ({labels[0]} to {labels[-1]}) only.")
    return "\n".join(line for line in lines if line)


def probabilities_from_top_logprobs(top: list[tuple[str, float]], labels: list[str],
                                    option_names: list[str]) -> tuple[dict[str, float], float]:
    """Option probabilities from an API's top_logprobs of the first answer token, and the probability mass the labels
    hold among them. A label outside the top tokens counts as 0; no label among them at all raises ScoreUnavailable."""
    mass = dict.fromkeys(labels, 0.0)
    for token, logprob in top:
        key = token.strip()
        if key in mass:  # "A" and " A" are the same answer
            mass[key] += math.exp(logprob)
    total = sum(mass.values())
    if total <= 0:
        raise ScoreUnavailable(f"none of the answer labels {'/'.join(labels)} was among the server's top tokens")
    return {opt: mass[label] / total for opt, label in zip(option_names, labels)}, total


# --- the call ---------------------------------------------------------------------------------------------


def score_call(image, task, spec, text: str, keys, request, variables: dict | None = None) -> Result:
    """One score-mode call: a Result with mode="score", probabilities, expected_score (0–5 tasks) and an output
    built from the most probable labels — or the generate-mode Result with `metrics["score_note"]` saying why not."""
    from .backends import get_backend

    try:
        backend = get_backend(spec.backend)
    except BackendError:
        backend = None
    why_not = _why_not_scorable(task, spec, backend)
    if why_not:
        return _fallback(image, task, spec, text, keys, request, why_not)
    try:
        questions, note = score_questions(task, text, variables)
    except ConfigError as e:  # a custom prompt hid the task's variables, and none were passed
        return _fallback(image, task, spec, text, keys, request, f"score mode could not word its questions: {e}")
    result, reply = _score(backend, image, task, spec, text, keys, request, questions)
    if isinstance(reply, ScoreUnavailable):
        return _fallback(image, task, spec, text, keys, request, f"label probabilities not available: {reply}")
    if reply is not None:
        _fill_result(result, task, spec, questions, reply, len(request.images))
        if note:
            result.metrics["score_note"] = note
    return result


def _why_not_scorable(task, spec, backend) -> str | None:
    if not task.decision or task.label_field not in task.decision:
        return f"task {task.name!r} has no labels to score"
    if backend is None or not callable(getattr(backend, "score", None)) or not backend.capabilities(spec).logprobs:
        return f"label probabilities not available: the {spec.backend} backend does not return them for {spec.name}"
    return None


def _fallback(image, task, spec, text, keys, request, note: str) -> Result:
    from .calls import _call

    result = _call(image, task, spec, text, keys, request)
    result.metrics["score_note"] = note + " — answered in generate mode"
    return result


def _score(backend, image, task, spec, text, keys, request, questions):
    """(Result with the call's identity, ScoreReply | ScoreUnavailable | None when the Result holds an error)."""
    from .calls import prompt_hash
    from .keys import resolve_key

    result = Result(model=spec.name, model_id=spec.model, backend=spec.backend, task=task.name, status="error",
                    mode="score", image=image.source, image_hash=image.sha256, prompt_hash=prompt_hash(text))
    secret = resolve_key(spec.resolved_key_env, keys)
    start = time.perf_counter()
    try:
        status = backend.availability(spec, keys)
        if status.status in ("key_missing", "unsupported", "not_installed", "unavailable"):
            result.error_type, result.error = status.status, status.message
            return result, None
        return result, backend.score(spec, request, questions, keys)
    except ScoreUnavailable as e:
        return result, e
    except BackendError as e:
        result.error_type, result.error = e.kind, redact(str(e), [secret])
        result.failure = e.with_traceback(None)  # see Result
    except Exception as e:  # noqa: BLE001 — one broken model must not sink the comparison
        result.error_type, result.error = "internal", redact(f"{type(e).__name__}: {e}", [secret])
    result.latency_s = time.perf_counter() - start
    return result, None


def _fill_result(result: Result, task, spec, questions: dict, reply: ScoreReply, images: int) -> None:
    from .calls import _cost

    main = reply.probabilities[task.label_field]
    order = [label for label in task.labels if label in main] + [o for o in main if o not in task.labels]
    result.probabilities = {option: main[option] for option in order}
    if questions[task.label_field]["type"] == "score":
        result.expected_score = sum(int(level) * p for level, p in main.items())
    try:
        model = task.schema.model_validate(_output(task, questions, reply, result.expected_score))
    except ValidationError as e:  # a task whose questions do not fit its own schema
        result.status, result.error = "invalid_output", f"score-mode answers do not fit the schema: {e}"
    else:
        result.output = model.model_dump(mode="json", by_alias=True)
        problem = task.check(model) if task.check else None
        result.status, result.error = ("inconsistent", problem) if problem else ("ok", None)
        result.label = task.verdict(result.output)
    result.latency_s, result.input_tokens, result.output_tokens = reply.latency_s, reply.input_tokens, 0
    result.metrics = dict(reply.metrics)
    result.metrics["score_labels"] = "/".join(reply.labels[task.label_field])
    for name, question in questions.items():
        if name != task.label_field and question["type"] == "noul":
            result.metrics[f"p_{name.rsplit('.', 1)[-1]}"] = round(reply.probabilities[name]["true"], 4)
    result.cost, result.cost_source = _cost(spec, reply, images)


def _output(task, questions: dict, reply: ScoreReply, expected: float | None) -> dict:
    """A schema-valid output from each question's most probable option, with the probability as its reason."""
    data: dict = {}
    for name, question in questions.items():
        probabilities = reply.probabilities[name]
        best = max(probabilities, key=probabilities.get)
        value = best == "true" if question["type"] == "noul" else int(best) if question["type"] == "score" else best
        *parents, leaf = name.split(".")
        target = data
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    why = f"score mode: p={max(reply.probabilities[task.label_field].values()):.2f}"
    if expected is not None:
        why += f", expected score {expected:.2f}"
    for note_field in ("reason", "explanation"):
        if note_field in task.schema.model_fields:
            data[note_field] = why
            break
    return data
