"""Run many images through N models × M prompt versions: bounded, resumable, and never paying twice.

    from workbench.batch import run_batch, retry_failed
    run = run_batch("sample_images/", task="pii_detection", models=["GPT-4o mini (OpenAI)"])
    run.results()                # a DataFrame, one row per image × model × prompt version
    retry_failed(run.run_id)     # re-sends only the items stored as failures

Every item ends as a stored row — an answer or a typed failure — in the run store (`workbench.store`). Items
already stored in the run are skipped (resume), and a call whose image, prompt, model and parameters match a
stored answer is copied from the store instead of being sent (cache), unless `force=True`.

Each backend server is a *lane* with its own bounded concurrency: HTTP backends run as asyncio tasks on one
event loop; local backends run in one worker thread, batched through `chat_batch` where the backend has it.
A 429 pauses the whole lane (honouring retry-after) and halves its concurrency; after `max_auth_failures`
consecutive 401/403s the lane stops and its remaining items are stored as failures without being sent.
Images are read by a few decoder threads (`decoder_threads`) just ahead of the workers, and released once their calls
finish.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import csv
import dataclasses
import hashlib
import itertools
import json
import math
import os
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from .backends import Availability, Capabilities, ChatRequest, get_backend
from .errors import AuthError, BackendError, ConfigError, ImageError, RateLimitError, WorkbenchError
from .lifecycle import CallPlan, attempt_async, check_mode, failure, prompt_hash, settle
from .images import DEFAULT_MAX_EDGE, LoadedImage, load_image, resized
from .models import ModelSpec, resolve_models
from .results import Result
from .store import VERSION_NAME, RunStore, now_iso
from .tasks import Task, get_task

if TYPE_CHECKING:
    import pandas as pd

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".heif")
PATH_COLUMNS = ("path", "file", "image", "filename")
DEFAULT_WORKERS = 8
DEFAULT_MAX_ATTEMPTS = 5  # first try + 4 retries of 429 / 5xx / dropped connections
DEFAULT_MAX_AUTH_FAILURES = 3
GROUP_COMMIT_S = 0.05  # a result waits at most this long for its commit (and only then counts as done)
_BASE_PAUSE_S = 0.05
_STORED = {"stored": True}  # in _Execution.answered: this answer is committed (look it up in the store)
_MAX_PAUSE_S = 300.0
_ASSUMED_CALL_S = 0.05  # until a lane's first answers: a fast server, so photos get their decoders at once


# --- inputs -----------------------------------------------------------------------------------------------


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
        key = (inp.path, _variables_key(inp.variables))
        if key not in seen:
            seen.add(key)
            out.append(inp)
    return out


def _variables_text(variables: dict, texts: dict[str, str]) -> str:
    """Variables as the store keeps them (compact JSON), encoded once per distinct value."""
    key = _variables_key(variables)
    if key not in texts:
        texts[key] = json.dumps(variables, ensure_ascii=False, separators=(",", ":"))
    return texts[key]


def _variables_key(variables: dict) -> str:
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


# --- the result of a batch ----------------------------------------------------------------------------------


@dataclass
class BatchProgress:
    """What a progress callback receives (from a background thread) after every write to the store."""

    run_id: str
    total: int
    done: int  # stored, in this run, including items stored before a resume
    failed: int
    cached: int
    calls: int  # calls sent by this process, retries included
    spent_usd: float | None  # cost of this process's calls where known; None: nothing priced yet
    elapsed_s: float
    eta_s: float | None
    projected_usd: float | None = None  # spent + the remaining items at the average priced cost so far

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def describe(self) -> str:
        from .costs import format_usd

        eta = "" if self.eta_s is None else f" · ETA {int(self.eta_s // 60)}:{int(self.eta_s % 60):02d}"
        projected = "" if self.projected_usd is None else f" (≈{format_usd(self.projected_usd)} projected)"
        return (f"{self.done}/{self.total} items · {self.failed} failed · {self.cached} from cache · "
                f"{format_usd(self.spent_usd)} spent{projected}{eta}")


@dataclass
class BatchRun:
    run_id: str
    db: str
    task: str
    total: int  # items in the batch (images × models × prompt versions)
    answered: int  # stored with a model answer (any parsed status, `invalid_output` included)
    failed: int  # stored as a typed failure: `retry_failed(run_id)` re-sends these
    cached: int  # items of this run served from the store, without a call
    calls: int  # calls this process sent, retries included
    spent_usd: float | None  # cost of those calls, where known
    elapsed_s: float
    resumed: bool  # an interrupted run of the same batch was continued
    messages: list[str] = field(default_factory=list)  # lane stops, unavailable models
    up_to_date: bool = False  # the same batch had finished, all answered, no image changed: that run, unchanged

    @property
    def complete(self) -> bool:
        return self.answered + self.failed >= self.total

    def results(self) -> "pd.DataFrame":
        return RunStore(self.db).results(self.run_id)

    def summary(self) -> str:
        from .costs import format_usd

        if self.up_to_date:
            return (f"run {self.run_id}: up to date — {self.total} items, all answered earlier, no image changed "
                    f"since; nothing sent, {self.elapsed_s:.1f} s")
        return (f"run {self.run_id}: {self.total} items, {self.answered} answered, {self.failed} failed, "
                f"{self.cached} from cache, {self.calls} calls, {format_usd(self.spent_usd)} spent, "
                f"{self.elapsed_s:.1f} s")


# --- entry points ---------------------------------------------------------------------------------------------


def decoder_threads() -> int:
    """Threads that may decode and encode a batch's images: min(4, cores), or $WORKBENCH_DECODERS. Pillow lets
    go of the GIL while it decodes, resizes and encodes, so photos are read on several cores; a lane uses only as
    many as keep up with its calls (one, for small images: see `_Lane._readers`)."""
    given = os.environ.get("WORKBENCH_DECODERS", "").strip()
    if not given:
        return max(1, min(4, os.cpu_count() or 2))
    if not given.isdigit() or int(given) < 1:
        raise ConfigError(f"WORKBENCH_DECODERS must be a whole number of threads, at least 1 (got {given!r}) — "
                          "set it to e.g. 2, or unset it for the default")
    return int(given)


def run_batch(inputs, task: str | Task, models=None, *, prompts=None, variables: dict | None = None, labels=None,
              db: str | os.PathLike | RunStore | None = None, keys: dict[str, str] | None = None,
              workers: int = DEFAULT_WORKERS, max_tokens: int = 512, temperature: float = 0.0,
              max_edge: int | None = None, detail: str | None = None, mode: str = "generate",
              force: bool = False, run_id: str | None = None, resume: bool = True, batch_size: int = 1,
              max_attempts: int = DEFAULT_MAX_ATTEMPTS, max_auth_failures: int = DEFAULT_MAX_AUTH_FAILURES,
              progress: bool = True, on_progress: Callable[[BatchProgress], None] | None = None,
              source: str | None = None) -> BatchRun:
    """Run every input through every model and prompt version; returns when every item is stored.

    inputs: a folder, an image, a CSV (path,label[,task][,variables…]), or a list of those / `BatchInput`s.
    prompts: None (the task's prompt), a template, a list of templates (v1, v2…) or {version: template}; in a
    string or list, a whitespace-free name such as "strict" is a prompt version saved in the store for this task
    (`RunStore.save_prompt_version`, the playground's "Save as prompt version"); see `prompt_versions`.
    variables: default prompt variables for every input (a CSV's columns win).
    labels: a labels CSV (path|file, label[, task][, variables]) matched to the inputs by path or file name; the
    labels are stored with the results, so the run can be evaluated later without the file.
    workers: concurrent calls per HTTP lane (local models always run one at a time, `batch_size` per call).
    force: send every call even when the store holds the answer. resume: continue the unfinished run of the
    very same batch instead of starting a new one; when that batch has finished with every item answered and no
    image file has changed since, return its run as it is (`up_to_date`), sending nothing. run_id: continue
    that run.
    Bad settings (unknown task or model, missing prompt variables, unreadable CSV) raise ConfigError before
    anything is sent; every failure after that is stored with its item."""
    started = time.perf_counter()
    task = get_task(task)
    check_mode(mode)
    if workers < 1 or batch_size < 1 or max_attempts < 1 or max_auth_failures < 1:
        raise ConfigError("workers, batch_size, max_attempts and max_auth_failures must be at least 1")
    decoder_threads()  # a bad $WORKBENCH_DECODERS is a settings error: raise before the run exists
    specs = resolve_models(models)
    for spec in specs:
        get_backend(spec.backend)  # an unknown backend is a settings error: raise before the run exists
    given = collect_inputs(inputs, task)
    if labels is not None:
        given = with_labels(given, labels, task)
    if not given:
        raise ConfigError(f"no images found in {inputs!r} (looked for {', '.join(IMAGE_SUFFIXES)})")
    store = db if isinstance(db, RunStore) else RunStore(db)
    versions = prompt_versions(task, prompts, store)
    if variables:
        given = [dataclasses.replace(i, variables={**variables, **i.variables}) for i in given]
    params = {"max_tokens": max_tokens, "temperature": temperature, "max_edge": max_edge, "detail": detail,
              "mode": mode}
    items = _expand(given, specs, versions, task, params)
    fingerprint = _fingerprint(task, specs, versions, params, given)
    resumed = False
    if run_id is not None:
        run_id = store.run(run_id)["id"]
        store.mark_running(run_id)
        resumed = True
    elif resume and not force:
        run_id = store.unfinished_run(fingerprint)
        resumed = run_id is not None
        if run_id is None and (done := _up_to_date(store, fingerprint, given)) is not None:
            return _nothing_to_do(store, done, task, len(items), started)
    if run_id is None:
        run_id = store.create_run(task=task.name, models=[s.model_dump(mode="json") for s in specs],
                                  prompts=versions, params=params, source=source or _describe(inputs),
                                  fingerprint=fingerprint, n_items=len(items), task_definition=task.definition())
    options = _Options(keys=keys, workers=workers, batch_size=batch_size, max_attempts=max_attempts,
                       max_auth_failures=max_auth_failures, force=force)
    return _Execution(store, run_id, task, params, options, items, resumed, progress, on_progress).run()


def _up_to_date(store: RunStore, fingerprint: str, inputs: list[BatchInput]) -> str | None:
    """The finished run of this very batch, if every item of it was answered and no image file changed since:
    a new run would only copy the same answers out of the store."""
    run_id = store.finished_run(fingerprint)
    recorded = store.answered_images(run_id) if run_id else None
    if recorded is None or any(recorded.get(inp.path) != _stat(inp.path) for inp in inputs):
        return None
    return run_id


def _nothing_to_do(store: RunStore, run_id: str, task: Task, total: int, started: float) -> BatchRun:
    counts = store.counts(run_id)
    message = (f"run {run_id} is up to date: every item answered and no image changed since, so nothing was "
               "sent — force=True (--force) sends every call again; resume=False (--new-run) starts a new run "
               "served from the store")
    return BatchRun(run_id, str(store.path), task.name, total, counts["answered"], counts["failed"], cached=total,
                    calls=0, spent_usd=None, elapsed_s=time.perf_counter() - started, resumed=False,
                    messages=[message], up_to_date=True)


def retry_failed(run_id: str, *, db: str | os.PathLike | RunStore | None = None,
                 keys: dict[str, str] | None = None, workers: int = DEFAULT_WORKERS, batch_size: int = 1,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, max_auth_failures: int = DEFAULT_MAX_AUTH_FAILURES,
                 progress: bool = True, on_progress: Callable[[BatchProgress], None] | None = None) -> BatchRun:
    """Re-send only the items of `run_id` stored as failures (a stored answer elsewhere is still reused)."""
    decoder_threads()
    store = db if isinstance(db, RunStore) else RunStore(db)
    run = store.run(run_id)
    task = store.task(run["id"])  # the stored definition: the task need not be registered in this process
    specs = {m["name"]: ModelSpec(**m) for m in run["models"]}
    params = run["params"]
    items = []
    for row in store.failed_rows(run["id"]):
        spec = specs.get(row["model"])
        template = run["prompts"].get(row["prompt_version"])
        if spec is None or template is None:
            continue
        inp = BatchInput(row["image_path"], row["expected"], row["variables"] or {})
        items.append(_item(inp, spec, row["prompt_version"], task.render(template, inp.variables), params))
    store.mark_running(run["id"])
    options = _Options(keys=keys, workers=workers, batch_size=batch_size, max_attempts=max_attempts,
                       max_auth_failures=max_auth_failures, force=False, retrying=True)
    return _Execution(store, run["id"], task, params, options, items, True, progress, on_progress,
                      total=run["n_items"]).run()


# --- items --------------------------------------------------------------------------------------------------


@dataclass(eq=False)  # identity: an item is a dict key while its image is in flight
class _Item:
    input: BatchInput
    spec: ModelSpec
    version: str
    text: str  # the rendered prompt
    prompt_hash: str
    params_hash: str
    model_key: str
    image_hash: str | None = None
    call_key: str | None = None

    @property
    def key(self) -> tuple:
        """Unique within a run (the store's UNIQUE constraint)."""
        return (self.input.path, self.spec.name, self.version, self.prompt_hash)

    def set_image_hash(self, sha256: str) -> None:
        self.image_hash = sha256
        self.call_key = hashlib.sha256(
            f"{sha256}|{self.prompt_hash}|{self.model_key}|{self.params_hash}".encode()).hexdigest()[:32]


def _expand(inputs: list[BatchInput], specs: list[ModelSpec], versions: dict[str, str], task: Task,
            params: dict) -> list["_Item"]:
    """Image-major order, so one decoded image serves all its models and prompt versions in a lane."""
    items = []
    params_hash = _params_hash(params)
    model_keys = [_model_key(spec) for spec in specs]
    prompts: dict[tuple, tuple[str, str]] = {}  # (version, variables) -> (text, hash): most inputs share one
    for inp in inputs:
        for version, template in versions.items():
            key = (version, _variables_key(inp.variables) if inp.variables else "")
            if key not in prompts:
                try:
                    text = task.render(template, inp.variables)
                except ConfigError as e:
                    raise ConfigError(f"{inp.path}: {e} (a CSV column of that name, or variables=, provides it)") \
                        from None
                prompts[key] = (text, prompt_hash(text))
            text, text_hash = prompts[key]
            items.extend(_Item(inp, spec, version, text, text_hash, params_hash, model_key)
                         for spec, model_key in zip(specs, model_keys))
    return items


def _item(inp: BatchInput, spec: ModelSpec, version: str, text: str, params: dict) -> _Item:
    return _Item(inp, spec, version, text, prompt_hash(text), _params_hash(params), _model_key(spec))


def _params_hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def _model_key(spec: ModelSpec) -> str:
    """What makes two calls the same model: not the display name, which the user may rename."""
    return "|".join(str(x) for x in (spec.backend, spec.resolved_base_url or "", spec.model, spec.quantization,
                                     spec.max_edge, spec.detail, spec.dtype))


def _fingerprint(task: Task, specs, versions, params, inputs: list[BatchInput]) -> str:
    digest = hashlib.sha256(json.dumps([task.name, [(s.name, _model_key(s)) for s in specs], versions, params],
                                       sort_keys=True).encode())
    for inp in inputs:
        digest.update(f"\n{inp.path}\t{_variables_key(inp.variables)}\t{inp.label}".encode())
    return digest.hexdigest()[:32]


def _describe(inputs) -> str:
    if isinstance(inputs, (str, os.PathLike)):
        return str(inputs)
    try:
        return f"{len(inputs)} inputs"
    except TypeError:
        return "inputs"


# --- execution ------------------------------------------------------------------------------------------------


@dataclass
class _Options:
    keys: dict | None
    workers: int
    batch_size: int
    max_attempts: int
    max_auth_failures: int
    force: bool
    retrying: bool = False


class _Execution:
    """One pass over a run's pending items: skip stored ones, copy cached ones, send the rest."""

    def __init__(self, store: RunStore, run_id: str, task: Task, params: dict, options: _Options,
                 items: list[_Item], resumed: bool, show_progress: bool,
                 on_progress: Callable[[BatchProgress], None] | None, total: int | None = None) -> None:
        self.store, self.run_id, self.task, self.params, self.options = store, run_id, task, params, options
        self.items, self.resumed = items, resumed
        self.total = len(items) if total is None else total  # a retry sends a few items of a larger run
        self.messages: list[str] = []
        self.calls = 0
        # call key -> this batch's answer, while the writer may not have committed it; then _STORED
        self.answered: dict[str, dict] = {}
        self.show_progress, self.on_progress = show_progress, on_progress

    def run(self) -> BatchRun:
        started = time.perf_counter()
        stored = self.store.stored_keys(self.run_id, failures=not self.options.retrying)
        pending = [it for it in self.items if it.key not in stored]
        self.progress = _Progress(self.run_id, len(self.items), len(self.items) - len(pending), self,
                                  self.show_progress, self.on_progress)
        self.writer = _Writer(self.store, self._committed)
        completed = False
        try:
            if not self.options.force:
                pending = self._copy_known(pending)
            if pending:
                _run_coroutine(self._send(pending))
            completed = True
        finally:
            self.writer.close()  # stores every answer already received, interrupted or not
            self.progress.close()
            if completed and self.writer.error is None:
                self.store.finish_run(self.run_id)
        if self.writer.error is not None:
            raise WorkbenchError(f"could not write results to {self.store.path}: {self.writer.error} — the run "
                                 f"{self.run_id} can be resumed once the store is writable") from self.writer.error
        counts = self.store.counts(self.run_id)
        return BatchRun(self.run_id, str(self.store.path), self.task.name, self.total, counts["answered"],
                        counts["failed"], self.progress.cached, self.calls, self.progress.spent,
                        time.perf_counter() - started, self.resumed, self.messages)

    def _committed(self, rows: list[dict]) -> None:
        """Runs in the writer thread once `rows` are durable: count them done, and let the store answer for them."""
        for row in rows:
            if not row["cached"] and row["status"] != "error":
                self.answered[row["call_key"]] = _STORED  # a key, not the row: memory stays bounded
        self.progress.committed(rows)

    def _copy_known(self, pending: list[_Item]) -> list[_Item]:
        """Serve from the store, without decoding, the items whose file is unchanged since it was last hashed."""
        known = self.store.image_hashes({it.input.path for it in pending})
        stats: dict[str, tuple[int, int] | None] = {}
        for it in pending:
            path = it.input.path
            if path not in stats:
                stats[path] = _stat(path)
            record = known.get(path)
            if record and stats[path] == record[:2]:
                it.set_image_hash(record[2])
        created_at, texts, run_id = now_iso(), {}, self.run_id
        written = self.store.copy_answers([  # tuples in COPY_ORDER: thousands of them on a re-run
            (run_id, it.input.path, it.image_hash, _variables_text(it.input.variables, texts), it.input.label,
             it.spec.name, it.version, it.prompt_hash, it.params_hash, it.call_key, created_at)
            for it in pending if it.call_key])
        if not written:
            return pending
        self.progress.committed([{"status": status, "cached": 1, "cost": cost, "call_key": key}
                                 for key, status, cost in written])
        served = {key for key, _, _ in written}
        return [it for it in pending if it.call_key not in served]

    def _copy_fields(self, item: _Item) -> dict:
        """The item's own columns of a row copied from a stored answer."""
        return {"run_id": self.run_id, "image_path": item.input.path, "image_hash": item.image_hash,
                "variables": item.input.variables, "expected": item.input.label, "model": item.spec.name,
                "prompt_version": item.version, "prompt_hash": item.prompt_hash, "params_hash": item.params_hash,
                "call_key": item.call_key, "created_at": now_iso()}

    def _copy(self, item: _Item, hit: dict) -> tuple[tuple, dict]:
        """(store parameters, what progress counts) for serving `item` from the stored answer `hit`."""
        return RunStore.copy_of(hit["id"], self._copy_fields(item)), {"status": hit["status"], "cached": 1,
                                                                      "cost": hit["cost"], "call_key": item.call_key}

    async def _send(self, pending: list[_Item]) -> None:
        self.loop = asyncio.get_running_loop()
        self.inflight: dict[str, asyncio.Future] = {}
        self.decoders = decoder_threads()
        self.decoder = _decoders(self.decoders)
        lanes: dict[str, _Lane] = {}
        lane_of: dict[str, _Lane] = {}  # model name -> its lane, worked out once per model, not per item
        for it in pending:
            lane = lane_of.get(it.spec.name)
            if lane is None:
                backend = get_backend(it.spec.backend)
                key, local = _lane_of(it.spec, backend)
                if key not in lanes:
                    lanes[key] = _Lane(self, backend, key, local)
                lane = lane_of[it.spec.name] = lanes[key]
            lane.items.append(it)
        try:
            async with contextlib.AsyncExitStack() as stack:
                for backend in {id(lane.backend): lane.backend for lane in lanes.values()}.values():
                    await stack.enter_async_context(backend.session())  # e.g. one HTTP client per server
                await asyncio.gather(*(lane.run() for lane in lanes.values()))
        finally:
            self.decoder.shutdown(wait=False, cancel_futures=True)

    # --- rows ---------------------------------------------------------------------------------------------

    def emit(self, item: _Item, result: Result, attempts: int) -> dict:
        row = _row(self.run_id, item, result, attempts)
        if row["status"] != "error" and item.call_key:  # before the writer can commit it: see _committed
            self.answered[item.call_key] = row
        self.writer.put(row)
        return row

    def plan(self, item: _Item, source: str, image_hash: str) -> CallPlan:
        p = self.params
        return CallPlan(self.task, item.spec, item.text, item.prompt_hash, source, image_hash, mode=p["mode"],
                        max_tokens=p["max_tokens"], temperature=p["temperature"], max_edge=p["max_edge"],
                        detail=p["detail"], variables=item.input.variables, keys=self.options.keys)

    def emit_failure(self, item: _Item, error_type: str, message: str) -> dict:
        """An item that is not sent (its image could not be read, its model cannot run, its lane stopped)."""
        plan = self.plan(item, Path(item.input.path).name, item.image_hash or "")
        return self.emit(item, settle(plan, failure(error_type, message)), 0)

    def emit_copy(self, item: _Item, row: dict) -> None:
        """`item` answered by a row of this batch (still in memory): same answer, marked as cached."""
        self.writer.put(_copied(row, item, self.run_id))

    def emit_stored_copy(self, item: _Item, hit: dict) -> None:
        """`item` answered by a row already in the store: copied inside SQLite."""
        self.writer.put_copy(*self._copy(item, hit))

    def say(self, message: str) -> None:
        """One clear line for the user (and kept in BatchRun.messages)."""
        self.messages.append(message)
        self.progress.write(message)


def _lane_of(spec: ModelSpec, backend) -> tuple[str, bool]:
    """(lane, runs one call at a time): one lane per HTTP server; a local backend's models share one lane (one
    model in memory runs at a time)."""
    capabilities = backend.capabilities(spec)
    return backend.lane(spec), not capabilities.concurrent and capabilities.local


class _Lane:
    def __init__(self, execution: _Execution, backend, name: str, local: bool) -> None:
        self.x = execution
        self.backend, self.name, self.local = backend, name, local
        self.items: list[_Item] = []
        self.blocked: dict[str, tuple[str, str]] = {}  # model name -> (availability status, message)
        self.capabilities: dict[str, Capabilities] = {}
        self.stopped: str | None = None
        self.auth_failures = 0
        self.followers: list[asyncio.Task] = []
        options = execution.options
        self.workers = 1 if local else options.workers
        self.limiter = _Limiter(self.workers)
        self.batched = False  # several images per forward pass (chat_batch): decided in run(), from capabilities
        self.prepare: Callable | None = None  # the backend's prepare_image, where it encodes ahead (see run())
        self.models: dict[str, tuple] = {}  # see _model
        self.read_s: float | None = None  # CPU seconds to read one image (decode, hash, encode), last chunk
        self.chunks_read = 0
        self.call_s = _ASSUMED_CALL_S  # seconds a call takes, a running average once calls answer

    async def run(self) -> None:
        await self._check_models()
        capabilities = self.capabilities.values()
        self.batched = self.local and self.x.options.batch_size > 1 and all(c.batching for c in capabilities)
        if self.x.params["mode"] == "generate" and all(c.encodes_ahead for c in capabilities):
            self.prepare = self.backend.prepare_image
        if self.local:  # model-major: consecutive items share a model (and a `chat_batch` call)
            order = {name: i for i, name in enumerate(dict.fromkeys(it.spec.name for it in self.items))}
            self.items.sort(key=lambda it: order[it.spec.name])
        work: asyncio.Queue = asyncio.Queue(maxsize=max(2, self.workers // 2))
        consume = self._consume_batches if self.batched else self._consume
        consumers = [asyncio.create_task(consume(work)) for _ in range(self.workers)]
        try:
            await self._produce(work)
            while self.followers:  # a follower whose leader failed sends its own call
                await self.followers.pop()
            for _ in consumers:
                await work.put(None)
            await asyncio.gather(*consumers)
        finally:
            for task in consumers:
                task.cancel()

    async def _check_models(self) -> None:
        for spec in {it.spec.name: it.spec for it in self.items}.values():
            try:
                status = await asyncio.to_thread(self.backend.availability, spec, self.x.options.keys)
            except BackendError as e:
                status = Availability("unknown", str(e))
            if not status.runnable:
                self.blocked[spec.name] = (status.status, status.message)
                self.x.say(f"{spec.name}: {status.message or status.status} — its items are stored as failures, "
                           "not sent")
            self.capabilities[spec.name] = self.backend.capabilities(spec)

    # --- producing: read each image once, serve cached and duplicate calls, queue the rest -----------------

    async def _produce(self, work: asyncio.Queue) -> None:
        """Decode images ahead in chunks (in the decoder threads), then serve or queue each image's items.

        Reading ahead matters: the producer gets one turn per event-loop iteration, in which many calls may
        finish; with decoded images waiting, it refills the queue for all of them in that one turn. Chunks
        (1, 2, 4… up to a quarter of the lane's workers) keep the first call quick and, after that, hand work to
        and from the decoders a few times per batch of calls rather than once per image: each hand-over
        wakes the event loop and the decoder, and they share one GIL. See `_top_up` for how many read at once."""
        self._groups = _by_image(self.items)
        self._ahead: collections.deque = collections.deque()
        self._chunk, self._largest = 1, max(1, self.workers // 4)
        self._producing, self._top_up_failed = True, None
        try:
            self._top_up()
            while self._ahead:
                chunk = await self._ahead.popleft()
                self._top_up()
                for path, live, edges, outcome in chunk:
                    if self.x.writer.error is not None:
                        raise WorkbenchError(f"the run store failed: {self.x.writer.error}")
                    if isinstance(outcome, Exception):  # an unreadable image is that item's failure only
                        message = str(outcome) if isinstance(outcome, ImageError) \
                            else f"{type(outcome).__name__}: {outcome}"
                        for it in live:
                            self.x.emit_failure(it, "image_error", message)
                    elif outcome is not None:
                        await self._dispatch(path, live, edges, *outcome, work)
            if self._top_up_failed is not None:  # raised in a callback, where nobody would have seen it
                raise self._top_up_failed
        finally:
            self._producing = False

    def _top_up(self, _finished: asyncio.Future | None = None) -> None:
        """Start reading more chunks: as many at once as `_readers()`, and at most one more chunk waiting than
        that, so memory stays bounded. Runs again whenever a chunk is read, so reading overlaps sending."""
        if not self._producing:  # the producer stopped (failed or cancelled): read nothing more
            return
        try:
            readers = self._readers()
            while (len(self._ahead) <= readers and sum(not f.done() for f in self._ahead) < readers
                   and (chunk := list(itertools.islice(self._groups, self._chunk)))):
                future = self._read_ahead(chunk)
                future.add_done_callback(self._top_up)
                self._ahead.append(future)
                self._chunk = min(self._largest, self._chunk * 2)
        except Exception as e:  # noqa: BLE001 — re-raised by the producer
            if _finished is None:
                raise
            self._top_up_failed = e

    def _readers(self) -> int:
        """Decoder threads worth using: enough to read images as fast as the lane's calls take them, no more.

        Small images take a fraction of a millisecond, mostly Python holding the GIL: one thread keeps up with
        64 calls in flight, and more would only take the GIL from the event loop (on a 16-core machine, 4 threads
        reading small images took the throughput benchmark from about 77 % of the ideal to 57 %). Photos take
        ~200 ms, mostly in Pillow without the GIL: then every decoder thread helps."""
        if self.read_s is None:
            return 1
        return max(1, min(self.x.decoders, math.ceil(self.read_s * self.limiter.max / self.call_s)))

    def _read_ahead(self, chunk: list[list[_Item]]) -> asyncio.Future:
        """Items that will not be sent are stored as failures now; the rest go to the decoder, one job per chunk."""
        entries = []
        for group in chunk:
            live = []
            for it in group:
                if it.spec.name in self.blocked:
                    self.x.emit_failure(it, *self.blocked[it.spec.name])
                elif self.stopped:
                    self.x.emit_failure(it, AuthError.kind, self.stopped)
                else:
                    live.append(it)
            entries.append((group[0].input.path, live, {it: _max_edge(self.x.params, it.spec) for it in live}))
        return self.x.loop.run_in_executor(self.x.decoder, self._read_images, entries)

    def _read_images(self, entries: list[tuple]) -> list[tuple]:
        """In a decoder thread: decode, hash and encode each image, and look its calls up in the store (one
        query per chunk), so the event loop, which drives every call of the lane, spends its time sending.
        Returns (path, live items, edges, outcome): outcome is (images, stat, store hits), an Exception for an
        unreadable image, or None when no item of the image is to be sent."""
        out, keys = [], []
        started, read = time.thread_time(), 0  # CPU time: waits for the GIL must not count as reading
        for path, live, edges in entries:
            if not live:
                out.append((path, live, edges, None))
                continue
            try:
                images, stat = _read_image(path, sorted(set(edges.values())), self.prepare)
            except Exception as e:  # noqa: BLE001 — reported per item by _produce
                out.append((path, live, edges, e))
                continue
            read += 1
            sha256 = next(iter(images.values())).sha256
            for it in live:
                it.set_image_hash(sha256)
                keys.append(it.call_key)
            out.append((path, live, edges, (images, stat)))
        if read:
            self.chunks_read += 1
            if self.chunks_read > 1:  # the first image pays one-off costs (Pillow's plugins, encoders)
                self.read_s = (time.thread_time() - started) / read
        hits = {} if self.x.options.force or not keys else self.x.store.cached(keys)
        return [(path, live, edges, outcome if not isinstance(outcome, tuple) else (*outcome, hits))
                for path, live, edges, outcome in out]

    async def _dispatch(self, path: str, live: list[_Item], edges: dict, images: dict, stat, hits: dict,
                        work) -> None:
        """`hits`: the store's answers for `live`, looked up by the decoder; this batch's own answers, given
        since, are in `inflight` (on their way) and `answered` (received; once committed, only marked)."""
        x = self.x
        if stat:
            x.writer.put_image((path, *stat, live[0].image_hash))
        for it in live:
            key = it.call_key
            if self.stopped:
                x.emit_failure(it, AuthError.kind, self.stopped)
            elif key in x.inflight:  # identical pixels under another name, already on its way
                self._follow_later(it, images[edges[it]], work)
            elif x.options.force:
                await self._queue(it, images[edges[it]], work)
            elif key in hits:
                x.emit_stored_copy(it, hits[key])
            elif (row := x.answered.get(key)) is None:
                await self._queue(it, images[edges[it]], work)
            elif row is _STORED:  # committed after the decoder looked: rare (duplicate pixels), asked again
                stored = x.store.cached([key])
                if key in stored:
                    x.emit_stored_copy(it, stored[key])
                else:
                    await self._queue(it, images[edges[it]], work)
            else:
                x.emit_copy(it, row)

    async def _queue(self, item: _Item, picture: _Picture, work: asyncio.Queue) -> None:
        self.x.inflight[item.call_key] = self.x.loop.create_future()
        await work.put((item, picture))

    def _follow_later(self, item: _Item, image: _Picture, work: asyncio.Queue) -> None:
        leader = self.x.inflight[item.call_key]
        self.followers.append(asyncio.create_task(self._follow(item, image, work, leader)))

    async def _follow(self, item: _Item, image: _Picture, work: asyncio.Queue, leader: asyncio.Future) -> None:
        row = await asyncio.shield(leader)
        if row is not None:
            self.x.emit_copy(item, row)
        elif item.call_key in self.x.inflight:  # the leader failed and another copy went out meanwhile
            self._follow_later(item, image, work)
        else:  # the leader failed (errors are never shared): this one is sent on its own
            await self._queue(item, image, work)

    def _settle(self, item: _Item, row: dict) -> None:
        future = self.x.inflight.pop(item.call_key, None)
        if future is not None and not future.done():
            future.set_result(row if row["status"] != "error" else None)

    # --- consuming: one call at a time per worker ---------------------------------------------------------

    async def _consume(self, work: asyncio.Queue) -> None:
        while (entry := await work.get()) is not None:
            item, picture = entry
            try:
                result, attempts = await self._call(item, picture)
            except asyncio.CancelledError:
                self._settle(item, {"status": "error"})
                raise
            self._settle(item, self.x.emit(item, result, attempts))

    async def _call(self, item: _Item, picture: _Picture) -> tuple[Result, int]:
        """Try until an answer, a failure retries cannot fix, or max_attempts; retries act on the exception."""
        x = self.x
        send_spec, capabilities = self._model(item.spec)
        plan = x.plan(item, picture.source, picture.sha256)
        request = plan.request([picture.for_request], capabilities)
        attempts = 0
        while True:
            if self.stopped:
                return settle(plan, failure(AuthError.kind, self.stopped)), attempts
            began = await self.limiter.acquire()
            if self.stopped:  # the lane stopped while this worker waited for its slot
                self.limiter.release()
                continue
            attempts += 1
            x.calls += 1
            started = time.perf_counter()
            try:
                outcome = await attempt_async(plan, self.backend, request, send_spec)
            except Exception as e:  # noqa: BLE001 — sorted out below: one broken call must not sink the batch
                outcome = e
            finally:
                self.limiter.release()
            elapsed = time.perf_counter() - started
            if not isinstance(outcome, Exception):
                self.auth_failures = 0
                self.limiter.succeeded()
                self.call_s += 0.2 * (elapsed - self.call_s)  # follows recent calls
                return settle(plan, outcome, elapsed=elapsed), attempts
            if isinstance(outcome, RateLimitError):
                self.limiter.rate_limited(outcome.retry_after, began)
            elif isinstance(outcome, AuthError):
                self._auth_failed(outcome)
            if isinstance(outcome, BackendError) and outcome.retryable and attempts < x.options.max_attempts:
                if not isinstance(outcome, RateLimitError):  # a 429 already paused the whole lane
                    await asyncio.sleep(_backoff(attempts))
                continue
            return settle(plan, outcome, elapsed=elapsed), attempts

    def _model(self, spec: ModelSpec) -> tuple[ModelSpec, Capabilities]:
        """Per model, once per lane: the spec calls are sent with (the backend's batch settings), its capabilities."""
        if spec.name not in self.models:
            self.models[spec.name] = (self.backend.for_batch(spec), self.capabilities[spec.name])
        return self.models[spec.name]

    def _auth_failed(self, error: AuthError) -> None:
        self.auth_failures += 1
        self.limiter.probe()  # one call at a time until a call succeeds: a rejected key costs few calls
        if self.auth_failures >= self.x.options.max_auth_failures and not self.stopped:
            self.stopped = (f"{self.name}: stopped after {self.auth_failures} consecutive authentication failures "
                            f"({error}); the remaining items were not sent — fix the key, then retry the failed "
                            f"items (`workbench retry {self.x.run_id}`)")
            self.x.say(self.stopped)

    # --- consuming, local backends with chat_batch: several images per forward pass ----------------------

    async def _consume_batches(self, work: asyncio.Queue) -> None:
        carry, finished = None, False
        while not finished:
            entry = carry or await work.get()
            carry = None
            if entry is None:
                return
            batch = [entry]
            while len(batch) < self.x.options.batch_size:
                try:
                    nxt = work.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if nxt is None:
                    finished = True
                    break
                if nxt[0].spec.name != entry[0].spec.name:
                    carry = nxt
                    break
                batch.append(nxt)
            for (item, _), (result, attempts) in zip(batch, await self._call_batch(batch)):
                self._settle(item, self.x.emit(item, result, attempts))

    async def _call_batch(self, batch: list[tuple[_Item, _Picture]]) -> list[tuple[Result, int]]:
        x, spec = self.x, batch[0][0].spec
        if len(batch) == 1 or self.stopped:
            return [await self._call(*batch[0])] if len(batch) == 1 else [await self._call(*e) for e in batch]
        send_spec, capabilities = self._model(spec)
        plans = [x.plan(item, picture.source, picture.sha256) for item, picture in batch]
        requests = [plan.request([picture.image], capabilities) for plan, (_, picture) in zip(plans, batch)]
        x.calls += 1
        started = time.perf_counter()
        try:
            replies = await asyncio.to_thread(self.backend.chat_batch, send_spec, requests, len(requests),
                                              keys=x.options.keys)
        except Exception as e:  # noqa: BLE001
            replies = [e] * len(plans)
        elapsed = time.perf_counter() - started
        return [(settle(plan, reply, elapsed=elapsed), 1) for plan, reply in zip(plans, replies)]


def _by_image(items: list[_Item]) -> Iterable[list[_Item]]:
    group: list[_Item] = []
    for it in items:
        if group and it.input.path != group[0].input.path:
            yield group
            group = []
        group.append(it)
    if group:
        yield group


def _max_edge(params: dict, spec: ModelSpec) -> int:
    """The long edge the backend will send at (the same rule the backends apply), so resizing early is exact."""
    return params["max_edge"] or spec.max_edge or DEFAULT_MAX_EDGE


def _read_image(path: str, edges: list[int], prepare: Callable | None
                ) -> tuple[dict[int, _Picture], tuple[int, int] | None]:
    """Decode once and keep only the sizes the backends will send (a 24 MP photo becomes a few MB, at most).
    Where the backend offers `prepare_image`, encode them here, in a decoder thread, and keep only the encoded
    bytes: the event loop that drives the calls then only posts bytes, and a photo waiting for its call holds a
    few hundred KB rather than its pixels."""
    stat = _stat(path)
    image = load_image(path)
    pictures = {}
    for edge in edges:
        small = dataclasses.replace(image, pil=resized(image, edge))
        if prepare is None:
            pictures[edge] = _Picture(image.source, image.sha256, small)
        else:
            pictures[edge] = _Picture(image.source, image.sha256, None, prepare(small, edge))
    return pictures, stat


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _backoff(attempt: int) -> float:
    return min(10.0, _BASE_PAUSE_S * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)


@dataclass(frozen=True)
class _Picture:
    """An image as a lane sends it: decoded and resized, or only encoded where the backend takes that."""

    source: str
    sha256: str
    image: LoadedImage | None  # the resized pixels; None once encoded
    encoded: object | None = None  # images.EncodedImage from the backend's `prepare_image`, made off the loop

    @property
    def for_request(self):
        return self.encoded if self.encoded is not None else self.image


# --- the lane's shared limiter ---------------------------------------------------------------------------------


class _Limiter:
    """Concurrency for one lane that every worker shares: a 429 pauses all of them and halves the limit
    (once per wave of calls), successes raise it again by one per `limit` successes (AIMD).

    A lane starts at full concurrency. After an authentication failure it probes, one call at a time, until a
    call succeeds (then it opens again): a rejected key costs the calls already in flight and K probes, not K
    × workers. It does not start by probing: a server that fails every call would then get one call at a time,
    retries and backoffs included, and a batch against it would take hours to fail instead of minutes."""

    def __init__(self, workers: int) -> None:
        self.max = workers
        self.limit = workers
        self.probing = False
        self.active = 0
        self.paused_until = 0.0
        self.cut_at = 0.0
        self.streak = 0
        self.ok_since_cut = 0
        self._waiters: list[asyncio.Future] = []

    async def acquire(self) -> float:
        """Wait for a slot; returns when the call may start (its start time, for rate-limit bookkeeping)."""
        while True:
            delay = self.paused_until - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            if self.active < self.limit:
                self.active += 1
                return time.monotonic()
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def release(self) -> None:
        self.active -= 1
        self._wake()

    def _wake(self) -> None:
        free = self.limit - self.active
        while free > 0 and self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    def succeeded(self) -> None:
        self.streak = 0
        if self.probing:
            self.probing, self.limit = False, self.max
        else:
            self.ok_since_cut += 1
            if self.limit < self.max and self.ok_since_cut >= self.limit:
                self.limit += 1
                self.ok_since_cut = 0
        self._wake()

    def probe(self) -> None:
        self.probing, self.limit = True, 1

    def rate_limited(self, retry_after: float | None, began: float) -> None:
        self.streak += 1
        pause = max(retry_after or 0.0, _BASE_PAUSE_S * 2 ** min(self.streak - 1, 12))
        now = time.monotonic()
        self.paused_until = max(self.paused_until, now + min(pause, _MAX_PAUSE_S))
        if began >= self.cut_at:  # calls sent before the last cut already saw the old limit: cut once per wave
            self.limit = max(1, self.limit // 2)
            self.cut_at = now
            self.ok_since_cut = 0


# --- writing: one thread, group commits, progress only after the commit ------------------------------------


class _Writer:
    """Results go to the store from one thread, many per transaction; a result counts as done only once its
    transaction has committed, so `kill -9` can lose an answer still in flight, never one reported done."""

    def __init__(self, store: RunStore, committed: Callable[[list[dict]], None]) -> None:
        self.store, self.committed = store, committed
        self.error: Exception | None = None
        self._queue: queue.Queue = queue.Queue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="workbench-store-writer", daemon=True)
        self._thread.start()

    def put(self, row: dict) -> None:
        self._queue.put(("row", row))

    def put_image(self, record: tuple) -> None:
        self._queue.put(("image", record))

    def put_copy(self, params: tuple, counted: dict) -> None:
        self._queue.put(("copy", (params, counted)))

    def close(self) -> None:
        self._closing.set()  # the last rows are committed now, not after the group-commit pause
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        conn = self.store.connect()
        try:
            done = False
            while not done:
                batch = [self._queue.get()]
                # Group commit: one fsync per GROUP_COMMIT_S instead of one per result. The thread sleeps, then
                # takes what came meanwhile: waking it for every result would take the GIL from the event loop.
                if batch[0] is not None:
                    self._closing.wait(GROUP_COMMIT_S)
                while batch[-1] is not None and len(batch) < 5000:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                done = batch[-1] is None
                rows = [e[1] for e in batch if e is not None and e[0] == "row"]
                images = [e[1] for e in batch if e is not None and e[0] == "image"]
                copies = [e[1] for e in batch if e is not None and e[0] == "copy"]
                if self.error is not None:
                    continue
                try:
                    self.store.write(rows, images, [params for params, _ in copies], conn=conn)
                except Exception as e:  # noqa: BLE001 — reported by the batch, which stops sending
                    self.error = e
                    continue
                self.committed(rows + [counted for _, counted in copies])
        finally:
            conn.close()


# --- progress ---------------------------------------------------------------------------------------------------


class _Progress:
    def __init__(self, run_id: str, total: int, already: int, execution: _Execution, show: bool,
                 callback: Callable[[BatchProgress], None] | None) -> None:
        self.run_id, self.total, self.done, self.already = run_id, total, already, already
        self.failed = self.cached = 0
        self.spent: float | None = None
        self.priced = 0  # items whose call had a known cost
        self.execution, self.callback = execution, callback
        self.started = time.perf_counter()
        self._last_callback = 0.0
        self._lock = threading.Lock()
        self.bar = None
        if show:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=already, desc=f"run {run_id}", unit="item", dynamic_ncols=True,
                            smoothing=0.05)
        self._report(force=True)

    def committed(self, rows: list[dict]) -> None:
        with self._lock:
            for row in rows:
                self.done += 1
                self.failed += row["status"] == "error"
                self.cached += bool(row["cached"])
                if not row["cached"] and row.get("cost") is not None:
                    self.spent = (self.spent or 0.0) + row["cost"]
                    self.priced += 1
            if self.bar is not None and rows:
                self.bar.set_postfix_str(self._postfix(), refresh=False)
                self.bar.update(len(rows))
            self._report()

    def _postfix(self) -> str:
        from .costs import format_usd

        return (f"failed={self.failed} cached={self.cached} spent={format_usd(self.spent)} "
                f"projected={format_usd(self.projected())}")

    def projected(self) -> float | None:
        if self.spent is None or not self.priced:
            return None
        return self.spent + self.spent / self.priced * (self.total - self.done)

    def snapshot(self) -> BatchProgress:
        elapsed = time.perf_counter() - self.started
        rate = (self.done - self.already) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        return BatchProgress(self.run_id, self.total, self.done, self.failed, self.cached, self.execution.calls,
                             self.spent, elapsed, eta, self.projected())

    def _report(self, force: bool = False) -> None:
        if self.callback is None:
            return
        now = time.perf_counter()
        if force or now - self._last_callback >= 0.1 or self.done >= self.total:
            self._last_callback = now
            self.callback(self.snapshot())

    def write(self, message: str) -> None:
        if self.bar is not None:
            self.bar.write(message)
        else:
            import sys

            print(message, file=sys.stderr)

    def close(self) -> None:
        with self._lock:
            self._report(force=True)
            if self.bar is not None:
                self.bar.set_postfix_str(self._postfix(), refresh=False)
                self.bar.close()


# --- helpers ---------------------------------------------------------------------------------------------------


def _row(run_id: str, item: _Item, result: Result, attempts: int) -> dict:
    return {
        "run_id": run_id, "image_path": item.input.path, "image_hash": item.image_hash or result.image_hash or None,
        "variables": item.input.variables, "expected": item.input.label, "model": item.spec.name,
        "model_id": result.model_id, "backend": result.backend, "prompt_version": item.version,
        "prompt_hash": item.prompt_hash, "params_hash": item.params_hash, "call_key": item.call_key,
        "mode": result.mode, "status": result.status, "label": result.label, "output": result.output,
        "raw_text": result.raw_text, "probabilities": result.probabilities, "expected_score": result.expected_score,
        "finish_reason": result.finish_reason, "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens, "cost": result.cost, "cost_source": result.cost_source,
        "latency_s": result.latency_s, "ttft_s": result.time_to_first_token_s, "error_type": result.error_type,
        "error": result.error, "metrics": result.metrics or None, "cached": 0, "attempts": attempts,
        "created_at": now_iso(),
    }


def _copied(stored: dict, item: _Item, run_id: str) -> dict:
    """A stored answer re-filed under this run's item: same answer, cost and latency, marked as cached."""
    row = {**_decoded(stored)}
    row.pop("id", None)
    row.update(run_id=run_id, image_path=item.input.path, variables=item.input.variables,
               expected=item.input.label, model=item.spec.name, prompt_version=item.version,
               prompt_hash=item.prompt_hash, params_hash=item.params_hash, call_key=item.call_key,
               image_hash=item.image_hash, cached=1, attempts=0, created_at=now_iso())
    return row


def _decoded(row: dict) -> dict:
    from .store import JSON_COLUMNS

    return {k: (json.loads(v) if k in JSON_COLUMNS and isinstance(v, str) else v) for k, v in row.items()}


def _decoders(threads: int):
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="workbench-decode")


def _run_coroutine(coroutine) -> None:
    """asyncio.run here, or in a helper thread when this thread already runs a loop (Jupyter, Gradio)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()
