"""Big images prepared in worker processes, so that the event loop driving a batch's calls never waits for the GIL
while a decoder thread hashes or resizes a photo; small images stay in the decoder threads, where a worker
process would cost more to hand them to than they cost to read.

The pool is started on the first big image (a batch of small images never starts one), uses the spawn start
method (the run's threads, the event loop's and the writer's, must not be forked), holds as many processes as
there are decoders (`decoder_threads`), and shuts down with the run. A worker that raises gives that image's
error, exactly as a thread would; a pool that breaks (a worker killed, or one that could not start) is not used
again in the run: its images are read in-process, as before."""
from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Callable

from ..errors import ConfigError
from ..image_prep import PreparedFile, file_stat, prepare_file

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

# multiprocessing, pickle and the process pool are imported when a pool starts (4 MB of a batch's memory otherwise).

# Files of at least this many bytes are prepared in a worker process, on machines of at least PROCESS_MIN_CORES
# cores. Measured with `bench/batch_bench.py photo-sizes` on a 2-core machine shared with other jobs (48 JPEGs per
# size, 64 calls in flight against a 50 ms server, threads and workers taking turns, medians of 3): workers did not
# pay there at any size. CPU per photo, threads against workers: 0.8 MP 19 vs 34 ms, 3 MP 91 vs 129, 6 MP 147 vs
# 180, 12 MP 113 vs 160 (two interpreters to start, ~0.35 s of CPU each); peak memory +54 to +63 MB; photos/s lower
# with workers at every size but 12 MP, where two sittings disagreed (5.4 vs 3.4, then 3.6 vs 5.2). Two decoder
# threads and the event loop share two cores without waiting much on each other: Pillow decodes, resizes and
# encodes without the GIL. With more cores, more decoder threads hold the GIL more often (on a 16-core machine, 4
# threads read 12 MP photos at 5.4-5.6 photos/s, slower than 2 threads on 2 cores did, 7.8-8.1), which is what
# workers are for; hence 4 cores. The size: from 1 MB a file (a 6 MP JPEG; a phone's 12 MP photo is 2-5 MB) a photo
# takes 100-150 ms of CPU: a worker's start costs what 3 or 4 photos do. How photos/s grows with workers on more
# cores is not measured yet (see the README).
PROCESS_MIN_BYTES = 1 << 20
PROCESS_MIN_CORES = 4


def process_min_bytes() -> int | None:
    """The smallest file prepared in a worker process, None for none: PROCESS_MIN_BYTES on a machine of at least
    PROCESS_MIN_CORES cores, else None; or $WORKBENCH_PROCESS_MIN_BYTES on any machine (a whole number of bytes;
    "off": every image in the decoder threads)."""
    given = os.environ.get("WORKBENCH_PROCESS_MIN_BYTES", "").strip().lower()
    if not given:
        return PROCESS_MIN_BYTES if (os.cpu_count() or 1) >= PROCESS_MIN_CORES else None
    if given == "off":
        return None
    if not given.isdigit():
        raise ConfigError(f"WORKBENCH_PROCESS_MIN_BYTES must be a whole number of bytes or 'off' (got {given!r}) — "
                          "e.g. 1048576, or unset it for the default")
    return int(given)


def refuse_while_a_worker_imports_main() -> None:
    """A spawned worker imports the script that started the run, as `__mp_main__`, before it runs anything. A
    script that calls run_batch at its top level would then run the whole batch again in every worker (and pay
    for its calls twice): refuse, with the fix. The same test multiprocessing itself makes before it starts a
    process (`spawn._check_not_importing_main`)."""
    multiprocessing = sys.modules.get("multiprocessing")  # a spawned worker has it: not imported, not a worker
    if multiprocessing is not None and getattr(multiprocessing.current_process(), "_inheriting", False):
        raise ConfigError("a batch was started while a worker process imported your script — put the call under "
                          "`if __name__ == \"__main__\":` (worker processes prepare big photos; each one imports "
                          "the main script first)")


class PhotoProcesses:
    """A run's worker processes for big images, used from the decoder threads: `takes` says whether an image goes
    to them, `submit` hands it over, `result` waits for it."""

    def __init__(self, workers: int, min_bytes: int | None, say: Callable[[str], None]) -> None:
        self.workers, self.min_bytes, self.say = workers, min_bytes, say
        self._pool: ProcessPoolExecutor | None = None
        self._ready: list[Future] = []  # a trivial call per worker: done once that worker has started
        self._broken = False
        self._lock = threading.Lock()

    def takes(self, path: str, prepare: Callable | None) -> bool:
        """Whether the image file at `path` is prepared in a worker process. The first big image starts
        the workers and is read here meanwhile, as are the next ones until a worker has answered: starting a
        worker (a fresh interpreter that imports Pillow) takes a few hundred ms of CPU, and seconds of waiting on
        a busy machine, that the photos need not wait for."""
        if self.min_bytes is None:
            return False
        stat = file_stat(path)
        if stat is None or stat[0] < self.min_bytes or not shippable(prepare):
            return False
        with self._lock:
            if self._broken:
                return False
            if self._pool is None:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
                self._ready = [self._pool.submit(os.getpid) for _ in range(self.workers)]  # one start each
            failed = next((f.exception() for f in self._ready if f.done() and f.exception()), None)
            if failed is not None:  # the workers could not start (see refuse_while_a_worker_imports_main)
                self._break(failed)
                return False
            return any(f.done() for f in self._ready)

    def submit(self, path: str, edges: list[int], prepare: Callable | None) -> Future | None:
        """The image's preparation, started in a worker process (once `takes` said so); None where the pool is
        not to be used after all."""
        from concurrent.futures.process import BrokenProcessPool

        with self._lock:
            if self._broken or self._pool is None:
                return None
            try:
                return self._pool.submit(prepare_file, path, edges, prepare)
            except (BrokenProcessPool, RuntimeError) as e:  # broken, or shut down as the run stops
                self._break(e)
                return None

    def result(self, future: Future, path: str, edges: list[int], prepare: Callable | None) -> PreparedFile:
        """What `prepare_file` returns; an error of the image is raised as the worker raised it. If the pool broke,
        the image is read here instead, as it was before there were worker processes."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            return future.result()
        except BrokenProcessPool as e:
            with self._lock:
                self._break(e)
            return prepare_file(path, edges, prepare)

    def _break(self, error: Exception) -> None:
        if not self._broken:
            self._broken = True
            self.say(f"the worker processes that prepare big images stopped ({error}); the rest of this run's "
                     "images are read in this process")

    def shutdown(self) -> None:
        """With the run: waits for the workers to exit (no process outlives the run), cancels what has not begun."""
        with self._lock:
            pool, self._pool, self._broken = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


_SHIPPABLE: dict[type, bool] = {}


def shippable(prepare: Callable | None) -> bool:
    """Whether a backend's `prepare_image` can be sent to a worker process (pickled); once per backend class. A
    backend defined in a notebook cell, or holding a client, cannot: its images are read in the decoder threads."""
    if prepare is None:
        return True
    kind = type(getattr(prepare, "__self__", prepare))
    if kind not in _SHIPPABLE:
        import pickle

        try:
            pickle.dumps(prepare)
            _SHIPPABLE[kind] = kind.__module__ != "__main__"  # spawn's workers import __main__ anew, as __mp_main__
        except Exception:  # noqa: BLE001 — anything pickle raises means: not shippable
            _SHIPPABLE[kind] = False
    return _SHIPPABLE[kind]
