"""Cascades simulated from stored results: a cheap model first, the expensive one (or a person) only when the cheap
model's top label probability is below a threshold t.

Nothing is called: for every image both configurations answered, the cascade's answer is the cheap model's when its
top probability is ≥ t, else the second stage's; its cost is the cheap call plus, when escalated, the second stage's
call (or the human review price); its latency the two calls one after the other. A person is taken to be right
(the label is what a person said), and how long a review takes is unknown. A cheap call that failed or gave no
probabilities is escalated.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .configs import ANSWER_COLUMNS, Configuration
from .quality import METRICS, measure

HUMAN = "a person"


def shared_items(cheap: Configuration, second: Configuration | None) -> pd.Index:
    """The labelled images both stages ran on (a person can review any image)."""
    first = cheap.answers.index[cheap.answers["expected"].notna()]
    return first if second is None else first.intersection(second.answers.index, sort=False)


def cascade_answers(cheap: Configuration, second: Configuration | None, threshold: float,
                    human_cost: float | None = None) -> pd.DataFrame:
    """The cascade's answers image by image at threshold t, in the same form as a configuration's."""
    items = shared_items(cheap, second)
    first = cheap.answers.loc[items]
    escalate = ~(first["confidence"].fillna(-1.0).to_numpy() >= threshold)
    out = first[ANSWER_COLUMNS].copy()
    if second is None:
        after = first.assign(label=first["expected"], status="ok", cost=np.nan if human_cost is None else human_cost,
                             latency_s=np.nan)
    else:
        after = second.answers.loc[items]
    for column in ("label", "status"):
        out[column] = np.where(escalate, after[column].to_numpy(dtype=object), first[column].to_numpy(dtype=object))
    out["cost"] = first["cost"].to_numpy() + np.where(escalate, after["cost"].to_numpy(dtype=float), 0.0)
    out["latency_s"] = first["latency_s"].to_numpy() + np.where(escalate, after["latency_s"].to_numpy(dtype=float),
                                                                0.0)
    out["escalated"] = escalate
    return out


def thresholds_of(cheap: Configuration, items: pd.Index) -> list[float]:
    """Every threshold at which the cascade changes: 0 (never escalate), then each distinct top probability above
    the lowest (t = p escalates the images below p; the lowest would escalate none, as 0 does)."""
    conf = np.unique(cheap.answers.loc[items, "confidence"].dropna().to_numpy())
    return [0.0, *(float(c) for c in conf[1:])]


def cascade_name(cheap: str, second: str | None, threshold: float) -> str:
    return f"{cheap} → {second or HUMAN} below p={threshold:.3g}"


def cascade_curve(cheap: Configuration, second: Configuration | None, metric: str = "accuracy",
                  cls: str | None = None, human_cost: float | None = None) -> pd.DataFrame:
    """For every threshold: images, share escalated, accuracy (and `metric`), $ per 1,000 and p95 latency."""
    items = shared_items(cheap, second)
    rows = []
    for t in thresholds_of(cheap, items):
        answers = cascade_answers(cheap, second, t, human_cost)
        row = {"first": cheap.name, "second": second.name if second else HUMAN, "threshold": t, "n": len(answers),
               "escalated": float(answers["escalated"].mean()) if len(answers) else math.nan,
               "accuracy": measure(answers, "accuracy").value,
               "cost_per_1k_usd": measure(answers, "cost").value, "latency_p95_s": measure(answers, "p95").value}
        column = f"{metric}[{cls}]" if cls else metric
        if METRICS[metric].quality and column not in row:
            row[column] = measure(answers, metric, cls).value
        rows.append(row)
    return pd.DataFrame(rows)


def cascade_pairs(configs: list[Configuration], human_cost: float | None = None) -> list[tuple]:
    """(cheap, second) pairs worth simulating: a scored first stage and a dearer second one on shared images;
    (cheap, None) for "a person reviews below t" when a review price is set."""
    pairs = []
    for cheap in configs:
        if not cheap.scored:
            continue
        cheap_cost = measure(cheap.answers, "cost").value
        for second in configs:
            if second is cheap or not len(shared_items(cheap, second)):
                continue
            cost = measure(second.answers, "cost").value
            if math.isnan(cheap_cost) or math.isnan(cost) or cost > cheap_cost:
                pairs.append((cheap, second))
        if human_cost is not None:
            pairs.append((cheap, None))
    return pairs
