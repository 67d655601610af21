"""The compare engine: N models on one image at once, their text as it streams, every model's Result at the end.

    for snapshot in workbench.compare_stream(image, "pothole_severity", models, max_tokens=64):
        for m in snapshot.models:
            print(m.model, m.result.status if m.done else f"running: {m.text[-40:]!r}")
    results = snapshot.results   # in the order the models were given

The app's Run button, the notebook playground and `compare_results` all consume this one generator.
"""
from __future__ import annotations

import inspect
import queue
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterator

from .backends.download import download_progress
from .calls import run_model, sent_edge
from .images import load_image
from .lifecycle import check_mode
from .models import ModelSpec, resolve_models
from .results import Result
from .tasks import Task, get_task

if TYPE_CHECKING:
    import pandas as pd

STATUS_POLL_S = 0.5  # how often a running model's download progress is looked up while no text arrives


@dataclass(frozen=True)
class ModelProgress:
    """One model in a comparison: its text so far while running, its Result once finished; `status` says what a
    running model is doing before its first token (e.g. its first download, with the MB so far)."""

    model: str
    text: str = ""
    result: Result | None = None
    status: str = ""

    @property
    def done(self) -> bool:
        return self.result is not None


@dataclass(frozen=True)
class CompareSnapshot:
    """The whole comparison at one moment; a new snapshot is made for every change, none is ever modified."""

    models: tuple[ModelProgress, ...]

    @property
    def done(self) -> bool:
        return all(m.done for m in self.models)

    @property
    def results(self) -> list[Result]:
        """The finished Results, in the order the models were given (all of them once `done`)."""
        return [m.result for m in self.models if m.result is not None]


def compare_stream(image, task: str | Task = "ask", models=None, **options) -> Iterator[CompareSnapshot]:
    """Run every model concurrently on one image (through `run_model`, text streamed via `on_text`); yield a
    snapshot first with every model running, then one each time text arrives or a model finishes, the last
    one with every Result. Bad input (task, prompt variables, image, mode, options) raises here, before any call.

    `options` are run_model's: prompt, variables, keys, max_tokens, temperature, max_edge, detail, mode."""
    task = get_task(task)
    specs = resolve_models(models)
    inspect.signature(run_model).bind(image, task, None, **options)  # an unknown option raises TypeError now
    check_mode(options.get("mode", "generate"))
    task.render(options.get("prompt"), options.get("variables"))
    edge = max((sent_edge(options.get("max_edge"), s) for s in specs), default=None)
    loaded = load_image(image, max_edge=edge)  # a big JPEG decodes at the smallest scale every model covers
    return _stream(loaded, task, specs, options)


def _stream(image, task: Task, specs: list[ModelSpec], options: dict) -> Iterator[CompareSnapshot]:
    events: queue.Queue = queue.Queue()  # (index, partial text) while streaming, (index, Future) when finished
    state = [ModelProgress(s.name) for s in specs]
    yield CompareSnapshot(tuple(state))
    if not specs:
        return
    pool = ThreadPoolExecutor(max_workers=len(specs), thread_name_prefix="compare")
    try:
        for i, spec in enumerate(specs):
            future = pool.submit(run_model, image, task, spec, on_text=lambda text, i=i: events.put((i, text)),
                                 **options)
            future.add_done_callback(lambda f, i=i: events.put((i, f)))
        while not all(m.done for m in state):
            changed = _wait(state, events, specs)
            while not events.empty():  # take every change already waiting: one snapshot for all of them
                _apply(state, events.get_nowait())
            if changed:
                yield CompareSnapshot(tuple(state))
    finally:  # a consumer that stops early (a closed browser tab) does not wait for the calls still running
        pool.shutdown(wait=False, cancel_futures=True)


def _wait(state: list[ModelProgress], events: queue.Queue, specs: list[ModelSpec]) -> bool:
    """The next event applied; without one for STATUS_POLL_S, the running models' download progress looked up.
    True when something changed."""
    try:
        _apply(state, events.get(timeout=STATUS_POLL_S))
        return True
    except queue.Empty:
        pass
    changed = False
    for i, spec in enumerate(specs):
        found = download_progress(spec.model)
        status = found.describe() if found else ""
        if not state[i].done and status != state[i].status:
            state[i], changed = replace(state[i], status=status), True
    return changed


def _apply(state: list[ModelProgress], event: tuple[int, str | Future]) -> None:
    i, payload = event
    if isinstance(payload, Future):
        state[i] = replace(state[i], result=payload.result())  # run_model raising is a bug: let it surface
    elif not state[i].done:  # a late token after the Result is ignored
        state[i] = replace(state[i], text=payload)


def compare_results(image, task: str | Task = "ask", models=None, **options) -> list[Result]:
    """Run every model concurrently on one image; results come back in the order the models were given."""
    snapshot = None
    for snapshot in compare_stream(image, task, models, **options):
        pass
    return snapshot.results


def compare(image, task: str | Task = "ask", models=None, **options) -> "pd.DataFrame":
    """`workbench.compare(image, task="pothole_severity", models=[...])` → one DataFrame row per model."""
    import pandas as pd

    frame = pd.DataFrame([r.to_row() for r in compare_results(image, task, models, **options)])
    # Nullable integers: a failed call has no token counts, and that must not turn 512 into 512.0.
    return frame.astype({"input_tokens": "Int64", "output_tokens": "Int64"})
