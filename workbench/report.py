"""What the task notebooks show beside `workbench.evaluate`'s metrics: what the answers contain, and the two
pictures a person would rather look at than read — cost vs accuracy (one point per model) and latency.

    workbench.category_rates(results)        # moderation: share of answered images per category
    workbench.kind_counts(results)           # PII: on how many images each kind was found
    workbench.local_speed(results)           # local models: tokens/s, time to first token, peak RAM / VRAM
    workbench.plot_cost_vs_quality(workbench.evaluate_run(run).summary)
    workbench.plot_latency(results)
    workbench.format_costs(frame)            # dollar columns as "$3.61", "$0", "—" (unknown)

Every function takes a results DataFrame (`BatchRun.results()`, `workbench.compare(...)`) and groups by model and
prompt version. Figures are plain matplotlib `Figure`s (no pyplot state).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .results import PARSED_OK

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

_KEYS = ("model", "prompt_version")


def _keys(frame: "pd.DataFrame") -> list[str]:
    return [k for k in _KEYS if k in frame.columns]


def _answered(results: "pd.DataFrame") -> "pd.DataFrame":
    """Items whose reply parsed: the only ones whose contents can be counted."""
    return results[results["status"].isin(PARSED_OK) & results["output"].map(lambda o: isinstance(o, dict))]


def category_rates(results: "pd.DataFrame", field: str = "categories") -> "pd.DataFrame":
    """Moderation: per model × prompt version, the share of answered images for which each category is true
    (an `answered` column gives how many images that share is over)."""
    import pandas as pd

    answered = _answered(results)
    rows = []
    for values, frame in answered.groupby(_keys(answered), sort=False):
        flags = pd.DataFrame([o.get(field) or {} for o in frame["output"]], index=frame.index).fillna(False)
        rows.append({**dict(zip(_keys(answered), values)), "answered": len(frame),
                     **flags.astype(bool).mean().to_dict()})
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=[*_keys(results), "answered"])


def kind_counts(results: "pd.DataFrame", field: str = "found", key: str = "kind") -> "pd.DataFrame":
    """PII: per model × prompt version, on how many answered images each kind (name, email, face, …) was found."""
    import pandas as pd

    answered = _answered(results)
    rows = []
    for values, frame in answered.groupby(_keys(answered), sort=False):
        counts: dict[str, int] = {}
        for output in frame["output"]:
            kinds = {str(item.get(key, "other")) for item in output.get(field) or [] if isinstance(item, dict)}
            for kind in kinds:
                counts[kind] = counts.get(kind, 0) + 1
        rows.append({**dict(zip(_keys(answered), values)), "answered": len(frame), **dict(sorted(counts.items()))})
    return pd.DataFrame(rows).fillna(0) if rows else pd.DataFrame(columns=[*_keys(results), "answered"])


def local_speed(results: "pd.DataFrame") -> "pd.DataFrame":
    """Local models' hardware bill per model × prompt version: median tokens/s and time to first token, peak RAM
    (RSS, the process's peak so far) and, on CUDA, peak VRAM — from each call's `metrics`."""
    import pandas as pd

    answered = results[results["status"] != "error"]
    peaks = {"peak_rss_mb": "peak_ram_mb", "vram_allocated_mb": "peak_vram_mb"}
    rows = []
    for values, frame in answered.groupby(_keys(answered), sort=False):
        metrics = pd.DataFrame([m if isinstance(m, dict) else {} for m in frame.get("metrics", [])],
                               index=frame.index)
        if "tokens_per_s" not in metrics:
            continue  # not a local model: nothing measured on this machine
        row = {**dict(zip(_keys(answered), values)), "calls": len(frame),
               "tokens_per_s": float(pd.to_numeric(metrics["tokens_per_s"], errors="coerce").median()),
               "ttft_s": float(pd.to_numeric(frame.get("ttft_s"), errors="coerce").median())
               if "ttft_s" in frame else float("nan")}
        for source, name in peaks.items():
            row[name] = float(pd.to_numeric(metrics[source], errors="coerce").max()) if source in metrics \
                else float("nan")
        rows.append(row)
    return pd.DataFrame(rows, columns=[*_keys(answered), "calls", "tokens_per_s", "ttft_s", "peak_ram_mb",
                                       "peak_vram_mb"])


def format_costs(frame: "pd.DataFrame") -> "pd.DataFrame":
    """A copy for reading: every dollar column ("cost…", "…_usd") as "$3.61", "$0" or "—" (unknown)."""
    from .costs import format_usd

    money = [c for c in frame.columns if ("cost" in str(c) or str(c).endswith("_usd")) and str(c) != "cost_source"]
    return frame.assign(**{c: [format_usd(None if v is None or v != v else float(v)) for v in frame[c]]
                           for c in money})


def plot_cost_vs_quality(summary: "pd.DataFrame", quality: str = "accuracy",
                         cost: str = "cost_per_1k_usd") -> "Figure":
    """One point per model (× prompt version): cost per 1,000 images against a quality column of
    `evaluate.summary` (accuracy, macro_f1, or mae for ratings). Unknown costs are listed, never drawn at $0."""
    import pandas as pd
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.2), layout="constrained")
    ax = fig.subplots()
    if quality not in summary.columns:
        ax.text(0.5, 0.5, f"no {quality} to plot: no answered item has a label", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    keys = _keys(summary)
    names = [" · ".join(str(v) for v in row) for row in summary[keys].itertuples(index=False)]
    x = pd.to_numeric(summary[cost], errors="coerce")
    y = pd.to_numeric(summary[quality], errors="coerce")
    known = x.notna() & y.notna()
    markers = "osD^vP*X"
    versions = list(dict.fromkeys(summary.get("prompt_version", pd.Series(["default"] * len(summary)))))
    for i, (name, xi, yi) in enumerate(zip(names, x, y)):
        if known.iloc[i]:
            version = summary["prompt_version"].iloc[i] if "prompt_version" in summary else "default"
            ax.scatter(xi, yi, s=60, alpha=0.8, label=name, marker=markers[versions.index(version) % len(markers)])
    if known.any():
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    unknown = [n for n, xi, yi in zip(names, x, y) if pd.isna(xi) and not pd.isna(yi)]
    if unknown:
        ax.text(0.01, 0.01, "cost unknown: " + ", ".join(unknown), transform=ax.transAxes, fontsize=7,
                va="bottom", color="grey")
    ax.set(xlabel="$ per 1,000 images", ylabel=quality + (" (lower is better)" if quality == "mae" else ""),
           title=f"Cost vs {quality}: one point per model × prompt")
    if quality in ("accuracy", "macro_f1", "within_1", "answered", "parsed"):  # shares: the whole 0–1 range
        ax.set_ylim(-0.03, 1.03)
    ax.set_xlim(left=0, right=max(1e-6, float(x[known].max()) * 1.25) if known.any() else 1)
    return fig


def plot_latency(results: "pd.DataFrame") -> "Figure":
    """Latency of each answered call, per model × prompt version: a box with every call drawn on top."""
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

    answered = results[results["status"] != "error"]
    keys = _keys(answered)
    groups = [(" · ".join(str(v) for v in (values if isinstance(values, tuple) else (values,))),
               pd.to_numeric(frame["latency_s"], errors="coerce").dropna().to_numpy())
              for values, frame in answered.groupby(keys, sort=False)] if keys else []
    groups = [(name, data) for name, data in groups if len(data)]
    fig = Figure(figsize=(6.5, 0.5 + 0.45 * max(3, len(groups))), layout="constrained")
    ax = fig.subplots()
    if not groups:
        ax.text(0.5, 0.5, "no answered calls", ha="center", va="center", transform=ax.transAxes)
        return fig
    ax.boxplot([d for _, d in groups], orientation="horizontal", showfliers=False)
    rng = np.random.default_rng(0)  # fixed jitter: the same run draws the same picture
    for i, (_, data) in enumerate(groups, start=1):
        ax.scatter(data, i + rng.uniform(-0.15, 0.15, len(data)), s=12, alpha=0.6)
    ax.set_yticks(range(1, len(groups) + 1), [name for name, _ in groups], fontsize=8)
    ax.set(xlabel="seconds per call", title="Latency per call")
    return fig
