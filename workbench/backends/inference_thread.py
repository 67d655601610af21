"""One thread per loaded model that runs all of its forward passes.

torch keeps per-thread state (autograd mode, CUDA's current stream and caching-allocator pools, oneDNN's
primitive caches); passes that hop between whichever threads asyncio.to_thread hands out pay to rebuild it and
interleave on the device. Preparing the inputs (the processor's resize, tokenising) stays on the caller's thread,
so the next batch is prepared while this one runs."""
from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

_NUMBERS = itertools.count(1)


class InferenceThread:
    """Runs callables one at a time on a single thread of its own, made on first use (and again in a forked
    process, ZeroGPU's GPU worker, where the parent's thread does not exist)."""

    def __init__(self) -> None:
        self.name = f"workbench-model-{next(_NUMBERS)}"
        self._executor: ThreadPoolExecutor | None = None
        self._pid = 0
        self._guard = threading.Lock()

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) on this model's thread; the caller waits for its result (or its exception)."""
        if threading.current_thread().name.startswith(self.name + "_"):  # already there: never wait on itself
            return fn(*args)
        return self._pool().submit(fn, *args).result()

    def _pool(self) -> ThreadPoolExecutor:
        with self._guard:
            if self._executor is None or self._pid != os.getpid():
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
                self._pid = os.getpid()
            return self._executor
