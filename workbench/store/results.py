"""The results of a store: write them, serve them from the cache, copy them between runs."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Iterable


from .labels import variables_key
from .schema import (_CHUNK, _COPY, _COPY_JOINED, _COPY_ORDER, _COPY_REQUESTS, _HAS_RETURNING, _UPSERT,
                     RESULT_COLUMNS, _decode, _dumps, _encode, _transaction)

if TYPE_CHECKING:
    import pandas as pd


class ResultsTable:
    """RunStore's methods for the results and image-hash tables (a part of RunStore, not used alone)."""

    conn: sqlite3.Connection
    path: Path

    def results(self, run_id: str) -> "pd.DataFrame":
        """Every stored result of a run, JSON columns decoded, in the order they were stored."""
        import pandas as pd

        run = self.run(run_id)
        rows = [_decode(dict(r)) for r in self.conn.execute(
            "SELECT * FROM results WHERE run_id = ? ORDER BY id", (run["id"],))]
        frame = pd.DataFrame(rows, columns=["id", *RESULT_COLUMNS])
        frame["cached"] = frame["cached"].astype(bool)
        frame.insert(1, "task", run["task"])
        self._fill_expected(frame, run["task"])
        if run["task_definition"] is not None:  # evaluation reads the task from here (workbench.evaluate.task_of)
            frame.attrs["task_definition"] = run["task_definition"]
        return frame

    def _fill_expected(self, frame: "pd.DataFrame", task: str) -> None:
        """A label set by a person (the labels table) stands in where the run's input gave none."""
        labels = self.latest_labels(task)
        if not labels or not len(frame):
            return
        found = [labels.get((path, variables_key(v)), {}).get("label")
                 for path, v in zip(frame["image_path"], frame["variables"])]
        frame["expected"] = [e if e is not None and e == e else f for e, f in zip(frame["expected"], found)]

    def stored_keys(self, run_id: str, *, failures: bool = True) -> set[tuple]:
        """(image_path, model, prompt_version, prompt_hash) of the items this run already holds."""
        sql = "SELECT image_path, model, prompt_version, prompt_hash FROM results WHERE run_id = ?"
        if not failures:
            sql += " AND status != 'error'"
        return {tuple(r) for r in self.conn.execute(sql, (run_id,))}

    def failed_rows(self, run_id: str) -> list[dict]:
        return [_decode(dict(r)) for r in self.conn.execute(
            "SELECT * FROM results WHERE run_id = ? AND status = 'error' ORDER BY id", (run_id,))]

    def cached(self, call_keys: Iterable[str]) -> dict[str, dict]:
        """call key -> {id, status, cost} of the newest stored answer (never an error), where there is one."""
        keys = list(dict.fromkeys(k for k in call_keys if k))
        found: dict[str, dict] = {}
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            # The newest answer per key, picked inside SQLite: every re-run adds a copy under the same key.
            for row_id, key, status, cost in self.conn.execute(
                    "SELECT id, call_key, status, cost FROM results WHERE id IN (SELECT MAX(id) FROM results "
                    f"WHERE call_key IN ({', '.join('?' * len(chunk))}) AND status != 'error' GROUP BY call_key)",
                    chunk).fetchall():
                found[key] = {"id": row_id, "status": status, "cost": cost}
        return found

    @staticmethod
    def copy_of(source_id: int, item: dict) -> tuple:
        """Parameters for `write(copies=…)`: the stored answer `source_id` under the item described by `item`
        (a dict of COPY_COLUMNS; `variables` as a Python dict, or as its JSON text already)."""
        return (*(_dumps(item.get(c)) if c == "variables" and not isinstance(item.get(c), str) else item.get(c)
                  for c in _COPY_ORDER), source_id)

    def copy_answers(self, items: list[dict]) -> list[tuple[str, str, float | None]]:
        """Serve items from the store, in one transaction: every item (a dict of COPY_COLUMNS, as for `copy_of`,
        or a tuple of their values in `COPY_ORDER`) whose call key has a stored answer gets that answer copied
        under it, marked cached. Returns (call_key, status, cost) of each row written; items without a stored
        answer are left for the caller to send."""
        key_at = _COPY_ORDER.index("call_key")
        params = [i if isinstance(i, tuple) else tuple(
            _dumps(i.get(c)) if c == "variables" and not isinstance(i.get(c), str) else i.get(c) for c in _COPY_ORDER)
            for i in items]
        params = [p for p in params if p[key_at]]
        if not params:
            return []
        if not _HAS_RETURNING:  # an old SQLite: look the answers up first, then copy them
            hits = self.cached(p[key_at] for p in params)
            copies = [(*p, hits[p[key_at]]["id"]) for p in params if p[key_at] in hits]
            self.write([], copies=copies)
            return [(c[key_at], hits[c[key_at]]["status"], hits[c[key_at]]["cost"]) for c in copies]
        conn = self.conn
        conn.execute(_COPY_REQUESTS)
        with _transaction(conn):
            conn.execute("DELETE FROM temp.copy_requests")
            conn.executemany(f"INSERT INTO temp.copy_requests VALUES ({', '.join('?' * len(_COPY_ORDER))})", params)
            written = [tuple(r) for r in conn.execute(_COPY_JOINED).fetchall()]
            conn.execute("DELETE FROM temp.copy_requests")
        return written

    def write(self, rows: list[dict], images: list[tuple] = (), copies: list[tuple] = (),
              conn: sqlite3.Connection | None = None) -> None:
        """In one transaction: result rows (dicts keyed by RESULT_COLUMNS, JSON columns as Python objects),
        image hashes (path, size, mtime_ns, sha256) and cached copies (from `copy_of`)."""
        if not rows and not images and not copies:
            return
        with _transaction(conn or self.conn) as c:
            if rows:
                c.executemany(_UPSERT, [_encode(r) for r in rows])
            if copies:
                c.executemany(_COPY, copies)
            if images:
                c.executemany("INSERT OR REPLACE INTO images (path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?)",
                              images)


    def image_hashes(self, paths: Iterable[str]) -> dict[str, tuple[int, int, str]]:
        """path -> (size, mtime_ns, pixel sha256) as recorded when the file was last decoded."""
        paths = list(paths)
        found = {}
        for i in range(0, len(paths), _CHUNK):
            chunk = paths[i:i + _CHUNK]
            for path, size, mtime_ns, sha256 in self.conn.execute(
                    f"SELECT path, size, mtime_ns, sha256 FROM images WHERE path IN ({', '.join('?' * len(chunk))})",
                    chunk).fetchall():
                found[path] = (size, mtime_ns, sha256)
        return found


# --- module-level conveniences for notebooks and the app ---------------------------------------------------


