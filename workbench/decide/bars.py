"""The bar a user sets — "accuracy>=0.9", "mae<=0.5", "recall[severe]>=0.95", "p95<=2s", "cost<=1.50" — parsed once.

    bar = parse_bar("recall[severe] >= 95%")
    bar.metric, bar.cls, bar.op, bar.value      # "recall", "severe", ">=", 0.95
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import ConfigError
from .quality import ALIASES, METRICS

_BAR = re.compile(r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\[\s*(?P<cls>[^\]]+?)\s*\])?\s*"
                  r"(?P<op>>=|<=|≥|≤|=>|=<)\s*\$?\s*(?P<value>[0-9]*\.?[0-9]+)\s*(?P<unit>%|ms|s|sec|seconds)?\s*$")
_OPS = {">=": ">=", "≥": ">=", "=>": ">=", "<=": "<=", "≤": "<=", "=<": "<="}


@dataclass(frozen=True)
class Bar:
    metric: str
    op: str  # ">=" or "<="
    value: float
    cls: str | None = None  # the class of recall[…], precision[…], f1[…]

    @property
    def name(self) -> str:
        return f"{self.metric}[{self.cls}]" if self.cls else self.metric

    def met(self, measured: float) -> bool:
        if measured is None or math.isnan(measured):
            return False
        return measured >= self.value if self.op == ">=" else measured <= self.value

    def shortfall(self, measured: float) -> float:
        """How far from the bar, relative to it (0 when met, inf when unknown)."""
        if measured is None or math.isnan(measured):
            return math.inf
        gap = self.value - measured if self.op == ">=" else measured - self.value
        return max(gap, 0.0) / (abs(self.value) or 1.0)

    def __str__(self) -> str:
        unit = " s" if self.metric in ("p95", "p50") else ""
        value = f"${self.value:g}" if self.metric == "cost" else f"{self.value:g}{unit}"
        return f"{self.name} {'≥' if self.op == '>=' else '≤'} {value}"


def parse_bar(text: str | Bar) -> Bar:
    """A bar from text; a ConfigError that names the valid metrics when it is not one."""
    if isinstance(text, Bar):
        return text
    match = _BAR.match(str(text))
    if not match:
        raise ConfigError(f"cannot read the bar {text!r} — write it as METRIC>=VALUE or METRIC<=VALUE, e.g. "
                          f"\"accuracy>=0.9\", \"mae<=0.5\", \"recall[severe]>=0.95\", \"p95<=2s\", \"cost<=1.5\"")
    name = ALIASES.get(match["metric"].lower(), match["metric"].lower())
    if name not in METRICS:
        raise ConfigError(f"unknown metric {match['metric']!r} in the bar {text!r} — use one of: "
                          + ", ".join(f"{m.name}[class]" if m.per_class else m.name for m in METRICS.values()))
    metric, cls = METRICS[name], match["cls"]
    if metric.per_class and not cls:
        raise ConfigError(f"{name} is per class: name the class, e.g. \"{name}[severe]>={match['value']}\"")
    if cls and not metric.per_class:
        raise ConfigError(f"{name} is not per class: drop [{cls}] (per class: recall, precision, f1)")
    op = _OPS[match["op"]]
    if (op == ">=") != metric.higher_is_better:
        better = "higher" if metric.higher_is_better else "lower"
        raise ConfigError(f"{name} is better {better}: write {name}{'>=' if better == 'higher' else '<='}"
                          f"{match['value']}")
    return Bar(name, op, _value(float(match["value"]), match["unit"], name, text), cls and cls.strip().lower())


def _value(value: float, unit: str | None, metric: str, text) -> float:
    if unit == "%":
        if metric in ("cost", "p95", "p50", "mae"):
            raise ConfigError(f"{metric} is not a share: drop the % in {text!r}")
        return value / 100
    if unit:
        if metric not in ("p95", "p50"):
            raise ConfigError(f"{metric} is not a time: drop the {unit} in {text!r}")
        return value / 1000 if unit == "ms" else value
    return value


def parse_bars(bars) -> list[Bar]:
    """One bar, several, or a comma/"and"-separated text of them: every bar must be met."""
    if bars is None:
        return []
    if isinstance(bars, (str, Bar)):
        bars = [bars]
    return [parse_bar(part) for b in bars
            for part in ([b] if isinstance(b, Bar) else [p for p in re.split(r",|\band\b", b) if p.strip()])]
