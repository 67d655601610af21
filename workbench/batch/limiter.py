"""How many calls a lane has in flight: additive increase, halved on a 429 (AIMD), one at a time while a key
is being rejected."""
from __future__ import annotations

import asyncio
import time

from .retry import rate_limit_pause


class Limiter:
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
        now = time.monotonic()
        self.paused_until = max(self.paused_until, now + rate_limit_pause(retry_after, self.streak))
        if began >= self.cut_at:  # calls sent before the last cut already saw the old limit: cut once per wave
            self.limit = max(1, self.limit // 2)
            self.cut_at = now
            self.ok_since_cut = 0
