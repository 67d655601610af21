"""The run store: every batch result in one SQLite file — the cache, the resume point and the history.

One row per (run, image, model, prompt version). Images are kept by path and pixel hash, never as base64.
A result is served again, instead of paying for the call, when its `call_key` (image hash, prompt hash, model,
parameters) matches a stored answer; errors are never served from the cache.

    from workbench.store import RunStore
    store = RunStore()                  # runs/workbench.db, or $WORKBENCH_DB
    store.runs()                        # history, newest first (a DataFrame)
    store.results("20260101-120000-ab12")
    store.save_prompt_version("moderation", "strict", "…")   # then run_batch(..., prompts=["strict"])

Prompt versions are immutable: a (task, name) pair always means one text, so runs that name it stay comparable.
Saving the same name again with the same text is a no-op; with a different text it raises ConfigError (save it
under a new name). Names are short and whitespace-free (letters, digits, `.`, `_`, `-`), which is what lets
`run_batch(prompts=[...])` tell a saved name from a prompt text.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError

from .labels import LabelsTable
from .prompts import PromptVersions
from .provider_batches import ProviderBatches
from .results import ResultsTable
from .runs import RunsTable
from .shares import SharesTable, add_sharing
from .schema import (BUSY_TIMEOUT_MS, COPY_ORDER, DEFAULT_DB, JSON_COLUMNS, RESULT_COLUMNS, SCHEMA_VERSION,
                     VERSION_NAME, _create_schema, _transaction, default_db_path, now_iso)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COPY_ORDER", "DEFAULT_DB", "JSON_COLUMNS", "RESULT_COLUMNS", "SCHEMA_VERSION", "VERSION_NAME", "RunStore",
           "compare_runs", "default_db_path", "list_runs", "now_iso", "open_run"]


class RunStore(RunsTable, ResultsTable, PromptVersions, ProviderBatches, LabelsTable, SharesTable):
    """One SQLite database. Safe to share between threads (one connection each) and between processes."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path else default_db_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot create the folder for the run store {self.path}: {e}") from None
        self._local = threading.local()
        conn = self.conn
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:  # new (or newer) store
            with _transaction(conn):
                _create_schema(conn)
        add_sharing(conn)  # share links and run owners: added to an older store here, without a version bump

    # --- connections ---------------------------------------------------------------------------------------

    def connect(self) -> sqlite3.Connection:
        """A new connection with the store's settings: WAL, synchronous=FULL, a generous busy timeout."""
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")  # a result reported done survives a power cut too
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as e:
            raise ConfigError(f"{self.path} is not a usable run store ({e}) — point --db / WORKBENCH_DB at "
                              "another file") from None
        conn.row_factory = sqlite3.Row
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (SQLite connections must not be shared between threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connect()
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def list_runs(db: str | os.PathLike | None = None, limit: int | None = None, *,
              owner: str | None = None) -> "pd.DataFrame":
    """History, newest first; `owner`: only the runs that user made (the app's sign-in)."""
    return RunStore(db).runs(limit, owner=owner)


def open_run(run_id: str, db: str | os.PathLike | None = None) -> "pd.DataFrame":
    return RunStore(db).results(run_id)


def compare_runs(run_a: str, run_b: str, db: str | os.PathLike | None = None) -> "pd.DataFrame":
    """Item by item, side by side: the verdicts of two runs on the same images, models and prompt versions."""
    import pandas as pd

    store = RunStore(db)
    a, b = store.results(run_a), store.results(run_b)
    keys = ["image_path", "variables_key", "model", "prompt_version"]
    cols = ["image_path", "variables_key", "variables", "expected", "model", "prompt_version", "status", "label",
            "raw_text", "cost", "latency_s"]
    for frame in (a, b):
        frame["variables_key"] = [json.dumps(v, sort_keys=True) for v in frame["variables"]]
    merged = pd.merge(a[cols], b[cols], on=keys, how="outer", suffixes=("_a", "_b"))
    merged["variables"] = merged["variables_a"].where(merged["variables_a"].notna(), merged["variables_b"])
    merged["expected"] = merged["expected_a"].where(merged["expected_a"].notna(), merged["expected_b"])
    merged["changed"] = (merged["label_a"].fillna("∅") != merged["label_b"].fillna("∅")) | (
        merged["status_a"].fillna("∅") != merged["status_b"].fillna("∅"))
    order = ["image_path", "variables", "expected", "model", "prompt_version", "changed", "status_a", "status_b",
             "label_a", "label_b", "raw_text_a", "raw_text_b", "cost_a", "cost_b", "latency_s_a", "latency_s_b"]
    return merged[order].sort_values(["image_path", "model", "prompt_version"], kind="stable").reset_index(drop=True)


# --- helpers ----------------------------------------------------------------------------------------------


