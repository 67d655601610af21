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
import re
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_DB = Path("runs") / "workbench.db"
BUSY_TIMEOUT_MS = 30_000
# 2: prompt_versions (a version-1 store gains the table on open); 3: runs.task_definition (added on open)
SCHEMA_VERSION = 3
VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id          TEXT PRIMARY KEY,
    task        TEXT NOT NULL,
    task_definition TEXT,                 -- JSON Task.definition(), so any process has the task (NULL before schema 3)
    models      TEXT NOT NULL,            -- JSON list of model specs (key *names* only, never keys)
    prompts     TEXT NOT NULL,            -- JSON {version: prompt template}
    params      TEXT NOT NULL,            -- JSON {max_tokens, temperature, max_edge, detail, mode}
    source      TEXT,                     -- what the batch was given: a folder, a CSV, "3 paths"
    fingerprint TEXT NOT NULL,            -- the same batch again gets the same fingerprint (resume)
    n_items     INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_fingerprint ON runs(fingerprint);

CREATE TABLE IF NOT EXISTS results (
    id             INTEGER PRIMARY KEY,
    run_id         TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    image_path     TEXT NOT NULL,
    image_hash     TEXT,                  -- sha256 of the decoded pixels, NULL when the image could not be read
    variables      TEXT NOT NULL DEFAULT '{}',
    expected       TEXT,                  -- the label from the input CSV, if any
    model          TEXT NOT NULL,
    model_id       TEXT,
    backend        TEXT,
    prompt_version TEXT NOT NULL,
    prompt_hash    TEXT NOT NULL,
    params_hash    TEXT NOT NULL,
    call_key       TEXT,                  -- image hash + prompt hash + model + params: the cache key
    mode           TEXT,
    status         TEXT NOT NULL,
    label          TEXT,
    output         TEXT,
    raw_text       TEXT,
    probabilities  TEXT,
    expected_score REAL,
    finish_reason  TEXT,
    input_tokens   INTEGER,
    output_tokens  INTEGER,
    cost           REAL,
    cost_source    TEXT,
    latency_s      REAL,
    ttft_s         REAL,
    error_type     TEXT,
    error          TEXT,
    metrics        TEXT,
    cached         INTEGER NOT NULL DEFAULT 0,  -- 1: served from the store, no call was made for this row
    attempts       INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    UNIQUE (run_id, image_path, model, prompt_version, prompt_hash)
);
CREATE INDEX IF NOT EXISTS results_by_call ON results(call_key) WHERE status != 'error';

CREATE TABLE IF NOT EXISTS images (       -- path -> pixel hash, so a re-run need not decode unchanged files
    path     TEXT PRIMARY KEY,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS prompt_versions (  -- named prompt templates per task, never rewritten in place
    id          INTEGER PRIMARY KEY,
    task        TEXT NOT NULL,
    name        TEXT NOT NULL,
    prompt      TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,            -- workbench.calls.prompt_hash of the template
    created_at  TEXT NOT NULL,
    UNIQUE (task, name)
);
"""

RESULT_COLUMNS = (
    "run_id", "image_path", "image_hash", "variables", "expected", "model", "model_id", "backend",
    "prompt_version", "prompt_hash", "params_hash", "call_key", "mode", "status", "label", "output", "raw_text",
    "probabilities", "expected_score", "finish_reason", "input_tokens", "output_tokens", "cost", "cost_source",
    "latency_s", "ttft_s", "error_type", "error", "metrics", "cached", "attempts", "created_at",
)
JSON_COLUMNS = ("variables", "output", "probabilities", "metrics")
# A stored answer is replaced only by a later attempt at a stored failure, never the other way round: two
# processes finishing the same item keep the first answer, and a retry that fails again keeps the newest error.
_UPSERT = (
    f"INSERT INTO results ({', '.join(RESULT_COLUMNS)}) VALUES ({', '.join('?' * len(RESULT_COLUMNS))}) "
    "ON CONFLICT (run_id, image_path, model, prompt_version, prompt_hash) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in RESULT_COLUMNS if c != "run_id")
    + " WHERE results.status = 'error'"
)
# A cached answer re-filed under another run's item: these columns come from the item, the rest from the source
# row, copied inside SQLite (no JSON decoded or re-encoded in Python).
COPY_COLUMNS = ("run_id", "image_path", "image_hash", "variables", "expected", "model", "prompt_version",
                "prompt_hash", "params_hash", "call_key", "created_at")
_COPY = (
    f"INSERT INTO results ({', '.join(RESULT_COLUMNS)}) SELECT "
    + ", ".join("?" if c in COPY_COLUMNS else "1" if c == "cached" else "0" if c == "attempts" else f"src.{c}"
                for c in RESULT_COLUMNS)
    + " FROM results AS src WHERE src.id = ? "  # the WHERE also keeps SQLite's upsert parser unambiguous
    + _UPSERT[_UPSERT.index("ON CONFLICT"):]
)
COPY_ORDER = _COPY_ORDER = tuple(c for c in RESULT_COLUMNS if c in COPY_COLUMNS)  # the order of the ?s in _COPY
# Many items served from the store in one statement: the items wait in a temporary table, each is joined to the
# newest stored answer for its call key, and the rows written come back (RETURNING, SQLite 3.35+).
_COPY_REQUESTS = f"CREATE TEMP TABLE IF NOT EXISTS copy_requests ({', '.join(_COPY_ORDER)})"
_COPY_JOINED = (
    f"INSERT INTO results ({', '.join(RESULT_COLUMNS)}) SELECT "
    + ", ".join(f"p.{c}" if c in COPY_COLUMNS else "1" if c == "cached" else "0" if c == "attempts" else f"src.{c}"
                for c in RESULT_COLUMNS)
    + " FROM temp.copy_requests AS p JOIN results AS src ON src.id = (SELECT MAX(id) FROM results "
    "WHERE call_key = p.call_key AND status != 'error') WHERE true "  # WHERE: keeps the upsert parse unambiguous
    + _UPSERT[_UPSERT.index("ON CONFLICT"):]
    + " RETURNING call_key, status, cost"
)
_HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35)
_CHUNK = 500  # SQLite's limit on host parameters is 32766; stay far below it


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())


def default_db_path() -> Path:
    return Path(os.environ.get("WORKBENCH_DB") or DEFAULT_DB)


class RunStore:
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

    # --- runs ----------------------------------------------------------------------------------------------

    def create_run(self, *, task: str, models: list[dict], prompts: dict[str, str], params: dict,
                   source: str, fingerprint: str, n_items: int, task_definition: dict | None = None) -> str:
        """task_definition: `Task.definition()`, so the run can be retried and evaluated where the task is not
        registered."""
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        with _transaction(self.conn) as conn:
            conn.execute("INSERT INTO runs (id, task, task_definition, models, prompts, params, source, fingerprint, "
                         "n_items, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (run_id, task, _dumps(task_definition), _dumps(models), _dumps(prompts), _dumps(params),
                          source, fingerprint, n_items, now_iso()))
        return run_id

    def task(self, run_id: str):
        """The run's Task: as registered when that is the stored definition, else rebuilt from the store."""
        from .tasks import task_for_run

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

    def runs(self, limit: int | None = None) -> "pd.DataFrame":
        """History, newest first: one row per run with its counts, spend and duration."""
        import pandas as pd

        sql = ("SELECT r.id AS run_id, r.started_at, r.finished_at, r.task, r.models, r.prompts, r.source, "
               "r.n_items AS items, COUNT(x.id) AS stored, COALESCE(SUM(x.status != 'error'), 0) AS answered, "
               "COALESCE(SUM(x.status = 'error'), 0) AS failed, COALESCE(SUM(x.cached), 0) AS cached, "
               "SUM(CASE WHEN x.cached = 0 THEN x.cost END) AS spent_usd "
               "FROM runs r LEFT JOIN results x ON x.run_id = r.id GROUP BY r.id "
               "ORDER BY r.rowid DESC" + (f" LIMIT {int(limit)}" if limit else ""))
        frame = pd.DataFrame([dict(r) for r in self.conn.execute(sql)],
                             columns=["run_id", "started_at", "finished_at", "task", "models", "prompts", "source",
                                      "items", "stored", "answered", "failed", "cached", "spent_usd"])
        frame["models"] = [", ".join(m["name"] for m in json.loads(v)) for v in frame["models"]]
        frame["prompts"] = [", ".join(json.loads(v)) for v in frame["prompts"]]
        return frame

    # --- results -------------------------------------------------------------------------------------------

    def results(self, run_id: str) -> "pd.DataFrame":
        """Every stored result of a run, JSON columns decoded, in the order they were stored."""
        import pandas as pd

        run = self.run(run_id)
        rows = [_decode(dict(r)) for r in self.conn.execute(
            "SELECT * FROM results WHERE run_id = ? ORDER BY id", (run["id"],))]
        frame = pd.DataFrame(rows, columns=["id", *RESULT_COLUMNS])
        frame["cached"] = frame["cached"].astype(bool)
        frame.insert(1, "task", run["task"])
        if run["task_definition"] is not None:  # evaluation reads the task from here (workbench.evaluate.task_of)
            frame.attrs["task_definition"] = run["task_definition"]
        return frame

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

    # --- prompt versions -----------------------------------------------------------------------------------

    def save_prompt_version(self, task: str, name: str, prompt: str) -> dict:
        """Save `prompt` as version `name` of `task`; returns the stored record (`created`: False when this very
        text was already saved under that name). The same name with another text raises ConfigError."""
        from .calls import prompt_hash

        if not isinstance(name, str) or not VERSION_NAME.fullmatch(name):
            raise ConfigError(f"prompt version name {name!r} is not usable — use up to 64 letters, digits, '.', '_' "
                              "or '-', without spaces (e.g. strict-v2)")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigError(f"prompt version {name!r} has an empty prompt — type the prompt first")
        record = {"task": task, "name": name, "prompt": prompt, "prompt_hash": prompt_hash(prompt),
                  "created_at": now_iso()}
        with _transaction(self.conn) as conn:  # insert-or-read under one write lock: two savers cannot race
            cursor = conn.execute("INSERT INTO prompt_versions (task, name, prompt, prompt_hash, created_at) "
                                  "VALUES (:task, :name, :prompt, :prompt_hash, :created_at) "
                                  "ON CONFLICT (task, name) DO NOTHING", record)
            created = cursor.rowcount == 1
            stored = dict(conn.execute("SELECT * FROM prompt_versions WHERE task = ? AND name = ?",
                                       (task, name)).fetchone())
        if stored["prompt"] != prompt:
            raise ConfigError(f"prompt version {name!r} of {task} is already saved with a different text "
                              f"(hash {stored['prompt_hash']}, saved {stored['created_at']}) — versions are never "
                              "overwritten, so past runs stay comparable: save this text under a new name")
        return {**stored, "created": created}

    def list_prompt_versions(self, task: str | None = None) -> "pd.DataFrame":
        """Saved prompt versions (every task, or one), oldest first: task, name, prompt, prompt_hash, created_at."""
        import pandas as pd

        columns = ["task", "name", "prompt", "prompt_hash", "created_at"]
        sql = f"SELECT {', '.join(columns)} FROM prompt_versions"
        rows = self.conn.execute(sql + (" WHERE task = ? ORDER BY id" if task else " ORDER BY id"),
                                 (task,) if task else ()).fetchall()
        return pd.DataFrame([dict(r) for r in rows], columns=columns)

    def get_prompt_version(self, task: str, name: str) -> str:
        """The text saved as `name` for `task`; ConfigError naming the saved versions when there is none."""
        found = self.prompt_version_texts(task, [name])
        if name in found:
            return found[name]
        saved = [r["name"] for r in self.conn.execute(
            "SELECT name FROM prompt_versions WHERE task = ? ORDER BY id", (task,))]
        hint = f"saved for {task}: {', '.join(saved)}" if saved else f"no version of {task} is saved yet"
        raise ConfigError(f"no prompt version {name!r} for {task} in {self.path} — {hint}")

    def prompt_version_texts(self, task: str, names: Iterable[str]) -> dict[str, str]:
        """name -> text for those of `names` saved for `task` (the others are simply absent)."""
        names = list(dict.fromkeys(names))
        found: dict[str, str] = {}
        for i in range(0, len(names), _CHUNK):
            chunk = names[i:i + _CHUNK]
            for row in self.conn.execute(
                    f"SELECT name, prompt FROM prompt_versions WHERE task = ? AND name IN ({', '.join('?' * len(chunk))})",
                    (task, *chunk)):
                found[row["name"]] = row["prompt"]
        return found

    # --- image hashes by file stat -------------------------------------------------------------------------

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


def list_runs(db: str | os.PathLike | None = None, limit: int | None = None) -> "pd.DataFrame":
    return RunStore(db).runs(limit)


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


class _transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error): takes the write lock up front, so two writers queue
    behind busy_timeout instead of failing half-way with 'database is locked'."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, *exc) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _create_schema(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise ConfigError(f"this run store was written by a newer VLM Workbench (schema {version}) — upgrade "
                          "the workbench or use another --db")
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    # CREATE TABLE IF NOT EXISTS leaves an older runs table as it was: add the columns it lacks.
    have = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    if "task_definition" not in have:
        conn.execute("ALTER TABLE runs ADD COLUMN task_definition TEXT")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _dumps(value) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _encode(row: dict) -> tuple:
    return tuple(_dumps(row.get(c)) if c in JSON_COLUMNS else row.get(c) for c in RESULT_COLUMNS)


def _decode(row: dict) -> dict:
    for column in JSON_COLUMNS:
        if row.get(column) is not None:
            row[column] = json.loads(row[column])
    if row.get("variables") is None:
        row["variables"] = {}
    return row
