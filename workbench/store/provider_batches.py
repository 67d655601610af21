"""The provider_batches table: which batch a run has at a provider's Batch API, so that a restarted run polls
that batch again instead of paying for a second one."""
from __future__ import annotations

import json
import sqlite3

from .schema import PROVIDER_BATCHES, _dumps, _transaction, now_iso


class ProviderBatches:
    """RunStore's methods for the provider_batches table (a part of RunStore, not used alone)."""

    conn: sqlite3.Connection

    def _provider_batches(self) -> sqlite3.Connection:
        """The connection, with the table in place: a store of schema 3 from before the Batch API gains it here."""
        self.conn.execute(PROVIDER_BATCHES)
        return self.conn

    def provider_batch(self, run_id: str) -> dict | None:
        row = self._provider_batches().execute("SELECT * FROM provider_batches WHERE run_id = ?",
                                               (run_id,)).fetchone()
        if row is None:
            return None
        batch = dict(row)
        batch["requests"] = json.loads(batch["requests"])
        return batch

    def save_provider_batch(self, run_id: str, *, model: str, input_file_id: str, requests: dict,
                            batch_id: str | None = None, status: str = "uploaded") -> None:
        now = now_iso()
        with _transaction(self._provider_batches()) as conn:
            conn.execute("INSERT OR REPLACE INTO provider_batches (run_id, model, batch_id, input_file_id, status, "
                         "requests, submitted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (run_id, model, batch_id, input_file_id, status, _dumps(requests), now, now))

    def update_provider_batch(self, run_id: str, *, status: str, batch_id: str | None = None) -> None:
        with _transaction(self._provider_batches()) as conn:
            conn.execute("UPDATE provider_batches SET status = ?, batch_id = COALESCE(?, batch_id), updated_at = ? "
                         "WHERE run_id = ?", (status, batch_id, now_iso(), run_id))
