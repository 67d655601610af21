"""Two configurations on the same labelled images: the paired test that fits the metric, and what it means in words."""
from __future__ import annotations

import pandas as pd

from .confidence import PairedTest, mcnemar_test, paired_bootstrap
from .quality import _numbers, labelled, statistic


def paired_test(a: pd.DataFrame, b: pd.DataFrame, metric: str = "accuracy", cls: str | None = None,
                name_a: str = "A", name_b: str = "B") -> PairedTest:
    """McNemar on right/wrong for accuracy and recall (recall: on the class's images); else a paired bootstrap."""
    items = a.index[a["expected"].notna()].intersection(b.index, sort=False)
    truth, pred_a = labelled(a.loc[items])
    _, pred_b = labelled(b.loc[items])
    if metric in ("accuracy", "recall"):
        keep = truth == cls if metric == "recall" else slice(None)
        test = mcnemar_test(pred_a[keep] == truth[keep], pred_b[keep] == truth[keep], name_a, name_b)
        return test if metric == "accuracy" else _renamed(test, f"recall[{cls}]")
    label = f"{metric}[{cls}]" if cls else metric
    if metric in ("mae", "within_1", "qwk"):  # ratings as numbers once, not in every resample
        truth, pred_a, pred_b = (_numbers(x) for x in (truth, pred_a, pred_b))
    return paired_bootstrap(lambda idx: statistic(truth[idx], pred_a[idx], metric, cls),
                            lambda idx: statistic(truth[idx], pred_b[idx], metric, cls), len(truth), label,
                            name_a, name_b)


def _renamed(test: PairedTest, metric: str) -> PairedTest:
    from dataclasses import replace

    return replace(test, metric=metric)


def describe(test: PairedTest) -> str:
    """One sentence: separated or within noise, and how many more labelled images would settle it."""
    what = (f"{test.metric} {test.difference:+.3g} [{test.low:+.3g}, {test.high:+.3g}] "
            f"({test.method}, p={test.p_value:.2g})")
    if test.separated:
        return f"{test.a} and {test.b} differ on {test.n} images: {what}."
    if test.more_images is None:
        return (f"{test.a} and {test.b} are within noise on {test.n} images ({what}); they score the same here, "
                "so more images like these would not settle it.")
    return (f"{test.a} and {test.b} are within noise on {test.n} images ({what}); about {test.more_images} more "
            "labelled images would settle it.")


def comparisons_table(tests: list[PairedTest]) -> pd.DataFrame:
    columns = ["a", "b", "metric", "n", "difference", "low", "high", "p_value", "method", "discordant",
               "more_images", "separated"]
    return pd.DataFrame([{**{c: getattr(t, c) for c in columns[:-1]}, "separated": t.separated} for t in tests],
                        columns=columns)
