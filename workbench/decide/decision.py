"""From numbers to a decision: the cheapest configuration that meets the user's bar, or the closest when none does.

    rec = workbench.recommend(run_id, bar="accuracy>=0.9", human_cost=0.05)
    rec.pick          # "GPT-4o mini · score → GPT-4o below p=0.8", or None
    rec.reason        # the recommendation in words, with how sure we are
    rec.frontier      # the Pareto frontier of quality, $ per 1,000 images and p95 latency
    rec.plot()        # quality against cost, the frontier and the bar
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import ConfigError, MissingLabels
from ..tasks import TASKS
from .bars import Bar, parse_bars
from .compare import comparisons_table, describe, paired_test
from .configs import Configuration, configurations, load_results
from .confidence import PairedTest
from .frontier import cascade_points, headline, model_points, with_frontier
from .quality import METRICS, classes_seen, measure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class Recommendation:
    bars: list[Bar]
    metric: str  # the quality metric of the frontier, e.g. "accuracy" or "recall[severe]"
    points: pd.DataFrame  # every configuration and the best cascades, with each bar's metric and `meets`
    pick: str | None  # the cheapest configuration that meets every bar; None when none does
    reason: str
    cascades: pd.DataFrame  # every cascade's threshold curve
    comparisons: list[PairedTest]
    answers: dict[str, pd.DataFrame] = field(repr=False, default_factory=dict)  # image by image, per point

    @property
    def frontier(self) -> pd.DataFrame:
        return self.points[self.points["on_frontier"]].sort_values("cost_per_1k_usd").reset_index(drop=True)

    @property
    def closest(self) -> str | None:
        """When none meets the bar: the configuration nearest to it."""
        return None if self.pick or self.points.empty else str(self.points.iloc[0]["configuration"])

    def comparisons_table(self) -> pd.DataFrame:
        return comparisons_table(self.comparisons)

    def plot(self) -> "Figure":
        from .plots import plot_frontier

        return plot_frontier(self)

    def plot_cascades(self) -> "Figure":
        from .plots import plot_cascades

        return plot_cascades(self.cascades, self.metric)

    def __str__(self) -> str:
        return self.reason


def recommend(runs, bar=None, *, labels=None, db=None, human_cost: float | None = None) -> Recommendation:
    """The cheapest configuration (model × prompt version × mode, or a cascade) that meets every bar.

    runs: run ids, BatchRuns or results frames of one task, with labels (stored, or `labels=` CSV).
    bar: "accuracy>=0.9", "mae<=0.5", "recall[severe]>=0.95", "p95<=2s", "cost<=1.5", or several.
    human_cost: $ per human review; adds "a person reviews below t" cascades."""
    bars = parse_bars(bar)
    if human_cost is not None and (not math.isfinite(human_cost) or human_cost < 0):
        raise ConfigError(f"the price of a human review must be a number ≥ 0, not {human_cost!r}")
    results = load_results(runs, labels, db)
    configs = [c for c in configurations(results) if c.labelled]
    if not configs:
        raise MissingLabels()
    _check_classes(bars, configs)
    metric, cls = headline(bars, task_is_rating=_any_rating(results["task"].unique()))
    points = model_points(configs, metric, cls)
    curves, cascade_rows, answers = cascade_points(configs, metric, cls, human_cost)
    answers.update({c.name: c.answers for c in configs})
    points = with_frontier(pd.concat([points, cascade_rows], ignore_index=True) if len(cascade_rows) else points,
                           metric)
    points = _rank(_with_bars(points, bars, answers, metric, cls), bars, metric)
    name = f"{metric}[{cls}]" if cls else metric
    pick = str(points.iloc[0]["configuration"]) if len(points) and points.iloc[0]["meets"] else None
    tests = _tests(points, answers, metric, cls, pick)
    reason = _reason(points, bars, name, pick, tests, configs, human_cost)
    return Recommendation(bars, name, points, pick, reason, curves, tests, answers)


def _check_classes(bars: list[Bar], configs: list[Configuration]) -> None:
    seen = sorted(set().union(*(classes_seen(c.answers) for c in configs)))
    for bar in bars:
        if bar.cls and bar.cls not in seen:
            raise ConfigError(f"no class {bar.cls!r} in these labels or answers — classes: {', '.join(seen)}")


def _with_bars(points: pd.DataFrame, bars: list[Bar], answers: dict, metric: str, cls) -> pd.DataFrame:
    meets = np.ones(len(points), dtype=bool)
    for bar in bars:
        if (bar.metric, bar.cls) == (metric, cls):
            values = points["quality"].to_numpy(dtype=float)
        elif bar.metric == "cost":
            values = points["cost_per_1k_usd"].to_numpy(dtype=float)
        elif bar.metric == "p95":
            values = points["latency_p95_s"].to_numpy(dtype=float)
        else:
            values = np.array([measure(answers[n], bar.metric, bar.cls).value for n in points["configuration"]])
            points[bar.name] = values
        meets &= np.array([bar.met(v) for v in values], dtype=bool)
        points[f"shortfall {bar.name}"] = [bar.shortfall(v) for v in values]
    points["meets"] = meets & bool(bars)  # no bar, no pick: the frontier is the answer
    return points


def _rank(points: pd.DataFrame, bars: list[Bar], metric: str) -> pd.DataFrame:
    """Those that meet every bar first, cheapest first (unknown cost last), then better quality, then faster;
    those that miss, nearest to the bars first."""
    shortfall = points[[c for c in points if c.startswith("shortfall ")]].sum(axis=1) if bars else 0.0
    sign = -1 if METRICS[metric].higher_is_better else 1
    order = points.assign(_miss=~points["meets"], _short=shortfall, _cost=points["cost_per_1k_usd"].fillna(np.inf),
                          _q=sign * points["quality"], _lat=points["latency_p95_s"].fillna(np.inf))
    order["_cost"] = np.where(order["_miss"], 0.0, order["_cost"])  # a miss is ranked by how near it came
    order = order.sort_values(["_miss", "_short", "_cost", "_q", "_lat"], kind="stable")
    return order.drop(columns=["_miss", "_short", "_cost", "_q", "_lat"]).reset_index(drop=True)


def _tests(points: pd.DataFrame, answers: dict, metric: str, cls, pick: str | None) -> list[PairedTest]:
    """The pick (or the closest) against the runner-up that also meets the bar, and against the cheaper ones that
    miss it: can these images tell them apart?"""
    if points.empty:
        return []
    first = points.iloc[0]
    if pick:
        meets = points[points["meets"]]
        rivals = list(meets["configuration"].iloc[1:2])  # the runner-up
        if first["kind"] != "model":  # a cascade: also against the cheapest single configuration that meets it
            rivals += list(meets.loc[meets["kind"] == "model", "configuration"].iloc[:1])
        cheaper = points[~points["meets"] & (points["cost_per_1k_usd"] < first["cost_per_1k_usd"])]
        rivals += list(cheaper["configuration"].iloc[:1])  # the nearest miss that costs less
    else:
        rivals = list(points["configuration"].iloc[1:2])
    name = str(first["configuration"])
    return [paired_test(answers[name], answers[r], metric, cls, name, r) for r in dict.fromkeys(rivals)]


def _reason(points, bars, metric, pick, tests, configs, human_cost) -> str:
    from .text import reason

    return reason(points, bars, metric, pick, tests, configs, human_cost, describe)


def _any_rating(task_names) -> bool:
    """Whether a task of these runs scores on a scale (its kind, not its name: a registered task counts too)."""
    return any(TASKS[name].kind == "rating" for name in task_names if name in TASKS)
