"""The run store's SQLite schema, its columns, and how rows are encoded; shared by the store's parts."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from pathlib import Path

from ..errors import ConfigError


DEFAULT_DB = Path("runs") / "workbench.db"
BUSY_TIMEOUT_MS = 30_000
# 2: prompt_versions (a version-1 store gains the table on open); 3: runs.task_definition (added on open);
# 4: labels (human labels, added on open). provider_batches came without a version of its own (a store gains it at
# first use too), so a workbench from before it still opens a store that holds one.
SCHEMA_VERSION = 4
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

CREATE TABLE IF NOT EXISTS labels (       -- true labels set by a person: history kept, the latest per item wins
    id          INTEGER PRIMARY KEY,
    task        TEXT NOT NULL,
    image_path  TEXT NOT NULL,
    variables   TEXT NOT NULL DEFAULT '{}',  -- JSON, keys sorted: a tag rating's label belongs to its tag
    image_hash  TEXT,
    label       TEXT NOT NULL,
    run_id      TEXT,                     -- the run it was labelled from (provenance: labels serve every run)
    who         TEXT NOT NULL,
    labelled_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS labels_by_image ON labels(task, image_path);
"""
PROVIDER_BATCHES = """
CREATE TABLE IF NOT EXISTS provider_batches (  -- a run's batch at a provider's Batch API: resumed, never resent
    run_id        TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    model         TEXT NOT NULL,
    batch_id      TEXT,                   -- NULL between the upload and the batch's creation
    input_file_id TEXT NOT NULL,
    status        TEXT NOT NULL,          -- the provider's status, or `collected` once its results are stored
    requests      TEXT NOT NULL,          -- JSON {custom_id: [path, model, prompt_version, prompt_hash, image_hash]}
    submitted_at  TEXT NOT NULL,
    updated_at    TEXT NOT NULL
)"""
_SCHEMA += PROVIDER_BATCHES + ";\n"

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
    get = row.get  # a list, not a generator: the writer encodes every row of a batch through here
    return tuple([_dumps(get(c)) if c in JSON_COLUMNS else get(c) for c in RESULT_COLUMNS])


def _decode(row: dict) -> dict:
    for column in JSON_COLUMNS:
        if row.get(column) is not None:
            row[column] = json.loads(row[column])
    if row.get("variables") is None:
        row["variables"] = {}
    return row
