"""Human labels: stored with who/when (latest wins), queued where they teach most, exported as the labels CSV."""
from __future__ import annotations

import csv

import pytest

import workbench
from workbench.errors import ConfigError
from workbench.evaluate import evaluate_run
from workbench.store import SCHEMA_VERSION, RunStore, now_iso


def _row(run_id, image, model, label, probabilities=None):
    return {"run_id": run_id, "image_path": str(image), "image_hash": f"h-{image}", "variables": {},
            "expected": None, "model": model, "model_id": model, "backend": "openai", "prompt_version": "default",
            "prompt_hash": "p", "params_hash": "q", "call_key": f"k-{image}-{model}", "mode": "score",
            "status": "ok", "label": label, "output": {"flagged": label == "true"}, "raw_text": "{}",
            "probabilities": probabilities, "latency_s": 0.1, "cached": 0, "attempts": 1, "created_at": now_iso()}


@pytest.fixture
def labelled_run(tmp_path):
    """A moderation run of two models on three images: a disagreement, an unsure agreement, a sure agreement."""
    db = tmp_path / "wb.db"
    store = RunStore(db)
    run = store.create_run(task="moderation", models=[{"name": "m1"}, {"name": "m2"}], prompts={"default": "?"},
                           params={}, source="test", fingerprint="f", n_items=3)
    images = {n: tmp_path / f"{n}.png" for n in ("sure", "unsure", "split")}
    for path in images.values():
        path.write_bytes(b"not read here")
    store.write([
        _row(run, images["sure"], "m1", "false", {"false": 0.95, "true": 0.05}),
        _row(run, images["sure"], "m2", "false", {"false": 0.9, "true": 0.1}),
        _row(run, images["unsure"], "m1", "true", {"false": 0.45, "true": 0.55}),
        _row(run, images["unsure"], "m2", "true", {"false": 0.2, "true": 0.8}),
        _row(run, images["split"], "m1", "true", {"false": 0.1, "true": 0.9}),
        _row(run, images["split"], "m2", "false", {"false": 0.7, "true": 0.3}),
    ])
    return db, run, images


def test_queue_puts_disagreement_first_then_the_least_sure_best_model(labelled_run):
    db, run, images = labelled_run
    queue = workbench.label_queue(run, db=db)
    assert list(queue["image_path"]) == [str(images[n]) for n in ("split", "unsure", "sure")]
    assert list(queue["disagree"]) == [True, False, False]
    assert queue["top_probability"].iloc[1] == pytest.approx(0.55)
    assert queue["answers"].iloc[0] == {"m1": "true", "m2": "false"}
    workbench.set_label(run, str(images["split"]), "true", who="ana", db=db)
    assert list(workbench.label_queue(run, db=db)["image_path"])[-1] == str(images["split"])  # labelled: last


def test_set_label_keeps_who_and_when_and_the_latest_wins(labelled_run):
    db, run, images = labelled_run
    workbench.set_label(run, "unsure.png", "true", who="ana", db=db)  # a unique file name is enough
    workbench.set_label(run, str(images["unsure"]), "FALSE", who="ben", db=db)
    store = RunStore(db)
    history = store.conn.execute("SELECT label, who, labelled_at, run_id FROM labels ORDER BY id").fetchall()
    assert [(r["label"], r["who"], r["run_id"]) for r in history] == [("true", "ana", run), ("false", "ben", run)]
    assert all(r["labelled_at"] for r in history)
    row = workbench.label_queue(run, db=db).set_index("image_path").loc[str(images["unsure"])]
    assert (row["label"], row["who"]) == ("false", "ben")


def test_set_label_names_the_fix_for_bad_input(labelled_run):
    db, run, images = labelled_run
    with pytest.raises(ConfigError, match="choose one of: false, true"):
        workbench.set_label(run, str(images["sure"]), "maybe", db=db)
    with pytest.raises(ConfigError, match="label_queue"):
        workbench.set_label(run, "elsewhere.png", "true", db=db)


def test_stored_labels_drive_the_metrics_and_round_trip_through_the_csv(labelled_run, tmp_path):
    db, run, images = labelled_run
    assert evaluate_run(run, db=db).classification.empty or \
        evaluate_run(run, db=db).classification["accuracy"].isna().all()
    for name, label in (("split", "true"), ("unsure", "true"), ("sure", "false")):
        workbench.set_label(run, str(images[name]), label, who="ana", db=db)
    stored = evaluate_run(run, db=db).classification.set_index("model")["accuracy"]
    assert stored.to_dict() == pytest.approx({"m1": 1.0, "m2": 2 / 3})

    path = workbench.export_labels(run, tmp_path / "out" / "labels.csv", db=db)
    rows = list(csv.DictReader(path.open()))
    assert {(r["path"], r["label"], r["task"]) for r in rows} == {
        (str(images["split"]), "true", "moderation"), (str(images["unsure"]), "true", "moderation"),
        (str(images["sure"]), "false", "moderation")}
    RunStore(db).conn.execute("DELETE FROM labels")  # only the CSV now knows the truth
    from_csv = evaluate_run(run, labels=path, db=db).classification.set_index("model")["accuracy"]
    assert from_csv.to_dict() == pytest.approx(stored.to_dict())


def test_an_older_store_opens_and_gains_the_labels_table(tmp_path):
    db = tmp_path / "old.db"
    store = RunStore(db)
    store.conn.execute("DROP TABLE labels")
    store.conn.execute("PRAGMA user_version = 3")
    store.close()
    reopened = RunStore(db)
    assert reopened.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert reopened.latest_labels("moderation") == {}


def test_the_playground_labels_a_run(labelled_run):
    db, run, images = labelled_run
    model = workbench.ModelSpec(name="local", provider="custom", base_url="http://127.0.0.1:9/v1", model="m")
    pg = workbench.Playground("moderation", models=[model], images=[str(p) for p in images.values()], store=None)
    assert pg.label(run, str(images["split"]), "true", db=db) == "true"
    queue = pg.label_queue(run, db=db).set_index("image_path")
    assert (queue.loc[str(images["split"]), "label"], queue.loc[str(images["split"]), "who"]) == ("true", "notebook")


def test_the_playground_label_view_shows_one_image_at_a_time_and_stores_a_click(labelled_run):
    db, run, images = labelled_run
    model = workbench.ModelSpec(name="local", provider="custom", base_url="http://127.0.0.1:9/v1", model="m")
    pg = workbench.Playground("moderation", models=[model], images=[str(p) for p in images.values()], store=None)
    view = pg.label_view(run, db=db, who="ana")
    assert "Image 1 of 3" in view.caption.value and "split.png" in view.caption.value  # disagreement first
    assert "m1" in view.answers.value and "m2" in view.answers.value
    buttons = {b.description: b for b in view.buttons}
    assert sorted(buttons) == ["false", "true"]  # the task's labels, one button each
    buttons["true"].click()
    assert "Image 2 of 3" in view.caption.value and "unsure.png" in view.caption.value
    queue = workbench.label_queue(run, db=db).set_index("image_path")
    assert (queue.loc[str(images["split"]), "label"], queue.loc[str(images["split"]), "who"]) == ("true", "ana")
    view.move(-1)
    assert "split.png" in view.caption.value and "label: <b>true</b>" in view.caption.value
