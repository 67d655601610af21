"""Score mode: instead of generating text, read the probability of every allowed label from the model.

Each of a task's score questions (`Task.decision`, System One's `choice` / `score` / `noul`) is asked the way
transformers' `pipeline("decision")` asks it: the options listed with a one-token answer label each (A, B, … for
choices, 0–5 for levels, Yes/No for yes/no questions), and the probability of each label as the answer's first token,
from one forward pass. Backends that can do this declare `Capabilities.logprobs` and implement `score`; for any
other model, task or label set, score mode falls back to generate mode and says why in `metrics["score_note"]`.
The call itself goes through `workbench.lifecycle` like any other; this module words the questions and turns the
probabilities into a task output.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import ValidationError

from .backends.base import ScoreReply, ScoreUnavailable
from .backends.label_questions import (IMAGE_PLACEHOLDER, NOUL_OPTIONS, decision_prompt, label_candidates, options,
                                       probabilities_from_top_logprobs)
from .results import Result

if TYPE_CHECKING:
    from .lifecycle import CallPlan

__all__ = ["IMAGE_PLACEHOLDER", "NOUL_OPTIONS", "ScoreReply", "ScoreUnavailable", "decision_prompt", "fill_scores",
           "label_candidates", "options", "probabilities_from_top_logprobs", "score_questions", "why_not_scorable"]


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


# --- the call's result -------------------------------------------------------------------------------------


def why_not_scorable(task, spec, backend) -> str | None:
    if not task.decision or task.label_field not in task.decision:
        return f"task {task.name!r} has no labels to score"
    if not backend.capabilities(spec).logprobs:
        return f"label probabilities not available: the {spec.backend} backend does not return them for {spec.name}"
    return None


def fill_scores(result: Result, plan: "CallPlan", reply: ScoreReply) -> None:
    """A score-mode Result: probabilities, expected_score (0–5 tasks) and an output from the most probable labels."""
    task, questions = plan.task, plan.questions
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
