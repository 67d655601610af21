"""The recommendation in words: what to use, what it costs, and how sure these labels make us."""
from __future__ import annotations

import math

from ..costs import format_usd


def _interval(row, metric: str) -> str:
    low, high = row["quality_low"], row["quality_high"]
    text = f"{metric} {row['quality']:.3g}"
    if not (math.isnan(low) or math.isnan(high)):
        text += f" [{low:.3g}, {high:.3g}]"
    return text


def _facts(row, metric: str) -> str:
    latency = row["latency_p95_s"]
    p95 = "—" if math.isnan(latency) else f"{latency:.2f} s"
    return f"{_interval(row, metric)}, {format_usd(row['cost_per_1k_usd'])} per 1,000 images, p95 {p95}"


def _methods(points) -> str:
    methods = sorted(set(points["interval"]) - {"observed"})
    return f"Intervals are 95 % ({'; '.join(methods)})." if methods else ""


def reason(points, bars, metric, pick, tests, configs, human_cost, describe) -> str:
    """A paragraph: the pick or the closest, its numbers with intervals, the paired tests, and the cascades."""
    if points.empty:
        return "No labelled configuration to compare."
    first = points.iloc[0]
    n = int(first["n"])
    wanted = " and ".join(str(b) for b in bars)
    if not bars:
        lines = [f"Set a bar (e.g. \"accuracy>=0.9\") for a recommendation. {len(points)} points on {n} labelled "
                 f"images; on the frontier: {', '.join(points.loc[points['on_frontier'], 'configuration'])}."]
    elif pick:
        lines = [f"Use {pick}: the cheapest that meets {wanted} on {n} labelled images ({_facts(first, metric)})."]
        lines += _bar_inside(first, bars, metric)
    else:
        lines = [f"None meets {wanted} on {n} labelled images; the closest is {first['configuration']} "
                 f"({_facts(first, metric)})."]
    lines += [describe(t) for t in tests]
    lines += _cascade_note(points, configs, human_cost)
    lines.append(_methods(points))
    return " ".join(line for line in lines if line)


def _bar_inside(row, bars, metric: str) -> list[str]:
    """Meeting the bar on these images is not meeting it for sure: say so when the interval crosses it."""
    out = []
    for bar in bars:
        if bar.name != metric or math.isnan(row["quality_low"]):
            continue
        edge = row["quality_low"] if bar.op == ">=" else row["quality_high"]
        if not bar.met(edge):
            out.append(f"Its interval reaches past the bar ({bar}), so with {int(row['n'])} images it may fall "
                       "short; more labels would tell.")
    return out


def _cascade_note(points, configs, human_cost) -> list[str]:
    cascades = points[points["kind"] != "model"]
    scored = [c.name for c in configs if c.scored]
    if not scored:
        return ["No cascade: no configuration gives label probabilities (use score mode or a model with logprobs)."]
    if cascades.empty:
        return [f"No cascade from {', '.join(scored)}: no dearer configuration ran on the same labelled images."]
    shared = sorted(set(cascades["n"].astype(int)))
    note = f"Cascades from {', '.join(scored)} are simulated on the {'/'.join(map(str, shared))} labelled images " \
           "both stages ran on."
    if human_cost is None:
        note += " Set a price per human review to add \"a person reviews below t\"."
    else:
        note += (f" A person's review ({format_usd(human_cost)} each) is counted as right; how long it takes is "
                 "unknown, so those cascades have no p95.")
    return [note]
