"""The runs of a store: create, find, resume, finish and list them."""
from __future__ import annotations

import json
import secrets
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .schema import _dumps, now_iso, _transaction

if TYPE_CHECKING:
    import pandas as pd


class RunsTable:
    """RunStore's methods for the runs table (a part of RunStore, not used alone)."""

    conn: sqlite3.Connection
    path: Path

    def create_run(self, *, task: str, models: list[dict], prompts: dict[str, str], params: dict,
                   source: str, fingerprint: str, n_items: int, task_definition: dict | None = None,
                   owner: str | None = None) -> str:
        """task_definition: `Task.definition()`, so the run can be retried and evaluated where the task is not
        registered. owner: the signed-in user who started it (the app with sign-in on), else None."""
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        with _transaction(self.conn) as conn:
            conn.execute("INSERT INTO runs (id, task, task_definition, models, prompts, params, source, fingerprint, "
                         "n_items, started_at, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (run_id, task, _dumps(task_definition), _dumps(models), _dumps(prompts), _dumps(params),
                          source, fingerprint, n_items, now_iso(), owner))
        return run_id

    def task(self, run_id: str):
        """The run's Task: as registered when that is the stored definition, else rebuilt from the store."""
        from ..tasks import task_for_run

        run = self.run(run_id)
        return task_for_run(run["task"], run["task_definition"])

    def run(self, run_id: str) -> dict:
        """The run's definition; raises ConfigError naming the runs that do exist when there is no such run."""
        row = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            matches = self.conn.execute("SELECT id FROM runs WHERE id LIKE ? ORDER BY id DESC LIMIT 2",
                                        (f"{run_id}%",)).fetchall()
            if len(matches) == 1:  # a unique prefix is enough, as with git commits
                return self.run(matches[0]["id"])
            latest = [r["id"] for r in self.conn.execute("SELECT id FROM runs ORDER BY rowid DESC LIMIT 3")]
            hint = f"recent runs: {', '.join(latest)}" if latest else "this store has no runs yet"
            raise ConfigError(f"no run {run_id!r} in {self.path} — {hint} (`workbench runs` lists them)")
        run = dict(row)
        for key in ("models", "prompts", "params", "task_definition"):
            run[key] = None if run[key] is None else json.loads(run[key])
        return run

    def unfinished_run(self, fingerprint: str) -> str | None:
        """The latest run of this very batch that never finished (killed, interrupted): resume it."""
        row = self.conn.execute("SELECT id FROM runs WHERE fingerprint = ? AND finished_at IS NULL "
                                "ORDER BY rowid DESC LIMIT 1", (fingerprint,)).fetchone()
        return row["id"] if row else None

    def finished_run(self, fingerprint: str) -> str | None:
        """The latest run of this very batch that finished."""
        row = self.conn.execute("SELECT id FROM runs WHERE fingerprint = ? AND finished_at IS NOT NULL "
                                "ORDER BY rowid DESC LIMIT 1", (fingerprint,)).fetchone()
        return row["id"] if row else None

    def answered_images(self, run_id: str) -> dict[str, tuple[int, int]] | None:
        """If every item of the run is answered: image path -> (size, mtime_ns) of the file whose pixels the
        answers are about, as recorded when it was read. None when an item failed or is missing, or when an
        image has been read since with other pixels (the file changed)."""
        run = self.conn.execute("SELECT n_items FROM runs WHERE id = ?", (run_id,)).fetchone()
        rows = self.conn.execute(
            "SELECT r.image_path, r.status, i.size, i.mtime_ns, i.sha256 = r.image_hash FROM results r "
            "LEFT JOIN images i ON i.path = r.image_path WHERE r.run_id = ?", (run_id,)).fetchall()
        if run is None or len(rows) != run["n_items"]:
            return None
        found = {}
        for path, status, size, mtime_ns, same_pixels in rows:
            if status == "error" or not same_pixels:
                return None
            found[path] = (size, mtime_ns)
        return found

    def mark_running(self, run_id: str) -> None:
        with _transaction(self.conn) as conn:
            conn.execute("UPDATE runs SET finished_at = NULL WHERE id = ?", (run_id,))

    def finish_run(self, run_id: str) -> None:
        with _transaction(self.conn) as conn:
            conn.execute("UPDATE runs SET finished_at = ? WHERE id = ?", (now_iso(), run_id))

    def delete_run(self, run_id: str) -> None:
        run_id = self.run(run_id)["id"]
        with _transaction(self.conn) as conn:
            conn.execute("DELETE FROM results WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    def counts(self, run_id: str) -> dict:
        row = self.conn.execute(
            "SELECT COUNT(*) AS stored, SUM(status != 'error') AS answered, SUM(status = 'error') AS failed, "
            "SUM(cached) AS cached, SUM(CASE WHEN cached = 0 THEN cost END) AS spent, "
            "SUM(CASE WHEN cached = 0 AND cost IS NULL AND status != 'error' THEN 1 ELSE 0 END) AS unpriced "
            "FROM results WHERE run_id = ?", (run_id,)).fetchone()
        return {k: (row[k] or 0) if k != "spent" else row[k] for k in row.keys()}

    def runs(self, limit: int | None = None, *, owner: str | None = None) -> "pd.DataFrame":
        """History, newest first: one row per run with its counts, spend and duration; `owner`: only that user's."""
        import pandas as pd

        sql = ("SELECT r.id AS run_id, r.started_at, r.finished_at, r.task, r.models, r.prompts, r.source, "
               "r.n_items AS items, COUNT(x.id) AS stored, COALESCE(SUM(x.status != 'error'), 0) AS answered, "
               "COALESCE(SUM(x.status = 'error'), 0) AS failed, COALESCE(SUM(x.cached), 0) AS cached, "
               "SUM(CASE WHEN x.cached = 0 THEN x.cost END) AS spent_usd "
               "FROM runs r LEFT JOIN results x ON x.run_id = r.id "
               + ("WHERE r.owner = ? " if owner is not None else "")
               + "GROUP BY r.id ORDER BY r.rowid DESC" + (f" LIMIT {int(limit)}" if limit else ""))
        frame = pd.DataFrame([dict(r) for r in self.conn.execute(sql, () if owner is None else (owner,))],
                             columns=["run_id", "started_at", "finished_at", "task", "models", "prompts", "source",
                                      "items", "stored", "answered", "failed", "cached", "spent_usd"])
        frame["models"] = [", ".join(m["name"] for m in json.loads(v)) for v in frame["models"]]
        frame["prompts"] = [", ".join(json.loads(v)) for v in frame["prompts"]]
        return frame

