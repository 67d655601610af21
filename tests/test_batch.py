"""Batches against the scripted fault server, a real `transformers serve` and the tiny local model: every item
ends stored exactly once, calls are counted at the server, and nothing is paid for twice."""
from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from workbench.batch import BatchInput, _Limiter, collect_inputs, prompt_versions, retry_failed, run_batch
from workbench.errors import ConfigError
from workbench.models import ModelSpec
from workbench.store import RunStore
from workbench.tasks import get_task

from .fault_server import FaultServer, fault_server  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


def make_images(folder: Path, n: int, start: int = 0, size=(24, 16)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + n):
        path = folder / f"img{i:04d}.png"
        Image.new("RGB", size, (i % 256, (i // 256) % 256, 99)).save(path)
        paths.append(path)
    return paths


def fault_spec(server, model: str, name: str | None = None, **kw) -> ModelSpec:
    kw.setdefault("timeout", 10)
    return ModelSpec(name=name or f"fault {model}", provider="custom", base_url=server.url, model=model, **kw)


def rows(db: Path, run_id: str) -> list[sqlite3.Row]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM results WHERE run_id = ?", (run_id,)).fetchall()


def keys_of(result_rows) -> list[tuple]:
    return [(r["image_path"], r["model"], r["prompt_version"], r["prompt_hash"]) for r in result_rows]


# --- faults, cache, duplicates -------------------------------------------------------------------------------


def test_429s_and_500s_every_item_stored_once_and_no_duplicate_calls(tmp_path, fault_server):
    images = make_images(tmp_path / "imgs", 300)
    script = ["ok"] * 400
    faults = {**{i: "429" for i in range(5, 200, 20)}, **{i: "500" for i in range(13, 200, 25)}}
    for i, fault in faults.items():
        script[i] = fault
    fault_server.script["flaky"] = script
    spec = fault_spec(fault_server, "flaky")
    db = tmp_path / "wb.db"

    run = run_batch(tmp_path / "imgs", "ask", [spec], db=db, workers=16, progress=False)

    assert (run.total, run.answered, run.failed) == (300, 300, 0)
    # Every image was answered once: the server saw one call per image plus one per injected fault.
    assert fault_server.calls_for("flaky") == 300 + len(faults)
    stored = rows(db, run.run_id)
    assert len(stored) == 300 and len(set(keys_of(stored))) == 300
    assert {r["image_path"] for r in stored} == {str(p) for p in images}
    assert all(r["status"] == "ok" and r["cached"] == 0 for r in stored)
    assert sum(r["attempts"] for r in stored) == 300 + len(faults)  # the retries are recorded per item

    again = run_batch(tmp_path / "imgs", "ask", [spec], db=db, workers=16, progress=False)
    assert fault_server.calls_for("flaky") == 300 + len(faults)  # a second run makes zero calls
    assert (again.calls, again.cached, again.answered) == (0, 300, 300)
    assert again.up_to_date and again.run_id == run.run_id  # done, nothing changed: that run, as it was
    assert "up to date" in again.summary() and len(rows(db, run.run_id)) == 300

    new = run_batch(tmp_path / "imgs", "ask", [spec], db=db, workers=16, progress=False, resume=False)
    assert fault_server.calls_for("flaky") == 300 + len(faults)
    assert (new.calls, new.cached, new.answered, new.up_to_date) == (0, 300, 300, False)
    assert new.run_id != run.run_id  # asked for a new run: served from the store
    assert all(r["cached"] == 1 for r in rows(db, new.run_id))


def test_a_finished_batch_is_run_again_when_an_image_changed(tmp_path, fault_server):
    images = make_images(tmp_path / "imgs", 5)
    db = tmp_path / "wb.db"
    spec = fault_spec(fault_server, "ok")
    first = run_batch(tmp_path / "imgs", "ask", [spec], db=db, progress=False)
    Image.new("RGB", (24, 16), (1, 2, 3)).save(images[2])  # new pixels under the same name
    os.utime(images[2], ns=(time.time_ns(), time.time_ns() + 10**9))  # and a new mtime, even on coarse clocks
    second = run_batch(tmp_path / "imgs", "ask", [spec], db=db, progress=False)
    assert not second.up_to_date and second.run_id != first.run_id
    assert (second.calls, second.cached, second.answered) == (1, 4, 5)
    third = run_batch(tmp_path / "imgs", "ask", [spec], db=db, progress=False)
    assert third.up_to_date and third.run_id == second.run_id and fault_server.calls_for("ok") == 6
    # the first run's answer for that image is about pixels the file no longer has: that run is not up to date
    assert RunStore(db).answered_images(first.run_id) is None


def test_identical_pixels_under_two_names_cost_one_call(tmp_path, fault_server):
    folder = tmp_path / "imgs"
    make_images(folder, 2)
    twin = Image.new("RGB", (24, 16), (200, 10, 10))
    twin.save(folder / "a.png")
    twin.save(folder / "b.bmp")  # same pixels, another name and format
    (folder / "sub").mkdir()
    twin.save(folder / "sub" / "c.png")
    spec = fault_spec(fault_server, "ok")
    run = run_batch(folder, "ask", [spec], db=tmp_path / "wb.db", progress=False)
    assert run.answered == 5
    assert fault_server.calls_for("ok") == 3
    assert run.cached == 2


def test_a_big_jpeg_is_read_at_a_reduced_scale_by_batches_and_run_model_alike(tmp_path, fault_server):
    import numpy as np

    import workbench
    from workbench.images import load_image

    folder = tmp_path / "imgs"
    folder.mkdir()
    y, x = np.indices((3000, 4000))
    photo = folder / "photo.jpg"
    Image.fromarray(((x + y) % 256).astype("uint8")).convert("RGB").save(photo, quality=90)
    reduced, full = load_image(photo, max_edge=1536), load_image(photo)
    assert reduced.pil.size == (2000, 1500) and reduced.sha256 != full.sha256
    spec = fault_spec(fault_server, "ok")
    run = run_batch(folder, "ask", [spec], db=tmp_path / "wb.db", progress=False)
    assert run.results()["image_hash"].tolist() == [reduced.sha256]
    assert workbench.run_model(photo, "ask", spec).image_hash == reduced.sha256


def test_a_twin_answered_while_its_double_waits_in_the_queue_is_not_sent_again(tmp_path, fault_server):
    # One worker and slow answers: the last image is read (and missed in the store) while its twin, the first
    # image, is still in flight, and is dispatched only after the twin's answer has been committed.
    folder = tmp_path / "imgs"
    make_images(folder, 4)
    twin = Image.new("RGB", (24, 16), (200, 10, 10))
    twin.save(folder / "a_twin.png")
    twin.save(folder / "z_twin.png")
    fault_server.latency_s = 0.3
    run = run_batch(folder, "ask", [fault_spec(fault_server, "ok")], db=tmp_path / "wb.db", workers=1,
                    progress=False)
    assert fault_server.calls_for("ok") == 5
    assert (run.answered, run.cached) == (6, 1)
    by_name = {Path(r["image_path"]).name: r for r in rows(tmp_path / "wb.db", run.run_id)}
    assert by_name["z_twin.png"]["cached"] == 1
    assert by_name["z_twin.png"]["raw_text"] == by_name["a_twin.png"]["raw_text"]


def test_force_refresh_sends_again_and_errors_are_never_served_from_the_store(tmp_path, fault_server):
    make_images(tmp_path / "imgs", 4)
    db = tmp_path / "wb.db"
    ok = fault_spec(fault_server, "ok")
    run_batch(tmp_path / "imgs", "ask", [ok], db=db, progress=False)
    run_batch(tmp_path / "imgs", "ask", [ok], db=db, progress=False, force=True)
    assert fault_server.calls_for("ok") == 8

    bad = fault_spec(fault_server, "400")  # a plain bad request: stored as a failure, not retried
    first = run_batch(tmp_path / "imgs", "ask", [bad], db=db, progress=False)
    second = run_batch(tmp_path / "imgs", "ask", [bad], db=db, progress=False)
    assert first.failed == second.failed == 4
    assert fault_server.calls_for("400") == 8  # the second run sent every call again
    assert second.cached == 0


def test_consecutive_auth_failures_stop_the_lane_with_one_message(tmp_path, fault_server):
    make_images(tmp_path / "imgs", 40)
    spec = fault_spec(fault_server, "401")
    run = run_batch(tmp_path / "imgs", "ask", [spec], db=tmp_path / "wb.db", workers=16, max_auth_failures=3,
                    progress=False)
    # The first calls go out together; once a key is rejected the lane probes one call at a time, then stops.
    sent = fault_server.calls_for("401")
    assert 3 <= sent <= 16
    assert (run.answered, run.failed) == (0, 40)
    assert len(run.messages) == 1 and "3 consecutive authentication failures" in run.messages[0]
    stored = rows(tmp_path / "wb.db", run.run_id)
    assert all(r["error_type"] == "auth_error" for r in stored)
    assert sum("were not sent" in r["error"] for r in stored) == 40 - sent
    assert all("sk-" not in (r["error"] or "") for r in stored)


def test_a_server_that_fails_every_call_still_gets_the_lanes_full_concurrency(tmp_path):
    # No call has succeeded yet, and none will: the lane must not fall back to one call at a time, or a batch
    # against a broken server would take items × retries × latency to fail.
    make_images(tmp_path / "imgs", 24)
    with FaultServer(latency_s=0.05) as server:
        run = run_batch(tmp_path / "imgs", "ask", [fault_spec(server, "500")], db=tmp_path / "wb.db", workers=8,
                        max_attempts=2, progress=False)
    assert (run.answered, run.failed) == (0, 24)
    assert server.calls_for("500") == 48
    assert server.most_in_flight == 8


def test_score_mode_batches_retry_429s_in_the_lane_and_stop_on_auth_failures(tmp_path, fault_server):
    # Score-mode calls come back as finished Results, failures included; the lane still sees the typed error.
    make_images(tmp_path / "imgs", 12)
    fault_server.script["flaky"] = ["429", "429", "429", "ok"]  # more 429s in a row than the SDK retries
    flaky = fault_spec(fault_server, "flaky", max_retries=2)
    run = run_batch(tmp_path / "imgs", "pothole_severity", [flaky], db=tmp_path / "a.db", mode="score", workers=1,
                    progress=False)
    assert (run.answered, run.failed) == (12, 0)
    assert fault_server.calls_for("flaky") == 15
    assert sorted(r["attempts"] for r in rows(tmp_path / "a.db", run.run_id)) == [1] * 11 + [2]

    rejected = fault_spec(fault_server, "401")
    run = run_batch(tmp_path / "imgs", "pothole_severity", [rejected], db=tmp_path / "b.db", mode="score",
                    workers=4, max_auth_failures=3, progress=False)
    assert 3 <= fault_server.calls_for("401") <= 4  # the calls already in flight, then the lane stops
    assert (run.answered, run.failed) == (0, 12)
    assert len(run.messages) == 1 and "3 consecutive authentication failures" in run.messages[0]


def test_retry_failed_resends_only_the_failures(tmp_path, fault_server):
    make_images(tmp_path / "imgs", 20)
    fault_server.script["sometimes"] = ["400"] * 5 + ["ok"]
    spec = fault_spec(fault_server, "sometimes")
    db = tmp_path / "wb.db"
    run = run_batch(tmp_path / "imgs", "ask", [spec], db=db, workers=1, progress=False)
    assert (run.answered, run.failed) == (15, 5)
    retried = retry_failed(run.run_id, db=db, progress=False)
    assert retried.run_id == run.run_id
    assert fault_server.calls_for("sometimes") == 25
    assert (retried.answered, retried.failed, retried.calls) == (20, 0, 5)
    assert len(rows(db, run.run_id)) == 20


def test_unavailable_model_and_unreadable_image_are_stored_failures(tmp_path, fault_server):
    folder = tmp_path / "imgs"
    make_images(folder, 3)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    keyless = ModelSpec(name="needs key", provider="openrouter", base_url=fault_server.url, model="ok")
    run = run_batch(folder, "ask", [fault_spec(fault_server, "ok"), keyless], db=tmp_path / "wb.db",
                    progress=False, keys={})
    stored = {(Path(r["image_path"]).name, r["model"]): r for r in rows(tmp_path / "wb.db", run.run_id)}
    assert len(stored) == 8 and run.failed == 5
    assert stored[("broken.png", "fault ok")]["error_type"] == "image_error"
    assert stored[("img0000.png", "needs key")]["error_type"] == "key_missing"
    assert "OPENROUTER_API_KEY" in stored[("img0000.png", "needs key")]["error"]
    assert fault_server.calls_for("ok") == 3
    assert any("needs key" in m for m in run.messages)


def test_models_times_prompt_versions_with_csv_variables(tmp_path, fault_server):
    images = make_images(tmp_path / "imgs", 3)
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("file,task,label,tag\n" + "".join(
        f"imgs/{p.name},tag_rating,{i},{tag}\n" for i, p in enumerate(images) for tag in ("tree", "car"))
        + "imgs/img0000.png,moderation,false,\n")
    inputs = collect_inputs(csv_path, "tag_rating")
    assert len(inputs) == 6 and {i.variables["tag"] for i in inputs} == {"tree", "car"}
    prompts = {"short": 'Rate "{tag}" 0-5 as JSON {{"score": n}}', "long": get_task("tag_rating").prompt}
    specs = [fault_spec(fault_server, "ok", "A"), fault_spec(fault_server, "cost", "B")]
    run = run_batch(csv_path, "tag_rating", specs, prompts=prompts, db=tmp_path / "wb.db", progress=False)
    frame = run.results()
    assert len(frame) == 6 * 2 * 2 == run.total
    assert set(frame["prompt_version"]) == {"short", "long"}
    assert set(frame["expected"]) == {"0", "1", "2"}
    assert frame.loc[frame["model"] == "B", "cost"].notna().all()  # usage.cost reported by the server
    assert run.spent_usd == pytest.approx(12 * 0.00042)


def test_folder_with_a_labels_csv_stores_the_expected_labels(tmp_path, fault_server):
    spec = fault_spec(fault_server, "ok")
    run = run_batch(REPO / "sample_images", "pii_detection", [spec], labels=REPO / "sample_images" / "labels.csv",
                    db=tmp_path / "wb.db", progress=False)
    frame = run.results()
    expected = dict(zip(frame["image_path"].map(lambda p: Path(p).name), frame["expected"]))
    assert len(frame) == len(expected) == 9
    assert expected["id_card.png"] == "true" and expected["park_scene.jpg"] == "false"
    assert sorted(name for name, label in expected.items() if pd.isna(label)) == [
        "beach_sunset.jpg", "road_pothole_minor.jpg", "road_pothole_moderate.jpg", "road_pothole_severe.jpg"]


def test_bad_settings_raise_before_anything_is_stored(tmp_path, fault_server, monkeypatch):
    make_images(tmp_path / "imgs", 2)
    spec = fault_spec(fault_server, "ok")
    with pytest.raises(ConfigError, match=r"\{tag\}"):
        run_batch(tmp_path / "imgs", "tag_rating", [spec], db=tmp_path / "wb.db", progress=False)
    with pytest.raises(ConfigError, match="does not exist"):
        run_batch(tmp_path / "nowhere", "ask", [spec], db=tmp_path / "wb.db", progress=False)
    monkeypatch.setenv("WORKBENCH_DECODERS", "lots")
    with pytest.raises(ConfigError, match="WORKBENCH_DECODERS must be a whole number"):
        run_batch(tmp_path / "imgs", "ask", [spec], db=tmp_path / "wb.db", progress=False)
    assert RunStore(tmp_path / "wb.db").runs().empty
    assert fault_server.calls_for("ok") == 0
    monkeypatch.setenv("WORKBENCH_DECODERS", "3")  # more decoders than the default: same results
    assert run_batch(tmp_path / "imgs", "ask", [spec], db=tmp_path / "ok.db", progress=False).answered == 2


@pytest.mark.parametrize("cpu_s_per_image", [0.0, 0.03])
def test_images_are_read_on_more_threads_only_when_reading_keeps_calls_waiting(tmp_path, monkeypatch,
                                                                              cpu_s_per_image):
    # Small images take a fraction of a millisecond: one decoder thread keeps up with the calls, and more would
    # only take the GIL from the event loop. Images that take tens of ms (photos) get every allowed thread.
    import hashlib
    import threading

    from workbench.batch import reader

    monkeypatch.setenv("WORKBENCH_DECODERS", "4")
    heavy = bytes(64 << 20) if cpu_s_per_image else b""  # hashing 64 MB: ~30 ms of CPU, GIL released
    reading, most, lock = 0, 0, threading.Lock()
    real = reader._read_image

    def read(*args):
        nonlocal reading, most
        with lock:
            reading += 1
            most = max(most, reading)
        try:
            hashlib.sha256(heavy).digest()
            return real(*args)
        finally:
            with lock:
                reading -= 1

    monkeypatch.setattr(reader, "_read_image", read)
    make_images(tmp_path / "imgs", 40)
    with FaultServer(latency_s=0.05) as server:
        run = run_batch(tmp_path / "imgs", "ask", [fault_spec(server, "ok")], db=tmp_path / "wb.db", workers=8,
                        progress=False)
    assert run.answered == 40
    assert most == 1 if not cpu_s_per_image else most >= 2


def test_a_failure_while_queueing_image_reads_stops_the_batch_resumably(tmp_path, fault_server, monkeypatch):
    # Reads are queued from the event loop's callbacks too, where an exception would otherwise vanish and the
    # batch end with items never sent: it must surface, and the run stay resumable.
    from workbench.batch.reader import ReadAhead

    real, queued = ReadAhead._read_ahead, []

    def read_ahead(self, chunk):
        queued.append(chunk)
        if len(queued) == 4:
            raise RuntimeError("disk gone")
        return real(self, chunk)

    monkeypatch.setattr(ReadAhead, "_read_ahead", read_ahead)
    make_images(tmp_path / "imgs", 60)
    db = tmp_path / "wb.db"
    spec = fault_spec(fault_server, "ok")
    with pytest.raises(RuntimeError, match="disk gone"):
        run_batch(tmp_path / "imgs", "ask", [spec], db=db, workers=8, progress=False)
    monkeypatch.setattr(ReadAhead, "_read_ahead", real)
    resumed = run_batch(tmp_path / "imgs", "ask", [spec], db=db, workers=8, progress=False)
    assert resumed.resumed and resumed.answered == 60


def test_progress_callback_reports_committed_items(tmp_path, fault_server):
    make_images(tmp_path / "imgs", 30)
    seen = []
    run = run_batch(tmp_path / "imgs", "ask", [fault_spec(fault_server, "cost")], db=tmp_path / "wb.db",
                    progress=False, on_progress=seen.append)
    assert seen[-1].done == seen[-1].total == 30 and seen[-1].calls == 30
    assert seen[-1].spent_usd == pytest.approx(30 * 0.00042) == run.spent_usd
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert "30/30 items" in seen[-1].describe()


def test_prompt_versions_normalise():
    task = get_task("ask")
    assert prompt_versions(task) == {"default": task.prompt}
    assert prompt_versions(task, ["a", "b"]) == {"v1": "a", "v2": "b"}
    assert list(collect_inputs([BatchInput("x.png", "1")])) == [BatchInput(os.path.abspath("x.png"), "1")]


def test_prompts_name_saved_versions_and_texts_stay_texts(tmp_path, fault_server):
    make_images(tmp_path / "imgs", 2)
    db = tmp_path / "wb.db"
    store = RunStore(db)
    store.save_prompt_version("ask", "strict", "Describe only what is certain.")
    store.save_prompt_version("moderation", "loose", "Anything goes?")
    task = get_task("ask")
    assert prompt_versions(task, ["strict", "Describe it in one word."], store) == {
        "strict": "Describe only what is certain.", "v2": "Describe it in one word."}
    assert prompt_versions(task, "strict", store) == {"strict": "Describe only what is certain."}
    assert prompt_versions(task, {"strict": "a literal"}, store) == {"strict": "a literal"}  # a dict is literal
    with pytest.raises(ConfigError, match="'loose' looks like a saved version's name.*saved for ask: strict"):
        prompt_versions(task, ["loose"], store)  # saved, but for another task
    with pytest.raises(ConfigError, match="both be named 'strict'"):
        prompt_versions(task, ["strict", "strict"], store)

    run = run_batch(tmp_path / "imgs", "ask", [fault_spec(fault_server, "ok")], prompts=["strict", "Say hi."],
                    db=db, progress=False)
    frame = run.results()
    assert sorted(set(frame["prompt_version"])) == ["strict", "v2"] and len(frame) == 4
    assert store.run(run.run_id)["prompts"]["strict"] == "Describe only what is certain."
    assert any(r["messages"][0]["content"][0]["text"] == "Describe only what is certain."
               for r in fault_server.requests)


def test_rate_limit_pauses_the_whole_lane_and_halves_it_once_per_wave():
    async def scenario():
        limiter = _Limiter(8)
        began = await limiter.acquire()
        limiter.release()
        limiter.succeeded()
        assert limiter.limit == 8  # a lane starts at full concurrency
        starts = [await limiter.acquire() for _ in range(8)]
        for s in starts[:3]:  # three 429s from the same wave cut the limit once
            limiter.rate_limited(0.2, s)
        assert limiter.limit == 4
        for _ in range(8):
            limiter.release()
        t0 = time.monotonic()
        await limiter.acquire()  # every worker waits for the pause, not only the one that got the 429
        assert time.monotonic() - t0 >= 0.15
        return began

    asyncio.run(scenario())


# --- a real server and the local model ------------------------------------------------------------------------


def test_batch_against_transformers_serve(tmp_path, transformers_serve):
    make_images(tmp_path / "imgs", 4, size=(48, 40))
    spec = ModelSpec(name="tiny LLaVA (serve)", provider="transformers-serve", base_url=transformers_serve.base_url,
                     model=transformers_serve.model, timeout=60)
    db = tmp_path / "wb.db"
    run = run_batch(tmp_path / "imgs", "ask", [spec], db=db, workers=2, max_tokens=8, progress=False)
    assert (run.total, run.answered + run.failed, run.calls) == (4, 4, 4)
    assert run.answered == 4  # random weights: any text is an answer for "ask"
    frame = run.results()
    assert frame["input_tokens"].gt(16).all() and frame["latency_s"].gt(0).all()
    again = run_batch(tmp_path / "imgs", "ask", [spec], db=db, max_tokens=8, progress=False)
    assert (again.calls, again.cached) == (0, 4)


def test_batch_with_the_tiny_local_model(tmp_path, tiny_llava_dir):
    make_images(tmp_path / "imgs", 3, size=(40, 40))
    spec = ModelSpec(name="tiny llava", backend="transformers", model=tiny_llava_dir, device="cpu")
    run = run_batch(tmp_path / "imgs", "pothole_severity", [spec], db=tmp_path / "wb.db", max_tokens=6,
                    batch_size=2, progress=False)
    assert run.total == 3 and run.answered + run.failed == 3
    frame = run.results()
    assert set(frame["status"]) <= {"ok", "repaired", "invalid_output", "refused", "empty", "truncated"}
    assert frame["output_tokens"].le(6).all()


def test_a_local_lane_fills_each_batch_to_the_batch_size_asked_for(tmp_path, tiny_llava_dir, monkeypatch):
    # The lane's queue once held max(2, workers // 2) items and a local lane has one worker: batches of 8 ran as
    # pairs or triples. Count what reaches the backend (the real one, only counted).
    from workbench.backends.transformers_local import TransformersLocal

    sizes = []
    real = TransformersLocal.chat_batch

    def counted(self, spec, requests, *args, **kwargs):
        sizes.append(len(requests))
        return real(self, spec, requests, *args, **kwargs)

    monkeypatch.setattr(TransformersLocal, "chat_batch", counted)
    make_images(tmp_path / "imgs", 17, size=(40, 40))
    spec = ModelSpec(name="tiny llava", backend="transformers", model=tiny_llava_dir, device="cpu")
    run = run_batch(tmp_path / "imgs", "ask", [spec], db=tmp_path / "wb.db", max_tokens=2, batch_size=8,
                    progress=False)
    assert run.answered + run.failed == 17
    assert sizes == [8, 8]  # and the 17th alone, through chat (one item is not a batch)


def test_a_local_batch_answers_as_the_transformers_pipeline_does(tmp_path, tiny_llava_dir):
    from workbench.testing import pipeline_answers

    paths = [Path(p) for p in make_images(tmp_path / "imgs", 10, size=(40, 40))]
    spec = ModelSpec(name="tiny llava", backend="transformers", model=tiny_llava_dir, device="cpu")
    prompt = "Describe this road surface."
    run = run_batch(tmp_path / "imgs", "ask", [spec], prompts=prompt, db=tmp_path / "wb.db", max_tokens=6,
                    batch_size=4, progress=False)
    frame = run.results().sort_values("image_path")
    assert frame["metrics"].map(lambda m: m.get("batch_size")).tolist() == [4] * 8 + [2] * 2
    expected = pipeline_answers(spec, [Image.open(p).convert("RGB") for p in sorted(paths)], prompt, batch_size=4,
                                max_tokens=6)
    assert frame["raw_text"].tolist() == expected


# --- kill -9 in the middle, then resume ---------------------------------------------------------------------


def test_sigkill_mid_run_then_resume_sends_only_the_missing_items(tmp_path):
    make_images(tmp_path / "imgs", 120)
    db = tmp_path / "wb.db"
    with FaultServer(latency_s=0.05) as server:
        command = [sys.executable, "-m", "workbench", "batch", "--path", str(tmp_path / "imgs"), "--task", "ask",
                   "--model", "ok", "--api-base", server.url, "--workers", "4", "--db", str(db), "--no-progress",
                   "--json"]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while _stored(db) < 30:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the batch stored nothing"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stored_at_kill = _stored(db)
        sent_before = server.calls_for("ok")
        assert 30 <= stored_at_kill < 120 and sent_before >= stored_at_kill

        server.reset()
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert server.calls_for("ok") == 120 - stored_at_kill  # only the missing ones
    import json

    summary = json.loads(done.stdout)
    assert summary["resumed"] and summary["answered"] == 120
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT image_path) FROM results").fetchone() == (120, 120)
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def test_progress_reports_spend_so_far_and_projected_total(tmp_path, fault_server):  # noqa: F811
    from .fault_server import COST

    images = make_images(tmp_path / "imgs", 12)
    fault_server.latency_s = 0.05  # slow enough for progress reports (at most ten a second) to arrive mid-run
    seen = []
    run = run_batch(images, "ask", [fault_spec(fault_server, "cost")], db=tmp_path / "wb.db", progress=False,
                    workers=1, on_progress=seen.append)
    assert run.spent_usd == pytest.approx(12 * COST)
    middle = [p for p in seen if 0 < p.done < p.total and p.spent_usd]
    assert middle, "no progress report arrived mid-run"
    assert all(p.projected_usd == pytest.approx(12 * COST) for p in middle)  # every call costs the same here
    assert "projected" in middle[0].describe()
    assert seen[-1].projected_usd == pytest.approx(run.spent_usd)
