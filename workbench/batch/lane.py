"""A lane: one backend server's share of a batch, with its own bounded concurrency. Thin glue: which of its
models can run, reading its images ahead, serving or queueing each item, and the workers that send."""
from __future__ import annotations

import asyncio
from concurrent.futures import Executor

from ..backends import Availability, Backend, Capabilities
from ..errors import AuthError, BackendError, ImageError, WorkbenchError
from ..models import ModelSpec
from .cache import FOLLOW, SEND, Followers
from .context import RunContext
from .items import Item, by_image
from .limiter import Limiter
from .photo_processes import PhotoProcesses
from .reader import Picture, ReadAhead
from .retry import AuthBreaker
from .sender import Sender


_NOTHING_YET = object()  # nothing more to add to this batch now


def lane_of(spec: ModelSpec, backend: Backend) -> tuple[str, bool]:
    """(lane, runs one call at a time): one lane per HTTP server; a local backend's models share one lane (one
    model in memory runs at a time)."""
    capabilities = backend.capabilities(spec)
    return backend.lane(spec), not capabilities.concurrent and capabilities.local


class Lane:
    """HTTP backends run as asyncio tasks (`workers` at once); a local backend runs one call at a time, batched
    through `chat_batch` where every model of the lane has it."""

    def __init__(self, context: RunContext, backend: Backend, name: str, local: bool, decoders: Executor,
                 decoder_count: int, processes: PhotoProcesses) -> None:
        self.context, self.backend, self.name, self.local = context, backend, name, local
        self.decoders, self.decoder_count, self.processes = decoders, decoder_count, processes
        self.items: list[Item] = []
        self.blocked: dict[str, tuple[str, str]] = {}  # model name -> (availability status, message)
        self.capabilities: dict[str, Capabilities] = {}
        self.workers = 1 if local else context.options.workers
        self.limiter = Limiter(self.workers)
        self.breaker = AuthBreaker(context.options.max_auth_failures, name, context.run_id)
        self.sender = Sender(context, backend, self.limiter, self.breaker, self.capabilities)
        self.followers = Followers(context.answers, self._queue)
        self.batched = False  # several images per forward pass (chat_batch): decided in run(), from capabilities
        self.loop: asyncio.AbstractEventLoop | None = None
        self.work: asyncio.Queue | None = None
        self.produced: asyncio.Event | None = None  # set once no more items will be queued but the followers'

    async def run(self) -> None:
        await self._check_models()
        capabilities = self.capabilities.values()
        self.batched = self.local and self.context.options.batch_size > 1 and all(c.batching for c in capabilities)
        # where every model takes it, images are encoded ahead, in the decoder threads
        encodes_ahead = self.context.params["mode"] == "generate" and all(c.encodes_ahead for c in capabilities)
        if self.local:  # model-major: consecutive items share a model (and a `chat_batch` call)
            order = {name: i for i, name in enumerate(dict.fromkeys(it.spec.name for it in self.items))}
            self.items.sort(key=lambda it: order[it.spec.name])
        self.loop = asyncio.get_running_loop()
        self.work = asyncio.Queue(maxsize=self._queue_size())
        self.produced = asyncio.Event()
        consume = self._consume_batches if self.batched else self._consume
        consumers = [asyncio.create_task(consume(self.work)) for _ in range(self.workers)]
        try:
            await self._produce(self.backend.prepare_image if encodes_ahead else None)
            self.produced.set()
            await self.followers.drain()  # a follower whose leader failed sends its own call
            for _ in consumers:
                await self.work.put(None)
            await asyncio.gather(*consumers)
        finally:
            for task in consumers:
                task.cancel()

    def _queue_size(self) -> int:
        """Room for two batches where the lane batches: the next one fills while the model runs this one (with
        `max(2, workers // 2)` a one-worker local lane ran batches of 8 as pairs)."""
        if self.batched:
            return 2 * self.context.options.batch_size
        return max(2, self.workers // 2)

    async def _check_models(self) -> None:
        for spec in {it.spec.name: it.spec for it in self.items}.values():
            try:
                status = await asyncio.to_thread(self.backend.availability, spec, self.context.options.keys)
            except BackendError as e:
                status = Availability("unknown", str(e))
            if not status.runnable:
                self.blocked[spec.name] = (status.status, status.message)
                self.context.say(f"{spec.name}: {status.message or status.status} — its items are stored as "
                                 "failures, not sent")
            self.capabilities[spec.name] = self.backend.capabilities(spec)

    # --- producing: read each image once, serve cached and duplicate calls, queue the rest -----------------

    async def _produce(self, prepare) -> None:
        reads = ReadAhead(by_image(self.items), self.decoders, self.decoder_count, in_flight=self.limiter.max,
                          call_s=lambda: self.sender.call_s, screen=self._screen, lookup=self.context.answers.stored,
                          max_edge=self.context.params["max_edge"], prepare=prepare, processes=self.processes)
        writer = self.context.writer
        try:
            reads.start()
            while (chunk := await reads.next_chunk()) is not None:
                for path, live, edges, outcome in chunk:
                    if writer.error is not None:
                        raise WorkbenchError(f"the run store failed: {writer.error}")
                    if isinstance(outcome, Exception):  # an unreadable image is that item's failure only
                        message = str(outcome) if isinstance(outcome, ImageError) \
                            else f"{type(outcome).__name__}: {outcome}"
                        for it in live:
                            self.context.emit_failure(it, "image_error", message)
                    elif outcome is not None:
                        await self._dispatch(path, live, edges, *outcome)
        finally:
            reads.stop()

    def _screen(self, group: list[Item]) -> list[Item]:
        """The items of one image that are to be sent; the others are stored as failures now."""
        live = []
        for it in group:
            if it.spec.name in self.blocked:
                self.context.emit_failure(it, *self.blocked[it.spec.name])
            elif self.breaker.stopped:
                self.context.emit_failure(it, AuthError.kind, self.breaker.stopped)
            else:
                live.append(it)
        return live

    async def _dispatch(self, path: str, live: list[Item], edges: dict, pictures: dict, stat, hits: dict) -> None:
        """`hits`: the store's answers for `live`, looked up by the decoder; see `Answers.serve`."""
        context, answers = self.context, self.context.answers
        if stat:
            context.writer.put_image((path, *stat, live[0].image_hash))
        for it in live:
            if self.breaker.stopped:
                context.emit_failure(it, AuthError.kind, self.breaker.stopped)
                continue
            action = answers.serve(it, hits)
            if action is SEND:
                await self._queue(it, pictures[edges[it]])
            elif action is FOLLOW:
                self.followers.add(it, pictures[edges[it]])

    async def _queue(self, item: Item, picture: Picture) -> None:
        self.context.answers.start(item, self.loop)
        await self.work.put((item, picture))

    # --- consuming: one call at a time per worker, or a local backend's batches -----------------------------

    async def _consume(self, work: asyncio.Queue) -> None:
        answers, emit, call = self.context.answers, self.context.emit, self.sender.call
        while (entry := await work.get()) is not None:
            item, picture = entry
            try:
                result, attempts = await call(item, picture)
            except asyncio.CancelledError:
                answers.settle(item, {"status": "error"})
                raise
            answers.settle(item, emit(item, result, attempts))

    async def _consume_batches(self, work: asyncio.Queue) -> None:
        entry = await work.get()
        while entry is not None:
            batch, entry = await self._fill_batch(work, entry)
            for (item, _), (result, attempts) in zip(batch, await self.sender.call_batch(batch)):
                self.context.answers.settle(item, self.context.emit(item, result, attempts))
            if entry is _NOTHING_YET:
                entry = await work.get()

    async def _fill_batch(self, work: asyncio.Queue, entry: tuple) -> tuple[list, object]:
        """Items for one call, up to batch_size of one model: waits for the producer while it is still reading
        (a short batch costs nearly as much as a full one), and takes only what is queued once it has finished
        (it may then be waiting on the followers of these very items). Returns the batch and what comes next:
        an entry of another model, None (the end) or _NOTHING_YET."""
        batch = [entry]
        while len(batch) < self.context.options.batch_size:
            nxt = await self._next_queued(work)
            if nxt is _NOTHING_YET or nxt is None or nxt[0].spec.name != entry[0].spec.name:
                return batch, nxt
            batch.append(nxt)
        return batch, _NOTHING_YET

    async def _next_queued(self, work: asyncio.Queue):
        """The next queued entry; while the producer is still at work, waits for it."""
        if not work.empty() or self.produced.is_set():
            return work.get_nowait() if not work.empty() else _NOTHING_YET
        getter = asyncio.ensure_future(work.get())
        done_producing = asyncio.ensure_future(self.produced.wait())
        try:
            await asyncio.wait({getter, done_producing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            done_producing.cancel()
            if not getter.done():
                getter.cancel()  # Queue.get leaves its item in the queue when cancelled
        if getter.done() and not getter.cancelled():
            return getter.result()
        return work.get_nowait() if not work.empty() else _NOTHING_YET
