"""Write a run's results to CSV, JSONL or Parquet, for spreadsheets, scripts and data tools."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

FORMATS = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}
_NESTED = ("variables", "output", "probabilities", "metrics")


def export_frame(frame: "pd.DataFrame", path: str | os.PathLike, format: str | None = None) -> Path:
    """Write any results DataFrame. CSV and Parquet hold nested columns as JSON text; JSONL keeps them nested."""
    path = Path(path)
    format = (format or path.suffix.lstrip(".") or "csv").lower()
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r} — use one of: {', '.join(FORMATS)}")
    if format == "parquet" and not parquet_available():
        raise ConfigError("Parquet export needs pyarrow — `pip install pyarrow`, or export as csv or jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "jsonl":
        with path.open("w", encoding="utf-8") as fp:
            for record in frame.to_dict("records"):
                fp.write(json.dumps({k: _plain(v) for k, v in record.items()}, ensure_ascii=False) + "\n")
        return path
    flat = frame.copy()
    for column in _NESTED:
        if column in flat:
            flat[column] = [None if v is None else json.dumps(v, ensure_ascii=False, sort_keys=True)
                            for v in flat[column]]
    if format == "csv":
        flat.to_csv(path, index=False)
    else:
        flat.to_parquet(path, index=False)
    return path


def parquet_available() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def export_run(run_id: str, path: str | os.PathLike | None = None, format: str = "csv",
               db: str | os.PathLike | None = None) -> Path:
    """Export one run; the default path is <store folder>/<run id>.<format>. Returns the file written."""
    from .store import RunStore

    store = RunStore(db)
    run = store.run(run_id)
    format = format.lower()
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r} — use one of: {', '.join(FORMATS)}")
    target = Path(path) if path else store.path.parent / f"{run['id']}{FORMATS[format]}"
    return export_frame(store.results(run["id"]), target, format)


def _plain(value):
    """JSON-safe: NaN and pandas' missing values become null; numpy scalars become Python numbers."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (dict, list, str)):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
