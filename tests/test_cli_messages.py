"""What the CLI prints where a person reads it: unknown cost, plurals, pipes, progress bars."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workbench.cli import main

from .fault_server import fault_server  # noqa: F401
from .test_batch import make_images

REPO = Path(__file__).resolve().parents[1]


def test_eval_prints_unknown_cost_as_a_dash_never_nan(tmp_path, fault_server, capsys):  # noqa: F811
    make_images(tmp_path / "imgs", 2)
    db = str(tmp_path / "wb.db")
    # "ok" on a custom URL has no price: its cost is unknown, not free
    assert main(["batch", "--path", str(tmp_path / "imgs"), "--task", "ask", "--api-base", fault_server.url,
                 "--model", "ok", "--db", db, "--no-progress"]) == 0
    run_id = capsys.readouterr().out.split()[1].rstrip(":")
    assert main(["eval", run_id, "--db", db]) == 0
    out = capsys.readouterr().out
    assert "## summary" in out and "—" in out
    assert "nan" not in out.lower() and "$0.00" not in out


def test_one_failed_item_reads_item_not_items(tmp_path, fault_server, capsys):  # noqa: F811
    make_images(tmp_path / "imgs", 2)
    fault_server.script["once"] = ["400", "ok"]
    assert main(["batch", "--path", str(tmp_path / "imgs"), "--task", "ask", "--api-base", fault_server.url,
                 "--model", "once", "--db", str(tmp_path / "wb.db"), "--no-progress", "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "1 item failed" in err and "1 items" not in err


def test_piping_into_head_ends_quietly(tmp_path):
    db = tmp_path / "wb.db"
    make_images(tmp_path / "imgs", 1)
    script = ("import sys; from workbench.cli import main; sys.stdout.close = lambda: None; "
              "sys.exit(main(sys.argv[1:]))")
    # `models` prints a table; `head -c 1` closes the pipe after one byte
    shell = (f"{sys.executable} -c {script!r} models --json | head -c 1 >/dev/null; "
             "echo \"status=${PIPESTATUS[0]}\"")
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "WORKBENCH_DB": str(db)})
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert "status=0" in done.stdout


def test_no_progress_silences_the_libraries_bars_too(tmp_path, tiny_llava_dir):
    make_images(tmp_path / "imgs", 1)
    models = tmp_path / "models.toml"
    models.write_text(f'[[models]]\nname = "tiny"\nbackend = "transformers"\nmodel = "{tiny_llava_dir}"\n'
                      'device = "cpu"\n')
    done = subprocess.run([sys.executable, "-m", "workbench", "batch", "--path", str(tmp_path / "imgs"), "--task",
                           "ask", "--model", "tiny", "--models-file", str(models), "--db", str(tmp_path / "wb.db"),
                           "--no-progress", "--max-tokens", "4"],
                          capture_output=True, text=True, cwd=REPO, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    assert "%|" not in done.stderr and "it/s" not in done.stderr, done.stderr  # no tqdm bar of any library
