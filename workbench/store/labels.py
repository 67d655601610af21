"""Human labels in the store: who said what an image truly is, and when. Append-only; the latest per item wins."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .schema import now_iso, _transaction


def variables_key(variables) -> str:
    """One spelling of an item's prompt variables, so a label and a result row of the same tag match."""
    if isinstance(variables, str):
        variables = json.loads(variables) if variables else {}
    return json.dumps(variables or {}, sort_keys=True, ensure_ascii=False)


class LabelsTable:
    """RunStore's methods for the labels table (a part of RunStore, not used alone)."""

    conn: sqlite3.Connection
    path: Path

    def add_label(self, *, task: str, image_path: str, label: str, who: str, variables=None,
                  image_hash: str | None = None, run_id: str | None = None) -> None:
        with _transaction(self.conn) as conn:
            conn.execute("INSERT INTO labels (task, image_path, variables, image_hash, label, run_id, who, "
                         "labelled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (task, image_path, variables_key(variables), image_hash, label, run_id, who, now_iso()))

    def latest_labels(self, task: str) -> dict[tuple[str, str], dict]:
        """(image path, variables key) -> {label, who, labelled_at, run_id} of the newest label of this task."""
        rows = self.conn.execute(
            "SELECT image_path, variables, label, who, labelled_at, run_id FROM labels WHERE id IN "
            "(SELECT MAX(id) FROM labels WHERE task = ? GROUP BY image_path, variables)", (task,)).fetchall()
        return {(r["image_path"], r["variables"]): {k: r[k] for k in ("label", "who", "labelled_at", "run_id")}
                for r in rows}
