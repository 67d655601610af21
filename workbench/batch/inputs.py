"""A batch's inputs: images from folders, files and CSVs (with labels and prompt variables), and its prompt
versions."""
from __future__ import annotations

import csv
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..store import VERSION_NAME, RunStore
from ..tasks import Task, get_task

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".heif")
PATH_COLUMNS = ("path", "file", "image", "filename")

@dataclass(frozen=True)
class BatchInput:
    """One image of a batch: its path, the expected label (if known) and task variables such as `tag`."""

    path: str
    label: str | None = None
    variables: dict = field(default_factory=dict, hash=False)


def collect_inputs(source, task: str | Task | None = None) -> list[BatchInput]:
    """A folder (searched recursively), one image, a CSV, or a list of any of these → the batch's inputs.

    A CSV has a `path` (or `file`) column, relative to the CSV's folder, an optional `label`, an optional
    `task` (rows of other tasks are skipped, as in sample_images/labels.csv) and any other columns as prompt
    variables (e.g. `tag`)."""
    task_name = get_task(task).name if task is not None else None
    if isinstance(source, (str, os.PathLike, BatchInput)):
        source = [source]
    inputs: list[BatchInput] = []
    for entry in source:
        if isinstance(entry, BatchInput):
            inputs.append(dataclasses.replace(entry, path=os.path.abspath(entry.path)))
            continue
        if isinstance(entry, dict):  # {"path": ..., "label": ..., "tag": ...}
            inputs.extend(_csv_rows([entry], Path.cwd(), task_name, "a dict"))
            continue
        path = Path(entry)
        if path.is_dir():
            inputs.extend(BatchInput(p) for p in _images_in(path))
        elif path.suffix.lower() == ".csv":
            inputs.extend(_read_csv(path, task_name))
        elif path.exists():
            inputs.append(BatchInput(os.path.abspath(path)))
        else:
            raise ConfigError(f"{path} does not exist — pass a folder of images, an image, or a CSV with a "
                              "`path` column")
    return _unique(inputs)


def with_labels(inputs: list[BatchInput], labels, task: str | Task | None = None) -> list[BatchInput]:
    """Attach a labels CSV (or rows of one) to inputs, by path and else by file name.

    An image with several label rows (tag ratings: one row per tag) becomes one input per row, with that row's
    variables; an image without a row is kept unlabelled."""
    _check_label_columns(labels)
    rows = collect_inputs(labels if not hasattr(labels, "to_dict") else labels.to_dict("records"), task)
    by_path: dict[str, list[BatchInput]] = {}
    by_name: dict[str, list[BatchInput]] = {}
    for row in rows:
        by_path.setdefault(row.path, []).append(row)
        by_name.setdefault(os.path.basename(row.path), []).append(row)
    out = []
    for inp in inputs:
        matches = by_path.get(inp.path) or by_name.get(os.path.basename(inp.path)) or []
        out.extend([BatchInput(inp.path, m.label, {**inp.variables, **m.variables}) for m in matches] or [inp])
    return _unique(out)


def _check_label_columns(labels) -> None:
    """A labels table must name its image column and its `label` column: without them every image would be
    silently unlabelled, and evaluation would later say that no labels were passed."""
    if hasattr(labels, "columns"):  # a DataFrame
        where, columns = "labels", [str(c) for c in labels.columns]
    elif isinstance(labels, (str, os.PathLike)) and Path(labels).suffix.lower() == ".csv":
        where, columns = str(labels), _csv_header(Path(labels))
    elif isinstance(labels, list) and labels and all(isinstance(r, dict) for r in labels):
        where, columns = "labels", list(dict.fromkeys(str(k) for r in labels for k in r))
    else:
        return
    names = {c.strip().lower() for c in columns}
    if names & set(PATH_COLUMNS) and "label" in names:
        return
    raise ConfigError(f"{where} has no {'image' if not names & set(PATH_COLUMNS) else 'label'} column (its "
                      f"columns: {', '.join(columns) or 'none'}) — a labels CSV names the image column one of "
                      f"{', '.join(PATH_COLUMNS)} and the expected answer column `label`")


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fp:
            return next(csv.reader(fp), [])
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(f"cannot read the CSV {path}: {e}") from None


def _images_in(folder: Path) -> list[str]:
    """Absolute paths of the supported images under `folder`, recursively, hidden files and folders skipped."""
    found = []
    for root, dirs, files in os.walk(os.path.abspath(folder)):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, f) for f in sorted(files)
                     if not f.startswith(".") and f.lower().endswith(IMAGE_SUFFIXES))
    return found


def _read_csv(path: Path, task_name: str | None) -> list[BatchInput]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fp:
            rows = list(csv.DictReader(fp))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(f"cannot read the CSV {path}: {e}") from None
    return _csv_rows(rows, path.parent, task_name, str(path))


def _csv_rows(rows: list[dict], base: Path, task_name: str | None, where: str) -> list[BatchInput]:
    inputs = []
    for n, row in enumerate(rows, start=2):
        row = {str(k).strip().lower(): _cell(v) for k, v in row.items() if k}
        column = next((c for c in PATH_COLUMNS if row.get(c)), None)
        if column is None:
            raise ConfigError(f"{where}: row {n} has no image path — name the column one of: "
                              f"{', '.join(PATH_COLUMNS)}")
        if task_name and row.get("task") and row["task"] != task_name:
            continue
        variables = {k: v for k, v in row.items()
                     if k not in (*PATH_COLUMNS, "label", "task") and v not in (None, "")}
        label = row.get("label")
        inputs.append(BatchInput(os.path.abspath(base / row[column]), None if label in (None, "") else str(label),
                                 variables))
    return inputs


def _cell(value):
    """A DataFrame's cell as a CSV's: blank (NaN, pd.NA) is no value, not the label "nan"; a whole float
    (pandas reads an integer column with a hole as floats) is the integer it stands for."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float):
        return None if value != value else int(value) if value.is_integer() else value
    return None if type(value).__name__ in ("NAType", "NaTType") else value


def _unique(inputs: list[BatchInput]) -> list[BatchInput]:
    seen, out = set(), []
    for inp in inputs:
        key = (inp.path, variables_key(inp.variables))
        if key not in seen:
            seen.add(key)
            out.append(inp)
    return out


def variables_text(variables: dict, texts: dict[str, str]) -> str:
    """Variables as the store keeps them (compact JSON), encoded once per distinct value."""
    key = variables_key(variables)
    if key not in texts:
        texts[key] = json.dumps(variables, ensure_ascii=False, separators=(",", ":"))
    return texts[key]


def variables_key(variables: dict) -> str:
    return json.dumps(variables, sort_keys=True, ensure_ascii=False) if variables else "{}"


def prompt_versions(task: Task, prompts=None, store: RunStore | None = None) -> dict[str, str]:
    """The batch's {version name: template}.

    None → the task's prompt as "default"; a dict is kept as given (always literal texts). A string, or each
    string of a list, is a *saved version's name* when it looks like one — no whitespace, up to 64 letters,
    digits, '.', '_' or '-' (`store.VERSION_NAME`) — and is then read from `store` for this task, keeping its
    name; a name-like string that is not saved raises ConfigError (a typo must not be sent as the prompt).
    Anything else (a prompt has spaces) is a template named by position: v1, v2, … Without a store, every
    string is a template."""
    if prompts is None:
        return {"default": task.prompt}
    if isinstance(prompts, dict):
        if not prompts:
            raise ConfigError("prompts is empty — give at least one prompt version, or None for the task's own")
        return {str(k): str(v) for k, v in prompts.items()}
    entries = [prompts] if isinstance(prompts, str) else [str(p) for p in prompts]
    if not entries:
        raise ConfigError("prompts is empty — give at least one prompt version, or None for the task's own")
    names = [p for p in entries if VERSION_NAME.fullmatch(p)] if store is not None else []
    saved = store.prompt_version_texts(task.name, names) if names else {}
    missing = [n for n in names if n not in saved]
    if missing:
        listed = store.list_prompt_versions(task.name)["name"].tolist()
        hint = f"saved for {task.name}: {', '.join(listed)}" if listed else f"no version of {task.name} is saved"
        raise ConfigError(f"prompts: {', '.join(map(repr, missing))} looks like a saved version's name, but "
                          f"{store.path} has no such version ({hint}) — save it first, or pass the prompt text "
                          "itself (or a dict {name: text})")
    versions: dict[str, str] = {}
    for i, entry in enumerate(entries, start=1):
        name = entry if entry in saved else f"v{i}"
        if name in versions:
            raise ConfigError(f"prompts: two versions would both be named {name!r} — pass a dict {{name: text}}")
        versions[name] = saved.get(entry, entry)
    return versions
