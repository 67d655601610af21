"""Progress of a batch: counted from committed rows, shown as a bar and passed to a callback."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable


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
    note: str | None = None  # what the run waits on, e.g. a Batch API batch's status at its last poll

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def describe(self) -> str:
        from ..costs import format_usd

        eta = "" if self.eta_s is None else f" · ETA {int(self.eta_s // 60)}:{int(self.eta_s % 60):02d}"
        projected = "" if self.projected_usd is None else f" (≈{format_usd(self.projected_usd)} projected)"
        note = f" · {self.note}" if self.note else ""
        return (f"{self.done}/{self.total} items · {self.failed} failed · {self.cached} from cache · "
                f"{format_usd(self.spent_usd)} spent{projected}{eta}{note}")


class Progress:
    """Counts what the writer committed; `calls` is counted by the lanes as they send (retries included)."""

    def __init__(self, run_id: str, total: int, already: int, show: bool,
                 callback: Callable[[BatchProgress], None] | None) -> None:
        self.run_id, self.total, self.done, self.already = run_id, total, already, already
        self.failed = self.cached = 0
        self.spent: float | None = None
        self.priced = 0  # items whose call had a known cost
        self.calls = 0
        self.status: str | None = None  # see BatchProgress.note
        self.callback = callback
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
        from ..costs import format_usd

        status = f" {self.status}" if self.status else ""
        return (f"failed={self.failed} cached={self.cached} spent={format_usd(self.spent)} "
                f"projected={format_usd(self.projected())}{status}")

    def note(self, status: str) -> None:
        """A status line while nothing is committed (a Batch API poll): on the bar and to the callback."""
        with self._lock:
            self.status = status
            if self.bar is not None:
                self.bar.set_postfix_str(self._postfix())
            self._report(force=True)

    def projected(self) -> float | None:
        if self.spent is None or not self.priced:
            return None
        return self.spent + self.spent / self.priced * (self.total - self.done)

    def snapshot(self) -> BatchProgress:
        elapsed = time.perf_counter() - self.started
        rate = (self.done - self.already) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        return BatchProgress(self.run_id, self.total, self.done, self.failed, self.cached, self.calls,
                             self.spent, elapsed, eta, self.projected(), self.status)

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

