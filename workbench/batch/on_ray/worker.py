"""The Ray Data actor that sends a batch's calls: the lane's own `Sender` (retries, backoff, the call lifecycle,
typed failures) inside the backend's session, many calls in flight per actor on its event loop.

Each map batch is a handful of items; the actor reads their images (in a thread), sends them and returns one row
per item — an answer or a typed failure, never an exception: one raised exception would fail Ray's whole run and
lose every answer not yet written. HTTP lanes take their slots from the cluster's shared limits; a local model
runs one call (or one `chat_batch`) at a time and loads once per actor."""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from ...backends import Backend, Capabilities, get_backend
from ...lifecycle import failure, settle
from ...models import ModelSpec
from ...tasks import Task
from ..context import Options, RunContext
from ..items import Item
from ..lane import lane_of
from ..limiter import Limiter
from ..reader import Picture, _pictures, _read_image, max_edge
from ..retry import AuthBreaker
from ..sender import Sender
from .limits import LIMITS_ACTOR, LIMITS_NAMESPACE, ClusterBreaker, ClusterLimiter
from .wire import Outcome, item_of_row


@dataclass
class RunBundle:
    """Everything the workers share, shipped once per actor: the run's task, models, parameters and settings."""

    run_id: str
    task: Task
    specs: dict[str, ModelSpec]
    params: dict
    options: Options
    limits_scope: str | None  # this run's lanes in the shared-limits actor (HTTP lanes); None for local models


@dataclass
class _Calls:
    calls: int = 0

    def write(self, message: str) -> None:  # what RunContext.say needs of progress
        pass


@dataclass(eq=False)
class WorkerContext:
    """The part of RunContext a Sender uses, on a worker: plans calls the same way; messages stay here."""

    run_id: str
    task: Task
    params: dict
    options: Options
    progress: _Calls = field(default_factory=_Calls)
    messages: list[str] = field(default_factory=list)

    plan = RunContext.plan
    say = RunContext.say


class LaneWorker:
    """`ds.map_batches(LaneWorker, fn_constructor_args=(bundle,), ...)`: an async callable class, so Ray Data runs
    several of its batches at once on the actor's event loop."""

    def __init__(self, bundle: RunBundle) -> None:
        self.bundle = bundle
        self.context = WorkerContext(bundle.run_id, bundle.task, bundle.params, bundle.options)
        self.senders: dict[str, Sender] = {}  # lane -> its sender
        self.capabilities: dict[str, Capabilities] = {}
        self._limits = None

    async def __call__(self, batch: dict) -> dict:
        items = [(int(i), item_of_row(p, self.bundle.specs)) for i, p in zip(batch["i"], batch["item"])]
        try:
            outcomes = await self._run(items)
        except Exception as e:  # noqa: BLE001 — a typed row per item; a raise here would fail Ray's whole run
            outcomes = [_failed(self.context, i, it, "internal", f"{type(e).__name__}: {e}") for i, it in items]
        rows = [o.to_row() for o in outcomes]
        return {"i": [r["i"] for r in rows], "outcome": [r["outcome"] for r in rows]}

    async def _run(self, items: list[tuple[int, Item]]) -> list[Outcome]:
        pictures, outcomes = await asyncio.to_thread(self._read, items)
        sendable = [(i, it) for i, it in items if it in pictures]
        local = [(i, it) for i, it in sendable if self._sender(it.spec)[1]]
        remote = [(i, it) for i, it in sendable if not self._sender(it.spec)[1]]
        async with contextlib.AsyncExitStack() as sessions:
            # per map batch: a session's shared clients live in a context variable, which the actor's other
            # batches (tasks of their own) would not see
            for name in {it.spec.backend for _, it in remote}:
                await sessions.enter_async_context(get_backend(name).session())
            done = await asyncio.gather(*(self._call(i, it, pictures[it]) for i, it in remote))
        return outcomes + list(done) + await self._local(local, pictures)

    def _read(self, items: list[tuple[int, Item]]) -> tuple[dict[Item, tuple[Picture, tuple | None]], list[Outcome]]:
        """In a thread: each image decoded once for all its items; an unreadable one is each item's failure."""
        pictures, outcomes, by_path = {}, [], {}
        for i, it in items:
            by_path.setdefault(it.input.path, []).append((i, it))
        for path, group in by_path.items():
            edges = {it: self._edge(it) for _, it in group}
            prepare = self._prepare(group[0][1])
            try:
                done = _read_image(path, sorted(set(edges.values())), prepare)  # as the lane's decoder threads do
                read, stat = _pictures(done, prepare), done.stat
            except Exception as e:  # noqa: BLE001 — that image's items fail, the others go on
                outcomes += [_failed(self.context, i, it, "image_error", str(e)) for i, it in group]
                continue
            for _, it in group:
                picture = read[edges[it]]
                it.set_image_hash(picture.sha256)
                pictures[it] = (picture, stat)
        return pictures, outcomes

    def _edge(self, item: Item) -> int:
        return max_edge(self.context.params["max_edge"], item.spec)

    def _prepare(self, item: Item):
        backend = get_backend(item.spec.backend)
        capabilities = self._capabilities(item.spec, backend)
        encodes = self.context.params["mode"] == "generate" and capabilities.encodes_ahead
        return backend.prepare_image if encodes and not capabilities.local else None

    def _capabilities(self, spec: ModelSpec, backend: Backend) -> Capabilities:
        if spec.name not in self.capabilities:
            self.capabilities[spec.name] = backend.capabilities(spec)
        return self.capabilities[spec.name]

    def _sender(self, spec: ModelSpec) -> tuple[Sender, bool]:
        """The lane's sender on this actor, and whether the lane is a local model (one call at a time)."""
        backend = get_backend(spec.backend)
        self._capabilities(spec, backend)
        lane, local = lane_of(spec, backend)
        if lane not in self.senders:
            options = self.context.options
            if local or self.bundle.limits_scope is None:
                limiter, breaker = Limiter(1 if local else options.workers), AuthBreaker(
                    options.max_auth_failures, lane, self.bundle.run_id)
            else:
                shared = f"{self.bundle.limits_scope}|{lane}"
                breaker = ClusterBreaker(self._limits_actor(), shared)
                limiter = ClusterLimiter(self._limits_actor(), shared, options.workers, breaker)
            self.senders[lane] = Sender(self.context, backend, limiter, breaker, self.capabilities)
        return self.senders[lane], local

    def _limits_actor(self):
        if self._limits is None:
            import ray

            self._limits = ray.get_actor(LIMITS_ACTOR, namespace=LIMITS_NAMESPACE)
        return self._limits

    async def _call(self, index: int, item: Item, read: tuple[Picture, tuple | None]) -> Outcome:
        picture, stat = read
        sender, _ = self._sender(item.spec)
        try:
            result, attempts = await sender.call(item, picture)
        except Exception as e:  # noqa: BLE001
            return _failed(self.context, index, item, "internal", f"{type(e).__name__}: {e}")
        return Outcome(index, result, attempts, picture.sha256, stat)

    async def _local(self, items: list[tuple[int, Item]], pictures: dict) -> list[Outcome]:
        """A local model's items: `chat_batch` in batches of batch_size where it batches, else one at a time."""
        out: list[Outcome] = []
        size = self.context.options.batch_size
        for model in dict.fromkeys(it.spec.name for _, it in items):
            mine = [(i, it) for i, it in items if it.spec.name == model]
            sender, _ = self._sender(mine[0][1].spec)
            batched = size > 1 and self.capabilities[model].batching
            for start in range(0, len(mine), size if batched else 1):
                chunk = mine[start:start + (size if batched else 1)]
                entries = [(it, pictures[it][0]) for _, it in chunk]
                replies = await sender.call_batch(entries) if batched else [await sender.call(*entries[0])]
                out += [Outcome(i, result, attempts, pictures[it][0].sha256, pictures[it][1])
                        for (i, it), (result, attempts) in zip(chunk, replies)]
        return out


def _failed(context: WorkerContext, index: int, item: Item, kind: str, message: str) -> Outcome:
    plan = context.plan(item, Path(item.input.path).name, item.image_hash or "")
    return Outcome(index, settle(plan, failure(kind, message)), 0, None, None)
