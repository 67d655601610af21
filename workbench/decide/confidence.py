"""How sure we are: intervals for one configuration's metrics and paired tests between two on the same images.

Small label sets are the norm, so every number comes with its uncertainty:

- a plain proportion (accuracy, recall on one class, within-one share): the Wilson score interval;
- anything else (MAE, macro-F1, quadratic weighted kappa): a percentile bootstrap over images, seeded, so the same
  data always gives the same interval;
- two configurations on the same images: McNemar's exact test for correct/incorrect (with the paired Wald interval
  of the accuracy difference), a paired bootstrap for any other metric.

numpy and the standard library only; the tests check these against scipy and statsmodels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Callable

import numpy as np

LEVEL = 0.95
RESAMPLES = 2000
SEED = 0
POWER = 0.8  # the chance of a clear verdict that "about N more images" is sized for


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float
    method: str  # "wilson", "bootstrap (2000 resamples over images, seed 0)", …

    def __str__(self) -> str:
        return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}]"


@dataclass(frozen=True)
class PairedTest:
    """A minus B on the same n images: the difference, its interval, a p-value, and what would settle it."""

    metric: str
    a: str
    b: str
    n: int
    difference: float
    low: float
    high: float
    p_value: float
    method: str
    discordant: int | None = None  # McNemar: images exactly one of the two got right
    more_images: int | None = None  # about how many more labelled images would separate them (None: not needed)

    @property
    def separated(self) -> bool:
        """The data tell them apart at the 5 % level."""
        return self.p_value < 1 - LEVEL


def _z(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson_interval(successes: int, n: int, level: float = LEVEL) -> Interval:
    """Wilson score interval of a proportion (statsmodels `proportion_confint(method="wilson")`)."""
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, "wilson")
    z, p = _z(level), successes / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(p, max(0.0, center - half), min(1.0, center + half), "wilson")


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n: int, *, resamples: int = RESAMPLES,
                       seed: int = SEED, level: float = LEVEL) -> Interval:
    """Percentile bootstrap over images: `statistic(indices)` is the metric on the images at those indices."""
    value = float(statistic(np.arange(n)))
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, "bootstrap")
    low, high = _percentiles(_draws(statistic, n, resamples, seed), level)
    return Interval(value, low, high, _bootstrap_method(resamples, seed))


def _percentiles(draws: np.ndarray, level: float) -> tuple[float, float]:
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return math.nan, math.nan
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def _draws(statistic, n: int, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([statistic(rng.integers(0, n, n)) for _ in range(resamples)], dtype=float)


def _bootstrap_method(resamples: int, seed: int) -> str:
    return f"bootstrap ({resamples} resamples over images, seed {seed})"


def mcnemar_test(correct_a, correct_b, a: str = "A", b: str = "B", level: float = LEVEL) -> PairedTest:
    """Exact McNemar test on paired correct/incorrect (statsmodels `mcnemar(table, exact=True)`).

    The difference is accuracy(A) − accuracy(B) with the paired Wald interval; `more_images` uses the observed
    disagreement rate (Connor's sample size for McNemar's test, 5 % two-sided, 80 % power)."""
    ca, cb = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    n = len(ca)
    only_a, only_b = int(np.sum(ca & ~cb)), int(np.sum(~ca & cb))
    discordant = only_a + only_b
    p_value = min(1.0, 2 * _binom_cdf(min(only_a, only_b), discordant)) if discordant else 1.0
    difference = (only_a - only_b) / n if n else math.nan
    half = _z(level) * math.sqrt(max(discordant - (only_a - only_b) ** 2 / n, 0.0)) / n if n else math.nan
    test = PairedTest("accuracy", a, b, n, difference, difference - half, difference + half, p_value,
                      "McNemar exact", discordant)
    if test.separated or not n:
        return test
    return _with_more(test, _mcnemar_size(discordant / n, difference, level))


def _binom_cdf(k: int, n: int) -> float:
    return sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n


def _mcnemar_size(discordance: float, difference: float, level: float) -> float | None:
    if difference == 0 or discordance == 0:
        return None  # no difference seen: more images of the same kind would not separate them
    za, zb = _z(level), NormalDist().inv_cdf(POWER)
    root = za * math.sqrt(discordance) + zb * math.sqrt(max(discordance - difference ** 2, 0.0))
    return root ** 2 / difference ** 2


def paired_bootstrap(metric: Callable[[np.ndarray], float], metric_b: Callable[[np.ndarray], float], n: int,
                     name: str, a: str = "A", b: str = "B", *, resamples: int = RESAMPLES, seed: int = SEED,
                     level: float = LEVEL) -> PairedTest:
    """metric_a − metric_b on the same resampled images; p is twice the share of differences past zero."""
    def diff(idx):
        return metric(idx) - metric_b(idx)

    if n == 0:
        return PairedTest(name, a, b, 0, math.nan, math.nan, math.nan, 1.0, "paired bootstrap")
    value = float(diff(np.arange(n)))
    draws = _draws(diff, n, resamples, seed)
    low, high = _percentiles(draws, level)
    draws = draws[np.isfinite(draws)]
    tail = min(np.mean(draws <= 0), np.mean(draws >= 0)) if len(draws) else 0.5
    test = PairedTest(name, a, b, n, value, low, high, float(min(1.0, 2 * tail)),
                      f"paired {_bootstrap_method(resamples, seed)}")
    if test.separated or value == 0 or not np.isfinite(high - low):
        return test
    # The interval narrows as 1/√n: size it so the observed difference sits POWER-clear of zero.
    za, zb = _z(level), NormalDist().inv_cdf(POWER)
    return _with_more(test, n * ((high - low) / 2 * (za + zb) / za / abs(value)) ** 2)


def _with_more(test: PairedTest, needed: float | None) -> PairedTest:
    from dataclasses import replace

    more = None if needed is None else max(1, math.ceil(needed) - test.n)
    return replace(test, more_images=more)
