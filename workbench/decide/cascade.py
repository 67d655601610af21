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
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .configs import ANSWER_COLUMNS, Configuration
from .quality import METRICS, cost_per_1k, latency_quantile, operational, statistic

HUMAN = "a person"


def shared_items(cheap: Configuration, second: Configuration | None) -> pd.Index:
    """The labelled images both stages ran on (a person can review any image)."""
    first = cheap.answers.index[cheap.answers["expected"].notna()]
    return first if second is None else first.intersection(second.answers.index, sort=False)


@dataclass
class _Stages:
    """Both stages' answers on the shared images, as arrays, so every threshold is a cheap numpy pass."""

    items: pd.Index
    first: pd.DataFrame
    confidence: np.ndarray
    label: tuple[np.ndarray, np.ndarray]  # (first stage, second stage)
    status: tuple[np.ndarray, np.ndarray]
    cost: tuple[np.ndarray, np.ndarray]
    latency: tuple[np.ndarray, np.ndarray]

    @classmethod
    def of(cls, cheap: Configuration, second: Configuration | None, human_cost: float | None) -> "_Stages":
        items = shared_items(cheap, second)
        first = cheap.answers.loc[items]
        if second is None:  # a person: the label is what a person said; how long a review takes is unknown
            after = first.assign(label=first["expected"], status="ok",
                                 cost=np.nan if human_cost is None else human_cost, latency_s=np.nan)
        else:
            after = second.answers.loc[items]

        def pair(column: str, dtype) -> tuple[np.ndarray, np.ndarray]:
            return first[column].to_numpy(dtype=dtype), after[column].to_numpy(dtype=dtype)

        return cls(items, first, first["confidence"].fillna(-1.0).to_numpy(dtype=float), pair("label", object),
                   pair("status", object), pair("cost", float), pair("latency_s", float))

    def at(self, threshold: float) -> pd.DataFrame:
        escalate = ~(self.confidence >= threshold)
        pick = lambda pair: np.where(escalate, pair[1], pair[0])  # noqa: E731
        out = self.first[ANSWER_COLUMNS].copy()
        out["label"], out["status"] = pick(self.label), pick(self.status)
        out["cost"] = self.cost[0] + np.where(escalate, self.cost[1], 0.0)
        out["latency_s"] = self.latency[0] + np.where(escalate, self.latency[1], 0.0)
        out["escalated"] = escalate
        return out


def cascade_answers(cheap: Configuration, second: Configuration | None, threshold: float,
                    human_cost: float | None = None) -> pd.DataFrame:
    """The cascade's answers image by image at threshold t, in the same form as a configuration's."""
    return _Stages.of(cheap, second, human_cost).at(threshold)


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
    stages = _Stages.of(cheap, second, human_cost)
    column = f"{metric}[{cls}]" if cls else metric
    rows = []
    truth = stages.first["expected"].to_numpy(dtype=object)
    for t in thresholds_of(cheap, stages.items):
        escalate = ~(stages.confidence >= t)
        pred = np.array(["" if v is None else v for v in np.where(escalate, *stages.label[::-1])], dtype=object)
        status = np.where(escalate, *stages.status[::-1])
        latency = stages.latency[0] + np.where(escalate, stages.latency[1], 0.0)
        row = {"first": cheap.name, "second": second.name if second else HUMAN, "threshold": t, "n": len(truth),
               "escalated": float(escalate.mean()) if len(truth) else math.nan,
               "accuracy": statistic(truth, pred, "accuracy"),
               "cost_per_1k_usd": cost_per_1k(stages.cost[0] + np.where(escalate, stages.cost[1], 0.0)),
               "latency_p95_s": math.nan if second is None and escalate.any() else latency_quantile(
                   latency, status, 0.95)}
        if METRICS[metric].quality and column not in row:
            row[column] = statistic(truth, pred, metric, cls)
        rows.append(row)
    return pd.DataFrame(rows)


def cascade_p95(answers: pd.DataFrame, human: bool) -> float:
    """p95 latency; unknown once a person reviews any image (how long a review takes is not known)."""
    return math.nan if human and answers["escalated"].any() else operational(answers, "p95")


def cascade_pairs(configs: list[Configuration], human_cost: float | None = None) -> list[tuple]:
    """(cheap, second) pairs worth simulating: a scored first stage and a dearer second one on shared images;
    (cheap, None) for "a person reviews below t" when a review price is set."""
    pairs = []
    for cheap in configs:
        if not cheap.scored:
            continue
        cheap_cost = operational(cheap.answers, "cost")
        for second in configs:
            if second is cheap or not len(shared_items(cheap, second)):
                continue
            cost = operational(second.answers, "cost")
            if math.isnan(cheap_cost) or math.isnan(cost) or cost > cheap_cost:
                pairs.append((cheap, second))
        if human_cost is not None:
            pairs.append((cheap, None))
    return pairs
