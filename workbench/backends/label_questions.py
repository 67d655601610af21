"""How a score question is put to a model: its options, the one-token answer labels to try, and its wording.

A score question is in the System One format of transformers' `pipeline("decision")`: `choice` with criteria,
`score` with levels lowest first, `noul` yes/no. Backends that give label probabilities use these to ask; the
score-mode lifecycle (`workbench.scoring`) builds the questions from a task.
"""
from __future__ import annotations

import math
import string

from .base import ScoreUnavailable

IMAGE_PLACEHOLDER = "[[image-{}]]"  # where each image sits in a score question's state
NOUL_OPTIONS = ("true", "false")  # the order in which yes/no labels are given (pipeline("decision")'s default)


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
