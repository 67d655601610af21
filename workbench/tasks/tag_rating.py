from __future__ import annotations

import re

from pydantic import BaseModel, Field

from .base import Task

LEVELS = ("not relevant at all", "barely related", "somewhat related", "relevant", "very relevant",
          "perfectly relevant")
RUBRIC = ", ".join(f"{score} = {level}" for score, level in enumerate(LEVELS))
_FRACTION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/|out of)\s*5\s*$", re.I)
_SCORE_IN_TEXT = re.compile(r"\b(?:score|rating)\b\W{0,3}(\d+(?:\.\d+)?)(?:\s*(?:/|out of)\s*5)?", re.I)


class TagRating(BaseModel):
    score: int = Field(ge=0, le=5, description=RUBRIC)
    explanation: str = ""


def _as_score(value):
    """'4/5', '4 out of 5', '4', 4.0 → 4. Out-of-range values are kept so validation reports them."""
    if isinstance(value, str):
        m = _FRACTION.match(value) or re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*", value)
        if m:
            value = float(m.group(1))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value


def _normalize(data: dict) -> dict:
    for key in ("rating", "relevance", "relevance_score"):
        if "score" not in data and key in data:
            data["score"] = data.pop(key)
    if "explanation" not in data:
        for key in ("reason", "reasoning", "rationale"):
            if key in data:
                data["explanation"] = data.pop(key)
                break
    if "score" in data:
        data["score"] = _as_score(data["score"])
    return data


def _from_text(text: str) -> dict | None:
    m = _SCORE_IN_TEXT.search(text) or _FRACTION.match(text.strip())
    return {"score": _as_score(m.group(1)), "explanation": text.strip()} if m else None


TASK = Task(
    name="tag_rating",
    title="Tag rating (0–5)",
    description="How well does the image match a search tag? A 0–5 score with a short explanation.",
    prompt=(
        'Rate how well this image matches the search tag "{tag}".\n'
        f"Use this scale: {RUBRIC}.\n"
        'Answer with JSON only, no other text: {"score": 0-5, "explanation": "one or two sentences"}'
    ),
    schema=TagRating,
    label_field="score",
    labels=("0", "1", "2", "3", "4", "5"),
    kind="rating",
    verdict_format="{score} / 5",
    normalize=_normalize,
    from_text=_from_text,
    decision={"score": {"type": "score", "instructions": 'How well does this image match the search tag "{tag}"?',
                        "criteria": list(LEVELS)}},
)
