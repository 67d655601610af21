"""Turn a model's raw reply into a typed output and an honest status.

Statuses: ok (clean JSON that validates), repaired (valid only after extracting it from prose, fixing its
syntax or accepting an obvious variant), invalid_output (readable but breaks the schema, e.g. score 7),
inconsistent (valid but contradicts itself), refused, empty, truncated (cut by the token limit: never repaired
into plausible data), filtered (stopped by a content filter: never counted as safe).

A reasoning model's thinking (`<think>…</think>`, where backends also put a provider's reasoning fields) is
stripped before parsing and stays in the raw text; a reply cut while still thinking is truncated, not empty.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass

from pydantic import ValidationError

from .tasks import Task

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.S | re.I)
_THINK_OPEN = re.compile(r"<(?:think|thinking|reasoning)>", re.I)
_THINK_CLOSE = re.compile(r"</(?:think|thinking|reasoning)>", re.I)
_REFUSAL = re.compile(r"\b(I(?:'m| am) (?:sorry|unable|not able)|I can(?:not|'t) (?:help|assist|comply|provide|"
                      r"analy[sz]e|do that)|I won't|as an AI\b)", re.I)


@dataclass(frozen=True)
class Parsed:
    status: str
    output: dict | None = None
    error: str | None = None


def parse_reply(task: Task, text: str | None, finish_reason: str | None = None) -> Parsed:
    text = text or ""
    if finish_reason == "content_filter":
        return Parsed("filtered", error="the provider's content filter stopped the answer")
    if finish_reason == "length":
        return Parsed("truncated", error="the answer hit the max_tokens limit — raise max_tokens")
    text, still_thinking = strip_reasoning(text)
    if still_thinking and not text.strip():
        return Parsed("truncated", error="the reply stopped while the model was still reasoning — raise max_tokens")
    if not text.strip():
        return Parsed("empty", error="the model returned no text")
    if task.free_text:
        return Parsed("ok", {"answer": text.strip()})
    data, clean = _extract_json(text)
    if data is None and task.from_text:
        data, clean = task.from_text(text), False
    if data is None:
        if _REFUSAL.search(text):
            return Parsed("refused", error="the model declined to answer")
        return Parsed("invalid_output", error="no JSON object in the reply")
    return _validate(task, data, clean)


def strip_reasoning(text: str) -> tuple[str, bool]:
    """(the answer without reasoning blocks, whether a reasoning block was left open: the reply ended in it)."""
    answer = _THINK.sub("", text)
    opened = _THINK_OPEN.search(answer)
    if opened:
        return answer[: opened.start()], True
    closes = list(_THINK_CLOSE.finditer(answer))
    if closes:  # the chat template opened the block in the prompt: the reply starts inside it
        answer = answer[closes[-1].end():]
    return answer, False


def _validate(task: Task, data: dict, clean: bool) -> Parsed:
    before = copy.deepcopy(data)
    if task.normalize:
        data = task.normalize(data)
    try:
        model = task.schema.model_validate(data)
    except ValidationError as e:
        return Parsed("invalid_output", error=_describe(e))
    output = model.model_dump(mode="json", by_alias=True)
    problem = task.check(model) if task.check else None
    if problem:
        return Parsed("inconsistent", output, problem)
    return Parsed("ok" if clean and data == before else "repaired", output)


def _describe(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "output"
    return f"{where}: {err['msg']} (got {err.get('input')!r})"


def _extract_json(text: str) -> tuple[dict | None, bool]:
    """Returns (object, clean). Clean means the reply was exactly one JSON object, fenced or not."""
    stripped = text.strip()
    fenced = _FENCE.fullmatch(stripped)
    body = fenced.group(1).strip() if fenced else stripped
    try:
        value = json.loads(body)
        if isinstance(value, dict):
            return value, True
    except json.JSONDecodeError:
        pass
    for candidate in _candidates(text):
        value = _loads_lenient(candidate)
        if isinstance(value, dict) and value:
            return value, False
    return None, False


def _candidates(text: str):
    """Fenced blocks first, then each balanced {...} span in order (the first of two objects wins)."""
    yield from (m.group(1) for m in _FENCE.finditer(text))
    depth, start, in_str, escape = 0, None, False, False
    for i, ch in enumerate(text):
        if in_str:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"' and depth:
            in_str = True
        elif ch == "{":
            start = i if depth == 0 else start
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                yield text[start:i + 1]
    if depth and start is not None:
        yield text[start:]  # an unclosed object (the reply was not cut by max_tokens, so repair may close it)


def _loads_lenient(candidate: str):
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        pass
    from json_repair import repair_json

    try:
        return repair_json(candidate, return_objects=True)
    except Exception:  # json-repair gives up on some inputs; that is just "no JSON here"
        return None
