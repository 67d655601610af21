"""Writing a batch's results: one thread, group commits, and a result counts as done only once committed."""
from __future__ import annotations

import queue
import threading
from typing import Callable

from ..store import RunStore

GROUP_COMMIT_S = 0.05  # a result waits at most this long for its commit (and only then counts as done)


class Writer:
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
