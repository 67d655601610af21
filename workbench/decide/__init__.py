"""From numbers to a decision: the frontier of quality, cost and latency, cascades, and how sure the labels make us.

    rec = workbench.recommend(run_id, bar="accuracy>=0.9")
    rec.pick, rec.reason, rec.frontier, rec.plot()

Modules: bars (parse the bar), configs (runs → answers per configuration), quality (metrics with intervals),
confidence (Wilson, bootstrap, McNemar, paired bootstrap), compare (paired tests in words), cascade (simulated
cascades), frontier (points and the Pareto frontier), decision (recommend: the decision), text (its wording), plots.
"""
from __future__ import annotations

from .bars import Bar, parse_bar, parse_bars
from .cascade import cascade_answers, cascade_curve
from .compare import paired_test
from .confidence import Interval, PairedTest, bootstrap_interval, mcnemar_test, paired_bootstrap, wilson_interval
from .frontier import pareto_mask
from .decision import Recommendation, recommend

__all__ = ["Bar", "Interval", "PairedTest", "Recommendation", "bootstrap_interval", "cascade_answers",
           "cascade_curve", "mcnemar_test", "paired_bootstrap", "paired_test", "pareto_mask", "parse_bar",
           "parse_bars", "recommend", "wilson_interval"]
