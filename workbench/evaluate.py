"""Which model and prompt does the task best, for how much: metrics over a run's results, as DataFrames and figures.

    from workbench.evaluate import evaluate_run
    ev = evaluate_run("20260101-120000-ab12", labels="sample_images/labels.csv")
    ev.summary                     # one row per model × prompt version
    ev.figures()["confusion"]      # matplotlib figures, one per name

Every function takes a results DataFrame (`workbench.store.open_run`, `BatchRun.results()`), a run id, or a
BatchRun, and groups by model and prompt version (and run, when the frame holds several). Failures count
against accuracy (a model that did not answer did not get it right); rating errors (MAE) are over the answered
items, with their number alongside. Metrics are computed with numpy and pandas only.

What applies comes from the task, never its name: its kind (classification, rating, free text) picks the
metrics and how labels compare, its positive label drives the threshold curve. A run's task is read from the
store (`task_of`), so a task registered only in the process that ran the batch evaluates anywhere.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .tasks import Task

NO_ANSWER = "(no answer)"
STATUS_ORDER = ("ok", "repaired", "invalid_output", "inconsistent", "refused", "empty", "truncated", "filtered",
                "error")
_EPS = 1e-6  # float rounding in a softmax, not a probability out of range
_INTEGER = re.compile(r"[+-]?\d+(?:\.0*)?")


# --- input ------------------------------------------------------------------------------------------------


def results_frame(results, db=None) -> pd.DataFrame:
    """A run id, a BatchRun or a DataFrame → a results frame with the columns the metrics need."""
    if isinstance(results, str):
        from .store import open_run

        results = open_run(results, db)
    elif hasattr(results, "results") and callable(results.results):
        results = results.results()
    if not isinstance(results, pd.DataFrame):
        raise ConfigError(f"evaluate a run id, a BatchRun or a results DataFrame, not a {type(results).__name__}")
    df = results.copy()
    if "image_path" not in df and "image" in df:  # a compare() frame
        df["image_path"] = df["image"]
    for column, default in (("prompt_version", "default"), ("expected", None), ("variables", None),
                            ("probabilities", None), ("cached", False), ("cost", None), ("latency_s", None),
                            ("raw_text", ""), ("label", None), ("task", None)):
        if column not in df:
            df[column] = default
    df["variables"] = [v if isinstance(v, dict) else (json.loads(v) if isinstance(v, str) and v else {})
                       for v in df["variables"]]
    df["variables_key"] = [json.dumps(v, sort_keys=True) for v in df["variables"]]
    kind = _kind(df)
    for column in ("label", "expected"):
        df[column] = pd.Series([normalize_label(v, kind) for v in df[column]], index=df.index, dtype=object)
    _check_probabilities(df)
    return df


def task_of(results: pd.DataFrame) -> "Task | None":
    """The frame's task: the definition a stored run carries (`frame.attrs`), else the registered task of the
    `task` column's name; None when neither is known (metrics then treat the labels as classes)."""
    from .tasks import TASKS, task_for_run

    definition = results.attrs.get("task_definition")
    names = results["task"].dropna().unique() if "task" in results else []
    if definition is not None:
        return task_for_run(definition["name"], definition)
    return TASKS.get(names[0]) if len(names) else None


def _kind(df: pd.DataFrame) -> str:
    task = task_of(df)
    return task.kind if task is not None else "classification"


def normalize_label(value, kind: str = "classification") -> str | None:
    """One spelling per label, so a CSV's cell and a model's answer compare equal: blank (None, "", NaN) → None;
    a whole float (1.0, as pandas reads an integer column with a hole) → "1"; ratings: "1.0" → "1";
    otherwise the stripped, lower-cased text."""
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip().lower()
    if kind == "rating" and _INTEGER.fullmatch(text):
        return str(int(float(text)))
    return text


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and np.isnan(value))


def _check_probabilities(df: pd.DataFrame) -> None:
    """Label probabilities lie in [0, 1]: percentages or scores would make calibration meaningless."""
    for model, path, probs in zip(df["model"], df["image_path"], df["probabilities"]):
        if not isinstance(probs, dict):
            continue
        bad = {k: v for k, v in probs.items()
               if not isinstance(v, (int, float, np.number)) or isinstance(v, bool) or not -_EPS <= v <= 1 + _EPS}
        if bad:
            raise ConfigError(f"probabilities of {model!r} on {path} must lie between 0 and 1, got {bad} — give "
                              "probabilities, not percentages or scores (divide percentages by 100)")


def attach_labels(results, labels) -> pd.DataFrame:
    """Set `expected` from a labels CSV (path|file, label, [task], [variables…]) or a DataFrame of one.

    Rows match by absolute path and prompt variables (so `tag` ratings keep their own label), else by file name."""
    df = results_frame(results)
    from .batch import collect_inputs

    task, kind = task_of(df), _kind(df)
    if isinstance(labels, pd.DataFrame):
        inputs = collect_inputs(labels.to_dict("records"), task)
    else:
        path = Path(labels)
        if not path.is_file():
            raise ConfigError(f"labels file {path} not found — give a CSV with path (or file) and label columns")
        inputs = collect_inputs(path, task)
    by_path = {(i.path, json.dumps(i.variables, sort_keys=True)): i.label for i in inputs if i.label is not None}
    by_name = {}
    for i in inputs:
        if i.label is not None:
            by_name.setdefault((Path(i.path).name, json.dumps(i.variables, sort_keys=True)), []).append(i.label)
    expected = []
    for path, vkey, current in zip(df["image_path"], df["variables_key"], df["expected"]):
        label = by_path.get((str(path), vkey))
        if label is None:
            names = by_name.get((Path(str(path)).name, vkey), [])
            label = names[0] if len(set(names)) == 1 else None
        label = normalize_label(label, kind)
        expected.append(label if label is not None else current)
    df["expected"] = pd.Series(expected, index=df.index, dtype=object)
    return df


def _groups(df: pd.DataFrame) -> list[str]:
    keys = ["model", "prompt_version"]
    if "run_id" in df and df["run_id"].nunique() > 1:
        keys.insert(0, "run_id")
    return keys


def _grouped(df: pd.DataFrame):
    keys = _groups(df)
    for values, frame in df.groupby(keys, sort=False, dropna=False):
        yield dict(zip(keys, values if isinstance(values, tuple) else (values,))), frame


def _is_rating(df: pd.DataFrame) -> bool:
    return _kind(df) == "rating"


def _numeric(values) -> np.ndarray:
    return pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(dtype=float)


# --- classification -----------------------------------------------------------------------------------------


def per_class_metrics(results) -> pd.DataFrame:
    """Precision, recall, F1 and support for every class (zero when a class is never predicted or never true)."""
    df = results_frame(results)
    rows = []
    for group, frame in _grouped(df):
        labelled = frame[frame["expected"].notna()]
        if labelled.empty:
            continue
        truth = labelled["expected"].to_numpy(dtype=object)
        pred = np.array([p if p is not None else NO_ANSWER for p in labelled["label"]], dtype=object)
        for cls in _classes(truth, pred):
            tp = int(np.sum((pred == cls) & (truth == cls)))
            predicted, support = int(np.sum(pred == cls)), int(np.sum(truth == cls))
            precision = tp / predicted if predicted else 0.0
            recall = tp / support if support else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            rows.append({**group, "class": cls, "precision": precision, "recall": recall, "f1": f1,
                         "support": support})
    return pd.DataFrame(rows, columns=[*_groups(df), "class", "precision", "recall", "f1", "support"])


def _classes(truth: np.ndarray, pred: np.ndarray) -> list[str]:
    """Classes present in the labels or the answers, in a stable order (a failed answer is not a class)."""
    seen = dict.fromkeys(sorted(set(truth)) + sorted(p for p in set(pred) if p != NO_ANSWER))
    return list(seen)


def classification_metrics(results) -> pd.DataFrame:
    """Per model × prompt version: labelled items, accuracy, macro-F1 (over the classes seen), answered share."""
    df = results_frame(results)
    per_class = per_class_metrics(df)
    keys = _groups(df)
    rows = []
    for group, frame in _grouped(df):
        labelled = frame[frame["expected"].notna()]
        if labelled.empty:
            continue
        correct = [p is not None and p == e for p, e in zip(labelled["label"], labelled["expected"])]
        mask = np.ones(len(per_class), dtype=bool)
        for k, v in group.items():
            mask &= (per_class[k] == v).to_numpy()
        rows.append({**group, "labelled": len(labelled), "accuracy": float(np.mean(correct)),
                     "macro_f1": float(per_class.loc[mask, "f1"].mean()),
                     "answered": float(np.mean([p is not None for p in labelled["label"]]))})
    return pd.DataFrame(rows, columns=[*keys, "labelled", "accuracy", "macro_f1", "answered"])


def confusion_matrix(results, model: str | None = None, prompt_version: str | None = None) -> pd.DataFrame:
    """Rows: the expected label; columns: the model's answer (plus "(no answer)" for failures)."""
    df = _one_group(results_frame(results), model, prompt_version)
    labelled = df[df["expected"].notna()]
    truth = labelled["expected"].to_numpy(dtype=object)
    pred = np.array([p if p is not None else NO_ANSWER for p in labelled["label"]], dtype=object)
    classes = _classes(truth, pred)
    columns = classes + ([NO_ANSWER] if NO_ANSWER in set(pred) else [])
    table = pd.DataFrame(0, index=pd.Index(classes, name="expected"), columns=pd.Index(columns, name="predicted"))
    for t, p in zip(truth, pred):
        table.loc[t, p] += 1
    return table


def _one_group(df: pd.DataFrame, model: str | None, prompt_version: str | None) -> pd.DataFrame:
    model = model if model is not None else df["model"].iloc[0] if len(df) else None
    prompt_version = prompt_version if prompt_version is not None else (
        df.loc[df["model"] == model, "prompt_version"].iloc[0] if len(df) else None)
    frame = df[(df["model"] == model) & (df["prompt_version"] == prompt_version)]
    if frame.empty and len(df):
        raise ConfigError(f"no results for model {model!r} with prompt version {prompt_version!r} — models: "
                          f"{', '.join(df['model'].unique())}; versions: {', '.join(df['prompt_version'].unique())}")
    return frame


# --- 0–5 ratings --------------------------------------------------------------------------------------------


def rating_metrics(results, levels: tuple[int, int] | None = None) -> pd.DataFrame:
    """MAE, share within one point, and quadratic weighted kappa, over the answered, labelled items whose rating
    and label are whole numbers on the scale (`levels`: the task's lowest and highest label, else 0–5).

    The others (a 7 on a 0–5 scale, a half point) are neither rounded nor clipped: they are left out of all
    three numbers and counted in `excluded`."""
    df = results_frame(results)
    task = task_of(df)
    levels = levels or (task.levels if task is not None and task.levels else (0, 5))
    rows = []
    for group, frame in _grouped(df):
        truth, pred = _numeric(frame["expected"]), _numeric(frame["label"])
        both = ~np.isnan(truth) & ~np.isnan(pred)
        usable = both & _on_scale(truth, levels) & _on_scale(pred, levels)
        if not both.any():
            continue
        error = np.abs(pred[usable] - truth[usable])
        rows.append({**group, "rated": int(usable.sum()), "excluded": int((both & ~usable).sum()),
                     "mae": float(error.mean()) if usable.any() else float("nan"),
                     "within_1": float(np.mean(error <= 1)) if usable.any() else float("nan"),
                     "qwk": quadratic_weighted_kappa(truth[usable], pred[usable], levels) if usable.any()
                     else float("nan")})
    return pd.DataFrame(rows, columns=[*_groups(df), "rated", "excluded", "mae", "within_1", "qwk"])


def _on_scale(values: np.ndarray, levels: tuple[int, int]) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (values == np.round(values)) & (values >= levels[0]) & (values <= levels[1])


def quadratic_weighted_kappa(a, b, levels: tuple[int, int] = (0, 5)) -> float:
    """Cohen's kappa with quadratic weights, for whole-number ratings from levels[0] to levels[1]. Anything else
    raises: rounding or clipping would hide the disagreement it measures (`rating_metrics` excludes and counts)."""
    low, high = levels
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    for name, values in (("a", a), ("b", b)):
        off = values[~_on_scale(values, levels)]
        if len(off):
            raise ConfigError(f"quadratic_weighted_kappa: {name} has {len(off)} rating(s) that are not whole "
                              f"numbers from {low} to {high} (e.g. {off[0]:g}) — leave them out, or pass the "
                              "scale as levels=(lowest, highest)")
    if len(a) != len(b):
        raise ConfigError(f"quadratic_weighted_kappa needs two equally long lists of ratings, got {len(a)} and "
                          f"{len(b)}")
    if not len(a):
        return float("nan")
    a, b = a.astype(int) - low, b.astype(int) - low
    k = high - low + 1
    observed = np.zeros((k, k))
    np.add.at(observed, (a, b), 1)
    expected = np.outer(np.bincount(a, minlength=k), np.bincount(b, minlength=k)) / len(a)
    i, j = np.indices((k, k))
    weights = (i - j) ** 2 / (k - 1) ** 2
    denominator = (weights * expected).sum()
    return float(1 - (weights * observed).sum() / denominator) if denominator else float("nan")


def cohen_kappa(a, b) -> float:
    """Agreement beyond chance between two raters' labels (1 = always agree, 0 = chance, <0 = worse).

    NaN (undefined, shown "—") when there is nothing to compare or both always give one and the same answer,
    as scikit-learn's cohen_kappa_score: agreeing by construction is not agreement beyond chance."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    if len(a) == 0:
        return float("nan")
    observed = float(np.mean(a == b))
    classes = set(a) | set(b)
    chance = sum(float(np.mean(a == c)) * float(np.mean(b == c)) for c in classes)
    if chance == 1.0:  # both always gave one and the same answer: agreement beyond chance is undefined
        return float("nan")
    return (observed - chance) / (1 - chance)


# --- probabilities --------------------------------------------------------------------------------------------


def _confidences(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Confidence of the most probable label, and whether that label is the expected one."""
    conf, correct = [], []
    for probs, expected in zip(frame["probabilities"], frame["expected"]):
        if not isinstance(probs, dict) or not probs or expected is None:
            continue
        best = max(probs, key=probs.get)
        conf.append(float(probs[best]))
        correct.append(str(best).lower() == expected)
    return np.array(conf, dtype=float), np.array(correct, dtype=bool)


def reliability_table(results, bins: int = 10) -> pd.DataFrame:
    """Equal-width confidence bins: items, mean confidence and accuracy per bin (the reliability diagram)."""
    df = results_frame(results)
    rows = []
    for group, frame in _grouped(df):
        conf, correct = _confidences(frame)
        if not len(conf):
            continue
        index = np.minimum((conf * bins).astype(int), bins - 1)
        for b in range(bins):
            inside = index == b
            rows.append({**group, "bin": b, "lower": b / bins, "upper": (b + 1) / bins, "n": int(inside.sum()),
                         "confidence": float(conf[inside].mean()) if inside.any() else float("nan"),
                         "accuracy": float(correct[inside].mean()) if inside.any() else float("nan")})
    return pd.DataFrame(rows, columns=[*_groups(df), "bin", "lower", "upper", "n", "confidence", "accuracy"])


def calibration(results, bins: int = 10) -> pd.DataFrame:
    """Expected calibration error per model × prompt: Σ_bins (n_b / N) · |accuracy_b − confidence_b|."""
    table = reliability_table(results, bins)
    keys = [c for c in table.columns if c in ("run_id", "model", "prompt_version")]
    rows = []
    for values, frame in table.groupby(keys, sort=False):
        filled = frame[frame["n"] > 0]
        total = filled["n"].sum()
        ece = float((filled["n"] / total * (filled["accuracy"] - filled["confidence"]).abs()).sum())
        rows.append({**dict(zip(keys, values)), "scored": int(total), "ece": ece})
    return pd.DataFrame(rows, columns=[*keys, "scored", "ece"]) if rows else pd.DataFrame(
        columns=["model", "prompt_version", "scored", "ece"])


def threshold_curve(results, positive: str | None = None, thresholds=None) -> pd.DataFrame:
    """Precision and recall of "flag when p(positive) ≥ threshold" as the threshold moves (moderation, PII).

    positive: the label that means "flag"; by default the task's `positive` (no curve for tasks without one)."""
    df = results_frame(results)
    if positive is None:
        task = task_of(df)
        positive = task.positive if task is not None else None
    if positive is None:
        return pd.DataFrame(columns=[*_groups(df), "threshold", "flagged", "precision", "recall"])
    positive = normalize_label(positive, _kind(df))
    thresholds = np.round(np.linspace(0, 1, 21), 2) if thresholds is None else np.asarray(thresholds, dtype=float)
    rows = []
    for group, frame in _grouped(df):
        pairs = [(p[positive], e == positive) for p, e in zip(frame["probabilities"], frame["expected"])
                 if isinstance(p, dict) and positive in p and e is not None]
        if not pairs:
            continue
        score = np.array([p for p, _ in pairs], dtype=float)
        truth = np.array([t for _, t in pairs], dtype=bool)
        for t in thresholds:
            flagged = score >= t
            tp = int(np.sum(flagged & truth))
            rows.append({**group, "threshold": float(t), "flagged": int(flagged.sum()),
                         "precision": tp / flagged.sum() if flagged.any() else float("nan"),
                         "recall": tp / truth.sum() if truth.any() else float("nan")})
    return pd.DataFrame(rows, columns=[*_groups(df), "threshold", "flagged", "precision", "recall"])


# --- always available ---------------------------------------------------------------------------------------


def format_compliance(results) -> pd.DataFrame:
    """Share of each status per model × prompt: ok, repaired, invalid_output, refused, …, error."""
    df = results_frame(results)
    keys = _groups(df)
    table = pd.crosstab([df[k] for k in keys], df["status"], normalize="index")
    columns = [s for s in STATUS_ORDER if s in table.columns] + [s for s in table.columns if s not in STATUS_ORDER]
    table = table[columns].reset_index()
    counts = df.groupby(keys, sort=False).size().rename("n").reset_index()
    return counts.merge(table, on=keys, how="left")


def latency_cost(results) -> pd.DataFrame:
    """Latency p50/p95 of answered items, total cost, cost per 1,000 images, and what this run actually spent.

    Cost per 1,000 is the mean over items with a known cost; unknown prices stay unknown (NaN, shown "—")."""
    df = results_frame(results)
    rows = []
    for group, frame in _grouped(df):
        answered = frame[frame["status"] != "error"]
        latency = pd.to_numeric(answered["latency_s"], errors="coerce").dropna()
        cost = pd.to_numeric(frame["cost"], errors="coerce")
        known = cost.dropna()
        fresh = cost[~frame["cached"].astype(bool).to_numpy()].dropna()
        rows.append({**group, "n": len(frame),
                     "latency_p50_s": float(latency.quantile(0.5)) if len(latency) else float("nan"),
                     "latency_p95_s": float(latency.quantile(0.95)) if len(latency) else float("nan"),
                     "total_cost_usd": float(known.sum()) if len(known) else float("nan"),
                     "cost_per_1k_usd": float(known.mean() * 1000) if len(known) else float("nan"),
                     "priced": len(known), "spent_usd": float(fresh.sum()) if len(fresh) else float("nan")})
    return pd.DataFrame(rows, columns=[*_groups(df), "n", "latency_p50_s", "latency_p95_s", "total_cost_usd",
                                       "cost_per_1k_usd", "priced", "spent_usd"])


def agreement(results) -> pd.DataFrame:
    """Cohen's kappa between every pair of models, per prompt version, on the images both answered. No labels needed."""
    df = results_frame(results)
    rows = []
    for version, frame in df.groupby("prompt_version", sort=False):
        answers = {m: f.dropna(subset=["label"]).set_index(["image_path", "variables_key"])["label"]
                   for m, f in frame.groupby("model", sort=False)}
        for a, b in combinations(answers, 2):
            joined = pd.concat([answers[a].rename("a"), answers[b].rename("b")], axis=1, join="inner")
            joined = joined[~joined.index.duplicated()]
            rows.append({"prompt_version": version, "model_a": a, "model_b": b, "n": len(joined),
                         "agreement": float(np.mean(joined["a"] == joined["b"])) if len(joined) else float("nan"),
                         "kappa": cohen_kappa(joined["a"], joined["b"])})
    return pd.DataFrame(rows, columns=["prompt_version", "model_a", "model_b", "n", "agreement", "kappa"])


def prompt_changes(results, version_a: str | None = None, version_b: str | None = None,
                   model: str | None = None) -> pd.DataFrame:
    """Images whose verdict changed between two prompt versions, side by side with both raw outputs."""
    df = results_frame(results)
    versions = list(dict.fromkeys(df["prompt_version"]))
    if version_a is None or version_b is None:
        if len(versions) < 2:
            return pd.DataFrame(columns=["image_path", "variables", "expected", "model", "label_a", "label_b",
                                         "status_a", "status_b", "raw_text_a", "raw_text_b"])
        version_a, version_b = version_a or versions[0], version_b or versions[1]
    for v in (version_a, version_b):
        if v not in versions:
            raise ConfigError(f"no prompt version {v!r} in these results — versions: {', '.join(versions)}")
    if model is not None:
        df = df[df["model"] == model]
    keys = ["image_path", "variables_key", "model"]
    cols = [*keys, "variables", "expected", "label", "status", "raw_text"]
    a = df[df["prompt_version"] == version_a][cols]
    b = df[df["prompt_version"] == version_b][cols]
    merged = a.merge(b, on=keys, suffixes=("_a", "_b"))
    changed = merged[(merged["label_a"].fillna(NO_ANSWER) != merged["label_b"].fillna(NO_ANSWER))]
    out = changed.rename(columns={"variables_a": "variables", "expected_a": "expected"})
    out = out[["image_path", "variables", "expected", "model", "label_a", "label_b", "status_a", "status_b",
               "raw_text_a", "raw_text_b"]].reset_index(drop=True)
    out.attrs["versions"] = (version_a, version_b)
    return out


# --- the whole picture ----------------------------------------------------------------------------------------


def summary(results) -> pd.DataFrame:
    """One row per model × prompt version: format, quality (where labels exist), latency and cost."""
    df = results_frame(results)
    keys = _groups(df)
    table = latency_cost(df)
    compliance = format_compliance(df)
    table = table.merge(compliance.assign(parsed=compliance.get("ok", 0) + compliance.get("repaired", 0))
                        [[*keys, "parsed"]], on=keys, how="left")
    for extra in (classification_metrics(df), rating_metrics(df) if _is_rating(df) else None, calibration(df)):
        if extra is not None and len(extra):
            table = table.merge(extra, on=keys, how="left")
    first = [*keys, "n", "parsed"]
    return table[first + [c for c in table.columns if c not in first]]


KEY_METRICS = (("accuracy", "accuracy", 2), ("mae", "MAE", 2), ("qwk", "QWK", 2), ("parsed", "compliance", 2),
               ("cost_per_1k_usd", "$ / 1k images", None), ("latency_p50_s", "p50 latency (s)", 2))


def key_metrics(summary_table: pd.DataFrame) -> pd.DataFrame:
    """The few numbers a person decides on, first and rounded: quality (accuracy, or MAE and QWK for ratings),
    compliance (share of replies that parsed), cost per 1,000 images ("—" when unknown) and median latency.
    Columns the run has no value for (no labels: no accuracy) are left out; `summary` keeps everything."""
    from .costs import format_usd

    keys = [k for k in ("model", "prompt_version") if k in summary_table.columns]
    out = summary_table[keys].copy()
    for column, header, digits in KEY_METRICS:
        values = pd.to_numeric(summary_table.get(column), errors="coerce") if column in summary_table else None
        if values is None or (values.isna().all() and column != "cost_per_1k_usd"):
            continue
        if digits is None:  # money: unknown is "—", never $0
            out[header] = [format_usd(None if pd.isna(v) else float(v)) for v in values]
        else:
            out[header] = [None if pd.isna(v) else round(float(v), digits) for v in values]
    return out


@dataclass
class Evaluation:
    summary: pd.DataFrame
    classification: pd.DataFrame
    per_class: pd.DataFrame
    confusion: dict[tuple[str, str], pd.DataFrame]
    ratings: pd.DataFrame
    calibration: pd.DataFrame
    reliability: pd.DataFrame
    thresholds: pd.DataFrame
    compliance: pd.DataFrame
    latency_cost: pd.DataFrame
    agreement: pd.DataFrame
    prompt_changes: pd.DataFrame
    results: pd.DataFrame = field(repr=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {name: getattr(self, name) for name in ("summary", "classification", "per_class", "ratings",
                                                      "calibration", "reliability", "thresholds", "compliance",
                                                      "latency_cost", "agreement", "prompt_changes")}
        for (model, version), table in self.confusion.items():
            out[f"confusion {model} {version}"] = table.reset_index()
        return {name: table for name, table in out.items() if len(table)}

    def figures(self) -> dict[str, "Figure"]:
        figures = {}
        if self.confusion:
            figures["confusion"] = plot_confusion(self.confusion)
        if len(self.reliability):
            figures["reliability"] = plot_reliability(self.reliability)
        if len(self.thresholds):
            figures["thresholds"] = plot_threshold_curve(self.thresholds)
        return figures


def evaluate_run(results, labels=None, db=None) -> Evaluation:
    """Every metric that applies: labels (from the run's CSV or `labels=`) unlock quality metrics."""
    df = results_frame(results, db)
    if labels is not None:
        df = attach_labels(df, labels)
    confusion = {}
    if df["expected"].notna().any():
        for (model, version), _ in df.groupby(["model", "prompt_version"], sort=False):
            confusion[(model, version)] = confusion_matrix(df, model, version)
    return Evaluation(summary=summary(df), classification=classification_metrics(df),
                      per_class=per_class_metrics(df), confusion=confusion,
                      ratings=rating_metrics(df) if _is_rating(df) else rating_metrics(df.iloc[:0]),
                      calibration=calibration(df), reliability=reliability_table(df),
                      thresholds=threshold_curve(df), compliance=format_compliance(df),
                      latency_cost=latency_cost(df), agreement=agreement(df), prompt_changes=prompt_changes(df),
                      results=df)


# --- figures (matplotlib Figure objects: no pyplot state, safe in threads, shown by Jupyter and gr.Plot) -----


def plot_confusion(confusion) -> "Figure":
    """One heat map per model × prompt version: a single table, or the {(model, version): table} of an Evaluation."""
    from matplotlib.figure import Figure

    tables = confusion if isinstance(confusion, dict) else {("", ""): confusion}
    fig = Figure(figsize=(4.2 * len(tables), 3.8), layout="constrained")
    for ax, ((model, version), table) in zip(np.atleast_1d(fig.subplots(1, len(tables))), tables.items()):
        ax.imshow(table.to_numpy(), cmap="Blues")
        ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns], rotation=45, ha="right")
        ax.set_yticks(range(table.shape[0]), [str(i) for i in table.index])
        for (i, j), value in np.ndenumerate(table.to_numpy()):
            ax.text(j, i, str(value), ha="center", va="center",
                    color="white" if value > table.to_numpy().max() / 2 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("expected")
        ax.set_title(" · ".join(x for x in (model, version) if x), fontsize=9)
    return fig


def plot_reliability(table: pd.DataFrame) -> "Figure":
    """Accuracy against confidence per bin; the diagonal is perfect calibration."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    keys = [c for c in table.columns if c in ("run_id", "model", "prompt_version")]
    for values, frame in table.groupby(keys, sort=False):
        filled = frame[frame["n"] > 0]
        ax.plot(filled["confidence"], filled["accuracy"], marker="o", label=" · ".join(map(str, values)))
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy", title="Reliability")
    ax.legend(fontsize=7)
    return fig


def plot_threshold_curve(table: pd.DataFrame) -> "Figure":
    """Precision and recall of the flag as its probability threshold moves."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4.2), layout="constrained")
    ax = fig.subplots()
    keys = [c for c in table.columns if c in ("run_id", "model", "prompt_version")]
    for values, frame in table.groupby(keys, sort=False):
        name = " · ".join(map(str, values))
        line = ax.plot(frame["threshold"], frame["precision"], label=f"{name} precision")[0]
        ax.plot(frame["threshold"], frame["recall"], linestyle="--", color=line.get_color(), label=f"{name} recall")
    ax.set(xlim=(0, 1), ylim=(0, 1.05), xlabel="flag threshold p(true)", ylabel="share",
           title="Precision / recall vs threshold")
    ax.legend(fontsize=7)
    return fig
