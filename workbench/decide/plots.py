"""Figures of a recommendation: quality against cost with the frontier and the bar, and cascade threshold curves.

matplotlib Figure objects (no pyplot state): shown by Jupyter and gr.Plot, safe in threads."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MARKERS = {"model": "o", "cascade": "s", "human review": "^"}


def plot_frontier(rec) -> "Figure":
    """Every point with its interval, the frontier as a line, the bar as a dashed line, the pick circled."""
    from matplotlib.figure import Figure

    points = rec.points
    fig = Figure(figsize=(7, 4.8), layout="constrained")
    ax = fig.subplots()
    for kind, frame in points.groupby("kind", sort=False):
        known = frame[frame["cost_per_1k_usd"].notna()]
        err = np.vstack([known["quality"] - known["quality_low"], known["quality_high"] - known["quality"]])
        ax.errorbar(known["cost_per_1k_usd"], known["quality"], yerr=np.nan_to_num(err), fmt=MARKERS.get(kind, "o"),
                    capsize=3, label=kind, alpha=0.8)
    frontier = rec.frontier
    named = set(frontier["configuration"]) | set(points.loc[points["kind"] == "model", "configuration"])
    for _, row in points[points["configuration"].isin(named) & points["cost_per_1k_usd"].notna()].iterrows():
        ax.annotate(row["configuration"], (row["cost_per_1k_usd"], row["quality"]), fontsize=7,
                    xytext=(5, -10), textcoords="offset points")  # only the frontier and the models: the rest crowd
    if len(frontier):
        ax.step(frontier["cost_per_1k_usd"], frontier["quality"], where="post", color="grey", linewidth=1,
                label="frontier")
    for bar in rec.bars:
        if bar.name == rec.metric:
            ax.axhline(bar.value, color="red", linestyle="--", linewidth=1, label=f"bar: {bar}")
    if rec.pick:
        row = points[points["configuration"] == rec.pick].iloc[0]
        ax.scatter([row["cost_per_1k_usd"]], [row["quality"]], s=220, facecolors="none", edgecolors="green",
                   label=f"pick: {rec.pick}")
    ax.set(xlabel="$ per 1,000 images (log scale)", ylabel=rec.metric, title=f"{rec.metric} against cost")
    positive = points.loc[points["cost_per_1k_usd"] > 0, "cost_per_1k_usd"]
    if len(positive) > 1:  # cents and dollars per 1,000 on one axis; symlog keeps $0 (local) models on it
        ax.set_xscale("symlog", linthresh=float(positive.min()))
    ax.legend(fontsize=7)
    return fig


def plot_cascades(curves: pd.DataFrame, metric: str = "accuracy") -> "Figure":
    """Per cascade, against the threshold: quality, share escalated, and $ per 1,000 (right axis)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    if curves.empty:
        ax.text(0.5, 0.5, "no cascade: no scored configuration with a dearer one on the same images",
                ha="center", va="center", fontsize=8, transform=ax.transAxes)
        return fig
    cost_ax = ax.twinx()
    column = metric if metric in curves else "accuracy"
    for (first, second), curve in curves.groupby(["first", "second"], sort=False):
        line = ax.plot(curve["threshold"], curve[column], marker=".", label=f"{first} → {second}: {column}")[0]
        ax.plot(curve["threshold"], curve["escalated"], linestyle=":", color=line.get_color(),
                label=f"{first} → {second}: escalated")
        cost_ax.plot(curve["threshold"], curve["cost_per_1k_usd"], linestyle="--", color=line.get_color())
    ax.set(xlabel="threshold t (escalate when the top probability is below t)", ylabel=f"{column} / share escalated",
           ylim=(0, 1.05), title="Cascades by threshold")
    cost_ax.set_ylabel("$ per 1,000 images (dashed)")
    ax.legend(fontsize=6, loc="lower right")
    return fig
