"""Share links and run owners: a token that reopens one batch run or one comparison, read-only, and who made a run.

A link names a random token, never a run id: run ids are timestamps (guessable), and with sign-in on, History shows
each person only their own runs, so a run is seen by others only when its owner shared it. A comparison is stored
only when it is shared: its results (as `Result.to_dict()`, keys never among them), the prompt sent, the task and
a copy of its image beside the store (`<store folder>/shared-images/`), since the upload it came from is temporary.

Added to a store at first open, like provider_batches: no schema version of their own, so an older workbench still
opens a store that holds them (and ignores them).
"""
from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import sqlite3
from pathlib import Path

from ..errors import ConfigError
from .schema import _dumps, _transaction, now_iso

SHARES = """
CREATE TABLE IF NOT EXISTS shares (       -- a share link's token -> the run or the comparison it reopens
    token       TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,            -- run | comparison
    run_id      TEXT REFERENCES runs(id) ON DELETE CASCADE,  -- kind run
    comparison  TEXT,                     -- kind comparison: JSON {task, task_definition, prompt, params, results…}
    image_path  TEXT,                     -- kind comparison: the stored copy of its image
    owner       TEXT,                     -- who shared it (the signed-in user), NULL without sign-in
    created_at  TEXT NOT NULL
)"""
SHARED_IMAGES = "shared-images"


def add_sharing(conn: sqlite3.Connection) -> None:
    """The shares table and runs.owner, on a store that lacks them (checked inside the write lock: two processes
    opening an old store at once add the column once)."""
    if _has_sharing(conn):
        return
    with _transaction(conn):
        if "owner" not in {row[1] for row in conn.execute("PRAGMA table_info(runs)")}:
            conn.execute("ALTER TABLE runs ADD COLUMN owner TEXT")
        conn.execute(SHARES)


def _has_sharing(conn: sqlite3.Connection) -> bool:
    owner = "owner" in {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    return owner and conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'shares'").fetchone() is not None


class SharesTable:
    """RunStore's methods for share links and run owners (a part of RunStore, not used alone)."""

    conn: sqlite3.Connection
    path: Path

    def set_owner(self, run_id: str, owner: str | None) -> None:
        with _transaction(self.conn) as conn:
            conn.execute("UPDATE runs SET owner = ? WHERE id = ?", (owner, run_id))

    def owner(self, run_id: str) -> str | None:
        row = self.conn.execute("SELECT owner FROM runs WHERE id = ?", (run_id,)).fetchone()
        return row["owner"] if row else None

    def share_run(self, run_id: str, owner: str | None = None) -> str:
        """The run's share token (the same one every time it is shared)."""
        run_id = self.run(run_id)["id"]
        row = self.conn.execute("SELECT token FROM shares WHERE kind = 'run' AND run_id = ?", (run_id,)).fetchone()
        if row is not None:
            return row["token"]
        return self._insert_share("run", run_id=run_id, owner=owner)

    def share_comparison(self, comparison: dict, image_path: str, owner: str | None = None) -> str:
        """Store a finished comparison and return its token. `comparison`: JSON-able (task, prompt, results…)."""
        source = Path(image_path)
        if not source.is_file():
            raise ConfigError(f"the comparison's image {source.name} is gone — run the comparison again")
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        target = self.path.parent / SHARED_IMAGES / f"{digest[:32]}{source.suffix.lower()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copyfile(source, target)
        return self._insert_share("comparison", comparison=_dumps(comparison), image_path=str(target), owner=owner)

    def _insert_share(self, kind: str, **columns) -> str:
        token = secrets.token_urlsafe(12)
        columns = {"token": token, "kind": kind, **columns, "created_at": now_iso()}
        with _transaction(self.conn) as conn:
            conn.execute(f"INSERT INTO shares ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         tuple(columns.values()))
        return token

    def shared(self, token: str) -> dict | None:
        """What a share token reopens: {kind, run_id} or {kind, comparison, image_path}; None for no such token."""
        row = self.conn.execute("SELECT * FROM shares WHERE token = ?", ((token or "").strip(),)).fetchone()
        if row is None:
            return None
        found = dict(row)
        if found["comparison"] is not None:
            found["comparison"] = json.loads(found["comparison"])
        return found
