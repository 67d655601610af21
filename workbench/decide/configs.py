"""Stored runs → one answers frame per configuration (model × prompt version × mode), one row per image.

Each frame has `item` (the image and its prompt variables), `image_path`, `expected`, `label`, `status`, `cost`,
`latency_s` and `confidence` (the top label probability in score mode or with logprobs, else NaN).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..evaluate import attach_labels, results_frame

ANSWER_COLUMNS = ["item", "image_path", "expected", "label", "status", "cost", "latency_s", "confidence"]


@dataclass(frozen=True)
class Configuration:
    name: str
    model: str
    prompt_version: str
    mode: str
    run_id: str | None
    answers: pd.DataFrame  # ANSWER_COLUMNS, indexed by item

    @property
    def labelled(self) -> int:
        return int(self.answers["expected"].notna().sum())

    @property
    def scored(self) -> bool:
        """Gives label probabilities for its labelled images (so it can be a cascade's first stage)."""
        rows = self.answers[self.answers["expected"].notna()]
        return bool(len(rows)) and bool(rows["confidence"].notna().any())


def load_results(runs, labels=None, db=None) -> pd.DataFrame:
    """One or more run ids, BatchRuns or results frames, as one results frame (labels attached when given)."""
    if isinstance(runs, (str, pd.DataFrame)) or hasattr(runs, "results"):
        runs = [runs]
    frames = []
    for run in runs:
        frame = results_frame(run, db)
        if labels is not None:
            frame = attach_labels(frame, labels)
        if "run_id" not in frame:
            frame["run_id"] = None
        frames.append(frame)
    if not frames:
        raise ConfigError("recommend needs at least one run")
    df = pd.concat(frames, ignore_index=True)
    if "mode" not in df:
        df["mode"] = "generate"
    df["mode"] = df["mode"].fillna("generate")
    tasks = df["task"].dropna().unique()
    if len(tasks) > 1:
        raise ConfigError(f"these runs are of different tasks ({', '.join(tasks)}) — compare runs of one task")
    return df


def configurations(results: pd.DataFrame) -> list[Configuration]:
    """Every model × prompt version × mode in the results (and run, where two runs hold the same one)."""
    keys = ["model", "prompt_version", "mode"]
    repeated = results.groupby(keys, dropna=False)["run_id"].nunique(dropna=False)
    out = []
    for (run_id, model, version, mode), frame in results.groupby(["run_id", *keys], sort=False, dropna=False):
        name = _name(model, version, mode, run_id if repeated.get((model, version, mode), 1) > 1 else None)
        out.append(Configuration(name, model, version, mode, None if pd.isna(run_id) else run_id, _answers(frame)))
    return out


def _name(model: str, version: str, mode: str, run_id) -> str:
    parts = [str(model)]
    if version != "default":
        parts.append(str(version))
    if mode != "generate":
        parts.append(str(mode))
    name = " · ".join(parts)
    return f"{name} ({run_id})" if run_id is not None else name


def _answers(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "item": [f"{p}|{k}" if k != "{}" else str(p) for p, k in zip(frame["image_path"], frame["variables_key"])],
        "image_path": frame["image_path"].astype(str).to_numpy(),
        "expected": frame["expected"].to_numpy(dtype=object),
        "label": frame["label"].to_numpy(dtype=object),
        "status": frame["status"].to_numpy(dtype=object),
        "cost": pd.to_numeric(frame["cost"], errors="coerce").to_numpy(dtype=float),
        "latency_s": pd.to_numeric(frame["latency_s"], errors="coerce").to_numpy(dtype=float),
        "confidence": [_top(p) for p in frame["probabilities"]],
    })
    return out.drop_duplicates("item", keep="last").set_index("item", drop=False)


def _top(probabilities) -> float:
    if isinstance(probabilities, str) and probabilities:
        probabilities = json.loads(probabilities)
    if isinstance(probabilities, dict) and probabilities:
        return float(max(probabilities.values()))
    return np.nan
