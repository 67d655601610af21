"""A task registered at run time: run in one process, retried, evaluated and exported in another that never
registers it (the run stores the task's definition)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from PIL import Image

from .fault_server import FaultServer

REPO = Path(__file__).resolve().parents[1]

RUN = textwrap.dedent('''
    import json, sys
    from typing import Literal
    from pydantic import BaseModel, Field
    import workbench
    from workbench.models import ModelSpec

    class Colour(BaseModel):
        color: Literal["red", "green", "blue"]
        confidence: float = Field(0.5, ge=0, le=1)
        notes: list[str] = Field(default_factory=list)

    workbench.register_task(workbench.Task(
        name="my_task", title="Main colour", description="The main colour of the image.",
        prompt='Main colour of this {thing}? JSON: {"color": "red" | "green" | "blue", "confidence": 0-1}',
        schema=Colour, label_field="color", labels=("red", "green", "blue"), examples={"thing": "image"},
        verdict_format="{color} ({confidence:.0%})"))
    folder, labels, db, url = sys.argv[1:]
    spec = ModelSpec(name="fault", provider="custom", base_url=url, model="flaky", timeout=10)
    run = workbench.run_batch(folder, "my_task", [spec], labels=labels, db=db, workers=2, progress=False)
    print(json.dumps({"run_id": run.run_id, "answered": run.answered, "failed": run.failed}))
''')

AFTER = textwrap.dedent('''
    import json, sys
    from pydantic import ValidationError
    import workbench
    from workbench.store import RunStore
    from workbench.tasks import TASKS

    run_id, db, out = sys.argv[1:]
    assert "my_task" not in TASKS
    task = RunStore(db).task(run_id)
    try:
        task.schema.model_validate({"color": "purple"})
        rejects_purple = False
    except ValidationError:
        rejects_purple = True
    run = workbench.retry_failed(run_id, db=db, progress=False)
    ev = workbench.evaluate_run(run_id, db=db)
    path = workbench.export_run(run_id, out, format="jsonl", db=db)
    row = ev.classification.iloc[0]
    print(json.dumps({"answered": run.answered, "failed": run.failed, "calls": run.calls,
                      "labelled": int(row["labelled"]), "accuracy": float(row["accuracy"]),
                      "confusion": ev.confusion[("fault", "default")].to_dict(),
                      "kind": task.kind, "labels": list(task.labels),
                      "rejects_purple": rejects_purple,
                      "exported": [json.loads(line)["label"] for line in open(path)]}))
''')


def _python(code: str, *args) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_custom_task_run_in_one_process_is_retried_and_evaluated_in_another(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (20, 12), (40 * i, 10, 99)).save(folder / f"img{i}.png")
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\nimg0.png,red\nimg1.png,red\nimg2.png,green\nimg3.png,\n")  # img3 unlabelled
    db = tmp_path / "wb.db"
    with FaultServer(reply_text='{"color": "red", "confidence": 0.9}') as server:
        server.script["flaky"] = ["400", "400", "ok"]  # the first two calls fail for good, the rest answer

        first = _python(RUN, folder, labels, db, server.url)
        assert (first["answered"], first["failed"]) == (2, 2)

        after = _python(AFTER, first["run_id"], db, tmp_path / "out.jsonl")

    assert (after["answered"], after["failed"], after["calls"]) == (4, 0, 2)  # only the failures were sent
    assert after["kind"] == "classification" and after["labels"] == ["red", "green", "blue"]
    assert after["rejects_purple"]  # the schema rebuilt from the store still validates
    # Every image answers "red": right on img0 and img1, wrong on img2; img3 has no label.
    assert after["labelled"] == 3 and abs(after["accuracy"] - 2 / 3) < 1e-9
    assert after["confusion"]["red"] == {"green": 1, "red": 2}
    assert after["exported"] == ["red"] * 4
