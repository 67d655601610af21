"""Notebooks are committed clean (no outputs, no execution counts, only kernelspec metadata) and thin (the same
first cell, imports from `workbench` only). `python -m tests.test_notebooks_clean` cleans them in place."""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = ["00_quickstart", "01_moderation", "02_pii_detection", "03_tag_rating", "04_pothole_severity",
            "05_prompt_versions", "06_recommend"]
NOTEBOOK_METADATA = {"kernelspec"}
CELL_METADATA = {"tags"}  # nbval reads tags such as "nbval-skip"
FIX = "run `python -m tests.test_notebooks_clean` to clean them"


def notebooks() -> list[Path]:
    return sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def problems(nb: dict) -> list[str]:
    found = []
    extra = set(nb.get("metadata", {})) - NOTEBOOK_METADATA
    if extra:
        found.append(f"notebook metadata {sorted(extra)}")
    if "kernelspec" not in nb.get("metadata", {}):
        found.append("no kernelspec")
    for i, cell in enumerate(nb["cells"]):
        if cell.get("outputs"):
            found.append(f"cell {i} has outputs")
        if cell.get("execution_count") is not None:
            found.append(f"cell {i} has an execution count")
        extra = set(cell.get("metadata", {})) - CELL_METADATA
        if extra:
            found.append(f"cell {i} metadata {sorted(extra)}")
        if "attachments" in cell:
            found.append(f"cell {i} has attachments")
    return found


def clean(nb: dict) -> dict:
    nb["metadata"] = {k: v for k, v in nb.get("metadata", {}).items() if k in NOTEBOOK_METADATA}
    for cell in nb["cells"]:
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k in CELL_METADATA}
        cell.pop("attachments", None)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb


def _python(source: str) -> str:
    """The cell without IPython magics (`%matplotlib inline`), which are not Python."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _code_cells(nb: dict) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb["cells"] if c["cell_type"] == "code"]


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_task_notebooks_exist():
    assert [p.stem for p in notebooks()] == EXPECTED


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebook_is_clean(path):
    nb = _load(path)
    assert nb["nbformat"] == 4
    found = problems(nb)
    assert not found, f"{path.name} is not clean: {'; '.join(found)} — {FIX}"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebook_imports_only_workbench(path):
    for source in _code_cells(_load(path)):
        for node in ast.walk(ast.parse(_python(source))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert all(n == "workbench" for n in names), (
                f"{path.name} imports {names}: notebooks use the public `workbench` API only — move the code "
                "into the package (with a test)")


def test_every_notebook_starts_with_the_same_cell():
    first = {path.name: _code_cells(_load(path))[0] for path in notebooks()}
    assert len(set(first.values())) == 1, f"first code cells differ: {first}"


def test_cleaning_removes_what_the_check_finds():
    dirty = {"nbformat": 4, "metadata": {"kernelspec": {"name": "python3"}, "widgets": {}, "language_info": {}},
             "cells": [{"cell_type": "code", "source": "1", "metadata": {"scrolled": True, "tags": ["x"]},
                        "outputs": [{"output_type": "stream", "name": "stdout", "text": "1"}],
                        "execution_count": 3}]}
    assert len(problems(dirty)) == 4
    assert problems(clean(dirty)) == []
    assert dirty["cells"][0]["metadata"] == {"tags": ["x"]}


if __name__ == "__main__":
    for path in notebooks():
        nb = _load(path)
        if problems(nb):
            path.write_text(json.dumps(clean(nb), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            print(f"cleaned {path}", file=sys.stderr)
