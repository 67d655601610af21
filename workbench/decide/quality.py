"""The metrics a bar can name, measured on one configuration's answers image by image, each with its interval.

A configuration's answers are a frame with one row per image: `expected` (the label, None when unlabelled),
`label` (the answer, None when the call failed), `cost` (None when unknown) and `latency_s`. Failures count
against accuracy and recall, as in `workbench.evaluate`; rating errors (MAE, kappa) are over the answered images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..evaluate import quadratic_weighted_kappa
from .confidence import Interval, bootstrap_interval, wilson_interval


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    about: str  # what it measures, in the user's words
    per_class: bool = False
    quality: bool = True  # False: cost or speed, which need no labels


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("accuracy", True, "share of labelled images answered right"),
    Metric("macro_f1", True, "mean F1 over the classes"),
    Metric("recall", True, "share of one class's images found, e.g. recall[severe]", per_class=True),
    Metric("precision", True, "share of one class's answers that are right, e.g. precision[severe]", per_class=True),
    Metric("f1", True, "F1 of one class, e.g. f1[severe]", per_class=True),
    Metric("mae", False, "mean absolute error of 0–5 ratings"),
    Metric("within_1", True, "share of ratings within one point"),
    Metric("qwk", True, "quadratic weighted kappa of ratings"),
    Metric("cost", False, "$ per 1,000 images", quality=False),
    Metric("p95", False, "95th-percentile latency in seconds", quality=False),
    Metric("p50", False, "median latency in seconds", quality=False),
)}
ALIASES = {"cost_per_1k": "cost", "kappa": "qwk", "f1_macro": "macro_f1", "acc": "accuracy", "latency": "p95",
           "p95_latency": "p95"}


def labelled(answers: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Expected labels and answers ("" for a failed call) of the labelled images."""
    rows = answers[answers["expected"].notna()]
    return (rows["expected"].to_numpy(dtype=object),
            np.array(["" if v is None else v for v in rows["label"]], dtype=object))


def measure(answers: pd.DataFrame, metric: str, cls: str | None = None) -> Interval:
    """The metric on these answers with its interval (Wilson for proportions, else a seeded bootstrap)."""
    if not METRICS[metric].quality:
        return Interval(operational(answers, metric), math.nan, math.nan, "observed")
    truth, pred = labelled(answers)
    n = len(truth)
    if metric == "accuracy":
        return wilson_interval(int(np.sum(truth == pred)), n)
    if metric == "recall":
        mask = truth == cls
        return wilson_interval(int(np.sum(pred[mask] == cls)), int(mask.sum()))
    if metric == "precision":
        mask = pred == cls
        return wilson_interval(int(np.sum(truth[mask] == cls)), int(mask.sum()))
    if metric in ("mae", "within_1", "qwk"):
        return _rating(truth, pred, metric)
    return bootstrap_interval(lambda idx: statistic(truth[idx], pred[idx], metric, cls), n)


def statistic(truth: np.ndarray, pred: np.ndarray, metric: str, cls: str | None = None) -> float:
    """A quality metric on paired arrays of expected labels and answers (bootstrap and paired tests use this)."""
    if metric == "accuracy":
        return float(np.mean(truth == pred)) if len(truth) else math.nan
    if metric in ("recall", "precision", "f1"):
        return _class_scores(truth, pred, cls)[("precision", "recall", "f1").index(metric)]
    if metric == "macro_f1":
        classes = sorted(set(truth) | (set(pred) - {""}))
        return float(np.mean([_class_scores(truth, pred, c)[2] for c in classes])) if classes else math.nan
    t, p = _numbers(truth), _numbers(pred)
    both = ~np.isnan(t) & ~np.isnan(p)
    if not both.any():
        return math.nan
    error = np.abs(t[both] - p[both])
    if metric == "mae":
        return float(error.mean())
    if metric == "within_1":
        return float(np.mean(error <= 1))
    return quadratic_weighted_kappa(t[both], p[both])


def _class_scores(truth, pred, cls) -> tuple[float, float, float]:
    tp = float(np.sum((pred == cls) & (truth == cls)))
    predicted, support = float(np.sum(pred == cls)), float(np.sum(truth == cls))
    precision = tp / predicted if predicted else 0.0
    recall = tp / support if support else 0.0  # as workbench.evaluate, so macro-F1 agrees with it
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall if support else math.nan, f1


def _numbers(values: np.ndarray) -> np.ndarray:
    """Ratings as floats (NaN where not a number); fast, as the bootstrap calls it thousands of times."""
    if values.dtype.kind in "fiu":
        return values.astype(float, copy=False)
    return np.array([_number(v) for v in values], dtype=float)


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _rating(truth: np.ndarray, pred: np.ndarray, metric: str) -> Interval:
    t, p = _numbers(truth), _numbers(pred)
    both = ~np.isnan(t) & ~np.isnan(p)
    if metric == "within_1":
        return wilson_interval(int(np.sum(np.abs(t[both] - p[both]) <= 1)), int(both.sum()))
    t, p = t[both], p[both]  # numbers once, not in every resample
    return bootstrap_interval(lambda idx: statistic(t[idx], p[idx], metric), len(t))


def operational(answers: pd.DataFrame, metric: str) -> float:
    """$ per 1,000 images (mean of the known costs; NaN when none is known), or a latency percentile."""
    if metric == "cost":
        return cost_per_1k(answers["cost"].to_numpy(dtype=float))
    return latency_quantile(answers["latency_s"].to_numpy(dtype=float), answers["status"].to_numpy(dtype=object),
                            0.95 if metric == "p95" else 0.5)


def cost_per_1k(cost: np.ndarray) -> float:
    known = cost[~np.isnan(cost)]
    return float(known.mean() * 1000) if len(known) else math.nan


def latency_quantile(latency: np.ndarray, status: np.ndarray, q: float) -> float:
    latency = latency[status != "error"]  # as workbench.evaluate: a failure's wait is not a latency
    latency = latency[~np.isnan(latency)]
    return float(np.quantile(latency, q)) if len(latency) else math.nan


def classes_seen(answers: pd.DataFrame) -> list[str]:
    truth, pred = labelled(answers)
    return sorted(set(truth) | (set(pred) - {""}))
