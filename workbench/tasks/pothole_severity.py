from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from .base import Task

SEVERITIES = ("no_pothole", "minor", "moderate", "severe")
_VARIANTS = {"none": "no_pothole", "no pothole": "no_pothole", "no-pothole": "no_pothole", "n/a": "no_pothole",
             "low": "minor", "small": "minor", "mild": "minor", "medium": "moderate", "high": "severe",
             "major": "severe", "critical": "severe"}
_WORD = re.compile(r"\b(no[ _-]pothole|severe|moderate|minor)\b", re.I)


class PotholeSeverity(BaseModel):
    severity: Literal["no_pothole", "minor", "moderate", "severe"]
    reason: str = ""


def _normalize(data: dict) -> dict:
    if "severity" not in data:
        for key in ("label", "rating", "level"):
            if key in data:
                data["severity"] = data.pop(key)
                break
    if "reason" not in data and "explanation" in data:
        data["reason"] = data.pop("explanation")
    value = data.get("severity")
    if isinstance(value, str):
        key = value.strip().lower()
        data["severity"] = _VARIANTS.get(key, key.replace(" ", "_"))
    return data


def _from_text(text: str) -> dict | None:
    found = {m.group(1).lower().replace(" ", "_").replace("-", "_") for m in _WORD.finditer(text)}
    # Only an unambiguous single label counts: "between minor and severe" is not an answer.
    return {"severity": found.pop(), "reason": text.strip()} if len(found) == 1 else None


TASK = Task(
    name="pothole_severity",
    title="Pothole severity",
    description="Grades road damage: minor, moderate or severe — or no_pothole when there is none.",
    prompt=(
        "You inspect road surfaces. Grade the worst pothole in this image.\n"
        "minor: small or shallow, no risk to vehicles; moderate: noticeable, should be repaired soon; "
        "severe: large or deep, a danger to vehicles. Use no_pothole if there is no pothole.\n"
        'Answer with JSON only, no other text: {"severity": "minor" | "moderate" | "severe" | "no_pothole", '
        '"reason": "one short sentence"}'
    ),
    schema=PotholeSeverity,
    label_field="severity",
    labels=SEVERITIES,
    normalize=_normalize,
    from_text=_from_text,
    decision={"severity": {
        "type": "choice",
        "instructions": "You inspect road surfaces. How severe is the worst pothole in this image?",
        "criteria": {"no_pothole": "there is no pothole",
                     "minor": "small or shallow, no risk to vehicles",
                     "moderate": "noticeable, should be repaired soon",
                     "severe": "large or deep, a danger to vehicles"},
    }},
)
