"""Every configuration (and the best cascades) as a point of quality against $ per 1,000 images and p95 latency,
and the Pareto frontier: the points no other point beats on all three at once.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .bars import Bar
from .cascade import cascade_answers, cascade_curve, cascade_name, cascade_p95, cascade_pairs
from .configs import Configuration
from .quality import METRICS, measure

POINT_COLUMNS = ["configuration", "kind", "n", "quality", "quality_low", "quality_high", "interval",
                 "cost_per_1k_usd", "latency_p95_s", "escalated", "on_frontier"]


def point(name: str, kind: str, answers: pd.DataFrame, metric: str, cls: str | None) -> dict:
    q = measure(answers, metric, cls)
    labelled = int(answers["expected"].notna().sum())
    return {"configuration": name, "kind": kind, "n": labelled, "quality": q.value, "quality_low": q.low,
            "quality_high": q.high, "interval": q.method, "cost_per_1k_usd": measure(answers, "cost").value,
            "latency_p95_s": measure(answers, "p95").value,
            "escalated": float(answers["escalated"].mean()) if "escalated" in answers and labelled else math.nan}


def pareto_mask(quality, cost, latency, higher_is_better: bool = True) -> np.ndarray:
    """True where no other point is at least as good on quality, cost and latency and better on one.

    Unknown cost keeps a point off the frontier (it cannot be placed); unknown latency counts as the slowest."""
    q = np.asarray(quality, dtype=float) * (1 if higher_is_better else -1)
    c, lat = np.asarray(cost, dtype=float), np.nan_to_num(np.asarray(latency, dtype=float), nan=np.inf)
    known = ~np.isnan(c) & ~np.isnan(q)
    mask = known.copy()
    for i in np.flatnonzero(known):
        others = known & (np.arange(len(q)) != i)
        at_least = others & (q >= q[i]) & (c <= c[i]) & (lat <= lat[i])
        better = (q > q[i]) | (c < c[i]) | (lat < lat[i])
        if np.any(at_least & better):
            mask[i] = False
    return mask


def headline(bars: list[Bar], task_is_rating: bool) -> tuple[str, str | None]:
    """The quality metric the frontier is drawn on: the first quality bar's, else accuracy (MAE for ratings)."""
    for bar in bars:
        if METRICS[bar.metric].quality:
            return bar.metric, bar.cls
    return ("mae", None) if task_is_rating else ("accuracy", None)


def model_points(configs: list[Configuration], metric: str, cls: str | None) -> pd.DataFrame:
    rows = [point(c.name, "model", c.answers, metric, cls) for c in configs if c.labelled]
    return pd.DataFrame(rows, columns=POINT_COLUMNS[:-1])


def cascade_points(configs: list[Configuration], metric: str, cls: str | None,
                   human_cost: float | None) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    """Threshold curves of every cascade, the points of each cascade's Pareto-best thresholds, and their answers."""
    curves, rows, answers = [], [], {}
    higher = METRICS[metric].higher_is_better
    column = f"{metric}[{cls}]" if cls else metric
    for cheap, second in cascade_pairs(configs, human_cost):
        curve = cascade_curve(cheap, second, metric, cls, human_cost)
        if curve.empty:
            continue
        curves.append(curve)
        best = pareto_mask(curve[column], curve["cost_per_1k_usd"], curve["latency_p95_s"], higher)
        for t in curve.loc[best & (curve["threshold"] > 0), "threshold"]:  # t = 0 is the cheap model alone
            name = cascade_name(cheap.name, second.name if second else None, t)
            answers[name] = cascade_answers(cheap, second, t, human_cost)
            rows.append(point(name, "cascade" if second else "human review", answers[name], metric, cls))
            if second is None:
                rows[-1]["latency_p95_s"] = cascade_p95(answers[name], human=True)
    return (pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(),
            pd.DataFrame(rows, columns=POINT_COLUMNS[:-1]), answers)


def with_frontier(points: pd.DataFrame, metric: str) -> pd.DataFrame:
    points = points.reset_index(drop=True)
    points["on_frontier"] = pareto_mask(points["quality"], points["cost_per_1k_usd"], points["latency_p95_s"],
                                        METRICS[metric].higher_is_better)
    return points
