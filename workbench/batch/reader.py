"""Reading a lane's images just ahead of its calls: decoded, hashed and resized (or encoded) in a few decoder
threads, in chunks, and only as many threads at once as keep up with the calls. Big images are prepared in
worker processes (photo_processes.py); a decoder thread hands them over and waits, without the GIL."""
from __future__ import annotations

import asyncio
import collections
import itertools
import math
import os
import time
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Callable, Iterator

from ..errors import ConfigError
from ..image_prep import PreparedFile, prepare_file, warm_up
from ..images import DEFAULT_MAX_EDGE, LoadedImage
from ..models import ModelSpec
from .items import Item
from .photo_processes import PhotoProcesses


def decoder_threads() -> int:
    """Threads that may decode and encode a batch's images: min(4, cores), or $WORKBENCH_DECODERS. Pillow lets
    go of the GIL while it decodes, resizes and encodes, so photos are read on several cores; a lane uses only as
    many as keep up with its calls (one, for small images: see `readers_needed`)."""
    given = os.environ.get("WORKBENCH_DECODERS", "").strip()
    if not given:
        return max(1, min(4, os.cpu_count() or 2))
    if not given.isdigit() or int(given) < 1:
        raise ConfigError(f"WORKBENCH_DECODERS must be a whole number of threads, at least 1 (got {given!r}) — "
                          "set it to e.g. 2, or unset it for the default")
    return int(given)


def decoder_pool(threads: int) -> Executor:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="workbench-decode")


CHUNK_READ_S = 0.02  # a chunk is at most about this much reading (and never more than one image more than that)


def chunk_size(read_s: float | None, doubled: int, largest: int) -> int:
    """Images in the next chunk a decoder thread reads: growing 1, 2, 4… to `largest` (a quarter of the lane's
    workers), and no more than CHUNK_READ_S of reading once one image's time is known. Small images (a fraction
    of a millisecond) go 16 at a time, so hand-overs stay rare; photos (~80 ms) go one at a time, so two
    decoders start together and finish together (in chunks of 4, 8 and 16, 48 photos left one decoder idle for
    a quarter of the run)."""
    if read_s is None or read_s <= 0:
        return min(largest, doubled)
    return max(1, min(largest, doubled, int(CHUNK_READ_S / read_s)))


def readers_needed(read_s: float | None, in_flight: int, call_s: float, decoders: int) -> int:
    """Decoder threads worth using: enough to read images as fast as the lane's calls take them, no more.

    Small images take a fraction of a millisecond, mostly Python holding the GIL: one thread keeps up with
    64 calls in flight, and more would only take the GIL from the event loop (on a 16-core machine, 4 threads
    reading small images took the throughput benchmark from about 77 % of the ideal to 57 %). Photos take
    ~80 ms, mostly in Pillow without the GIL: then every decoder thread helps. `read_s` is None until the first
    chunk was read; that chunk's one-off costs are paid beforehand (`warm_up`), or a first small image would look
    as slow as a photo and start a second reader that only takes the GIL."""
    if read_s is None:
        return 1
    return max(1, min(decoders, math.ceil(read_s * in_flight / call_s)))


@dataclass(frozen=True)
class Picture:
    """An image as a lane sends it: decoded and resized, or only encoded where the backend takes that."""

    source: str
    sha256: str
    image: LoadedImage | None  # the resized pixels; None once encoded
    encoded: object | None = None  # images.EncodedImage from the backend's `prepare_image`, made off the loop

    @property
    def for_request(self):
        return self.encoded if self.encoded is not None else self.image


def max_edge(params_max_edge: int | None, spec: ModelSpec) -> int:
    """The long edge the backend will send at (the same rule the backends apply), so resizing early is exact."""
    return params_max_edge or spec.max_edge or DEFAULT_MAX_EDGE


def _read_image(path: str, edges: list[int], prepare: Callable | None) -> PreparedFile:
    """An image prepared in this process, in a decoder thread: a small one, or any where there are no workers."""
    return prepare_file(path, edges, prepare)


def _pictures(done: PreparedFile, prepare: Callable | None) -> dict[int, Picture]:
    """A prepared image file as the lane sends it, by edge."""
    if prepare is None:
        return {edge: Picture(done.source, done.sha256, image) for edge, image in done.sent.items()}
    return {edge: Picture(done.source, done.sha256, None, encoded) for edge, encoded in done.sent.items()}


class ReadAhead:
    """A lane's images, read ahead of its calls in chunks on the decoder pool.

    Reading ahead matters: the producer gets one turn per event-loop iteration, in which many calls may
    finish; with decoded images waiting, it refills the queue for all of them in that one turn. Chunks
    (1, 2, 4… up to a quarter of the lane's workers; photos one at a time: `chunk_size`) keep the first call quick
    and, after that, hand small images to and from the decoders a few times per batch of calls rather than once per
    image: each hand-over wakes the event loop and the decoder, and they share one GIL. See `_top_up` for how many
    read at once.

    `screen(group)` returns the items of an image that are to be sent (it stores the others as failures);
    `lookup(call keys)` returns the store's answers for them, asked in the decoder thread; `call_s()` is the
    lane's current seconds per call."""

    def __init__(self, groups: Iterator[list[Item]], pool: Executor, decoders: int, *, in_flight: int,
                 call_s: Callable[[], float], screen: Callable[[list[Item]], list[Item]],
                 lookup: Callable[[list[str]], dict], max_edge: int | None, prepare: Callable | None,
                 processes: PhotoProcesses) -> None:
        self.loop = asyncio.get_running_loop()
        self.pool, self.decoders, self.in_flight, self.call_s = pool, decoders, in_flight, call_s
        self.processes = processes  # big images are prepared there
        self.screen, self.lookup, self.max_edge, self.prepare = screen, lookup, max_edge, prepare
        self._groups = groups
        self._ahead: collections.deque = collections.deque()
        self._chunk, self._largest = 1, max(1, in_flight // 4)
        self._producing, self._top_up_failed = False, None
        self.read_s: float | None = None  # CPU seconds to read one image (decode, hash, encode), last chunk
        self._warm = False  # warm_up has run in a decoder thread
        self.chunks_read = 0

    def start(self) -> None:
        self._producing = True
        self._top_up()

    async def next_chunk(self) -> list[tuple] | None:
        """The next chunk read, as (path, live items, {item: edge}, outcome); None once all are read. Outcome is
        (pictures by edge, file stat, store hits), an Exception for an unreadable image, or None when no item
        of the image is to be sent."""
        if not self._ahead:
            if self._top_up_failed is not None:  # raised in a callback, where nobody would have seen it
                raise self._top_up_failed
            return None
        chunk = await self._ahead.popleft()
        self._top_up()
        return chunk

    def stop(self) -> None:
        """The producer stopped (finished, failed or cancelled): read nothing more."""
        self._producing = False

    def _top_up(self, _finished: asyncio.Future | None = None) -> None:
        """Start reading more chunks: as many at once as `readers_needed`, and at most one more chunk waiting
        than that, so memory stays bounded. Runs again whenever a chunk is read, so reading overlaps sending."""
        if not self._producing:
            return
        try:
            readers = readers_needed(self.read_s, self.in_flight, self.call_s(), self.decoders)
            while (len(self._ahead) <= readers and sum(not f.done() for f in self._ahead) < readers
                   and (chunk := list(itertools.islice(self._groups, self._chunk)))):
                future = self._read_ahead(chunk)
                future.add_done_callback(self._top_up)
                self._ahead.append(future)
                self._chunk = chunk_size(self.read_s, self._chunk * 2, self._largest)
        except Exception as e:  # noqa: BLE001 — re-raised by the producer
            if _finished is None:
                raise
            self._top_up_failed = e

    def _read_ahead(self, chunk: list[list[Item]]) -> asyncio.Future:
        """Items that will not be sent are stored as failures now; the rest go to the decoder, one job per chunk."""
        entries = []
        for group in chunk:
            live = self.screen(group)
            entries.append((group[0].input.path, live, {it: max_edge(self.max_edge, it.spec) for it in live}))
        return self.loop.run_in_executor(self.pool, self._read_images, entries)

    def _read_images(self, entries: list[tuple]) -> list[tuple]:
        """In a decoder thread: decode, hash and encode each image (a big one in a worker process), and look its
        calls up in the store (one query per chunk), so the event loop, which drives every call of the lane,
        spends its time sending."""
        if not self._warm:
            warm_up(self.prepare)  # not timed: the first image's time is then its own
            self._warm = True
        out, keys = [], []
        started, read, elsewhere = time.thread_time(), 0, 0.0  # CPU time: waits (GIL, workers) are not reading
        in_workers = self._to_workers(entries)  # started first: they run while this thread reads the small ones
        for at, (path, live, edges) in enumerate(entries):
            if not live:
                out.append((path, live, edges, None))
                continue
            wanted = sorted(set(edges.values()))
            try:
                done = self.processes.result(in_workers[at], path, wanted, self.prepare) if at in in_workers \
                    else _read_image(path, wanted, self.prepare)
            except Exception as e:  # noqa: BLE001 — reported per item by the lane
                out.append((path, live, edges, e))
                continue
            read += 1
            elsewhere += done.cpu_s if at in in_workers else 0.0
            for it in live:
                it.set_image_hash(done.sha256)
                keys.append(it.call_key)
            out.append((path, live, edges, (_pictures(done, self.prepare), done.stat)))
        if read:
            self.chunks_read += 1
            self.read_s = (time.thread_time() - started + elsewhere) / read
        hits = self.lookup(keys) if keys else {}
        return [(path, live, edges, outcome if not isinstance(outcome, tuple) else (*outcome, hits))
                for path, live, edges, outcome in out]

    def _to_workers(self, entries: list[tuple]) -> dict[int, Future]:
        """The big images of a chunk, handed to the worker processes: {position in the chunk: its future}."""
        started = {}
        for at, (path, live, edges) in enumerate(entries):
            if live and self.processes.takes(path, self.prepare):
                future = self.processes.submit(path, sorted(set(edges.values())), self.prepare)
                if future is not None:
                    started[at] = future
        return started
