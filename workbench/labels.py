"""Labels where they matter: the images of a run in the order a label teaches most, a person's label stored with
who and when, and the labels CSV the rest of the workbench reads.

    queue = workbench.label_queue(run_id)           # models disagree first, then the least sure best model
    workbench.set_label(run_id, queue.iloc[0]["image_path"], "severe", who="ana")
    workbench.export_labels(run_id, "labels.csv")   # path, label, task (+ prompt variables): evaluate_run reads it

A stored label counts wherever the run's own input gave none: `open_run`, `evaluate_run` and `recommend` see it
in the `expected` column, so every metric updates.
"""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import pandas as pd

from .errors import ConfigError
from .store import RunStore
from .store.labels import variables_key

QUEUE_COLUMNS = ["image_path", "variables", "answers", "disagree", "top_probability", "label", "who",
                 "labelled_at"]


def top_probability(probabilities) -> float | None:
    if not isinstance(probabilities, dict) or not probabilities:
        return None
    values = [float(v) for v in probabilities.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return max(values) if values else None


def _best_model(results: pd.DataFrame) -> str | None:
    """The model that agrees most with the labels so far; with no labels yet, the run's first model."""
    if not len(results):
        return None
    labelled = results[results["expected"].notna()]
    if len(labelled):
        right = (labelled["label"].astype(str).str.lower() == labelled["expected"].astype(str).str.lower())
        return str(right.groupby(labelled["model"], sort=False).mean().idxmax())
    return str(results["model"].iloc[0])


def label_queue(run_id: str, db=None) -> pd.DataFrame:
    """One row per image (and prompt variables) of the run: the models' answers, whether they disagree, the best
    model's top probability and the current label. Unlabelled first; among them, disagreement first, then the
    lowest top probability (an unknown probability sorts after known ones)."""
    store = RunStore(db)
    results = store.results(run_id)
    task = str(results["task"].iloc[0]) if len(results) else store.run(run_id)["task"]
    labels = store.latest_labels(task)
    best = _best_model(results)
    rows = []
    for (path, vkey), group in results.groupby(
            [results["image_path"], results["variables"].map(variables_key)], sort=False):
        answers = {(m if v == "default" else f"{m} ({v})"): (lab if isinstance(lab, str) else None)
                   for m, v, lab in zip(group["model"], group["prompt_version"], group["label"])}
        given = {str(a).strip().lower() for a in answers.values() if a}
        top = [top_probability(p) for p in group.loc[group["model"] == best, "probabilities"]]
        human = labels.get((path, vkey), {})
        expected = next((e for e in group["expected"] if isinstance(e, str)), None)
        rows.append({"image_path": path, "variables": json.loads(vkey), "answers": answers,
                     "disagree": len(given) > 1, "top_probability": top[0] if top else None,
                     "label": human.get("label", expected), "who": human.get("who"),
                     "labelled_at": human.get("labelled_at")})
    rows.sort(key=lambda r: (r["label"] is not None, not r["disagree"], _sortable(r["top_probability"])))
    return pd.DataFrame(rows, columns=QUEUE_COLUMNS)


def _sortable(value) -> float:
    return math.inf if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def allowed_labels(run_id: str, db=None) -> tuple[str, ...]:
    """The labels the run's task allows (empty for free-text tasks: any text is a label)."""
    return tuple(RunStore(db).task(run_id).labels)


def set_label(run_id: str, image: str, label, *, who: str = "anonymous", variables: dict | None = None,
              db=None) -> str:
    """Store `label` as the truth for `image` (its path in the run, or its file name) under the run's task.
    Returns the label as stored. Raises ConfigError when the run has no such image or the task no such label."""
    from .evaluate import normalize_label

    store = RunStore(db)
    run = store.run(run_id)
    task = store.task(run["id"])
    text = normalize_label(label, task.kind)
    if text is None:
        raise ConfigError(f"give a label for {image} — one of: {', '.join(task.labels) or 'any text'}")
    if task.labels and text not in {x.lower() for x in task.labels}:
        raise ConfigError(f"{label!r} is not a label of {task.name} — choose one of: {', '.join(task.labels)}")
    row = _image_row(store, run["id"], str(image), variables)
    store.add_label(task=task.name, image_path=row["image_path"], label=text, who=str(who or "anonymous"),
                    variables=row["variables"], image_hash=row["image_hash"], run_id=run["id"])
    return text


def _image_row(store: RunStore, run_id: str, image: str, variables: dict | None) -> dict:
    sql = "SELECT image_path, image_hash, variables FROM results WHERE run_id = ? AND image_path = ?"
    rows = store.conn.execute(sql, (run_id, os.path.abspath(image))).fetchall() or store.conn.execute(
        sql, (run_id, image)).fetchall()
    if not rows:  # a bare file name is enough when it is unique in the run
        rows = [r for r in store.conn.execute("SELECT image_path, image_hash, variables FROM results WHERE "
                                              "run_id = ?", (run_id,)) if Path(r["image_path"]).name == image]
        if len({r["image_path"] for r in rows}) > 1:
            raise ConfigError(f"{image} names several images of run {run_id} — give the full path")
    if variables is not None:
        rows = [r for r in rows if variables_key(r["variables"]) == variables_key(variables)]
    if not rows:
        raise ConfigError(f"run {run_id} has no image {image}" + (f" with {variables}" if variables else "")
                          + " — pick one from workbench.label_queue(run_id)")
    return dict(rows[0])


def export_labels(run_id: str, path, db=None) -> Path:
    """Write the run's labels (a person's, else the run's own input) as the labels CSV: path, label, task, and
    any prompt variables as further columns. Unlabelled images are left out."""
    queue = label_queue(run_id, db)
    task = RunStore(db).run(run_id)["task"]
    labelled = queue[queue["label"].notna()]
    extra = sorted({k for v in labelled["variables"] for k in v})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "task", *extra])
        for image, label, variables in zip(labelled["image_path"], labelled["label"], labelled["variables"]):
            writer.writerow([image, label, task, *(variables.get(k, "") for k in extra)])
    return path
