"""Batches through a provider's Batch API, against a loopback fake of OpenAI's Files and Batches endpoints (the
real service is paid and remote): the same Result rows and run store as any run, at the discounted price, resumed
after a kill -9 without a second submission, and failed items re-sent as ordinary calls."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from workbench.batch import retry_failed, run_batch
from workbench.costs import call_cost, lookup_price
from workbench.errors import ConfigError
from workbench.evaluate import evaluate_run
from workbench.models import ModelSpec
from workbench.store import RunStore

from .batch_api_server import COMPLETION_TOKENS, PROMPT_TOKENS, BatchApiServer

REPO = Path(__file__).resolve().parents[1]
KEYS = {"OPENAI_API_KEY": "test-key"}


def make_images(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (20, 14), (i % 256, (i * 7) % 256, 50)).save(folder / f"img{i:04d}.png")
    return folder


def spec(server: BatchApiServer) -> ModelSpec:
    return ModelSpec(name="GPT-4o mini (batch)", provider="openai", base_url=server.url, model="gpt-4o-mini",
                     timeout=20, max_retries=0)


def batch(server, folder, db, **kw):
    return run_batch(folder, "moderation", [spec(server)], db=db, keys=KEYS, via="batch_api", poll_s=0.02,
                     progress=False, **kw)


def test_200_images_through_the_batch_api_land_in_the_store_at_half_price(tmp_path):
    folder = make_images(tmp_path / "imgs", 200)
    notes = []
    with BatchApiServer(polls_in_progress=3) as server:
        run = batch(server, folder, tmp_path / "wb.db", on_progress=lambda p: notes.append(p.note))
        again = batch(server, folder, tmp_path / "wb.db")  # finished: up to date, nothing submitted
    assert again.up_to_date and again.run_id == run.run_id
    assert server.batches_created == 1 and server.chat_calls == 0
    assert (run.total, run.answered, run.failed) == (200, 200, 0)
    frame = RunStore(tmp_path / "wb.db").results(run.run_id)
    assert set(frame["status"]) == {"ok"} and set(frame["label"]) == {"false"}  # not flagged
    full = call_cost(lookup_price("gpt-4o-mini"), PROMPT_TOKENS, COMPLETION_TOKENS)
    assert frame["cost"].tolist() == pytest.approx([full / 2] * 200)
    assert set(frame["cost_source"]) == {"estimated (batch API −50 %)"}
    assert any("Batch API" in m and "−50 %" in m for m in run.messages)
    assert any(n and "in_progress" in n for n in notes)  # the poll status reaches the progress callback
    evaluation = evaluate_run(run.run_id, db=tmp_path / "wb.db")
    assert len(evaluation.results) == 200


def test_an_expired_batch_stores_its_unanswered_items_as_failures_that_retry_sends_normally(tmp_path):
    folder = make_images(tmp_path / "imgs", 10)
    with BatchApiServer(final="expired", answer_share=0.3) as server:
        run = batch(server, folder, tmp_path / "wb.db")
        frame = RunStore(tmp_path / "wb.db").results(run.run_id)
        assert (run.answered, run.failed) == (3, 7)
        assert set(frame.loc[frame["status"] == "error", "error_type"]) == {"batch_expired"}
        again = retry_failed(run.run_id, db=tmp_path / "wb.db", keys=KEYS, progress=False)
    assert server.chat_calls == 7 and server.batches_created == 1
    assert (again.answered, again.failed) == (10, 0)


def test_a_partial_failure_file_fails_only_those_items_and_retry_sends_them_as_chat_calls(tmp_path):
    folder = make_images(tmp_path / "imgs", 12)
    with BatchApiServer(fail_every=4) as server:
        run = batch(server, folder, tmp_path / "wb.db")
        frame = RunStore(tmp_path / "wb.db").results(run.run_id)
        failed = frame[frame["status"] == "error"]
        assert (run.answered, run.failed) == (9, 3)
        assert set(failed["error_type"]) == {"batch_failed"}
        assert all("server overloaded" in e for e in failed["error"])
        again = retry_failed(run.run_id, db=tmp_path / "wb.db", keys=KEYS, progress=False)
    assert server.chat_calls == 3 and server.batches_created == 1
    assert (again.answered, again.failed) == (12, 0)
    retried = RunStore(tmp_path / "wb.db").results(run.run_id)
    # the retried items paid the ordinary price: only the batch's answers say "batch API"
    assert (retried["cost_source"] == "estimated").sum() == 3


def test_a_provider_without_a_batch_api_is_refused_by_name(tmp_path):
    folder = make_images(tmp_path / "imgs", 1)
    other = ModelSpec(name="pixtral", provider="openrouter", model="mistralai/pixtral-12b")
    with pytest.raises(ConfigError, match="works with providers: openai"):
        run_batch(folder, "moderation", [other], db=tmp_path / "wb.db", via="batch_api", progress=False)
    with pytest.raises(ConfigError, match="unknown via"):
        run_batch(folder, "moderation", [other], db=tmp_path / "wb.db", via="batches", progress=False)


def test_kill_9_while_polling_then_the_same_command_resumes_the_same_batch(tmp_path):
    folder = make_images(tmp_path / "imgs", 200)
    db = tmp_path / "wb.db"
    with BatchApiServer() as server:
        models = tmp_path / "models.toml"
        models.write_text(f'[[models]]\nname = "gpt batch"\nprovider = "openai"\nmodel = "gpt-4o-mini"\n'
                          f'base_url = "{server.url}"\ntimeout = 20\n')
        command = [sys.executable, "-m", "workbench", "batch", "--path", str(folder), "--task", "moderation",
                   "--model", "gpt batch", "--models-file", str(models), "--db", str(db), "--batch-api",
                   "--poll-s", "0.05", "--no-progress"]
        env = {**os.environ, "OPENAI_API_KEY": "test-key", "PYTHONPATH": str(REPO)}
        server.hold = True
        first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while server.polls < 3 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert server.polls >= 3, first.communicate()[0].decode()[-2000:] if first.poll() is not None else "slow"
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        server.hold = False
        second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert server.batches_created == 1 and server.chat_calls == 0
    store = RunStore(db)
    runs = store.runs()
    assert len(runs) == 1
    counts = store.counts(runs["run_id"][0])
    assert (counts["answered"], counts["failed"]) == (200, 0)
    assert store.provider_batch(runs["run_id"][0])["status"] == "collected"


def test_a_store_from_before_the_batch_api_opens_and_gains_the_provider_batches_table(tmp_path):
    db = tmp_path / "old.db"
    RunStore(db).close()
    with sqlite3.connect(db) as conn:  # as schema 3 left it before the Batch API: no provider_batches
        conn.execute("DROP TABLE provider_batches")
    store = RunStore(db)
    run_id = store.create_run(task="moderation", models=[], prompts={}, params={}, source="x", fingerprint="f",
                              n_items=1)
    store.save_provider_batch(run_id, model="m", input_file_id="file-1", requests={"item-0": ["a", "m", "v", "h",
                                                                                              "s"]})
    store.update_provider_batch(run_id, status="in_progress", batch_id="batch-1")
    saved = store.provider_batch(run_id)
    assert (saved["batch_id"], saved["status"], saved["requests"]["item-0"][0]) == ("batch-1", "in_progress", "a")


def test_a_crash_between_creating_the_batch_and_storing_its_id_does_not_submit_twice(tmp_path):
    folder = make_images(tmp_path / "imgs", 6)
    db = tmp_path / "wb.db"
    with BatchApiServer() as server:
        server.hold = True
        with pytest.raises(KeyboardInterrupt):  # stopped while polling: the batch's id is stored by then
            batch(server, folder, db, on_progress=_interrupt_at_first_poll)
        store = RunStore(db)
        run_id = store.runs()["run_id"][0]
        # as if the process had died after the provider made the batch but before its id was stored
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE provider_batches SET batch_id = NULL WHERE run_id = ?", (run_id,))
        server.hold = False
        run = batch(server, folder, db)
    assert run.run_id == run_id and (run.answered, run.failed) == (6, 0)
    assert server.batches_created == 1


def _interrupt_at_first_poll(progress) -> None:
    if progress.note and "in_progress" in progress.note:
        raise KeyboardInterrupt
