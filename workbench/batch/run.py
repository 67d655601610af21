"""Running a batch: `run_batch`, `retry_failed`, and one pass over a run's pending items."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ..backends import get_backend
from ..errors import ConfigError, WorkbenchError
from ..lifecycle import check_mode, price_of
from ..models import ModelSpec, resolve_models
from ..store import RunStore
from ..tasks import Task, get_task
from .batch_api import DEFAULT_POLL_S, check_via, through_batch_api
from .on_ray import check_engine
from .cache import Answers
from .context import Options, RunContext
from ..image_prep import file_stat
from .inputs import IMAGE_SUFFIXES, BatchInput, collect_inputs, prompt_versions, with_labels
from .items import Item, describe, expand, fingerprint_of, item_of
from .lane import Lane, lane_of
from .progress import BatchProgress, Progress
from .photo_processes import PhotoProcesses, process_min_bytes, refuse_while_a_worker_imports_main
from .reader import decoder_pool, decoder_threads
from .retry import DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_AUTH_FAILURES
from .writer import Writer

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_WORKERS = 8


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
        from ..costs import format_usd

        if self.up_to_date:
            return (f"run {self.run_id}: up to date — {self.total} items, all answered earlier, no image changed "
                    f"since; nothing sent, {self.elapsed_s:.1f} s")
        return (f"run {self.run_id}: {self.total} items, {self.answered} answered, {self.failed} failed, "
                f"{self.cached} from cache, {self.calls} calls, {format_usd(self.spent_usd)} spent, "
                f"{self.elapsed_s:.1f} s")


def run_batch(inputs, task: str | Task, models=None, *, prompts=None, variables: dict | None = None, labels=None,
              db: str | os.PathLike | RunStore | None = None, keys: dict[str, str] | None = None,
              workers: int = DEFAULT_WORKERS, max_tokens: int = 512, temperature: float = 0.0,
              max_edge: int | None = None, detail: str | None = None, mode: str = "generate",
              force: bool = False, run_id: str | None = None, resume: bool = True, batch_size: int = 1,
              max_attempts: int = DEFAULT_MAX_ATTEMPTS, max_auth_failures: int = DEFAULT_MAX_AUTH_FAILURES,
              progress: bool = True, on_progress: Callable[[BatchProgress], None] | None = None,
              source: str | None = None, via: str = "chat", poll_s: float = DEFAULT_POLL_S,
              owner: str | None = None, engine: str = "local", ray_address: str | None = None,
              ray_actors: int | None = None) -> BatchRun:
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
    that run. via: "chat" (a call per item) or "batch_api" (one model of a provider with a Batch API — OpenAI —
    at its batch price, polled every `poll_s` seconds; an interrupted run polls the same batch again).
    owner: who started it (the app's signed-in user): stored with the run, and one user never resumes another's.
    engine: "local" (this process) or "ray" (Ray Data actors at `ray_address`, or a new local Ray: see on_ray).
    Bad settings (unknown task or model, missing prompt variables, unreadable CSV) raise ConfigError before
    anything is sent; every failure after that is stored with its item."""
    started = time.perf_counter()
    task = get_task(task)
    specs = _checked_settings(models, workers, batch_size, max_attempts, max_auth_failures, via, mode)
    check_engine(engine, ray_address, via)
    given = _inputs_of(inputs, task, labels, variables)
    store = db if isinstance(db, RunStore) else RunStore(db)
    versions = prompt_versions(task, prompts, store)
    params = {"max_tokens": max_tokens, "temperature": temperature, "max_edge": max_edge, "detail": detail,
              "mode": mode}
    items = expand(given, specs, versions, task, params)
    fingerprint = fingerprint_of(task, specs, versions, params, given)
    if owner is not None:  # the same batch by two signed-in users is two runs, each in its owner's History
        fingerprint = f"{fingerprint}@{owner}"
    resumed = run_id is not None
    if run_id is not None:
        run_id = store.run(run_id)["id"]
        store.mark_running(run_id)
    elif resume and not force:
        run_id = store.unfinished_run(fingerprint)
        resumed = run_id is not None
        if run_id is None and (done := _up_to_date(store, fingerprint, given)) is not None:
            return _nothing_to_do(store, done, task, len(items), started)
    if run_id is None:
        run_id = store.create_run(task=task.name, models=[s.model_dump(mode="json") for s in specs],
                                  prompts=versions, params=params, source=source or describe(inputs),
                                  fingerprint=fingerprint, n_items=len(items), task_definition=task.definition(),
                                  owner=owner)
    options = Options(keys=keys, workers=workers, batch_size=batch_size, max_attempts=max_attempts,
                      max_auth_failures=max_auth_failures, force=force)
    return Execution(store, run_id, task, params, options, items, resumed, progress, on_progress,
                     send=_engine(engine, ray_address, ray_actors, via, poll_s)).run()


def _inputs_of(inputs, task: Task, labels, variables: dict | None) -> list[BatchInput]:
    """The batch's inputs with their labels and default variables; none at all raises ConfigError."""
    given = collect_inputs(inputs, task)
    if labels is not None:
        given = with_labels(given, labels, task)
    if not given:
        raise ConfigError(f"no images found in {inputs!r} (looked for {', '.join(IMAGE_SUFFIXES)})")
    if variables:
        given = [dataclasses.replace(i, variables={**variables, **i.variables}) for i in given]
    return given


def _checked_settings(models, workers: int, batch_size: int, max_attempts: int, max_auth_failures: int,
                      via: str = "chat", mode: str = "generate") -> list[ModelSpec]:
    """The batch's models; a bad setting raises ConfigError here, before the run exists."""
    check_mode(mode)
    if workers < 1 or batch_size < 1 or max_attempts < 1 or max_auth_failures < 1:
        raise ConfigError("workers, batch_size, max_attempts and max_auth_failures must be at least 1")
    decoder_threads()  # a bad $WORKBENCH_DECODERS (or $WORKBENCH_PROCESS_MIN_BYTES) is a settings error too
    process_min_bytes()
    refuse_while_a_worker_imports_main()
    specs = resolve_models(models)
    for spec in specs:
        get_backend(spec.backend)  # an unknown backend is a settings error
    check_via(via, specs, mode)
    return specs


def _engine(engine: str, address: str | None, actors: int | None, via: str, poll_s: float):
    """How the pending items are sent when not through this process's lanes (None: through them)."""
    if via == "batch_api":
        return through_batch_api(poll_s)
    if engine != "ray":
        return None
    from .on_ray import through_ray

    return through_ray(address, actors)


def _up_to_date(store: RunStore, fingerprint: str, inputs: list[BatchInput]) -> str | None:
    """The finished run of this very batch, if every item of it was answered and no image file changed since:
    a new run would only copy the same answers out of the store."""
    run_id = store.finished_run(fingerprint)
    recorded = store.answered_images(run_id) if run_id else None
    if recorded is None or any(recorded.get(inp.path) != file_stat(inp.path) for inp in inputs):
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
    process_min_bytes()
    refuse_while_a_worker_imports_main()
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
        items.append(item_of(inp, spec, row["prompt_version"], task.render(template, inp.variables), params))
    store.mark_running(run["id"])
    options = Options(keys=keys, workers=workers, batch_size=batch_size, max_attempts=max_attempts,
                      max_auth_failures=max_auth_failures, force=False, retrying=True)
    return Execution(store, run["id"], task, params, options, items, True, progress, on_progress,
                     total=run["n_items"]).run()


class Execution:
    """One pass over a run's pending items: skip stored ones, copy cached ones, send the rest."""

    def __init__(self, store: RunStore, run_id: str, task: Task, params: dict, options: Options,
                 items: list[Item], resumed: bool, show_progress: bool,
                 on_progress: Callable[[BatchProgress], None] | None, total: int | None = None,
                 send: Callable[[RunContext, list[Item]], None] | None = None) -> None:
        self.store, self.run_id, self.task, self.params, self.options = store, run_id, task, params, options
        self.send = send or _through_lanes  # or through a provider's Batch API
        self.items, self.resumed = items, resumed
        self.total = len(items) if total is None else total  # a retry sends a few items of a larger run
        self.show_progress, self.on_progress = show_progress, on_progress

    def run(self) -> BatchRun:
        started = time.perf_counter()
        stored = self.store.stored_keys(self.run_id, failures=not self.options.retrying)
        pending = [it for it in self.items if it.key not in stored]
        progress = Progress(self.run_id, len(self.items), len(self.items) - len(pending), self.show_progress,
                            self.on_progress)
        answers: Answers | None = None

        def committed(rows: list[dict]) -> None:
            """In the writer thread once `rows` are durable: the store answers for them, and they count done."""
            answers.committed(rows)
            progress.committed(rows)

        writer = Writer(self.store, committed)  # nothing is committed before `answers` is set: nothing was put
        answers = Answers(self.store, self.run_id, writer, self.options.force)
        context = RunContext(self.store, self.run_id, self.task, self.params, self.options, writer, answers,
                             progress)
        completed = False
        try:
            if not self.options.force:
                pending = answers.copy_known(pending, progress.committed)
            if pending:
                self.send(context, pending)
            completed = True
        finally:
            writer.close()  # stores every answer already received, interrupted or not
            progress.close()
            if completed and writer.error is None:
                self.store.finish_run(self.run_id)
        if writer.error is not None:
            raise WorkbenchError(f"could not write results to {self.store.path}: {writer.error} — the run "
                                 f"{self.run_id} can be resumed once the store is writable") from writer.error
        counts = self.store.counts(self.run_id)
        return BatchRun(self.run_id, str(self.store.path), self.task.name, self.total, counts["answered"],
                        counts["failed"], progress.cached, progress.calls, progress.spent,
                        time.perf_counter() - started, self.resumed, context.messages)


def _through_lanes(context: RunContext, pending: list[Item]) -> None:
    _run_coroutine(_send(context, pending))


async def _send(context: RunContext, pending: list[Item]) -> None:
    """Every pending item through its lane: the lanes run side by side on this event loop."""
    threads = decoder_threads()
    decoders = decoder_pool(threads)
    processes = PhotoProcesses(threads, process_min_bytes(), context.say)  # started by the first big image
    _look_up_prices_meanwhile(list({it.spec.name: it.spec for it in pending}.values()))
    lanes: dict[str, Lane] = {}
    lane_for: dict[str, Lane] = {}  # model name -> its lane, worked out once per model, not per item
    for it in pending:
        lane = lane_for.get(it.spec.name)
        if lane is None:
            backend = get_backend(it.spec.backend)
            key, local = lane_of(it.spec, backend)
            if key not in lanes:
                lanes[key] = Lane(context, backend, key, local, decoders, threads, processes)
            lane = lane_for[it.spec.name] = lanes[key]
        lane.items.append(it)
    try:
        async with contextlib.AsyncExitStack() as stack:
            for backend in {id(lane.backend): lane.backend for lane in lanes.values()}.values():
                await stack.enter_async_context(backend.session())  # e.g. one HTTP client per server
            await asyncio.gather(*(lane.run() for lane in lanes.values()))
    finally:
        processes.shutdown()  # first: a decoder thread may be waiting on a worker
        decoders.shutdown(wait=False, cancel_futures=True)


def _look_up_prices_meanwhile(specs) -> threading.Thread:
    """Each model's price, looked up in a thread while the first images are read: the first lookup imports the price
    database (~0.25 s of Python), which would otherwise stop the event loop at the first answer. Returns the thread
    (nobody waits for it: `price_of` answers whether it has finished or not)."""

    def look_up() -> None:
        for spec in specs:
            with contextlib.suppress(Exception):  # a price that cannot be found is reported with the first answer
                price_of(spec)

    thread = threading.Thread(target=look_up, name="workbench-prices", daemon=True)
    thread.start()
    return thread


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
