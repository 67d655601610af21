"""The CLI's exit codes and messages, which scripts rely on."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from workbench.cli import main

from .fault_server import fault_server  # noqa: F401
from .test_batch import make_images

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def images(tmp_path):
    make_images(tmp_path / "imgs", 4)
    return tmp_path / "imgs"


def batch(images, server, *models, db, extra=()) -> list[str]:
    args = ["batch", "--path", str(images), "--task", "ask", "--api-base", server.url, "--db", str(db),
            "--no-progress", "--json"]
    for model in models:
        args += ["--model", model]
    return args + list(extra)


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_exit_0_when_every_item_is_answered_then_eval_export_runs_show(images, fault_server, tmp_path, capsys):
    db = tmp_path / "wb.db"
    assert main(batch(images, fault_server, "ok", "cost", db=db)) == 0
    summary = last_json(capsys)
    assert (summary["total"], summary["answered"], summary["exit_code"]) == (8, 8, 0)
    run = summary["run_id"]

    assert main(["eval", run, "--db", str(db), "--out", str(tmp_path / "eval")]) == 0
    out = capsys.readouterr()
    assert "## summary" in out.out and "pass --labels" in out.err
    assert (tmp_path / "eval" / "summary.csv").exists()

    for fmt in ("csv", "jsonl", "parquet"):
        assert main(["export", run, "--format", fmt, "--db", str(db), "-o", str(tmp_path / f"out.{fmt}")]) == 0
        assert capsys.readouterr().out.strip() == str(tmp_path / f"out.{fmt}")  # the path written, for scripts
    assert len(pd.read_csv(tmp_path / "out.csv")) == 8
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == 8 and json.loads(lines[0])["run_id"] == run
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 8

    assert main(["runs", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["run_id"] == run
    assert main(["show", run, "--db", str(db)]) == 0
    assert "img0000.png" in capsys.readouterr().out


def test_a_batch_run_again_is_up_to_date_unless_a_new_run_is_asked_for(images, fault_server, tmp_path, capsys):
    db = tmp_path / "wb.db"
    assert main(batch(images, fault_server, "ok", db=db)) == 0
    first = last_json(capsys)
    assert main(batch(images, fault_server, "ok", db=db)) == 0
    again = last_json(capsys)
    assert again["up_to_date"] and again["run_id"] == first["run_id"] and again["calls"] == 0
    args = batch(images, fault_server, "ok", db=db)
    args.remove("--json")
    assert main(args) == 0
    out = capsys.readouterr()
    assert "up to date" in out.out and "--new-run" in out.err and "--force" in out.err
    assert main(batch(images, fault_server, "ok", db=db, extra=["--new-run"])) == 0
    new = last_json(capsys)
    assert new["run_id"] != first["run_id"] and (new["calls"], new["cached"], new["up_to_date"]) == (0, 4, False)
    assert fault_server.calls_for("ok") == 4


def test_exit_1_when_some_items_failed_and_retry(images, fault_server, tmp_path, capsys):
    db = tmp_path / "wb.db"
    fault_server.script["half"] = ["400", "ok", "400", "ok"] + ["ok"]
    assert main(batch(images, fault_server, "half", db=db, extra=["--workers", "1"])) == 1
    summary = last_json(capsys)
    assert (summary["answered"], summary["failed"]) == (2, 2)
    assert main(["retry", summary["run_id"], "--db", str(db), "--no-progress", "--json"]) == 0
    assert last_json(capsys)["failed"] == 0


def test_exit_3_when_nothing_is_answered(images, fault_server, tmp_path, capsys):
    assert main(batch(images, fault_server, "401", db=tmp_path / "wb.db")) == 3
    summary = last_json(capsys)
    assert summary["answered"] == 0 and "authentication failures" in summary["messages"][0]
    unreachable = ["batch", "--path", str(images), "--task", "ask", "--model", "x", "--api-base",
                   "http://127.0.0.1:9/v1", "--db", str(tmp_path / "wb.db"), "--no-progress"]
    assert main(unreachable) == 3
    assert "not answering" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["batch", "--path", "IMAGES", "--task", "no_such_task", "--model", "m", "--api-base", "URL"], "unknown task"),
    (["batch", "--path", "IMAGES", "--task", "ask", "--model", "No such model"], "unknown model"),
    (["batch", "--path", "IMAGES", "--task", "tag_rating", "--model", "m", "--api-base", "URL"], "{tag}"),
    (["batch", "--path", "IMAGES", "--task", "ask", "--model", "m", "--api-base", "localhost"], "not a URL"),
    (["batch", "--path", "IMAGES", "--task", "ask", "--model", "m", "--api-base", "URL", "--var", "tag"],
     "NAME=VALUE"),
    (["eval", "no-such-run"], "no run 'no-such-run'"),
    (["export", "no-such-run", "--format", "csv"], "no run"),
])
def test_exit_2_on_usage_and_configuration_errors(argv, message, images, fault_server, tmp_path, capsys):
    argv = [a.replace("IMAGES", str(images)).replace("URL", fault_server.url) for a in argv]
    assert main([*argv, "--db", str(tmp_path / "wb.db")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench: error: ") and message in err
    assert fault_server.calls_for("m") == 0


def test_argparse_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", "--task", "ask"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", "--path", "x", "--task", "ask", "--model", "m", "--workers", "0"])
    assert exit_info.value.code == 2


def test_pii_toolkit_aliases(images, fault_server, tmp_path, capsys):
    argv = ["batch", "--path", str(images), "--task", "pii_detection", "--multimodal-model", "ok",
            "--multimodal-api-base", fault_server.url, "--multimodal-timeout", "5", "--db", str(tmp_path / "wb.db"),
            "--no-progress", "--json"]
    assert main(argv) == 0
    assert last_json(capsys)["answered"] == 4
    assert fault_server.calls_for("ok") == 4


def test_run_one_image(images, fault_server, capsys):
    code = main(["run", str(images / "img0000.png"), "--task", "ask", "--model", "ok", "--model", "404",
                 "--api-base", fault_server.url])
    assert code == 1  # one model answered, one failed
    out = capsys.readouterr().out
    assert "ok: ok" in out and "404: error" in out


def test_entry_points_and_light_import(tmp_path):
    probe = ("import sys, workbench.cli; heavy = [m for m in ('torch', 'transformers', 'pandas', 'openai', "
             "'matplotlib') if m in sys.modules]; print(heavy)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
    done = subprocess.run([sys.executable, "-m", "workbench", "runs", "--db", str(tmp_path / "wb.db")],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0 and "no runs yet" in done.stderr
    done = subprocess.run([sys.executable, "-m", "workbench"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 2 and "usage: workbench" in done.stderr


def test_parquet_without_pyarrow_is_a_clear_usage_error(images, fault_server, tmp_path, capsys, monkeypatch):
    db = tmp_path / "wb.db"
    assert main(batch(images, fault_server, "ok", db=db)) == 0
    run = last_json(capsys)["run_id"]
    monkeypatch.setattr("workbench.exports.parquet_available", lambda: False)
    assert main(["export", run, "--format", "parquet", "--db", str(db)]) == 2
    assert "pip install pyarrow" in capsys.readouterr().err


def test_prompt_files_are_versions_and_eval_shows_what_changed(images, fault_server, tmp_path, capsys):
    (tmp_path / "short.txt").write_text("Describe it.")
    (tmp_path / "long.txt").write_text("Describe this image in detail.")
    db = tmp_path / "wb.db"
    argv = batch(images, fault_server, "ok", db=db, extra=["--prompt-file", str(tmp_path / "short.txt"),
                                                            "--prompt-file", f"v2={tmp_path / 'long.txt'}"])
    assert main(argv) == 0
    summary = last_json(capsys)
    assert summary["total"] == 8 and fault_server.calls_for("ok") == 8
    assert main(["eval", summary["run_id"], "--db", str(db), "--json"]) == 0
    tables = json.loads(capsys.readouterr().out)
    assert {row["prompt_version"] for row in tables["summary"]} == {"short", "v2"}


def test_models_lists_availability(capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["models", "--json"]) == 0
    models = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert models["GPT-4o mini (OpenAI)"]["status"] == "key_missing"
    assert all(m["status"] for m in models.values())
