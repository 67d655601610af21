"""The SQLite run store: settings, upsert rules, the cache, history, and two processes writing at once."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workbench.errors import ConfigError
from workbench.store import SCHEMA_VERSION, RunStore, compare_runs, list_runs, now_iso, open_run

REPO = Path(__file__).resolve().parents[1]


def new_run(store: RunStore, **kw) -> str:
    return store.create_run(task=kw.get("task", "moderation"), models=[{"name": "m1"}, {"name": "m2"}],
                            prompts={"v1": "Is it safe?"}, params={"max_tokens": 8}, source="test",
                            fingerprint=kw.get("fingerprint", "f"), n_items=kw.get("n_items", 2))


def row(run_id: str, image: str, status: str = "ok", label: str | None = "false", **kw) -> dict:
    return {"run_id": run_id, "image_path": image, "image_hash": f"h-{image}", "variables": {}, "expected": None,
            "model": kw.get("model", "m1"), "model_id": "m", "backend": "openai", "prompt_version": "v1",
            "prompt_hash": "p", "params_hash": "q", "call_key": kw.get("call_key", f"k-{image}"), "mode": "generate",
            "status": status, "label": label, "output": {"flagged": label == "true"} if label else None,
            "raw_text": kw.get("raw_text", "{}"), "error_type": None if status != "error" else "server_error",
            "error": kw.get("error"), "cost": kw.get("cost"), "latency_s": 0.1, "cached": 0, "attempts": 1,
            "created_at": now_iso()}


def test_settings_wal_full_sync_and_busy_timeout(tmp_path):
    store = RunStore(tmp_path / "sub" / "wb.db")
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "results", "images"} <= tables


def test_default_path_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "elsewhere.db"))
    assert RunStore().path == tmp_path / "elsewhere.db"


def test_an_answer_replaces_a_failure_never_the_other_way_round(tmp_path):
    store = RunStore(tmp_path / "wb.db")
    run = new_run(store)
    store.write([row(run, "a.png", "error", None, error="503")])
    store.write([row(run, "a.png", "ok", "true")])
    store.write([row(run, "a.png", "error", None, error="later failure")])
    store.write([row(run, "a.png", "ok", "false")])  # a second answer (another process) does not duplicate
    frame = store.results(run)
    assert len(frame) == 1
    assert (frame.loc[0, "status"], frame.loc[0, "label"], frame.loc[0, "output"]) == ("ok", "true",
                                                                                         {"flagged": True})


def test_the_cache_serves_answers_never_errors(tmp_path):
    store = RunStore(tmp_path / "wb.db")
    run = new_run(store)
    store.write([row(run, "a.png", call_key="K1"), row(run, "b.png", "error", None, call_key="K2"),
                 row(run, "c.png", "invalid_output", None, call_key="K3")])
    hits = store.cached(["K1", "K2", "K3", "K4"])
    assert set(hits) == {"K1", "K3"}  # an unparseable answer is still the model's answer; a failure is not


def test_history_open_compare_and_unknown_runs(tmp_path):
    db = tmp_path / "wb.db"
    store = RunStore(db)
    first, second = new_run(store, fingerprint="a"), new_run(store, fingerprint="b")
    store.write([row(first, "a.png", label="false", cost=0.01), row(first, "b.png", label="true", cost=0.02)])
    store.write([row(second, "a.png", label="true"), row(second, "b.png", "error", None)])
    store.finish_run(first)

    history = list_runs(db)
    assert list(history["run_id"]) == [second, first]
    assert history.set_index("run_id").loc[first, ["stored", "answered", "failed"]].tolist() == [2, 2, 0]
    assert history.set_index("run_id").loc[first, "spent_usd"] == pytest.approx(0.03)
    assert history.set_index("run_id").loc[first, "models"] == "m1, m2"

    frame = open_run(first[:-1] if len({first[:-1], second[:-1]}) == 2 else first, db)  # a unique prefix works
    assert list(frame["image_path"]) == ["a.png", "b.png"]

    changes = compare_runs(first, second, db)
    assert changes["changed"].tolist() == [True, True]
    assert changes[["label_a", "label_b"]].iloc[0].tolist() == ["false", "true"]

    with pytest.raises(ConfigError, match="no run 'nope'.*workbench runs"):
        open_run("nope", db)
    assert store.unfinished_run("b") == second and store.unfinished_run("a") is None


def test_two_processes_writing_the_same_rows_neither_crash_nor_duplicate(tmp_path):
    db = tmp_path / "wb.db"
    store = RunStore(db)
    run = new_run(store, n_items=300)
    writer = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.test_store import row
        from workbench.store import RunStore
        store = RunStore({str(db)!r})
        for start in range(0, 300, 3):  # many small transactions, interleaved with the other process
            store.write([row({run!r}, f"img{{i}}.png", label=sys.argv[1]) for i in range(start, start + 3)])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", writer, label], stderr=subprocess.PIPE)
             for label in ("true", "false")]
    for proc in procs:
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT image_path) FROM results").fetchone() == (300, 300)


def test_a_file_that_is_not_a_database_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="not a usable run store"):
        RunStore(bad)


# --- prompt versions -----------------------------------------------------------------------------------------


def test_prompt_versions_are_saved_listed_read_and_never_overwritten(tmp_path):
    store = RunStore(tmp_path / "wb.db")
    first = store.save_prompt_version("moderation", "strict", "Flag anything unsafe.")
    assert first["created"] and first["name"] == "strict" and len(first["prompt_hash"]) == 16
    again = store.save_prompt_version("moderation", "strict", "Flag anything unsafe.")  # same text: a no-op
    assert not again["created"] and again["id"] == first["id"]
    with pytest.raises(ConfigError, match="already saved with a different text.*new name"):
        store.save_prompt_version("moderation", "strict", "Flag only violence.")
    store.save_prompt_version("ask", "strict", "Describe it.")  # names are per task
    assert store.get_prompt_version("moderation", "strict") == "Flag anything unsafe."

    every = store.list_prompt_versions()
    assert list(every.columns) == ["task", "name", "prompt", "prompt_hash", "created_at"]
    assert list(zip(every["task"], every["name"])) == [("moderation", "strict"), ("ask", "strict")]
    assert store.list_prompt_versions("ask")["prompt"].tolist() == ["Describe it."]
    assert RunStore(tmp_path / "wb.db").list_prompt_versions("nope").empty

    with pytest.raises(ConfigError, match="no prompt version 'loose'.*saved for moderation: strict"):
        store.get_prompt_version("moderation", "loose")
    for bad in ("two words", "", "x" * 65, "{tag}"):
        with pytest.raises(ConfigError, match="not usable"):
            store.save_prompt_version("moderation", bad, "text")
    with pytest.raises(ConfigError, match="empty prompt"):
        store.save_prompt_version("moderation", "blank", "  ")


def test_a_store_of_the_first_schema_gains_the_prompt_versions_table(tmp_path):
    db = tmp_path / "old.db"
    store = RunStore(db)
    run = new_run(store)
    with sqlite3.connect(db) as conn:  # what a store written before prompt versions looks like
        conn.execute("DROP TABLE prompt_versions")
        conn.execute("PRAGMA user_version = 1")
    reopened = RunStore(db)
    assert reopened.run(run)["task"] == "moderation"
    assert reopened.save_prompt_version("moderation", "v1", "Is it safe?")["created"]


def test_a_store_of_schema_2_gains_task_definitions_and_its_runs_find_tasks_by_name(tmp_path):
    from workbench.tasks import get_task

    db = tmp_path / "v2.db"
    with sqlite3.connect(db) as conn:  # the runs table as schema 2 wrote it: no task_definition column
        conn.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, task TEXT NOT NULL, models TEXT NOT NULL, prompts TEXT "
                     "NOT NULL, params TEXT NOT NULL, source TEXT, fingerprint TEXT NOT NULL, n_items INTEGER NOT "
                     "NULL, started_at TEXT NOT NULL, finished_at TEXT)")
        conn.execute("INSERT INTO runs VALUES ('old-run', 'tag_rating', '[]', '{}', '{}', 'x', 'f', 0, 't', NULL)")
        conn.execute("PRAGMA user_version = 2")
    store = RunStore(db)
    old = store.run("old-run")
    assert old["task_definition"] is None and store.task("old-run") is get_task("tag_rating")
    assert "task_definition" not in store.results("old-run").attrs
    definition = {**get_task("tag_rating").definition(), "labels": ["1", "2", "3"]}
    new = store.create_run(task="tag_rating", models=[], prompts={}, params={}, source="x", fingerprint="g",
                           n_items=0, task_definition=definition)
    reopened = RunStore(db)
    assert reopened.run(new)["task_definition"] == definition
    assert reopened.task(new).levels == (1, 3)  # the run's own definition, not today's registered task
    assert reopened.results(new).attrs["task_definition"] == definition
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION  # upgraded to the current schema


@pytest.mark.parametrize("returning", [True, False])  # False: the path for SQLite older than 3.35
def test_copy_answers_files_the_newest_answer_under_new_items(tmp_path, monkeypatch, returning):
    import workbench.store.results as module  # where copy_answers reads it

    monkeypatch.setattr(module, "_HAS_RETURNING", returning)
    store = RunStore(tmp_path / "wb.db")
    first, second = new_run(store, fingerprint="a"), new_run(store, fingerprint="b")
    store.write([row(first, "a.png", label="false", call_key="K1", cost=0.5),
                 row(first, "b.png", "error", None, call_key="K2")])
    store.write([row(first, "c.png", label="true", call_key="K1", cost=0.7)])  # a newer answer for K1
    item = {"run_id": second, "image_hash": "h", "variables": {}, "expected": "true", "model": "m1",
            "prompt_version": "v1", "prompt_hash": "p", "params_hash": "q", "created_at": now_iso()}
    written = store.copy_answers([{**item, "image_path": "x.png", "call_key": "K1"},
                                  {**item, "image_path": "y.png", "call_key": "K2"},  # only a failure: not served
                                  {**item, "image_path": "z.png", "call_key": None}])
    assert written == [("K1", "ok", 0.7)]
    (copied,) = store.results(second).to_dict("records")
    assert (copied["image_path"], copied["label"], copied["cached"], copied["expected"]) == ("x.png", "true", True,
                                                                                            "true")
